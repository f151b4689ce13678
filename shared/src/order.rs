//! The order aggregate: the contract, its coverage, payments, shipment,
//! receipt, feedback, disputes and refunds, with every command of the
//! lifecycle. Each command checks in the order 404 → 403 → 409 → 422, works
//! on a draft copy (so a refused command changes nothing), moves the status
//! only along [`crate::status::TRANSITIONS`], bumps `version` once and
//! returns the domain events it caused.

use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Caller, Party, Provider, Role};
use crate::calendar::{Timestamp, minus_hours, plus_days};
use crate::contract::Terms;
use crate::coverage::{AssuranceLimit, CoverageType, covered_amount, quality_window_end};
use crate::deadline::{Deadline, DeadlineKind};
use crate::dispute::{
    Decision, Dispute, DisputeEntry, DisputeOutcome, DisputePolicy, DisputeReason, DisputeStatus,
    EntryKind, MAX_EVIDENCE, ResponseAction,
};
use crate::error::{Conflict, OrderError, Rule};
use crate::event::{CancelReason, DomainEvent, EventBody, FlagResolution};
use crate::feedback::{FEEDBACK_WINDOW_DAYS, Feedback, Rating};
use crate::ids::{OrderId, PaymentId, RefundId, UserId};
use crate::money::Usd;
use crate::payment::{
    Flag, FlagReason, Payment, PaymentContext, PaymentMethod, PaymentSignal, PaymentStatus,
    SignalOutcome, Stage, WireInstructions, check_eligibility,
};
use crate::refund::{RefundPart, RefundStatus, split_newest_first};
use crate::status::{Action, OrderStatus, is_allowed};
use crate::text::{DocumentRef, LongText, ShortText};

/// A confirmed order with no payment in flight is cancelled after this many
/// days.
pub const UNPAID_CANCELLATION_DAYS: u32 = 30;
/// `shipped_at` may be at most this many hours in the past.
pub const SHIPPED_AT_MAX_BACKDATE_HOURS: u32 = 72;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    id: OrderId,
    buyer_id: UserId,
    supplier_id: UserId,
    created_by: Party,
    terms: Terms,
    status: OrderStatus,
    version: u64,
    confirmations: Confirmations,
    coverage: Coverage,
    payments: Vec<Payment>,
    shipment: Option<Shipment>,
    completed_at: Option<Timestamp>,
    feedback: Option<Feedback>,
    dispute: Option<Dispute>,
    past_disputes: Vec<Dispute>,
    refunds: Vec<RefundPart>,
    confirmed_at: Option<Timestamp>,
    /// Start of the 30-day clock: confirmation, or the last failed payment.
    unpaid_since: Option<Timestamp>,
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
        let fee_refunded = self
            .past_disputes
            .iter()
            .chain(self.dispute.as_ref())
            .filter_map(|d| d.inspection_fee_refund)
            .fold(Usd::ZERO, |acc, f| acc.checked_add(f).unwrap_or(Usd::MAX));
        held.saturating_sub(fees.saturating_sub(fee_refunded))
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
    /// days after customs clearance.
    pub fn quality_window_end(&self) -> Option<Timestamp> {
        match (self.coverage.kind, &self.shipment) {
            (CoverageType::PostDelivery, Some(s)) => {
                Some(quality_window_end(s.shipped_at, s.customs_cleared_at))
            }
            _ => None,
        }
    }

    /// Every running deadline, soonest first.
    pub fn deadlines(&self) -> Vec<Deadline> {
        use OrderStatus as S;
        let mut out = Vec::new();
        let mut add = |kind, due, payment_id| {
            out.push(Deadline {
                kind,
                due,
                payment_id,
            })
        };
        if matches!(
            self.status,
            S::AwaitingConfirmation
                | S::AwaitingInitialPayment
                | S::InitialPaymentProcessing
                | S::AwaitingShipment
        ) {
            add(DeadlineKind::ShipBy, self.terms.ship_by_deadline(), None);
        }
        if let Some(due) = self.unpaid_cancellation_due() {
            add(DeadlineKind::UnpaidCancellation, due, None);
        }
        for p in self.payments.iter().filter(|p| p.status.in_flight()) {
            add(
                DeadlineKind::PaymentExpectedBy,
                p.expected_arrival.overdue_after(),
                Some(p.id.clone()),
            );
        }
        if let Some(d) = self.open_dispute() {
            if d.status != DisputeStatus::Escalated {
                if d.supplier_responded_at.is_none() {
                    add(
                        DeadlineKind::SupplierResponseDue,
                        d.supplier_response_due,
                        None,
                    );
                }
                add(DeadlineKind::EscalationDue, d.resolution_due, None);
            }
        }
        if !self.coverage.reserved.is_zero() {
            if let Some(end) = self.quality_window_end() {
                add(DeadlineKind::QualityWindowEnd, end, None);
            }
        }
        if let (Some(done), None) = (self.completed_at, &self.feedback) {
            add(
                DeadlineKind::FeedbackWindowEnd,
                plus_days(done, FEEDBACK_WINDOW_DAYS),
                None,
            );
        }
        out.sort_by_key(|d| (d.due, d.kind));
        out
    }

    /// The next instant the scheduled sweep has work on this order, if any:
    /// what a sparse "due" index is keyed by.
    pub fn next_sweep_due(&self) -> Option<Timestamp> {
        let mut due: Vec<Timestamp> = Vec::new();
        if let Some(t) = self.unpaid_cancellation_due() {
            due.push(t);
        }
        for p in self.payments.iter() {
            if p.status.in_flight() && !p.overdue_reported {
                due.push(p.expected_arrival.overdue_after());
            }
        }
        if let Some(t) = self.open_dispute().and_then(Dispute::next_escalation_check) {
            due.push(t);
        }
        if !self.coverage.reserved.is_zero() && self.status != OrderStatus::RefundPending {
            // Coverage has ended once its last instant has passed.
            if let Some(t) = self.coverage_end() {
                due.push(t + chrono::TimeDelta::seconds(1));
            }
        }
        due.into_iter().min()
    }

    fn unpaid_cancellation_due(&self) -> Option<Timestamp> {
        if self.status == OrderStatus::AwaitingInitialPayment && !self.payment_in_flight() {
            self.unpaid_since
                .map(|t| plus_days(t, UNPAID_CANCELLATION_DAYS))
        } else {
            None
        }
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
            A::DecideDispute | A::ResolvePayment => {
                return self.require_arbiter(caller, action).map(|_| ());
            }
            A::PayInitial
            | A::PayBalance
            | A::ConfirmReceipt
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

    fn require_arbiter(&self, caller: &Caller, action: Action) -> Result<Actor, OrderError> {
        let (party, actor) = self.position(caller).ok_or(OrderError::NotFound)?;
        match (party, caller.has(Role::Arbiter)) {
            (None, true) => Ok(actor),
            // A party who is also an arbiter may not decide their own order.
            _ => Err(OrderError::Forbidden {
                action,
                allowed: "arbiter",
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
            },
            status: OrderStatus::AwaitingConfirmation,
            version: 1,
            confirmations,
            payments: Vec::new(),
            shipment: None,
            completed_at: None,
            feedback: None,
            dispute: None,
            past_disputes: Vec::new(),
            refunds: Vec::new(),
            confirmed_at: None,
            unpaid_since: None,
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
            o.unpaid_since = Some(now);
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
    /// change to the order or its version.
    pub fn remind(&self, caller: &Caller, now: Timestamp) -> Result<Vec<DomainEvent>, OrderError> {
        let (party, actor) =
            self.require_party(caller, Action::Remind, &[Party::Buyer, Party::Supplier])?;
        if self.status != OrderStatus::AwaitingConfirmation {
            return Err(self.wrong_status(Action::Remind));
        }
        if self.confirmations.of(party.other()).is_some() {
            return Err(Conflict::NothingToRemind.into());
        }
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
            o.move_to(OrderStatus::Cancelled, Action::Cancel)?;
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
        };
        self.change(actor, now, |o, ch| {
            o.move_to(next, action)?;
            o.unpaid_since = None;
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
            if let Some(r) = &report.provider_reference {
                if o.payments[index].provider_reference.is_none() {
                    o.payments[index].provider_reference = Some(r.chars().take(200).collect());
                }
            }
            match o.payments[index].status.on(report.signal) {
                SignalOutcome::Ignore => Ok(()),
                SignalOutcome::Contradiction => {
                    o.flag_payment(index, FlagReason::ContradictsFinalStatus, ch);
                    Ok(())
                }
                SignalOutcome::Move(PaymentStatus::Processing) => {
                    let p = &mut o.payments[index];
                    p.status = PaymentStatus::Processing;
                    if report.signal == PaymentSignal::AgreementCompleted {
                        p.agreement_completed_at = Some(now);
                        p.expected_arrival = p.method.kind().arrival_window(now);
                    }
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
                SignalOutcome::Move(_) => o.payment_failed(index, ch),
            }
        })
    }

    fn flag_payment(&mut self, index: usize, reason: FlagReason, ch: &mut Change) {
        let p = &mut self.payments[index];
        // A flag already raised for the same reason stays as it is; money
        // that arrived on a closed order stays flagged as such (it decides
        // how an arbiter's resolution treats the payment), whatever else
        // arrives later.
        if p.flag
            .as_ref()
            .is_some_and(|f| f.reason == reason || f.reason == FlagReason::ClosedOrder)
        {
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
        let closed = matches!(
            self.status,
            OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::RefundPending
        );
        let p = &mut self.payments[index];
        p.status = PaymentStatus::Succeeded;
        p.settled_at = Some(ch.at);
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
        let action = Action::PaymentSucceeded;
        match (stage, self.status) {
            (Stage::Initial, OrderStatus::InitialPaymentProcessing) => {
                self.move_to(OrderStatus::AwaitingShipment, action)
            }
            (Stage::Balance, OrderStatus::BalancePaymentProcessing) => {
                self.move_to(OrderStatus::AwaitingReceiptConfirmation, action)
            }
            _ => Ok(()),
        }
    }

    /// Payment `index` failed: the stage is unpaid again; Pay Later credit
    /// goes back to the line.
    fn payment_failed(&mut self, index: usize, ch: &mut Change) -> Result<(), OrderError> {
        let p = &mut self.payments[index];
        p.status = PaymentStatus::Failed;
        p.settled_at = Some(ch.at);
        let held = std::mem::replace(&mut p.credit_held, Usd::ZERO);
        let (id, stage) = (p.id.clone(), p.stage);
        ch.emit(EventBody::PaymentFailed {
            payment_id: id.clone(),
            stage,
        });
        if !held.is_zero() {
            ch.emit(EventBody::CreditReleased {
                buyer_id: self.buyer_id.clone(),
                payment_id: id,
                amount: held,
            });
        }
        self.stage_unpaid(stage, ch.at)
    }

    fn stage_unpaid(&mut self, stage: Stage, now: Timestamp) -> Result<(), OrderError> {
        let action = Action::PaymentFailed;
        match (stage, self.status) {
            (Stage::Initial, OrderStatus::InitialPaymentProcessing) => {
                self.unpaid_since = Some(now);
                self.move_to(OrderStatus::AwaitingInitialPayment, action)
            }
            (Stage::Balance, OrderStatus::BalancePaymentProcessing) => {
                self.move_to(OrderStatus::Shipped, action)
            }
            _ => Ok(()),
        }
    }

    /// An arbiter resolves a flagged payment: accept it as paid (a payment
    /// still in flight succeeds; a succeeded one is confirmed), or refund it
    /// (money held on a payment not applied to the order is returned and the
    /// stage is unpaid again). A payment on a closed order is refunded
    /// automatically; resolving only acknowledges it.
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
        self.change(actor, now, |o, ch| {
            o.payments[index].flag = None;
            ch.emit(EventBody::PaymentFlagResolved {
                payment_id: payment_id.clone(),
                resolution,
            });
            if flag.reason == FlagReason::ClosedOrder {
                return Ok(());
            }
            match (resolution, status) {
                (FlagResolution::Accept, s) if s.in_flight() => o.payment_succeeded(index, ch),
                (FlagResolution::Accept, PaymentStatus::Succeeded) => Ok(()),
                (FlagResolution::Accept, _) => Err(Conflict::CannotResolve("accepted").into()),
                (FlagResolution::Refund, s) if s.in_flight() || s == PaymentStatus::Failed => {
                    let p = &mut o.payments[index];
                    p.status = PaymentStatus::Succeeded;
                    p.settled_at = Some(now);
                    let (id, amount, stage) = (p.id.clone(), p.amount, p.stage);
                    o.request_refund_parts(&[(id, amount)], ch);
                    if s.in_flight() {
                        o.stage_unpaid(stage, now)?;
                    }
                    Ok(())
                }
                (FlagResolution::Refund, _) => Err(Conflict::CannotResolve("refunded").into()),
            }
        })
    }

    /// Scheduler: flag payments not arrived by the end of their latest
    /// expected date (once each).
    fn flag_overdue(&mut self, ch: &mut Change) {
        for index in 0..self.payments.len() {
            let p = &self.payments[index];
            if p.status.in_flight()
                && !p.overdue_reported
                && ch.at > p.expected_arrival.overdue_after()
            {
                let id = p.id.clone();
                self.payments[index].overdue_reported = true;
                ch.emit(EventBody::PaymentOverdue { payment_id: id });
                if self.payments[index].flag.is_none() {
                    self.flag_payment(index, FlagReason::Overdue, ch);
                }
            }
        }
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
                requested_at: ch.at,
                settled_at: None,
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

    /// A dispute ended with `refund` (+ `inspection_fee` outside the cap):
    /// the order is refund_pending and the total is requested across the
    /// succeeded payments, newest first.
    fn start_refund(
        &mut self,
        refund: Usd,
        inspection_fee: Usd,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
        let total = refund.checked_add(inspection_fee)?;
        let (parts, unplaced) = split_newest_first(&self.payments, total);
        if !unplaced.is_zero() {
            return Err(Rule::RefundExceedsPaid(self.amount_paid()).into());
        }
        self.move_to(OrderStatus::RefundPending, Action::DisputeRefund)?;
        self.request_refund_parts(&parts, ch);
        Ok(())
    }

    /// Apply what a provider reported about a refund part. A success settles
    /// it (Pay Later money goes back to the loan); a failure flags it and
    /// requests it again. When every part has settled, a refund_pending
    /// order is refunded and its reservation released.
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
                if !part.flagged {
                    let refund_id = part.id.clone();
                    o.refunds[index].flagged = true;
                    ch.emit(EventBody::RefundFlagged { refund_id });
                }
                return Ok(());
            }
            if !report.succeeded {
                let part = &mut o.refunds[index];
                part.flagged = true;
                part.attempts += 1;
                ch.emit(EventBody::RefundFailed {
                    refund_id: part.id.clone(),
                });
                ch.emit(EventBody::RefundRequested {
                    refund_id: part.id.clone(),
                    payment_id: part.payment_id.clone(),
                    provider: part.provider,
                    amount: part.amount,
                    attempt: part.attempts,
                });
                return Ok(());
            }
            let part = &mut o.refunds[index];
            part.status = RefundStatus::Succeeded;
            part.flagged = false;
            part.settled_at = Some(now);
            let (refund_id, payment_id, amount) =
                (part.id.clone(), part.payment_id.clone(), part.amount);
            ch.emit(EventBody::RefundSucceeded { refund_id, amount });
            if let Some(p) = o.payments.iter_mut().find(|p| p.id == payment_id) {
                p.refunded = p.refunded.checked_add(amount)?;
                p.status = PaymentStatus::Refunded;
                // Money returned to the loan frees the credit it used, once.
                let release = amount.min(p.credit_held);
                p.credit_held = p.credit_held.saturating_sub(release);
                if !release.is_zero() {
                    ch.emit(EventBody::CreditReleased {
                        buyer_id: o.buyer_id.clone(),
                        payment_id,
                        amount: release,
                    });
                }
            }
            let all_settled = o
                .refunds
                .iter()
                .all(|r| r.status == RefundStatus::Succeeded);
            if o.status == OrderStatus::RefundPending && all_settled {
                o.move_to(OrderStatus::Refunded, Action::RefundSettled)?;
                ch.emit(EventBody::OrderRefunded {
                    refunded: o.amount_refunded(),
                });
                o.release_reservation(ch);
            }
            Ok(())
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
        let late = shipped_at > self.terms.ship_by_deadline();
        self.change(actor, now, |o, ch| {
            o.shipment = Some(Shipment {
                carrier: details.carrier,
                tracking_number: details.tracking_number,
                shipped_at,
                late,
                customs_cleared_at: None,
                delivered_at: None,
            });
            let next = if o.terms.balance().is_zero() {
                OrderStatus::AwaitingReceiptConfirmation
            } else {
                OrderStatus::Shipped
            };
            o.move_to(next, Action::Ship)?;
            ch.emit(EventBody::OrderShipped { shipped_at, late });
            Ok(())
        })
    }

    /// Either party records when the goods cleared customs (once); the
    /// buyer records when they were delivered (once). Neither before the
    /// shipment nor in the future.
    pub fn record_delivery(
        &mut self,
        caller: &Caller,
        customs_cleared_at: Option<Timestamp>,
        delivered_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let allowed: &[Party] = if delivered_at.is_some() {
            &[Party::Buyer]
        } else {
            &[Party::Buyer, Party::Supplier]
        };
        let (_, actor) = self.require_party(caller, Action::RecordDelivery, allowed)?;
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
        self.change(actor, now, |o, ch| {
            o.move_to(OrderStatus::Completed, Action::ConfirmReceipt)?;
            o.completed_at = Some(now);
            ch.emit(EventBody::ReceiptConfirmed);
            if o.coverage.kind == CoverageType::PreShipment {
                o.coverage.ended_at = Some(now);
                o.release_reservation(ch);
            }
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

    fn check_refund_caps(&self, amount: Usd) -> Result<(), OrderError> {
        if amount.is_zero() {
            return Err(Rule::RefundNotPositive.into());
        }
        let covered = self.coverage.covered_amount.unwrap_or(Usd::ZERO);
        if amount > covered {
            return Err(Rule::RefundExceedsCovered(covered).into());
        }
        let paid = self.amount_paid();
        if amount > paid {
            return Err(Rule::RefundExceedsPaid(paid).into());
        }
        Ok(())
    }

    /// The buyer opens a dispute: once the initial payment has arrived, one
    /// at a time, on grounds that apply now, for a refund ≤ covered amount
    /// and ≤ amount paid.
    pub fn open_dispute_with(
        &mut self,
        caller: &Caller,
        open: OpenDispute,
        policy: DisputePolicy,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        use OrderStatus as S;
        let (_, actor) = self.require_party(caller, Action::OpenDispute, &[Party::Buyer])?;
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
        if open.evidence.len() > MAX_EVIDENCE {
            return Err(Rule::TooMuchEvidence(MAX_EVIDENCE).into());
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
            };
            o.dispute = Some(Dispute::new(
                open.reason,
                open.requested_refund,
                open.description,
                entry,
                policy,
            ));
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
    /// the dispute with a refund.
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
            _ => None,
        };
        let evidence_total = self.dispute_evidence_count() + response.evidence.len();
        if evidence_total > MAX_EVIDENCE {
            return Err(Rule::TooMuchEvidence(MAX_EVIDENCE).into());
        }
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
            });
            match (party, response.action) {
                (_, ResponseAction::Offer(a)) => {
                    d.pending_offer = Some(a);
                    d.status = DisputeStatus::Negotiating;
                }
                (Party::Supplier, ResponseAction::Reject) => {
                    d.supplier_rejected = true;
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

    fn dispute_evidence_count(&self) -> usize {
        self.dispute
            .as_ref()
            .map_or(0, |d| d.entries.iter().map(|e| e.evidence.len()).sum())
    }

    fn resolve_dispute(
        &mut self,
        outcome: DisputeOutcome,
        refund: Option<Usd>,
        inspection_fee: Usd,
        ch: &mut Change,
    ) -> Result<(), OrderError> {
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
            self.start_refund(amount, inspection_fee, ch)?;
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
            });
            ch.emit(EventBody::DisputeEscalated { ground });
        }
    }

    /// An arbiter decides an escalated dispute: the supplier at fault with a
    /// refund (≤ covered, ≤ paid; in a quality dispute the paid inspection
    /// fee is refunded on top), or the claim rejected and the order goes on.
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
                    let fee = if reason == DisputeReason::Quality {
                        o.inspection_fee_paid()
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
                });
            }
            o.resolve_dispute(outcome, refund, fee, ch)
        })
    }

    // ---- the scheduler ---------------------------------------------------------

    /// Everything the scheduled sweep does to this order at `now`: escalate
    /// a stale dispute, flag overdue payments, cancel an order unpaid for 30
    /// days, release a reservation whose coverage has ended. Nothing due →
    /// no events and no change, so running it twice is harmless.
    pub fn sweep(&mut self, now: Timestamp) -> Result<Vec<DomainEvent>, OrderError> {
        self.change(Actor::Scheduler, now, |o, ch| {
            if let Some(ground) = o
                .open_dispute()
                .and_then(|d| d.escalation_ground(now))
                .filter(|g| g.is_time_based())
            {
                o.escalate(ground, ch);
            }
            o.flag_overdue(ch);
            if o.unpaid_cancellation_due().is_some_and(|due| now >= due) {
                o.move_to(OrderStatus::Cancelled, Action::CancelUnpaid)?;
                ch.emit(EventBody::OrderCancelled {
                    reason: CancelReason::Unpaid,
                });
                o.release_reservation(ch);
            }
            // The quality window includes its last instant (a dispute may still
            // be opened then), so coverage has ended only after it.
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
}
