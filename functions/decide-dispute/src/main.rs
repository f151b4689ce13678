//! `decide-dispute`: An arbiter decides an escalated dispute (supplier at
//! fault with a refund, or claim rejected) and lists disputes by status.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::disputes::Endpoint::{Decide, List};
use http_api::routes::Endpoint::Disputes;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("decide-dispute", &[Disputes(Decide), Disputes(List)]).await
}
