//! `open-dispute`: The buyer opens a dispute (late shipment or quality) with
//! the refund it asks for and its evidence. The dispute's deadlines come from
//! `DISPUTE_SUPPLIER_RESPONSE_DAYS` and `DISPUTE_RESOLUTION_DAYS`.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("open-dispute").await
}
