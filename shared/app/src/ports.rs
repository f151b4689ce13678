//! The ports the use cases depend on, each narrow. Adapters implement them:
//! DynamoDB / SQS / EventBridge in `aws-adapters`, and the embedded
//! in-memory backend in [`crate::memory`].
//!
//! The one multi-item write is [`OrderStore::commit`]: the order (created,
//! or saved on its expected version), its events (history + outbox), the
//! effects its events carry on other records (the supplier's reserved limit,
//! the buyer's Pay Later credit, the supplier's rating), an idempotency
//! record and a provider-event de-duplication mark — all or nothing.

use std::future::Future;

use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::coverage::{AssuranceLimit, ReceivingAccount};
use domain::dispute::DisputeStatus;
use domain::event::DomainEvent;
use domain::feedback::{Feedback, RatingSummary};
use domain::ids::{OrderId, UserId};
use domain::order::{AttentionKind, OpenFlag};
use domain::payment::CreditLine;
use domain::{Order, Usd};
use serde::{Deserialize, Serialize};

use crate::error::{MessagingError, StoreError};
use crate::flags::{FlagEntry, RefusedEvent};
use crate::idempotency::{IdemKey, IdemRecord};
use crate::page::{Page, PageRequest};

pub type StoreResult<T> = Result<T, StoreError>;

/// What to read in one strongly consistent request.
#[derive(Debug, Clone, Copy)]
pub struct LoadRequest<'a> {
    pub order: &'a OrderId,
    /// The caller's idempotency record, read with the order.
    pub idempotency: Option<&'a IdemKey>,
    /// A supplier's limit, read with the order (e.g. the supplier confirming).
    pub limit_of: Option<&'a UserId>,
    /// A buyer's Pay Later credit line, read with the order (paying).
    pub credit_of: Option<&'a UserId>,
}

#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub order: Option<Order>,
    /// Live records only: an expired one reads as `None`.
    pub idempotency: Option<IdemRecord>,
    pub limit: Option<AssuranceLimit>,
    pub credit: Option<CreditLine>,
}

/// A provider event applied by this commit; a second commit with the same
/// mark fails with `Conflict(Duplicate)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupMark {
    pub provider: Provider,
    pub event_id: String,
    pub expires_at: Timestamp,
}

/// One atomic write.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The order as it is after the command.
    pub order: &'a Order,
    /// `None` creates the order (it must not exist); `Some(r)` saves it only
    /// if the stored revision ([`Order::revision`]) is still `r`. An order
    /// whose revision is still `r` (an event that changed nothing, whose
    /// de-duplication mark is recorded) is not rewritten, only checked.
    pub expected_revision: Option<u64>,
    /// The events of the command, appended to history and the outbox.
    pub events: &'a [DomainEvent],
    /// The completed idempotency record of the request, if it had a key.
    pub idempotency: Option<&'a IdemRecord>,
    /// The provider event this commit applies, if any.
    pub dedup: Option<&'a DedupMark>,
    /// The order's open flags as they were at `expected_revision` (none
    /// for a new order): the commit writes the flag items that opened or
    /// changed and removes the ones that closed ([`crate::flags::changes`]).
    pub previous_flags: &'a [OpenFlag],
    pub now: Timestamp,
}

/// The order aggregate: one strongly consistent read, one atomic write.
pub trait OrderStore: Send + Sync {
    fn load(
        &self,
        request: LoadRequest<'_>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Loaded>> + Send;

    fn commit(&self, commit: Commit<'_>) -> impl Future<Output = StoreResult<()>> + Send;

    /// A page of the order's events, oldest first (the cursor is bound to
    /// the order).
    fn history(
        &self,
        order: &OrderId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<DomainEvent>>> + Send;
}

/// Which listing to page through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// A buyer's orders, newest first.
    Buyer(UserId),
    /// A supplier's orders, newest first.
    Supplier(UserId),
    /// Orders whose current dispute has this status, oldest first (arbiters
    /// work through the queue in order).
    Disputes(DisputeStatus),
}

pub trait OrderQueries: Send + Sync {
    fn list(
        &self,
        listing: &Listing,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Order>>> + Send;
}

/// The sparse index of orders with work for the sweep.
pub trait DeadlineIndex: Send + Sync {
    /// Orders whose next sweep instant is at or before `now`, soonest first.
    fn due(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<OrderId>>> + Send;
}

/// An event waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Opaque id for [`Outbox::mark_published`].
    pub id: String,
    pub event: DomainEvent,
}

/// Events committed but not yet published, read from a sparse index so a
/// failed publish is retried from the store and never lost.
pub trait Outbox: Send + Sync {
    fn unpublished(&self, limit: u32)
    -> impl Future<Output = StoreResult<Vec<OutboxEntry>>> + Send;
    fn mark_published(&self, ids: &[String]) -> impl Future<Output = StoreResult<()>> + Send;
}

/// What needs an operator: the open flags of orders (written by order
/// commits) and refused provider events.
pub trait Attention: Send + Sync {
    /// A page of open flags, oldest first, of one kind or all. Reads the
    /// sparse `flags` index, never the orders.
    fn flags(
        &self,
        kind: Option<AttentionKind>,
        page: &PageRequest,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Page<FlagEntry>>> + Send;

    /// Keep a verified provider event that could not be applied (for
    /// [`crate::flags::REFUSED_RETENTION`]). The same (provider,
    /// `webhook-id`) again is a no-op: a redelivery is not listed twice.
    fn record_refused(&self, event: &RefusedEvent) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Suppliers' assurance limits. Reservations and releases travel in order
/// commits (`CoverageReserved` / `ReservationReleased` events), atomically
/// with the order.
pub trait SupplierLimits: Send + Sync {
    fn get_limit(
        &self,
        supplier: &UserId,
    ) -> impl Future<Output = StoreResult<Option<AssuranceLimit>>> + Send;

    /// Set the limit (creating the record if needed); what is reserved
    /// stays. The receiving account is replaced only when one is given.
    fn set_limit(
        &self,
        supplier: &UserId,
        limit: Usd,
        receiving_account: Option<&ReceivingAccount>,
    ) -> impl Future<Output = StoreResult<AssuranceLimit>> + Send;

    /// The count and sum of every rating the supplier received, kept in one
    /// record: reading it is O(1) whatever the number of orders.
    fn rating(&self, supplier: &UserId) -> impl Future<Output = StoreResult<RatingSummary>> + Send;

    /// A page of the supplier's feedback, newest first: rating, comment and
    /// when, without the order or the buyer.
    fn feedback(
        &self,
        supplier: &UserId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Feedback>>> + Send;
}

/// Buyers' Pay Later credit lines. Reservations and releases travel in
/// order commits (`CreditReserved` / `CreditReleased`).
pub trait CreditLines: Send + Sync {
    fn get_credit(
        &self,
        buyer: &UserId,
    ) -> impl Future<Output = StoreResult<Option<CreditLine>>> + Send;

    /// Record a new application: only if the buyer has none, or only a
    /// declined one (else `Conflict(AlreadyExists)`). The same application
    /// (same id) again is a no-op: a retried write whose answer was lost.
    fn apply_for_credit(&self, line: &CreditLine) -> impl Future<Output = StoreResult<()>> + Send;

    /// Record the lender's decision on a pending application (else
    /// `Conflict(Version)`), with the provider event's de-duplication mark.
    fn decide_credit(
        &self,
        line: &CreditLine,
        dedup: Option<&DedupMark>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Idempotency records outside an order commit: a lease for a request in
/// progress, and completion of requests that change no order.
pub trait Idempotency: Send + Sync {
    fn get_record(
        &self,
        key: &IdemKey,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<IdemRecord>>> + Send;

    /// Write an in-progress record, only if no live record exists (else
    /// `Conflict(Idempotency)`).
    fn begin(
        &self,
        record: &IdemRecord,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Write a completed record: over nothing, an expired record, or this
    /// request's own in-progress record (same payload hash); never over a
    /// live completed one (else `Conflict(Idempotency)`).
    fn complete(
        &self,
        record: &IdemRecord,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Remove this request's own in-progress record (same key, still in
    /// progress, same payload hash) after it failed with a server error, so
    /// that its retry runs at once instead of waiting out the lease. Any
    /// other record stays; nothing to remove is not an error.
    fn release(&self, record: &IdemRecord) -> impl Future<Output = StoreResult<()>> + Send;
}

/// De-duplication of provider events, by provider + event id.
pub trait Dedup: Send + Sync {
    fn seen(
        &self,
        provider: Provider,
        event_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// A verified provider webhook, queued for the payment-events consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMessage {
    pub provider: Provider,
    /// The `webhook-id` header: the de-duplication key with the provider.
    pub webhook_id: String,
    pub received_at: Timestamp,
    /// The verified JSON body, as sent.
    pub body: String,
}

/// The queue message attribute naming the provider (`echeck`, `card`, …),
/// set by the sender beside the body for filtering and for reading a DLQ.
pub const ATTR_PROVIDER: &str = "provider";
/// The queue message attribute carrying the provider's `webhook-id`.
pub const ATTR_WEBHOOK_ID: &str = "webhook_id";

pub trait PaymentQueue: Send + Sync {
    fn send(
        &self,
        message: &ProviderMessage,
    ) -> impl Future<Output = Result<(), MessagingError>> + Send;
}

/// The domain event bus (source `trade-assurance`, detail-type per event).
pub trait EventBus: Send + Sync {
    fn publish(
        &self,
        events: &[DomainEvent],
    ) -> impl Future<Output = Result<(), MessagingError>> + Send;
}

/// Business time. Handlers never read the system clock directly.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// Everything a full backend implements: what the API, the consumers and
/// the sweeps need, and what the contract suite checks.
pub trait Backend:
    OrderStore
    + OrderQueries
    + DeadlineIndex
    + Outbox
    + SupplierLimits
    + CreditLines
    + Idempotency
    + Dedup
    + Attention
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Backend for T where
    T: OrderStore
        + OrderQueries
        + DeadlineIndex
        + Outbox
        + SupplierLimits
        + CreditLines
        + Idempotency
        + Dedup
        + Attention
        + Clone
        + Send
        + Sync
        + 'static
{
}
