//! `create-order`: Creates an order: a buyer online naming the supplier, or a supplier offline naming the buyer.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("create-order").await
}
