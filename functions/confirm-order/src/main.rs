//! `confirm-order`: Confirms the version of the contract the caller saw (reserving coverage), or reminds the other party.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("confirm-order").await
}
