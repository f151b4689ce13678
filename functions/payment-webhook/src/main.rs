//! `payment-webhook`: Verifies a provider's Standard Webhooks signature on the
//! raw body, checks the event is well formed, and queues it for `process-
//! payment-events` (202). `entry_points::webhook` reads the secrets from the
//! environment and builds the SQS client once per cold start.

#[tokio::main]
async fn main() -> Result<(), entry_points::api_gateway::Error> {
    entry_points::webhook::serve().await
}
