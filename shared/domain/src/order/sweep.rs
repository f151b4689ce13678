//! Every order ends: the clock of each waiting status, the deadlines an
//! order shows, the instant the sweep must next look at it, and what the
//! sweep does then.
//!
//! In one sweep run, for each due order: escalation first, then payment
//! expiry (and overdue flags), then at most one status clock; a clock
//! paused or restarted by an earlier step does not fire in the same run.
//! A clock fires strictly after its due instant, so a party's change
//! committed at that instant wins. Refund parts not confirmed in time are
//! flagged, and a reservation whose coverage has ended is released.

use chrono::TimeDelta;

use crate::Usd;
use crate::actor::Actor;
use crate::calendar::{Timestamp, plus_days};
use crate::deadline::{Deadline, DeadlineKind, Timer};
use crate::error::OrderError;
use crate::event::{CancelReason, CloseReason, DomainEvent, EventBody};
use crate::feedback::FEEDBACK_WINDOW_DAYS;
use crate::payment::{FailureReason, FlagReason};
use crate::refund::{RefundFlagReason, split_newest_first};
use crate::status::{Action, OrderStatus};

use super::{Change, EndReason, Order};

/// The index key of a clock that fires strictly after `due`.
fn after(due: Timestamp) -> Timestamp {
    due + TimeDelta::seconds(1)
}

impl Order {
    /// A draft's clock: `confirmation_days` after creation or the last
    /// amendment, at most `confirmation_max_days` after creation.
    pub fn confirmation_due(&self) -> Option<Timestamp> {
        (self.status == OrderStatus::AwaitingConfirmation).then(|| {
            let since = self.amended_at.unwrap_or(self.created_at);
            plus_days(since, self.clocks.confirmation_days).min(plus_days(
                self.created_at,
                self.clocks.confirmation_max_days,
            ))
        })
    }

    /// The initial payment's clock, while it runs (no payment in flight).
    pub fn unpaid_due(&self) -> Option<Timestamp> {
        if self.status == OrderStatus::AwaitingInitialPayment {
            self.unpaid.and_then(Timer::due)
        } else {
            None
        }
    }

    /// Goods not shipped by then are refunded (no dispute unresolved).
    pub fn not_shipped_due(&self) -> Option<Timestamp> {
        (self.status == OrderStatus::AwaitingShipment && self.open_dispute().is_none())
            .then(|| plus_days(self.terms.ship_by_deadline(), self.clocks.not_shipped_days))
    }

    /// The balance's clock, while the order waits for the balance with no
    /// payment in flight and no dispute unresolved.
    pub fn balance_due(&self) -> Option<Timestamp> {
        if self.status == OrderStatus::Shipped {
            self.balance_clock.and_then(Timer::due)
        } else {
            None
        }
    }

    /// The receipt clock, while it runs.
    pub fn receipt_due(&self) -> Option<Timestamp> {
        if self.status == OrderStatus::AwaitingReceiptConfirmation {
            self.receipt_clock.and_then(|r| r.timer.due())
        } else {
            None
        }
    }

    /// Every running deadline, soonest first.
    pub fn deadlines(&self) -> Vec<Deadline> {
        use OrderStatus as S;
        let mut out = Vec::new();
        let mut add = |kind, due, payment_id, refund_id| {
            out.push(Deadline {
                kind,
                due,
                payment_id,
                refund_id,
            })
        };
        if let Some(due) = self.confirmation_due() {
            add(DeadlineKind::ConfirmationDue, due, None, None);
        }
        if matches!(
            self.status,
            S::AwaitingConfirmation
                | S::AwaitingInitialPayment
                | S::InitialPaymentProcessing
                | S::AwaitingShipment
        ) {
            add(
                DeadlineKind::ShipBy,
                self.terms.ship_by_deadline(),
                None,
                None,
            );
        }
        if let Some(due) = self.unpaid_due() {
            add(DeadlineKind::UnpaidCancellation, due, None, None);
        }
        for p in self.payments.iter().filter(|p| p.status.in_flight()) {
            if let Some(due) = p.agreement_due(&self.clocks) {
                add(DeadlineKind::AgreementDue, due, Some(p.id.clone()), None);
            }
            if let Some(due) = p.overdue_after() {
                add(
                    DeadlineKind::PaymentExpectedBy,
                    due,
                    Some(p.id.clone()),
                    None,
                );
            }
            if p.window_runs()
                && let Some(due) = p.expires_after(&self.clocks)
            {
                add(DeadlineKind::PaymentExpires, due, Some(p.id.clone()), None);
            }
        }
        if let Some(due) = self.not_shipped_due() {
            add(DeadlineKind::NotShippedRefund, due, None, None);
        }
        if let Some(due) = self.balance_due() {
            add(DeadlineKind::BalanceDue, due, None, None);
        }
        if let Some(due) = self.receipt_due() {
            add(DeadlineKind::ReceiptAutoConfirmation, due, None, None);
        }
        if let Some(d) = self.open_dispute()
            && d.status != crate::dispute::DisputeStatus::Escalated
        {
            if d.supplier_responded_at.is_none() {
                add(
                    DeadlineKind::SupplierResponseDue,
                    d.supplier_response_due,
                    None,
                    None,
                );
            }
            add(DeadlineKind::EscalationDue, d.resolution_due, None, None);
        }
        for r in &self.refunds {
            if let Some(due) = r.expected_by(&self.clocks) {
                add(
                    DeadlineKind::RefundExpectedBy,
                    due,
                    None,
                    Some(r.id.clone()),
                );
            }
        }
        if !self.coverage.reserved.is_zero()
            && let Some(end) = self.quality_window_end()
        {
            add(DeadlineKind::QualityWindowEnd, end, None, None);
        }
        if let (Some(done), None) = (self.completed_at, &self.feedback) {
            add(
                DeadlineKind::FeedbackWindowEnd,
                plus_days(done, FEEDBACK_WINDOW_DAYS),
                None,
                None,
            );
        }
        out.sort_by_key(|d| (d.due, d.kind));
        out
    }

    /// The next instant the scheduled sweep has work on this order, if any:
    /// what the sparse "due" index is keyed by. `None` for a finished order
    /// and for one that waits only for an arbiter.
    pub fn next_sweep_due(&self) -> Option<Timestamp> {
        let mut due: Vec<Timestamp> = Vec::new();
        let dispute = self.open_dispute();
        if let Some(t) = dispute.and_then(|d| d.next_escalation_check()) {
            due.push(after(t));
        }
        for p in self.payments.iter().filter(|p| p.status.in_flight()) {
            if let Some(t) = p.expires_after(&self.clocks) {
                due.push(after(t));
            }
            if let Some(t) = p.overdue_after().filter(|_| !p.overdue_reported) {
                due.push(after(t));
            }
        }
        let status_clock = self
            .confirmation_due()
            .or(self.unpaid_due())
            .or(self.not_shipped_due())
            .or(self.balance_due().filter(|_| dispute.is_none()));
        if let Some(t) = status_clock {
            due.push(after(t));
        }
        if let (Some(t), None) = (self.receipt_due(), dispute) {
            due.push(after(t));
            if let Some(clock) = self.receipt_clock.filter(|c| !c.notice_sent) {
                let notice = t - TimeDelta::days(i64::from(self.clocks.receipt_notice_days));
                if clock.timer.due().is_some() {
                    due.push(after(notice));
                }
            }
        }
        for r in &self.refunds {
            if let Some(t) = r.expected_by(&self.clocks) {
                due.push(after(t));
            }
        }
        if !self.coverage.reserved.is_zero()
            && self.status != OrderStatus::RefundPending
            && dispute.is_none()
        {
            // Coverage has ended once its last instant has passed.
            if let Some(t) = self.coverage_end() {
                due.push(after(t));
            }
        }
        due.into_iter().min()
    }

    /// Everything the scheduled sweep does to this order at `now`. Nothing
    /// due → no events and no change, so running it twice is harmless.
    pub fn sweep(&mut self, now: Timestamp) -> Result<Vec<DomainEvent>, OrderError> {
        self.change(Actor::Scheduler, now, |o, ch| {
            // 1. A dispute past its deadlines, or rejected, is escalated.
            if let Some(ground) = o.open_dispute().and_then(|d| d.sweep_escalation(now)) {
                o.escalate(ground, ch);
            }
            // 2. Payments: expired, else flagged overdue.
            let expired = o.expire_payments(ch)?;
            o.flag_overdue(ch);
            // 3. At most one status clock, unless an expiry just restarted
            //    the stage's clock.
            if !expired && !o.status.is_terminal() {
                o.run_status_clock(ch)?;
            }
            // 4. Refund parts not confirmed in time wait for an operator.
            o.flag_overdue_refunds(ch);
            // 5. Coverage that has ended gives back its reservation. The
            //    quality window includes its last instant (a dispute may
            //    still be opened then), so coverage has ended only after it.
            let ended = o.coverage_end().is_some_and(|end| now > end);
            if ended
                && !o.coverage.reserved.is_zero()
                && o.open_dispute().is_none()
                && o.status != OrderStatus::RefundPending
            {
                o.release_reservation(ch);
            }
            Ok(())
        })
    }

    /// Expire every payment in flight past its expiry. `true` if one did.
    fn expire_payments(&mut self, ch: &mut Change) -> Result<bool, OrderError> {
        let mut any = false;
        for index in 0..self.payments.len() {
            let p = &self.payments[index];
            if p.expires_after(&self.clocks).is_some_and(|t| ch.at > t) {
                self.payment_failed(index, FailureReason::Expired, ch)?;
                any = true;
            }
        }
        Ok(any)
    }

    /// Flag payments not arrived by the end of their latest expected date
    /// (once each; a Pay Later payment only after its agreement).
    fn flag_overdue(&mut self, ch: &mut Change) {
        for index in 0..self.payments.len() {
            let p = &self.payments[index];
            if !p.overdue_reported && p.overdue_after().is_some_and(|t| ch.at > t) {
                let id = p.id.clone();
                self.payments[index].overdue_reported = true;
                ch.emit(EventBody::PaymentOverdue { payment_id: id });
                if self.payments[index].flag.is_none() {
                    self.flag_payment(index, FlagReason::Overdue, ch);
                }
            }
        }
    }

    fn flag_overdue_refunds(&mut self, ch: &mut Change) {
        for index in 0..self.refunds.len() {
            if self.refunds[index]
                .expected_by(&self.clocks)
                .is_some_and(|t| ch.at > t)
            {
                self.flag_refund(index, RefundFlagReason::Overdue, ch);
            }
        }
    }

    /// The clock of the status the order waits in, if it has run out.
    fn run_status_clock(&mut self, ch: &mut Change) -> Result<(), OrderError> {
        use OrderStatus as S;
        let now = ch.at;
        let past = |due: Option<Timestamp>| due.is_some_and(|t| now > t);
        match self.status {
            S::AwaitingConfirmation if past(self.confirmation_due()) => {
                self.end(
                    S::Cancelled,
                    Action::CancelNotConfirmed,
                    EndReason::NotConfirmed,
                )?;
                ch.emit(EventBody::OrderCancelled {
                    reason: CancelReason::NotConfirmed,
                });
                self.release_reservation(ch);
            }
            S::AwaitingInitialPayment if past(self.unpaid_due()) => {
                self.end(S::Cancelled, Action::CancelUnpaid, EndReason::Unpaid)?;
                ch.emit(EventBody::OrderCancelled {
                    reason: CancelReason::Unpaid,
                });
                self.release_reservation(ch);
            }
            S::AwaitingShipment if past(self.not_shipped_due()) => {
                self.refund_not_shipped(ch)?;
            }
            S::Shipped if self.open_dispute().is_none() && past(self.balance_due()) => {
                self.end(
                    S::Closed,
                    Action::CloseUnpaidBalance,
                    EndReason::BalanceUnpaid,
                )?;
                ch.emit(EventBody::OrderClosed {
                    reason: CloseReason::BalanceUnpaid,
                });
                self.release_reservation(ch);
            }
            S::AwaitingReceiptConfirmation if self.open_dispute().is_none() => {
                let Some(due) = self.receipt_due() else {
                    return Ok(());
                };
                if now > due {
                    self.complete(ch)?;
                } else if let Some(clock) = self.receipt_clock.as_mut().filter(|c| !c.notice_sent) {
                    let notice = due - TimeDelta::days(i64::from(self.clocks.receipt_notice_days));
                    if now > notice {
                        clock.notice_sent = true;
                        ch.emit(EventBody::ReceiptAutoConfirmationDue { due });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Not shipped long after the ship-by date: everything paid so far is
    /// refunded, up to the covered amount not yet refunded, and the order
    /// closes (`refund_pending` until the parts settle). Money paid beyond
    /// that stays on its payments, flagged for an operator.
    fn refund_not_shipped(&mut self, ch: &mut Change) -> Result<(), OrderError> {
        let refund = self.amount_paid().min(self.covered_left());
        self.end(
            OrderStatus::RefundPending,
            Action::RefundNotShipped,
            EndReason::NotShipped,
        )?;
        ch.emit(EventBody::NotShippedRefundStarted { refund });
        if !refund.is_zero() {
            let (parts, _) = split_newest_first(&self.payments, refund);
            self.coverage.refunded = self.coverage.refunded.checked_add(refund)?;
            self.request_refund_parts(&parts, ch);
        }
        for index in 0..self.payments.len() {
            if self.payments[index].refundable() > Usd::ZERO && self.payments[index].flag.is_none()
            {
                self.flag_payment(index, FlagReason::BeyondCoverage, ch);
            }
        }
        self.settle_if_done(Action::RefundSettled, ch)
    }
}
