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

mod attention;
mod bounds;
mod command;
mod contract;
mod disputes;
mod payments;
mod provider;
mod refunds;
mod shipment;
mod sweep;

pub use attention::{AttentionKind, FlagSubject, OpenFlag};
pub use command::{Command, Context, Needs};

use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Caller, Party, Role};
use crate::calendar::Timestamp;
use crate::clocks::Clocks;
use crate::contract::Terms;
use crate::coverage::{CoverageType, quality_window_end};
use crate::deadline::Timer;
use crate::dispute::{Dispute, DisputeReason, DisputeStatus, ResponseAction};
use crate::error::{OrderError, Rule};
use crate::event::{DomainEvent, EventBody};
use crate::feedback::Feedback;
use crate::ids::{OrderId, PaymentId, RefundId, UserId};
use crate::money::Usd;
use crate::payment::{FlagReason, Payment, PaymentMethod, PaymentSignal, PaymentStatus, Stage};
use crate::refund::{RefundPart, RefundStatus};
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
                correlation_id: None,
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
}
