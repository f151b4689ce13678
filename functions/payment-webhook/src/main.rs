//! `payment-webhook`: Verifies a payment provider's signed webhook and
//! queues the event for `process-payment-events`. Secrets and the SQS
//! client are built once per cold start (`http_api::lambda::serve_webhooks`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http_api::lambda::serve_webhooks().await
}
