//! Use cases: load → check → decide idempotency → command → commit, with
//! bounded retries on concurrent changes. Generic over the ports; the HTTP
//! layer supplies the checks (who may act, how the body decodes) and how a
//! result is rendered, so a replayed request gets the very same response.
//!
//! Calls per request: a state transition reads once (the order with its
//! idempotency record, and the supplier's limit when asked) and writes once;
//! a replay only reads. Retries after a concurrent change read and write
//! again.

use domain::Order;
use domain::calendar::Timestamp;
use domain::event::DomainEvent;
use domain::ids::{OrderId, UserId};

use crate::error::{ConflictKind, StoreError};
use crate::idempotency::{IdemDecision, IdemKey, IdemRecord, PayloadHash, StoredResponse, decide};
use crate::ports::{Commit, Idempotency, LoadRequest, Loaded, OrderStore, SupplierLimits};

/// How often a command is re-run after losing a race.
pub const MAX_ATTEMPTS: u32 = 8;

/// The request's `Idempotency-Key`, scoped, and its body's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemRequest {
    pub key: IdemKey,
    pub payload: PayloadHash,
}

/// Why a use case did not produce a fresh result.
#[derive(Debug)]
pub enum UseCaseError<E> {
    /// No such order.
    NotFound,
    /// A check or the command refused (404/403/400/409/422 by `E`).
    Refused(E),
    /// The same `Idempotency-Key` came with another body.
    IdempotencyMismatch,
    /// The same request is still being processed.
    InProgress,
    /// Lost every race (409).
    Contended(ConflictKind),
    /// The store failed (retryable or not).
    Store(StoreError),
}

impl<E> From<StoreError> for UseCaseError<E> {
    fn from(e: StoreError) -> Self {
        UseCaseError::Store(e)
    }
}

/// A use case's result: fresh, or a stored response for a retried request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    Replayed(StoredResponse),
}

/// What a transition does, in the order the API checks things.
pub trait Transition {
    /// The decoded input.
    type Input;
    /// A refusal, mapped to a status by the HTTP layer.
    type Error;
    /// 404 / 403 / 400: may the caller act on this order, and does the
    /// request decode? Runs before any idempotency decision.
    fn check(&self, order: &Order) -> Result<Self::Input, Self::Error>;
    /// 409 / 422: the domain command on the order, with what was loaded.
    fn apply(
        &self,
        order: &mut Order,
        input: Self::Input,
        loaded: &Loaded,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, Self::Error>;
    /// The response to store for a replay of this request.
    fn respond(&self, order: &Order) -> StoredResponse;
    /// Whether `apply` needs the order's supplier limit (confirmation).
    fn needs_limit(&self) -> bool {
        false
    }
    /// The supplier whose limit to read in the same request as the order,
    /// when it is known before reading (the supplier confirming). Otherwise
    /// a transition that needs the limit reads it separately: one more call.
    fn limit_hint(&self) -> Option<&UserId> {
        None
    }
    /// The buyer whose Pay Later credit line to read with the order.
    fn credit_hint(&self) -> Option<&UserId> {
        None
    }
}

/// Run a transition on an order: one read, one write.
pub async fn transition<S, T>(
    store: &S,
    now: Timestamp,
    order_id: &OrderId,
    idem: Option<&IdemRequest>,
    t: &T,
) -> Result<Outcome<Order>, UseCaseError<T::Error>>
where
    S: OrderStore + SupplierLimits,
    T: Transition,
{
    let mut last = ConflictKind::Version;
    for _ in 0..MAX_ATTEMPTS {
        let loaded = store
            .load(
                LoadRequest {
                    order: order_id,
                    idempotency: idem.map(|i| &i.key),
                    limit_of: t.limit_hint(),
                    credit_of: t.credit_hint(),
                },
                now,
            )
            .await?;
        let Some(mut order) = loaded.order.clone() else {
            return Err(UseCaseError::NotFound);
        };
        let mut loaded = loaded;
        let input = t.check(&order).map_err(UseCaseError::Refused)?;
        let limit_is_the_orders = loaded
            .limit
            .as_ref()
            .is_some_and(|l| &l.supplier_id == order.supplier_id());
        if t.needs_limit() && !limit_is_the_orders {
            loaded.limit = store.get_limit(order.supplier_id()).await?;
        }
        if let Some(i) = idem {
            match decide(loaded.idempotency.as_ref(), &i.payload, now) {
                IdemDecision::Proceed => {}
                IdemDecision::Replay(r) => return Ok(Outcome::Replayed(r)),
                IdemDecision::PayloadMismatch => return Err(UseCaseError::IdempotencyMismatch),
                IdemDecision::InProgress => return Err(UseCaseError::InProgress),
            }
        }
        let before = order.revision();
        let events = t
            .apply(&mut order, input, &loaded, now)
            .map_err(UseCaseError::Refused)?;
        if events.is_empty() {
            return Ok(Outcome::Done(order));
        }
        let record = idem.map(|i| {
            IdemRecord::complete(i.key.clone(), i.payload.clone(), t.respond(&order), now)
        });
        let result = store
            .commit(Commit {
                order: &order,
                expected_revision: Some(before),
                events: &events,
                idempotency: record.as_ref(),
                dedup: None,
                now,
            })
            .await;
        match result {
            Ok(()) => return Ok(Outcome::Done(order)),
            // Lost a race (or a duplicate of this request won it): read
            // again; a completed duplicate is then replayed.
            Err(StoreError::Conflict(
                kind @ (ConflictKind::Version
                | ConflictKind::Idempotency
                | ConflictKind::LimitInsufficient
                | ConflictKind::CreditInsufficient),
            )) => last = kind,
            Err(e) => return Err(e.into()),
        }
    }
    Err(UseCaseError::Contended(last))
}

/// What creating something new does (no order to load first).
pub trait Creation {
    type Error;
    /// The new order and its events (all checks included).
    fn create(&self, now: Timestamp) -> Result<(Order, Vec<DomainEvent>), Self::Error>;
    fn respond(&self, order: &Order) -> StoredResponse;
    /// The response to store when creation is refused, so a retry gets it
    /// again rather than an in-progress answer.
    fn respond_error(&self, error: &Self::Error) -> StoredResponse;
}

/// Create an order. With an idempotency key, a lease is taken first (so a
/// concurrent duplicate is told the request is in progress) and completed in
/// the same write as the order: two calls.
pub async fn create<S, C>(
    store: &S,
    now: Timestamp,
    idem: Option<&IdemRequest>,
    c: &C,
) -> Result<Outcome<Order>, UseCaseError<C::Error>>
where
    S: OrderStore + Idempotency,
    C: Creation,
{
    if let Some(i) = idem {
        let lease = IdemRecord::in_progress(i.key.clone(), i.payload.clone(), now);
        match store.begin(&lease, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict(ConflictKind::Idempotency)) => {
                let existing = store.get_record(&i.key, now).await?;
                return match decide(existing.as_ref(), &i.payload, now) {
                    IdemDecision::Replay(r) => Ok(Outcome::Replayed(r)),
                    IdemDecision::PayloadMismatch => Err(UseCaseError::IdempotencyMismatch),
                    IdemDecision::InProgress | IdemDecision::Proceed => {
                        Err(UseCaseError::InProgress)
                    }
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    let (order, events) = match c.create(now) {
        Ok(created) => created,
        Err(e) => {
            if let Some(i) = idem {
                let record = IdemRecord::complete(
                    i.key.clone(),
                    i.payload.clone(),
                    c.respond_error(&e),
                    now,
                );
                store.complete(&record, now).await?;
            }
            return Err(UseCaseError::Refused(e));
        }
    };
    let record = idem
        .map(|i| IdemRecord::complete(i.key.clone(), i.payload.clone(), c.respond(&order), now));
    let committed = store
        .commit(Commit {
            order: &order,
            expected_revision: None,
            events: &events,
            idempotency: record.as_ref(),
            dedup: None,
            now,
        })
        .await;
    match (committed, idem) {
        (Ok(()), _) => Ok(Outcome::Done(order)),
        // The key's record moved on without us: the same request committed
        // (its answer lost and its write retried) or another holds it.
        (Err(StoreError::Conflict(_)), Some(i)) => {
            let existing = store.get_record(&i.key, now).await?;
            match decide(existing.as_ref(), &i.payload, now) {
                IdemDecision::Replay(r) => Ok(Outcome::Replayed(r)),
                IdemDecision::PayloadMismatch => Err(UseCaseError::IdempotencyMismatch),
                IdemDecision::InProgress | IdemDecision::Proceed => Err(UseCaseError::InProgress),
            }
        }
        (Err(e), Some(i)) => {
            release_lease(store, i, now).await;
            Err(e.into())
        }
        (Err(e), None) => Err(e.into()),
    }
}

/// Give up this request's lease after a failure, so its retry need not wait
/// for the lease to expire (best effort: if this fails too, it expires).
pub async fn release_lease<S: Idempotency>(store: &S, i: &IdemRequest, now: Timestamp) {
    let lease = IdemRecord::in_progress(i.key.clone(), i.payload.clone(), now);
    if let Err(e) = store.release(&lease).await {
        tracing::warn!(error = %crate::error::error_chain(&e), "could not release an idempotency lease; it expires by itself");
    }
}
