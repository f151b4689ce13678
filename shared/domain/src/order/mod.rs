//! The order aggregate: the contract, its coverage, payments, shipment,
//! receipt, feedback, disputes and refunds, with every command of the
//! lifecycle. Each command checks in the order 404 → 403 → 409 → 429 → 422,
//! works on a draft copy (so a refused command changes nothing), moves the
//! status only along [`crate::status::TRANSITIONS`], bumps `version` once
//! and returns the domain events it caused.
//!
//! The clocks that end every waiting status and the scheduled sweep that
//! acts on them are in [`sweep`]; the bounds that keep an order small
//! enough to store, whatever the parties write, in [`bounds`].

mod bounds;
mod sweep;

use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Caller, Party, Provider, Role};
use crate::calendar::{Timestamp, minus_hours, plus_days, plus_hours};
use crate::clocks::{Clocks, MAX_FAILED_PAYMENTS_PER_STAGE, MAX_RECEIPT_EXTENSIONS};
use crate::contract::Terms;
use crate::coverage::{AssuranceLimit, CoverageType, covered_amount, quality_window_end};
use crate::deadline::Timer;
use crate::dispute::{
    Decision, Dispute, DisputeEntry, DisputeOutcome, DisputeReason, DisputeStatus, EntryKind,
    ResponseAction,
};
use crate::error::{Conflict, OrderError, Rule};
use crate::event::{CancelReason, CloseReason, DomainEvent, EventBody, FlagResolution};
use crate::feedback::{FEEDBACK_WINDOW_DAYS, Feedback, Rating};
use crate::ids::{OrderId, PaymentId, RefundId, UserId};
use crate::money::Usd;
use crate::payment::{
    FailureReason, Flag, FlagReason, Payment, PaymentContext, PaymentMethod, PaymentSignal,
    PaymentStatus, SignalOutcome, Stage, WireInstructions, check_eligibility,
};
use crate::refund::{
    MAX_REFUND_ATTEMPTS, RefundFlagReason, RefundPart, RefundResolution, RefundStatus,
    split_newest_first,
};
use crate::status::{Action, OrderStatus, is_allowed};
use crate::text::{DocumentRef, LongText, ShortText};

/// `shipped_at` may be at most this many hours in the past.
pub const SHIPPED_AT_MAX_BACKDATE_HOURS: u32 = 72;
/// A party may remind the other to confirm at most once in this many hours.
pub const REMINDER_INTERVAL_HOURS: u32 = 24;

/// Who is on the other side of a new order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counterparty {
    /// An online order: a buyer fills the contract and names the supplier.
    Supplier(UserId),
    /// An offline order: a supplier drafts it for a named buyer.
    Buyer(UserId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub id: OrderId,
    pub counterparty: Counterparty,
    pub terms: Terms,
    /// The clocks this order lives by (configuration, fixed at creation).
    pub clocks: Clocks,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub id: PaymentId,
    pub stage: Stage,
    pub method: PaymentMethod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentDetails {
    pub carrier: ShortText,
    pub tracking_number: ShortText,
    /// Defaults to now.
    pub shipped_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDispute {
    pub reason: DisputeReason,
    pub requested_refund: Usd,
    pub description: LongText,
    pub evidence: Vec<DocumentRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeResponse {
    pub action: ResponseAction,
    pub message: Option<LongText>,
    pub evidence: Vec<DocumentRef>,
}

/// What a provider reported about a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReport {
    pub payment_id: PaymentId,
    pub signal: PaymentSignal,
    /// For `Succeeded`: the confirmed amount and currency code as sent.
    pub confirmed: Option<(Usd, String)>,
    pub provider_reference: Option<String>,
}

/// What a provider reported about a refund part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReport {
    pub refund_id: RefundId,
    pub succeeded: bool,
    pub amount: Option<Usd>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmations {
    pub buyer: Option<Timestamp>,
    pub supplier: Option<Timestamp>,
}

impl Confirmations {
    fn is_empty(&self) -> bool {
        self.buyer.is_none() && self.supplier.is_none()
    }
    fn of(&self, p: Party) -> Option<Timestamp> {
        match p {
            Party::Buyer => self.buyer,
            Party::Supplier => self.supplier,
        }
    }
    fn set(&mut self, p: Party, at: Option<Timestamp>) {
        match p {
            Party::Buyer => self.buyer = at,
            Party::Supplier => self.supplier = at,
        }
    }
}

/// The order's coverage: its type, the covered amount fixed at
/// confirmation, and what it holds of the supplier's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    #[serde(rename = "type")]
    pub kind: CoverageType,
    pub covered_amount: Option<Usd>,
    /// What this order currently holds of the supplier's limit.
    pub reserved: Usd,
    pub ended_at: Option<Timestamp>,
    /// Refunds decided against the covered amount so far (the inspection
    /// fee refunded on a quality fault aside): what is left to cover is
    /// `covered_amount − refunded`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refunded: Usd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: ShortText,
    pub tracking_number: ShortText,
    pub shipped_at: Timestamp,
    pub late: bool,
    pub customs_cleared_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
}

fn is_zero(u: &Usd) -> bool {
    u.is_zero()
}

/// Why an order ended (cancelled, closed or refunded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A party cancelled it before any payment.
    ByParty,
    /// Not confirmed by both parties in time.
    NotConfirmed,
    /// The initial payment did not arrive in time.
    Unpaid,
    /// The balance did not arrive in time: the supplier keeps the initial
    /// payment.
    BalanceUnpaid,
    /// Not shipped in time: everything paid, up to the coverage, refunded.
    NotShipped,
    /// A dispute ended with a refund of everything paid.
    Dispute,
}

/// The receipt clock: the sweep confirms receipt for the buyer when it runs
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptClock {
    pub timer: Timer,
    /// Extensions the buyer has used (at most two).
    #[serde(default)]
    pub extensions: u8,
    /// Whether the event announcing the automatic confirmation was sent.
    #[serde(default)]
    pub notice_sent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    id: OrderId,
    buyer_id: UserId,
    supplier_id: UserId,
    created_by: Party,
    terms: Terms,
    status: OrderStatus,
    version: u64,
    /// Every stored change adds 1 (a reminder too, which leaves `version`
    /// as it is): what the stores' conditional writes check.
    #[serde(default)]
    revision: u64,
    #[serde(default, skip_serializing_if = "Clocks::is_default")]
    clocks: Clocks,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_reason: Option<EndReason>,
    confirmations: Confirmations,
    /// The last reminder each party sent.
    #[serde(default, skip_serializing_if = "Confirmations::is_empty")]
    reminded: Confirmations,
    /// The last amendment of the terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amended_at: Option<Timestamp>,
    coverage: Coverage,
    payments: Vec<Payment>,
    shipment: Option<Shipment>,
    completed_at: Option<Timestamp>,
    feedback: Option<Feedback>,
    dispute: Option<Dispute>,
    past_disputes: Vec<Dispute>,
    refunds: Vec<RefundPart>,
    confirmed_at: Option<Timestamp>,
    /// The initial payment's clock: runs while no payment is in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unpaid: Option<Timer>,
    /// The balance's clock, from shipment; paused by a dispute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    balance_clock: Option<Timer>,
    /// The receipt clock, while the order waits for the buyer's receipt
    /// confirmation; paused by a dispute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt_clock: Option<ReceiptClock>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The change a command is making: the events it has emitted so far.
struct Change {
    actor: Actor,
    at: Timestamp,
    events: Vec<EventBody>,
}

impl Change {
    fn emit(&mut self, body: EventBody) {
        self.events.push(body);
    }
}

impl Order {
    // ---- reading ---------------------------------------------------------

    pub fn id(&self) -> &OrderId {
        &self.id
    }
    pub fn buyer_id(&self) -> &UserId {
        &self.buyer_id
    }
    pub fn supplier_id(&self) -> &UserId {
        &self.supplier_id
    }
    pub fn created_by(&self) -> Party {
        self.created_by
    }
    pub fn terms(&self) -> &Terms {
        &self.terms
    }
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    /// The optimistic-concurrency version, also the version a counterparty
    /// confirms. Starts at 1; every change but a reminder adds 1.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// The stored revision: every stored change adds 1, a reminder too.
    /// Stores write an order only if what they hold is still at the
    /// revision that was read.
    pub fn revision(&self) -> u64 {
        self.revision
    }
    /// The clocks this order lives by.
    pub fn clocks(&self) -> &Clocks {
        &self.clocks
    }
    /// Why the order ended, once it has (or is being refunded).
    pub fn end_reason(&self) -> Option<EndReason> {
        self.end_reason
    }
    /// The receipt clock, while the order waits for receipt confirmation.
    pub fn receipt_clock(&self) -> Option<&ReceiptClock> {
        self.receipt_clock.as_ref()
    }
    pub fn confirmations(&self) -> &Confirmations {
        &self.confirmations
    }
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }
    pub fn payments(&self) -> &[Payment] {
        &self.payments
    }
    pub fn payment(&self, id: &PaymentId) -> Option<&Payment> {
        self.payments.iter().find(|p| &p.id == id)
    }
    pub fn shipment(&self) -> Option<&Shipment> {
        self.shipment.as_ref()
    }
    pub fn completed_at(&self) -> Option<Timestamp> {
        self.completed_at
    }
    pub fn feedback(&self) -> Option<&Feedback> {
        self.feedback.as_ref()
    }
    /// The current dispute, or the last one resolved.
    pub fn dispute(&self) -> Option<&Dispute> {
        self.dispute.as_ref()
    }
    pub fn past_disputes(&self) -> &[Dispute] {
        &self.past_disputes
    }
    pub fn refunds(&self) -> &[RefundPart] {
        &self.refunds
    }
    pub fn confirmed_at(&self) -> Option<Timestamp> {
        self.confirmed_at
    }
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// An unresolved dispute, if there is one.
    pub fn open_dispute(&self) -> Option<&Dispute> {
        self.dispute.as_ref().filter(|d| d.is_unresolved())
    }

    pub fn payment_in_flight(&self) -> bool {
        self.payments.iter().any(|p| p.status.in_flight())
    }

    /// What the buyer has paid for the goods and not asked back: the money
    /// succeeded payments still hold (stage amounts less every refund
    /// requested of them, settled or not), less the inspection fee they
    /// still hold (a fee refunded with a quality dispute, or with its whole
    /// payment, is not held any more). Money on a closed order, which is
    /// refunded automatically, does not count.
    pub fn amount_paid(&self) -> Usd {
        let counted = self
            .payments
            .iter()
            .filter(|p| p.status == PaymentStatus::Succeeded || p.status == PaymentStatus::Refunded)
            .filter(|p| {
                p.flag
                    .as_ref()
                    .is_none_or(|f| f.reason != FlagReason::ClosedOrder)
            });
        let (mut held, mut fees) = (Usd::ZERO, Usd::ZERO);
        for p in counted {
            let still = p.amount.saturating_sub(p.refund_requested);
            if !still.is_zero() {
                held = held.checked_add(still).unwrap_or(Usd::MAX);
                fees = fees.checked_add(p.inspection_fee).unwrap_or(Usd::MAX);
            }
        }
        held.saturating_sub(fees.saturating_sub(self.inspection_fee_refunded()))
    }

    /// Σ of succeeded refund parts.
    pub fn amount_refunded(&self) -> Usd {
        self.refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Succeeded)
            .fold(Usd::ZERO, |acc, r| {
                acc.checked_add(r.amount).unwrap_or(Usd::MAX)
            })
    }

    /// The inspection fee already refunded (with a quality dispute).
    fn inspection_fee_refunded(&self) -> Usd {
        self.past_disputes
            .iter()
            .chain(self.dispute.as_ref())
            .filter_map(|d| d.inspection_fee_refund)
            .fold(Usd::ZERO, |acc, f| acc.checked_add(f).unwrap_or(Usd::MAX))
    }

    /// The inspection fee the buyer has paid (its payment succeeded).
    fn inspection_fee_paid(&self) -> Usd {
        self.payments
            .iter()
            .filter(|p| p.stage == Stage::Initial && p.status == PaymentStatus::Succeeded)
            .map(|p| p.inspection_fee)
            .max()
            .unwrap_or(Usd::ZERO)
    }

    /// When coverage ends (or ended), if that is known yet: pre-shipment at
    /// receipt confirmation, post-delivery when the quality window closes.
    pub fn coverage_end(&self) -> Option<Timestamp> {
        if let Some(end) = self.coverage.ended_at {
            return Some(end);
        }
        match self.coverage.kind {
            CoverageType::PreShipment => self.completed_at,
            CoverageType::PostDelivery => self.quality_window_end(),
        }
    }

    /// Post-delivery only: the earlier of 180 days after shipment and 15
    /// days after customs clearance (the order's clocks).
    pub fn quality_window_end(&self) -> Option<Timestamp> {
        match (self.coverage.kind, &self.shipment) {
            (CoverageType::PostDelivery, Some(s)) => Some(quality_window_end(
                s.shipped_at,
                s.customs_cleared_at,
                &self.clocks,
            )),
            _ => None,
        }
    }

    /// What is left of the covered amount for refunds: the covered amount
    /// less the refunds already decided against it.
    pub fn covered_left(&self) -> Usd {
        self.coverage
            .covered_amount
            .unwrap_or(Usd::ZERO)
            .saturating_sub(self.coverage.refunded)
    }

    /// Payments of `stage` that failed or expired.
    pub fn failed_payments(&self, stage: Stage) -> usize {
        self.payments
            .iter()
            .filter(|p| p.stage == stage && p.status == PaymentStatus::Failed)
            .count()
    }

    /// Finished: terminal, or completed with nothing left reserved. Every
    /// other order shows a dated deadline or waits for an arbiter.
    pub fn is_finished(&self) -> bool {
        self.status.is_terminal()
            || (self.status == OrderStatus::Completed && self.coverage.reserved.is_zero())
    }

    /// What an operator must act on before this order can move: an
    /// escalated dispute, a flagged payment, a refund part flagged.
    pub fn awaits_arbiter(&self) -> bool {
        self.open_dispute()
            .is_some_and(|d| d.status == DisputeStatus::Escalated)
            || self.payments.iter().any(|p| p.flag.is_some())
            || self.refunds.iter().any(|r| r.flagged)
    }

    // ---- who may act -----------------------------------------------------

    /// The caller's position: a party (by id and group), else an arbiter,
    /// else nothing (the order does not exist for them: 404).
    fn position(&self, caller: &Caller) -> Option<(Option<Party>, Actor)> {
        if caller.id == self.buyer_id && caller.has(Role::Buyer) {
            Some((Some(Party::Buyer), Actor::Buyer(caller.id.clone())))
        } else if caller.id == self.supplier_id && caller.has(Role::Supplier) {
            Some((Some(Party::Supplier), Actor::Supplier(caller.id.clone())))
        } else if caller.has(Role::Arbiter) {
            Some((None, Actor::Arbiter(caller.id.clone())))
        } else {
            None
        }
    }

    /// May the caller see this order (get, history, payments)?
    pub fn visible_to(&self, caller: &Caller) -> bool {
        self.position(caller).is_some()
    }

    /// The party the caller is on this order, or `None` for an arbiter.
    /// `NotFound` when the order is not theirs.
    pub fn viewer(&self, caller: &Caller) -> Result<Option<Party>, OrderError> {
        self.position(caller)
            .map(|(p, _)| p)
            .ok_or(OrderError::NotFound)
    }

    /// Who may take `action` on an order, before its input is even read:
    /// 404 for a caller the order is not visible to, 403 for a visible
    /// order whose action belongs to someone else. Each command checks the
    /// same again (and may narrow it by its input).
    pub fn authorize(&self, caller: &Caller, action: Action) -> Result<(), OrderError> {
        use Action as A;
        const BOTH: &[Party] = &[Party::Buyer, Party::Supplier];
        const BUYER: &[Party] = &[Party::Buyer];
        const SUPPLIER: &[Party] = &[Party::Supplier];
        let parties = match action {
            A::DecideDispute | A::ResolvePayment | A::ResolveRefund => {
                return self.require_arbiter(caller, action).map(|_| ());
            }
            A::PayInitial
            | A::PayBalance
            | A::ConfirmReceipt
            | A::ExtendReceipt
            | A::RecordDelivery
            | A::LeaveFeedback
            | A::OpenDispute
            | A::WithdrawDispute
            | A::EscalateDispute => BUYER,
            A::Ship => SUPPLIER,
            _ => BOTH,
        };
        self.require_party(caller, action, parties).map(|_| ())
    }

    fn require_party(
        &self,
        caller: &Caller,
        action: Action,
        allowed: &[Party],
    ) -> Result<(Party, Actor), OrderError> {
        let (party, actor) = self.position(caller).ok_or(OrderError::NotFound)?;
        match party {
            Some(p) if allowed.contains(&p) => Ok((p, actor)),
            _ => Err(OrderError::Forbidden {
                action,
                allowed: match allowed {
                    [Party::Buyer] => "buyer",
                    [Party::Supplier] => "supplier",
                    _ => "buyer or supplier",
                },
            }),
        }
    }

    /// An arbiter who is not a party: whoever's `sub` is the order's buyer
    /// or supplier never decides or resolves anything on it, whatever
    /// groups their token carries.
    fn require_arbiter(&self, caller: &Caller, action: Action) -> Result<Actor, OrderError> {
        let (party, actor) = self.position(caller).ok_or(OrderError::NotFound)?;
        let own = caller.id == self.buyer_id || caller.id == self.supplier_id;
        match (party, caller.has(Role::Arbiter), own) {
            (None, true, false) => Ok(actor),
            _ => Err(OrderError::Forbidden {
                action,
                allowed: if own {
                    "arbiter who is not a party to the order"
                } else {
                    "arbiter"
                },
            }),
        }
    }

    fn wrong_status(&self, action: Action) -> OrderError {
        OrderError::WrongStatus {
            action,
            status: self.status,
        }
    }

    // ---- the change machinery ---------------------------------------------

    /// Run `f` on a copy; commit it (version + 1) only if it succeeds and
    /// changed something.
    fn change<F>(
        &mut self,
        actor: Actor,
        now: Timestamp,
        f: F,
    ) -> Result<Vec<DomainEvent>, OrderError>
    where
        F: FnOnce(&mut Order, &mut Change) -> Result<(), OrderError>,
    {
        let mut draft = self.clone();
        let mut ch = Change {
            actor,
            at: now,
            events: Vec::new(),
        };
        f(&mut draft, &mut ch)?;
        if ch.events.is_empty() {
            return Ok(Vec::new());
        }
        draft.version += 1;
        draft.revision += 1;
        draft.updated_at = now.max(draft.updated_at);
        *self = draft;
        Ok(self.stamp(ch))
    }

    fn stamp(&self, ch: Change) -> Vec<DomainEvent> {
        ch.events
            .into_iter()
            .map(|body| DomainEvent {
                order_id: self.id.clone(),
                at: ch.at,
                actor: ch.actor.clone(),
                status: self.status,
                body,
            })
            .collect()
    }

    fn move_to(&mut self, to: OrderStatus, action: Action) -> Result<(), OrderError> {
        if !is_allowed(self.status, to, action) {
            return Err(OrderError::IllegalTransition {
                action,
                from: self.status,
                to,
            });
        }
        self.status = to;
        Ok(())
    }

    fn release_reservation(&mut self, ch: &mut Change) {
        let amount = self.coverage.reserved;
        if !amount.is_zero() {
            self.coverage.reserved = Usd::ZERO;
            self.coverage.ended_at.get_or_insert(ch.at);
            ch.emit(EventBody::ReservationReleased {
                supplier_id: self.supplier_id.clone(),
                amount,
            });
        }
    }

    /// Give back `amount` of the reservation (a compensation shrinks what
    /// is still covered); the coverage goes on.
    fn release_part(&mut self, amount: Usd, ch: &mut Change) {
        let amount = amount.min(self.coverage.reserved);
        if !amount.is_zero() {
            self.coverage.reserved = self.coverage.reserved.saturating_sub(amount);
            ch.emit(EventBody::ReservationReleased {
                supplier_id: self.supplier_id.clone(),
                amount,
            });
        }
    }

    /// End the order in a terminal status (or `refund_pending`) with its
    /// reason; every clock stops.
    fn end(
        &mut self,
        to: OrderStatus,
        action: Action,
        reason: EndReason,
    ) -> Result<(), OrderError> {
        self.move_to(to, action)?;
        self.end_reason = Some(reason);
        self.unpaid = None;
        self.balance_clock = None;
        self.receipt_clock = None;
        Ok(())
    }

    fn check_ship_by(terms: &Terms, now: Timestamp) -> Result<(), OrderError> {
        if terms.ship_by() < now.date_naive() {
            return Err(Rule::ShipByInPast.into());
        }
        Ok(())
    }

    // ---- contract ----------------------------------------------------------

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

    // ---- payments ----------------------------------------------------------

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

    fn flag_payment(&mut self, index: usize, reason: FlagReason, ch: &mut Change) {
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
    fn payment_succeeded(&mut self, index: usize, ch: &mut Change) -> Result<(), OrderError> {
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
    fn stage_paid(
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
    fn payment_failed(
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
    fn stage_unpaid(
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
    fn check_late_acceptance(&self, index: usize) -> Result<(), OrderError> {
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
    fn accept_late(&mut self, index: usize, ch: &mut Change) -> Result<(), OrderError> {
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

    // ---- refunds -------------------------------------------------------------

    fn request_refund_parts(&mut self, parts: &[(PaymentId, Usd)], ch: &mut Change) {
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
    fn start_refund(
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
    fn settle_if_done(&mut self, action: Action, ch: &mut Change) -> Result<(), OrderError> {
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
    fn settle_part(
        &mut self,
        index: usize,
        outside: bool,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        let part = &mut self.refunds[index];
        part.status = RefundStatus::Succeeded;
        part.flagged = false;
        part.flag_reason = None;
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

    fn flag_refund(&mut self, index: usize, reason: RefundFlagReason, ch: &mut Change) {
        let part = &mut self.refunds[index];
        if part.flagged {
            return;
        }
        part.flagged = true;
        part.flag_reason = Some(reason);
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
    fn retry_refund(&mut self, index: usize, ch: &mut Change) {
        let part = &mut self.refunds[index];
        part.attempts += 1;
        part.attempted_at = Some(ch.at);
        part.flagged = false;
        part.flag_reason = None;
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

    // ---- shipment, delivery, receipt, feedback -------------------------------

    /// The supplier records the shipment. `shipped_at` (default now) is
    /// neither in the future nor more than 72 hours back; after the end of
    /// the ship-by date it is late. With a balance due the order is
    /// `shipped`, else it waits for the buyer's receipt confirmation. An
    /// unresolved dispute does not block shipment.
    pub fn ship(
        &mut self,
        caller: &Caller,
        details: ShipmentDetails,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::Ship, &[Party::Supplier])?;
        if self.status != OrderStatus::AwaitingShipment {
            return Err(self.wrong_status(Action::Ship));
        }
        let shipped_at = details.shipped_at.unwrap_or(now);
        if shipped_at > now {
            return Err(Rule::ShippedAtInFuture.into());
        }
        if shipped_at < minus_hours(now, SHIPPED_AT_MAX_BACKDATE_HOURS) {
            return Err(Rule::ShippedAtTooOld.into());
        }
        if self.confirmed_at.is_some_and(|c| shipped_at < c) {
            return Err(Rule::ShippedBeforeConfirmation.into());
        }
        // Lateness is judged by when the shipment is recorded, whatever
        // `shipped_at` says.
        let late = now > self.terms.ship_by_deadline();
        self.change(actor, now, |o, ch| {
            o.shipment = Some(Shipment {
                carrier: details.carrier,
                tracking_number: details.tracking_number,
                shipped_at,
                late,
                customs_cleared_at: None,
                delivered_at: None,
            });
            if o.terms.balance().is_zero() {
                o.move_to(OrderStatus::AwaitingReceiptConfirmation, Action::Ship)?;
                o.start_receipt_clock(now);
            } else {
                o.move_to(OrderStatus::Shipped, Action::Ship)?;
                // Due at the latest `balance_max_days` after the shipment
                // was recorded (sooner once delivery is recorded).
                let timer = Timer::days_after(now, o.clocks.balance_max_days);
                o.balance_clock = Some(if o.open_dispute().is_some() {
                    timer.pause(now)
                } else {
                    timer
                });
            }
            ch.emit(EventBody::OrderShipped { shipped_at, late });
            Ok(())
        })
    }

    /// The order starts waiting for the buyer's receipt confirmation: the
    /// sweep confirms it `receipt_days` after now or after the recorded
    /// delivery, whichever is later (paused while a dispute is unresolved).
    fn start_receipt_clock(&mut self, now: Timestamp) {
        let from = self
            .shipment
            .as_ref()
            .and_then(|s| s.delivered_at)
            .map_or(now, |d| d.max(now));
        let timer = Timer::days_after(from, self.clocks.receipt_days);
        self.receipt_clock = Some(ReceiptClock {
            timer: if self.open_dispute().is_some() {
                timer.pause(now)
            } else {
                timer
            },
            extensions: 0,
            notice_sent: false,
        });
    }

    /// The buyer (the importer) records when the goods cleared customs and
    /// when they were delivered, each once, neither before the shipment nor
    /// in the future. The supplier cannot (403): the quality window and the
    /// balance's clock must not be shortened by the party they protect
    /// against. A recorded delivery brings the balance due date forward
    /// (`balance_days` after it, at least `retry_min_days` from now) and
    /// keeps the receipt clock at least `receipt_days` after it.
    pub fn record_delivery(
        &mut self,
        caller: &Caller,
        customs_cleared_at: Option<Timestamp>,
        delivered_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::RecordDelivery, &[Party::Buyer])?;
        let Some(shipment) = self
            .shipment
            .as_ref()
            .filter(|_| !self.status.is_terminal())
        else {
            return Err(self.wrong_status(Action::RecordDelivery));
        };
        if customs_cleared_at.is_some() && shipment.customs_cleared_at.is_some() {
            return Err(Conflict::AlreadyRecorded("customs clearance").into());
        }
        if delivered_at.is_some() && shipment.delivered_at.is_some() {
            return Err(Conflict::AlreadyRecorded("delivery").into());
        }
        if customs_cleared_at.is_none() && delivered_at.is_none() {
            return Err(Rule::NothingToRecord.into());
        }
        for (name, at) in [
            ("customs_cleared_at", customs_cleared_at),
            ("delivered_at", delivered_at),
        ] {
            if let Some(at) = at {
                if at < shipment.shipped_at {
                    return Err(Rule::BeforeShipment(name).into());
                }
                if at > now {
                    return Err(Rule::InFuture(name).into());
                }
            }
        }
        self.change(actor, now, |o, ch| {
            if let Some(s) = o.shipment.as_mut() {
                if let Some(at) = customs_cleared_at {
                    s.customs_cleared_at = Some(at);
                    ch.emit(EventBody::CustomsCleared { cleared_at: at });
                }
                if let Some(at) = delivered_at {
                    s.delivered_at = Some(at);
                    ch.emit(EventBody::DeliveryRecorded { delivered_at: at });
                }
            }
            if let Some(at) = delivered_at {
                let c = o.clocks;
                let due = plus_days(at, c.balance_days).max(plus_days(now, c.retry_min_days));
                o.balance_clock = o.balance_clock.map(|t| t.at_most(now, due));
                if let Some(r) = o.receipt_clock.as_mut() {
                    r.timer = r.timer.not_before(now, plus_days(at, c.receipt_days));
                }
            }
            Ok(())
        })
    }

    /// The buyer confirms receipt once shipped and fully paid; the order is
    /// complete. Pre-shipment coverage ends here and its reservation is
    /// released.
    pub fn confirm_receipt(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::ConfirmReceipt, &[Party::Buyer])?;
        if self.status != OrderStatus::AwaitingReceiptConfirmation {
            return Err(self.wrong_status(Action::ConfirmReceipt));
        }
        if self.open_dispute().is_some() {
            return Err(Conflict::DisputeUnresolved.into());
        }
        self.change(actor, now, |o, ch| o.complete(ch))
    }

    /// Receipt confirmed (by the buyer, or by the sweep for them: it counts
    /// as theirs): the order is complete, pre-shipment coverage ends and
    /// the feedback window opens.
    fn complete(&mut self, ch: &mut Change) -> Result<(), OrderError> {
        self.move_to(OrderStatus::Completed, Action::ConfirmReceipt)?;
        self.completed_at = Some(ch.at);
        self.receipt_clock = None;
        ch.emit(EventBody::ReceiptConfirmed);
        if self.coverage.kind == CoverageType::PreShipment {
            self.coverage.ended_at = Some(ch.at);
            self.release_reservation(ch);
        }
        Ok(())
    }

    /// The buyer extends the time to confirm receipt by
    /// `receipt_extension_days`, at most twice.
    pub fn extend_receipt(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::ExtendReceipt, &[Party::Buyer])?;
        let Some(clock) = self
            .receipt_clock
            .filter(|_| self.status == OrderStatus::AwaitingReceiptConfirmation)
        else {
            return Err(self.wrong_status(Action::ExtendReceipt));
        };
        if clock.extensions >= MAX_RECEIPT_EXTENSIONS {
            return Err(Rule::NoExtensionsLeft(MAX_RECEIPT_EXTENSIONS).into());
        }
        self.change(actor, now, |o, ch| {
            let timer = clock.timer.extend(o.clocks.receipt_extension_days);
            o.receipt_clock = Some(ReceiptClock {
                timer,
                extensions: clock.extensions + 1,
                notice_sent: false,
            });
            let due = match timer {
                Timer::Running(due) => due,
                Timer::Paused(left) => now + chrono::TimeDelta::seconds(left),
            };
            ch.emit(EventBody::ReceiptExtended { due });
            Ok(())
        })
    }

    /// The buyer leaves feedback once, within 60 days of completion.
    pub fn leave_feedback(
        &mut self,
        caller: &Caller,
        rating: Rating,
        comment: LongText,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::LeaveFeedback, &[Party::Buyer])?;
        let Some(completed_at) = self.completed_at else {
            return Err(self.wrong_status(Action::LeaveFeedback));
        };
        if self.feedback.is_some() {
            return Err(Conflict::FeedbackAlreadyLeft.into());
        }
        if now > plus_days(completed_at, FEEDBACK_WINDOW_DAYS) {
            return Err(Rule::FeedbackWindowClosed.into());
        }
        self.change(actor, now, |o, ch| {
            o.feedback = Some(Feedback {
                rating,
                comment,
                at: now,
            });
            ch.emit(EventBody::FeedbackLeft {
                supplier_id: o.supplier_id.clone(),
                rating,
            });
            Ok(())
        })
    }

    // ---- disputes ------------------------------------------------------------

    /// A refund must be positive, within what is left of the covered amount
    /// (across every dispute of the order) and within what was paid.
    fn check_refund_caps(&self, amount: Usd) -> Result<(), OrderError> {
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
    fn resolve_dispute(
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

    fn escalate(&mut self, ground: crate::dispute::EscalationGround, ch: &mut Change) {
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
