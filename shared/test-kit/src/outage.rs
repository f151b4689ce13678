//! A backend wrapper for tests that makes the orders it is told about
//! unreachable: loading one of them fails as a store outage would
//! (`StoreError::Unavailable`), while every other call goes through. It
//! shows that a failure stays with the message, request or order it
//! belongs to.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::coverage::{AssuranceLimit, ReceivingAccount};
use domain::event::DomainEvent;
use domain::feedback::RatingSummary;
use domain::ids::{OrderId, UserId};
use domain::payment::CreditLine;
use domain::{Order, Usd};

use app::error::StoreError;
use app::idempotency::{IdemKey, IdemRecord};
use app::page::{Page, PageRequest};
use app::ports::{
    Commit, CreditLines, DeadlineIndex, Dedup, DedupMark, Idempotency, Listing, LoadRequest,
    Loaded, OrderQueries, OrderStore, Outbox, OutboxEntry, StoreResult, SupplierLimits,
};

/// `inner`, except that the orders in the outage cannot be loaded.
#[derive(Clone, Default)]
pub struct Outage<B> {
    pub inner: B,
    down: Arc<Mutex<HashSet<OrderId>>>,
}

impl<B> Outage<B> {
    pub fn new(inner: B) -> Self {
        Outage {
            inner,
            down: Arc::default(),
        }
    }

    /// Loading `order` fails from now on, until [`Outage::restore`].
    pub fn cut(&self, order: &OrderId) {
        self.down
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(order.clone());
    }

    pub fn restore(&self, order: &OrderId) {
        self.down
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(order);
    }

    fn is_down(&self, order: &OrderId) -> bool {
        self.down
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(order)
    }
}

impl<B: OrderStore> OrderStore for Outage<B> {
    async fn load(&self, request: LoadRequest<'_>, now: Timestamp) -> StoreResult<Loaded> {
        if self.is_down(request.order) {
            return Err(StoreError::Unavailable(
                format!("order {} is unreachable (injected outage)", request.order).into(),
            ));
        }
        self.inner.load(request, now).await
    }
    async fn commit(&self, commit: Commit<'_>) -> StoreResult<()> {
        self.inner.commit(commit).await
    }
    async fn history(&self, order: &OrderId, page: &PageRequest) -> StoreResult<Page<DomainEvent>> {
        self.inner.history(order, page).await
    }
}

impl<B: OrderQueries> OrderQueries for Outage<B> {
    async fn list(&self, listing: &Listing, page: &PageRequest) -> StoreResult<Page<Order>> {
        self.inner.list(listing, page).await
    }
}

impl<B: DeadlineIndex> DeadlineIndex for Outage<B> {
    async fn due(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<OrderId>> {
        self.inner.due(now, limit).await
    }
}

impl<B: Outbox> Outbox for Outage<B> {
    async fn unpublished(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>> {
        self.inner.unpublished(limit).await
    }
    async fn mark_published(&self, ids: &[String]) -> StoreResult<()> {
        self.inner.mark_published(ids).await
    }
}

impl<B: SupplierLimits> SupplierLimits for Outage<B> {
    async fn get_limit(&self, supplier: &UserId) -> StoreResult<Option<AssuranceLimit>> {
        self.inner.get_limit(supplier).await
    }
    async fn set_limit(
        &self,
        supplier: &UserId,
        limit: Usd,
        receiving_account: Option<&ReceivingAccount>,
    ) -> StoreResult<AssuranceLimit> {
        self.inner
            .set_limit(supplier, limit, receiving_account)
            .await
    }
    async fn rating(&self, supplier: &UserId) -> StoreResult<RatingSummary> {
        self.inner.rating(supplier).await
    }
    async fn feedback(
        &self,
        supplier: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<domain::feedback::Feedback>> {
        self.inner.feedback(supplier, page).await
    }
}

impl<B: CreditLines> CreditLines for Outage<B> {
    async fn get_credit(&self, buyer: &UserId) -> StoreResult<Option<CreditLine>> {
        self.inner.get_credit(buyer).await
    }
    async fn apply_for_credit(&self, line: &CreditLine) -> StoreResult<()> {
        self.inner.apply_for_credit(line).await
    }
    async fn decide_credit(&self, line: &CreditLine, dedup: Option<&DedupMark>) -> StoreResult<()> {
        self.inner.decide_credit(line, dedup).await
    }
}

impl<B: Idempotency> Idempotency for Outage<B> {
    async fn get_record(&self, key: &IdemKey, now: Timestamp) -> StoreResult<Option<IdemRecord>> {
        self.inner.get_record(key, now).await
    }
    async fn begin(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<()> {
        self.inner.begin(record, now).await
    }
    async fn complete(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<()> {
        self.inner.complete(record, now).await
    }
    async fn release(&self, record: &IdemRecord) -> StoreResult<()> {
        self.inner.release(record).await
    }
}

impl<B: Dedup> Dedup for Outage<B> {
    async fn seen(&self, provider: Provider, event_id: &str, now: Timestamp) -> StoreResult<bool> {
        self.inner.seen(provider, event_id, now).await
    }
}

impl<B: app::ports::Attention> app::ports::Attention for Outage<B> {
    async fn flags(
        &self,
        kind: Option<domain::order::AttentionKind>,
        page: &PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<app::flags::FlagEntry>> {
        self.inner.flags(kind, page, now).await
    }

    async fn record_refused(&self, event: &app::flags::RefusedEvent) -> StoreResult<()> {
        self.inner.record_refused(event).await
    }
}
