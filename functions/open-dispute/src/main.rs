//! `open-dispute`: The buyer opens a dispute (late shipment or quality) with
//! the refund it asks for and its evidence.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::disputes::Endpoint::Open;
use http_api::routes::Endpoint::Disputes;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("open-dispute", &[Disputes(Open)]).await
}
