//! `initiate-payment`: The buyer pays a stage (initial or balance) by
//! e-Checking, card, wire transfer or Pay Later; every method rule applies.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("initiate-payment").await
}
