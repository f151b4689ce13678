//! `process-payment-events`: Applies queued provider events (payments,
//! refunds, Pay Later loans and credit lines) exactly once each, in a span per
//! message, answering with the messages to redeliver
//! (ReportBatchItemFailures). `entry_points::payment_queue` builds the
//! DynamoDB backend once per cold start.

// The consumer future nests deeply (batch → message → consume → store).
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), entry_points::config::Error> {
    entry_points::payment_queue::serve().await
}
