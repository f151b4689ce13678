//! `confirm-order`: Confirms the version of the contract the caller saw
//! (reserving coverage), or reminds the other party.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::orders::Endpoint::{Confirm, Remind};
use http_api::routes::Endpoint::Orders;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("confirm-order", &[Orders(Confirm), Orders(Remind)]).await
}
