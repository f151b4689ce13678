//! `escalate-dispute`: The buyer escalates a dispute to the arbiters once the
//! supplier has rejected it or let a deadline pass.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::disputes::Endpoint::Escalate;
use http_api::routes::Endpoint::Disputes;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("escalate-dispute", &[Disputes(Escalate)]).await
}
