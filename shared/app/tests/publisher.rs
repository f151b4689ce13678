//! The outbox publisher: every committed event reaches the bus once, in
//! order, and whatever the bus refuses waits in the outbox for the next drain.

use app::error::MessagingError;
use app::memory::{MemoryBackend, MemoryBus};
use app::ports::OrderStore;
use app::ports::{EventBus, Outbox};
use app::publisher::{BATCH, PublishError, drain};
use domain::event::DomainEvent;
use test_kit::store_contract as contract;

struct DownBus;

impl EventBus for DownBus {
    async fn publish(&self, _events: &[DomainEvent]) -> Result<(), MessagingError> {
        Err(MessagingError::Unavailable("bus down".into()))
    }
}

/// `n` orders created; their events, in commit order.
async fn created(backend: &MemoryBackend, n: u32) -> Vec<DomainEvent> {
    let mut all = Vec::new();
    for _ in 0..n {
        let order = contract::create(backend, &contract::Parties::fresh(), contract::t0()).await;
        all.extend(
            backend
                .history(order.id(), &app::page::PageRequest::first(100))
                .await
                .unwrap()
                .items,
        );
    }
    all
}

#[tokio::test]
async fn a_drain_publishes_every_event_once_in_order() {
    let backend = MemoryBackend::new();
    let events = created(&backend, 3).await;
    let bus = MemoryBus::default();
    assert_eq!(drain(&backend, &bus).await.unwrap(), events.len());
    assert_eq!(bus.published(), events);
    assert_eq!(drain(&backend, &bus).await.unwrap(), 0);
    assert_eq!(bus.published().len(), events.len());
}

#[tokio::test]
async fn what_the_bus_refuses_stays_in_the_outbox_for_the_next_drain() {
    let backend = MemoryBackend::new();
    let events = created(&backend, 2).await;
    assert!(matches!(
        drain(&backend, &DownBus).await,
        Err(PublishError::Bus(_))
    ));
    assert_eq!(
        backend.unpublished(BATCH).await.unwrap().len(),
        events.len()
    );
    let bus = MemoryBus::default();
    assert_eq!(drain(&backend, &bus).await.unwrap(), events.len());
    assert_eq!(bus.published(), events);
}
