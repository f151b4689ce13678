//! `escalate-stale-disputes`: The scheduled sweep. EventBridge Scheduler
//! invokes it every 5 minutes with the event its target's input describes
//! (`aws_adapters::schedule::TARGET_INPUT`); it sweeps at the event's
//! `time`, the instant the schedule was due, never at the machine's clock:
//! it escalates disputes whose supplier did not respond or that found no
//! solution in time, flags overdue payments, cancels orders unpaid for 30
//! days, releases reservations whose coverage has ended (reading only the
//! due orders, from the sparse `due` index), then republishes what the
//! outbox still holds to the EventBridge bus.
//!
//! It answers with the run's report. A run that could not finish (the
//! deadline index unreadable, an order left for the next run, the bus
//! refusing the events) is returned to Lambda as an error, with its cause,
//! so the invocation is retried; the sweep is idempotent, and the next
//! schedule picks up whatever is still due anyway. Configuration and the
//! clients are built once per cold start.

use app::error::error_chain;
use app::sweep::SweepError;
use aws_adapters::dynamodb::DynamoStore;
use aws_adapters::eventbridge::EventBridgeBus;
use aws_adapters::schedule::{self, ScheduleError, ScheduledEvent};
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let config = aws_adapters::sdk_config::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let bus = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&config), bus);
    let (store, bus) = (&store, &bus);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ScheduledEvent>| async move {
            // The sweep logs its own figures (app::sweep); a failure is
            // logged here with its cause and returned for Lambda to retry.
            schedule::handle(store, bus, &event.payload)
                .await
                .map_err(|e| {
                    lambda_runtime::tracing::warn!(
                        schedule = event.payload.resources.as_ref().and_then(|r| r.first()).map(String::as_str),
                        error = %error_chain(&e),
                        "sweep incomplete; the invocation is retried"
                    );
                    diagnostic(&e)
                })
        },
    ))
    .await
}

/// What the runtime reports for a failed run: its kind, and the whole
/// chain of causes (the top error alone would not say which store or bus
/// call failed).
fn diagnostic(e: &ScheduleError) -> Diagnostic {
    let kind = match e {
        ScheduleError::NotScheduled(_) => "NotScheduled",
        ScheduleError::NoTime => "NoScheduledTime",
        ScheduleError::Sweep(SweepError::Due(_)) => "DueOrdersUnreadable",
        ScheduleError::Sweep(SweepError::Incomplete { .. }) => "SweepIncomplete",
    };
    Diagnostic {
        error_type: kind.to_owned(),
        error_message: error_chain(e),
    }
}
