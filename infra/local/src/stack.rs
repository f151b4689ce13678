//! What the local stack holds: the handlers every function runs
//! (`http_api::Api`) over a backend, the webhook route's handler
//! (`http_api::webhook::Webhooks`) over a payment queue, business time that
//! can travel, the in-process event bus, what the payment consumer has
//! handled, and the emulated authorizer's configuration.
//!
//! The bus feeds the provider-action step ([`crate::actions`]) and the
//! stack serves the sandbox provider ([`crate::sandbox`]); both stay off
//! (`PROVIDER_SANDBOX=manual`) until [`crate::actions::start`].
//!
//! Publishing takes turns (`Stack::publishing_turn`): the drain after a
//! write and the scheduled sweep (which drains too, see
//! [`crate::schedules`]) run one at a time, so each event reaches the bus
//! once and in order.
//!
//! The backend, the upstream bus and the payment queue are type parameters
//! so the AWS-endpoint mode plugs in `DynamoStore`, `EventBridgeBus` and
//! SQS without touching the server: `Stack<MemoryBackend, NoUpstream,
//! LocalQueue>` is the embedded default.

use std::sync::{Arc, Mutex};

use app::clock::OffsetClock;
use app::error::MessagingError;
use app::memory::{MemoryBackend, MemoryBus};
use app::ports::{Backend, Clock, EventBus};
use chrono::TimeDelta;
use domain::calendar::Timestamp;
use domain::clocks::Clocks;
use domain::event::DomainEvent;
use http_api::Api;
use http_api::problem::error_chain;
use http_api::webhook::{ProviderSecrets, Webhooks};

use crate::actions::ActionQueue;
use crate::jwt::JwtConfig;
use crate::queue::{Consumed, LocalQueue, StackQueue};
use crate::sandbox::Sandbox;

/// How far business time may travel in total: a hundred years.
pub const MAX_OFFSET_SECONDS: i64 = 100 * 366 * 24 * 3600;

/// The shared business clock, as each handler sees it.
#[derive(Debug, Clone, Default)]
pub struct BusinessClock(pub Arc<OffsetClock>);

impl Clock for BusinessClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// No bus beyond the process: the embedded default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUpstream;

impl EventBus for NoUpstream {
    async fn publish(&self, _events: &[DomainEvent]) -> Result<(), MessagingError> {
        Ok(())
    }
}

/// The in-process event bus: every event published is kept (for
/// `GET /_local/events`) after the upstream bus, if any, accepted it, and
/// what asks a provider for something goes on to the provider-action step
/// (when it runs), as the EventBridge rule routes it on AWS.
#[derive(Debug, Clone, Default)]
pub struct LocalBus<U> {
    recorded: MemoryBus,
    upstream: U,
    actions: Arc<ActionQueue>,
}

impl<U: EventBus> LocalBus<U> {
    pub fn new(upstream: U) -> Self {
        LocalBus::feeding(upstream, Arc::default())
    }

    /// A bus whose publications feed `actions`.
    pub fn feeding(upstream: U, actions: Arc<ActionQueue>) -> Self {
        LocalBus {
            recorded: MemoryBus::default(),
            upstream,
            actions,
        }
    }

    /// Every event published so far, oldest first.
    pub fn published(&self) -> Vec<DomainEvent> {
        self.recorded.published()
    }
}

impl<U: EventBus> EventBus for LocalBus<U> {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), MessagingError> {
        self.upstream.publish(events).await?;
        self.recorded.publish(events).await?;
        self.actions.offer(events);
        Ok(())
    }
}

/// Why time could not travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TravelError {
    NotPositive,
    TooFar { room_seconds: i64 },
}

pub struct Stack<B, U, Q = LocalQueue> {
    pub api: Api<B, BusinessClock>,
    /// The webhook route: verify, then send to the payment queue.
    pub webhooks: Webhooks<Q>,
    /// What the payment consumer has handled, per (provider, webhook id).
    pub consumed: Consumed,
    pub clock: BusinessClock,
    pub bus: LocalBus<U>,
    /// The provider-action step's queue (fed by `bus`; runs once
    /// [`crate::actions::start`] turned it on).
    pub actions: Arc<ActionQueue>,
    /// The sandbox provider (`/_sandbox/{provider}`).
    pub sandbox: Sandbox,
    pub jwt: JwtConfig,
    /// One drain at a time, so events are published once and in order.
    publishing: tokio::sync::Mutex<()>,
    /// One journey at a time: the bound check and the move are one step.
    travelling: Mutex<()>,
    /// The sweep's on-failure destination: every scheduled run that did not
    /// complete, as Lambda sends a failed asynchronous invocation to the
    /// sweep's failure queue on AWS (`GET /_local/schedules/failures`).
    pub sweep_failures: Mutex<Vec<serde_json::Value>>,
}

impl Stack<MemoryBackend, NoUpstream, LocalQueue> {
    /// The embedded stack: in-memory backend, in-process bus and queue.
    pub fn embedded(jwt: JwtConfig, secrets: ProviderSecrets) -> Self {
        let webhooks = Webhooks {
            queue: LocalQueue::default(),
            secrets,
        };
        Stack::new(MemoryBackend::new(), NoUpstream, webhooks, jwt)
    }
}

impl<B: Backend, U: EventBus, Q: StackQueue> Stack<B, U, Q> {
    pub fn new(backend: B, upstream: U, webhooks: Webhooks<Q>, jwt: JwtConfig) -> Self {
        let clock = BusinessClock::default();
        let actions = Arc::new(ActionQueue::default());
        Stack {
            api: Api {
                backend,
                clock: clock.clone(),
                ids: app::ids::Ids::os(),
                clocks: Clocks::default(),
            },
            webhooks,
            consumed: Consumed::default(),
            clock,
            bus: LocalBus::feeding(upstream, Arc::clone(&actions)),
            actions,
            sandbox: Sandbox::default(),
            sweep_failures: Mutex::default(),
            jwt,
            publishing: tokio::sync::Mutex::new(()),
            travelling: Mutex::new(()),
        }
    }

    /// The clocks new orders get (default: the product's; the binary reads
    /// them with `http_api::clocks_from_env`, `CLOCK_<NAME>` in days).
    #[must_use]
    pub fn with_clocks(mut self, clocks: Clocks) -> Self {
        self.api.clocks = clocks;
        self
    }

    /// Business time now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// How far business time is ahead of the real clock.
    pub fn offset(&self) -> TimeDelta {
        self.clock.0.offset()
    }

    /// Move business time forward by `seconds` for every handler.
    pub fn advance(&self, seconds: i64) -> Result<(), TravelError> {
        if seconds <= 0 {
            return Err(TravelError::NotPositive);
        }
        let _one = self.travelling.lock().unwrap_or_else(|p| p.into_inner());
        let room_seconds = MAX_OFFSET_SECONDS.saturating_sub(self.offset().num_seconds());
        if seconds > room_seconds {
            return Err(TravelError::TooFar { room_seconds });
        }
        self.clock.0.advance(TimeDelta::seconds(seconds));
        Ok(())
    }

    /// The turn to publish: whoever drains the outbox to the bus — this
    /// drain, a scheduled run — holds it meanwhile.
    pub(crate) async fn publishing_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.publishing.lock().await
    }

    /// Publish what the backend's outbox holds: read, publish, mark
    /// published. What fails to publish stays in the outbox for the next
    /// drain (delivery is at least once, as with the sweep in AWS).
    pub async fn publish_pending(&self) {
        let _one = self.publishing_turn().await;
        match app::publisher::drain(&self.api.backend, &self.bus).await {
            Ok(0) => {}
            Ok(published) => tracing::debug!(published, "outbox drained"),
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "publishing failed; the events stay in the outbox")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_travels_forward_only_and_within_bounds() {
        let stack = Stack::embedded(JwtConfig::new("s"), ProviderSecrets::default());
        assert_eq!(stack.advance(0), Err(TravelError::NotPositive));
        assert_eq!(stack.advance(-5), Err(TravelError::NotPositive));
        let before = stack.now();
        assert_eq!(stack.advance(86_400), Ok(()));
        assert!(stack.now() - before >= TimeDelta::seconds(86_400));
        assert_eq!(stack.offset(), TimeDelta::seconds(86_400));
        assert_eq!(
            stack.advance(MAX_OFFSET_SECONDS),
            Err(TravelError::TooFar {
                room_seconds: MAX_OFFSET_SECONDS - 86_400
            })
        );
        assert_eq!(stack.advance(MAX_OFFSET_SECONDS - 86_400), Ok(()));
        // Business time at the bound still renders.
        assert!(stack.now() > before);
    }
}
