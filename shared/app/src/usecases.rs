//! Keyed writes that change no existing order: creating an order, and
//! requests that write something else (a credit-line application). Both go
//! through the one idempotency guard ([`crate::idempotency`]): a lease
//! first (a concurrent duplicate is told the request is in progress), then
//! the response stored for replays. Changing an existing order is
//! [`crate::write::change`].

use std::future::Future;

use domain::Order;
use domain::calendar::Timestamp;
use domain::event::DomainEvent;

use crate::error::StoreError;
use crate::idempotency::{self, GuardError, IdemRequest, StoredResponse, Verdict};
use crate::ports::{Commit, Idempotency, OrderStore};
use crate::write::{Respond, WriteError, Written};

/// What creating an order does (no order to load first).
pub trait Creation: Respond {
    type Error;
    /// The new order and its events (all checks included).
    fn create(&self, now: Timestamp) -> Result<(Order, Vec<DomainEvent>), Self::Error>;
    /// The response to store when creation is refused, so a retry gets it
    /// again rather than an in-progress answer.
    fn respond_error(&self, error: &Self::Error) -> StoredResponse;
}

/// Create an order. With an idempotency key, a lease is taken first and
/// completed in the same write as the order: two calls.
pub async fn create<S, C>(
    store: &S,
    now: Timestamp,
    idem: Option<&IdemRequest>,
    correlation: Option<&str>,
    creation: &C,
) -> Result<Written, WriteError<C::Error>>
where
    S: OrderStore + Idempotency,
    C: Creation,
{
    if let Some(request) = idem
        && let Verdict::Replay(r) = idempotency::lease(store, request, now).await?
    {
        return Ok(Written::Replayed(r));
    }
    let (order, mut events) = match creation.create(now) {
        Ok(created) => created,
        Err(e) => {
            if let Some(request) = idem {
                let response = creation.respond_error(&e);
                idempotency::settle(store, request, Some(response), now).await?;
            }
            return Err(WriteError::Refused(e));
        }
    };
    crate::write::correlate(&mut events, correlation);
    let record = idem.map(|request| request.completed(creation.respond(&order), now));
    let committed = store
        .commit(Commit {
            previous_flags: &[],
            order: &order,
            expected_revision: None,
            events: &events,
            idempotency: record.as_ref(),
            dedup: None,
            now,
        })
        .await;
    match (committed, idem) {
        (Ok(()), _) => {
            crate::write::count_events(&events);
            Ok(Written::Committed { order, events })
        }
        // The key's record moved on without us: the same request committed
        // (its answer lost and its write retried) or another holds it.
        (Err(StoreError::Conflict(_)), Some(request)) => Ok(Written::Replayed(
            idempotency::replay(store, request, now).await?,
        )),
        (Err(e), Some(request)) => {
            idempotency::settle(store, request, None, now).await?;
            Err(e.into())
        }
        (Err(e), None) => Err(e.into()),
    }
}

/// What a keyed request that changes no order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once<T> {
    /// It ran, with this result.
    Ran(T),
    /// The same request ran before: its stored response.
    Replayed(StoredResponse),
}

/// Run `work` once per idempotency key (every time without one).
/// `keep` says what its result stores for replays; `None` (a server
/// error) gives the lease up so the retry runs at once.
pub async fn once<S, T, W, Fut, K>(
    store: &S,
    idem: Option<&IdemRequest>,
    now: Timestamp,
    work: W,
    keep: K,
) -> Result<Once<T>, GuardError>
where
    S: Idempotency,
    W: FnOnce() -> Fut,
    Fut: Future<Output = T>,
    K: FnOnce(&T) -> Option<StoredResponse>,
{
    let Some(request) = idem else {
        return Ok(Once::Ran(work().await));
    };
    if let Verdict::Replay(r) = idempotency::lease(store, request, now).await? {
        return Ok(Once::Replayed(r));
    }
    let result = work().await;
    idempotency::settle(store, request, keep(&result), now).await?;
    Ok(Once::Ran(result))
}
