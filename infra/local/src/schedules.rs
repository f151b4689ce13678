//! The schedules, fired locally: on AWS, EventBridge Scheduler invokes
//! `escalate-stale-disputes` every few minutes; here a ticker
//! ([`Ticker`], every `SCHEDULE_INTERVAL_SECONDS`, default 60, `0`: off)
//! and `POST /_local/schedules/run` ([`respond`]) fire the same thing: a
//! Scheduler-shaped event (`entry_points::schedule::scheduled_event`) for
//! **business time** now, with this stack's schedule ARN and a fresh
//! execution id, handed to the very `entry_points::schedule::handle` the
//! Lambda runs, over the stack's backend and its bus. The sweep escalates
//! stale disputes, flags overdue payments, cancels orders unpaid for 30
//! days and releases reservations whose coverage ended, then drains the
//! outbox to the stack's bus — so what it publishes reaches
//! `GET /_local/events` and the upstream bus (EventBridge in AWS-endpoint
//! mode) exactly as the drain after a write does.
//!
//! A run takes the stack's publishing turn for its whole length: the ticker
//! and the endpoint (and the drains after writes) never drain at the same
//! time, so each event is published once and in order. The sweep itself is
//! safe concurrently (conditional writes), so nothing else is serialized.
//!
//! Travelling in time (`POST /_local/clock/advance`) does not run the
//! sweeps by itself: the next tick or `POST /_local/schedules/run` does, at
//! the new business time — as on AWS, where a deadline passes and the next
//! scheduled invocation acts on it. Between the two, the order is as a user
//! would find it before the scheduler came by.
//!
//! With the sandbox provider on (`PROVIDER_SANDBOX=auto`) each firing —
//! ticker or endpoint — first delivers the sandbox's confirmations that
//! have come due ([`crate::sandbox::time_passes`]), then sweeps, so a
//! payment confirmed on its earliest day is never flagged overdue by the
//! same run; the endpoint lists those deliveries in `provider_events`.
//!
//! A run that fails (the store or the bus unreachable, some orders left
//! for the next run) is logged with its error chain and answered with its
//! report; what it left is picked up by the next run. A run that panics is
//! logged and the ticker ticks on.

use std::sync::Arc;
use std::time::Duration;

use app::ports::{Backend, EventBus};
use app::sweep::{SweepError, SweepReport};
use entry_points::schedule::{self, ScheduleError};
use http_api::problem::error_chain;
use http_api::request::ApiResponse;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::queue::{StackQueue, fresh_uuid};
use crate::stack::Stack;

/// The functions EventBridge Scheduler triggers (in the template and in
/// `http_api::routes::TRIGGERED`); each runs the deadline sweep.
pub const SCHEDULES: &[&str] = &["escalate-stale-disputes"];

/// The ticker's interval, in seconds; `0` turns the ticker off.
pub const INTERVAL_VARIABLE: &str = "SCHEDULE_INTERVAL_SECONDS";
pub const DEFAULT_INTERVAL_SECONDS: u64 = 60;
/// The longest interval accepted: a day.
pub const MAX_INTERVAL_SECONDS: u64 = 24 * 3600;

/// The ARN a schedule's events name, as EventBridge Scheduler's would.
pub fn schedule_arn(name: &str) -> String {
    format!("arn:aws:scheduler:local:000000000000:schedule/default/{name}")
}

/// How often the ticker fires the schedules; `None`: never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickerConfig {
    pub interval: Option<Duration>,
}

impl Default for TickerConfig {
    fn default() -> Self {
        TickerConfig::every(Duration::from_secs(DEFAULT_INTERVAL_SECONDS))
    }
}

impl TickerConfig {
    pub fn every(interval: Duration) -> Self {
        TickerConfig {
            interval: Some(interval).filter(|i| !i.is_zero()),
        }
    }

    pub fn off() -> Self {
        TickerConfig { interval: None }
    }

    /// From `SCHEDULE_INTERVAL_SECONDS`.
    pub fn from_env() -> Result<Self, String> {
        TickerConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Unset or empty: every 60 s; `0`: off; else whole seconds up to a day.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let Some(raw) = get(INTERVAL_VARIABLE).filter(|v| !v.trim().is_empty()) else {
            return Ok(TickerConfig::default());
        };
        match raw.trim().parse::<u64>() {
            Ok(0) => Ok(TickerConfig::off()),
            Ok(seconds) if seconds <= MAX_INTERVAL_SECONDS => {
                Ok(TickerConfig::every(Duration::from_secs(seconds)))
            }
            _ => Err(format!(
                "{INTERVAL_VARIABLE} must be a whole number of seconds from 0 (no ticker) to \
                 {MAX_INTERVAL_SECONDS}, not {raw:?}"
            )),
        }
    }

    /// For the startup banner.
    pub fn describe(&self) -> String {
        match self.interval {
            Some(interval) => format!(
                "ticker every {} s at business time ({INTERVAL_VARIABLE})",
                interval.as_secs_f64()
            ),
            None => format!("ticker off ({INTERVAL_VARIABLE}=0)"),
        }
    }
}

/// One schedule's run, as `POST /_local/schedules/run` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleRun {
    pub schedule: &'static str,
    pub schedule_arn: String,
    /// The scheduler's execution id the event carried.
    pub execution_id: String,
    /// What the sweep did; `null` when it could not start (the due orders
    /// could not be read, see `error`).
    pub report: Option<SweepReport>,
    /// Why the run is incomplete: the orders and events it left are picked
    /// up by the next run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<B: Backend, U: EventBus, Q: StackQueue> Stack<B, U, Q> {
    /// Fire every schedule once, now (business time), one after the other,
    /// holding the publishing turn.
    pub async fn run_schedules(&self) -> Vec<ScheduleRun> {
        let _turn = self.publishing_turn().await;
        let mut runs = Vec::with_capacity(SCHEDULES.len());
        for &name in SCHEDULES {
            // Read after waiting for the turn: a run asked for after a
            // journey in time sweeps at the new time.
            let at = self.now();
            let arn = schedule_arn(name);
            let execution_id = fresh_uuid();
            let event = schedule::scheduled_event(at, &arn, &execution_id);
            let outcome = schedule::handle(&self.api.backend, &self.bus, &event).await;
            if let Err(e) = &outcome {
                self.record_sweep_failure(&event, e);
            }
            runs.push(logged(
                ScheduleRun {
                    schedule: name,
                    schedule_arn: arn,
                    execution_id,
                    report: None,
                    error: None,
                },
                outcome,
            ));
        }
        runs
    }
}

impl<B: Backend, U: EventBus, Q: StackQueue> Stack<B, U, Q> {
    /// Keep a failed run as Lambda's on-failure destination record has it:
    /// the condition, the event the function was invoked with and the
    /// error it returned.
    fn record_sweep_failure(
        &self,
        event: &aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value>,
        e: &ScheduleError,
    ) {
        let record = serde_json::json!({
            "version": "1.0",
            "timestamp": self.now(),
            "requestContext": {
                "functionArn": "escalate-stale-disputes",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": event,
            "responsePayload": {
                "errorType": "SweepIncomplete",
                "errorMessage": error_chain(e),
            },
        });
        let mut failures = self
            .sweep_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // The newest MAX_SWEEP_FAILURES_KEPT, as a queue's retention would.
        if failures.len() >= MAX_SWEEP_FAILURES_KEPT {
            failures.remove(0);
        }
        failures.push(record);
    }
}

/// Failed runs kept for `GET /_local/schedules/failures` (the newest).
pub const MAX_SWEEP_FAILURES_KEPT: usize = 1000;

/// `GET /_local/schedules/failures`: the sweep's on-failure destination,
/// oldest first.
pub fn failures<B: Backend, U: EventBus, Q: StackQueue>(stack: &Stack<B, U, Q>) -> ApiResponse {
    let items = stack
        .sweep_failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    ApiResponse::json(200, serde_json::json!({ "items": items }).to_string())
}

/// The run with its outcome; a failure logged as a warning with its error
/// chain (the sweep logs its own figures).
fn logged(mut run: ScheduleRun, outcome: Result<SweepReport, ScheduleError>) -> ScheduleRun {
    match outcome {
        // The sweep logs its own figures (app::sweep).
        Ok(report) => {
            run.report = Some(report);
        }
        Err(e) => {
            let chain = error_chain(&e);
            tracing::warn!(
                schedule = run.schedule,
                execution_id = run.execution_id,
                error = %chain,
                "scheduled run incomplete; the next run picks up what it left"
            );
            if let ScheduleError::Sweep(SweepError::Incomplete { report, .. }) = e {
                run.report = Some(*report);
            }
            run.error = Some(chain);
        }
    }
    run
}

impl<B: Backend, U: EventBus, Q: StackQueue> Stack<B, U, Q> {
    /// What a firing of the schedules does: the sandbox's confirmations
    /// due (none in `manual` mode), then every schedule, then the
    /// provider-action step left to finish what the sweep asked.
    pub async fn fire(&self) -> (Vec<crate::sandbox::Sent>, Vec<ScheduleRun>) {
        let sent = crate::sandbox::time_passes(self).await;
        let runs = self.run_schedules().await;
        self.actions.wait_idle(crate::actions::IDLE_TIMEOUT).await;
        (sent, runs)
    }
}

/// `POST /_local/schedules/run`: 200 with every run's report, complete or
/// not (and, with the sandbox on, the confirmations delivered first).
pub async fn respond<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
) -> ApiResponse {
    #[derive(Serialize)]
    struct Runs {
        #[serde(skip_serializing_if = "Option::is_none")]
        provider_events: Option<Vec<crate::sandbox::Sent>>,
        runs: Vec<ScheduleRun>,
    }
    let (sent, runs) = stack.fire().await;
    let runs = Runs {
        provider_events: stack.sandbox.confirming().then_some(sent),
        runs,
    };
    let body = serde_json::to_string(&runs).unwrap_or_else(|e| {
        serde_json::json!({ "runs": [], "error": format!("the report could not be encoded: {e}") })
            .to_string()
    });
    ApiResponse::json(200, body)
}

/// Aborts the task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The ticker task; it stops when this is dropped.
#[derive(Debug)]
pub struct Ticker {
    task: JoinHandle<()>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Ticker {
    /// Start ticking (the first run one interval from now); `None` when the
    /// configuration turns the ticker off. Needs a tokio runtime.
    pub fn spawn<B: Backend, U: EventBus + 'static, Q: StackQueue>(
        stack: Arc<Stack<B, U, Q>>,
        config: TickerConfig,
    ) -> Option<Ticker> {
        let period = config.interval?;
        Some(Ticker {
            task: tokio::spawn(tick(stack, period)),
        })
    }
}

async fn tick<B: Backend, U: EventBus + 'static, Q: StackQueue>(
    stack: Arc<Stack<B, U, Q>>,
    period: Duration,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    // A run longer than the period delays the next tick; runs never pile up.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // In a task of its own, so a panic ends this run only; stopped with
        // the ticker.
        let stack = Arc::clone(&stack);
        let mut run = AbortOnDrop(tokio::spawn(async move {
            stack.fire().await;
        }));
        match (&mut run.0).await {
            Ok(()) => {}
            Err(e) if e.is_panic() => {
                tracing::error!(error = %e, "a scheduled run panicked; the next tick runs again");
            }
            // Cancelled: the runtime is shutting down.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::memory::MemoryBackend;
    use app::ports::SupplierLimits;
    use chrono::TimeDelta;
    use domain::Usd;
    use http_api::routes::{TRIGGERED, Trigger};
    use http_api::webhook::{ProviderSecrets, Webhooks};
    use serde_json::Value;
    use test_kit::outage::Outage;
    use test_kit::store_contract::{Parties, confirm_with_retry, create, t0};

    use crate::jwt::JwtConfig;
    use crate::queue::LocalQueue;
    use crate::stack::NoUpstream;

    #[tokio::test]
    async fn an_incomplete_run_answers_200_reaches_the_on_failure_destination_and_the_next_run_finishes()
     {
        let stack = Stack::new(
            Outage::new(MemoryBackend::new()),
            NoUpstream,
            Webhooks {
                queue: LocalQueue::default(),
                secrets: ProviderSecrets::default(),
            },
            JwtConfig::new("s"),
        );
        let backend = &stack.api.backend;
        let p = Parties::fresh();
        let limit = Usd::dollars(100_000).expect("amount");
        backend
            .set_limit(&p.supplier.id, limit, None)
            .await
            .expect("limit");
        let order = create(backend, &p, t0()).await;
        confirm_with_retry(backend, &p, order.id(), t0())
            .await
            .expect("covered");
        stack.publish_pending().await;
        // Business time 31 days after the confirmation: unpaid too long.
        let ahead = (t0() + TimeDelta::days(31) - stack.now()).num_seconds();
        if ahead > 0 {
            stack.advance(ahead).expect("travel");
        }

        backend.cut(order.id());
        let answer = respond(&stack).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let body: Value = serde_json::from_str(&answer.body).expect("JSON");
        let run = &body["runs"][0];
        assert_eq!(run["schedule"], "escalate-stale-disputes", "{body}");
        assert_eq!(run["report"]["due"], 1, "{body}");
        assert_eq!(run["report"]["failed"], 1, "{body}");
        assert_eq!(run["report"]["changed"], 0, "{body}");
        let error = run["error"].as_str().expect("an error");
        assert!(error.contains("left for the next run"), "{error}");

        // As on AWS, the failed run reaches the sweep's on-failure
        // destination, with the event it ran for and its error.
        let failures = failures(&stack);
        assert_eq!(failures.status, 200);
        let failures: Value = serde_json::from_str(&failures.body).expect("JSON");
        let items = failures["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{failures}");
        assert_eq!(items[0]["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(items[0]["requestPayload"]["id"], run["execution_id"]);
        let message = items[0]["responsePayload"]["errorMessage"]
            .as_str()
            .expect("message");
        assert!(message.contains("left for the next run"), "{message}");

        // The order comes back: the next run does what was left.
        backend.restore(order.id());
        let runs = stack.run_schedules().await;
        assert_eq!(runs[0].error, None);
        assert_eq!(
            stack.sweep_failures.lock().expect("lock").len(),
            1,
            "a complete run adds no failure"
        );
        let report = runs[0].report.as_ref().expect("report");
        assert_eq!((report.cancelled, report.released), (1, 1), "{report:?}");
        let published: Vec<&str> = stack
            .bus
            .published()
            .iter()
            .filter(|e| e.order_id == *order.id())
            .map(|e| e.body.detail_type())
            .collect();
        assert!(published.contains(&"OrderCancelled"), "{published:?}");
        assert!(published.contains(&"ReservationReleased"), "{published:?}");
    }

    #[test]
    fn the_schedules_are_the_functions_the_scheduler_triggers() {
        let scheduled: Vec<&str> = TRIGGERED
            .iter()
            .filter(|t| t.trigger == Trigger::Schedule)
            .map(|t| t.function)
            .collect();
        assert_eq!(SCHEDULES, scheduled.as_slice());
        assert_eq!(
            schedule_arn("escalate-stale-disputes"),
            "arn:aws:scheduler:local:000000000000:schedule/default/escalate-stale-disputes"
        );
    }

    #[test]
    fn the_interval_defaults_to_a_minute_zero_turns_it_off_and_nonsense_is_refused() {
        let with = |value: &'static str| {
            TickerConfig::from_lookup(move |name| {
                (name == INTERVAL_VARIABLE).then(|| value.to_owned())
            })
        };
        let minute = TickerConfig::every(Duration::from_secs(60));
        assert_eq!(TickerConfig::from_lookup(|_| None), Ok(minute));
        assert_eq!(with(""), Ok(minute));
        assert_eq!(with(" 5 "), Ok(TickerConfig::every(Duration::from_secs(5))));
        assert_eq!(with("0"), Ok(TickerConfig::off()));
        assert_eq!(
            with("86400").map(|c| c.interval),
            Ok(Some(Duration::from_secs(86_400)))
        );
        for bad in ["-1", "1.5", "ten", "86401", "99999999999999999999"] {
            let err = with(bad).expect_err(bad);
            assert!(
                err.contains(INTERVAL_VARIABLE) && err.contains(bad),
                "{err}"
            );
        }
        assert_eq!(TickerConfig::every(Duration::ZERO), TickerConfig::off());
        assert!(
            minute.describe().contains("every 60 s"),
            "{}",
            minute.describe()
        );
        assert!(TickerConfig::off().describe().contains("off"));
    }
}
