//! `resolve-payment`: An arbiter settles a flagged payment: accepts it as paid, or refunds it.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("resolve-payment").await
}
