//! Agreeing the contract: creating an order, amending its terms, each
//! party's confirmation (which reserves the supplier's assurance limit),
//! reminders and cancelling before anything is paid.

use crate::actor::{Actor, Caller, Party, Role};
use crate::calendar::{Timestamp, plus_hours};
use crate::contract::Terms;
use crate::coverage::{AssuranceLimit, covered_amount};
use crate::deadline::Timer;
use crate::error::{Conflict, OrderError, Rule};
use crate::event::{CancelReason, DomainEvent, EventBody};
use crate::money::Usd;
use crate::status::{Action, OrderStatus};

use super::{
    Change, Confirmations, Counterparty, Coverage, EndReason, NewOrder, Order,
    REMINDER_INTERVAL_HOURS,
};

impl Order {
    /// A buyer creates an online order naming the supplier, or a supplier an
    /// offline one naming the buyer. The creator's confirmation is implicit.
    pub fn create(
        caller: &Caller,
        new: NewOrder,
        now: Timestamp,
    ) -> Result<(Order, Vec<DomainEvent>), OrderError> {
        let clocks = new.clocks;
        let (creator, buyer_id, supplier_id) = match new.counterparty {
            Counterparty::Supplier(s) if caller.has(Role::Buyer) => {
                (Party::Buyer, caller.id.clone(), s)
            }
            Counterparty::Buyer(b) if caller.has(Role::Supplier) => {
                (Party::Supplier, b, caller.id.clone())
            }
            Counterparty::Supplier(_) => {
                return Err(OrderError::Forbidden {
                    action: Action::Create,
                    allowed: "buyer (naming a supplier_id)",
                });
            }
            Counterparty::Buyer(_) => {
                return Err(OrderError::Forbidden {
                    action: Action::Create,
                    allowed: "supplier (naming a buyer_id)",
                });
            }
        };
        if buyer_id == supplier_id {
            return Err(Rule::SameBuyerAndSupplier.into());
        }
        Self::check_ship_by(&new.terms, now)?;
        let actor = match creator {
            Party::Buyer => Actor::Buyer(caller.id.clone()),
            Party::Supplier => Actor::Supplier(caller.id.clone()),
        };
        let mut confirmations = Confirmations::default();
        confirmations.set(creator, Some(now));
        let order = Order {
            id: new.id,
            buyer_id: buyer_id.clone(),
            supplier_id: supplier_id.clone(),
            created_by: creator,
            coverage: Coverage {
                kind: new.terms.coverage(),
                covered_amount: None,
                reserved: Usd::ZERO,
                ended_at: None,
                refunded: Usd::ZERO,
            },
            status: OrderStatus::AwaitingConfirmation,
            version: 1,
            revision: 1,
            clocks,
            end_reason: None,
            confirmations,
            reminded: Confirmations::default(),
            amended_at: None,
            payments: Vec::new(),
            shipment: None,
            completed_at: None,
            feedback: None,
            dispute: None,
            past_disputes: Vec::new(),
            refunds: Vec::new(),
            confirmed_at: None,
            unpaid: None,
            balance_clock: None,
            receipt_clock: None,
            created_at: now,
            updated_at: now,
            terms: new.terms,
        };
        let ch = Change {
            actor,
            at: now,
            events: vec![EventBody::OrderCreated {
                buyer_id,
                supplier_id,
                total: order.terms.total(),
            }],
        };
        let events = order.stamp(ch);
        Ok((order, events))
    }

    /// Either party amends the terms before both have confirmed. The
    /// amender's confirmation stands; the other party's is cleared.
    pub fn amend(
        &mut self,
        caller: &Caller,
        terms: Terms,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (party, actor) =
            self.require_party(caller, Action::Amend, &[Party::Buyer, Party::Supplier])?;
        if self.status != OrderStatus::AwaitingConfirmation {
            return Err(self.wrong_status(Action::Amend));
        }
        Self::check_ship_by(&terms, now)?;
        self.change(actor, now, |o, ch| {
            o.coverage.kind = terms.coverage();
            o.terms = terms;
            o.amended_at = Some(now);
            o.confirmations.set(party, Some(now));
            o.confirmations.set(party.other(), None);
            ch.emit(EventBody::OrderAmended { by: party });
            Ok(())
        })
    }

    /// The party whose confirmation is missing confirms the version it saw.
    /// With both confirmations the covered amount is fixed against the
    /// supplier's available limit and reserved (the caller applies the
    /// `CoverageReserved` event to the limit, atomically with the order).
    pub fn confirm(
        &mut self,
        caller: &Caller,
        seen_version: u64,
        limit: &AssuranceLimit,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (party, actor) =
            self.require_party(caller, Action::Confirm, &[Party::Buyer, Party::Supplier])?;
        if self.status != OrderStatus::AwaitingConfirmation {
            return Err(self.wrong_status(Action::Confirm));
        }
        if self.confirmations.of(party).is_some() {
            return Err(Conflict::AlreadyConfirmed.into());
        }
        if seen_version != self.version {
            return Err(Conflict::VersionMismatch {
                seen: seen_version,
                current: self.version,
            }
            .into());
        }
        let available = if limit.supplier_id == self.supplier_id {
            limit.available()
        } else {
            Usd::ZERO
        };
        if available.is_zero() {
            return Err(Rule::NoAssuranceLimitAvailable.into());
        }
        self.change(actor, now, |o, ch| {
            o.confirmations.set(party, Some(now));
            let covered = covered_amount(
                o.coverage.kind,
                o.terms.total(),
                o.terms.initial_payment(),
                available,
            );
            o.coverage.covered_amount = Some(covered);
            o.coverage.reserved = covered;
            o.confirmed_at = Some(now);
            o.unpaid = Some(Timer::days_after(now, o.clocks.unpaid_days));
            o.move_to(OrderStatus::AwaitingInitialPayment, Action::Confirm)?;
            ch.emit(EventBody::OrderConfirmed { by: party });
            ch.emit(EventBody::CoverageReserved {
                supplier_id: o.supplier_id.clone(),
                amount: covered,
            });
            Ok(())
        })
    }

    /// Remind the other party to confirm: a history entry and an event, no
    /// change to the terms or the order's version (only its revision, which
    /// records when each party last reminded). At most one reminder per
    /// party per 24 hours (429 with the seconds to wait).
    pub fn remind(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (party, actor) =
            self.require_party(caller, Action::Remind, &[Party::Buyer, Party::Supplier])?;
        if self.status != OrderStatus::AwaitingConfirmation {
            return Err(self.wrong_status(Action::Remind));
        }
        if self.confirmations.of(party.other()).is_some() {
            return Err(Conflict::NothingToRemind.into());
        }
        if let Some(last) = self.reminded.of(party) {
            let next = plus_hours(last, REMINDER_INTERVAL_HOURS);
            if now < next {
                let wait = (next - now).num_milliseconds().max(0) as u64;
                return Err(OrderError::TooManyRequests {
                    what: "one reminder per party per 24 hours",
                    retry_after_secs: wait.div_ceil(1000).max(1),
                });
            }
        }
        self.reminded.set(party, Some(now));
        self.revision += 1;
        Ok(self.stamp(Change {
            actor,
            at: now,
            events: vec![EventBody::ConfirmationReminded { by: party }],
        }))
    }

    /// Either party cancels before any payment is in flight.
    pub fn cancel(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) =
            self.require_party(caller, Action::Cancel, &[Party::Buyer, Party::Supplier])?;
        if !matches!(
            self.status,
            OrderStatus::AwaitingConfirmation | OrderStatus::AwaitingInitialPayment
        ) {
            return Err(self.wrong_status(Action::Cancel));
        }
        if self.open_dispute().is_some() {
            return Err(Conflict::DisputeUnresolved.into());
        }
        self.change(actor, now, |o, ch| {
            o.end(OrderStatus::Cancelled, Action::Cancel, EndReason::ByParty)?;
            ch.emit(EventBody::OrderCancelled {
                reason: CancelReason::ByParty,
            });
            o.release_reservation(ch);
            Ok(())
        })
    }
}
