//! Publishing the outbox: domain events are committed with their order
//! (history + a sparse outbox index) and published to the bus afterwards,
//! at least once — the payment-requested events and the refund commands
//! the provider integration acts on among them.
//!
//! [`drain`] reads what the outbox holds, publishes it in order, then marks
//! it published. Whatever fails stays in the outbox for the next drain: on
//! AWS the `publish-events` function drains when the table's stream shows
//! new events (and the sweep drains whatever a failure left); the local
//! stack drains after every write. A drain that crashes between publishing
//! and marking publishes those events again: consumers de-duplicate by the
//! event's order id and sequence, as with any EventBridge delivery.

use thiserror::Error;

use crate::error::{MessagingError, StoreError};
use crate::ports::{EventBus, Outbox};

/// Outbox entries read per round (EventBridge takes 10 per request; the
/// bus adapter splits).
pub const BATCH: u32 = 100;
/// Rounds per drain: enough for any burst, and a bound should the bus keep
/// failing.
pub const MAX_ROUNDS: usize = 100;

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("reading or marking the outbox failed")]
    Store(#[from] StoreError),
    #[error("the bus refused the events; they stay in the outbox")]
    Bus(#[from] MessagingError),
}

/// Publish everything the outbox holds (up to `MAX_ROUNDS × BATCH`
/// events), oldest first. Returns how many were published.
pub async fn drain<S: Outbox, U: EventBus>(store: &S, bus: &U) -> Result<usize, PublishError> {
    let mut published = 0;
    for _ in 0..MAX_ROUNDS {
        let entries = store.unpublished(BATCH).await?;
        if entries.is_empty() {
            break;
        }
        let full = entries.len() >= BATCH as usize;
        let (ids, events): (Vec<String>, Vec<_>) =
            entries.into_iter().map(|e| (e.id, e.event)).unzip();
        bus.publish(&events).await?;
        store.mark_published(&ids).await?;
        published += events.len();
        if !full {
            break;
        }
    }
    Ok(published)
}
