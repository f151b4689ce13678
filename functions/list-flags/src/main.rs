//! `list-flags`: Lists what needs an operator, oldest first: flagged
//! payments, payments past their arrival window, refund parts the provider
//! could not settle and provider events that were verified but refused
//! (arbiters only).
//!
//! Serves exactly the routes it names (the route table says which are its:
//! it refuses to start otherwise); `entry_points::api_gateway` builds the
//! configuration and the DynamoDB backend once per cold start.

use http_api::flags::Endpoint::List;
use http_api::routes::Endpoint::Flags;

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::api_gateway::serve("list-flags", &[Flags(List)]).await
}
