//! `apply-credit-line`: A buyer applies for a Pay Later credit line (pending
//! until the lender decides) and reads it.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::credit::Endpoint::{Apply, Get};
use http_api::routes::Endpoint::Credit;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("apply-credit-line", &[Credit(Apply), Credit(Get)]).await
}
