//! `resolve-payment`: An arbiter settles a flagged payment: accepts it as
//! paid, or refunds it.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::payments::Endpoint::{ResolvePayment, ResolveRefund};
use http_api::routes::Endpoint::Payments;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve(
        "resolve-payment",
        &[Payments(ResolvePayment), Payments(ResolveRefund)],
    )
    .await
}
