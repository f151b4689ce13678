//! `publish-events`: Publishes committed domain events (payment requests,
//! refund commands to the providers, status changes) from the outbox to the
//! EventBridge bus. The table's stream (keys only, filtered to new history
//! items) wakes it; it drains the outbox rather than trusting the records,
//! so one invocation also publishes whatever an earlier failure left.
//! A failure is returned to Lambda, which retries the stream batch; the
//! events stay in the outbox meanwhile. Configuration and the clients are
//! built once per cold start.

use app::error::error_chain;
use aws_adapters::dynamodb::DynamoStore;
use aws_adapters::eventbridge::EventBridgeBus;
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let config = aws_adapters::sdk_config::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let bus = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&config), bus);
    let (store, bus) = (&store, &bus);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let records = event.payload.records.len();
        match app::publisher::drain(store, bus).await {
            Ok(published) => {
                lambda_runtime::tracing::info!(records, published, "outbox drained");
                Ok(())
            }
            Err(e) => {
                lambda_runtime::tracing::warn!(records, error = %error_chain(&e), "outbox drain failed; the stream batch is retried");
                Err(Error::from(e))
            }
        }
    }))
    .await
}
