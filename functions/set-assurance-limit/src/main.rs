//! `set-assurance-limit`: Sets (arbiter) and reads a supplier's assurance limit.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("set-assurance-limit").await
}
