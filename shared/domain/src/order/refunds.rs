//! Refunds: split across the succeeded payments newest first, one part
//! per payment, each confirmed by its provider (or settled outside and
//! recorded by an arbiter), retried or flagged when it is not.

use crate::actor::{Actor, Caller, Provider};
use crate::calendar::Timestamp;
use crate::error::{Conflict, OrderError, Rule};
use crate::event::{DomainEvent, EventBody};
use crate::ids::{PaymentId, RefundId};
use crate::money::Usd;
use crate::payment::PaymentStatus;
use crate::refund::{
    MAX_REFUND_ATTEMPTS, RefundFlagReason, RefundPart, RefundResolution, RefundStatus,
    split_newest_first,
};
use crate::status::{Action, OrderStatus};

use super::{Change, EndReason, Order, RefundReport};

impl Order {
    pub(super) fn request_refund_parts(&mut self, parts: &[(PaymentId, Usd)], ch: &mut Change) {
        for (payment_id, amount) in parts {
            let Some(payment) = self.payments.iter_mut().find(|p| &p.id == payment_id) else {
                continue;
            };
            payment.refund_requested = payment
                .refund_requested
                .checked_add(*amount)
                .unwrap_or(Usd::MAX);
            let provider = payment.provider();
            let sequence = self
                .refunds
                .iter()
                .filter(|r| &r.payment_id == payment_id)
                .count() as u32
                + 1;
            let part = RefundPart {
                id: RefundId::derive(payment_id, sequence),
                payment_id: payment_id.clone(),
                provider,
                amount: *amount,
                status: RefundStatus::Requested,
                attempts: 1,
                flagged: false,
                flag_reason: None,
                flagged_at: None,
                provider_reference: None,
                requested_at: ch.at,
                attempted_at: Some(ch.at),
                settled_at: None,
                settled_outside: false,
            };
            ch.emit(EventBody::RefundRequested {
                refund_id: part.id.clone(),
                payment_id: payment_id.clone(),
                provider: part.provider,
                amount: *amount,
                attempt: 1,
            });
            self.refunds.push(part);
        }
    }

    /// A refund of `refund` (+ `inspection_fee`, outside the cap) split
    /// across the succeeded payments, newest first. A refund of everything
    /// paid so far closes the order (`refund_pending` until every part has
    /// settled, then `refunded`); a smaller one is a compensation: the
    /// order continues where it was, its parts settle in the background and
    /// the reservation shrinks by what was refunded.
    pub(super) fn start_refund(
        &mut self,
        refund: Usd,
        inspection_fee: Usd,
        closing: bool,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        let total = refund.checked_add(inspection_fee)?;
        let (parts, unplaced) = split_newest_first(&self.payments, total);
        if !unplaced.is_zero() {
            return Err(Rule::RefundExceedsPaid(self.amount_paid()).into());
        }
        self.coverage.refunded = self.coverage.refunded.checked_add(refund)?;
        if closing {
            self.end(
                OrderStatus::RefundPending,
                Action::DisputeRefund,
                EndReason::Dispute,
            )?;
        } else {
            self.release_part(refund, ch);
        }
        self.request_refund_parts(&parts, ch);
        Ok(())
    }

    /// Every part settled: a `refund_pending` order is refunded and its
    /// reservation released.
    pub(super) fn settle_if_done(
        &mut self,
        action: Action,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        let all_settled = self
            .refunds
            .iter()
            .all(|r| r.status == RefundStatus::Succeeded);
        if self.status == OrderStatus::RefundPending && all_settled {
            self.move_to(OrderStatus::Refunded, action)?;
            ch.emit(EventBody::OrderRefunded {
                refunded: self.amount_refunded(),
            });
            self.release_reservation(ch);
        }
        Ok(())
    }

    /// Refund part `index` has settled (confirmed by its provider, or by an
    /// operator as returned outside the platform).
    pub(super) fn settle_part(
        &mut self,
        index: usize,
        outside: bool,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        let part = &mut self.refunds[index];
        part.status = RefundStatus::Succeeded;
        part.flagged = false;
        part.flag_reason = None;
        part.flagged_at = None;
        part.settled_at = Some(ch.at);
        part.settled_outside = outside;
        let (refund_id, payment_id, amount) =
            (part.id.clone(), part.payment_id.clone(), part.amount);
        ch.emit(EventBody::RefundSucceeded { refund_id, amount });
        if let Some(p) = self.payments.iter_mut().find(|p| p.id == payment_id) {
            p.refunded = p.refunded.checked_add(amount)?;
            if p.refunded >= p.amount {
                p.status = PaymentStatus::Refunded;
            }
            // Money returned to the loan frees the credit it used, once.
            let release = amount.min(p.credit_held);
            p.credit_held = p.credit_held.saturating_sub(release);
            if !release.is_zero() {
                ch.emit(EventBody::CreditReleased {
                    buyer_id: self.buyer_id.clone(),
                    payment_id,
                    amount: release,
                });
            }
        }
        self.settle_if_done(Action::RefundSettled, ch)
    }

    pub(super) fn flag_refund(&mut self, index: usize, reason: RefundFlagReason, ch: &mut Change) {
        let part = &mut self.refunds[index];
        if part.flagged {
            return;
        }
        part.flagged = true;
        part.flag_reason = Some(reason);
        part.flagged_at = Some(ch.at);
        ch.emit(EventBody::RefundFlagged {
            refund_id: part.id.clone(),
            reason: Some(reason),
        });
    }

    /// Apply what a provider reported about a refund part. A success
    /// settles it (Pay Later money goes back to the loan); a failure
    /// requests it again, up to five attempts in all, then flags it for an
    /// operator. When every part has settled, a `refund_pending` order is
    /// refunded and its reservation released.
    pub fn apply_refund_report(
        &mut self,
        provider: Provider,
        report: RefundReport,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let index = self
            .refunds
            .iter()
            .position(|r| r.id == report.refund_id)
            .ok_or_else(|| OrderError::UnknownRefund(report.refund_id.clone()))?;
        self.change(Actor::Provider(provider), now, |o, ch| {
            let part = &o.refunds[index];
            if part.status == RefundStatus::Succeeded {
                return Ok(());
            }
            let mismatch = report.amount.is_some_and(|a| a != part.amount);
            if part.provider != provider || (report.succeeded && mismatch) {
                o.flag_refund(index, RefundFlagReason::Mismatch, ch);
                return Ok(());
            }
            if report.succeeded {
                return o.settle_part(index, false, ch);
            }
            if part.flagged {
                // Waiting for an operator already: nothing is retried.
                return Ok(());
            }
            ch.emit(EventBody::RefundFailed {
                refund_id: part.id.clone(),
            });
            if part.attempts >= MAX_REFUND_ATTEMPTS {
                o.flag_refund(index, RefundFlagReason::RefundFailed, ch);
                return Ok(());
            }
            o.retry_refund(index, ch);
            Ok(())
        })
    }

    /// Request part `index` again: a new attempt with its own key.
    pub(super) fn retry_refund(&mut self, index: usize, ch: &mut Change) {
        let part = &mut self.refunds[index];
        part.attempts += 1;
        part.attempted_at = Some(ch.at);
        part.provider_reference = None;
        part.flagged = false;
        part.flag_reason = None;
        part.flagged_at = None;
        ch.emit(EventBody::RefundRequested {
            refund_id: part.id.clone(),
            payment_id: part.payment_id.clone(),
            provider: part.provider,
            amount: part.amount,
            attempt: part.attempts,
        });
    }

    /// An arbiter resolves a flagged refund part: ask the provider again, or
    /// record that the money was returned outside the platform.
    pub fn resolve_refund(
        &mut self,
        caller: &Caller,
        refund_id: &RefundId,
        resolution: RefundResolution,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let actor = self.require_arbiter(caller, Action::ResolveRefund)?;
        let index = self
            .refunds
            .iter()
            .position(|r| &r.id == refund_id)
            .ok_or_else(|| OrderError::UnknownRefund(refund_id.clone()))?;
        let part = &self.refunds[index];
        if part.status == RefundStatus::Succeeded || !part.flagged {
            return Err(Conflict::RefundNotFlagged.into());
        }
        self.change(actor, now, |o, ch| {
            ch.emit(EventBody::RefundResolved {
                refund_id: refund_id.clone(),
                resolution,
            });
            match resolution {
                RefundResolution::Retry => {
                    o.retry_refund(index, ch);
                    Ok(())
                }
                RefundResolution::SettledOutside => o.settle_part(index, true, ch),
            }
        })
    }
}
