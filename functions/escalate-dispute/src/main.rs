//! `escalate-dispute`: The buyer escalates a dispute to the arbiters once the
//! supplier has rejected it or let a deadline pass.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("escalate-dispute").await
}
