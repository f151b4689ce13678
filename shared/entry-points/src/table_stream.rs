//! The table's stream, for the outbox publisher: new history items (the
//! stream is keys only, filtered to inserts of history items) wake
//! `publish-events`, which drains the outbox rather than trusting the
//! records, so one invocation also publishes whatever an earlier failure
//! left. A failure is returned to Lambda, which retries the stream batch;
//! the events stay in the outbox meanwhile.

use app::ports::{EventBus, Outbox};
use app::publisher::{self, PublishError};
use aws_lambda_events::event::dynamodb::Event;

/// One stream batch: drain the outbox. Returns how many events were
/// published.
pub async fn handle<S: Outbox, U: EventBus>(
    store: &S,
    bus: &U,
    event: &Event,
) -> Result<usize, PublishError> {
    let records = event.records.len();
    match publisher::drain(store, bus).await {
        Ok(published) => {
            tracing::info!(records, published, "outbox drained");
            Ok(published)
        }
        Err(e) => {
            tracing::warn!(records, error = %app::error::error_chain(&e), "outbox drain failed; the stream batch is retried");
            Err(e)
        }
    }
}

/// The `publish-events` function's `main`: the backend and the bus built
/// once, then the runtime loop.
#[cfg(feature = "lambda")]
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    lambda_runtime::tracing::init_default_subscriber();
    app::metrics::set_function("publish-events");
    let (store, bus) = crate::config::store_and_bus().await?;
    let (store, bus) = (&store, &bus);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        handle(store, bus, &event.payload)
            .await
            .map(|_| ())
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
