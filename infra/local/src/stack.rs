//! What the local stack holds: the handlers every function runs
//! (`http_api::Api`) over a backend, business time that can travel, the
//! in-process event bus, and the emulated authorizer's configuration.
//!
//! The backend and the upstream bus are type parameters so the AWS-endpoint
//! mode plugs in `DynamoStore` and `EventBridgeBus` without touching the
//! server: `Stack<MemoryBackend, NoUpstream>` is the embedded default.

use std::sync::{Arc, Mutex};

use app::clock::OffsetClock;
use app::error::MessagingError;
use app::memory::{MemoryBackend, MemoryBus};
use app::ports::{Backend, Clock, EventBus};
use chrono::TimeDelta;
use domain::calendar::Timestamp;
use domain::event::DomainEvent;
use http_api::Api;
use http_api::problem::error_chain;

use crate::jwt::JwtConfig;

/// Outbox entries read per round while publishing.
const PUBLISH_BATCH: u32 = 100;
/// Rounds per drain: enough for any burst a request can cause, and a bound
/// should an upstream bus keep failing.
const PUBLISH_ROUNDS: usize = 100;
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
/// `GET /_local/events`) after the upstream bus, if any, accepted it.
#[derive(Debug, Clone, Default)]
pub struct LocalBus<U> {
    recorded: MemoryBus,
    upstream: U,
}

impl<U: EventBus> LocalBus<U> {
    pub fn new(upstream: U) -> Self {
        LocalBus {
            recorded: MemoryBus::default(),
            upstream,
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
        self.recorded.publish(events).await
    }
}

/// Why time could not travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TravelError {
    NotPositive,
    TooFar { room_seconds: i64 },
}

pub struct Stack<B, U> {
    pub api: Api<B, BusinessClock>,
    pub clock: BusinessClock,
    pub bus: LocalBus<U>,
    pub jwt: JwtConfig,
    /// One drain at a time, so events are published once and in order.
    publishing: tokio::sync::Mutex<()>,
    /// One journey at a time: the bound check and the move are one step.
    travelling: Mutex<()>,
}

impl Stack<MemoryBackend, NoUpstream> {
    /// The embedded stack: in-memory backend, in-process bus.
    pub fn embedded(jwt: JwtConfig) -> Self {
        Stack::new(MemoryBackend::new(), NoUpstream, jwt)
    }
}

impl<B: Backend, U: EventBus> Stack<B, U> {
    pub fn new(backend: B, upstream: U, jwt: JwtConfig) -> Self {
        let clock = BusinessClock::default();
        Stack {
            api: Api {
                backend,
                clock: clock.clone(),
                ids: http_api::new_order_id,
            },
            clock,
            bus: LocalBus::new(upstream),
            jwt,
            publishing: tokio::sync::Mutex::new(()),
            travelling: Mutex::new(()),
        }
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

    /// Publish what the backend's outbox holds: read, publish, mark
    /// published. What fails to publish stays in the outbox for the next
    /// drain (delivery is at least once, as with the sweep in AWS).
    pub async fn publish_pending(&self) {
        let _one = self.publishing.lock().await;
        for _ in 0..PUBLISH_ROUNDS {
            let entries = match self.api.backend.unpublished(PUBLISH_BATCH).await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "reading the outbox failed");
                    return;
                }
            };
            if entries.is_empty() {
                return;
            }
            let events: Vec<DomainEvent> = entries.iter().map(|e| e.event.clone()).collect();
            if let Err(e) = self.bus.publish(&events).await {
                tracing::warn!(error = %error_chain(&e), "publishing events failed; they stay in the outbox");
                return;
            }
            let ids: Vec<String> = entries.into_iter().map(|e| e.id).collect();
            if let Err(e) = self.api.backend.mark_published(&ids).await {
                tracing::warn!(error = %error_chain(&e), "marking events published failed");
                return;
            }
            for event in &events {
                tracing::debug!(order_id = %event.order_id, event = event.body.detail_type(), "published");
            }
            if ids.len() < PUBLISH_BATCH as usize {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_travels_forward_only_and_within_bounds() {
        let stack = Stack::embedded(JwtConfig::new("s"));
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
