//! `initiate-payment`: The buyer pays a stage (initial or balance) by
//! e-Checking, card, wire transfer or Pay Later.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::payments::Endpoint::Pay;
use http_api::routes::Endpoint::Payments;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("initiate-payment", &[Payments(Pay)]).await
}
