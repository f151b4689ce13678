//! `decide-dispute`: An arbiter decides an escalated dispute (supplier at
//! fault with a refund, or claim rejected) and lists disputes by status.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("decide-dispute").await
}
