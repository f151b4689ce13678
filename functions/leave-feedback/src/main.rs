//! `leave-feedback`: Leaves feedback on a completed order; reads a supplier's
//! feedback and average.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::orders;
use http_api::routes::Endpoint::{Orders, Suppliers};
use http_api::suppliers;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve(
        "leave-feedback",
        &[
            Orders(orders::Endpoint::Feedback),
            Suppliers(suppliers::Endpoint::Feedback),
        ],
    )
    .await
}
