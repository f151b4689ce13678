//! `get-order`: Reads an order, its history or its payments.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::orders;
use http_api::payments;
use http_api::routes::Endpoint::{Orders, Payments};

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve(
        "get-order",
        &[
            Orders(orders::Endpoint::Get),
            Orders(orders::Endpoint::History),
            Payments(payments::Endpoint::List),
        ],
    )
    .await
}
