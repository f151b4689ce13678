//! `apply-credit-line`: A buyer applies for a Pay Later credit line (pending
//! until the lender's webhook approves or declines it) and reads it.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("apply-credit-line").await
}
