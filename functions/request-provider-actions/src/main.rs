//! `request-provider-actions`: the provider-action step. The bus's
//! `PaymentRequested` and `RefundRequested` events, queued by an
//! EventBridge rule, each become one request to the provider (its
//! idempotency key the payment id, or the refund part and attempt), whose
//! answer is recorded on the order; the function answers with the messages
//! to redeliver (ReportBatchItemFailures). `entry_points::provider_queue`
//! builds the DynamoDB store and the providers' HTTP client once per cold
//! start and reads the providers' keys on the first batch.

// The step's future nests deeply (batch → message → act → store).
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), entry_points::config::Error> {
    entry_points::provider_queue::serve().await
}
