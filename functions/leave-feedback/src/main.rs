//! `leave-feedback`: Leaves feedback on a completed order; reads a supplier's feedback and average.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("leave-feedback").await
}
