//! Paying a stage: initiating a payment (e-Checking, card, wire transfer or
//! Pay Later), the provider's reports on it, the flags an operator settles
//! and an arbiter's resolution of a flagged payment.

use crate::actor::{Actor, Caller, Party, Provider};
use crate::calendar::Timestamp;
use crate::clocks::MAX_FAILED_PAYMENTS_PER_STAGE;
use crate::deadline::Timer;
use crate::error::{Conflict, OrderError, Rule};
use crate::event::{CancelReason, CloseReason, DomainEvent, EventBody, FlagResolution};
use crate::ids::PaymentId;
use crate::money::Usd;
use crate::payment::{
    FailureReason, Flag, FlagReason, Payment, PaymentContext, PaymentMethod, PaymentStatus,
    SignalOutcome, Stage, WireInstructions, check_eligibility,
};
use crate::status::{Action, OrderStatus};

use super::{Change, EndReason, Order, PaymentReport, PaymentRequest};

impl Order {
    /// The buyer pays a stage: the initial payment (plus any inspection fee)
    /// once confirmed, the balance once shipped and while no dispute is
    /// unresolved; one payment in flight per stage; every method rule.
    pub fn initiate_payment(
        &mut self,
        caller: &Caller,
        request: PaymentRequest,
        ctx: PaymentContext<'_>,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let action = match request.stage {
            Stage::Initial => Action::PayInitial,
            Stage::Balance => Action::PayBalance,
        };
        let (_, actor) = self.require_party(caller, action, &[Party::Buyer])?;
        let (amount, inspection_fee, next) = match request.stage {
            Stage::Initial => {
                match self.status {
                    OrderStatus::AwaitingInitialPayment => {}
                    OrderStatus::InitialPaymentProcessing => {
                        return Err(Conflict::PaymentInFlight(Stage::Initial).into());
                    }
                    _ => return Err(self.wrong_status(action)),
                }
                let fee = self.terms.inspection_fee();
                (
                    self.terms.initial_payment().checked_add(fee)?,
                    fee,
                    OrderStatus::InitialPaymentProcessing,
                )
            }
            Stage::Balance => {
                match self.status {
                    OrderStatus::Shipped => {}
                    OrderStatus::BalancePaymentProcessing => {
                        return Err(Conflict::PaymentInFlight(Stage::Balance).into());
                    }
                    _ => return Err(self.wrong_status(action)),
                }
                if self.open_dispute().is_some() {
                    return Err(Conflict::DisputeUnresolved.into());
                }
                (
                    self.terms.balance(),
                    Usd::ZERO,
                    OrderStatus::BalancePaymentProcessing,
                )
            }
        };
        if self.payment(&request.id).is_some() {
            return Err(Conflict::DuplicatePaymentId(request.id).into());
        }
        if self.failed_payments(request.stage) >= MAX_FAILED_PAYMENTS_PER_STAGE {
            return Err(Rule::TooManyFailedPayments(MAX_FAILED_PAYMENTS_PER_STAGE).into());
        }
        if amount.is_zero() {
            return Err(Rule::NoBalanceDue.into());
        }
        check_eligibility(&request.method, amount, ctx)?;
        let kind = request.method.kind();
        let instructions = match (&request.method, ctx.receiving_account) {
            (PaymentMethod::TelegraphicTransfer, Some(account)) => Some(WireInstructions {
                account: account.clone(),
                reference: WireInstructions::reference_for(&request.id),
                amount,
            }),
            _ => None,
        };
        let status = match request.method {
            PaymentMethod::PayLater { .. } => PaymentStatus::AwaitingAgreement,
            _ => PaymentStatus::Processing,
        };
        let payment = Payment {
            id: request.id,
            stage: request.stage,
            method: request.method,
            amount,
            inspection_fee,
            fee: kind.fee(),
            status,
            flag: None,
            expected_arrival: kind.arrival_window(now),
            instructions,
            provider_reference: None,
            next_action: None,
            initiated_at: now,
            agreement_completed_at: None,
            settled_at: None,
            refunded: Usd::ZERO,
            refund_requested: Usd::ZERO,
            credit_held: if status == PaymentStatus::AwaitingAgreement {
                amount
            } else {
                Usd::ZERO
            },
            overdue_reported: false,
            failure: None,
        };
        self.change(actor, now, |o, ch| {
            o.move_to(next, action)?;
            // The initial payment's clock pauses while a payment is in
            // flight (the balance's runs on, but cannot fire while one is).
            o.unpaid = o.unpaid.map(|t| t.pause(now));
            ch.emit(EventBody::PaymentRequested {
                payment_id: payment.id.clone(),
                stage: payment.stage,
                method: kind,
                provider: kind.provider(),
                amount,
                fee: payment.fee,
            });
            if status == PaymentStatus::AwaitingAgreement {
                ch.emit(EventBody::CreditReserved {
                    buyer_id: o.buyer_id.clone(),
                    payment_id: payment.id.clone(),
                    amount,
                });
            }
            o.payments.push(payment);
            Ok(())
        })
    }

    /// Apply what a provider reported about a payment. Duplicates and older
    /// signals change nothing (no events); a signal contradicting a final
    /// status, a mismatched amount or currency, or the wrong provider flag
    /// the payment instead of applying; money arriving on a closed order is
    /// flagged and refunded automatically.
    pub fn apply_payment_report(
        &mut self,
        provider: Provider,
        report: PaymentReport,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let index = self
            .payments
            .iter()
            .position(|p| p.id == report.payment_id)
            .ok_or_else(|| OrderError::UnknownPayment(report.payment_id.clone()))?;
        self.change(Actor::Provider(provider), now, |o, ch| {
            if o.payments[index].provider() != provider {
                o.flag_payment(index, FlagReason::WrongProvider, ch);
                return Ok(());
            }
            if let Some(r) = &report.provider_reference
                && o.payments[index].provider_reference.is_none()
            {
                o.payments[index].provider_reference = Some(r.chars().take(200).collect());
            }
            match o.payments[index].status.on(report.signal) {
                SignalOutcome::Ignore => Ok(()),
                SignalOutcome::Contradiction => {
                    o.flag_payment(index, FlagReason::ContradictsFinalStatus, ch);
                    Ok(())
                }
                SignalOutcome::Move(PaymentStatus::Processing) => {
                    let p = &mut o.payments[index];
                    // A Pay Later payment's arrival window starts when its
                    // loan agreement is completed, never before.
                    if p.status == PaymentStatus::AwaitingAgreement {
                        p.agreement_completed_at = Some(now);
                        p.expected_arrival = p.method.kind().arrival_window(now);
                    }
                    p.status = PaymentStatus::Processing;
                    ch.emit(EventBody::PaymentProcessing {
                        payment_id: p.id.clone(),
                    });
                    Ok(())
                }
                SignalOutcome::Move(PaymentStatus::Succeeded) => {
                    let p = &o.payments[index];
                    match &report.confirmed {
                        Some((_, currency)) if currency != "USD" => {
                            o.flag_payment(index, FlagReason::CurrencyMismatch, ch);
                            Ok(())
                        }
                        Some((amount, _)) if *amount != p.amount => {
                            o.flag_payment(index, FlagReason::AmountMismatch, ch);
                            Ok(())
                        }
                        None => {
                            o.flag_payment(index, FlagReason::AmountMismatch, ch);
                            Ok(())
                        }
                        Some(_) => o.payment_succeeded(index, ch),
                    }
                }
                SignalOutcome::Move(_) => o.payment_failed(index, FailureReason::Declined, ch),
            }
        })
    }

    pub(super) fn flag_payment(&mut self, index: usize, reason: FlagReason, ch: &mut Change) {
        let p = &mut self.payments[index];
        // A flag already raised for the same reason stays as it is, and so
        // does one about money (it arrived and was not applied, or arrived
        // on a closed order, or is kept beyond the coverage): what an
        // arbiter resolves is that money, whatever event or date comes
        // later. A flag about an event or a date gives way to one about
        // money.
        // Money arriving on a closed order is refunded automatically: that
        // flag decides how a resolution treats the payment, and replaces any.
        let keep = p.flag.as_ref().is_some_and(|f| {
            f.reason == reason
                || f.reason == FlagReason::ClosedOrder
                || (f.reason.is_about_money() && reason != FlagReason::ClosedOrder)
        });
        if keep {
            return;
        }
        p.flag = Some(Flag { reason, at: ch.at });
        ch.emit(EventBody::PaymentFlagged {
            payment_id: p.id.clone(),
            reason,
        });
    }

    /// The money of payment `index` has arrived.
    pub(super) fn payment_succeeded(
        &mut self,
        index: usize,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        let closed = self.status.is_closed();
        let p = &mut self.payments[index];
        p.status = PaymentStatus::Succeeded;
        p.settled_at = Some(ch.at);
        p.failure = None;
        if p.flag
            .as_ref()
            .is_some_and(|f| f.reason == FlagReason::Overdue)
        {
            p.flag = None;
        }
        let (id, stage, amount) = (p.id.clone(), p.stage, p.amount);
        ch.emit(EventBody::PaymentSucceeded {
            payment_id: id.clone(),
            stage,
            amount,
        });
        if closed {
            self.flag_payment(index, FlagReason::ClosedOrder, ch);
            self.request_refund_parts(&[(id, amount)], ch);
            return Ok(());
        }
        self.stage_paid(stage, Action::PaymentSucceeded, ch)
    }

    /// The stage's money has arrived: the order moves on, the stage's clock
    /// stops, and after the balance the receipt clock starts.
    pub(super) fn stage_paid(
        &mut self,
        stage: Stage,
        action: Action,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        use OrderStatus as S;
        match (stage, self.status, action) {
            (Stage::Initial, S::InitialPaymentProcessing, _)
            | (Stage::Initial, S::AwaitingInitialPayment, Action::ResolvePayment) => {
                self.move_to(S::AwaitingShipment, action)?;
                self.unpaid = None;
                Ok(())
            }
            (Stage::Balance, S::BalancePaymentProcessing, _)
            | (Stage::Balance, S::Shipped, Action::ResolvePayment) => {
                self.move_to(S::AwaitingReceiptConfirmation, action)?;
                self.balance_clock = None;
                self.start_receipt_clock(ch.at);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Payment `index` failed (declined by the provider, or expired by the
    /// sweep): the stage is unpaid again; Pay Later credit goes back to the
    /// line.
    pub(super) fn payment_failed(
        &mut self,
        index: usize,
        reason: FailureReason,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        let p = &mut self.payments[index];
        p.status = PaymentStatus::Failed;
        p.failure = Some(reason);
        p.settled_at = Some(ch.at);
        if p.flag
            .as_ref()
            .is_some_and(|f| f.reason == FlagReason::Overdue)
        {
            // A payment that failed or expired is no longer overdue.
            p.flag = None;
        }
        let held = std::mem::replace(&mut p.credit_held, Usd::ZERO);
        let (id, stage, provider) = (p.id.clone(), p.stage, p.provider());
        match reason {
            FailureReason::Declined => ch.emit(EventBody::PaymentFailed {
                payment_id: id.clone(),
                stage,
            }),
            FailureReason::Expired => ch.emit(EventBody::PaymentExpired {
                payment_id: id.clone(),
                stage,
                provider,
            }),
        }
        if !held.is_zero() {
            ch.emit(EventBody::CreditReleased {
                buyer_id: self.buyer_id.clone(),
                payment_id: id,
                amount: held,
            });
        }
        let action = match reason {
            FailureReason::Declined => Action::PaymentFailed,
            FailureReason::Expired => Action::ExpirePayment,
        };
        self.stage_unpaid(stage, action, ch)
    }

    /// The stage's payment is no longer on its way: the order waits for
    /// that stage's payment again, with at least `retry_min_days` on its
    /// clock — or, after the last failed payment the stage allows, it ends
    /// (initial: cancelled; balance: closed).
    pub(super) fn stage_unpaid(
        &mut self,
        stage: Stage,
        action: Action,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        use OrderStatus as S;
        let now = ch.at;
        let min = self.clocks.retry_min_days;
        let exhausted = self.failed_payments(stage) >= MAX_FAILED_PAYMENTS_PER_STAGE;
        match (stage, self.status) {
            (Stage::Initial, S::InitialPaymentProcessing) if exhausted => {
                self.end(S::Cancelled, action, EndReason::Unpaid)?;
                ch.emit(EventBody::OrderCancelled {
                    reason: CancelReason::Unpaid,
                });
                self.release_reservation(ch);
                Ok(())
            }
            (Stage::Initial, S::InitialPaymentProcessing) => {
                let clock = self
                    .unpaid
                    .unwrap_or(Timer::Paused(i64::from(self.clocks.unpaid_days) * 86_400));
                self.unpaid = Some(clock.resume(now, min));
                self.move_to(S::AwaitingInitialPayment, action)
            }
            // Closing waits while a dispute is unresolved (the balance's
            // clock is paused then): its end decides; afterwards no new
            // balance payment is accepted and the clock closes the order.
            (Stage::Balance, S::BalancePaymentProcessing)
                if exhausted && self.open_dispute().is_none() =>
            {
                self.end(S::Closed, action, EndReason::BalanceUnpaid)?;
                ch.emit(EventBody::OrderClosed {
                    reason: CloseReason::BalanceUnpaid,
                });
                self.release_reservation(ch);
                Ok(())
            }
            (Stage::Balance, S::BalancePaymentProcessing) => {
                self.balance_clock = self.balance_clock.map(|t| t.at_least(now, min));
                self.move_to(S::Shipped, action)
            }
            _ => Ok(()),
        }
    }

    /// An arbiter resolves a flagged payment. When the flag says money
    /// arrived that was not applied (a confirmation contradicting a final
    /// status, another amount or currency): accept it as paid (a payment
    /// still in flight succeeds; one that failed or expired is applied only
    /// while its stage still waits with nothing in flight), or refund it
    /// (returned; a payment still in flight leaves its stage unpaid again).
    /// When the flag is about an event or a date (the wrong provider,
    /// overdue), accepting acknowledges it (a payment in flight is taken as
    /// arrived) and there is nothing to refund. A payment already counted
    /// as paid or returned is acknowledged. Money on a closed order is
    /// refunded automatically; resolving only acknowledges it. Money kept
    /// beyond the coverage of an order that never shipped is refunded, or
    /// left with the supplier.
    pub fn resolve_payment(
        &mut self,
        caller: &Caller,
        payment_id: &PaymentId,
        resolution: FlagResolution,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let actor = self.require_arbiter(caller, Action::ResolvePayment)?;
        let index = self
            .payments
            .iter()
            .position(|p| &p.id == payment_id)
            .ok_or_else(|| OrderError::UnknownPayment(payment_id.clone()))?;
        let p = &self.payments[index];
        let flag = p.flag.clone().ok_or(Conflict::NotFlagged)?;
        let status = p.status;
        // Whether the flag says money arrived (a confirmation not applied):
        // only then is there something to accept as paid or to return.
        let money = flag.reason.is_unapplied_money();
        match (resolution, status) {
            (FlagResolution::Accept, PaymentStatus::Failed) if money => {
                self.check_late_acceptance(index)?;
            }
            (FlagResolution::Refund, s)
                if (s.in_flight() || s == PaymentStatus::Failed)
                    && !money
                    && !matches!(
                        flag.reason,
                        FlagReason::ClosedOrder | FlagReason::BeyondCoverage
                    ) =>
            {
                return Err(Conflict::CannotResolve(
                    "refunded: no money arrived for it (accept to acknowledge the flag)",
                )
                .into());
            }
            _ => {}
        }
        self.change(actor, now, |o, ch| {
            o.payments[index].flag = None;
            ch.emit(EventBody::PaymentFlagResolved {
                payment_id: payment_id.clone(),
                resolution,
            });
            match (flag.reason, resolution, status) {
                (FlagReason::ClosedOrder, _, _) => Ok(()),
                (FlagReason::BeyondCoverage, FlagResolution::Accept, _) => Ok(()),
                (FlagReason::BeyondCoverage, FlagResolution::Refund, _) => {
                    let p = &o.payments[index];
                    let (id, amount) = (p.id.clone(), p.refundable());
                    if !amount.is_zero() {
                        o.request_refund_parts(&[(id, amount)], ch);
                    }
                    Ok(())
                }
                (_, FlagResolution::Accept, s) if s.in_flight() => o.payment_succeeded(index, ch),
                // Already counted as paid (or returned): acknowledged.
                (_, FlagResolution::Accept, PaymentStatus::Succeeded | PaymentStatus::Refunded) => {
                    Ok(())
                }
                (_, FlagResolution::Accept, PaymentStatus::Failed) if money => {
                    o.accept_late(index, ch)
                }
                // A flag about an event, not money (the wrong provider): the
                // failed payment stays failed.
                (_, FlagResolution::Accept, _) => Ok(()),
                (_, FlagResolution::Refund, s) if s.in_flight() || s == PaymentStatus::Failed => {
                    let p = &mut o.payments[index];
                    p.status = PaymentStatus::Succeeded;
                    p.failure = None;
                    p.settled_at = Some(now);
                    let (id, amount, stage) = (p.id.clone(), p.amount, p.stage);
                    // Pay Later: the loan's money goes back to the loan;
                    // credit the payment still holds is released as the
                    // refund settles.
                    o.request_refund_parts(&[(id, amount)], ch);
                    if s.in_flight() {
                        o.stage_unpaid(stage, Action::PaymentFailed, ch)?;
                    }
                    Ok(())
                }
                (_, FlagResolution::Refund, _) => Err(Conflict::CannotResolve("refunded").into()),
            }
        })
    }

    /// May a payment that failed or expired before its money arrived be
    /// accepted now? Only while its stage still waits for a payment with
    /// nothing in flight (and, for the balance, no dispute unresolved).
    pub(super) fn check_late_acceptance(&self, index: usize) -> Result<(), OrderError> {
        let stage = self.payments[index].stage;
        let waiting = match stage {
            Stage::Initial => self.status == OrderStatus::AwaitingInitialPayment,
            Stage::Balance => self.status == OrderStatus::Shipped && self.open_dispute().is_none(),
        };
        let in_flight = self
            .payments
            .iter()
            .any(|p| p.stage == stage && p.status.in_flight());
        if waiting && !in_flight {
            Ok(())
        } else {
            Err(Conflict::CannotResolve(
                "accepted: its stage no longer waits for it (refund it instead)",
            )
            .into())
        }
    }

    /// Apply a payment whose money arrived after it had failed or expired
    /// (checked by [`Order::check_late_acceptance`]). Pay Later credit is
    /// reserved again (the commit refuses it if the line has no room).
    pub(super) fn accept_late(&mut self, index: usize, ch: &mut Change) -> Result<(), OrderError> {
        let p = &mut self.payments[index];
        p.status = PaymentStatus::Succeeded;
        p.failure = None;
        p.settled_at = Some(ch.at);
        let (id, stage, amount) = (p.id.clone(), p.stage, p.amount);
        if p.method.kind() == crate::payment::MethodKind::PayLater {
            p.credit_held = amount;
            ch.emit(EventBody::CreditReserved {
                buyer_id: self.buyer_id.clone(),
                payment_id: id.clone(),
                amount,
            });
        }
        ch.emit(EventBody::PaymentSucceeded {
            payment_id: id,
            stage,
            amount,
        });
        self.stage_paid(stage, Action::ResolvePayment, ch)
    }
}
