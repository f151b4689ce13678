//! `process-payment-events`: Applies queued provider events (payments,
//! refunds, Pay Later loans and credit lines) exactly once each, in a span
//! per message, answering with the messages to redeliver
//! (ReportBatchItemFailures). Configuration and the DynamoDB client are
//! built once per cold start.

// The consumer future nests deeply (batch → message → consume → store).
#![recursion_limit = "256"]

use app::clock::SystemClock;
use aws_adapters::dynamodb::DynamoStore;
use aws_adapters::sqs_events::process_batch;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let config = aws_adapters::sdk_config::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(process_batch(store, &SystemClock, &event.payload).await)
    }))
    .await
}
