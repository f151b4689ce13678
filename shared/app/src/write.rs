//! The one write path for an existing order: load → decide → commit on the
//! revision that was read, re-run (bounded) when a concurrent write got
//! there first. A party's command through the API, a provider event from
//! the payment queue and the scheduled sweep all change orders through
//! [`change`]; only what they decide differs ([`Decide`]).
//!
//! One strongly consistent read (the order, with what the change asked for:
//! the request's idempotency record, the supplier's limit, the buyer's
//! credit line) and one conditional write per attempt. The write carries
//! the order's events, the effects they have on other records, the
//! request's completed idempotency record or the provider event's
//! de-duplication mark: all or nothing.

use domain::Order;
use domain::calendar::Timestamp;
use domain::event::DomainEvent;
use domain::ids::{OrderId, UserId};

use crate::error::{ConflictKind, StoreError};
use crate::idempotency::{IdemConflict, IdemRequest, StoredResponse, Verdict};
use crate::ports::{Commit, DedupMark, LoadRequest, Loaded, OrderStore, SupplierLimits};

/// How often a change is re-run after losing a race.
pub const MAX_ATTEMPTS: u32 = 8;

/// What a change does with the order it read.
pub trait Decide {
    /// A refusal (the API maps it to a status; the consumer acknowledges
    /// and logs it; the sweep logs it).
    type Error;

    /// Checks that come before the idempotency decision: may the caller
    /// see and act on this order, was the request well formed (the API's
    /// 404 → 403 → 400). Nothing to check by default.
    fn admit(&self, _order: &Order) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The decision on the order as read, with what was read beside it:
    /// the events it caused (none: nothing to write).
    fn decide(
        &self,
        order: &mut Order,
        loaded: &Loaded,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, Self::Error>;
}

/// The response a replay of a keyed request gets, from the order as it was
/// committed.
pub trait Respond {
    fn respond(&self, order: &Order) -> StoredResponse;
}

/// Which order to change, and what to read and record with it.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub order: &'a OrderId,
    /// The supplier whose limit to read with the order, when known before
    /// reading (the supplier confirming).
    pub limit_of: Option<&'a UserId>,
    /// The decision needs the order's supplier limit: read separately when
    /// it was not read with the order (one more call).
    pub needs_limit: bool,
    /// The buyer whose Pay Later credit line to read with the order.
    pub credit_of: Option<&'a UserId>,
    /// The request's idempotency key: its record is read with the order,
    /// and the completed record, answering what `Respond` says, is written
    /// with the change.
    pub idempotency: Option<(&'a IdemRequest, &'a (dyn Respond + Sync))>,
    /// The provider event the change applies: its mark is written with the
    /// change, even when the order does not change (so that a redelivery
    /// is a duplicate without another read).
    pub dedup: Option<&'a DedupMark>,
    /// What caused the change (a request's correlation id, a provider
    /// event's id): stamped on every event it commits.
    pub correlation: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// Just the order.
    pub fn order(order: &'a OrderId) -> Self {
        Target {
            order,
            limit_of: None,
            needs_limit: false,
            credit_of: None,
            idempotency: None,
            dedup: None,
            correlation: None,
        }
    }
}

/// What the write path did.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// The change is stored: the order as committed and its events (none
    /// when only a de-duplication mark was recorded).
    Committed {
        order: Order,
        events: Vec<DomainEvent>,
    },
    /// The decision changed nothing and there was nothing to record.
    Unchanged(Order),
    /// The same request completed before: its response.
    Replayed(StoredResponse),
    /// The same provider event was applied before.
    Duplicate,
}

/// What the write path did and how many races it lost on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub written: Written,
    /// Commits that lost to a concurrent change and were re-run.
    pub retried: u32,
}

/// Why the write path did not write.
#[derive(Debug)]
pub enum WriteError<E> {
    /// No such order.
    NotFound,
    /// `admit` or `decide` refused.
    Refused(E),
    /// The request's idempotency key is taken (another body, or still
    /// running).
    Idempotency(IdemConflict),
    /// Lost every race.
    Contended(ConflictKind),
    /// The store failed.
    Store(StoreError),
}

impl<E> From<StoreError> for WriteError<E> {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

/// Change one order: read, decide, commit on the revision read; re-read
/// and decide again when the commit loses a race (bounded by
/// [`MAX_ATTEMPTS`]).
pub async fn change<S, D>(
    store: &S,
    target: Target<'_>,
    now: Timestamp,
    decision: &D,
) -> Result<Outcome, WriteError<D::Error>>
where
    S: OrderStore + SupplierLimits,
    D: Decide,
{
    change_from(store, target, now, decision, None).await
}

/// [`change`], deciding first on what the caller already read for the
/// target (`first`, read with the same request: nothing is read twice);
/// a lost race reads again as [`change`] does.
pub async fn change_from<S, D>(
    store: &S,
    target: Target<'_>,
    now: Timestamp,
    decision: &D,
    mut first: Option<Loaded>,
) -> Result<Outcome, WriteError<D::Error>>
where
    S: OrderStore + SupplierLimits,
    D: Decide,
{
    let idempotency = target.idempotency.map(|(request, _)| request);
    let mut last = ConflictKind::Version;
    for retried in 0..MAX_ATTEMPTS {
        let mut loaded = match first.take() {
            Some(loaded) => loaded,
            None => {
                store
                    .load(
                        LoadRequest {
                            order: target.order,
                            idempotency: idempotency.map(|i| &i.key),
                            limit_of: target.limit_of,
                            credit_of: target.credit_of,
                        },
                        now,
                    )
                    .await?
            }
        };
        let Some(mut order) = loaded.order.take() else {
            return Err(WriteError::NotFound);
        };
        decision.admit(&order).map_err(WriteError::Refused)?;
        let limit_is_the_orders = loaded
            .limit
            .as_ref()
            .is_some_and(|l| &l.supplier_id == order.supplier_id());
        if target.needs_limit && !limit_is_the_orders {
            loaded.limit = store.get_limit(order.supplier_id()).await?;
        }
        if let Some(request) = idempotency {
            match request.verdict(loaded.idempotency.as_ref(), now) {
                Ok(Verdict::Run) => {}
                Ok(Verdict::Replay(r)) => {
                    return Ok(Outcome {
                        written: Written::Replayed(r),
                        retried,
                    });
                }
                Err(e) => return Err(WriteError::Idempotency(e)),
            }
        }
        let before = order.revision();
        let previous_flags = order.open_flags();
        let mut events = decision
            .decide(&mut order, &loaded, now)
            .map_err(WriteError::Refused)?;
        correlate(&mut events, target.correlation);
        if events.is_empty() && target.dedup.is_none() {
            return Ok(Outcome {
                written: Written::Unchanged(order),
                retried,
            });
        }
        let record = target
            .idempotency
            .map(|(request, respond)| request.completed(respond.respond(&order), now));
        let committed = store
            .commit(Commit {
                order: &order,
                expected_revision: Some(before),
                events: &events,
                idempotency: record.as_ref(),
                dedup: target.dedup,
                previous_flags: &previous_flags,
                now,
            })
            .await;
        match committed {
            Ok(()) => {
                count_events(&events);
                return Ok(Outcome {
                    written: Written::Committed { order, events },
                    retried,
                });
            }
            Err(StoreError::Conflict(ConflictKind::Duplicate)) if target.dedup.is_some() => {
                return Ok(Outcome {
                    written: Written::Duplicate,
                    retried,
                });
            }
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
    Err(WriteError::Contended(last))
}

/// Stamp each event with what caused it.
pub(crate) fn correlate(events: &mut [DomainEvent], correlation: Option<&str>) {
    if let Some(c) = correlation {
        for e in events {
            e.correlation_id = Some(c.to_owned());
        }
    }
}

/// One `Events` data point per committed event, by its type: every
/// transition, flag and refusal the domain recorded.
pub(crate) fn count_events(events: &[DomainEvent]) {
    for e in events {
        crate::metrics::count_by("Events", "Event", e.body.detail_type());
    }
}

impl<E> From<crate::idempotency::GuardError> for WriteError<E> {
    fn from(e: crate::idempotency::GuardError) -> Self {
        match e {
            crate::idempotency::GuardError::Conflict(c) => WriteError::Idempotency(c),
            crate::idempotency::GuardError::Store(s) => WriteError::Store(s),
        }
    }
}
