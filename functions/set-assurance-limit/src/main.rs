//! `set-assurance-limit`: Sets (arbiter) and reads a supplier's assurance
//! limit.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::routes::Endpoint::Suppliers;
use http_api::suppliers::Endpoint::{GetLimit, SetLimit};

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve(
        "set-assurance-limit",
        &[Suppliers(SetLimit), Suppliers(GetLimit)],
    )
    .await
}
