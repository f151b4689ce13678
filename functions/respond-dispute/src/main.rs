//! `respond-dispute`: Buyer and supplier negotiate a dispute: accept, counter-
//! offer, reject or comment with evidence; the buyer may withdraw it.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::disputes::Endpoint::{Respond, Withdraw};
use http_api::routes::Endpoint::Disputes;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("respond-dispute", &[Disputes(Respond), Disputes(Withdraw)])
        .await
}
