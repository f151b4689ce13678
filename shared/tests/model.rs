//! Model-based test of the order aggregate (`proptest-state-machine`).
//!
//! A deliberately small reference model of one order — its status, version,
//! confirmations, the amounts due per stage, every payment with the set of
//! payments whose money was applied to the order, the covered and reserved
//! amounts, shipment, the dispute, the refund parts and the Pay Later credit
//! it holds — is run side by side with the real [`Order`] over generated
//! sequences of transitions: every command the aggregate takes, by every
//! kind of caller (the right one and the wrong ones), in any status, with
//! provider reports duplicated, out of order, for the wrong provider,
//! amount or currency, the scheduled sweep, and time moving on.
//!
//! The model states each command's rules as a list of refusals, grouped by
//! kind: first who the caller is (404 not theirs, 403 not their action),
//! then the state (409) and the business rules (422); a command is refused
//! with the first kind any of its rules gives. After every step the real
//! aggregate must agree with the model:
//!
//! * refused (with the same [`ErrorKind`]) vs accepted; a refused command,
//!   and an accepted one that emits nothing (a duplicate or older report, a
//!   sweep with nothing due) leaves the order exactly as it was; an accepted
//!   change bumps the version by exactly one and the history (the events
//!   returned) grows only then; a reminder adds history, not a version;
//! * status, version, confirmations, covered and reserved amounts (also on
//!   the supplier's limit), the Pay Later credit held (also on the buyer's
//!   credit line), every payment (status, flag, amounts asked back and
//!   returned), the money kept per stage, `amount_paid`, every refund part,
//!   `amount_refunded`, the shipment, completion, feedback and the dispute;
//! * money invariants that hold whatever the model says: no payment is
//!   asked back more than its amount, nor returned more than was asked; what
//!   is kept per stage never exceeds what is due for it and at most one
//!   payment per stage holds money (no doubled payment); refunds never
//!   exceed what arrived; the reservation never exceeds the covered amount.
//!
//! `tests/properties.rs` checks invariants over several orders sharing a
//! limit (races on the reservation); this test checks that each single step
//! does exactly what the rules say. Concurrency reaches the domain only as
//! the version a counterparty confirms (stale versions are generated) and
//! the version every accepted change bumps by one, which the stores use for
//! their conditional writes (their races are tested with the adapters).
//!
//! The run is deterministic: 1024 cases of 30–90 steps from a fixed seed,
//! with its own configuration whatever `PROPTEST_*` says (`MODEL_CASES` and
//! `MODEL_SEED` ask for a longer or another search). Its figures (cases,
//! steps, accepted and refused per kind of step, the statuses, dispute
//! outcomes and payment flags reached) are recorded at the end
//! (`tests/figures.rs`: printed, and kept for `make test`'s summary). A failure is shrunk and reported with its
//! initial state and the minimal transition sequence. Three scenarios at
//! the end replay fixed sequences through the same comparison.

#[path = "../../tests/figures.rs"]
mod figures;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestError, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use domain::actor::{Caller, Party, Provider, Role};
use domain::calendar::Timestamp;
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, Terms, TermsDraft,
};
use domain::coverage::{AssuranceLimit, CoverageType, ReceivingAccount};
use domain::dispute::{
    Decision, DisputeOutcome, DisputePolicy, DisputeReason, DisputeStatus, ResponseAction,
};
use domain::error::ErrorKind;
use domain::event::{DomainEvent, EventBody, FlagResolution};
use domain::feedback::Rating;
use domain::ids::{ApplicationId, OrderId, PaymentId, RefundId, UserId};
use domain::order::{
    Counterparty, DisputeResponse, NewOrder, OpenDispute, PaymentReport, PaymentRequest,
    RefundReport, ShipmentDetails,
};
use domain::payment::{
    AccountType, CardBrand, CreditLine, CreditLineStatus, FlagReason, MethodKind, PaymentContext,
    PaymentMethod, PaymentSignal, PaymentStatus, Stage,
};
use domain::refund::RefundStatus;
use domain::status::OrderStatus;
use domain::text::{CountryCode, DocumentRef, LongText, Sha256Hex, ShortText, Text};
use domain::{Order, OrderError, Usd};

// ---- the run ------------------------------------------------------------------

const CASES: u32 = 1024;
const MIN_STEPS: usize = 30;
const MAX_STEPS: usize = 90;
const SEED: u64 = 0x7a_2026_0bde;

const BUYER: &str = "b-1";
const SUPPLIER: &str = "s-1";
const ARBITER: &str = "arb-1";
const STRANGER: &str = "x-1";

/// Card payments are capped at US $20,000 a transaction (in cents).
const CARD_CAP: u64 = 2_000_000;
const MAX_EVIDENCE: usize = 20;

fn base_time() -> Timestamp {
    // A Monday.
    Utc.with_ymd_and_hms(2027, 1, 4, 9, 0, 0)
        .single()
        .expect("valid base time")
}

// ---- small helpers ----------------------------------------------------------

fn usd(cents: u64) -> Usd {
    Usd::from_cents(cents).expect("cents in range")
}

fn uid(s: &str) -> UserId {
    UserId::parse(s).expect("valid user id")
}

fn short(s: &str) -> ShortText {
    ShortText::parse(s).expect("valid short text")
}

fn long(s: &str) -> LongText {
    LongText::parse(s).expect("valid long text")
}

fn evidence(n: usize) -> Vec<DocumentRef> {
    (0..n)
        .map(|i| DocumentRef {
            name: short(&format!("photo {i}")),
            url: Text::parse(&format!("s3://evidence/{i}.jpg")).expect("valid url"),
            sha256: Sha256Hex::parse(&"cd".repeat(32)).expect("valid digest"),
        })
        .collect()
}

fn payment_id(n: usize) -> PaymentId {
    PaymentId::parse(format!("pay_{n}")).expect("valid payment id")
}

fn unknown_payment() -> PaymentId {
    PaymentId::parse("pay_nobody_knows").expect("valid payment id")
}

/// The last second of a day, 23:59:59 UTC (the model's own).
fn end_of(date: NaiveDate) -> Timestamp {
    date.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"))
        .and_utc()
}

/// `n` working days (Monday–Friday) after `day` (the model's own).
fn working_days_after(day: NaiveDate, n: u32) -> NaiveDate {
    let mut d = day;
    let mut left = n;
    while left > 0 {
        d = d.succ_opt().expect("date in range");
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    d
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

// ---- what is generated ---------------------------------------------------------

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Buyer,
    Supplier,
    Arbiter,
    /// Someone with every party role but no part in the order.
    Stranger,
    /// The buyer's id without the buyer group.
    BuyerIdAsSupplier,
    /// The buyer, also in the arbiter group.
    BuyerAlsoArbiter,
}

/// The caller's position on the order, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Party(Party),
    Arbiter,
    Nobody,
}

impl Who {
    fn pos(self) -> Pos {
        match self {
            Who::Buyer | Who::BuyerAlsoArbiter => Pos::Party(Party::Buyer),
            Who::Supplier => Pos::Party(Party::Supplier),
            Who::Arbiter => Pos::Arbiter,
            Who::Stranger | Who::BuyerIdAsSupplier => Pos::Nobody,
        }
    }

    fn caller(self) -> Caller {
        match self {
            Who::Buyer => Caller::new(uid(BUYER), [Role::Buyer]),
            Who::Supplier => Caller::new(uid(SUPPLIER), [Role::Supplier]),
            Who::Arbiter => Caller::new(uid(ARBITER), [Role::Arbiter]),
            Who::Stranger => Caller::new(uid(STRANGER), [Role::Buyer, Role::Supplier]),
            Who::BuyerIdAsSupplier => Caller::new(uid(BUYER), [Role::Supplier]),
            Who::BuyerAlsoArbiter => Caller::new(uid(BUYER), [Role::Buyer, Role::Arbiter]),
        }
    }

    fn of(party: Party) -> Who {
        match party {
            Party::Buyer => Who::Buyer,
            Party::Supplier => Who::Supplier,
        }
    }
}

#[derive(Debug, Clone)]
struct TermsSpec {
    /// (quantity, unit price in cents)
    items: Vec<(u32, u64)>,
    shipping: u64,
    /// initial = max(1 cent, total × ‰ / 1000); 1000 means no balance.
    initial_permille: u64,
    /// Days from "now" to the ship-by date (negative: in the past).
    ship_by_days: i64,
    coverage: CoverageType,
    inspection: Option<InspectionLocation>,
}

impl TermsSpec {
    fn total(&self) -> u64 {
        self.shipping
            + self
                .items
                .iter()
                .map(|&(q, u)| u64::from(q) * u)
                .sum::<u64>()
    }

    fn initial(&self) -> u64 {
        (self.total() * self.initial_permille / 1000).max(1)
    }

    fn fee(&self) -> u64 {
        match self.inspection {
            None => 0,
            Some(InspectionLocation::China) => 20_000,
            Some(InspectionLocation::Overseas) => 30_000,
        }
    }

    fn ship_by(&self, now: Timestamp) -> NaiveDate {
        (now + days(self.ship_by_days)).date_naive()
    }

    fn build(&self, now: Timestamp) -> Terms {
        Terms::new(TermsDraft {
            items: self
                .items
                .iter()
                .enumerate()
                .map(|(i, &(quantity, unit))| LineItem {
                    description: short(&format!("item {i}")),
                    quantity,
                    unit_price: usd(unit),
                })
                .collect(),
            shipping_fee: usd(self.shipping),
            initial_payment: usd(self.initial()),
            ship_by: self.ship_by(now),
            quality_terms: long("as per the approved sample"),
            destination_country: CountryCode::US,
            coverage: self.coverage,
            inspection: self.inspection.map(|location| Inspection {
                agency: InspectionAgency::Sgs,
                location,
            }),
            contract_document: None,
        })
        .expect("generated terms are valid")
    }
}

#[derive(Debug, Clone, Copy)]
enum VersionPick {
    Right,
    Older,
    Newer,
}

#[derive(Debug, Clone, Copy)]
enum MethodSpec {
    ECheck { us: bool, checking: bool },
    Card { brand: u8 },
    Tt,
    PayLater { term: u32 },
}

impl MethodSpec {
    fn method(self) -> PaymentMethod {
        match self {
            MethodSpec::ECheck { us, checking } => PaymentMethod::ECheck {
                bank_country: if us { CountryCode::US } else { CountryCode::CN },
                account_type: if checking {
                    AccountType::Checking
                } else {
                    AccountType::Savings
                },
            },
            MethodSpec::Card { brand } => PaymentMethod::CreditCard {
                card_brand: match brand {
                    0 => CardBrand::Visa,
                    1 => CardBrand::Mastercard,
                    _ => CardBrand::parse("amex"),
                },
            },
            MethodSpec::Tt => PaymentMethod::TelegraphicTransfer,
            MethodSpec::PayLater { term } => PaymentMethod::PayLater { term_months: term },
        }
    }

    fn kind(self) -> MethodKind {
        match self {
            MethodSpec::ECheck { .. } => MethodKind::ECheck,
            MethodSpec::Card { .. } => MethodKind::CreditCard,
            MethodSpec::Tt => MethodKind::TelegraphicTransfer,
            MethodSpec::PayLater { .. } => MethodKind::PayLater,
        }
    }
}

/// Which payment or refund part a report or resolution is about: the
/// `n`-th newest (modulo how many there are), or one the order never had.
#[derive(Debug, Clone, Copy)]
enum Target {
    FromEnd(usize),
    Unknown,
}

impl Target {
    fn index(self, len: usize) -> Option<usize> {
        match self {
            Target::FromEnd(n) if len > 0 => Some(len - 1 - n % len),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum ProviderPick {
    Right,
    Other(u8),
}

impl ProviderPick {
    fn pick(self, right: Provider) -> Provider {
        match self {
            ProviderPick::Right => right,
            ProviderPick::Other(k) => {
                let i = Provider::ALL
                    .iter()
                    .position(|p| *p == right)
                    .expect("known provider");
                Provider::ALL[(i + 1 + usize::from(k % 3)) % Provider::ALL.len()]
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum AmountPick {
    Right,
    /// The right amount plus this many cents.
    Off(u64),
    Missing,
}

impl AmountPick {
    fn pick(self, right: u64) -> Option<u64> {
        match self {
            AmountPick::Right => Some(right),
            AmountPick::Off(c) => Some(right + c),
            AmountPick::Missing => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CurrencyPick {
    Usd,
    Eur,
    LowerUsd,
}

impl CurrencyPick {
    fn code(self) -> &'static str {
        match self {
            CurrencyPick::Usd => "USD",
            CurrencyPick::Eur => "EUR",
            CurrencyPick::LowerUsd => "usd",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum RespondPick {
    Accept,
    /// A counter-offer, in cents.
    Offer(u64),
    Reject,
    Comment,
}

/// One transition: a command, a provider's report, the sweep or the clock.
#[derive(Debug, Clone)]
enum Step {
    Amend {
        who: Who,
        terms: TermsSpec,
    },
    Confirm {
        who: Who,
        version: VersionPick,
    },
    Remind {
        who: Who,
    },
    Cancel {
        who: Who,
    },
    Pay {
        who: Who,
        stage: Stage,
        method: MethodSpec,
        /// Reuse the newest payment's id (a client retrying with a stale id).
        reuse_id: bool,
    },
    PaymentReport {
        target: Target,
        signal: PaymentSignal,
        provider: ProviderPick,
        amount: AmountPick,
        currency: CurrencyPick,
    },
    Ship {
        who: Who,
        /// `shipped_at` this many hours before now (0: default now;
        /// negative: in the future).
        back_hours: i64,
    },
    Delivery {
        who: Who,
        customs_back_hours: Option<i64>,
        delivered_back_hours: Option<i64>,
    },
    Receipt {
        who: Who,
    },
    Feedback {
        who: Who,
        rating: u8,
    },
    OpenDispute {
        who: Who,
        reason: DisputeReason,
        /// Requested refund in cents.
        amount: u64,
        evidence: usize,
    },
    Respond {
        who: Who,
        action: RespondPick,
        message: bool,
        evidence: usize,
    },
    Withdraw {
        who: Who,
    },
    Escalate {
        who: Who,
    },
    Decide {
        who: Who,
        /// `Some(cents)`: supplier at fault with that refund.
        at_fault: Option<u64>,
    },
    RefundReport {
        target: Target,
        succeeded: bool,
        provider: ProviderPick,
        amount: AmountPick,
    },
    Resolve {
        who: Who,
        target: Target,
        refund: bool,
    },
    Sweep,
    Advance {
        secs: i64,
    },
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Amend { .. } => "amend",
            Step::Confirm { .. } => "confirm",
            Step::Remind { .. } => "remind",
            Step::Cancel { .. } => "cancel",
            Step::Pay { .. } => "initiate_payment",
            Step::PaymentReport { .. } => "payment_report",
            Step::Ship { .. } => "ship",
            Step::Delivery { .. } => "record_delivery",
            Step::Receipt { .. } => "confirm_receipt",
            Step::Feedback { .. } => "leave_feedback",
            Step::OpenDispute { .. } => "open_dispute",
            Step::Respond { .. } => "respond_dispute",
            Step::Withdraw { .. } => "withdraw_dispute",
            Step::Escalate { .. } => "escalate_dispute",
            Step::Decide { .. } => "decide_dispute",
            Step::RefundReport { .. } => "refund_report",
            Step::Resolve { .. } => "resolve_payment",
            Step::Sweep => "sweep",
            Step::Advance { .. } => "advance_clock",
        }
    }
}

// ---- the reference model ------------------------------------------------------------

/// What a step did (or, for the model, must do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Refused: nothing changes.
    Refused(ErrorKind),
    /// Accepted with nothing to do (a duplicate, an older report, a sweep
    /// with nothing due): no event, no change.
    Quiet,
    /// Accepted: events, the version + 1.
    Changed,
    /// A reminder: an event, no change to the order or its version.
    Noted,
    /// The clock moved.
    Clock,
}

fn rank(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NotFound => 0,
        ErrorKind::Forbidden => 1,
        ErrorKind::Conflict => 2,
        ErrorKind::Unprocessable => 3,
    }
}

/// The refusals of one command: who the caller is comes first (404, 403);
/// then the first kind, in the order 404 → 409 → 422, that any of its
/// rules gives.
#[derive(Default)]
struct Verdict {
    caller: Option<ErrorKind>,
    rest: Option<ErrorKind>,
}

impl Verdict {
    /// A party command: 404 for someone the order is not visible to, 403
    /// for an arbiter or the other party.
    fn parties(&mut self, pos: Pos, allowed: &[Party]) {
        let kind = match pos {
            Pos::Nobody => Some(ErrorKind::NotFound),
            Pos::Party(p) if allowed.contains(&p) => None,
            _ => Some(ErrorKind::Forbidden),
        };
        self.caller = self.caller.or(kind);
    }

    /// An arbiter command: 404 for a stranger, 403 for a party (also one
    /// who is an arbiter too).
    fn arbiter(&mut self, pos: Pos) {
        let kind = match pos {
            Pos::Nobody => Some(ErrorKind::NotFound),
            Pos::Party(_) => Some(ErrorKind::Forbidden),
            Pos::Arbiter => None,
        };
        self.caller = self.caller.or(kind);
    }

    fn forbid(&mut self, cond: bool) {
        if cond {
            self.caller = self.caller.or(Some(ErrorKind::Forbidden));
        }
    }

    fn deny(&mut self, cond: bool, kind: ErrorKind) {
        if cond && self.rest.is_none_or(|k| rank(kind) < rank(k)) {
            self.rest = Some(kind);
        }
    }

    fn conflict(&mut self, cond: bool) {
        self.deny(cond, ErrorKind::Conflict);
    }

    fn rule(&mut self, cond: bool) {
        self.deny(cond, ErrorKind::Unprocessable);
    }

    fn refusal(&self) -> Option<ErrorKind> {
        self.caller.or(self.rest)
    }
}

#[derive(Debug, Clone)]
struct MTerms {
    total: u64,
    initial: u64,
    fee: u64,
    ship_by: NaiveDate,
    coverage: CoverageType,
}

impl MTerms {
    fn of(spec: &TermsSpec, now: Timestamp) -> MTerms {
        MTerms {
            total: spec.total(),
            initial: spec.initial(),
            fee: spec.fee(),
            ship_by: spec.ship_by(now),
            coverage: spec.coverage,
        }
    }

    fn balance(&self) -> u64 {
        self.total - self.initial
    }

    /// What a stage costs: the initial payment carries the inspection fee.
    fn due(&self, stage: Stage) -> u64 {
        match stage {
            Stage::Initial => self.initial + self.fee,
            Stage::Balance => self.balance(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PState {
    AwaitingAgreement,
    Processing,
    Succeeded,
    Failed,
    Refunded,
}

impl PState {
    fn in_flight(self) -> bool {
        matches!(self, PState::AwaitingAgreement | PState::Processing)
    }

    fn real(self) -> PaymentStatus {
        match self {
            PState::AwaitingAgreement => PaymentStatus::AwaitingAgreement,
            PState::Processing => PaymentStatus::Processing,
            PState::Succeeded => PaymentStatus::Succeeded,
            PState::Failed => PaymentStatus::Failed,
            PState::Refunded => PaymentStatus::Refunded,
        }
    }
}

#[derive(Debug, Clone)]
struct MPay {
    stage: Stage,
    kind: MethodKind,
    /// What the provider confirms: the stage amount (+ inspection fee).
    amount: u64,
    inspection_fee: u64,
    state: PState,
    flag: Option<FlagReason>,
    /// Pay Later credit this payment holds on the buyer's line.
    credit_held: u64,
    /// Refund parts requested of it (settled or not).
    asked_back: u64,
    /// Refund parts settled.
    returned: u64,
    overdue_reported: bool,
    /// The last day its money is expected.
    latest: NaiveDate,
}

impl MPay {
    fn provider(&self) -> Provider {
        self.kind.provider()
    }
}

#[derive(Debug, Clone)]
struct MPart {
    payment: usize,
    amount: u64,
    settled: bool,
    flagged: bool,
    attempts: u32,
    /// Part of a dispute's refund (else the return of a whole payment).
    of_dispute: bool,
}

#[derive(Debug, Clone)]
struct MShip {
    at: Timestamp,
    late: bool,
    customs: Option<Timestamp>,
    delivered: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct MDispute {
    reason: DisputeReason,
    status: DisputeStatus,
    outcome: Option<DisputeOutcome>,
    requested: u64,
    response_due: Timestamp,
    resolution_due: Timestamp,
    supplier_responded_at: Option<Timestamp>,
    rejected: bool,
    pending_offer: Option<u64>,
    evidence: usize,
    refund: Option<u64>,
    fee_refund: Option<u64>,
}

impl MDispute {
    fn unresolved(&self) -> bool {
        self.status != DisputeStatus::Resolved
    }

    /// Whether it may be escalated now: `Some(true)` on a passed deadline
    /// (the sweep acts on those by itself), `Some(false)` on a rejection
    /// alone (the buyer may escalate at once), `None` not yet.
    fn escalation_ground(&self, now: Timestamp) -> Option<bool> {
        if !matches!(
            self.status,
            DisputeStatus::Open | DisputeStatus::Negotiating
        ) {
            return None;
        }
        let answered_in_time = self
            .supplier_responded_at
            .is_some_and(|at| at <= self.response_due);
        if (!answered_in_time && now >= self.response_due) || now >= self.resolution_due {
            Some(true)
        } else if self.rejected {
            Some(false)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
struct MCredit {
    status: CreditLineStatus,
    limit: u64,
    reserved: u64,
}

#[derive(Debug, Clone)]
struct Model {
    now: Timestamp,
    // The world around the order.
    limit: u64,
    others_reserved: u64,
    receiving_account: bool,
    credit: MCredit,
    created_by: Party,
    created_with: TermsSpec,
    created_at: Timestamp,
    // The order.
    terms: MTerms,
    status: OrderStatus,
    version: u64,
    /// (buyer, supplier)
    confirmed: (bool, bool),
    covered: Option<u64>,
    reserved: u64,
    coverage_ended_at: Option<Timestamp>,
    unpaid_since: Option<Timestamp>,
    payments: Vec<MPay>,
    /// The payments whose money was applied to the order: a second success
    /// for one of them cannot count twice.
    applied: BTreeSet<usize>,
    shipment: Option<MShip>,
    completed_at: Option<Timestamp>,
    feedback: bool,
    dispute: Option<MDispute>,
    past_disputes: usize,
    /// Inspection fees refunded by disputes.
    fee_refunded: u64,
    parts: Vec<MPart>,
    /// What the last step must have done.
    last: Outcome,
    /// The last provider report, to send again (a duplicate delivery).
    last_report: Option<Step>,
}

impl Model {
    fn confirmed_by(&self, p: Party) -> bool {
        match p {
            Party::Buyer => self.confirmed.0,
            Party::Supplier => self.confirmed.1,
        }
    }

    fn set_confirmed(&mut self, p: Party, v: bool) {
        match p {
            Party::Buyer => self.confirmed.0 = v,
            Party::Supplier => self.confirmed.1 = v,
        }
    }

    fn open_dispute(&self) -> Option<&MDispute> {
        self.dispute.as_ref().filter(|d| d.unresolved())
    }

    fn closed(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::RefundPending
        )
    }

    fn in_flight(&self) -> bool {
        self.payments.iter().any(|p| p.state.in_flight())
    }

    fn ship_by_end(&self) -> Timestamp {
        end_of(self.terms.ship_by)
    }

    /// Money applied to the order and not asked back, per stage.
    fn kept(&self, stage: Stage) -> u64 {
        self.applied
            .iter()
            .map(|&i| &self.payments[i])
            .filter(|p| p.stage == stage)
            .map(|p| p.amount - p.asked_back)
            .sum()
    }

    /// What the buyer has paid for the goods and not asked back: the money
    /// kept, less the inspection fee still held (a fee refunded by a
    /// dispute is not held any more, nor the fee of a payment asked back
    /// whole).
    fn goods_paid(&self) -> u64 {
        let kept = self.kept(Stage::Initial) + self.kept(Stage::Balance);
        let fees: u64 = self
            .applied
            .iter()
            .map(|&i| &self.payments[i])
            .filter(|p| p.amount > p.asked_back)
            .map(|p| p.inspection_fee)
            .sum();
        kept.saturating_sub(fees.saturating_sub(self.fee_refunded))
    }

    fn refund_cap(&self) -> u64 {
        self.covered.unwrap_or(0).min(self.goods_paid())
    }

    fn quality_window_end(&self) -> Option<Timestamp> {
        match (self.terms.coverage, &self.shipment) {
            (CoverageType::PostDelivery, Some(s)) => {
                let by_shipment = s.at + days(180);
                Some(match s.customs {
                    Some(c) => by_shipment.min(c + days(15)),
                    None => by_shipment,
                })
            }
            _ => None,
        }
    }

    fn coverage_end(&self) -> Option<Timestamp> {
        self.coverage_ended_at.or(match self.terms.coverage {
            CoverageType::PreShipment => self.completed_at,
            CoverageType::PostDelivery => self.quality_window_end(),
        })
    }

    fn available_limit(&self) -> u64 {
        self.limit
            .saturating_sub(self.others_reserved + self.reserved)
    }

    fn caps(&self, v: &mut Verdict, amount: u64) {
        v.rule(amount == 0 || amount > self.covered.unwrap_or(0) || amount > self.goods_paid());
    }

    // ---- effects ----

    fn release(&mut self) -> bool {
        if self.reserved == 0 {
            return false;
        }
        self.reserved = 0;
        self.coverage_ended_at.get_or_insert(self.now);
        true
    }

    /// Flag a payment; `false` when it already carries that flag or is
    /// money on a closed order (which stays flagged as such).
    fn flag(&mut self, i: usize, reason: FlagReason) -> bool {
        let p = &mut self.payments[i];
        if matches!(p.flag, Some(f) if f == reason || f == FlagReason::ClosedOrder) {
            return false;
        }
        p.flag = Some(reason);
        true
    }

    fn ask_back(&mut self, i: usize, amount: u64, of_dispute: bool) {
        self.payments[i].asked_back += amount;
        self.parts.push(MPart {
            payment: i,
            amount,
            settled: false,
            flagged: false,
            attempts: 1,
            of_dispute,
        });
    }

    /// The money of payment `i` arrived: applied to an open order (once),
    /// returned whole from a closed one.
    fn arrived(&mut self, i: usize) {
        let p = &mut self.payments[i];
        p.state = PState::Succeeded;
        if p.flag == Some(FlagReason::Overdue) {
            p.flag = None;
        }
        let (stage, amount) = (p.stage, p.amount);
        if self.closed() {
            self.flag(i, FlagReason::ClosedOrder);
            self.ask_back(i, amount, false);
            return;
        }
        assert!(self.applied.insert(i), "model: payment {i} applied twice");
        match (stage, self.status) {
            (Stage::Initial, OrderStatus::InitialPaymentProcessing) => {
                self.status = OrderStatus::AwaitingShipment;
            }
            (Stage::Balance, OrderStatus::BalancePaymentProcessing) => {
                self.status = OrderStatus::AwaitingReceiptConfirmation;
            }
            _ => {}
        }
    }

    /// The stage of a payment no longer in flight is unpaid again.
    fn unpaid_again(&mut self, stage: Stage) {
        match (stage, self.status) {
            (Stage::Initial, OrderStatus::InitialPaymentProcessing) => {
                self.status = OrderStatus::AwaitingInitialPayment;
                self.unpaid_since = Some(self.now);
            }
            (Stage::Balance, OrderStatus::BalancePaymentProcessing) => {
                self.status = OrderStatus::Shipped;
            }
            _ => {}
        }
    }

    fn failed(&mut self, i: usize) {
        let p = &mut self.payments[i];
        p.state = PState::Failed;
        let held = std::mem::take(&mut p.credit_held);
        let stage = p.stage;
        self.credit.reserved -= held;
        self.unpaid_again(stage);
    }

    /// A dispute ends; with a refund, the total (+ any inspection fee) is
    /// asked back of the money kept, newest payment first.
    fn resolve_dispute(&mut self, outcome: DisputeOutcome, refund: Option<u64>, fee: u64) {
        let d = self.dispute.as_mut().expect("an open dispute");
        d.status = DisputeStatus::Resolved;
        d.outcome = Some(outcome);
        d.pending_offer = None;
        d.refund = refund;
        if fee > 0 {
            d.fee_refund = Some(fee);
            self.fee_refunded += fee;
        }
        if let Some(refund) = refund {
            let mut left = refund + fee;
            let newest_first: Vec<usize> = self.applied.iter().rev().copied().collect();
            for i in newest_first {
                let p = &self.payments[i];
                let take = (p.amount - p.asked_back).min(left);
                if take > 0 {
                    self.ask_back(i, take, true);
                    left -= take;
                }
            }
            assert_eq!(left, 0, "model: a refund within the caps always fits");
            self.status = OrderStatus::RefundPending;
        }
    }

    // ---- the commands ----

    /// Apply one step: decide whether it is refused, and if not, what it
    /// changes and whether that emits anything.
    fn apply(&mut self, step: &Step) -> Outcome {
        use OrderStatus as S;
        const BOTH: &[Party] = &[Party::Buyer, Party::Supplier];
        const BUYER_ONLY: &[Party] = &[Party::Buyer];
        const SUPPLIER_ONLY: &[Party] = &[Party::Supplier];
        let now = self.now;
        let mut v = Verdict::default();
        match step {
            Step::Advance { secs } => {
                self.now += TimeDelta::seconds(*secs);
                Outcome::Clock
            }
            Step::Amend { who, terms } => {
                v.parties(who.pos(), BOTH);
                v.conflict(self.status != S::AwaitingConfirmation);
                v.rule(terms.ship_by(now) < now.date_naive());
                self.commit(v, |m| {
                    let Pos::Party(p) = who.pos() else {
                        unreachable!()
                    };
                    m.terms = MTerms::of(terms, now);
                    m.set_confirmed(p, true);
                    m.set_confirmed(p.other(), false);
                    true
                })
            }
            Step::Confirm { who, version } => {
                v.parties(who.pos(), BOTH);
                v.conflict(self.status != S::AwaitingConfirmation);
                if let Pos::Party(p) = who.pos() {
                    v.conflict(self.confirmed_by(p));
                }
                v.conflict(!matches!(version, VersionPick::Right));
                let available = self.available_limit();
                v.rule(available == 0);
                self.commit(v, |m| {
                    let Pos::Party(p) = who.pos() else {
                        unreachable!()
                    };
                    m.set_confirmed(p, true);
                    let wanted = match m.terms.coverage {
                        CoverageType::PreShipment => m.terms.initial,
                        CoverageType::PostDelivery => m.terms.total,
                    };
                    let covered = wanted.min(available);
                    m.covered = Some(covered);
                    m.reserved = covered;
                    m.unpaid_since = Some(now);
                    m.status = S::AwaitingInitialPayment;
                    true
                })
            }
            Step::Remind { who } => {
                v.parties(who.pos(), BOTH);
                v.conflict(self.status != S::AwaitingConfirmation);
                if let Pos::Party(p) = who.pos() {
                    v.conflict(self.confirmed_by(p.other()));
                }
                match v.refusal() {
                    Some(kind) => Outcome::Refused(kind),
                    None => Outcome::Noted,
                }
            }
            Step::Cancel { who } => {
                v.parties(who.pos(), BOTH);
                v.conflict(!matches!(
                    self.status,
                    S::AwaitingConfirmation | S::AwaitingInitialPayment
                ));
                v.conflict(self.open_dispute().is_some());
                self.commit(v, |m| {
                    m.status = S::Cancelled;
                    m.release();
                    true
                })
            }
            Step::Pay {
                who,
                stage,
                method,
                reuse_id,
            } => {
                v.parties(who.pos(), BUYER_ONLY);
                match stage {
                    Stage::Initial => v.conflict(self.status != S::AwaitingInitialPayment),
                    Stage::Balance => {
                        v.conflict(self.status != S::Shipped);
                        v.conflict(self.open_dispute().is_some());
                    }
                }
                v.conflict(*reuse_id && !self.payments.is_empty());
                let amount = self.terms.due(*stage);
                v.rule(amount == 0);
                match *method {
                    MethodSpec::ECheck { us, checking } => v.rule(!(us && checking)),
                    MethodSpec::Card { brand } => v.rule(brand > 1 || amount > CARD_CAP),
                    MethodSpec::Tt => v.rule(!self.receiving_account),
                    MethodSpec::PayLater { term } => {
                        v.rule(!(1..=6).contains(&term));
                        v.rule(self.credit.status != CreditLineStatus::Approved);
                        v.rule(amount > self.credit.limit.saturating_sub(self.credit.reserved));
                    }
                }
                self.commit(v, |m| {
                    let kind = method.kind();
                    let pay_later = kind == MethodKind::PayLater;
                    let credit_held = if pay_later { amount } else { 0 };
                    m.credit.reserved += credit_held;
                    m.payments.push(MPay {
                        stage: *stage,
                        kind,
                        amount,
                        inspection_fee: if *stage == Stage::Initial {
                            m.terms.fee
                        } else {
                            0
                        },
                        state: if pay_later {
                            PState::AwaitingAgreement
                        } else {
                            PState::Processing
                        },
                        flag: None,
                        credit_held,
                        asked_back: 0,
                        returned: 0,
                        overdue_reported: false,
                        latest: working_days_after(now.date_naive(), max_days(kind)),
                    });
                    m.unpaid_since = None;
                    m.status = match stage {
                        Stage::Initial => S::InitialPaymentProcessing,
                        Stage::Balance => S::BalancePaymentProcessing,
                    };
                    true
                })
            }
            Step::PaymentReport {
                target,
                signal,
                provider,
                amount,
                currency,
            } => {
                self.last_report = Some(step.clone());
                let Some(i) = target.index(self.payments.len()) else {
                    return Outcome::Refused(ErrorKind::NotFound);
                };
                self.commit(v, |m| {
                    let (state, right, due) = {
                        let p = &m.payments[i];
                        (p.state, p.provider(), p.amount)
                    };
                    if provider.pick(right) != right {
                        return m.flag(i, FlagReason::WrongProvider);
                    }
                    use PaymentSignal as G;
                    match (state, signal) {
                        (PState::AwaitingAgreement, G::Processing | G::AgreementCompleted) => {
                            let p = &mut m.payments[i];
                            p.state = PState::Processing;
                            if *signal == G::AgreementCompleted {
                                p.latest = working_days_after(now.date_naive(), max_days(p.kind));
                            }
                            true
                        }
                        (s, G::Succeeded) if s.in_flight() => match amount.pick(due) {
                            None => m.flag(i, FlagReason::AmountMismatch),
                            Some(_) if *currency != CurrencyPick::Usd => {
                                m.flag(i, FlagReason::CurrencyMismatch)
                            }
                            Some(a) if a != due => m.flag(i, FlagReason::AmountMismatch),
                            Some(_) => {
                                m.arrived(i);
                                true
                            }
                        },
                        (s, G::Failed) if s.in_flight() => {
                            m.failed(i);
                            true
                        }
                        (PState::Succeeded | PState::Refunded, G::Failed)
                        | (PState::Failed, G::Succeeded) => {
                            m.flag(i, FlagReason::ContradictsFinalStatus)
                        }
                        // A duplicate, or older news than the payment has.
                        _ => false,
                    }
                })
            }
            Step::Ship { who, back_hours } => {
                v.parties(who.pos(), SUPPLIER_ONLY);
                v.conflict(self.status != S::AwaitingShipment);
                let at = now - TimeDelta::hours(*back_hours);
                v.rule(*back_hours < 0 || *back_hours > 72);
                self.commit(v, |m| {
                    let late = at > m.ship_by_end();
                    m.shipment = Some(MShip {
                        at,
                        late,
                        customs: None,
                        delivered: None,
                    });
                    m.status = if m.terms.balance() == 0 {
                        S::AwaitingReceiptConfirmation
                    } else {
                        S::Shipped
                    };
                    true
                })
            }
            Step::Delivery {
                who,
                customs_back_hours,
                delivered_back_hours,
            } => {
                let customs = customs_back_hours.map(|h| now - TimeDelta::hours(h));
                let delivered = delivered_back_hours.map(|h| now - TimeDelta::hours(h));
                v.parties(
                    who.pos(),
                    if delivered.is_some() {
                        BUYER_ONLY
                    } else {
                        BOTH
                    },
                );
                let terminal = matches!(self.status, S::Refunded | S::Cancelled);
                match self.shipment.as_ref().filter(|_| !terminal) {
                    None => v.conflict(true),
                    Some(s) => {
                        v.conflict(customs.is_some() && s.customs.is_some());
                        v.conflict(delivered.is_some() && s.delivered.is_some());
                        v.rule(customs.is_none() && delivered.is_none());
                        for at in [customs, delivered].into_iter().flatten() {
                            v.rule(at < s.at || at > now);
                        }
                    }
                }
                self.commit(v, |m| {
                    let s = m.shipment.as_mut().expect("shipped");
                    if customs.is_some() {
                        s.customs = customs;
                    }
                    if delivered.is_some() {
                        s.delivered = delivered;
                    }
                    true
                })
            }
            Step::Receipt { who } => {
                v.parties(who.pos(), BUYER_ONLY);
                v.conflict(self.status != S::AwaitingReceiptConfirmation);
                v.conflict(self.open_dispute().is_some());
                self.commit(v, |m| {
                    m.status = S::Completed;
                    m.completed_at = Some(now);
                    if m.terms.coverage == CoverageType::PreShipment {
                        m.coverage_ended_at = Some(now);
                        m.release();
                    }
                    true
                })
            }
            Step::Feedback { who, .. } => {
                v.parties(who.pos(), BUYER_ONLY);
                v.conflict(self.completed_at.is_none());
                v.conflict(self.feedback);
                v.rule(self.completed_at.is_some_and(|c| now > c + days(60)));
                self.commit(v, |m| {
                    m.feedback = true;
                    true
                })
            }
            Step::OpenDispute {
                who,
                reason,
                amount,
                evidence,
            } => {
                v.parties(who.pos(), BUYER_ONLY);
                v.conflict(self.open_dispute().is_some());
                v.conflict(!matches!(
                    self.status,
                    S::AwaitingShipment
                        | S::Shipped
                        | S::BalancePaymentProcessing
                        | S::AwaitingReceiptConfirmation
                        | S::Completed
                ));
                v.rule(*evidence > MAX_EVIDENCE);
                let received = self.completed_at.is_some();
                match (reason, self.terms.coverage) {
                    (DisputeReason::LateShipment, _) => {
                        v.rule(received);
                        v.rule(now <= self.ship_by_end());
                        v.rule(self.shipment.as_ref().is_some_and(|s| !s.late));
                    }
                    (DisputeReason::Quality, CoverageType::PreShipment) => v.rule(received),
                    (DisputeReason::Quality, CoverageType::PostDelivery) => {
                        v.rule(
                            self.quality_window_end()
                                .is_none_or(|end| now > end || self.reserved == 0),
                        );
                    }
                }
                self.caps(&mut v, *amount);
                self.commit(v, |m| {
                    if m.dispute.is_some() {
                        m.past_disputes += 1;
                    }
                    m.dispute = Some(MDispute {
                        reason: *reason,
                        status: DisputeStatus::Open,
                        outcome: None,
                        requested: *amount,
                        response_due: now + days(5),
                        resolution_due: now + days(15),
                        supplier_responded_at: None,
                        rejected: false,
                        pending_offer: None,
                        evidence: *evidence,
                        refund: None,
                        fee_refund: None,
                    });
                    true
                })
            }
            Step::Respond {
                who,
                action,
                message,
                evidence,
            } => {
                v.parties(who.pos(), BOTH);
                let party = match who.pos() {
                    Pos::Party(p) => p,
                    _ => Party::Buyer,
                };
                v.forbid(party == Party::Buyer && matches!(action, RespondPick::Offer(_)));
                let open = self.open_dispute();
                v.conflict(open.is_none());
                let escalated = open.is_some_and(|d| d.status == DisputeStatus::Escalated);
                v.conflict(
                    escalated && matches!(action, RespondPick::Offer(_) | RespondPick::Reject),
                );
                let pending = open.and_then(|d| d.pending_offer);
                let agreed = match (party, action) {
                    (Party::Supplier, RespondPick::Accept) => open.map(|d| d.requested),
                    (Party::Buyer, RespondPick::Accept) => {
                        v.conflict(pending.is_none());
                        pending
                    }
                    (Party::Buyer, RespondPick::Reject) => {
                        v.conflict(pending.is_none());
                        None
                    }
                    _ => None,
                };
                let so_far = open.map_or(0, |d| d.evidence);
                v.rule(so_far + evidence > MAX_EVIDENCE);
                v.rule(matches!(action, RespondPick::Comment) && !message && *evidence == 0);
                if let RespondPick::Offer(a) = action {
                    self.caps(&mut v, *a);
                }
                if let Some(a) = agreed {
                    self.caps(&mut v, a);
                }
                self.commit(v, |m| {
                    let d = m.dispute.as_mut().expect("open dispute");
                    if party == Party::Supplier && d.supplier_responded_at.is_none() {
                        d.supplier_responded_at = Some(now);
                    }
                    d.evidence += evidence;
                    match (party, action) {
                        (_, RespondPick::Offer(a)) => {
                            d.pending_offer = Some(*a);
                            d.status = DisputeStatus::Negotiating;
                        }
                        (Party::Supplier, RespondPick::Reject) => {
                            d.rejected = true;
                            d.pending_offer = None;
                            d.status = DisputeStatus::Negotiating;
                        }
                        (Party::Buyer, RespondPick::Reject) => {
                            d.pending_offer = None;
                            d.status = DisputeStatus::Negotiating;
                        }
                        (_, RespondPick::Comment) if d.status == DisputeStatus::Open => {
                            d.status = DisputeStatus::Negotiating;
                        }
                        _ => {}
                    }
                    if let Some(a) = agreed {
                        m.resolve_dispute(DisputeOutcome::Agreed, Some(a), 0);
                    }
                    true
                })
            }
            Step::Withdraw { who } => {
                v.parties(who.pos(), BUYER_ONLY);
                v.conflict(self.open_dispute().is_none());
                self.commit(v, |m| {
                    m.resolve_dispute(DisputeOutcome::Withdrawn, None, 0);
                    true
                })
            }
            Step::Escalate { who } => {
                v.parties(who.pos(), BUYER_ONLY);
                let open = self.open_dispute();
                v.conflict(open.is_none());
                v.conflict(open.is_some_and(|d| d.status == DisputeStatus::Escalated));
                v.rule(open.is_some_and(|d| d.escalation_ground(now).is_none()));
                self.commit(v, |m| {
                    m.dispute.as_mut().expect("open dispute").status = DisputeStatus::Escalated;
                    true
                })
            }
            Step::Decide { who, at_fault } => {
                v.arbiter(who.pos());
                let open = self.open_dispute();
                v.conflict(open.is_none());
                v.conflict(open.is_some_and(|d| d.status != DisputeStatus::Escalated));
                if let Some(a) = at_fault {
                    self.caps(&mut v, *a);
                }
                self.commit(v, |m| {
                    match at_fault {
                        Some(a) => {
                            let quality = m.dispute.as_ref().map(|d| d.reason)
                                == Some(DisputeReason::Quality);
                            // The fee the buyer paid with the initial payment.
                            let fee = if quality {
                                m.applied
                                    .iter()
                                    .map(|&i| &m.payments[i])
                                    .filter(|p| p.stage == Stage::Initial)
                                    .map(|p| p.inspection_fee)
                                    .max()
                                    .unwrap_or(0)
                            } else {
                                0
                            };
                            m.resolve_dispute(DisputeOutcome::SupplierAtFault, Some(*a), fee);
                        }
                        None => m.resolve_dispute(DisputeOutcome::ClaimRejected, None, 0),
                    }
                    true
                })
            }
            Step::RefundReport {
                target,
                succeeded,
                provider,
                amount,
            } => {
                self.last_report = Some(step.clone());
                let Some(k) = target.index(self.parts.len()) else {
                    return Outcome::Refused(ErrorKind::NotFound);
                };
                self.commit(v, |m| {
                    let part = &m.parts[k];
                    if part.settled {
                        return false;
                    }
                    let right = m.payments[part.payment].provider();
                    let off = amount.pick(part.amount).is_some_and(|a| a != part.amount);
                    if provider.pick(right) != right || (*succeeded && off) {
                        let changed = !part.flagged;
                        m.parts[k].flagged = true;
                        return changed;
                    }
                    let part = &mut m.parts[k];
                    if !succeeded {
                        // Flagged and asked again.
                        part.flagged = true;
                        part.attempts += 1;
                        return true;
                    }
                    part.settled = true;
                    part.flagged = false;
                    let (i, amount) = (part.payment, part.amount);
                    let p = &mut m.payments[i];
                    p.returned += amount;
                    p.state = PState::Refunded;
                    let release = amount.min(p.credit_held);
                    p.credit_held -= release;
                    m.credit.reserved -= release;
                    if m.status == S::RefundPending && m.parts.iter().all(|r| r.settled) {
                        m.status = S::Refunded;
                        m.release();
                    }
                    true
                })
            }
            Step::Resolve {
                who,
                target,
                refund,
            } => {
                v.arbiter(who.pos());
                let Some(i) = target.index(self.payments.len()) else {
                    v.deny(true, ErrorKind::NotFound);
                    return Outcome::Refused(v.refusal().expect("refused"));
                };
                let p = &self.payments[i];
                v.conflict(p.flag.is_none());
                if p.flag != Some(FlagReason::ClosedOrder) {
                    if *refund {
                        v.conflict(!(p.state.in_flight() || p.state == PState::Failed));
                    } else {
                        v.conflict(!(p.state.in_flight() || p.state == PState::Succeeded));
                    }
                }
                self.commit(v, |m| {
                    let p = &mut m.payments[i];
                    let flag = p.flag.take();
                    if flag == Some(FlagReason::ClosedOrder) {
                        // Refunded already; resolving only acknowledges it.
                        return true;
                    }
                    let (state, stage, amount) = (p.state, p.stage, p.amount);
                    match (refund, state.in_flight()) {
                        (false, true) => m.arrived(i),
                        (false, false) => {}
                        (true, in_flight) => {
                            m.payments[i].state = PState::Succeeded;
                            m.ask_back(i, amount, false);
                            if in_flight {
                                m.unpaid_again(stage);
                            }
                        }
                    }
                    true
                })
            }
            Step::Sweep => self.commit(v, |m| {
                let mut changed = false;
                if let Some(d) = m.dispute.as_mut().filter(|d| d.unresolved()) {
                    if d.escalation_ground(now) == Some(true) {
                        d.status = DisputeStatus::Escalated;
                        changed = true;
                    }
                }
                for i in 0..m.payments.len() {
                    let p = &mut m.payments[i];
                    if p.state.in_flight() && !p.overdue_reported && now > end_of(p.latest) {
                        p.overdue_reported = true;
                        changed = true;
                        if p.flag.is_none() {
                            p.flag = Some(FlagReason::Overdue);
                        }
                    }
                }
                if m.status == S::AwaitingInitialPayment
                    && !m.in_flight()
                    && m.unpaid_since.is_some_and(|t| now >= t + days(30))
                {
                    m.status = S::Cancelled;
                    m.release();
                    changed = true;
                }
                if m.coverage_end().is_some_and(|end| now > end)
                    && m.open_dispute().is_none()
                    && m.status != S::RefundPending
                {
                    changed |= m.release();
                }
                changed
            }),
        }
    }

    /// Refused, or accepted: `effect` says whether it emitted anything.
    fn commit(&mut self, v: Verdict, effect: impl FnOnce(&mut Model) -> bool) -> Outcome {
        if let Some(kind) = v.refusal() {
            return Outcome::Refused(kind);
        }
        if effect(self) {
            self.version += 1;
            Outcome::Changed
        } else {
            Outcome::Quiet
        }
    }
}

fn max_days(kind: MethodKind) -> u32 {
    match kind {
        MethodKind::ECheck => 5,
        MethodKind::CreditCard => 3,
        MethodKind::TelegraphicTransfer => 7,
        MethodKind::PayLater => 3,
    }
}

// ---- strategies ----------------------------------------------------------------------

fn terms_spec() -> BoxedStrategy<TermsSpec> {
    (
        prop::collection::vec((1u32..=10, 1u64..=400_000), 1..=2),
        prop_oneof![Just(0u64), 0u64..=20_000],
        prop_oneof![1 => Just(1000u64), 3 => 1u64..=1000],
        prop_oneof![6 => 1i64..=30, 1 => -3i64..=0],
        prop_oneof![
            Just(CoverageType::PreShipment),
            Just(CoverageType::PostDelivery)
        ],
        prop::option::of(prop_oneof![
            Just(InspectionLocation::China),
            Just(InspectionLocation::Overseas)
        ]),
    )
        .prop_map(
            |(items, shipping, initial_permille, ship_by_days, coverage, inspection)| TermsSpec {
                items,
                shipping,
                initial_permille,
                ship_by_days,
                coverage,
                inspection,
            },
        )
        .boxed()
}

fn any_who() -> BoxedStrategy<Who> {
    prop_oneof![
        3 => Just(Who::Buyer),
        3 => Just(Who::Supplier),
        2 => Just(Who::Arbiter),
        1 => Just(Who::Stranger),
        1 => Just(Who::BuyerIdAsSupplier),
        1 => Just(Who::BuyerAlsoArbiter),
    ]
    .boxed()
}

/// Mostly the right caller, sometimes anyone.
fn mostly(right: Who) -> BoxedStrategy<Who> {
    prop_oneof![12 => Just(right), 2 => any_who()].boxed()
}

fn method_spec() -> BoxedStrategy<MethodSpec> {
    prop_oneof![
        (prop::bool::weighted(0.85), prop::bool::weighted(0.85))
            .prop_map(|(us, checking)| MethodSpec::ECheck { us, checking }),
        prop_oneof![4 => 0u8..=1, 1 => Just(2u8)].prop_map(|brand| MethodSpec::Card { brand }),
        Just(MethodSpec::Tt),
        prop_oneof![6 => 1u32..=6, 1 => prop_oneof![Just(0u32), Just(7u32)]]
            .prop_map(|term| MethodSpec::PayLater { term }),
    ]
    .boxed()
}

fn provider_pick() -> BoxedStrategy<ProviderPick> {
    prop_oneof![10 => Just(ProviderPick::Right), 1 => (0u8..3).prop_map(ProviderPick::Other)]
        .boxed()
}

fn amount_pick() -> BoxedStrategy<AmountPick> {
    prop_oneof![
        10 => Just(AmountPick::Right),
        1 => (1u64..=500).prop_map(AmountPick::Off),
        1 => Just(AmountPick::Missing),
    ]
    .boxed()
}

fn currency_pick() -> BoxedStrategy<CurrencyPick> {
    prop_oneof![
        12 => Just(CurrencyPick::Usd),
        1 => Just(CurrencyPick::Eur),
        1 => Just(CurrencyPick::LowerUsd),
    ]
    .boxed()
}

fn target() -> BoxedStrategy<Target> {
    prop_oneof![
        8 => Just(Target::FromEnd(0)),
        3 => (1usize..4).prop_map(Target::FromEnd),
        1 => Just(Target::Unknown),
    ]
    .boxed()
}

fn signal(weights: [u32; 4]) -> BoxedStrategy<PaymentSignal> {
    prop_oneof![
        weights[0] => Just(PaymentSignal::Succeeded),
        weights[1] => Just(PaymentSignal::Failed),
        weights[2] => Just(PaymentSignal::Processing),
        weights[3] => Just(PaymentSignal::AgreementCompleted),
    ]
    .boxed()
}

/// A refund amount around `cap`: within it, exactly it, just over, zero.
fn refund_amount(cap: u64) -> BoxedStrategy<u64> {
    prop_oneof![
        5 => 1..=cap.max(1),
        2 => Just(cap),
        1 => Just(cap + 1),
        1 => Just(0u64),
    ]
    .boxed()
}

fn report(
    target: BoxedStrategy<Target>,
    signal: BoxedStrategy<PaymentSignal>,
) -> BoxedStrategy<Step> {
    (
        target,
        signal,
        provider_pick(),
        amount_pick(),
        currency_pick(),
    )
        .prop_map(
            |(target, signal, provider, amount, currency)| Step::PaymentReport {
                target,
                signal,
                provider,
                amount,
                currency,
            },
        )
        .boxed()
}

fn respond(who: BoxedStrategy<Who>, cap: u64) -> BoxedStrategy<Step> {
    (
        who,
        prop_oneof![
            2 => Just(RespondPick::Accept),
            3 => refund_amount(cap).prop_map(RespondPick::Offer),
            3 => Just(RespondPick::Reject),
            2 => Just(RespondPick::Comment),
        ],
        prop::bool::weighted(0.7),
        prop_oneof![8 => 0usize..=2, 1 => 15usize..=21],
    )
        .prop_map(|(who, action, message, evidence)| Step::Respond {
            who,
            action,
            message,
            evidence,
        })
        .boxed()
}

fn open_dispute(who: BoxedStrategy<Who>, cap: u64) -> BoxedStrategy<Step> {
    (
        who,
        prop_oneof![
            Just(DisputeReason::LateShipment),
            Just(DisputeReason::Quality)
        ],
        refund_amount(cap),
        prop_oneof![8 => 0usize..=2, 1 => 19usize..=21],
    )
        .prop_map(|(who, reason, amount, evidence)| Step::OpenDispute {
            who,
            reason,
            amount,
            evidence,
        })
        .boxed()
}

fn advance() -> BoxedStrategy<Step> {
    prop_oneof![
        3 => 60i64..=6 * 3_600,
        3 => 6 * 3_600i64..=3 * 86_400,
        2 => 3 * 86_400i64..=16 * 86_400,
        1 => 16 * 86_400i64..=200 * 86_400,
    ]
    .prop_map(|secs| Step::Advance { secs })
    .boxed()
}

/// Any transition, with any caller and parameters.
fn any_step(m: &Model) -> BoxedStrategy<Step> {
    let cap = m.refund_cap();
    Union::new_weighted(vec![
        (
            1,
            (any_who(), terms_spec())
                .prop_map(|(who, terms)| Step::Amend { who, terms })
                .boxed(),
        ),
        (
            1,
            (
                any_who(),
                prop_oneof![
                    Just(VersionPick::Right),
                    Just(VersionPick::Older),
                    Just(VersionPick::Newer)
                ],
            )
                .prop_map(|(who, version)| Step::Confirm { who, version })
                .boxed(),
        ),
        (1, any_who().prop_map(|who| Step::Remind { who }).boxed()),
        (1, any_who().prop_map(|who| Step::Cancel { who }).boxed()),
        (
            2,
            (
                any_who(),
                prop_oneof![Just(Stage::Initial), Just(Stage::Balance)],
                method_spec(),
                prop::bool::weighted(0.2),
            )
                .prop_map(|(who, stage, method, reuse_id)| Step::Pay {
                    who,
                    stage,
                    method,
                    reuse_id,
                })
                .boxed(),
        ),
        (3, report(target(), signal([3, 1, 1, 1]))),
        (
            1,
            (
                any_who(),
                prop_oneof![4 => Just(0i64), 2 => 1i64..=100, 1 => -5i64..=-1],
            )
                .prop_map(|(who, back_hours)| Step::Ship { who, back_hours })
                .boxed(),
        ),
        (
            1,
            (
                any_who(),
                prop::option::of(-3i64..=300),
                prop::option::of(-3i64..=300),
            )
                .prop_map(
                    |(who, customs_back_hours, delivered_back_hours)| Step::Delivery {
                        who,
                        customs_back_hours,
                        delivered_back_hours,
                    },
                )
                .boxed(),
        ),
        (1, any_who().prop_map(|who| Step::Receipt { who }).boxed()),
        (
            1,
            (any_who(), 1u8..=5)
                .prop_map(|(who, rating)| Step::Feedback { who, rating })
                .boxed(),
        ),
        (1, open_dispute(any_who(), cap)),
        (1, respond(any_who(), cap)),
        (1, any_who().prop_map(|who| Step::Withdraw { who }).boxed()),
        (1, any_who().prop_map(|who| Step::Escalate { who }).boxed()),
        (
            1,
            (any_who(), prop::option::of(refund_amount(cap)))
                .prop_map(|(who, at_fault)| Step::Decide { who, at_fault })
                .boxed(),
        ),
        (
            1,
            (
                target(),
                prop::bool::weighted(0.7),
                provider_pick(),
                amount_pick(),
            )
                .prop_map(|(target, succeeded, provider, amount)| Step::RefundReport {
                    target,
                    succeeded,
                    provider,
                    amount,
                })
                .boxed(),
        ),
        (
            1,
            (any_who(), target(), any::<bool>())
                .prop_map(|(who, target, refund)| Step::Resolve {
                    who,
                    target,
                    refund,
                })
                .boxed(),
        ),
        (1, Just(Step::Sweep).boxed()),
        (2, advance()),
    ])
    .boxed()
}

/// The steps that move this order on from where it is, so sequences reach
/// the deep states (payments arrived, disputes decided, refunds settled).
fn natural_steps(m: &Model) -> Vec<(u32, BoxedStrategy<Step>)> {
    use OrderStatus as S;
    let cap = m.refund_cap();
    let mut out: Vec<(u32, BoxedStrategy<Step>)> = Vec::new();
    match m.status {
        S::AwaitingConfirmation => {
            let missing = if m.confirmed.0 {
                Party::Supplier
            } else {
                Party::Buyer
            };
            out.push((
                10,
                (
                    mostly(Who::of(missing)),
                    prop_oneof![10 => Just(VersionPick::Right), 1 => Just(VersionPick::Older), 1 => Just(VersionPick::Newer)],
                )
                    .prop_map(|(who, version)| Step::Confirm { who, version })
                    .boxed(),
            ));
            out.push((
                1,
                (
                    prop_oneof![Just(Who::Buyer), Just(Who::Supplier)],
                    terms_spec(),
                )
                    .prop_map(|(who, terms)| Step::Amend { who, terms })
                    .boxed(),
            ));
            out.push((
                1,
                mostly(Who::of(missing.other()))
                    .prop_map(|who| Step::Remind { who })
                    .boxed(),
            ));
        }
        S::AwaitingInitialPayment | S::Shipped => {
            let stage = if m.status == S::Shipped {
                Stage::Balance
            } else {
                Stage::Initial
            };
            out.push((
                10,
                (
                    mostly(Who::Buyer),
                    method_spec(),
                    prop::bool::weighted(0.05),
                )
                    .prop_map(move |(who, method, reuse_id)| Step::Pay {
                        who,
                        stage,
                        method,
                        reuse_id,
                    })
                    .boxed(),
            ));
            if stage == Stage::Initial {
                out.push((
                    1,
                    mostly(Who::Buyer)
                        .prop_map(|who| Step::Cancel { who })
                        .boxed(),
                ));
            }
        }
        S::InitialPaymentProcessing | S::BalancePaymentProcessing => {
            let awaiting = m
                .payments
                .last()
                .is_some_and(|p| p.state == PState::AwaitingAgreement);
            let weights = if awaiting { [4, 1, 1, 4] } else { [8, 2, 1, 1] };
            // With a dispute open on the balance in flight, let the dispute
            // run first now and then: its refund closes the order and the
            // balance then arrives on a closed order.
            let disputed = m.open_dispute().is_some();
            out.push((
                if disputed { 2 } else { 10 },
                report(Just(Target::FromEnd(0)).boxed(), signal(weights)),
            ));
        }
        S::AwaitingShipment => {
            out.push((
                8,
                (
                    mostly(Who::Supplier),
                    prop_oneof![6 => Just(0i64), 1 => 1i64..=80],
                )
                    .prop_map(|(who, back_hours)| Step::Ship { who, back_hours })
                    .boxed(),
            ));
        }
        S::AwaitingReceiptConfirmation => {
            out.push((
                8,
                mostly(Who::Buyer)
                    .prop_map(|who| Step::Receipt { who })
                    .boxed(),
            ));
        }
        S::Completed => {
            out.push((
                3,
                (mostly(Who::Buyer), 1u8..=5)
                    .prop_map(|(who, rating)| Step::Feedback { who, rating })
                    .boxed(),
            ));
        }
        S::RefundPending | S::Refunded | S::Cancelled => {
            // Money arriving late on a closed order.
            if m.payments.iter().any(|p| p.state.in_flight()) {
                out.push((8, report(target(), signal([6, 1, 1, 1]))));
            }
        }
    }
    if m.shipment.is_some() && !matches!(m.status, S::Refunded | S::Cancelled) {
        out.push((
            1,
            (
                prop_oneof![Just(Who::Buyer), Just(Who::Supplier)],
                prop::option::of(0i64..=48),
                prop::option::of(0i64..=48),
            )
                .prop_map(
                    |(who, customs_back_hours, delivered_back_hours)| Step::Delivery {
                        who,
                        customs_back_hours,
                        delivered_back_hours,
                    },
                )
                .boxed(),
        ));
    }
    let may_open = matches!(
        m.status,
        S::AwaitingShipment
            | S::Shipped
            | S::BalancePaymentProcessing
            | S::AwaitingReceiptConfirmation
            | S::Completed
    );
    match m.open_dispute() {
        None if may_open => out.push((3, open_dispute(mostly(Who::Buyer), cap))),
        None => {}
        Some(d) => {
            out.push((4, respond(mostly(Who::Supplier), cap)));
            if d.pending_offer.is_some() {
                out.push((3, respond(mostly(Who::Buyer), cap)));
            }
            out.push((
                2,
                mostly(Who::Buyer)
                    .prop_map(|who| Step::Escalate { who })
                    .boxed(),
            ));
            out.push((
                1,
                mostly(Who::Buyer)
                    .prop_map(|who| Step::Withdraw { who })
                    .boxed(),
            ));
            if d.status == DisputeStatus::Escalated {
                out.push((
                    5,
                    (
                        mostly(Who::Arbiter),
                        prop_oneof![3 => refund_amount(cap).prop_map(Some), 1 => Just(None)],
                    )
                        .prop_map(|(who, at_fault)| Step::Decide { who, at_fault })
                        .boxed(),
                ));
            }
            if d.status != DisputeStatus::Escalated {
                // Let its deadlines pass (5 days to respond, 15 to agree).
                out.push((
                    2,
                    (5 * 86_400i64..=16 * 86_400)
                        .prop_map(|secs| Step::Advance { secs })
                        .boxed(),
                ));
            }
            out.push((3, Just(Step::Sweep).boxed()));
        }
    }
    if m.payments.iter().any(|p| p.flag.is_some()) {
        let n = m.payments.len();
        let newest_flagged = m
            .payments
            .iter()
            .rposition(|p| p.flag.is_some())
            .map_or(0, |i| n - 1 - i);
        out.push((
            3,
            (mostly(Who::Arbiter), any::<bool>())
                .prop_map(move |(who, refund)| Step::Resolve {
                    who,
                    target: Target::FromEnd(newest_flagged),
                    refund,
                })
                .boxed(),
        ));
    }
    if let Some(k) = m.parts.iter().position(|r| !r.settled) {
        let from_end = m.parts.len() - 1 - k;
        out.push((
            6,
            (prop::bool::weighted(0.85), provider_pick(), amount_pick())
                .prop_map(move |(succeeded, provider, amount)| Step::RefundReport {
                    target: Target::FromEnd(from_end),
                    succeeded,
                    provider,
                    amount,
                })
                .boxed(),
        ));
    }
    if let Some(again) = &m.last_report {
        out.push((2, Just(again.clone()).boxed()));
    }
    out.push((2, advance()));
    out.push((1, Just(Step::Sweep).boxed()));
    out
}

// ---- the reference state machine ------------------------------------------------------

/// The world an order is created in.
#[derive(Debug, Clone)]
struct Setup {
    /// Seconds after [`base_time`] the order is created.
    offset_secs: i64,
    /// The supplier's assurance limit, and what other orders hold of it.
    limit: u64,
    others_reserved: u64,
    receiving_account: bool,
    /// The buyer's Pay Later credit line (status, limit).
    credit: (CreditLineStatus, u64),
    created_by: Party,
    terms: TermsSpec,
}

impl Model {
    fn new(setup: Setup) -> Model {
        let Setup {
            offset_secs,
            limit,
            others_reserved,
            receiving_account,
            credit,
            created_by,
            mut terms,
        } = setup;
        let now = base_time() + TimeDelta::seconds(offset_secs);
        // The creator proposes a ship-by date that is not past.
        terms.ship_by_days = terms.ship_by_days.max(1);
        Model {
            now,
            limit,
            others_reserved,
            receiving_account,
            credit: MCredit {
                status: credit.0,
                limit: credit.1,
                reserved: 0,
            },
            created_by,
            created_at: now,
            terms: MTerms::of(&terms, now),
            created_with: terms,
            status: OrderStatus::AwaitingConfirmation,
            version: 1,
            confirmed: (created_by == Party::Buyer, created_by == Party::Supplier),
            covered: None,
            reserved: 0,
            coverage_ended_at: None,
            unpaid_since: None,
            payments: Vec::new(),
            applied: BTreeSet::new(),
            shipment: None,
            completed_at: None,
            feedback: false,
            dispute: None,
            past_disputes: 0,
            fee_refunded: 0,
            parts: Vec::new(),
            last: Outcome::Changed,
            last_report: None,
        }
    }
}

struct OrderModel;

impl ReferenceStateMachine for OrderModel {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        (
            0i64..14 * 86_400,
            prop_oneof![1 => 0u64..=100_000, 4 => 100_000u64..=20_000_000],
            prop_oneof![3 => Just(0u64), 1 => 0u64..=5_000_000],
            prop::bool::weighted(0.75),
            prop_oneof![
                1 => Just((CreditLineStatus::Pending, 0u64)),
                1 => Just((CreditLineStatus::Declined, 0u64)),
                4 => (0u64..=15_000_000).prop_map(|l| (CreditLineStatus::Approved, l)),
            ],
            prop_oneof![Just(Party::Buyer), Just(Party::Supplier)],
            terms_spec(),
        )
            .prop_map(
                |(
                    offset_secs,
                    limit,
                    others_reserved,
                    receiving_account,
                    credit,
                    created_by,
                    terms,
                )| {
                    Model::new(Setup {
                        offset_secs,
                        limit,
                        others_reserved,
                        receiving_account,
                        credit,
                        created_by,
                        terms,
                    })
                },
            )
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let mut choices = natural_steps(state);
        choices.push((6, any_step(state)));
        Union::new_weighted(choices).boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.last = state.apply(step);
        state
    }
}

// ---- the system under test ------------------------------------------------------------

struct Sut {
    now: Timestamp,
    order: Order,
    limit: AssuranceLimit,
    credit: CreditLine,
    /// Every event the order has emitted (its history).
    history: Vec<DomainEvent>,
}

impl Sut {
    /// Apply a command's effects on the limit and the credit line, as the
    /// application layer does in the same write. None may fail.
    fn apply_effects(&mut self, events: &[DomainEvent]) {
        for e in events {
            match &e.body {
                EventBody::CoverageReserved { amount, .. } => self
                    .limit
                    .reserve(*amount)
                    .expect("a reservation within what is available"),
                EventBody::ReservationReleased { amount, .. } => self
                    .limit
                    .release(*amount)
                    .expect("a release of what was reserved"),
                EventBody::CreditReserved { amount, .. } => self
                    .credit
                    .reserve(*amount)
                    .expect("credit reserved within what is available"),
                EventBody::CreditReleased { amount, .. } => self
                    .credit
                    .release(*amount)
                    .expect("credit released that was reserved"),
                _ => {}
            }
        }
    }

    fn execute(&mut self, step: &Step) -> Option<Result<Vec<DomainEvent>, OrderError>> {
        let now = self.now;
        let order = &mut self.order;
        let policy = DisputePolicy::default();
        Some(match step {
            Step::Advance { secs } => {
                self.now += TimeDelta::seconds(*secs);
                return None;
            }
            Step::Amend { who, terms } => order.amend(&who.caller(), terms.build(now), now),
            Step::Confirm { who, version } => {
                let seen = match version {
                    VersionPick::Right => order.version(),
                    VersionPick::Older => order.version() - 1,
                    VersionPick::Newer => order.version() + 1,
                };
                order.confirm(&who.caller(), seen, &self.limit, now)
            }
            Step::Remind { who } => order.remind(&who.caller(), now),
            Step::Cancel { who } => order.cancel(&who.caller(), now),
            Step::Pay {
                who,
                stage,
                method,
                reuse_id,
            } => {
                let n = order.payments().len();
                let id = if *reuse_id && n > 0 {
                    order.payments()[n - 1].id.clone()
                } else {
                    payment_id(n + 1)
                };
                let ctx = PaymentContext {
                    credit_line: Some(&self.credit),
                    receiving_account: self.limit.receiving_account.as_ref(),
                };
                let request = PaymentRequest {
                    id,
                    stage: *stage,
                    method: method.method(),
                };
                order.initiate_payment(&who.caller(), request, ctx, now)
            }
            Step::PaymentReport {
                target,
                signal,
                provider,
                amount,
                currency,
            } => {
                let (id, right, cents) = match target.index(order.payments().len()) {
                    Some(i) => {
                        let p = &order.payments()[i];
                        (p.id.clone(), p.provider(), p.amount.cents())
                    }
                    None => (unknown_payment(), Provider::Card, 100),
                };
                let report = PaymentReport {
                    payment_id: id,
                    signal: *signal,
                    confirmed: amount
                        .pick(cents)
                        .map(|c| (usd(c), currency.code().to_owned())),
                    provider_reference: Some("ref-1".to_owned()),
                };
                order.apply_payment_report(provider.pick(right), report, now)
            }
            Step::Ship { who, back_hours } => {
                let details = ShipmentDetails {
                    carrier: short("DHL"),
                    tracking_number: short("JD0001"),
                    shipped_at: (*back_hours != 0).then(|| now - TimeDelta::hours(*back_hours)),
                };
                order.ship(&who.caller(), details, now)
            }
            Step::Delivery {
                who,
                customs_back_hours,
                delivered_back_hours,
            } => order.record_delivery(
                &who.caller(),
                customs_back_hours.map(|h| now - TimeDelta::hours(h)),
                delivered_back_hours.map(|h| now - TimeDelta::hours(h)),
                now,
            ),
            Step::Receipt { who } => order.confirm_receipt(&who.caller(), now),
            Step::Feedback { who, rating } => order.leave_feedback(
                &who.caller(),
                Rating::parse(i64::from(*rating)).expect("rating 1..=5"),
                long("as described"),
                now,
            ),
            Step::OpenDispute {
                who,
                reason,
                amount,
                evidence: n,
            } => order.open_dispute_with(
                &who.caller(),
                OpenDispute {
                    reason: *reason,
                    requested_refund: usd(*amount),
                    description: long("not as agreed"),
                    evidence: evidence(*n),
                },
                policy,
                now,
            ),
            Step::Respond {
                who,
                action,
                message,
                evidence: n,
            } => order.respond_dispute(
                &who.caller(),
                DisputeResponse {
                    action: match action {
                        RespondPick::Accept => ResponseAction::Accept,
                        RespondPick::Offer(c) => ResponseAction::Offer(usd(*c)),
                        RespondPick::Reject => ResponseAction::Reject,
                        RespondPick::Comment => ResponseAction::Comment,
                    },
                    message: message.then(|| long("see the photos")),
                    evidence: evidence(*n),
                },
                now,
            ),
            Step::Withdraw { who } => order.withdraw_dispute(&who.caller(), now),
            Step::Escalate { who } => order.escalate_dispute(&who.caller(), now),
            Step::Decide { who, at_fault } => {
                let decision = match at_fault {
                    Some(c) => Decision::SupplierAtFault(usd(*c)),
                    None => Decision::ClaimRejected,
                };
                order.decide_dispute(&who.caller(), decision, now)
            }
            Step::RefundReport {
                target,
                succeeded,
                provider,
                amount,
            } => {
                let (id, right, cents) = match target.index(order.refunds().len()) {
                    Some(k) => {
                        let r = &order.refunds()[k];
                        (r.id.clone(), r.provider, r.amount.cents())
                    }
                    None => (RefundId::derive(&unknown_payment(), 1), Provider::Card, 100),
                };
                let report = RefundReport {
                    refund_id: id,
                    succeeded: *succeeded,
                    amount: amount.pick(cents).map(usd),
                };
                order.apply_refund_report(provider.pick(right), report, now)
            }
            Step::Resolve {
                who,
                target,
                refund,
            } => {
                let id = match target.index(order.payments().len()) {
                    Some(i) => order.payments()[i].id.clone(),
                    None => unknown_payment(),
                };
                let resolution = if *refund {
                    FlagResolution::Refund
                } else {
                    FlagResolution::Accept
                };
                order.resolve_payment(&who.caller(), &id, resolution, now)
            }
            Step::Sweep => order.sweep(now),
        })
    }
}

// ---- figures ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Figures {
    cases: u64,
    steps: u64,
    /// Per kind of step: changed, quiet, noted, refused 404/403/409/422.
    by_step: BTreeMap<&'static str, [u64; 7]>,
    statuses: BTreeSet<&'static str>,
    dispute_statuses: BTreeSet<&'static str>,
    dispute_outcomes: BTreeSet<String>,
    flags: BTreeSet<String>,
}

thread_local! {
    /// Per thread: the runner runs every case on the test's own thread, so
    /// the scenario tests running beside it do not touch its figures.
    static FIGURES: RefCell<Figures> = RefCell::new(Figures::default());
}

fn record(f: impl FnOnce(&mut Figures)) {
    FIGURES.with(|figures| f(&mut figures.borrow_mut()));
}

fn column(outcome: Outcome) -> Option<usize> {
    Some(match outcome {
        Outcome::Changed => 0,
        Outcome::Quiet => 1,
        Outcome::Noted => 2,
        Outcome::Refused(ErrorKind::NotFound) => 3,
        Outcome::Refused(ErrorKind::Forbidden) => 4,
        Outcome::Refused(ErrorKind::Conflict) => 5,
        Outcome::Refused(ErrorKind::Unprocessable) => 6,
        Outcome::Clock => return None,
    })
}

// ---- the test ----------------------------------------------------------------------------

struct OrderAggregate;

impl StateMachineTest for OrderAggregate {
    type SystemUnderTest = Sut;
    type Reference = OrderModel;

    fn init_test(model: &Model) -> Sut {
        let (creator, counterparty) = match model.created_by {
            Party::Buyer => (Who::Buyer, Counterparty::Supplier(uid(SUPPLIER))),
            Party::Supplier => (Who::Supplier, Counterparty::Buyer(uid(BUYER))),
        };
        let new = NewOrder {
            id: OrderId::parse("ord_model").expect("valid order id"),
            counterparty,
            terms: model.created_with.build(model.created_at),
        };
        let (order, events) =
            Order::create(&creator.caller(), new, model.created_at).expect("the order is created");
        let account = model.receiving_account.then(|| ReceivingAccount {
            bank_name: short("Bank of Ningbo"),
            account_name: short("Supplier Co"),
            account_number: short("6222000011112222"),
            swift: short("BKNBCN2N"),
        });
        let limit = AssuranceLimit::from_parts(
            uid(SUPPLIER),
            usd(model.limit),
            usd(model.others_reserved),
            account,
        );
        let mut credit = CreditLine::apply(
            uid(BUYER),
            ApplicationId::parse("app_1").expect("valid application id"),
            model.created_at,
        );
        match model.credit.status {
            CreditLineStatus::Pending => {}
            CreditLineStatus::Declined => credit.decline(model.created_at).expect("declines"),
            CreditLineStatus::Approved => credit
                .approve(usd(model.credit.limit), model.created_at)
                .expect("approves"),
        }
        record(|f| f.cases += 1);
        Sut {
            now: model.created_at,
            order,
            limit,
            credit,
            history: events,
        }
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        let before = sut.order.clone();
        let history_before = sut.history.len();
        let observed = match sut.execute(&step) {
            None => Outcome::Clock,
            Some(Err(e)) => {
                assert_eq!(
                    sut.order, before,
                    "a refused {step:?} ({e}) changed the order"
                );
                Outcome::Refused(e.kind())
            }
            Some(Ok(events)) if events.is_empty() => {
                assert_eq!(
                    sut.order, before,
                    "{step:?} emitted nothing but changed the order"
                );
                Outcome::Quiet
            }
            Some(Ok(events)) => {
                sut.apply_effects(&events);
                sut.history.extend(events);
                if matches!(step, Step::Remind { .. }) {
                    assert_eq!(sut.order, before, "a reminder changed the order");
                    Outcome::Noted
                } else {
                    assert_eq!(
                        sut.order.version(),
                        before.version() + 1,
                        "{step:?} must bump the version by exactly one"
                    );
                    Outcome::Changed
                }
            }
        };
        assert_eq!(
            observed, model.last,
            "{step:?}: the aggregate's outcome differs from the model's\n\
             order after: {:#?}",
            sut.order
        );
        if !matches!(observed, Outcome::Changed | Outcome::Noted) {
            assert_eq!(
                sut.history.len(),
                history_before,
                "history grew on {observed:?}"
            );
        }
        record(|f| {
            if let Some(c) = column(observed) {
                f.steps += 1;
                f.by_step.entry(step.name()).or_default()[c] += 1;
            }
            f.statuses.insert(sut.order.status().as_str());
            if let Some(d) = sut.order.dispute() {
                f.dispute_statuses.insert(d.status.as_str());
                if let Some(outcome) = d.outcome {
                    f.dispute_outcomes.insert(format!("{outcome:?}"));
                }
            }
            for p in sut.order.payments() {
                if let Some(flag) = &p.flag {
                    f.flags.insert(format!("{:?}", flag.reason));
                }
            }
        });
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        agree(sut, model);
        money_invariants(sut);
    }
}

/// The real aggregate agrees with the model.
fn agree(sut: &Sut, m: &Model) {
    let o = &sut.order;
    let ctx = || format!("\nmodel: {m:#?}\norder: {o:#?}");
    assert_eq!(o.status(), m.status, "status{}", ctx());
    assert_eq!(o.version(), m.version, "version{}", ctx());
    assert_eq!(
        (
            o.confirmations().buyer.is_some(),
            o.confirmations().supplier.is_some()
        ),
        m.confirmed,
        "confirmations{}",
        ctx()
    );
    let terms = o.terms();
    assert_eq!(
        (
            terms.total().cents(),
            terms.initial_payment().cents(),
            terms.balance().cents(),
            terms.inspection_fee().cents(),
            terms.coverage()
        ),
        (
            m.terms.total,
            m.terms.initial,
            m.terms.balance(),
            m.terms.fee,
            m.terms.coverage
        ),
        "terms{}",
        ctx()
    );
    let cov = o.coverage();
    assert_eq!(cov.kind, m.terms.coverage, "coverage type{}", ctx());
    assert_eq!(
        cov.covered_amount.map(Usd::cents),
        m.covered,
        "covered{}",
        ctx()
    );
    assert_eq!(cov.reserved.cents(), m.reserved, "reserved{}", ctx());
    assert_eq!(cov.ended_at, m.coverage_ended_at, "coverage end{}", ctx());
    assert_eq!(
        sut.limit.reserved().cents(),
        m.others_reserved + m.reserved,
        "supplier limit reserved{}",
        ctx()
    );
    assert_eq!(
        sut.credit.reserved().cents(),
        m.credit.reserved,
        "credit reserved{}",
        ctx()
    );

    assert_eq!(o.payments().len(), m.payments.len(), "payments{}", ctx());
    for (i, (p, mp)) in o.payments().iter().zip(&m.payments).enumerate() {
        assert_eq!(
            (
                p.stage,
                p.method.kind(),
                p.amount.cents(),
                p.inspection_fee.cents(),
                p.status,
                p.flag.as_ref().map(|f| f.reason),
                p.credit_held.cents(),
                p.refund_requested.cents(),
                p.refunded.cents(),
                p.overdue_reported,
                p.expected_arrival.latest,
            ),
            (
                mp.stage,
                mp.kind,
                mp.amount,
                mp.inspection_fee,
                mp.state.real(),
                mp.flag,
                mp.credit_held,
                mp.asked_back,
                mp.returned,
                mp.overdue_reported,
                mp.latest,
            ),
            "payment {i}{}",
            ctx()
        );
    }
    // The money kept per stage, and what the buyer has paid for the goods.
    for stage in [Stage::Initial, Stage::Balance] {
        let kept: u64 = o
            .payments()
            .iter()
            .filter(|p| p.stage == stage)
            .filter(|p| matches!(p.status, PaymentStatus::Succeeded | PaymentStatus::Refunded))
            .map(|p| p.amount.cents() - p.refund_requested.cents())
            .sum();
        assert_eq!(kept, m.kept(stage), "kept for the {stage} stage{}", ctx());
    }
    assert_eq!(
        o.amount_paid().cents(),
        m.goods_paid(),
        "amount paid{}",
        ctx()
    );

    assert_eq!(o.refunds().len(), m.parts.len(), "refund parts{}", ctx());
    for (k, (r, mr)) in o.refunds().iter().zip(&m.parts).enumerate() {
        assert_eq!(
            (
                &r.payment_id,
                r.amount.cents(),
                r.status == RefundStatus::Succeeded,
                r.flagged,
                r.attempts,
            ),
            (
                &o.payments()[mr.payment].id,
                mr.amount,
                mr.settled,
                mr.flagged,
                mr.attempts,
            ),
            "refund part {k}{}",
            ctx()
        );
    }
    let refunded: u64 = m.parts.iter().filter(|r| r.settled).map(|r| r.amount).sum();
    assert_eq!(
        o.amount_refunded().cents(),
        refunded,
        "amount refunded{}",
        ctx()
    );

    assert_eq!(
        o.shipment()
            .map(|s| (s.shipped_at, s.late, s.customs_cleared_at, s.delivered_at)),
        m.shipment
            .as_ref()
            .map(|s| (s.at, s.late, s.customs, s.delivered)),
        "shipment{}",
        ctx()
    );
    assert_eq!(o.completed_at(), m.completed_at, "completion{}", ctx());
    assert_eq!(o.feedback().is_some(), m.feedback, "feedback{}", ctx());
    assert_eq!(
        o.past_disputes().len(),
        m.past_disputes,
        "past disputes{}",
        ctx()
    );
    let evidence_of = |d: &domain::dispute::Dispute| -> usize {
        d.entries.iter().map(|e| e.evidence.len()).sum()
    };
    assert_eq!(
        o.dispute().map(|d| (
            d.reason,
            d.status,
            d.outcome,
            d.requested_refund.cents(),
            d.supplier_response_due,
            d.resolution_due,
            d.supplier_responded_at,
            d.supplier_rejected,
            d.pending_offer.map(Usd::cents),
            evidence_of(d),
            d.refund_amount.map(Usd::cents),
            d.inspection_fee_refund.map(Usd::cents),
        )),
        m.dispute.as_ref().map(|d| (
            d.reason,
            d.status,
            d.outcome,
            d.requested,
            d.response_due,
            d.resolution_due,
            d.supplier_responded_at,
            d.rejected,
            d.pending_offer,
            d.evidence,
            d.refund,
            d.fee_refund,
        )),
        "dispute{}",
        ctx()
    );
    // A dispute refund is asked back exactly: the refund plus any fee.
    let asked: u64 = m
        .parts
        .iter()
        .filter(|r| r.of_dispute)
        .map(|r| r.amount)
        .sum();
    let decided: u64 = m
        .dispute
        .iter()
        .filter(|d| d.refund.is_some())
        .map(|d| d.refund.unwrap_or(0) + d.fee_refund.unwrap_or(0))
        .sum();
    assert_eq!(asked, decided, "dispute refund parts{}", ctx());
}

/// Money invariants of the real aggregate, whatever the model says.
fn money_invariants(sut: &Sut) {
    let o = &sut.order;
    let terms = o.terms();
    let arrived =
        |s: PaymentStatus| matches!(s, PaymentStatus::Succeeded | PaymentStatus::Refunded);
    let mut arrived_total = 0u64;
    for p in o.payments() {
        let parts: Vec<_> = o
            .refunds()
            .iter()
            .filter(|r| r.payment_id == p.id)
            .collect();
        let asked: u64 = parts.iter().map(|r| r.amount.cents()).sum();
        let settled: u64 = parts
            .iter()
            .filter(|r| r.status == RefundStatus::Succeeded)
            .map(|r| r.amount.cents())
            .sum();
        assert_eq!(
            p.refund_requested.cents(),
            asked,
            "{}: asked back = Σ parts",
            p.id
        );
        assert_eq!(
            p.refunded.cents(),
            settled,
            "{}: returned = Σ settled parts",
            p.id
        );
        assert!(
            p.refunded <= p.refund_requested && p.refund_requested <= p.amount,
            "{}: returned ≤ asked back ≤ amount",
            p.id
        );
        assert!(
            asked == 0 || arrived(p.status),
            "{}: money asked back of a payment that never arrived",
            p.id
        );
        if arrived(p.status) {
            arrived_total += p.amount.cents();
        }
    }
    assert!(
        o.amount_refunded().cents() <= arrived_total,
        "refunded more than arrived"
    );
    let due = |stage| match stage {
        Stage::Initial => terms.initial_payment().cents() + terms.inspection_fee().cents(),
        Stage::Balance => terms.balance().cents(),
    };
    let mut kept_total = 0;
    for stage in [Stage::Initial, Stage::Balance] {
        let holding: Vec<u64> = o
            .payments()
            .iter()
            .filter(|p| p.stage == stage && arrived(p.status))
            .map(|p| p.amount.cents() - p.refund_requested.cents())
            .filter(|&kept| kept > 0)
            .collect();
        assert!(
            holding.len() <= 1,
            "two payments hold money for the {stage} stage"
        );
        let kept: u64 = holding.iter().sum();
        assert!(
            kept <= due(stage),
            "kept {kept} > due {} for {stage}",
            due(stage)
        );
        kept_total += kept;
    }
    assert!(kept_total <= terms.total().cents() + terms.inspection_fee().cents());
    assert!(
        o.amount_paid().cents() <= kept_total,
        "paid for goods ≤ kept"
    );
    if let Some(covered) = o.coverage().covered_amount {
        assert!(o.coverage().reserved <= covered, "reserved ≤ covered");
    }
    let held: u64 = o.payments().iter().map(|p| p.credit_held.cents()).sum();
    assert_eq!(
        sut.credit.reserved().cents(),
        held,
        "credit reserved = Σ held"
    );
}

/// The run's configuration: fixed, whatever `PROPTEST_*` variables say.
/// A longer search is asked for explicitly: `MODEL_CASES=5000` (never
/// fewer than the default) and `MODEL_SEED=<u64>` for another sequence.
fn config() -> Config {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    Config {
        cases: env("MODEL_CASES")
            .map_or(CASES, |n| u32::try_from(n).unwrap_or(u32::MAX).max(CASES)),
        max_shrink_iters: 8192,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(env("MODEL_SEED").unwrap_or(SEED)),
        ..Config::default()
    }
}

fn report_figures(f: &Figures) -> String {
    let mut out = String::new();
    let accepted: u64 = f.by_step.values().map(|c| c[0] + c[1] + c[2]).sum();
    let refused: u64 = f.by_step.values().map(|c| c[3] + c[4] + c[5] + c[6]).sum();
    out.push_str(&format!(
        "model test: {} cases, {} steps applied ({} accepted, {} refused; clock moves not counted)\n",
        f.cases, f.steps, accepted, refused
    ));
    out.push_str(&format!(
        "{:<18} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
        "step", "changed", "quiet", "noted", "404", "403", "409", "422"
    ));
    for (name, c) in &f.by_step {
        out.push_str(&format!(
            "{:<18} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
            name, c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        ));
    }
    out.push_str(&format!("statuses reached: {:?}\n", f.statuses));
    out.push_str(&format!(
        "dispute statuses reached: {:?}\n",
        f.dispute_statuses
    ));
    out.push_str(&format!("dispute outcomes: {:?}\n", f.dispute_outcomes));
    out.push_str(&format!("payment flags seen: {:?}\n", f.flags));
    out
}

#[test]
fn the_order_aggregate_agrees_with_the_reference_model_step_by_step() {
    record(|f| *f = Figures::default());
    let mut runner = TestRunner::new(config());
    let strategy = OrderModel::sequential_strategy(MIN_STEPS..=MAX_STEPS);
    let result = runner.run(&strategy, |(initial, steps, seen)| {
        OrderAggregate::test_sequential(config(), initial, steps, seen);
        Ok(())
    });
    if let Err(err) = result {
        match err {
            TestError::Fail(why, (initial, steps, _)) => {
                let listed: Vec<String> = steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("  {:>2}. {s:?}", i + 1))
                    .collect();
                panic!(
                    "the aggregate and the model disagree: {why}\n\
                     minimal sequence ({} steps) from\n{initial:#?}\n{}",
                    steps.len(),
                    listed.join("\n")
                );
            }
            TestError::Abort(why) => panic!("aborted: {why}"),
        }
    }
    let f = FIGURES.with(|figures| std::mem::take(&mut *figures.borrow_mut()));
    let text = report_figures(&f);
    figures::record("model", text.trim_end());

    // The generators reach every status and exercise every step both ways.
    for s in OrderStatus::ALL {
        assert!(f.statuses.contains(s.as_str()), "never reached {s}\n{text}");
    }
    for s in DisputeStatus::ALL {
        assert!(
            f.dispute_statuses.contains(s.as_str()),
            "never reached dispute {s:?}\n{text}"
        );
    }
    assert_eq!(f.dispute_outcomes.len(), 4, "every dispute outcome\n{text}");
    assert_eq!(f.flags.len(), 6, "every payment flag\n{text}");
    for (name, c) in &f.by_step {
        assert!(c[0] + c[1] + c[2] > 0, "{name} never accepted\n{text}");
        if *name != "sweep" {
            assert!(
                c[3] + c[4] + c[5] + c[6] > 0,
                "{name} never refused\n{text}"
            );
        }
    }
    assert_eq!(f.by_step.len(), 18, "every kind of step ran\n{text}");
    assert!(f.steps >= 5_000, "thousands of steps\n{text}");
}

// ---- scenarios ------------------------------------------------------------------------------

/// Run `steps` on a fresh order, checking the aggregate against the model
/// after each; returns what each step did.
fn replay(setup: Setup, steps: &[Step]) -> (Sut, Model, Vec<Outcome>) {
    let mut model = Model::new(setup);
    let mut sut = OrderAggregate::init_test(&model);
    OrderAggregate::check_invariants(&sut, &model);
    let mut outcomes = Vec::new();
    for step in steps {
        model = OrderModel::apply(model, step);
        sut = OrderAggregate::apply(sut, &model, step.clone());
        OrderAggregate::check_invariants(&sut, &model);
        outcomes.push(model.last);
    }
    (sut, model, outcomes)
}

/// 100 × $30.00 = $3000.00, initial $1500.00, ship by in 10 days,
/// pre-shipment coverage; created by the buyer; plenty of limit and a
/// $10,000 credit line.
fn reference_setup() -> Setup {
    Setup {
        offset_secs: 0,
        limit: 5_000_000,
        others_reserved: 0,
        receiving_account: true,
        credit: (CreditLineStatus::Approved, 1_000_000),
        created_by: Party::Buyer,
        terms: TermsSpec {
            items: vec![(100, 3_000)],
            shipping: 0,
            initial_permille: 500,
            ship_by_days: 10,
            coverage: CoverageType::PreShipment,
            inspection: None,
        },
    }
}

fn provider_says(signal: PaymentSignal, newest: usize) -> Step {
    Step::PaymentReport {
        target: Target::FromEnd(newest),
        signal,
        provider: ProviderPick::Right,
        amount: AmountPick::Right,
        currency: CurrencyPick::Usd,
    }
}

fn refund_settles(from_end: usize) -> Step {
    Step::RefundReport {
        target: Target::FromEnd(from_end),
        succeeded: true,
        provider: ProviderPick::Right,
        amount: AmountPick::Right,
    }
}

const VISA: MethodSpec = MethodSpec::Card { brand: 0 };

#[test]
fn when_a_provider_repeats_or_reorders_its_reports_the_money_is_applied_once() {
    use PaymentSignal as G;
    let steps = [
        Step::Confirm {
            who: Who::Supplier,
            version: VersionPick::Right,
        },
        Step::Pay {
            who: Who::Buyer,
            stage: Stage::Initial,
            method: MethodSpec::PayLater { term: 3 },
            reuse_id: false,
        },
        provider_says(G::AgreementCompleted, 0),
        provider_says(G::Succeeded, 0),
        provider_says(G::Succeeded, 0),
        provider_says(G::AgreementCompleted, 0),
        provider_says(G::Processing, 0),
        provider_says(G::Failed, 0),
        provider_says(G::Failed, 0),
    ];
    let (sut, model, outcomes) = replay(reference_setup(), &steps);
    use Outcome::{Changed, Quiet};
    assert_eq!(
        outcomes,
        [
            Changed, Changed, Changed, Changed, Quiet, Quiet, Quiet, Changed, Quiet
        ]
    );
    assert_eq!(sut.order.status(), OrderStatus::AwaitingShipment);
    assert_eq!(model.kept(Stage::Initial), 150_000);
    assert_eq!(sut.order.amount_paid(), usd(150_000));
    assert_eq!(
        sut.order.payments()[0].flag.as_ref().map(|f| f.reason),
        Some(FlagReason::ContradictsFinalStatus)
    );
    // The loan financed the payment: its credit stays used.
    assert_eq!(sut.credit.reserved(), usd(150_000));
}

#[test]
fn when_the_balance_arrives_while_a_dispute_refund_is_pending_it_is_returned_and_the_order_closes_once_all_settle()
 {
    let steps = [
        Step::Confirm {
            who: Who::Supplier,
            version: VersionPick::Right,
        },
        Step::Pay {
            who: Who::Buyer,
            stage: Stage::Initial,
            method: VISA,
            reuse_id: false,
        },
        provider_says(PaymentSignal::Succeeded, 0),
        Step::Ship {
            who: Who::Supplier,
            back_hours: 0,
        },
        Step::Pay {
            who: Who::Buyer,
            stage: Stage::Balance,
            method: VISA,
            reuse_id: false,
        },
        Step::OpenDispute {
            who: Who::Buyer,
            reason: DisputeReason::Quality,
            amount: 10_000,
            evidence: 1,
        },
        Step::Respond {
            who: Who::Supplier,
            action: RespondPick::Accept,
            message: false,
            evidence: 0,
        },
        // The balance arrives on an order that is closing: returned whole.
        provider_says(PaymentSignal::Succeeded, 0),
        // The dispute's part settles; the returned balance has not yet.
        refund_settles(1),
        refund_settles(0),
    ];
    let (sut, model, outcomes) = replay(reference_setup(), &steps);
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Changed),
        "{outcomes:?}"
    );
    assert_eq!(sut.order.status(), OrderStatus::Refunded);
    assert_eq!(model.kept(Stage::Balance), 0);
    assert_eq!(sut.order.amount_paid(), usd(140_000));
    assert_eq!(sut.order.amount_refunded(), usd(10_000 + 150_000));
    assert_eq!(
        sut.order.payments()[1].flag.as_ref().map(|f| f.reason),
        Some(FlagReason::ClosedOrder)
    );
    assert_eq!(sut.limit.reserved(), Usd::ZERO);
}

#[test]
fn refusals_are_classified_404_then_403_then_409_then_422() {
    let steps = [
        // A stranger: 404 even though the version is wrong too.
        Step::Confirm {
            who: Who::Stranger,
            version: VersionPick::Older,
        },
        // The buyer created the order and so has confirmed already: 409.
        Step::Confirm {
            who: Who::Buyer,
            version: VersionPick::Older,
        },
        // An arbiter may not confirm: 403.
        Step::Confirm {
            who: Who::Arbiter,
            version: VersionPick::Right,
        },
        // The supplier with a stale version: 409.
        Step::Confirm {
            who: Who::Supplier,
            version: VersionPick::Newer,
        },
        Step::Confirm {
            who: Who::Supplier,
            version: VersionPick::Right,
        },
        // $1500 is within the card limit, but not with an unknown brand: 422.
        Step::Pay {
            who: Who::Buyer,
            stage: Stage::Initial,
            method: MethodSpec::Card { brand: 2 },
            reuse_id: false,
        },
        // The balance before shipment: 409 before the bad brand's 422.
        Step::Pay {
            who: Who::Buyer,
            stage: Stage::Balance,
            method: MethodSpec::Card { brand: 2 },
            reuse_id: false,
        },
        // A party who is also an arbiter may not decide: 403 before 409.
        Step::Decide {
            who: Who::BuyerAlsoArbiter,
            at_fault: None,
        },
    ];
    let (_, _, outcomes) = replay(reference_setup(), &steps);
    use ErrorKind as K;
    use Outcome::{Changed, Refused};
    assert_eq!(
        outcomes,
        [
            Refused(K::NotFound),
            Refused(K::Conflict),
            Refused(K::Forbidden),
            Refused(K::Conflict),
            Changed,
            Refused(K::Unprocessable),
            Refused(K::Conflict),
            Refused(K::Forbidden),
        ]
    );
}
