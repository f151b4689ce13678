//! What the providers answered to the platform's requests: a payment or a
//! refund part taken (its reference, and for a payment the buyer's next
//! step), or refused for good — which flags it for an operator.
//!
//! Each answer is recorded once: a repeated answer (a redelivered request,
//! answered again by the provider from its idempotency record) changes
//! nothing, and an answer for an earlier attempt of a refund part than the
//! current one is stale and ignored.

use crate::actor::Actor;
use crate::calendar::Timestamp;
use crate::error::OrderError;
use crate::event::{DomainEvent, EventBody};
use crate::ids::{PaymentId, RefundId};
use crate::payment::{FailureReason, FlagReason, NextAction};
use crate::refund::{RefundFlagReason, RefundStatus};

use super::Order;

/// The longest provider reference kept.
const MAX_REFERENCE: usize = 200;

fn reference_of(reference: &str) -> String {
    reference.chars().take(MAX_REFERENCE).collect()
}

impl Order {
    fn payment_index(&self, payment: &PaymentId) -> Result<usize, OrderError> {
        self.payments
            .iter()
            .position(|p| &p.id == payment)
            .ok_or_else(|| OrderError::UnknownPayment(payment.clone()))
    }

    fn refund_index(&self, refund: &RefundId) -> Result<usize, OrderError> {
        self.refunds
            .iter()
            .position(|r| &r.id == refund)
            .ok_or_else(|| OrderError::UnknownRefund(refund.clone()))
    }

    /// Does payment `id` still wait for the provider to take its request
    /// (in flight, no answer recorded; a refused one has failed)?
    pub fn payment_request_pending(&self, payment: &PaymentId) -> Result<bool, OrderError> {
        let p = &self.payments[self.payment_index(payment)?];
        Ok(p.provider_reference.is_none() && p.status.in_flight())
    }

    /// Does attempt `attempt` of refund part `id` still wait for the
    /// provider to take it (it is the current attempt, not yet settled,
    /// taken or refused)?
    pub fn refund_request_pending(
        &self,
        refund: &RefundId,
        attempt: u32,
    ) -> Result<bool, OrderError> {
        let part = &self.refunds[self.refund_index(refund)?];
        Ok(part.attempts == attempt
            && part.status == RefundStatus::Requested
            && part.provider_reference.is_none()
            && !part.flagged)
    }

    /// The provider took payment `id`'s request.
    pub fn record_payment_request(
        &mut self,
        payment: &PaymentId,
        reference: &str,
        next_action: Option<NextAction>,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let index = self.payment_index(payment)?;
        if !self.payment_request_pending(payment)? {
            return Ok(Vec::new());
        }
        let provider = self.payments[index].provider();
        self.change(Actor::Provider(provider), now, |o, ch| {
            let p = &mut o.payments[index];
            let reference = reference_of(reference);
            p.provider_reference = Some(reference.clone());
            p.next_action = next_action.clone();
            ch.emit(EventBody::PaymentRequestAccepted {
                payment_id: p.id.clone(),
                reference,
                next_action,
            });
            Ok(())
        })
    }

    /// The provider refused payment `id`'s request for good: the payment
    /// fails as declined (its stage waits for another payment, as after a
    /// decline) and is flagged for an operator (`provider_refused`), who
    /// acknowledges it (no money arrived: there is nothing to refund).
    pub fn refuse_payment_request(
        &mut self,
        payment: &PaymentId,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let index = self.payment_index(payment)?;
        if !self.payment_request_pending(payment)? {
            return Ok(Vec::new());
        }
        let provider = self.payments[index].provider();
        self.change(Actor::Provider(provider), now, |o, ch| {
            o.flag_payment(index, FlagReason::ProviderRefused, ch);
            if o.payments[index].status.in_flight() {
                o.payment_failed(index, FailureReason::Declined, ch)?;
            }
            Ok(())
        })
    }

    /// The provider took attempt `attempt` of refund part `id`.
    pub fn record_refund_request(
        &mut self,
        refund: &RefundId,
        attempt: u32,
        reference: &str,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let index = self.refund_index(refund)?;
        if !self.refund_request_pending(refund, attempt)? {
            return Ok(Vec::new());
        }
        let provider = self.refunds[index].provider;
        self.change(Actor::Provider(provider), now, |o, ch| {
            let part = &mut o.refunds[index];
            let reference = reference_of(reference);
            part.provider_reference = Some(reference.clone());
            ch.emit(EventBody::RefundRequestAccepted {
                refund_id: part.id.clone(),
                reference,
            });
            Ok(())
        })
    }

    /// The provider refused attempt `attempt` of refund part `id` for good:
    /// flagged for an operator (`provider_refused`), who asks again or
    /// settles it outside.
    pub fn refuse_refund_request(
        &mut self,
        refund: &RefundId,
        attempt: u32,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let index = self.refund_index(refund)?;
        if !self.refund_request_pending(refund, attempt)? {
            return Ok(Vec::new());
        }
        let provider = self.refunds[index].provider;
        self.change(Actor::Provider(provider), now, |o, ch| {
            o.flag_refund(index, RefundFlagReason::ProviderRefused, ch);
            Ok(())
        })
    }
}
