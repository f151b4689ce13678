//! EventBridge Scheduler's events, for the sweep: the scheduler invokes
//! `escalate-stale-disputes` with the input the template gives its target,
//! an EventBridge-shaped event whose fields the scheduler fills from its
//! context attributes ([`TARGET_INPUT`]). The sweep runs at the event's
//! `time` — the instant the schedule was due — never at the machine's
//! clock, so a retried or late invocation sweeps the same instant, and the
//! local stack drives it from its business clock.

use app::ports::SupplierLimits;
use app::ports::{DeadlineIndex, EventBus, OrderStore, Outbox};
use app::sweep::{self, SweepError, SweepReport};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use domain::calendar::Timestamp;
use thiserror::Error;

/// What the scheduler delivers.
pub type ScheduledEvent = EventBridgeEvent<serde_json::Value>;

pub const SOURCE: &str = "aws.scheduler";
pub const DETAIL_TYPE: &str = "Scheduled Event";

/// The schedule target's `Input` in the template (`${AWS::…}` substituted
/// at deploy, `<aws.scheduler.…>` by the scheduler at each invocation).
/// `tests/consistency` checks the template carries exactly this.
pub const TARGET_INPUT: &str = r#"{"version":"0","id":"<aws.scheduler.execution-id>","detail-type":"Scheduled Event","source":"aws.scheduler","account":"${AWS::AccountId}","time":"<aws.scheduler.scheduled-time>","region":"${AWS::Region}","resources":["<aws.scheduler.schedule-arn>"],"detail":{"attempt":"<aws.scheduler.attempt-number>"}}"#;

#[derive(Debug, Error)]
pub enum ScheduleError {
    #[error("the event is not from EventBridge Scheduler (source {0:?})")]
    NotScheduled(String),
    #[error("the scheduled event carries no time to sweep at")]
    NoTime,
    #[error(transparent)]
    Sweep(#[from] SweepError),
}

/// A scheduler event for the instant `at`, as the scheduler would send it:
/// what the local stack's ticker and the tests fire.
pub fn scheduled_event(at: Timestamp, schedule_arn: &str, execution_id: &str) -> ScheduledEvent {
    let mut event = ScheduledEvent::default();
    event.version = Some("0".into());
    event.id = Some(execution_id.to_owned());
    event.detail_type = DETAIL_TYPE.into();
    event.source = SOURCE.into();
    event.time = Some(at);
    event.resources = Some(vec![schedule_arn.to_owned()]);
    event.detail = serde_json::json!({"attempt": "1"});
    event
}

/// The instant the event asks the sweep to run at.
pub fn sweep_time(event: &ScheduledEvent) -> Result<Timestamp, ScheduleError> {
    if event.source != SOURCE {
        return Err(ScheduleError::NotScheduled(event.source.clone()));
    }
    event.time.ok_or(ScheduleError::NoTime)
}

/// One scheduled invocation: the sweep at the event's time, then the
/// outbox republished.
pub async fn handle<S, U>(
    store: &S,
    bus: &U,
    event: &ScheduledEvent,
) -> Result<SweepReport, ScheduleError>
where
    S: OrderStore + SupplierLimits + DeadlineIndex + Outbox,
    U: EventBus,
{
    let now = sweep_time(event)?;
    // Its actions and the outbox's oldest age as metrics, complete or not.
    match sweep::run(store, bus, now).await {
        Ok(report) => {
            report.emit_metrics();
            Ok(report)
        }
        Err(e) => {
            if let SweepError::Incomplete { report, .. } = &e {
                report.emit_metrics();
            }
            Err(e.into())
        }
    }
}

/// What the runtime reports for a failed run: its kind, and the whole
/// chain of causes (the top error alone would not say which store or bus
/// call failed).
#[cfg(feature = "lambda")]
pub fn diagnostic(e: &ScheduleError) -> lambda_runtime::Diagnostic {
    let kind = match e {
        ScheduleError::NotScheduled(_) => "NotScheduled",
        ScheduleError::NoTime => "NoScheduledTime",
        ScheduleError::Sweep(SweepError::Due(_)) => "DueOrdersUnreadable",
        ScheduleError::Sweep(SweepError::Incomplete { .. }) => "SweepIncomplete",
    };
    lambda_runtime::Diagnostic {
        error_type: kind.to_owned(),
        error_message: app::error::error_chain(e),
    }
}

/// The `escalate-stale-disputes` function's `main`: the backend and the
/// bus built once, then the runtime loop. It answers with the run's report;
/// a run that could not finish (the deadline index unreadable, an order
/// left for the next run, the bus refusing the events) is returned to
/// Lambda as an error with its cause, so the invocation is retried: the
/// sweep is idempotent, and the next schedule picks up whatever is still
/// due anyway.
#[cfg(feature = "lambda")]
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    lambda_runtime::tracing::init_default_subscriber();
    app::metrics::set_function("escalate-stale-disputes");
    let (store, bus) = crate::config::store_and_bus().await?;
    let (store, bus) = (&store, &bus);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ScheduledEvent>| async move {
            // The sweep logs its own figures (app::sweep); a failure is
            // logged here with its cause and returned for Lambda to retry.
            handle(store, bus, &event.payload).await.map_err(|e| {
                tracing::warn!(
                    schedule = event.payload.resources.as_ref().and_then(|r| r.first()).map(String::as_str),
                    error = %app::error::error_chain(&e),
                    "sweep incomplete; the invocation is retried"
                );
                diagnostic(&e)
            })
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_input_with_its_attributes_filled_in_parses_as_a_scheduled_event() {
        let filled = TARGET_INPUT
            .replace("${AWS::AccountId}", "123456789012")
            .replace("${AWS::Region}", "us-east-1")
            .replace("<aws.scheduler.execution-id>", "d32c5kddcf5bb8c3")
            .replace("<aws.scheduler.scheduled-time>", "2027-02-10T09:05:00Z")
            .replace(
                "<aws.scheduler.schedule-arn>",
                "arn:aws:scheduler:us-east-1:123456789012:schedule/default/sweep",
            )
            .replace("<aws.scheduler.attempt-number>", "2");
        let event: ScheduledEvent = serde_json::from_str(&filled).expect("parses");
        let at = sweep_time(&event).expect("has a time");
        assert_eq!(at.to_rfc3339(), "2027-02-10T09:05:00+00:00");
    }

    #[test]
    fn an_event_from_elsewhere_or_without_a_time_is_refused() {
        let at = chrono::DateTime::parse_from_rfc3339("2027-02-10T09:05:00Z")
            .expect("time")
            .to_utc();
        let mut event = scheduled_event(at, "arn", "x");
        assert_eq!(sweep_time(&event).ok(), Some(at));
        event.time = None;
        assert!(matches!(sweep_time(&event), Err(ScheduleError::NoTime)));
        event.source = "aws.events".into();
        assert!(matches!(
            sweep_time(&event),
            Err(ScheduleError::NotScheduled(_))
        ));
    }
}
