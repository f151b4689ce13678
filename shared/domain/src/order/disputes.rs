//! Disputes: the buyer's claim, the parties' responses and offers,
//! withdrawal, escalation to the platform, and an arbiter's decision,
//! which may refund up to the covered amount.

use crate::actor::{Caller, Party};
use crate::calendar::Timestamp;
use crate::coverage::CoverageType;
use crate::dispute::{
    Decision, Dispute, DisputeEntry, DisputeOutcome, DisputeReason, DisputeStatus, EntryKind,
    ResponseAction,
};
use crate::error::{Conflict, OrderError, Rule};
use crate::event::{DomainEvent, EventBody};
use crate::money::Usd;
use crate::status::{Action, OrderStatus};

use super::{Change, DisputeResponse, OpenDispute, Order};

impl Order {
    /// A refund must be positive, within what is left of the covered amount
    /// (across every dispute of the order) and within what was paid.
    pub(super) fn check_refund_caps(&self, amount: Usd) -> Result<(), OrderError> {
        if amount.is_zero() {
            return Err(Rule::RefundNotPositive.into());
        }
        let left = self.covered_left();
        if amount > left {
            return Err(Rule::RefundExceedsCovered(left).into());
        }
        let paid = self.amount_paid();
        if amount > paid {
            return Err(Rule::RefundExceedsPaid(paid).into());
        }
        Ok(())
    }

    /// The buyer opens a dispute: once the initial payment has arrived, one
    /// at a time, at most three over the order's life, on grounds that apply
    /// now and were not finally rejected by an arbiter, for a refund ≤ the
    /// covered amount left and ≤ the amount paid. Its deadlines come from
    /// the order's clocks; the balance and receipt clocks pause while it is
    /// unresolved.
    pub fn raise_dispute(
        &mut self,
        caller: &Caller,
        open: OpenDispute,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        use OrderStatus as S;
        let (party, actor) = self.require_party(caller, Action::OpenDispute, &[Party::Buyer])?;
        if self.open_dispute().is_some() {
            return Err(Conflict::DisputeAlreadyOpen.into());
        }
        if !matches!(
            self.status,
            S::AwaitingShipment
                | S::Shipped
                | S::BalancePaymentProcessing
                | S::AwaitingReceiptConfirmation
                | S::Completed
        ) {
            return Err(self.wrong_status(Action::OpenDispute));
        }
        let disputes = self.past_disputes.len() + usize::from(self.dispute.is_some());
        if disputes >= crate::dispute::MAX_DISPUTES_PER_ORDER {
            return Err(Rule::TooManyDisputes(crate::dispute::MAX_DISPUTES_PER_ORDER).into());
        }
        let finally_rejected = self
            .past_disputes
            .iter()
            .chain(self.dispute.as_ref())
            .any(|d| d.reason == open.reason && d.outcome == Some(DisputeOutcome::ClaimRejected));
        if finally_rejected {
            return Err(Rule::ClaimRejectedFinal(match open.reason {
                DisputeReason::LateShipment => "late-shipment",
                DisputeReason::Quality => "quality",
            })
            .into());
        }
        let receipt_confirmed = self.completed_at.is_some();
        match open.reason {
            DisputeReason::LateShipment => {
                if receipt_confirmed {
                    return Err(Rule::CoverageEnded.into());
                }
                if now <= self.terms.ship_by_deadline() {
                    return Err(Rule::NotLateYet.into());
                }
                if self.shipment.as_ref().is_some_and(|s| !s.late) {
                    return Err(Rule::ShippedOnTime.into());
                }
            }
            DisputeReason::Quality => match self.coverage.kind {
                CoverageType::PreShipment => {
                    if receipt_confirmed {
                        return Err(Rule::CoverageEnded.into());
                    }
                }
                CoverageType::PostDelivery => {
                    let Some(end) = self.quality_window_end() else {
                        return Err(Rule::NotShippedYet.into());
                    };
                    if now > end || self.coverage.reserved.is_zero() {
                        return Err(Rule::QualityWindowClosed(end).into());
                    }
                }
            },
        }
        self.check_refund_caps(open.requested_refund)?;
        let over_budget = self.check_dispute_write(
            party,
            EntryKind::Opened,
            Some(&open.description),
            &open.evidence,
            None,
        )?;
        let policy = self.clocks.disputes;
        self.change(actor.clone(), now, |o, ch| {
            if let Some(old) = o.dispute.take() {
                o.past_disputes.push(old);
            }
            let entry = DisputeEntry {
                at: now,
                by: actor,
                kind: EntryKind::Opened,
                amount: Some(open.requested_refund),
                message: Some(open.description.clone()),
                evidence: open.evidence,
                over_budget,
            };
            o.dispute = Some(Dispute::new(
                open.reason,
                open.requested_refund,
                open.description,
                entry,
                policy,
            ));
            o.balance_clock = o.balance_clock.map(|t| t.pause(now));
            if let Some(r) = o.receipt_clock.as_mut() {
                r.timer = r.timer.pause(now);
            }
            ch.emit(EventBody::DisputeOpened {
                reason: open.reason,
                requested_refund: open.requested_refund,
            });
            Ok(())
        })
    }

    /// A party acts in the dispute: the supplier accepts the claim, makes a
    /// counter-offer or rejects; the buyer accepts or rejects a
    /// counter-offer; either comments or adds evidence. Agreement resolves
    /// the dispute with a refund. Offers and comments are bounded per
    /// dispute and per party; accepting and rejecting never are.
    pub fn respond_dispute(
        &mut self,
        caller: &Caller,
        response: DisputeResponse,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (party, actor) = self.require_party(
            caller,
            Action::RespondDispute,
            &[Party::Buyer, Party::Supplier],
        )?;
        if let (Party::Buyer, ResponseAction::Offer(_)) = (party, response.action) {
            return Err(OrderError::Forbidden {
                action: Action::RespondDispute,
                allowed: "supplier (counter-offers)",
            });
        }
        let dispute = self.open_dispute().ok_or(Conflict::NoOpenDispute)?;
        let escalated = dispute.status == DisputeStatus::Escalated;
        if escalated
            && matches!(
                response.action,
                ResponseAction::Offer(_) | ResponseAction::Reject
            )
        {
            return Err(Conflict::DisputeEscalated.into());
        }
        let agreed = match (party, response.action) {
            (Party::Supplier, ResponseAction::Accept) => Some(dispute.requested_refund),
            (Party::Buyer, ResponseAction::Accept) => {
                Some(dispute.pending_offer.ok_or(Conflict::NoPendingOffer)?)
            }
            (Party::Buyer, ResponseAction::Reject) if dispute.pending_offer.is_none() => {
                return Err(Conflict::NoPendingOffer.into());
            }
            // A rejection stands until the supplier makes an offer: it is
            // not repeated (each would be one more entry of the order).
            (Party::Supplier, ResponseAction::Reject)
                if dispute.supplier_rejected && dispute.pending_offer.is_none() =>
            {
                return Err(Conflict::AlreadyRejected.into());
            }
            _ => None,
        };
        if response.action == ResponseAction::Comment
            && response.message.is_none()
            && response.evidence.is_empty()
        {
            return Err(Rule::EmptyComment.into());
        }
        if let ResponseAction::Offer(amount) = response.action {
            self.check_refund_caps(amount)?;
        }
        if let Some(amount) = agreed {
            self.check_refund_caps(amount)?;
        }
        let kind = match response.action {
            ResponseAction::Accept => EntryKind::Accepted,
            ResponseAction::Offer(_) => EntryKind::Offered,
            ResponseAction::Reject => EntryKind::Rejected,
            ResponseAction::Comment => EntryKind::Commented,
        };
        let over_budget = self.check_dispute_write(
            party,
            kind,
            response.message.as_ref(),
            &response.evidence,
            Some(dispute),
        )?;
        self.change(actor.clone(), now, |o, ch| {
            let Some(d) = o.dispute.as_mut() else {
                return Err(Conflict::NoOpenDispute.into());
            };
            if party == Party::Supplier && d.supplier_responded_at.is_none() {
                d.supplier_responded_at = Some(now);
            }
            let amount = match response.action {
                ResponseAction::Offer(a) => Some(a),
                _ => agreed,
            };
            d.entries.push(DisputeEntry {
                at: now,
                by: actor,
                kind,
                amount,
                message: response.message,
                evidence: response.evidence,
                over_budget,
            });
            match (party, response.action) {
                (_, ResponseAction::Offer(a)) => {
                    // An offer takes back an earlier rejection: the
                    // dispute is negotiated again, not escalable for it.
                    d.pending_offer = Some(a);
                    d.supplier_rejected = false;
                    d.rejected_at = None;
                    d.status = DisputeStatus::Negotiating;
                }
                (Party::Supplier, ResponseAction::Reject) => {
                    d.supplier_rejected = true;
                    d.rejected_at = Some(now);
                    d.pending_offer = None;
                    d.status = DisputeStatus::Negotiating;
                }
                (Party::Buyer, ResponseAction::Reject) => {
                    d.pending_offer = None;
                    d.status = DisputeStatus::Negotiating;
                }
                (_, ResponseAction::Comment) if d.status == DisputeStatus::Open => {
                    d.status = DisputeStatus::Negotiating;
                }
                _ => {}
            }
            ch.emit(EventBody::DisputeResponded {
                by: party,
                action: kind,
            });
            if let Some(refund) = agreed {
                o.resolve_dispute(DisputeOutcome::Agreed, Some(refund), Usd::ZERO, ch)?;
            }
            Ok(())
        })
    }

    /// The dispute ends. A refund of everything paid so far closes the
    /// order; a smaller one is a compensation and the order goes on; without
    /// a refund the order goes on where it was. Clocks the dispute paused
    /// run again with at least their minimum left.
    pub(super) fn resolve_dispute(
        &mut self,
        outcome: DisputeOutcome,
        refund: Option<Usd>,
        inspection_fee: Usd,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        let closing = refund.is_some_and(|r| r >= self.amount_paid());
        let Some(d) = self.dispute.as_mut() else {
            return Err(Conflict::NoOpenDispute.into());
        };
        d.status = DisputeStatus::Resolved;
        d.outcome = Some(outcome);
        d.resolved_at = Some(ch.at);
        d.pending_offer = None;
        d.refund_amount = refund;
        if !inspection_fee.is_zero() {
            d.inspection_fee_refund = Some(inspection_fee);
        }
        ch.emit(EventBody::DisputeResolved {
            outcome,
            refund_amount: refund,
        });
        if let Some(amount) = refund {
            self.start_refund(amount, inspection_fee, closing, ch)?;
        }
        if !closing {
            let (now, c) = (ch.at, self.clocks);
            self.balance_clock = self.balance_clock.map(|t| t.resume(now, c.retry_min_days));
            if let Some(r) = self.receipt_clock.as_mut() {
                r.timer = r.timer.resume(now, c.receipt_min_days);
            }
        }
        Ok(())
    }

    /// The buyer withdraws the dispute; the order continues.
    pub fn withdraw_dispute(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::WithdrawDispute, &[Party::Buyer])?;
        self.open_dispute().ok_or(Conflict::NoOpenDispute)?;
        self.change(actor.clone(), now, |o, ch| {
            if let Some(d) = o.dispute.as_mut() {
                d.entries.push(DisputeEntry {
                    at: now,
                    by: actor,
                    kind: EntryKind::Withdrawn,
                    amount: None,
                    message: None,
                    evidence: Vec::new(),
                    over_budget: false,
                });
            }
            o.resolve_dispute(DisputeOutcome::Withdrawn, None, Usd::ZERO, ch)
        })
    }

    /// The buyer escalates once eligible: no supplier response by its
    /// deadline, a rejection, or no solution by the resolution deadline.
    pub fn escalate_dispute(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::EscalateDispute, &[Party::Buyer])?;
        let d = self.open_dispute().ok_or(Conflict::NoOpenDispute)?;
        if d.status == DisputeStatus::Escalated {
            return Err(Conflict::DisputeEscalated.into());
        }
        let ground = d.escalation_ground(now).ok_or(Rule::NotYetEscalatable {
            supplier_response_due: d.supplier_response_due,
            resolution_due: d.resolution_due,
        })?;
        self.change(actor, now, |o, ch| {
            o.escalate(ground, ch);
            Ok(())
        })
    }

    pub(super) fn escalate(&mut self, ground: crate::dispute::EscalationGround, ch: &mut Change) {
        if let Some(d) = self.dispute.as_mut() {
            d.status = DisputeStatus::Escalated;
            d.escalated_at = Some(ch.at);
            d.escalation_ground = Some(ground);
            d.entries.push(DisputeEntry {
                at: ch.at,
                by: ch.actor.clone(),
                kind: EntryKind::Escalated,
                amount: None,
                message: None,
                evidence: Vec::new(),
                over_budget: false,
            });
            ch.emit(EventBody::DisputeEscalated { ground });
        }
    }

    /// An arbiter who is not a party decides an escalated dispute: the
    /// supplier at fault with a refund (≤ covered left, ≤ paid; in a quality
    /// dispute the paid inspection fee is refunded on top), or the claim
    /// rejected — finally, for that reason — and the order goes on.
    pub fn decide_dispute(
        &mut self,
        caller: &Caller,
        decision: Decision,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let actor = self.require_arbiter(caller, Action::DecideDispute)?;
        let d = self.open_dispute().ok_or(Conflict::NoOpenDispute)?;
        if d.status != DisputeStatus::Escalated {
            return Err(Conflict::DisputeNotEscalated.into());
        }
        let reason = d.reason;
        if let Decision::SupplierAtFault(amount) = decision {
            self.check_refund_caps(amount)?;
        }
        self.change(actor.clone(), now, |o, ch| {
            let (outcome, refund, fee) = match decision {
                Decision::SupplierAtFault(amount) => {
                    // The inspection fee is refunded once, whatever the
                    // number of quality disputes found against the supplier.
                    let fee = if reason == DisputeReason::Quality {
                        o.inspection_fee_paid()
                            .saturating_sub(o.inspection_fee_refunded())
                    } else {
                        Usd::ZERO
                    };
                    (DisputeOutcome::SupplierAtFault, Some(amount), fee)
                }
                Decision::ClaimRejected => (DisputeOutcome::ClaimRejected, None, Usd::ZERO),
            };
            if let Some(d) = o.dispute.as_mut() {
                d.entries.push(DisputeEntry {
                    at: now,
                    by: actor,
                    kind: EntryKind::Decided,
                    amount: refund,
                    message: None,
                    evidence: Vec::new(),
                    over_budget: false,
                });
            }
            o.resolve_dispute(outcome, refund, fee, ch)
        })
    }
}
