//! The provider-action step, in process: what the SQS queue behind the
//! EventBridge rule and its Lambda do on AWS. Every event the stack's bus
//! publishes that asks a provider for something (`PaymentRequested`,
//! `RefundRequested`) is queued here, in publication order, and handed one
//! at a time to the very `app::provider_actions::act` the function runs,
//! with the one provider adapter, `aws_adapters::providers::HttpProviders`
//! — pointed at the stack's own sandbox provider
//! (`http://127.0.0.1:<port>/_sandbox/<provider>`, [`crate::sandbox`]),
//! or at whatever `PROVIDER_URL_<PROVIDER>` names.
//!
//! As the queue's redrive policy would: an event whose handling fails in a
//! way worth redelivering (`ActError::redeliver`: the provider throttled,
//! failed or was unreachable, the store failed) is tried again after a
//! short backoff ([`backoff`]), up to [`MAX_ATTEMPTS`] times, then kept in
//! a dead-letter list (`GET /_local/providers/dlq`). The events behind it
//! wait meanwhile, so requests reach the providers in order.
//!
//! The step runs behind the request that caused it, as on AWS: the API
//! answers at once. The local endpoints that move or read provider time
//! (`POST /_local/clock/advance`, `POST /_local/schedules/run`, the
//! provider simulator, `GET /_local/providers/requests`) first wait until
//! the step is idle ([`ActionQueue::wait_idle`]), so a client that pays
//! and then advances the clock finds its request with the provider — and
//! a test stays deterministic without sleeping.
//!
//! A Pay Later credit-line application is no event yet: the stack queues
//! one when `POST /v1/credit-line` answers 201 (a local stand-in until the
//! service asks the lender itself), sent as a `ProviderRequest::CreditLine`
//! through the same adapter.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use app::ports::{Backend, EventBus};
use app::provider_actions::{Acted, act};
use app::provider_requests::{PaymentProviders, ProviderRequest};
use aws_adapters::providers::{HttpProviders, ProviderConfig};
use domain::event::{DomainEvent, EventBody};
use domain::ids::{ApplicationId, UserId};
use http_api::problem::error_chain;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::queue::StackQueue;
use crate::stack::Stack;

/// Attempts at one item before it is dead-lettered: the queue's
/// `maxReceiveCount`.
pub const MAX_ATTEMPTS: u32 = 5;
/// Dead letters kept (the newest).
pub const MAX_DEAD_KEPT: usize = 1000;
/// The first retry's delay; each further one doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long the local endpoints wait for the step to become idle.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The delay before attempt `failures + 1`: 100 ms, 200, 400, 800.
pub fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(10))
}

/// What the step is handed.
#[derive(Debug, Clone)]
pub enum Item {
    /// An event from the bus (`PaymentRequested`, `RefundRequested`).
    Event(Box<DomainEvent>),
    /// A credit-line application to send to the lender.
    CreditLine {
        buyer_id: UserId,
        application_id: ApplicationId,
    },
}

impl Item {
    fn describe(&self) -> Value {
        match self {
            Item::Event(event) => crate::local::envelope(0, event),
            Item::CreditLine {
                buyer_id,
                application_id,
            } => json!({
                "detail-type": "CreditLineApplied",
                "detail": {"buyer_id": buyer_id, "application_id": application_id},
            }),
        }
    }
}

/// An item the step gave up on, as `GET /_local/providers/dlq` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadAction {
    /// The event as the bus carried it (or the credit-line application).
    pub item: Value,
    pub attempts: u32,
    /// The last attempt's error chain.
    pub error: String,
    /// Business time when it was dead-lettered.
    pub at: domain::calendar::Timestamp,
}

#[derive(Debug, Default)]
struct State {
    waiting: VecDeque<Item>,
    /// Whether the worker holds an item.
    busy: bool,
    dead: Vec<DeadAction>,
}

impl State {
    fn pending(&self) -> usize {
        self.waiting.len() + usize::from(self.busy)
    }
}

/// The step's queue: fed by the bus, drained by [`run_step`]. Disabled (it
/// takes nothing) until [`start`] enables it.
#[derive(Debug)]
pub struct ActionQueue {
    enabled: AtomicBool,
    state: Mutex<State>,
    wake: Notify,
    /// How many items are waiting or being handled.
    pending: watch::Sender<usize>,
    providers: OnceLock<HttpProviders>,
}

impl Default for ActionQueue {
    fn default() -> Self {
        ActionQueue {
            enabled: AtomicBool::new(false),
            state: Mutex::default(),
            wake: Notify::new(),
            pending: watch::channel(0).0,
            providers: OnceLock::new(),
        }
    }
}

impl ActionQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the step runs (`PROVIDER_SANDBOX=auto`).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    fn push(&self, items: impl IntoIterator<Item = Item>) {
        if !self.enabled() {
            return;
        }
        let pending = {
            let mut state = self.state();
            let before = state.waiting.len();
            state.waiting.extend(items);
            if state.waiting.len() == before {
                return;
            }
            state.pending()
        };
        self.pending.send_replace(pending);
        self.wake.notify_one();
    }

    /// Take the events of a publication that ask a provider for something,
    /// in order (the bus calls this for everything it publishes).
    pub fn offer(&self, events: &[DomainEvent]) {
        self.push(
            events
                .iter()
                .filter(|e| {
                    matches!(
                        e.body,
                        EventBody::PaymentRequested { .. } | EventBody::RefundRequested { .. }
                    )
                })
                .map(|e| Item::Event(Box::new(e.clone()))),
        );
    }

    /// A credit-line application to send to the lender.
    pub fn offer_credit_line(&self, buyer_id: UserId, application_id: ApplicationId) {
        self.push([Item::CreditLine {
            buyer_id,
            application_id,
        }]);
    }

    /// Items waiting or being handled.
    pub fn pending(&self) -> usize {
        self.state().pending()
    }

    /// Every item given up on, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadAction> {
        self.state().dead.clone()
    }

    /// Wait until nothing is waiting or being handled; `false` after
    /// `timeout`.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut changes = self.pending.subscribe();
        loop {
            if *changes.borrow_and_update() == 0 {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return self.pending() == 0,
            }
        }
    }

    /// The next item, marked as being handled.
    fn take(&self) -> Option<Item> {
        let mut state = self.state();
        let item = state.waiting.pop_front()?;
        state.busy = true;
        Some(item)
    }

    /// The item in hand is done (handled, acknowledged or dead-lettered).
    fn done(&self, dead: Option<DeadAction>) {
        let pending = {
            let mut state = self.state();
            state.busy = false;
            if let Some(dead) = dead {
                // The newest MAX_DEAD_KEPT: a long-running stack with a
                // provider down cannot grow the list without bound.
                if state.dead.len() >= MAX_DEAD_KEPT {
                    state.dead.remove(0);
                }
                state.dead.push(dead);
            }
            state.pending()
        };
        self.pending.send_replace(pending);
    }

    /// The adapter the step sends with, once [`start`] configured it.
    pub fn providers(&self) -> Option<&HttpProviders> {
        self.providers.get()
    }
}

/// The adapter's configuration for a stack on `port`: each provider's
/// `PROVIDER_URL_<PROVIDER>` and `PROVIDER_KEY_<PROVIDER>` from `get`,
/// else the stack's sandbox (`http://127.0.0.1:<port>/_sandbox/<provider>`)
/// and its key.
pub fn sandbox_config(port: u16, get: impl Fn(&str) -> Option<String>) -> ProviderConfig {
    let keys = crate::sandbox::keys_from_lookup(&get);
    ProviderConfig::from_lookup(|name| {
        if let Some(set) = get(name).filter(|v| !v.trim().is_empty()) {
            return Some(set);
        }
        domain::Provider::ALL.into_iter().find_map(|p| {
            if name == aws_adapters::providers::url_variable(p) {
                Some(crate::sandbox::base_url(port, p))
            } else if name == aws_adapters::providers::key_variable(p) {
                Some(keys.of(p).to_owned())
            } else {
                None
            }
        })
    })
}

/// Turn the step on for a stack serving on `port` (`PROVIDER_SANDBOX=auto`):
/// the sandbox takes the keys `get` names (`PROVIDER_KEY_<PROVIDER>`, else
/// `sk_sandbox_<provider>`), the adapter is configured by
/// [`sandbox_config`] from the same `get`, the bus feeds the step from now
/// on, the sandbox confirms what it is asked, and the worker runs until the
/// runtime stops. `None` (and a warning) if it was started before: one
/// worker keeps the requests in order.
pub fn start<B: Backend, U: EventBus + 'static, Q: StackQueue>(
    stack: &Arc<Stack<B, U, Q>>,
    port: u16,
    get: impl Fn(&str) -> Option<String>,
) -> Option<tokio::task::JoinHandle<()>> {
    let queue = &stack.actions;
    let config = sandbox_config(port, &get);
    if queue.providers.set(HttpProviders::new(config)).is_err() {
        tracing::warn!("the provider-action step was started before; it runs once");
        return None;
    }
    stack
        .sandbox
        .set_keys(crate::sandbox::keys_from_lookup(&get));
    stack.sandbox.set_confirming(true);
    queue.enabled.store(true, Ordering::Release);
    Some(tokio::spawn(run_step(Arc::clone(stack))))
}

/// The worker: one item at a time, in order, each retried with backoff
/// and dead-lettered after [`MAX_ATTEMPTS`]. Runs until the process ends.
pub async fn run_step<B: Backend, U: EventBus + 'static, Q: StackQueue>(
    stack: Arc<Stack<B, U, Q>>,
) {
    let queue = &stack.actions;
    loop {
        let woken = queue.wake.notified();
        let Some(item) = queue.take() else {
            woken.await;
            continue;
        };
        let dead = match queue.providers() {
            Some(providers) => handle(&stack, providers, &item).await,
            None => None,
        };
        queue.done(dead);
    }
}

/// One item, to the end: handled, acknowledged, or dead-lettered (the
/// record returned).
async fn handle<B: Backend, U: EventBus, Q: StackQueue, P: PaymentProviders>(
    stack: &Stack<B, U, Q>,
    providers: &P,
    item: &Item,
) -> Option<DeadAction> {
    let mut failures = 0;
    loop {
        let error = match attempt(stack, providers, item).await {
            Ok(changed) => {
                if changed {
                    // What the step recorded is published, as after a write.
                    stack.publish_pending().await;
                }
                return None;
            }
            Err(Failure::Final(why)) => {
                tracing::warn!(item = %item.describe(), error = why, "provider action acknowledged without effect");
                return None;
            }
            Err(Failure::Retry(why)) => why,
        };
        failures += 1;
        if failures >= MAX_ATTEMPTS {
            tracing::warn!(
                item = %item.describe(),
                attempts = failures,
                error,
                "provider action moved to the dead-letter list"
            );
            return Some(DeadAction {
                item: item.describe(),
                attempts: failures,
                error,
                at: stack.now(),
            });
        }
        tracing::info!(
            attempt = failures,
            error,
            "provider action failed; retrying"
        );
        tokio::time::sleep(backoff(failures)).await;
    }
}

enum Failure {
    /// Try again later.
    Retry(String),
    /// Acknowledged: it cannot succeed.
    Final(String),
}

/// One attempt; whether the store changed (something to publish).
async fn attempt<B: Backend, U: EventBus, Q: StackQueue, P: PaymentProviders>(
    stack: &Stack<B, U, Q>,
    providers: &P,
    item: &Item,
) -> Result<bool, Failure> {
    match item {
        Item::Event(event) => match act(&stack.api.backend, providers, event, stack.now()).await {
            Ok(acted) => {
                tracing::debug!(?acted, detail_type = event.body.detail_type(), order_id = %event.order_id, "provider action");
                Ok(matches!(
                    acted,
                    Acted::Requested { .. } | Acted::Refused { .. }
                ))
            }
            Err(e) if e.redeliver() => Err(Failure::Retry(error_chain(&e))),
            Err(e) => Err(Failure::Final(error_chain(&e))),
        },
        Item::CreditLine {
            buyer_id,
            application_id,
        } => {
            let request = ProviderRequest::CreditLine {
                buyer_id: buyer_id.clone(),
                application_id: application_id.clone(),
                requested_limit: None,
            };
            match providers.send(&request).await {
                Ok(_) => Ok(false),
                Err(e) if e.is_transient() => Err(Failure::Retry(e.to_string())),
                Err(e @ app::provider_requests::ProviderError::NotConfigured(_)) => {
                    Err(Failure::Retry(e.to_string()))
                }
                Err(e) => Err(Failure::Final(e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_a_tenth_of_a_second() {
        let delays: Vec<u128> = (1..MAX_ATTEMPTS).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800]);
        assert_eq!(backoff(0), FIRST_BACKOFF);
        assert!(backoff(u32::MAX) >= backoff(10));
    }

    #[test]
    fn a_disabled_queue_takes_nothing() {
        let queue = ActionQueue::default();
        queue.offer_credit_line(
            UserId::parse("buyer-1").expect("id"),
            ApplicationId::parse("app_1").expect("id"),
        );
        assert_eq!(queue.pending(), 0);
        queue.enabled.store(true, Ordering::Release);
        queue.offer_credit_line(
            UserId::parse("buyer-1").expect("id"),
            ApplicationId::parse("app_1").expect("id"),
        );
        assert_eq!(queue.pending(), 1);
        assert!(queue.take().is_some());
        assert_eq!(queue.pending(), 1, "in hand");
        queue.done(None);
        assert_eq!(queue.pending(), 0);
    }
}
