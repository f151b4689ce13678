//! `list-orders`: Lists the caller's orders, newest first, with a cursor and a
//! status filter.
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::orders::Endpoint::List;
use http_api::routes::Endpoint::Orders;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("list-orders", &[Orders(List)]).await
}
