//! `respond-dispute`: Buyer and supplier negotiate a dispute: accept,
//! counter-offer, reject or comment with evidence; the buyer may withdraw it.
//! Configuration and the DynamoDB client are built once per cold start;
//! every request goes through the shared HTTP conventions (`http-api`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve("respond-dispute").await
}
