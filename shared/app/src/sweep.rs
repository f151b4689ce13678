//! The scheduled sweep: everything that happens to an order because time
//! passed (every waiting status has a clock, so every order ends), plus the
//! outbox's safety net.
//!
//! One run at `now` (the schedule's time, never the machine's):
//! 1. reads the orders due at or before `now` from the sparse deadline
//!    index — what is due, not the table;
//! 2. for each, through the one write path ([`crate::write::change`]),
//!    loads the order (one strongly consistent read), lets the
//!    domain's [`Order::sweep`] decide (escalate a stale or rejected
//!    dispute, expire or flag late payments, then the status clock: cancel
//!    an unconfirmed draft or an unpaid order, refund an order never
//!    shipped, close one whose balance never came, confirm receipt for the
//!    buyer; flag refund parts not confirmed in time, release a reservation
//!    whose coverage has ended) and commits the change on the revision it
//!    read (one conditional write). A sweep that loses a race to
//!    a user or to another sweep reads again and finds the work done, so
//!    the sweep is safe to run twice or concurrently;
//! 3. republishes the events the outbox still holds (a publish that failed
//!    after the stream's retries).
//!
//! A failure on one order does not stop the others; the run reports it and
//! the next run (or the scheduler's retry) picks the order up again.

use std::collections::HashSet;

use domain::Order;
use domain::calendar::Timestamp;
use domain::event::{DomainEvent, EventBody};
use domain::ids::OrderId;
use serde::Serialize;
use thiserror::Error;
use tracing::Instrument;

use crate::error::{StoreError, error_chain};
use crate::ports::{DeadlineIndex, EventBus, Loaded, OrderStore, Outbox, SupplierLimits};
use crate::publisher::{self, PublishError};
use crate::write::{self, Decide, Outcome, Target, WriteError, Written};

/// Due orders read per query of the deadline index.
pub const DUE_BATCH: u32 = 100;
/// Orders one run works through at most; the rest wait for the next run
/// (every few minutes), so one invocation stays well inside its timeout.
pub const MAX_ORDERS_PER_RUN: usize = 2_000;

/// What one run did, for the logs and the local stack's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// The instant swept at (the schedule's time).
    pub now: Timestamp,
    /// Orders the deadline index named as due.
    pub due: usize,
    /// Orders changed and committed.
    pub changed: usize,
    /// Disputes escalated for want of a response or a solution.
    pub escalated: usize,
    /// Payments flagged as overdue.
    pub overdue_flagged: usize,
    /// Payments expired (not arrived in time).
    pub expired: usize,
    /// Orders cancelled (drafts not confirmed, initial payment not made).
    pub cancelled: usize,
    /// Orders closed with their balance unpaid.
    pub closed: usize,
    /// Receipts confirmed for the buyer.
    pub receipts_confirmed: usize,
    /// Orders never shipped, refunded.
    pub not_shipped_refunds: usize,
    /// Refund parts flagged for an operator (not confirmed in time).
    pub refunds_flagged: usize,
    /// Supplier reservations released (coverage ended, or cancelled).
    pub released: usize,
    /// Commits lost to a concurrent change and re-run.
    pub retried: usize,
    /// Orders left for the next run because the store failed.
    pub failed: usize,
    /// Events published from the outbox by this run: those its own changes
    /// added, and any a failed publish left behind.
    pub published: usize,
    /// How long the oldest event still in the outbox after this run has
    /// waited, in seconds (0: none waits; `None`: it could not be read, and
    /// no figure is reported rather than a reassuring 0).
    pub oldest_unpublished_seconds: Option<i64>,
}

impl SweepReport {
    /// The run's figures, for every caller (the Lambda, the local stack):
    /// at info when it changed or published something, else at debug.
    fn log(&self) {
        if self.changed > 0 || self.published > 0 || self.failed > 0 {
            tracing::info!(
                now = %self.now,
                due = self.due,
                changed = self.changed,
                escalated = self.escalated,
                overdue_flagged = self.overdue_flagged,
                expired = self.expired,
                cancelled = self.cancelled,
                closed = self.closed,
                receipts_confirmed = self.receipts_confirmed,
                not_shipped_refunds = self.not_shipped_refunds,
                refunds_flagged = self.refunds_flagged,
                released = self.released,
                retried = self.retried,
                failed = self.failed,
                published = self.published,
                oldest_unpublished_seconds = ?self.oldest_unpublished_seconds,
                "sweep ran"
            );
        } else {
            tracing::debug!(now = %self.now, due = self.due, "sweep ran; nothing to do");
        }
    }

    /// The run as metrics: one `SweepActions` data point per action taken
    /// (by `Action`), and `OldestUnpublishedEventAgeSeconds`, which an
    /// alarm watches (events that wait mean publishing is failing).
    pub fn emit_metrics(&self) {
        for (action, n) in [
            ("escalated", self.escalated),
            ("overdue_flagged", self.overdue_flagged),
            ("expired", self.expired),
            ("cancelled", self.cancelled),
            ("closed", self.closed),
            ("receipt_confirmed", self.receipts_confirmed),
            ("not_shipped_refund", self.not_shipped_refunds),
            ("refund_flagged", self.refunds_flagged),
            ("released", self.released),
            ("failed", self.failed),
        ] {
            crate::metrics::add_by(
                "SweepActions",
                "Action",
                action,
                i64::try_from(n).unwrap_or(i64::MAX),
            );
        }
        if let Some(age) = self.oldest_unpublished_seconds {
            crate::metrics::seconds("OldestUnpublishedEventAgeSeconds", age);
        }
    }

    fn count(&mut self, events: &[DomainEvent]) {
        for e in events {
            match &e.body {
                EventBody::DisputeEscalated { .. } => self.escalated += 1,
                EventBody::PaymentOverdue { .. } => self.overdue_flagged += 1,
                EventBody::PaymentExpired { .. } => self.expired += 1,
                EventBody::OrderCancelled { .. } => self.cancelled += 1,
                EventBody::OrderClosed { .. } => self.closed += 1,
                EventBody::ReceiptConfirmed => self.receipts_confirmed += 1,
                EventBody::NotShippedRefundStarted { .. } => self.not_shipped_refunds += 1,
                EventBody::RefundFlagged { .. } => self.refunds_flagged += 1,
                EventBody::ReservationReleased { .. } => self.released += 1,
                _ => {}
            }
        }
    }
}

#[derive(Debug, Error)]
pub enum SweepError {
    /// The deadline index could not be read: nothing was swept.
    #[error("reading the due orders failed")]
    Due(#[source] StoreError),
    /// Some orders could not be swept (they stay due for the next run), or
    /// the outbox could not be drained (the events stay in it).
    #[error(
        "the sweep is incomplete: {failed} order(s) left for the next run{}",
        if .publish.is_some() { ", events left in the outbox" } else { "" }
    )]
    Incomplete {
        failed: usize,
        report: Box<SweepReport>,
        #[source]
        publish: Option<PublishError>,
    },
}

/// What the sweep decides for an order: whatever its clocks say is due.
struct Due;

impl Decide for Due {
    type Error = domain::OrderError;

    fn decide(
        &self,
        order: &mut Order,
        _loaded: &Loaded,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, domain::OrderError> {
        order.sweep(now)
    }
}

/// One order through the write path: load, sweep, commit on the revision
/// read; re-run on a lost race. `Ok(events)` committed (empty: nothing was
/// due after all, or the order is gone).
async fn sweep_order<S: OrderStore + SupplierLimits>(
    store: &S,
    id: &OrderId,
    now: Timestamp,
    report: &mut SweepReport,
) -> Result<Vec<DomainEvent>, StoreError> {
    match write::change(store, Target::order(id), now, &Due).await {
        Ok(Outcome { written, retried }) => {
            report.retried += retried as usize;
            Ok(match written {
                Written::Committed { events, .. } => events,
                Written::Unchanged(_) | Written::Replayed(_) | Written::Duplicate => Vec::new(),
            })
        }
        Err(WriteError::NotFound) => Ok(Vec::new()),
        Err(WriteError::Refused(e)) => {
            // The domain refused its own sweep (an order in a state the
            // sweep cannot move): log it and leave the order as it is.
            tracing::warn!(order = %id, error = %error_chain(&e), "sweep refused");
            Ok(Vec::new())
        }
        Err(WriteError::Contended(kind)) => {
            report.retried += write::MAX_ATTEMPTS as usize;
            Err(StoreError::Conflict(kind))
        }
        Err(WriteError::Store(e)) => Err(e),
        // The sweep carries no idempotency key.
        Err(WriteError::Idempotency(e)) => Err(StoreError::Corrupt(e.to_string())),
    }
}

/// Run the sweep at `now`, then republish what the outbox holds.
pub async fn run<S, U>(store: &S, bus: &U, now: Timestamp) -> Result<SweepReport, SweepError>
where
    S: OrderStore + SupplierLimits + DeadlineIndex + Outbox,
    U: EventBus,
{
    let mut report = SweepReport {
        now,
        ..SweepReport::default()
    };
    // Orders already looked at in this run: an order that is due but has
    // nothing to do yet (due on the very instant) is not read again.
    let mut seen: HashSet<OrderId> = HashSet::new();
    while seen.len() < MAX_ORDERS_PER_RUN {
        let due = store.due(now, DUE_BATCH).await.map_err(SweepError::Due)?;
        let fresh: Vec<OrderId> = due.into_iter().filter(|id| !seen.contains(id)).collect();
        if fresh.is_empty() {
            break;
        }
        for id in fresh {
            seen.insert(id.clone());
            report.due += 1;
            let span = tracing::info_span!("sweep_order", order = %id);
            let swept = sweep_order(store, &id, now, &mut report)
                .instrument(span)
                .await;
            match swept {
                Ok(events) if events.is_empty() => {}
                Ok(events) => {
                    report.changed += 1;
                    report.count(&events);
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(order = %id, error = %error_chain(&e), "order left for the next sweep");
                }
            }
        }
    }
    let publish = match publisher::drain(store, bus).await {
        Ok(n) => {
            report.published = n;
            None
        }
        Err(e) => Some(e),
    };
    // What still waits after this run's publishing: its age is what an
    // operator is alarmed on. A drain that succeeded without filling its
    // last round left nothing (no extra read); otherwise the oldest entry
    // is read. A failed read only loses the figure.
    let drained =
        publish.is_none() && report.published < publisher::MAX_ROUNDS * publisher::BATCH as usize;
    let oldest = if drained {
        Ok(Vec::new())
    } else {
        store.unpublished(1).await
    };
    match oldest {
        Ok(oldest) => {
            report.oldest_unpublished_seconds = Some(
                oldest
                    .first()
                    .map_or(0, |e| (now - e.event.at).num_seconds().max(0)),
            );
        }
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "the outbox's oldest event could not be read");
        }
    }
    report.log();
    if report.failed > 0 || publish.is_some() {
        return Err(SweepError::Incomplete {
            failed: report.failed,
            report: Box::new(report),
            publish,
        });
    }
    Ok(report)
}
