//! Model-based test of the order aggregate (`proptest-state-machine`).
//!
//! A deliberately small reference model of one order — its status and why
//! it ended, version and revision, confirmations and reminders, the amounts
//! due per stage, every payment with the set of payments whose money was
//! applied to the order, the covered, refunded and reserved amounts,
//! shipment, the disputes, the refund parts, the Pay Later credit it holds
//! and every clock that ends a waiting status (draft, unpaid, payment
//! expiry, not shipped, balance, receipt, dispute deadlines, refund parts,
//! coverage) — is run side by side with the real [`Order`] over generated
//! sequences of transitions: every command the aggregate takes, by every
//! kind of caller (the right one and the wrong ones, an arbiter who is the
//! buyer), in any status, with provider reports duplicated, out of order,
//! for the wrong provider, amount or currency, or never sent at all, the
//! scheduled sweep, and time moving on (by minutes, by days, by months, and
//! to a second either side of every deadline the order shows).
//!
//! The model states each command's rules as a list of refusals, grouped by
//! kind: first who the caller is (404 not theirs, 403 not their action),
//! then the state (409), too soon (429) and the business rules (422); a
//! command is refused with the first kind any of its rules gives. After
//! every step the real aggregate must agree with the model:
//!
//! * refused (with the same [`ErrorKind`]) vs accepted; a refused command,
//!   and an accepted one that emits nothing (a duplicate or older report, a
//!   sweep with nothing due) leaves the order exactly as it was; an accepted
//!   change bumps the version and the revision by exactly one and the
//!   history (the events returned) grows only then; a reminder adds history
//!   and a revision, not a version;
//! * status, end reason, version, revision, confirmations, covered, covered
//!   left and reserved amounts (also on the supplier's limit), the Pay
//!   Later credit held (also on the buyer's credit line), every payment
//!   (status, failure, flag, amounts asked back and returned), the money
//!   kept per stage, `amount_paid`, every refund part (flag, attempts,
//!   settled outside), `amount_refunded`, the shipment, completion,
//!   feedback, every dispute, every clock's due instant (and the receipt
//!   clock's extensions and notice), and the instant the sweep must next
//!   look at the order;
//! * money invariants that hold whatever the model says: no payment is
//!   asked back more than its amount, nor returned more than was asked; what
//!   is kept per stage never exceeds what is due for it and at most one
//!   payment per stage holds money (no doubled payment); refunds never
//!   exceed what arrived; the reservation never exceeds the covered amount
//!   and a terminal order holds none; a failed or refunded payment holds no
//!   credit;
//! * liveness: every order is finished, waits for an arbiter, or shows the
//!   instant the sweep must look at it — and a sweep at or after that
//!   instant does something.
//!
//! The model counts the bytes of dispute texts each party has written
//! (descriptions, messages, evidence names and URLs) within its 32 KiB
//! share and beyond it: in a quarter of the cases the parties are wordy
//! (texts of up to 2,000 four-byte characters, 8,000 bytes), so shares,
//! the 8 KiB of short messages beyond them, and the openings beyond even
//! that are met.
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
//! `MODEL_SEED` ask for a longer or another search); a second run of 256
//! cases of 60–150 steps, every one wordy, searches the deep end of the
//! dispute texts (shares and overflows used up). Their figures (cases,
//! steps, accepted and refused per kind of step, the statuses, end
//! reasons, dispute outcomes, payment and refund flags reached, what the
//! sweep did, and how often the later rules were met: a flag about money
//! kept against the wrong provider, an offer taking back a rejection, an
//! entry beyond a party's share, a dispute opened beyond the overflow) are
//! recorded at the end (`test_kit::figures`: printed, and kept for `make
//! test`'s summary). A failure is shrunk and reported with its initial
//! state and the minimal transition sequence. Scenarios at the end replay
//! fixed sequences through the same comparison.

use test_kit::figures;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use chrono::{Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestError, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use domain::actor::{ActorKind, Caller, Party, Provider, Role};
use domain::calendar::Timestamp;
use domain::clocks::Clocks;
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, Terms, TermsDraft,
};
use domain::coverage::{AssuranceLimit, CoverageType, ReceivingAccount};
use domain::deadline::Timer;
use domain::dispute::{Decision, DisputeOutcome, DisputeReason, DisputeStatus, ResponseAction};
use domain::error::ErrorKind;
use domain::event::{DomainEvent, EventBody, FlagResolution};
use domain::feedback::Rating;
use domain::ids::{ApplicationId, OrderId, PaymentId, RefundId, UserId};
use domain::order::{
    Counterparty, DisputeResponse, EndReason, NewOrder, OpenDispute, PaymentReport, PaymentRequest,
    RefundReport, ShipmentDetails,
};
use domain::payment::{
    AccountType, CardBrand, CreditLine, CreditLineStatus, FailureReason, FlagReason, MethodKind,
    PaymentContext, PaymentMethod, PaymentSignal, PaymentStatus, Stage,
};
use domain::refund::{RefundFlagReason, RefundResolution, RefundStatus};
use domain::status::OrderStatus;
use domain::text::{CountryCode, DocumentRef, HttpsUrl, LongText, Sha256Hex, ShortText};
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

// The rules' bounds, as the model states them.
const MAX_FAILED_PER_STAGE: usize = 3;
const MAX_REFUND_ATTEMPTS: u32 = 5;
const MAX_DISPUTES: usize = 3;
const MAX_MESSAGES: usize = 50;
const MAX_MESSAGES_PER_PARTY: usize = 25;
const MAX_EVIDENCE: usize = 20;
const MAX_EVIDENCE_PER_PARTY: usize = 10;
const MAX_RECEIPT_EXTENSIONS: u8 = 2;
/// Dispute texts per party per order (UTF-8 bytes of descriptions,
/// messages, evidence names and URLs)…
const MAX_PARTY_TEXT_BYTES: usize = 32 * 1024;
/// …beyond which an action's message is at most 500 characters…
const MAX_CHARS_WHEN_FULL: usize = 500;
/// …and such messages stay within 8 KiB per party — except a new
/// dispute's description, always accepted at that length.
const MAX_PARTY_OVERFLOW_BYTES: usize = 8 * 1024;

// The lifecycle's clocks (the defaults every generated order lives by), in
// days unless named working days.
const DAY: i64 = 86_400;
const CONFIRMATION_DAYS: i64 = 30;
const CONFIRMATION_MAX_DAYS: i64 = 90;
const UNPAID_DAYS: i64 = 30;
const RETRY_MIN_DAYS: i64 = 7;
const PAYMENT_EXPIRY_WORKING_DAYS: u32 = 10;
const AGREEMENT_DAYS: i64 = 7;
const NOT_SHIPPED_DAYS: i64 = 30;
const BALANCE_DAYS: i64 = 30;
const BALANCE_MAX_DAYS: i64 = 90;
const RECEIPT_DAYS: i64 = 30;
const RECEIPT_EXTENSION_DAYS: i64 = 15;
const RECEIPT_NOTICE_DAYS: i64 = 3;
const RECEIPT_MIN_DAYS: i64 = 5;
const RESPONSE_DAYS: i64 = 5;
const RESOLUTION_DAYS: i64 = 15;
const REFUND_WORKING_DAYS: u32 = 10;
const QUALITY_DAYS_AFTER_SHIPMENT: i64 = 180;
const QUALITY_DAYS_AFTER_CUSTOMS: i64 = 15;
const FEEDBACK_DAYS: i64 = 60;

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
            url: HttpsUrl::parse(&format!("https://evidence.example/{i}.jpg")).expect("valid url"),
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
    /// The buyer's id with only the arbiter group: an arbiter who is the
    /// buyer.
    BuyerIdAsArbiter,
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
            Who::Arbiter | Who::BuyerIdAsArbiter => Pos::Arbiter,
            Who::Stranger | Who::BuyerIdAsSupplier => Pos::Nobody,
        }
    }

    /// An arbiter whose own id is the order's buyer's.
    fn is_own_arbiter(self) -> bool {
        self == Who::BuyerIdAsArbiter
    }

    fn caller(self) -> Caller {
        match self {
            Who::Buyer => Caller::new(uid(BUYER), [Role::Buyer]),
            Who::Supplier => Caller::new(uid(SUPPLIER), [Role::Supplier]),
            Who::Arbiter => Caller::new(uid(ARBITER), [Role::Arbiter]),
            Who::Stranger => Caller::new(uid(STRANGER), [Role::Buyer, Role::Supplier]),
            Who::BuyerIdAsSupplier => Caller::new(uid(BUYER), [Role::Supplier]),
            Who::BuyerAlsoArbiter => Caller::new(uid(BUYER), [Role::Buyer, Role::Arbiter]),
            Who::BuyerIdAsArbiter => Caller::new(uid(BUYER), [Role::Arbiter]),
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

/// A text a party writes: a short one, or `n` characters of a four-byte
/// character (2,000 of them are 8,000 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextPick {
    Short,
    Wide(usize),
}

/// A four-byte character (U+1F4E6, a package).
const WIDE: char = '\u{1F4E6}';
/// The short description of a dispute, and the short message.
const DESCRIPTION: &str = "not as agreed";
const MESSAGE: &str = "see the photos";

impl TextPick {
    fn text(self, short: &str) -> LongText {
        match self {
            TextPick::Short => long(short),
            TextPick::Wide(n) => long(&WIDE.to_string().repeat(n)),
        }
    }

    /// (characters, UTF-8 bytes)
    fn size(self, short: &str) -> (usize, usize) {
        match self {
            TextPick::Short => (short.chars().count(), short.len()),
            TextPick::Wide(n) => (n, n * WIDE.len_utf8()),
        }
    }
}

/// The UTF-8 bytes of the names and URLs of `n` generated evidence
/// references.
fn evidence_bytes(n: usize) -> usize {
    evidence(n)
        .iter()
        .map(|e| e.name.as_str().len() + e.url.as_str().len())
        .sum()
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
    ExtendReceipt {
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
        description: TextPick,
        evidence: usize,
    },
    Respond {
        who: Who,
        action: RespondPick,
        message: Option<TextPick>,
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
    /// An arbiter resolves a refund part: ask again, or settled outside.
    ResolveRefund {
        who: Who,
        target: Target,
        retry: bool,
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
            Step::ExtendReceipt { .. } => "extend_receipt",
            Step::Feedback { .. } => "leave_feedback",
            Step::OpenDispute { .. } => "open_dispute",
            Step::Respond { .. } => "respond_dispute",
            Step::Withdraw { .. } => "withdraw_dispute",
            Step::Escalate { .. } => "escalate_dispute",
            Step::Decide { .. } => "decide_dispute",
            Step::RefundReport { .. } => "refund_report",
            Step::Resolve { .. } => "resolve_payment",
            Step::ResolveRefund { .. } => "resolve_refund",
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
    /// Accepted: events, the version + 1 and the revision + 1.
    Changed,
    /// A reminder: an event and the revision + 1 (the reminder's time is
    /// stored), the version as it was.
    Noted,
    /// The clock moved.
    Clock,
}

fn rank(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NotFound => 0,
        ErrorKind::Forbidden => 1,
        ErrorKind::Conflict => 2,
        ErrorKind::TooManyRequests => 3,
        ErrorKind::Unprocessable => 4,
    }
}

/// The refusals of one command: who the caller is comes first (404, 403);
/// then the first kind, in the order 404 → 409 → 429 → 422, that any of
/// its rules gives.
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
    /// who is an arbiter too), and 403 for an arbiter whose own id is the
    /// buyer's or the supplier's, whatever groups they carry.
    fn arbiter(&mut self, who: Who) {
        let kind = match who.pos() {
            Pos::Nobody => Some(ErrorKind::NotFound),
            Pos::Party(_) => Some(ErrorKind::Forbidden),
            Pos::Arbiter if who.is_own_arbiter() => Some(ErrorKind::Forbidden),
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

    fn too_soon(&mut self, cond: bool) {
        self.deny(cond, ErrorKind::TooManyRequests);
    }

    fn rule(&mut self, cond: bool) {
        self.deny(cond, ErrorKind::Unprocessable);
    }

    fn refusal(&self) -> Option<ErrorKind> {
        self.caller.or(self.rest)
    }
}

/// A clock the model keeps: running until an instant, or paused with some
/// seconds left (a dispute or a payment in flight stops it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MTimer {
    Running(Timestamp),
    Paused(i64),
}

impl MTimer {
    fn days_after(from: Timestamp, n: i64) -> MTimer {
        MTimer::Running(from + days(n))
    }

    fn due(self) -> Option<Timestamp> {
        match self {
            MTimer::Running(t) => Some(t),
            MTimer::Paused(_) => None,
        }
    }

    /// Stopped at `now`, keeping what was left (never below zero).
    fn pause(self, now: Timestamp) -> MTimer {
        match self {
            MTimer::Running(due) => MTimer::Paused((due - now).num_seconds().max(0)),
            paused => paused,
        }
    }

    /// Running again from `now`, with at least `min` days left.
    fn resume(self, now: Timestamp, min: i64) -> MTimer {
        let floor = now + days(min);
        match self {
            MTimer::Paused(left) => MTimer::Running((now + TimeDelta::seconds(left)).max(floor)),
            MTimer::Running(due) => MTimer::Running(due.max(floor)),
        }
    }

    /// At least `min` days left from `now`, running or paused.
    fn at_least(self, now: Timestamp, min: i64) -> MTimer {
        match self {
            MTimer::Running(due) => MTimer::Running(due.max(now + days(min))),
            MTimer::Paused(left) => MTimer::Paused(left.max(min * DAY)),
        }
    }

    fn extend(self, n: i64) -> MTimer {
        match self {
            MTimer::Running(due) => MTimer::Running(due + days(n)),
            MTimer::Paused(left) => MTimer::Paused(left + n * DAY),
        }
    }

    /// Runs out no later than `latest` (seen from `now` when paused).
    fn at_most(self, now: Timestamp, latest: Timestamp) -> MTimer {
        match self {
            MTimer::Running(due) => MTimer::Running(due.min(latest)),
            MTimer::Paused(left) => MTimer::Paused(left.min((latest - now).num_seconds().max(0))),
        }
    }

    /// Runs out no earlier than `earliest` (seen from `now` when paused).
    fn not_before(self, now: Timestamp, earliest: Timestamp) -> MTimer {
        match self {
            MTimer::Running(due) => MTimer::Running(due.max(earliest)),
            MTimer::Paused(left) => MTimer::Paused(left.max((earliest - now).num_seconds().max(0))),
        }
    }

    fn of(t: Timer) -> MTimer {
        match t {
            Timer::Running(due) => MTimer::Running(due),
            Timer::Paused(left) => MTimer::Paused(left),
        }
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

    fn arrived(self) -> bool {
        matches!(self, PState::Succeeded | PState::Refunded)
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
    failure: Option<FailureReason>,
    flag: Option<FlagReason>,
    /// Pay Later credit this payment holds on the buyer's line.
    credit_held: u64,
    /// Refund parts requested of it (settled or not).
    asked_back: u64,
    /// Refund parts settled.
    returned: u64,
    overdue_reported: bool,
    initiated_at: Timestamp,
    /// The last day its money is expected (Pay Later: counted from the
    /// loan agreement once there is one).
    latest: NaiveDate,
}

impl MPay {
    fn provider(&self) -> Provider {
        self.kind.provider()
    }

    /// What can still be asked back: what arrived, less what was asked.
    fn refundable(&self) -> u64 {
        if self.state.arrived() {
            self.amount - self.asked_back
        } else {
            0
        }
    }

    /// While its window runs (processing): overdue strictly after the end
    /// of its latest arrival day.
    fn overdue_after(&self) -> Option<Timestamp> {
        (self.state == PState::Processing).then(|| end_of(self.latest))
    }

    /// In flight: expires strictly after the end of the working day 10
    /// working days after its latest arrival day; a Pay Later payment
    /// still awaiting its agreement, strictly after 7 days.
    fn expires_after(&self) -> Option<Timestamp> {
        match self.state {
            PState::AwaitingAgreement => Some(self.initiated_at + days(AGREEMENT_DAYS)),
            PState::Processing => Some(end_of(working_days_after(
                self.latest,
                PAYMENT_EXPIRY_WORKING_DAYS,
            ))),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct MPart {
    payment: usize,
    amount: u64,
    settled: bool,
    flag: Option<RefundFlagReason>,
    attempts: u32,
    attempted_at: Timestamp,
    settled_outside: bool,
    /// Part of a dispute's refund (else the return of a whole payment, a
    /// not-shipped refund, or what an arbiter refunds of a payment).
    of_dispute: bool,
}

impl MPart {
    /// Still expected from the provider: flagged strictly after the end of
    /// the working day 10 working days after the current attempt.
    fn expected_by(&self) -> Option<Timestamp> {
        (!self.settled && self.flag.is_none()).then(|| {
            end_of(working_days_after(
                self.attempted_at.date_naive(),
                REFUND_WORKING_DAYS,
            ))
        })
    }
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
    rejected_at: Option<Timestamp>,
    pending_offer: Option<u64>,
    /// Evidence references added, by (buyer, supplier).
    evidence: (usize, usize),
    /// Offers and comments written, by (buyer, supplier).
    messages: (usize, usize),
    refund: Option<u64>,
    fee_refund: Option<u64>,
}

fn of_party(pair: (usize, usize), p: Party) -> usize {
    match p {
        Party::Buyer => pair.0,
        Party::Supplier => pair.1,
    }
}

fn add_party(pair: &mut (usize, usize), p: Party, n: usize) {
    match p {
        Party::Buyer => pair.0 += n,
        Party::Supplier => pair.1 += n,
    }
}

impl MDispute {
    fn unresolved(&self) -> bool {
        self.status != DisputeStatus::Resolved
    }

    fn negotiable(&self) -> bool {
        matches!(
            self.status,
            DisputeStatus::Open | DisputeStatus::Negotiating
        )
    }

    fn answered_in_time(&self) -> bool {
        self.supplier_responded_at
            .is_some_and(|at| at <= self.response_due)
    }

    /// The buyer may escalate at or after a deadline, or after a supplier's
    /// rejection (at once) — one the supplier has not taken back with an
    /// offer.
    fn buyer_may_escalate(&self, now: Timestamp) -> bool {
        self.negotiable()
            && ((!self.answered_in_time() && now >= self.response_due)
                || now >= self.resolution_due
                || self.rejected)
    }

    /// The sweep escalates strictly after a deadline, and a rejection (not
    /// taken back by an offer) at its first run strictly after it.
    fn sweep_escalates(&self, now: Timestamp) -> bool {
        self.negotiable()
            && ((!self.answered_in_time() && now > self.response_due)
                || now > self.resolution_due
                || (self.rejected && self.rejected_at.is_none_or(|at| now > at)))
    }

    /// The instant after which the sweep must look at it.
    fn escalation_check(&self) -> Option<Timestamp> {
        if !self.negotiable() {
            return None;
        }
        let mut due = self.resolution_due;
        if !self.answered_in_time() {
            due = due.min(self.response_due);
        }
        if let (true, Some(at)) = (self.rejected, self.rejected_at) {
            due = due.min(at);
        }
        Some(due)
    }
}

/// The kind of dispute entry a party's texts come with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Opening,
    /// Accept, offer, reject.
    Action,
    Comment,
}

/// What a party has written in the order's disputes (UTF-8 bytes): within
/// its share, and beyond it (short messages on actions, descriptions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct MTexts {
    within: usize,
    beyond: usize,
}

#[derive(Debug, Clone)]
struct MCredit {
    status: CreditLineStatus,
    limit: u64,
    reserved: u64,
}

impl MCredit {
    fn available(&self) -> u64 {
        self.limit.saturating_sub(self.reserved)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MReceipt {
    timer: MTimer,
    extensions: u8,
    notice_sent: bool,
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
    end_reason: Option<EndReason>,
    version: u64,
    revision: u64,
    /// (buyer, supplier)
    confirmed: (bool, bool),
    /// The last reminder of (buyer, supplier).
    reminded: (Option<Timestamp>, Option<Timestamp>),
    amended_at: Option<Timestamp>,
    confirmed_at: Option<Timestamp>,
    covered: Option<u64>,
    /// Refunds decided against the covered amount so far.
    covered_refunded: u64,
    reserved: u64,
    coverage_ended_at: Option<Timestamp>,
    /// The initial payment's clock.
    unpaid: Option<MTimer>,
    /// The balance's clock.
    balance_clock: Option<MTimer>,
    /// The receipt clock.
    receipt: Option<MReceipt>,
    payments: Vec<MPay>,
    /// The payments whose money was applied to the order: a second success
    /// for one of them cannot count twice.
    applied: BTreeSet<usize>,
    shipment: Option<MShip>,
    completed_at: Option<Timestamp>,
    feedback: bool,
    dispute: Option<MDispute>,
    past_disputes: Vec<MDispute>,
    /// Dispute texts written by (buyer, supplier), over every dispute.
    texts: (MTexts, MTexts),
    /// The parties write long texts (the generator's choice).
    wordy: bool,
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

    fn reminded_by(&self, p: Party) -> Option<Timestamp> {
        match p {
            Party::Buyer => self.reminded.0,
            Party::Supplier => self.reminded.1,
        }
    }

    fn open_dispute(&self) -> Option<&MDispute> {
        self.dispute.as_ref().filter(|d| d.unresolved())
    }

    fn texts_of(&self, p: Party) -> MTexts {
        match p {
            Party::Buyer => self.texts.0,
            Party::Supplier => self.texts.1,
        }
    }

    fn set_texts(&mut self, p: Party, t: MTexts) {
        match p {
            Party::Buyer => self.texts.0 = t,
            Party::Supplier => self.texts.1 = t,
        }
    }

    /// The texts of one dispute entry by `party`: a `message` of
    /// (characters, bytes) and `evidence` references. What fits in the
    /// party's 32 KiB share counts there. Beyond it no comment and no
    /// evidence are taken; a message of at most 500 characters is, on an
    /// action that moves or ends the dispute while such messages stay
    /// within 8 KiB — and on opening a dispute whatever the overflow.
    /// An entry with no text is always taken. Returns the party's texts
    /// after the entry.
    fn write_texts(
        &self,
        v: &mut Verdict,
        party: Party,
        entry: Entry,
        message: Option<(usize, usize)>,
        evidence: usize,
    ) -> MTexts {
        let t = self.texts_of(party);
        let (chars, message_bytes) = message.unwrap_or((0, 0));
        let bytes = message_bytes + evidence_bytes(evidence);
        if bytes == 0 {
            return t;
        }
        if t.within + bytes <= MAX_PARTY_TEXT_BYTES {
            return MTexts {
                within: t.within + bytes,
                ..t
            };
        }
        v.rule(entry == Entry::Comment || evidence > 0);
        v.rule(chars > MAX_CHARS_WHEN_FULL);
        v.rule(entry == Entry::Action && t.beyond + message_bytes > MAX_PARTY_OVERFLOW_BYTES);
        MTexts {
            beyond: t.beyond + message_bytes,
            ..t
        }
    }

    fn disputes(&self) -> impl Iterator<Item = &MDispute> {
        self.past_disputes.iter().chain(self.dispute.as_ref())
    }

    fn terminal(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::Closed
        )
    }

    /// No more money should arrive: terminal, or being refunded.
    fn closed(&self) -> bool {
        self.terminal() || self.status == OrderStatus::RefundPending
    }

    fn finished(&self) -> bool {
        self.terminal() || (self.status == OrderStatus::Completed && self.reserved == 0)
    }

    fn awaits_arbiter(&self) -> bool {
        self.open_dispute()
            .is_some_and(|d| d.status == DisputeStatus::Escalated)
            || self.payments.iter().any(|p| p.flag.is_some())
            || self.parts.iter().any(|r| r.flag.is_some())
    }

    fn in_flight(&self) -> bool {
        self.payments.iter().any(|p| p.state.in_flight())
    }

    fn failed_payments(&self, stage: Stage) -> usize {
        self.payments
            .iter()
            .filter(|p| p.stage == stage && p.state == PState::Failed)
            .count()
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

    /// What is left of the covered amount for refunds.
    fn covered_left(&self) -> u64 {
        self.covered
            .unwrap_or(0)
            .saturating_sub(self.covered_refunded)
    }

    fn refund_cap(&self) -> u64 {
        self.covered_left().min(self.goods_paid())
    }

    fn quality_window_end(&self) -> Option<Timestamp> {
        match (self.terms.coverage, &self.shipment) {
            (CoverageType::PostDelivery, Some(s)) => {
                let by_shipment = s.at + days(QUALITY_DAYS_AFTER_SHIPMENT);
                Some(match s.customs {
                    Some(c) => by_shipment.min(c + days(QUALITY_DAYS_AFTER_CUSTOMS)),
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

    /// A refund is positive, within the covered amount not yet refunded and
    /// within what was paid for the goods.
    fn caps(&self, v: &mut Verdict, amount: u64) {
        v.rule(amount == 0 || amount > self.covered_left() || amount > self.goods_paid());
    }

    // ---- the clocks ----

    /// A draft is cancelled strictly after 30 days since its creation or
    /// last amendment, at the latest 90 days after its creation.
    fn confirmation_due(&self) -> Option<Timestamp> {
        (self.status == OrderStatus::AwaitingConfirmation).then(|| {
            (self.amended_at.unwrap_or(self.created_at) + days(CONFIRMATION_DAYS))
                .min(self.created_at + days(CONFIRMATION_MAX_DAYS))
        })
    }

    fn unpaid_due(&self) -> Option<Timestamp> {
        (self.status == OrderStatus::AwaitingInitialPayment)
            .then(|| self.unpaid.and_then(MTimer::due))
            .flatten()
    }

    /// Not shipped 30 days after the end of the ship-by day, no dispute
    /// unresolved.
    fn not_shipped_due(&self) -> Option<Timestamp> {
        (self.status == OrderStatus::AwaitingShipment && self.open_dispute().is_none())
            .then(|| self.ship_by_end() + days(NOT_SHIPPED_DAYS))
    }

    fn balance_due(&self) -> Option<Timestamp> {
        (self.status == OrderStatus::Shipped)
            .then(|| self.balance_clock.and_then(MTimer::due))
            .flatten()
    }

    fn receipt_due(&self) -> Option<Timestamp> {
        (self.status == OrderStatus::AwaitingReceiptConfirmation)
            .then(|| self.receipt.and_then(|r| r.timer.due()))
            .flatten()
    }

    /// Every instant strictly after which the sweep has work on the order:
    /// what the sweep's index is keyed by (each + 1 s).
    fn sweep_dues(&self) -> Vec<Timestamp> {
        let mut due = Vec::new();
        let dispute = self.open_dispute();
        due.extend(dispute.and_then(MDispute::escalation_check));
        for p in self.payments.iter().filter(|p| p.state.in_flight()) {
            due.extend(p.expires_after());
            due.extend(p.overdue_after().filter(|_| !p.overdue_reported));
        }
        due.extend(
            self.confirmation_due()
                .or(self.unpaid_due())
                .or(self.not_shipped_due())
                .or(self.balance_due().filter(|_| dispute.is_none())),
        );
        if let (Some(t), None) = (self.receipt_due(), dispute) {
            due.push(t);
            if self.receipt.is_some_and(|r| !r.notice_sent) {
                due.push(t - days(RECEIPT_NOTICE_DAYS));
            }
        }
        due.extend(self.parts.iter().filter_map(MPart::expected_by));
        if self.reserved > 0 && self.status != OrderStatus::RefundPending && dispute.is_none() {
            due.extend(self.coverage_end());
        }
        due
    }

    fn next_sweep_due(&self) -> Option<Timestamp> {
        self.sweep_dues()
            .into_iter()
            .min()
            .map(|t| t + TimeDelta::seconds(1))
    }

    /// Instants worth moving the clock to (each with a second either side,
    /// by the generator): every clock above, and the bounds the commands
    /// check (a reminder's 24 hours, the ship-by day, the buyer's
    /// escalation, the feedback window).
    fn interesting_instants(&self) -> Vec<Timestamp> {
        let mut out = self.sweep_dues();
        out.extend(self.reminded.0.map(|t| t + TimeDelta::hours(24)));
        out.extend(self.reminded.1.map(|t| t + TimeDelta::hours(24)));
        if !self.terminal() {
            out.push(self.ship_by_end());
        }
        if let Some(d) = self.open_dispute() {
            out.push(d.response_due);
            out.push(d.resolution_due);
        }
        out.extend(self.completed_at.map(|c| c + days(FEEDBACK_DAYS)));
        out.extend(self.quality_window_end());
        out.retain(|t| *t >= self.now);
        out
    }

    // ---- effects ----

    /// End the order with its reason: every status clock stops.
    fn end(&mut self, status: OrderStatus, reason: EndReason) {
        self.status = status;
        self.end_reason = Some(reason);
        self.unpaid = None;
        self.balance_clock = None;
        self.receipt = None;
    }

    /// Give back the whole reservation: the coverage has ended.
    fn release(&mut self) -> bool {
        if self.reserved == 0 {
            return false;
        }
        self.reserved = 0;
        self.coverage_ended_at.get_or_insert(self.now);
        true
    }

    /// A compensation shrinks the reservation by what it refunds.
    fn release_part(&mut self, amount: u64) {
        self.reserved -= amount.min(self.reserved);
    }

    /// Flag a payment; `false` (no event) when the flag it carries stays:
    /// the same reason; money on a closed order (which stays flagged as
    /// such); or a flag about money (arrived and not applied, on a closed
    /// order, kept beyond the coverage), which only money on a closed order
    /// replaces — never a flag about an event or a date (the wrong
    /// provider, overdue), which would leave the arbiter only an
    /// acknowledgement for money that must be accepted or returned.
    fn flag(&mut self, i: usize, reason: FlagReason) -> bool {
        let p = &mut self.payments[i];
        let stays = match p.flag {
            None => false,
            Some(f) if f == reason => true,
            Some(FlagReason::ClosedOrder) => true,
            Some(f) => about_money(f) && reason != FlagReason::ClosedOrder,
        };
        if stays {
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
            flag: None,
            attempts: 1,
            attempted_at: self.now,
            settled_outside: false,
            of_dispute,
        });
    }

    /// Ask `total` back of the money kept, newest payment first.
    fn ask_back_newest_first(&mut self, total: u64, of_dispute: bool) {
        let mut left = total;
        let newest_first: Vec<usize> = self.applied.iter().rev().copied().collect();
        for i in newest_first {
            let take = self.payments[i].refundable().min(left);
            if take > 0 {
                self.ask_back(i, take, of_dispute);
                left -= take;
            }
        }
        assert_eq!(left, 0, "model: a refund within the caps always fits");
    }

    /// The order starts waiting for receipt confirmation: the sweep confirms
    /// it 30 days after now or after the recorded delivery, whichever is
    /// later; paused while a dispute is unresolved.
    fn start_receipt_clock(&mut self) {
        let now = self.now;
        let from = self
            .shipment
            .as_ref()
            .and_then(|s| s.delivered)
            .map_or(now, |d| d.max(now));
        let timer = MTimer::days_after(from, RECEIPT_DAYS);
        self.receipt = Some(MReceipt {
            timer: if self.open_dispute().is_some() {
                timer.pause(now)
            } else {
                timer
            },
            extensions: 0,
            notice_sent: false,
        });
    }

    /// The stage's money has arrived: the order moves on, the stage's clock
    /// stops, and after the balance the receipt clock starts. An arbiter's
    /// late acceptance moves an order still waiting for that stage.
    fn stage_paid(&mut self, stage: Stage, late: bool) {
        use OrderStatus as S;
        match (stage, self.status, late) {
            (Stage::Initial, S::InitialPaymentProcessing, _)
            | (Stage::Initial, S::AwaitingInitialPayment, true) => {
                self.status = S::AwaitingShipment;
                self.unpaid = None;
            }
            (Stage::Balance, S::BalancePaymentProcessing, _)
            | (Stage::Balance, S::Shipped, true) => {
                self.status = S::AwaitingReceiptConfirmation;
                self.balance_clock = None;
                self.start_receipt_clock();
            }
            _ => {}
        }
    }

    /// The money of payment `i` arrived: applied to an open order (once),
    /// returned whole from a closed one. An overdue flag goes.
    fn arrived(&mut self, i: usize) {
        let closed = self.closed();
        let p = &mut self.payments[i];
        p.state = PState::Succeeded;
        p.failure = None;
        if p.flag == Some(FlagReason::Overdue) {
            p.flag = None;
        }
        let (stage, amount) = (p.stage, p.amount);
        if closed {
            self.flag(i, FlagReason::ClosedOrder);
            self.ask_back(i, amount, false);
            return;
        }
        assert!(self.applied.insert(i), "model: payment {i} applied twice");
        self.stage_paid(stage, false);
    }

    /// Payment `i` failed (declined, or expired by the sweep): its credit
    /// goes back to the line, it is no longer overdue (a decline, like an
    /// expiry, clears an overdue flag; other flags stay), and the stage is
    /// unpaid again.
    fn failed(&mut self, i: usize, reason: FailureReason) {
        let p = &mut self.payments[i];
        p.state = PState::Failed;
        p.failure = Some(reason);
        if p.flag == Some(FlagReason::Overdue) {
            p.flag = None;
        }
        let held = std::mem::take(&mut p.credit_held);
        let stage = p.stage;
        self.credit.reserved -= held;
        self.stage_unpaid(stage);
    }

    /// The stage's payment is no longer on its way: the order waits for it
    /// again with at least 7 days on the stage's clock, or, after the third
    /// failed payment of the stage, ends (initial: cancelled `unpaid`;
    /// balance: closed `balance_unpaid`), its reservation released. The
    /// balance's third failure closes the order only with no dispute
    /// unresolved: with one, the order waits in `shipped` (its balance
    /// clock paused by the dispute, at least 7 days on it) for the dispute
    /// to end, and then for the clock to run out — no new balance payment
    /// is accepted. (No dispute can be in flight at the initial stage.)
    fn stage_unpaid(&mut self, stage: Stage) {
        use OrderStatus as S;
        let now = self.now;
        let exhausted = self.failed_payments(stage) >= MAX_FAILED_PER_STAGE;
        match (stage, self.status) {
            (Stage::Initial, S::InitialPaymentProcessing) if exhausted => {
                self.end(S::Cancelled, EndReason::Unpaid);
                self.release();
            }
            (Stage::Initial, S::InitialPaymentProcessing) => {
                let clock = self.unpaid.unwrap_or(MTimer::Paused(UNPAID_DAYS * DAY));
                self.unpaid = Some(clock.resume(now, RETRY_MIN_DAYS));
                self.status = S::AwaitingInitialPayment;
            }
            (Stage::Balance, S::BalancePaymentProcessing)
                if exhausted && self.open_dispute().is_none() =>
            {
                self.end(S::Closed, EndReason::BalanceUnpaid);
                self.release();
            }
            (Stage::Balance, S::BalancePaymentProcessing) => {
                self.balance_clock = self.balance_clock.map(|t| t.at_least(now, RETRY_MIN_DAYS));
                self.status = S::Shipped;
            }
            _ => {}
        }
    }

    /// Receipt confirmed (by the buyer, or by the sweep for them).
    fn complete(&mut self) {
        self.status = OrderStatus::Completed;
        self.completed_at = Some(self.now);
        self.receipt = None;
        if self.terms.coverage == CoverageType::PreShipment {
            self.coverage_ended_at = Some(self.now);
            self.release();
        }
    }

    /// A dispute ends. A refund of everything paid so far closes the order
    /// (`refund_pending`, reason dispute); a smaller one is a compensation:
    /// the order goes on and its reservation shrinks by the refund. Either
    /// way the refund (+ any inspection fee, outside the cap) is asked back
    /// newest payment first and counts against the covered amount. Clocks
    /// the dispute paused run again (balance ≥ 7 days, receipt ≥ 5) unless
    /// the order closed.
    fn resolve_dispute(&mut self, outcome: DisputeOutcome, refund: Option<u64>, fee: u64) {
        let closing = refund.is_some_and(|r| r >= self.goods_paid());
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
            self.ask_back_newest_first(refund + fee, true);
            self.covered_refunded += refund;
            if closing {
                self.end(OrderStatus::RefundPending, EndReason::Dispute);
            } else {
                self.release_part(refund);
            }
        }
        if !closing {
            let now = self.now;
            self.balance_clock = self.balance_clock.map(|t| t.resume(now, RETRY_MIN_DAYS));
            if let Some(r) = self.receipt.as_mut() {
                r.timer = r.timer.resume(now, RECEIPT_MIN_DAYS);
            }
        }
    }

    /// Refund part `k` settled (by its provider, or outside the platform):
    /// its payment is refunded once refunds of its whole amount settled,
    /// Pay Later credit goes back as the money returns to the loan, and a
    /// `refund_pending` order whose parts all settled is refunded.
    fn settle(&mut self, k: usize, outside: bool) {
        let part = &mut self.parts[k];
        part.settled = true;
        part.flag = None;
        part.settled_outside = outside;
        let (i, amount) = (part.payment, part.amount);
        let p = &mut self.payments[i];
        p.returned += amount;
        if p.returned >= p.amount {
            p.state = PState::Refunded;
        }
        let release = amount.min(p.credit_held);
        p.credit_held -= release;
        self.credit.reserved -= release;
        self.settle_if_done();
    }

    fn settle_if_done(&mut self) {
        if self.status == OrderStatus::RefundPending && self.parts.iter().all(|r| r.settled) {
            self.status = OrderStatus::Refunded;
            self.release();
        }
    }

    /// Ask part `k` again: a new attempt.
    fn retry_part(&mut self, k: usize) {
        let now = self.now;
        let part = &mut self.parts[k];
        part.attempts += 1;
        part.attempted_at = now;
        part.flag = None;
    }

    /// Not shipped long after the ship-by date: everything paid for the
    /// goods, up to the covered amount not yet refunded, is refunded and
    /// the order closes; whatever a payment still holds beyond that is
    /// flagged for an operator.
    fn refund_not_shipped(&mut self) {
        let refund = self.goods_paid().min(self.covered_left());
        self.end(OrderStatus::RefundPending, EndReason::NotShipped);
        if refund > 0 {
            self.ask_back_newest_first(refund, false);
            self.covered_refunded += refund;
        }
        for i in 0..self.payments.len() {
            if self.payments[i].refundable() > 0 && self.payments[i].flag.is_none() {
                self.payments[i].flag = Some(FlagReason::BeyondCoverage);
            }
        }
        self.settle_if_done();
    }

    /// The status clock of the order, if it has run out (at most one).
    fn run_status_clock(&mut self) -> bool {
        use OrderStatus as S;
        let now = self.now;
        let past = |due: Option<Timestamp>| due.is_some_and(|t| now > t);
        let no_dispute = self.open_dispute().is_none();
        match self.status {
            S::AwaitingConfirmation if past(self.confirmation_due()) => {
                self.end(S::Cancelled, EndReason::NotConfirmed);
                self.release();
                true
            }
            S::AwaitingInitialPayment if past(self.unpaid_due()) => {
                self.end(S::Cancelled, EndReason::Unpaid);
                self.release();
                true
            }
            S::AwaitingShipment if no_dispute && past(self.not_shipped_due()) => {
                self.refund_not_shipped();
                true
            }
            S::Shipped if no_dispute && past(self.balance_due()) => {
                self.end(S::Closed, EndReason::BalanceUnpaid);
                self.release();
                true
            }
            S::AwaitingReceiptConfirmation if no_dispute => {
                let Some(due) = self.receipt_due() else {
                    return false;
                };
                if now > due {
                    self.complete();
                    return true;
                }
                let notice = due - days(RECEIPT_NOTICE_DAYS);
                match self.receipt.as_mut() {
                    Some(r) if !r.notice_sent && now > notice => {
                        r.notice_sent = true;
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// The scheduled sweep: escalation, then payment expiry and overdue
    /// flags, then at most one status clock (none if a payment expired in
    /// this run), then refund parts overdue, then coverage that has ended.
    fn sweep(&mut self) -> bool {
        let now = self.now;
        let mut changed = false;
        if let Some(d) = self.dispute.as_mut().filter(|d| d.sweep_escalates(now)) {
            d.status = DisputeStatus::Escalated;
            changed = true;
        }
        let mut expired = false;
        for i in 0..self.payments.len() {
            if self.payments[i].expires_after().is_some_and(|t| now > t) {
                self.failed(i, FailureReason::Expired);
                expired = true;
            }
        }
        changed |= expired;
        for i in 0..self.payments.len() {
            let p = &mut self.payments[i];
            if !p.overdue_reported && p.overdue_after().is_some_and(|t| now > t) {
                p.overdue_reported = true;
                if p.flag.is_none() {
                    p.flag = Some(FlagReason::Overdue);
                }
                changed = true;
            }
        }
        if !expired && !self.terminal() {
            changed |= self.run_status_clock();
        }
        for part in &mut self.parts {
            if part.expected_by().is_some_and(|t| now > t) {
                part.flag = Some(RefundFlagReason::Overdue);
                changed = true;
            }
        }
        if self.coverage_end().is_some_and(|end| now > end)
            && self.open_dispute().is_none()
            && self.status != OrderStatus::RefundPending
        {
            changed |= self.release();
        }
        changed
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
                    m.amended_at = Some(now);
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
                    m.confirmed_at = Some(now);
                    m.unpaid = Some(MTimer::days_after(now, UNPAID_DAYS));
                    m.status = S::AwaitingInitialPayment;
                    true
                })
            }
            Step::Remind { who } => {
                v.parties(who.pos(), BOTH);
                v.conflict(self.status != S::AwaitingConfirmation);
                if let Pos::Party(p) = who.pos() {
                    v.conflict(self.confirmed_by(p.other()));
                    // One reminder per party per 24 hours.
                    v.too_soon(
                        self.reminded_by(p)
                            .is_some_and(|t| now < t + TimeDelta::hours(24)),
                    );
                }
                match (v.refusal(), who.pos()) {
                    (Some(kind), _) => Outcome::Refused(kind),
                    (None, Pos::Party(p)) => {
                        match p {
                            Party::Buyer => self.reminded.0 = Some(now),
                            Party::Supplier => self.reminded.1 = Some(now),
                        }
                        self.revision += 1;
                        Outcome::Noted
                    }
                    (None, _) => unreachable!("only a party reminds"),
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
                    m.end(S::Cancelled, EndReason::ByParty);
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
                // A stage allows at most three failed (declined or expired)
                // payments.
                v.rule(self.failed_payments(*stage) >= MAX_FAILED_PER_STAGE);
                let amount = self.terms.due(*stage);
                v.rule(amount == 0);
                match *method {
                    MethodSpec::ECheck { us, checking } => v.rule(!(us && checking)),
                    MethodSpec::Card { brand } => v.rule(brand > 1 || amount > CARD_CAP),
                    MethodSpec::Tt => v.rule(!self.receiving_account),
                    MethodSpec::PayLater { term } => {
                        v.rule(!(1..=6).contains(&term));
                        v.rule(self.credit.status != CreditLineStatus::Approved);
                        v.rule(amount > self.credit.available());
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
                        failure: None,
                        flag: None,
                        credit_held,
                        asked_back: 0,
                        returned: 0,
                        overdue_reported: false,
                        initiated_at: now,
                        latest: working_days_after(now.date_naive(), max_days(kind)),
                    });
                    // The initial payment's clock pauses while a payment is
                    // in flight (the balance's runs on, but cannot fire).
                    m.unpaid = m.unpaid.map(|t| t.pause(now));
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
                            // The arrival window starts at the agreement.
                            let p = &mut m.payments[i];
                            p.state = PState::Processing;
                            p.latest = working_days_after(now.date_naive(), max_days(p.kind));
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
                            m.failed(i, FailureReason::Declined);
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
                v.rule(self.confirmed_at.is_some_and(|c| at < c));
                self.commit(v, |m| {
                    // Late by when the shipment is recorded, whatever
                    // `shipped_at` says.
                    let late = now > m.ship_by_end();
                    m.shipment = Some(MShip {
                        at,
                        late,
                        customs: None,
                        delivered: None,
                    });
                    if m.terms.balance() == 0 {
                        m.status = S::AwaitingReceiptConfirmation;
                        m.start_receipt_clock();
                    } else {
                        m.status = S::Shipped;
                        let timer = MTimer::days_after(now, BALANCE_MAX_DAYS);
                        m.balance_clock = Some(if m.open_dispute().is_some() {
                            timer.pause(now)
                        } else {
                            timer
                        });
                    }
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
                // The buyer only: the supplier could shorten the quality
                // window and the balance's clock.
                v.parties(who.pos(), BUYER_ONLY);
                match self.shipment.as_ref().filter(|_| !self.terminal()) {
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
                    if let Some(at) = delivered {
                        s.delivered = Some(at);
                        // The balance is due 30 days after delivery (at
                        // least 7 from now); receipt at least 30 after it.
                        let due = (at + days(BALANCE_DAYS)).max(now + days(RETRY_MIN_DAYS));
                        m.balance_clock = m.balance_clock.map(|t| t.at_most(now, due));
                        if let Some(r) = m.receipt.as_mut() {
                            r.timer = r.timer.not_before(now, at + days(RECEIPT_DAYS));
                        }
                    }
                    true
                })
            }
            Step::Receipt { who } => {
                v.parties(who.pos(), BUYER_ONLY);
                v.conflict(self.status != S::AwaitingReceiptConfirmation);
                v.conflict(self.open_dispute().is_some());
                self.commit(v, |m| {
                    m.complete();
                    true
                })
            }
            Step::ExtendReceipt { who } => {
                v.parties(who.pos(), BUYER_ONLY);
                v.conflict(self.status != S::AwaitingReceiptConfirmation || self.receipt.is_none());
                v.rule(
                    self.receipt
                        .is_some_and(|r| r.extensions >= MAX_RECEIPT_EXTENSIONS),
                );
                self.commit(v, |m| {
                    let r = m.receipt.as_mut().expect("a receipt clock");
                    r.timer = r.timer.extend(RECEIPT_EXTENSION_DAYS);
                    r.extensions += 1;
                    r.notice_sent = false;
                    true
                })
            }
            Step::Feedback { who, .. } => {
                v.parties(who.pos(), BUYER_ONLY);
                v.conflict(self.completed_at.is_none());
                v.conflict(self.feedback);
                v.rule(
                    self.completed_at
                        .is_some_and(|c| now > c + days(FEEDBACK_DAYS)),
                );
                self.commit(v, |m| {
                    m.feedback = true;
                    true
                })
            }
            Step::OpenDispute {
                who,
                reason,
                amount,
                description,
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
                // At most three disputes over the order's life.
                v.rule(self.disputes().count() >= MAX_DISPUTES);
                // An arbiter's rejection is final for its reason.
                v.rule(self.disputes().any(|d| {
                    d.reason == *reason && d.outcome == Some(DisputeOutcome::ClaimRejected)
                }));
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
                v.rule(*evidence > MAX_EVIDENCE_PER_PARTY);
                // A new dispute is always accepted with a description of
                // at most 500 characters, whatever the buyer has written.
                let texts = self.write_texts(
                    &mut v,
                    Party::Buyer,
                    Entry::Opening,
                    Some(description.size(DESCRIPTION)),
                    *evidence,
                );
                self.commit(v, |m| {
                    m.texts.0 = texts;
                    if let Some(old) = m.dispute.take() {
                        m.past_disputes.push(old);
                    }
                    m.dispute = Some(MDispute {
                        reason: *reason,
                        status: DisputeStatus::Open,
                        outcome: None,
                        requested: *amount,
                        response_due: now + days(RESPONSE_DAYS),
                        resolution_due: now + days(RESOLUTION_DAYS),
                        supplier_responded_at: None,
                        rejected: false,
                        rejected_at: None,
                        pending_offer: None,
                        evidence: (*evidence, 0),
                        messages: (0, 0),
                        refund: None,
                        fee_refund: None,
                    });
                    // The balance and receipt clocks pause.
                    m.balance_clock = m.balance_clock.map(|t| t.pause(now));
                    if let Some(r) = m.receipt.as_mut() {
                        r.timer = r.timer.pause(now);
                    }
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
                    // A rejection stands until the supplier makes an offer.
                    (Party::Supplier, RespondPick::Reject) => {
                        v.conflict(open.is_some_and(|d| d.rejected && d.pending_offer.is_none()));
                        None
                    }
                    _ => None,
                };
                v.rule(
                    matches!(action, RespondPick::Comment) && message.is_none() && *evidence == 0,
                );
                if let RespondPick::Offer(a) = action {
                    self.caps(&mut v, *a);
                }
                if let Some(a) = agreed {
                    self.caps(&mut v, a);
                }
                if let Some(d) = open {
                    // Offers and comments: 50 per dispute, 25 per party.
                    if matches!(action, RespondPick::Offer(_) | RespondPick::Comment) {
                        v.rule(d.messages.0 + d.messages.1 >= MAX_MESSAGES);
                        v.rule(of_party(d.messages, party) >= MAX_MESSAGES_PER_PARTY);
                    }
                    // Evidence: 20 per dispute, 10 per party.
                    if *evidence > 0 {
                        v.rule(d.evidence.0 + d.evidence.1 + evidence > MAX_EVIDENCE);
                        v.rule(of_party(d.evidence, party) + evidence > MAX_EVIDENCE_PER_PARTY);
                    }
                }
                let entry = match action {
                    RespondPick::Comment => Entry::Comment,
                    _ => Entry::Action,
                };
                let texts = self.write_texts(
                    &mut v,
                    party,
                    entry,
                    message.map(|t| t.size(MESSAGE)),
                    *evidence,
                );
                self.commit(v, |m| {
                    m.set_texts(party, texts);
                    let d = m.dispute.as_mut().expect("open dispute");
                    if party == Party::Supplier && d.supplier_responded_at.is_none() {
                        d.supplier_responded_at = Some(now);
                    }
                    add_party(&mut d.evidence, party, *evidence);
                    if matches!(action, RespondPick::Offer(_) | RespondPick::Comment) {
                        add_party(&mut d.messages, party, 1);
                    }
                    match (party, action) {
                        // An offer takes back the supplier's rejection: the
                        // sweep no longer escalates for it, nor may the
                        // buyer, and the supplier may reject again.
                        (_, RespondPick::Offer(a)) => {
                            d.pending_offer = Some(*a);
                            d.rejected = false;
                            d.rejected_at = None;
                            d.status = DisputeStatus::Negotiating;
                        }
                        (Party::Supplier, RespondPick::Reject) => {
                            d.rejected = true;
                            d.rejected_at = Some(now);
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
                v.rule(open.is_some_and(|d| !d.buyer_may_escalate(now)));
                self.commit(v, |m| {
                    m.dispute.as_mut().expect("open dispute").status = DisputeStatus::Escalated;
                    true
                })
            }
            Step::Decide { who, at_fault } => {
                v.arbiter(*who);
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
                            // The inspection fee the buyer paid with the
                            // initial payment, refunded once per order: what
                            // was paid less what was already refunded.
                            let fee = if quality {
                                m.payments
                                    .iter()
                                    .filter(|p| {
                                        p.stage == Stage::Initial && p.state == PState::Succeeded
                                    })
                                    .map(|p| p.inspection_fee)
                                    .max()
                                    .unwrap_or(0)
                                    .saturating_sub(m.fee_refunded)
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
                        if part.flag.is_some() {
                            return false;
                        }
                        m.parts[k].flag = Some(RefundFlagReason::Mismatch);
                        return true;
                    }
                    if *succeeded {
                        m.settle(k, false);
                        return true;
                    }
                    if part.flag.is_some() {
                        // Waiting for an operator: nothing is retried.
                        return false;
                    }
                    if part.attempts >= MAX_REFUND_ATTEMPTS {
                        m.parts[k].flag = Some(RefundFlagReason::RefundFailed);
                    } else {
                        m.retry_part(k);
                    }
                    true
                })
            }
            Step::Resolve {
                who,
                target,
                refund,
            } => {
                v.arbiter(*who);
                let Some(i) = target.index(self.payments.len()) else {
                    v.deny(true, ErrorKind::NotFound);
                    return Outcome::Refused(v.refusal().expect("refused"));
                };
                let p = &self.payments[i];
                v.conflict(p.flag.is_none());
                let (state, stage, flag) = (p.state, p.stage, p.flag);
                // Money on a closed order (returned already) and money kept
                // beyond the coverage of an order never shipped: resolved
                // either way, whatever the payment's status.
                let settled_flag = matches!(
                    flag,
                    Some(FlagReason::ClosedOrder | FlagReason::BeyondCoverage)
                );
                // The flag says money arrived that was not applied (a
                // confirmation contradicting a final status, another amount
                // or currency); the others are about an event or a date (the
                // wrong provider, overdue): no money came with them.
                let money = matches!(
                    flag,
                    Some(
                        FlagReason::ContradictsFinalStatus
                            | FlagReason::AmountMismatch
                            | FlagReason::CurrencyMismatch
                    )
                );
                if !settled_flag {
                    match (*refund, state) {
                        // Money that arrived for a payment that had failed
                        // or expired is accepted late only while its stage
                        // still waits for a payment with nothing in flight…
                        (false, PState::Failed) if money => {
                            let waiting = match stage {
                                Stage::Initial => self.status == S::AwaitingInitialPayment,
                                Stage::Balance => {
                                    self.status == S::Shipped && self.open_dispute().is_none()
                                }
                            };
                            let in_flight = self
                                .payments
                                .iter()
                                .any(|q| q.stage == stage && q.state.in_flight());
                            v.conflict(!waiting || in_flight);
                            // …and, Pay Later, with room to reserve its
                            // credit again (refused by the commit that
                            // applies it).
                            v.rule(
                                p.kind == MethodKind::PayLater
                                    && p.amount > self.credit.available(),
                            );
                        }
                        // Accepting anything else acknowledges the flag (a
                        // payment in flight is taken as arrived).
                        (false, _) => {}
                        // Refunded: only money that arrived and was not
                        // applied, of a payment in flight or failed.
                        (true, s) if s.in_flight() || s == PState::Failed => v.conflict(!money),
                        // A payment counted as paid, or returned, is not
                        // refunded by resolving its flag.
                        (true, _) => v.conflict(true),
                    }
                }
                self.commit(v, |m| {
                    let p = &mut m.payments[i];
                    p.flag = None;
                    let amount = p.amount;
                    match (flag, refund) {
                        // Refunded already; resolving only acknowledges it.
                        (Some(FlagReason::ClosedOrder), _) => {}
                        // Beyond the coverage of an order never shipped:
                        // leave it with the supplier, or refund what is left.
                        (Some(FlagReason::BeyondCoverage), false) => {}
                        (Some(FlagReason::BeyondCoverage), true) => {
                            let left = m.payments[i].refundable();
                            if left > 0 {
                                m.ask_back(i, left, false);
                            }
                        }
                        (_, false) if state.in_flight() => m.arrived(i),
                        (_, false) if state == PState::Failed && money => {
                            // The money arrived after all: applied now.
                            let p = &mut m.payments[i];
                            p.state = PState::Succeeded;
                            p.failure = None;
                            if p.kind == MethodKind::PayLater {
                                p.credit_held = amount;
                                m.credit.reserved += amount;
                            }
                            assert!(m.applied.insert(i), "model: payment {i} applied twice");
                            m.stage_paid(stage, true);
                        }
                        // Acknowledged: already counted as paid or returned,
                        // or failed with a flag about an event (it stays
                        // failed).
                        (_, false) => {}
                        // The money that arrived is returned whole: the
                        // payment counts as arrived (no failure any more),
                        // and one in flight leaves its stage unpaid again.
                        (_, true) => {
                            let p = &mut m.payments[i];
                            p.state = PState::Succeeded;
                            p.failure = None;
                            m.ask_back(i, amount, false);
                            if state.in_flight() {
                                m.stage_unpaid(stage);
                            }
                        }
                    }
                    true
                })
            }
            Step::ResolveRefund { who, target, retry } => {
                v.arbiter(*who);
                let Some(k) = target.index(self.parts.len()) else {
                    v.deny(true, ErrorKind::NotFound);
                    return Outcome::Refused(v.refusal().expect("refused"));
                };
                let part = &self.parts[k];
                v.conflict(part.settled || part.flag.is_none());
                self.commit(v, |m| {
                    if *retry {
                        m.retry_part(k);
                    } else {
                        m.settle(k, true);
                    }
                    true
                })
            }
            Step::Sweep => self.commit(v, Model::sweep),
        }
    }

    /// Refused, or accepted: `effect` says whether it emitted anything.
    fn commit(&mut self, v: Verdict, effect: impl FnOnce(&mut Model) -> bool) -> Outcome {
        if let Some(kind) = v.refusal() {
            return Outcome::Refused(kind);
        }
        if effect(self) {
            self.version += 1;
            self.revision += 1;
            Outcome::Changed
        } else {
            Outcome::Quiet
        }
    }
}

/// A flag about money, as opposed to one about an event or a date (the
/// wrong provider, overdue).
fn about_money(reason: FlagReason) -> bool {
    match reason {
        FlagReason::ContradictsFinalStatus
        | FlagReason::AmountMismatch
        | FlagReason::CurrencyMismatch
        | FlagReason::ClosedOrder
        | FlagReason::BeyondCoverage => true,
        FlagReason::WrongProvider | FlagReason::Overdue | FlagReason::ProviderRefused => false,
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
        1 => Just(Who::BuyerIdAsArbiter),
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

/// What `party` writes: mostly short texts; in a wordy case mostly
/// 2,000 characters (8,000 bytes) until its share is used up, then mostly
/// 500 (the most an action then carries). Sometimes one character too
/// many for a used-up share.
fn text_pick(m: &Model, party: Party) -> BoxedStrategy<TextPick> {
    let full = m.texts_of(party).within + TextPick::Wide(2000).size("").1 > MAX_PARTY_TEXT_BYTES;
    let [short, w500, w501, w2000] = match (m.wordy, full) {
        (false, _) => [12, 1, 1, 1],
        (true, false) => [2, 1, 1, 6],
        (true, true) => [1, 10, 1, 1],
    };
    prop_oneof![
        short => Just(TextPick::Short),
        w500 => Just(TextPick::Wide(MAX_CHARS_WHEN_FULL)),
        w501 => Just(TextPick::Wide(MAX_CHARS_WHEN_FULL + 1)),
        w2000 => Just(TextPick::Wide(2000)),
    ]
    .boxed()
}

/// A response by `who` (mostly `party`), its message written as
/// `party` would.
fn respond(m: &Model, who: BoxedStrategy<Who>, party: Party, cap: u64) -> BoxedStrategy<Step> {
    (
        who,
        prop_oneof![
            2 => Just(RespondPick::Accept),
            3 => refund_amount(cap).prop_map(RespondPick::Offer),
            3 => Just(RespondPick::Reject),
            2 => Just(RespondPick::Comment),
        ],
        prop::option::weighted(0.7, text_pick(m, party)),
        prop_oneof![8 => 0usize..=2, 1 => 5usize..=11, 1 => 15usize..=21],
    )
        .prop_map(|(who, action, message, evidence)| Step::Respond {
            who,
            action,
            message,
            evidence,
        })
        .boxed()
}

/// A party's comment (with a message; sometimes evidence too).
fn comment(m: &Model, who: BoxedStrategy<Who>, party: Party) -> BoxedStrategy<Step> {
    (
        who,
        text_pick(m, party),
        prop_oneof![6 => Just(0usize), 1 => 1usize..=2],
    )
        .prop_map(|(who, text, evidence)| Step::Respond {
            who,
            action: RespondPick::Comment,
            message: Some(text),
            evidence,
        })
        .boxed()
}

fn open_dispute(
    m: &Model,
    who: BoxedStrategy<Who>,
    amount: BoxedStrategy<u64>,
) -> BoxedStrategy<Step> {
    (
        who,
        prop_oneof![
            Just(DisputeReason::LateShipment),
            Just(DisputeReason::Quality)
        ],
        amount,
        text_pick(m, Party::Buyer),
        prop_oneof![8 => 0usize..=2, 1 => 9usize..=11, 1 => 19usize..=21],
    )
        .prop_map(
            |(who, reason, amount, description, evidence)| Step::OpenDispute {
                who,
                reason,
                amount,
                description,
                evidence,
            },
        )
        .boxed()
}

fn advance() -> BoxedStrategy<Step> {
    prop_oneof![
        3 => 60i64..=6 * 3_600,
        3 => 6 * 3_600i64..=3 * 86_400,
        2 => 3 * 86_400i64..=16 * 86_400,
        2 => 30 * 86_400i64..=100 * 86_400,
        1 => 16 * 86_400i64..=200 * 86_400,
    ]
    .prop_map(|secs| Step::Advance { secs })
    .boxed()
}

/// Move the clock to one of the order's deadlines (a clock's due instant,
/// a bound a command checks): a second before it, at it, a second or an
/// hour after it.
fn advance_to_deadline(m: &Model) -> Option<BoxedStrategy<Step>> {
    let mut secs: Vec<i64> = m
        .interesting_instants()
        .into_iter()
        .flat_map(|t| {
            let to = (t - m.now).num_seconds();
            [to - 1, to, to + 1, to + 3_600]
        })
        .filter(|s| *s > 0)
        .collect();
    secs.sort_unstable();
    secs.dedup();
    (!secs.is_empty()).then(|| {
        prop::sample::select(secs)
            .prop_map(|secs| Step::Advance { secs })
            .boxed()
    })
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
            any_who()
                .prop_map(|who| Step::ExtendReceipt { who })
                .boxed(),
        ),
        (
            1,
            (any_who(), 1u8..=5)
                .prop_map(|(who, rating)| Step::Feedback { who, rating })
                .boxed(),
        ),
        (1, open_dispute(m, any_who(), refund_amount(cap))),
        (1, respond(m, any_who(), Party::Supplier, cap)),
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
        (
            1,
            (any_who(), target(), any::<bool>())
                .prop_map(|(who, target, retry)| Step::ResolveRefund { who, target, retry })
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
    // In a wordy case, while a dispute is open and the buyer still has
    // room to write (within its share or beyond it), the parties argue:
    // the dispute is not ended, nor are its deadlines let pass.
    let (_, long) = TextPick::Wide(2000).size("");
    let (_, short) = TextPick::Wide(MAX_CHARS_WHEN_FULL).size("");
    let full = |p: Party| m.texts_of(p).within + long > MAX_PARTY_TEXT_BYTES;
    let overflowing = m.texts.0.beyond + short > MAX_PARTY_OVERFLOW_BYTES;
    let writing = m.wordy && m.open_dispute().is_some() && !overflowing;
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
                2,
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
            // A balance payment after a failed one fails as often as it
            // succeeds, the last one the stage allows more often, so that
            // its third failure is met (with a dispute open, and without).
            let balance_failed = if m.status == S::BalancePaymentProcessing {
                m.failed_payments(Stage::Balance)
            } else {
                0
            };
            let last_try = balance_failed + 1 == MAX_FAILED_PER_STAGE;
            let weights = match (awaiting, balance_failed) {
                (true, _) => [4, 1, 1, 4],
                (false, 0) => [8, 2, 1, 1],
                (false, _) if last_try => [2, 6, 1, 1],
                (false, _) => [4, 4, 1, 1],
            };
            // With a dispute open on the balance in flight, let the dispute
            // run first now and then: its refund closes the order and the
            // balance then arrives on a closed order.
            let disputed = m.open_dispute().is_some();
            out.push((
                match (disputed, last_try) {
                    (false, false) => 10,
                    // The last try: as often a dispute is opened first.
                    (false, true) => 6,
                    (true, false) => 2,
                    (true, true) => 4,
                },
                report(Just(Target::FromEnd(0)).boxed(), signal(weights)),
            ));
            if m.status == S::BalancePaymentProcessing && !disputed {
                // A dispute for everything paid, opened while the balance
                // is in flight: agreed, it closes the order before the
                // balance arrives.
                out.push((2, open_dispute(m, mostly(Who::Buyer), Just(cap).boxed())));
                // A dispute open when the balance fails for the third
                // time: the order waits for it in `shipped`, and then for
                // its balance clock, refusing a fourth payment.
                if last_try {
                    out.push((6, open_dispute(m, mostly(Who::Buyer), refund_amount(cap))));
                }
            }
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
                6,
                mostly(Who::Buyer)
                    .prop_map(|who| Step::Receipt { who })
                    .boxed(),
            ));
            out.push((
                2,
                mostly(Who::Buyer)
                    .prop_map(|who| Step::ExtendReceipt { who })
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
        S::RefundPending | S::Refunded | S::Cancelled | S::Closed => {
            // Money arriving late on a closed order.
            if m.payments.iter().any(|p| p.state.in_flight()) {
                out.push((8, report(target(), signal([6, 1, 1, 1]))));
            }
        }
    }
    if m.shipment.is_some() && !m.terminal() {
        out.push((
            1,
            (
                prop_oneof![4 => Just(Who::Buyer), 1 => Just(Who::Supplier)],
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
        None if may_open => out.push((
            // A wordy buyer disputes early and often while it may: once
            // its texts are used up (its overflow too) with a short
            // description.
            if m.wordy && m.completed_at.is_none() && m.disputes().count() < MAX_DISPUTES {
                8
            } else {
                3
            },
            open_dispute(m, mostly(Who::Buyer), refund_amount(cap)),
        )),
        None => {}
        Some(d) => {
            // The (first) balance payment is in flight and the dispute
            // asks for everything paid: agreed, it closes the order, and
            // the balance then arrives on a closed order.
            if m.status == S::BalancePaymentProcessing
                && m.failed_payments(Stage::Balance) == 0
                && d.negotiable()
                && d.requested >= m.goods_paid()
            {
                out.push((
                    4,
                    mostly(Who::Supplier)
                        .prop_map(|who| Step::Respond {
                            who,
                            action: RespondPick::Accept,
                            message: None,
                            evidence: 0,
                        })
                        .boxed(),
                ));
            }
            out.push((
                if writing { 1 } else { 4 },
                respond(m, mostly(Who::Supplier), Party::Supplier, cap),
            ));
            if d.pending_offer.is_some() {
                out.push((3, respond(m, mostly(Who::Buyer), Party::Buyer, cap)));
            }
            let offer = |weight: u32| {
                (
                    weight,
                    (mostly(Who::Supplier), refund_amount(cap))
                        .prop_map(|(who, a)| Step::Respond {
                            who,
                            action: RespondPick::Offer(a),
                            message: None,
                            evidence: 0,
                        })
                        .boxed(),
                )
            };
            // A rejection the supplier takes back with an offer before
            // the sweep escalates it — or repeats (refused: it stands).
            if d.negotiable() && d.rejected {
                out.push(offer(3));
                out.push((
                    1,
                    mostly(Who::Supplier)
                        .prop_map(|who| Step::Respond {
                            who,
                            action: RespondPick::Reject,
                            message: None,
                            evidence: 0,
                        })
                        .boxed(),
                ));
            }
            // The parties argue; in a wordy case at length, until their
            // shares of dispute texts are used up. Then the buyer turns
            // offers down with short messages until its overflow is used
            // up too, and withdraws — to open another dispute, which takes
            // a short description even then.
            for party in [Party::Buyer, Party::Supplier] {
                let arguing = if m.wordy && !full(party) { 20 } else { 1 };
                out.push((arguing, comment(m, mostly(Who::of(party)), party)));
            }
            if m.wordy {
                let reject = |weight: u32| {
                    (
                        weight,
                        (mostly(Who::Buyer), text_pick(m, Party::Buyer))
                            .prop_map(|(who, text)| Step::Respond {
                                who,
                                action: RespondPick::Reject,
                                message: Some(text),
                                evidence: 0,
                            })
                            .boxed(),
                    )
                };
                let turning_down = d.negotiable() && d.pending_offer.is_some();
                match (full(Party::Buyer), overflowing) {
                    (true, false) if turning_down => out.push(reject(20)),
                    (true, false) if d.negotiable() => out.push(offer(20)),
                    (true, true) => {
                        // A message on an action now finds no room left.
                        if turning_down {
                            out.push(reject(8));
                        } else if d.negotiable() {
                            out.push(offer(4));
                        }
                        out.push((
                            4,
                            mostly(Who::Buyer)
                                .prop_map(|who| Step::Withdraw { who })
                                .boxed(),
                        ));
                    }
                    _ => {}
                }
            }
            // The third balance payment failed while the dispute was
            // open: once it ends, the order waits for a balance it no
            // longer accepts.
            let exhausted =
                m.status == S::Shipped && m.failed_payments(Stage::Balance) >= MAX_FAILED_PER_STAGE;
            if exhausted {
                out.push((
                    4,
                    mostly(Who::Buyer)
                        .prop_map(|who| Step::Withdraw { who })
                        .boxed(),
                ));
            }
            if !writing {
                out.push((
                    2,
                    mostly(Who::Buyer)
                        .prop_map(|who| Step::Escalate { who })
                        .boxed(),
                ));
                out.push((
                    2,
                    mostly(Who::Buyer)
                        .prop_map(|who| Step::Withdraw { who })
                        .boxed(),
                ));
            }
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
            if d.status != DisputeStatus::Escalated && !writing {
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
    if let Some(k) = m.parts.iter().rposition(|r| r.flag.is_some() && !r.settled) {
        let from_end = m.parts.len() - 1 - k;
        out.push((
            4,
            (mostly(Who::Arbiter), prop::bool::weighted(0.7))
                .prop_map(move |(who, retry)| Step::ResolveRefund {
                    who,
                    target: Target::FromEnd(from_end),
                    retry,
                })
                .boxed(),
        ));
    }
    if let Some(k) = m.parts.iter().position(|r| !r.settled) {
        let from_end = m.parts.len() - 1 - k;
        // A part that failed once tends to fail again (up to the fifth
        // attempt and its flag).
        let success = if m.parts[k].attempts > 1 { 0.3 } else { 0.85 };
        out.push((
            6,
            (
                prop::bool::weighted(success),
                provider_pick(),
                amount_pick(),
            )
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
    if !writing {
        out.push((2, advance()));
        if let Some(to) = advance_to_deadline(m) {
            out.push((4, to));
        }
    }
    out.push((3, Just(Step::Sweep).boxed()));
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
    /// The parties write long dispute texts.
    wordy: bool,
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
            wordy,
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
            end_reason: None,
            version: 1,
            revision: 1,
            confirmed: (created_by == Party::Buyer, created_by == Party::Supplier),
            reminded: (None, None),
            amended_at: None,
            confirmed_at: None,
            covered: None,
            covered_refunded: 0,
            reserved: 0,
            coverage_ended_at: None,
            unpaid: None,
            balance_clock: None,
            receipt: None,
            payments: Vec::new(),
            applied: BTreeSet::new(),
            shipment: None,
            completed_at: None,
            feedback: false,
            dispute: None,
            past_disputes: Vec::new(),
            texts: (MTexts::default(), MTexts::default()),
            wordy,
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
            prop::bool::weighted(0.25),
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
                    wordy,
                )| {
                    Model::new(Setup {
                        offset_secs,
                        limit,
                        others_reserved,
                        receiving_account,
                        credit,
                        created_by,
                        terms,
                        wordy,
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
    /// application layer does in the same write: all of them, or (when one
    /// cannot be applied) none, and the write is refused. Only a Pay Later
    /// payment accepted late may find its credit line without room.
    fn apply_effects(&mut self, events: &[DomainEvent]) -> Result<(), String> {
        let (mut limit, mut credit) = (self.limit.clone(), self.credit.clone());
        for e in events {
            match &e.body {
                EventBody::CoverageReserved { amount, .. } => limit
                    .reserve(*amount)
                    .map_err(|e| format!("reservation: {e}"))?,
                EventBody::ReservationReleased { amount, .. } => limit
                    .release(*amount)
                    .map_err(|e| format!("release: {e}"))?,
                EventBody::CreditReserved { amount, .. } => credit
                    .reserve(*amount)
                    .map_err(|e| format!("credit reserved: {e}"))?,
                EventBody::CreditReleased { amount, .. } => credit
                    .release(*amount)
                    .map_err(|e| format!("credit released: {e}"))?,
                _ => {}
            }
        }
        (self.limit, self.credit) = (limit, credit);
        Ok(())
    }

    fn execute(&mut self, step: &Step) -> Option<Result<Vec<DomainEvent>, OrderError>> {
        let now = self.now;
        let order = &mut self.order;
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
            Step::ExtendReceipt { who } => order.extend_receipt(&who.caller(), now),
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
                description,
                evidence: n,
            } => order.raise_dispute(
                &who.caller(),
                OpenDispute {
                    reason: *reason,
                    requested_refund: usd(*amount),
                    description: description.text(DESCRIPTION),
                    evidence: evidence(*n),
                },
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
                    message: message.map(|t| t.text(MESSAGE)),
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
            Step::ResolveRefund { who, target, retry } => {
                let id = match target.index(order.refunds().len()) {
                    Some(k) => order.refunds()[k].id.clone(),
                    None => RefundId::derive(&unknown_payment(), 1),
                };
                let resolution = if *retry {
                    RefundResolution::Retry
                } else {
                    RefundResolution::SettledOutside
                };
                order.resolve_refund(&who.caller(), &id, resolution, now)
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
    /// Per kind of step: changed, quiet, noted, refused 404/403/409/429/422.
    by_step: BTreeMap<&'static str, [u64; 8]>,
    statuses: BTreeSet<&'static str>,
    end_reasons: BTreeSet<String>,
    dispute_statuses: BTreeSet<&'static str>,
    dispute_outcomes: BTreeSet<String>,
    flags: BTreeSet<String>,
    refund_flags: BTreeSet<String>,
    /// What the sweep did: its events, by kind (a Pay Later payment
    /// expired before its agreement counted apart).
    sweep_events: BTreeMap<&'static str, u64>,
    /// Refusals by the rule (or conflict) that gave them.
    refusals: BTreeMap<String, u64>,
    /// How often the rules of the later changes were met: a flag about
    /// money kept against the wrong provider, an offer taking back a
    /// rejection, a dispute entry beyond a party's share, a dispute opened
    /// beyond the overflow.
    met: BTreeMap<&'static str, u64>,
}

thread_local! {
    /// Per thread: the runner runs every case on the test's own thread, so
    /// the scenario tests running beside it do not touch its figures.
    static FIGURES: RefCell<Figures> = RefCell::new(Figures::default());
}

fn record(f: impl FnOnce(&mut Figures)) {
    FIGURES.with(|figures| f(&mut figures.borrow_mut()));
}

/// The stable name of a refusal: the rule's or conflict's code, and for a
/// 403 whom the action belongs to.
fn refusal_code(e: &OrderError) -> String {
    match e {
        OrderError::NotFound => "not-found".into(),
        OrderError::Forbidden { allowed, .. } => format!("forbidden ({allowed})"),
        OrderError::WrongStatus { .. } => "wrong-status".into(),
        OrderError::IllegalTransition { .. } => "illegal-transition".into(),
        OrderError::Conflict(c) => c.code().into(),
        OrderError::Rule(r) => r.code().into(),
        OrderError::Terms(_) => "terms".into(),
        OrderError::Limit(_) => "limit".into(),
        OrderError::Credit(_) => "credit".into(),
        OrderError::UnknownPayment(_) => "unknown-payment".into(),
        OrderError::UnknownRefund(_) => "unknown-refund".into(),
        OrderError::TooManyRequests { .. } => "too-many-requests".into(),
    }
}

fn column(outcome: Outcome) -> Option<usize> {
    Some(match outcome {
        Outcome::Changed => 0,
        Outcome::Quiet => 1,
        Outcome::Noted => 2,
        Outcome::Refused(ErrorKind::NotFound) => 3,
        Outcome::Refused(ErrorKind::Forbidden) => 4,
        Outcome::Refused(ErrorKind::Conflict) => 5,
        Outcome::Refused(ErrorKind::TooManyRequests) => 6,
        Outcome::Refused(ErrorKind::Unprocessable) => 7,
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
            clocks: Clocks::default(),
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
        let sweep_due = before.next_sweep_due();
        let observed = match sut.execute(&step) {
            None => Outcome::Clock,
            Some(Err(e)) => {
                assert_eq!(
                    sut.order, before,
                    "a refused {step:?} ({e}) changed the order"
                );
                assert!(
                    !matches!(e, OrderError::IllegalTransition { .. }),
                    "{step:?}: the aggregate tried a transition not in its table: {e}"
                );
                record(|f| *f.refusals.entry(refusal_code(&e)).or_default() += 1);
                Outcome::Refused(e.kind())
            }
            Some(Ok(events)) if events.is_empty() => {
                assert_eq!(
                    sut.order, before,
                    "{step:?} emitted nothing but changed the order"
                );
                Outcome::Quiet
            }
            Some(Ok(events)) => match sut.apply_effects(&events) {
                Err(why) => {
                    // The write that carries the order and its effects is
                    // refused as a whole.
                    assert!(
                        matches!(step, Step::Resolve { refund: false, .. }),
                        "{step:?}: an effect could not be applied: {why}"
                    );
                    sut.order = before.clone();
                    record(|f| *f.refusals.entry("credit (commit)".into()).or_default() += 1);
                    Outcome::Refused(ErrorKind::Unprocessable)
                }
                Ok(()) => {
                    if matches!(step, Step::Sweep) {
                        record(|f| {
                            for e in &events {
                                let kind = match &e.body {
                                    EventBody::PaymentExpired { payment_id, .. }
                                        if before.payment(payment_id).is_some_and(|p| {
                                            p.status == PaymentStatus::AwaitingAgreement
                                        }) =>
                                    {
                                        "PaymentExpired (agreement)"
                                    }
                                    body => body.detail_type(),
                                };
                                *f.sweep_events.entry(kind).or_default() += 1;
                            }
                        });
                    }
                    sut.history.extend(events);
                    assert_eq!(
                        sut.order.revision(),
                        before.revision() + 1,
                        "{step:?} must bump the revision by exactly one"
                    );
                    if matches!(step, Step::Remind { .. }) {
                        assert_eq!(
                            sut.order.version(),
                            before.version(),
                            "a reminder changed the version"
                        );
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
            },
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
            for what in later_rules_met(&step, observed, &before, &sut.order) {
                *f.met.entry(what).or_default() += 1;
            }
        });
        // Liveness: a sweep at or after the instant the order asked for
        // does something.
        if let (Step::Sweep, Some(due)) = (&step, sweep_due) {
            assert!(
                sut.now < due || observed == Outcome::Changed,
                "the sweep at {} did nothing on an order due at {due}\n{before:#?}",
                sut.now
            );
        }
        record(|f| {
            if let Some(c) = column(observed) {
                f.steps += 1;
                f.by_step.entry(step.name()).or_default()[c] += 1;
            }
            let o = &sut.order;
            f.statuses.insert(o.status().as_str());
            if let Some(reason) = o.end_reason() {
                f.end_reasons.insert(format!("{reason:?}"));
            }
            if let Some(d) = o.dispute() {
                f.dispute_statuses.insert(d.status.as_str());
                if let Some(outcome) = d.outcome {
                    f.dispute_outcomes.insert(format!("{outcome:?}"));
                }
            }
            for p in o.payments() {
                if let Some(flag) = &p.flag {
                    f.flags.insert(format!("{:?}", flag.reason));
                }
            }
            for r in o.refunds() {
                if let Some(reason) = r.flag_reason {
                    f.refund_flags.insert(format!("{reason:?}"));
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

const MONEY_FLAG_KEPT: &str = "a flag about money kept against the wrong provider";
const REJECTION_TAKEN_BACK: &str = "an offer took back a rejection";
const BEYOND_SHARE: &str = "a dispute entry beyond its party's share";
const OPENED_BEYOND_OVERFLOW: &str = "a dispute opened beyond the overflow";

/// Which of the rules of the later changes `step` met, going from `before`
/// to `after`.
fn later_rules_met(
    step: &Step,
    observed: Outcome,
    before: &Order,
    after: &Order,
) -> Vec<&'static str> {
    let mut met = Vec::new();
    let changed = observed == Outcome::Changed;
    match step {
        Step::PaymentReport {
            target,
            provider: ProviderPick::Other(_),
            ..
        } if observed == Outcome::Quiet => {
            let flag = target
                .index(before.payments().len())
                .and_then(|i| before.payments()[i].flag.as_ref());
            if flag.is_some_and(|f| about_money(f.reason)) {
                met.push(MONEY_FLAG_KEPT);
            }
        }
        Step::Respond {
            action: RespondPick::Offer(_),
            ..
        } if changed && before.open_dispute().is_some_and(|d| d.supplier_rejected) => {
            met.push(REJECTION_TAKEN_BACK);
        }
        _ => {}
    }
    let beyond = matches!(step, Step::Respond { .. } | Step::OpenDispute { .. })
        && changed
        && after
            .dispute()
            .and_then(|d| d.entries.last())
            .is_some_and(|e| e.over_budget);
    if beyond {
        met.push(BEYOND_SHARE);
        if let Step::OpenDispute { description, .. } = step {
            let (_, overflow) = before.dispute_text_bytes(Party::Buyer);
            if overflow + description.size(DESCRIPTION).1 > MAX_PARTY_OVERFLOW_BYTES {
                met.push(OPENED_BEYOND_OVERFLOW);
            }
        }
    }
    met
}

/// The real aggregate agrees with the model.
fn agree(sut: &Sut, m: &Model) {
    let o = &sut.order;
    let ctx = || format!("\nmodel: {m:#?}\norder: {o:#?}");
    assert_eq!(o.status(), m.status, "status{}", ctx());
    assert_eq!(o.end_reason(), m.end_reason, "end reason{}", ctx());
    assert_eq!(o.version(), m.version, "version{}", ctx());
    assert_eq!(o.revision(), m.revision, "revision{}", ctx());
    assert_eq!(
        (
            o.confirmations().buyer.is_some(),
            o.confirmations().supplier.is_some()
        ),
        m.confirmed,
        "confirmations{}",
        ctx()
    );
    assert_eq!(o.confirmed_at(), m.confirmed_at, "confirmed at{}", ctx());
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
    assert_eq!(
        (cov.refunded.cents(), o.covered_left().cents()),
        (m.covered_refunded, m.covered_left()),
        "covered refunded, covered left{}",
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

    // Every clock.
    assert_eq!(
        (
            o.confirmation_due(),
            o.unpaid_due(),
            o.not_shipped_due(),
            o.balance_due(),
            o.receipt_due(),
        ),
        (
            m.confirmation_due(),
            m.unpaid_due(),
            m.not_shipped_due(),
            m.balance_due(),
            m.receipt_due(),
        ),
        "clocks (confirmation, unpaid, not shipped, balance, receipt){}",
        ctx()
    );
    assert_eq!(
        o.receipt_clock()
            .map(|r| (MTimer::of(r.timer), r.extensions, r.notice_sent)),
        m.receipt.map(|r| (r.timer, r.extensions, r.notice_sent)),
        "receipt clock{}",
        ctx()
    );
    assert_eq!(
        o.next_sweep_due(),
        m.next_sweep_due(),
        "next sweep due{}",
        ctx()
    );
    assert_eq!(
        (o.is_finished(), o.awaits_arbiter(), o.payment_in_flight()),
        (m.finished(), m.awaits_arbiter(), m.in_flight()),
        "finished, awaits an arbiter, payment in flight{}",
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
                p.failure,
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
                mp.failure,
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
    for stage in [Stage::Initial, Stage::Balance] {
        assert_eq!(
            o.failed_payments(stage),
            m.failed_payments(stage),
            "failed {stage} payments{}",
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
                r.flag_reason,
                r.attempts,
                r.attempted_at,
                r.settled_outside,
            ),
            (
                &o.payments()[mr.payment].id,
                mr.amount,
                mr.settled,
                mr.flag.is_some(),
                mr.flag,
                mr.attempts,
                Some(mr.attempted_at),
                mr.settled_outside,
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
        m.past_disputes.len(),
        "past disputes{}",
        ctx()
    );
    let by = |d: &domain::dispute::Dispute,
              kind: ActorKind,
              count: fn(&domain::dispute::DisputeEntry) -> usize|
     -> usize {
        d.entries
            .iter()
            .filter(|e| e.by.kind() == kind)
            .map(count)
            .sum()
    };
    let real = |d: &domain::dispute::Dispute| {
        (
            (d.reason, d.status, d.outcome, d.requested_refund.cents()),
            (d.supplier_response_due, d.resolution_due),
            (d.supplier_responded_at, d.supplier_rejected, d.rejected_at),
            d.pending_offer.map(Usd::cents),
            (
                by(d, ActorKind::Buyer, |e| e.evidence.len()),
                by(d, ActorKind::Supplier, |e| e.evidence.len()),
            ),
            (
                by(d, ActorKind::Buyer, |e| usize::from(e.is_counted())),
                by(d, ActorKind::Supplier, |e| usize::from(e.is_counted())),
            ),
            d.refund_amount.map(Usd::cents),
            d.inspection_fee_refund.map(Usd::cents),
        )
    };
    let model = |d: &MDispute| {
        (
            (d.reason, d.status, d.outcome, d.requested),
            (d.response_due, d.resolution_due),
            (d.supplier_responded_at, d.rejected, d.rejected_at),
            d.pending_offer,
            d.evidence,
            d.messages,
            d.refund,
            d.fee_refund,
        )
    };
    assert_eq!(
        o.past_disputes()
            .iter()
            .chain(o.dispute())
            .map(real)
            .collect::<Vec<_>>(),
        m.disputes().map(model).collect::<Vec<_>>(),
        "disputes{}",
        ctx()
    );
    // Dispute refunds are asked back exactly: each refund plus any fee.
    let asked: u64 = m
        .parts
        .iter()
        .filter(|r| r.of_dispute)
        .map(|r| r.amount)
        .sum();
    let decided: u64 = o
        .past_disputes()
        .iter()
        .chain(o.dispute())
        .map(|d| {
            d.refund_amount.map_or(0, Usd::cents) + d.inspection_fee_refund.map_or(0, Usd::cents)
        })
        .sum();
    assert_eq!(asked, decided, "dispute refund parts{}", ctx());
    // What each party wrote, within its share and beyond it.
    for (party, t) in [(Party::Buyer, m.texts.0), (Party::Supplier, m.texts.1)] {
        assert_eq!(
            o.dispute_text_bytes(party),
            (t.within, t.beyond),
            "{party:?}'s dispute texts (within, beyond){}",
            ctx()
        );
    }
}

/// Money and liveness invariants of the real aggregate, whatever the model
/// says.
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
        assert_eq!(
            p.status == PaymentStatus::Refunded,
            arrived(p.status) && p.refunded == p.amount,
            "{}: refunded exactly when refunds of its whole amount settled",
            p.id
        );
        assert!(
            !matches!(p.status, PaymentStatus::Failed | PaymentStatus::Refunded)
                || p.credit_held.is_zero(),
            "{}: a finished payment holds no credit",
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
        assert!(
            o.failed_payments(stage) <= MAX_FAILED_PER_STAGE,
            "more than three failed {stage} payments"
        );
    }
    assert!(kept_total <= terms.total().cents() + terms.inspection_fee().cents());
    assert!(
        o.amount_paid().cents() <= kept_total,
        "paid for goods ≤ kept"
    );
    if let Some(covered) = o.coverage().covered_amount {
        assert!(o.coverage().reserved <= covered, "reserved ≤ covered");
        assert!(o.coverage().refunded <= covered, "refunds ≤ covered");
    }
    if o.status().is_terminal() {
        assert!(o.coverage().reserved.is_zero(), "a terminal order reserves");
    }
    let held: u64 = o.payments().iter().map(|p| p.credit_held.cents()).sum();
    assert_eq!(
        sut.credit.reserved().cents(),
        held,
        "credit reserved = Σ held"
    );
    // Every order ends: finished, waiting for an arbiter, or dated.
    assert!(
        o.is_finished() || o.awaits_arbiter() || o.next_sweep_due().is_some(),
        "an order waits with no deadline\n{o:#?}"
    );
}

/// The run's configuration: fixed, whatever `PROPTEST_*` variables say.
/// A longer search is asked for explicitly: `MODEL_CASES=5000` (never
/// fewer than the default) and `MODEL_SEED=<u64>` for another sequence.
fn config() -> Config {
    config_of(CASES, 1)
}

/// `cases` cases, or `MODEL_CASES / share` when that is more.
fn config_of(cases: u32, share: u32) -> Config {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    Config {
        cases: env("MODEL_CASES").map_or(cases, |n| {
            u32::try_from(n / u64::from(share))
                .unwrap_or(u32::MAX)
                .max(cases)
        }),
        max_shrink_iters: 8192,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(env("MODEL_SEED").unwrap_or(SEED)),
        ..Config::default()
    }
}

fn report_figures(title: &str, f: &Figures) -> String {
    let mut out = String::new();
    let accepted: u64 = f.by_step.values().map(|c| c[0] + c[1] + c[2]).sum();
    let refused: u64 = f.by_step.values().map(|c| c[3..].iter().sum::<u64>()).sum();
    out.push_str(&format!(
        "{title}: {} cases, {} steps applied ({} accepted, {} refused; clock moves not counted)\n",
        f.cases, f.steps, accepted, refused
    ));
    out.push_str(&format!(
        "{:<18} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
        "step", "changed", "quiet", "noted", "404", "403", "409", "429", "422"
    ));
    for (name, c) in &f.by_step {
        out.push_str(&format!(
            "{:<18} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
            name, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        ));
    }
    out.push_str(&format!("statuses reached: {:?}\n", f.statuses));
    out.push_str(&format!("end reasons reached: {:?}\n", f.end_reasons));
    out.push_str(&format!(
        "dispute statuses reached: {:?}\n",
        f.dispute_statuses
    ));
    out.push_str(&format!("dispute outcomes: {:?}\n", f.dispute_outcomes));
    out.push_str(&format!("payment flags seen: {:?}\n", f.flags));
    out.push_str(&format!("refund flags seen: {:?}\n", f.refund_flags));
    out.push_str(&format!("the sweep's events: {:?}\n", f.sweep_events));
    out.push_str(&format!("refusals by rule: {:?}\n", f.refusals));
    out.push_str(&format!("later rules met: {:?}\n", f.met));
    out
}

/// Run the model-based test `T` (the aggregate against the reference `R`)
/// over sequences of `steps` transitions; a disagreement fails with its
/// initial state and the minimal sequence. Returns the run's figures.
fn run_model<R, T>(config: Config, steps: RangeInclusive<usize>) -> Figures
where
    R: ReferenceStateMachine<State = Model, Transition = Step>,
    T: StateMachineTest<SystemUnderTest = Sut, Reference = R>,
{
    record(|f| *f = Figures::default());
    let mut runner = TestRunner::new(config.clone());
    let strategy = R::sequential_strategy(steps);
    let result = runner.run(&strategy, |(initial, steps, seen)| {
        T::test_sequential(config.clone(), initial, steps, seen);
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
    FIGURES.with(|figures| std::mem::take(&mut *figures.borrow_mut()))
}

#[test]
fn the_order_aggregate_agrees_with_the_reference_model_step_by_step() {
    let f = run_model::<OrderModel, OrderAggregate>(config(), MIN_STEPS..=MAX_STEPS);
    let text = report_figures("model test", &f);
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
    assert_eq!(f.end_reasons.len(), 6, "every end reason\n{text}");
    assert_eq!(f.dispute_outcomes.len(), 4, "every dispute outcome\n{text}");
    assert_eq!(f.flags.len(), 7, "every payment flag\n{text}");
    assert_eq!(f.refund_flags.len(), 3, "every refund flag\n{text}");
    for (name, c) in &f.by_step {
        assert!(c[0] + c[1] + c[2] > 0, "{name} never accepted\n{text}");
        if *name != "sweep" {
            assert!(
                c[3..].iter().sum::<u64>() > 0,
                "{name} never refused\n{text}"
            );
        }
    }
    assert!(
        f.by_step.get("remind").is_some_and(|c| c[6] > 0),
        "a second reminder within 24 hours was never refused (429)\n{text}"
    );
    // Every clock ran out at least once.
    for event in [
        "OrderCancelled",
        "PaymentExpired",
        "PaymentExpired (agreement)",
        "PaymentOverdue",
        "NotShippedRefundStarted",
        "OrderClosed",
        "ReceiptAutoConfirmationDue",
        "ReceiptConfirmed",
        "DisputeEscalated",
        "RefundFlagged",
        "ReservationReleased",
    ] {
        assert!(
            f.sweep_events.contains_key(event),
            "the sweep never emitted {event}\n{text}"
        );
    }
    // The bounds and rules of issue 16 were each met.
    for code in [
        "too-many-requests",
        "too-many-disputes",
        "too-many-failed-payments",
        "claim-rejected-final",
        "too-much-evidence",
        "too-much-evidence-for-party",
        "already-rejected",
        "no-extensions-left",
        "shipped-before-confirmation",
        "refund-exceeds-covered",
        "refund-not-flagged",
        "cannot-resolve",
        "forbidden (arbiter who is not a party to the order)",
        "forbidden (buyer)",
    ] {
        assert!(
            f.refusals.contains_key(code),
            "never refused: {code}\n{text}"
        );
    }
    assert_eq!(f.by_step.len(), 20, "every kind of step ran\n{text}");
    assert!(f.steps >= 5_000, "thousands of steps\n{text}");
    // The later changes were met: a flag about money kept against the
    // wrong provider, an offer taking back a rejection, dispute texts
    // beyond a party's share (the deep end of the texts is searched by
    // the test below).
    for what in [MONEY_FLAG_KEPT, REJECTION_TAKEN_BACK, BEYOND_SHARE] {
        assert!(f.met.contains_key(what), "never met: {what}\n{text}");
    }
    for code in ["dispute-texts-full", "message-too-long-when-full"] {
        assert!(
            f.refusals.contains_key(code),
            "never refused: {code}\n{text}"
        );
    }
}

/// Cases of the model test in which the parties write at length.
const WORDY_CASES: u32 = 256;
const WORDY_MIN_STEPS: usize = 60;
const WORDY_MAX_STEPS: usize = 150;

/// The generated orders whose parties are all wordy.
struct WordyOrderModel;

impl ReferenceStateMachine for WordyOrderModel {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        OrderModel::init_state()
            .prop_map(|mut m| {
                m.wordy = true;
                m
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        OrderModel::transitions(state)
    }

    fn apply(state: Model, step: &Step) -> Model {
        OrderModel::apply(state, step)
    }
}

struct WordyOrderAggregate;

impl StateMachineTest for WordyOrderAggregate {
    type SystemUnderTest = Sut;
    type Reference = WordyOrderModel;

    fn init_test(model: &Model) -> Sut {
        OrderAggregate::init_test(model)
    }

    fn apply(sut: Sut, model: &Model, step: Step) -> Sut {
        OrderAggregate::apply(sut, model, step)
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        OrderAggregate::check_invariants(sut, model);
    }
}

/// The same comparison, step by step, over longer sequences in which both
/// parties write long dispute texts (2,000 four-byte characters) until
/// their 32 KiB shares are used up, then the buyer turns offers down with
/// short messages until its 8 KiB beyond the share are used up too, and
/// opens another dispute with a short description: every bound on dispute
/// texts is met, and the model's counts of what each party wrote within
/// and beyond its share agree with the aggregate's. 256 cases of 60–150
/// steps (`MODEL_CASES` asks for a quarter of its number).
#[test]
fn the_aggregate_agrees_with_the_model_when_the_parties_use_up_their_dispute_texts() {
    let f = run_model::<WordyOrderModel, WordyOrderAggregate>(
        config_of(WORDY_CASES, 4),
        WORDY_MIN_STEPS..=WORDY_MAX_STEPS,
    );
    let text = report_figures("model test, wordy parties", &f);
    figures::record("model-texts", text.trim_end());
    for code in [
        "dispute-texts-full",
        "message-too-long-when-full",
        "no-message-room-left",
    ] {
        assert!(
            f.refusals.contains_key(code),
            "never refused: {code}\n{text}"
        );
    }
    for what in [BEYOND_SHARE, OPENED_BEYOND_OVERFLOW] {
        assert!(f.met.contains_key(what), "never met: {what}\n{text}");
    }
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
        wordy: false,
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
        // A refund of everything paid so far (the initial $1500.00)
        // closes the order.
        Step::OpenDispute {
            who: Who::Buyer,
            reason: DisputeReason::Quality,
            amount: 150_000,
            description: TextPick::Short,
            evidence: 1,
        },
        Step::Respond {
            who: Who::Supplier,
            action: RespondPick::Accept,
            message: None,
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
    assert_eq!(sut.order.end_reason(), Some(EndReason::Dispute));
    assert_eq!(model.kept(Stage::Balance), 0);
    assert_eq!(sut.order.amount_paid(), Usd::ZERO);
    assert_eq!(sut.order.amount_refunded(), usd(150_000 + 150_000));
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

#[test]
fn a_refund_smaller_than_everything_paid_is_a_compensation_and_the_order_goes_on() {
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
        // Past the ship-by date: late.
        Step::Advance { secs: 11 * DAY },
        Step::OpenDispute {
            who: Who::Buyer,
            reason: DisputeReason::LateShipment,
            amount: 100,
            description: TextPick::Short,
            evidence: 0,
        },
        // $1.00 of compensation agreed, and returned.
        Step::Respond {
            who: Who::Supplier,
            action: RespondPick::Accept,
            message: None,
            evidence: 0,
        },
        refund_settles(0),
        // The order goes on: shipped, balance paid, receipt confirmed.
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
        provider_says(PaymentSignal::Succeeded, 0),
        Step::Receipt { who: Who::Buyer },
    ];
    let (sut, _, outcomes) = replay(reference_setup(), &steps);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Changed | Outcome::Clock)),
        "{outcomes:?}"
    );
    let o = &sut.order;
    assert_eq!(o.status(), OrderStatus::Completed);
    assert_eq!(o.end_reason(), None);
    assert_eq!(o.amount_refunded(), usd(100));
    assert_eq!(o.coverage().refunded, usd(100));
    assert_eq!(o.covered_left(), usd(150_000 - 100));
    assert_eq!(o.amount_paid(), usd(300_000 - 100));
    assert!(o.shipment().is_some_and(|s| s.late));
    // Pre-shipment coverage ended at receipt: nothing reserved any more.
    assert_eq!(sut.limit.reserved(), Usd::ZERO);
}

#[test]
fn a_second_reminder_within_24_hours_is_refused_with_429_and_a_reminder_moves_only_the_revision() {
    let remind = |who| Step::Remind { who };
    let steps = [
        remind(Who::Buyer),
        remind(Who::Buyer),
        Step::Advance { secs: DAY - 1 },
        remind(Who::Buyer),
        Step::Advance { secs: 1 },
        remind(Who::Buyer),
        // The buyer created the order: the supplier has nothing to remind.
        remind(Who::Supplier),
    ];
    let (sut, _, outcomes) = replay(reference_setup(), &steps);
    use ErrorKind as K;
    use Outcome::{Clock, Noted, Refused};
    assert_eq!(
        outcomes,
        [
            Noted,
            Refused(K::TooManyRequests),
            Clock,
            Refused(K::TooManyRequests),
            Clock,
            Noted,
            Refused(K::Conflict),
        ]
    );
    assert_eq!((sut.order.version(), sut.order.revision()), (1, 3));
    assert_eq!(sut.history.len(), 3, "created, and two reminders");
}

#[test]
fn a_pay_later_agreement_not_completed_in_7_days_expires_and_a_later_success_may_be_accepted_by_an_arbiter()
 {
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
        // At the seventh day the agreement is not yet late…
        Step::Advance { secs: 7 * DAY },
        Step::Sweep,
        // …a second later it has expired.
        Step::Advance { secs: 1 },
        Step::Sweep,
        provider_says(PaymentSignal::AgreementCompleted, 0),
        // The money arrives anyway: flagged, not applied…
        provider_says(PaymentSignal::Succeeded, 0),
        // …until an arbiter who is the buyer tries (403), then one who is
        // not accepts it: the stage still waits, nothing is in flight.
        Step::Resolve {
            who: Who::BuyerIdAsArbiter,
            target: Target::FromEnd(0),
            refund: false,
        },
        Step::Resolve {
            who: Who::Arbiter,
            target: Target::FromEnd(0),
            refund: false,
        },
    ];
    let (sut, _, outcomes) = replay(reference_setup(), &steps);
    use Outcome::{Changed, Clock, Quiet, Refused};
    assert_eq!(
        outcomes,
        [
            Changed,
            Changed,
            Clock,
            Quiet,
            Clock,
            Changed,
            Quiet,
            Changed,
            Refused(ErrorKind::Forbidden),
            Changed
        ]
    );
    let o = &sut.order;
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    assert_eq!(o.payments()[0].status, PaymentStatus::Succeeded);
    assert_eq!(o.payments()[0].failure, None);
    assert!(
        sut.history
            .iter()
            .any(|e| matches!(e.body, EventBody::PaymentExpired { .. }))
    );
    // The credit was released at the expiry and reserved again.
    assert_eq!(sut.credit.reserved(), usd(150_000));
}

/// An arbiter returns only money that arrived, and applies late only money
/// that arrived: a report from the wrong provider is no money (refunding
/// its payment is refused, in flight or declined; accepting it once
/// declined only acknowledges it, the payment stays failed), while money
/// confirmed for a declined payment after the stage was paid again is
/// refunded (accepting it is refused: its stage no longer waits).
#[test]
fn an_arbiter_refunds_only_money_that_arrived_and_accepts_late_only_money() {
    let wrong_provider = Step::PaymentReport {
        target: Target::FromEnd(0),
        signal: PaymentSignal::Processing,
        provider: ProviderPick::Other(0),
        amount: AmountPick::Right,
        currency: CurrencyPick::Usd,
    };
    let resolve = |from_end, refund| Step::Resolve {
        who: Who::Arbiter,
        target: Target::FromEnd(from_end),
        refund,
    };
    let pay = Step::Pay {
        who: Who::Buyer,
        stage: Stage::Initial,
        method: VISA,
        reuse_id: false,
    };
    let steps = [
        Step::Confirm {
            who: Who::Supplier,
            version: VersionPick::Right,
        },
        pay.clone(),
        wrong_provider,
        resolve(0, true),
        provider_says(PaymentSignal::Failed, 0),
        resolve(0, true),
        resolve(0, false),
        pay,
        provider_says(PaymentSignal::Succeeded, 0),
        // The declined payment's money arrives after all.
        provider_says(PaymentSignal::Succeeded, 1),
        resolve(1, false),
        resolve(1, true),
    ];
    let (sut, _, outcomes) = replay(reference_setup(), &steps);
    use Outcome::{Changed, Refused};
    let conflict = Refused(ErrorKind::Conflict);
    assert_eq!(
        outcomes,
        [
            Changed, Changed, Changed, conflict, Changed, conflict, Changed, Changed, Changed,
            Changed, conflict, Changed
        ]
    );
    let o = &sut.order;
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    let first = &o.payments()[0];
    assert_eq!(
        (
            first.status,
            first.failure,
            first.flag.as_ref().map(|f| f.reason)
        ),
        (PaymentStatus::Succeeded, None, None)
    );
    assert_eq!(first.refund_requested, first.amount);
    assert_eq!(o.amount_paid(), usd(150_000));
}

/// Quality disputes decided against the supplier twice on an order with an
/// inspection: the $200.00 fee was paid once and is refunded once (with
/// the first decision; the second refunds what was paid less what was
/// already refunded: nothing).
#[test]
fn the_inspection_fee_is_refunded_once_whatever_the_number_of_quality_disputes() {
    let mut setup = reference_setup();
    setup.terms.inspection = Some(InspectionLocation::China);
    let quality_dispute_decided_at_fault = [
        Step::OpenDispute {
            who: Who::Buyer,
            reason: DisputeReason::Quality,
            amount: 10_000,
            description: TextPick::Short,
            evidence: 0,
        },
        Step::Respond {
            who: Who::Supplier,
            action: RespondPick::Reject,
            message: None,
            evidence: 0,
        },
        Step::Escalate { who: Who::Buyer },
        Step::Decide {
            who: Who::Arbiter,
            at_fault: Some(10_000),
        },
    ];
    let mut steps = vec![
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
    ];
    steps.extend(quality_dispute_decided_at_fault.iter().cloned());
    steps.extend(quality_dispute_decided_at_fault.iter().cloned());
    let (sut, _, outcomes) = replay(setup, &steps);
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Changed),
        "{outcomes:?}"
    );
    let fees: u64 = sut
        .order
        .past_disputes()
        .iter()
        .chain(sut.order.dispute())
        .filter_map(|d| d.inspection_fee_refund)
        .map(Usd::cents)
        .sum();
    assert_eq!(fees, 20_000);
    // Two refunds of $100.00 and the fee once: of the $1500.00 paid for
    // the goods, $1300.00 is still held.
    assert_eq!(sut.order.amount_paid(), usd(150_000 - 20_000));
    assert_eq!(
        sut.order
            .refunds()
            .iter()
            .map(|r| r.amount.cents())
            .sum::<u64>(),
        10_000 + 20_000 + 10_000
    );
}

/// Three balance payments declined, a dispute opened while the third was
/// in flight: the order is not closed while the dispute is unresolved (it
/// waits in `shipped`, its balance clock paused), so the dispute can still
/// end with a refund of everything paid.
#[test]
fn a_dispute_open_when_the_third_balance_payment_fails_can_still_end_with_a_refund() {
    let mut steps = three_balance_payments_declined_with_a_dispute_open();
    let (sut, _, _) = replay(reference_setup(), &steps);
    assert_eq!(sut.order.status(), OrderStatus::Shipped);
    assert_eq!(sut.order.failed_payments(Stage::Balance), 3);
    assert_eq!(sut.order.balance_due(), None, "paused by the dispute");
    assert!(sut.order.open_dispute().is_some());
    steps.push(Step::Respond {
        who: Who::Supplier,
        action: RespondPick::Accept,
        message: None,
        evidence: 0,
    });
    let (sut, _, outcomes) = replay(reference_setup(), &steps);
    assert_eq!(outcomes.last(), Some(&Outcome::Changed));
    assert!(sut.order.open_dispute().is_none());
    assert_eq!(sut.order.status(), OrderStatus::RefundPending);
    assert_eq!(sut.order.end_reason(), Some(EndReason::Dispute));
}

/// The same, but the dispute is withdrawn: the balance clock runs again
/// with at least 7 days, no fourth balance payment is accepted (422
/// `too-many-failed-payments`), and when the clock runs out the sweep
/// closes the order (`balance_unpaid`) and releases its reservation.
#[test]
fn after_three_failed_balance_payments_and_a_dispute_withdrawn_the_balance_clock_closes_the_order()
{
    let mut steps = three_balance_payments_declined_with_a_dispute_open();
    steps.extend([
        Step::Withdraw { who: Who::Buyer },
        Step::Pay {
            who: Who::Buyer,
            stage: Stage::Balance,
            method: VISA,
            reuse_id: false,
        },
        Step::Advance {
            secs: RETRY_MIN_DAYS * DAY,
        },
        Step::Sweep,
        Step::Advance { secs: 1 },
        Step::Sweep,
    ]);
    let (sut, _, outcomes) = replay(reference_setup(), &steps);
    use Outcome::{Changed, Clock, Quiet, Refused};
    let n = outcomes.len();
    assert_eq!(
        outcomes[n - 7..],
        [
            Changed,
            Changed,
            Refused(ErrorKind::Unprocessable),
            Clock,
            Quiet,
            Clock,
            Changed
        ]
    );
    let o = &sut.order;
    assert_eq!(o.status(), OrderStatus::Closed);
    assert_eq!(o.end_reason(), Some(EndReason::BalanceUnpaid));
    assert_eq!(o.failed_payments(Stage::Balance), 3);
    assert_eq!(sut.limit.reserved(), Usd::ZERO);
}

/// Confirmed, the initial payment arrived, shipped; 89 days later (a day
/// left on the balance clock) two balance payments declined; a quality
/// dispute for the $1500.00 paid opened while the third is in flight,
/// which is declined too: the order waits in `shipped`, its balance clock
/// paused with 7 days left.
fn three_balance_payments_declined_with_a_dispute_open() -> Vec<Step> {
    let pay_balance = Step::Pay {
        who: Who::Buyer,
        stage: Stage::Balance,
        method: VISA,
        reuse_id: false,
    };
    vec![
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
        Step::Advance { secs: 89 * DAY },
        pay_balance.clone(),
        provider_says(PaymentSignal::Failed, 0),
        pay_balance.clone(),
        provider_says(PaymentSignal::Failed, 0),
        pay_balance,
        Step::OpenDispute {
            who: Who::Buyer,
            reason: DisputeReason::Quality,
            amount: 150_000,
            description: TextPick::Short,
            evidence: 0,
        },
        provider_says(PaymentSignal::Failed, 0),
    ]
}

/// The card payment is declined, then confirmed by its provider after all
/// (flagged: money arrived, not applied). A report about it from another
/// provider, and the same confirmation again, leave that flag as it is
/// (no event: the model's flagging); the arbiter refunds the money.
#[test]
fn a_report_from_the_wrong_provider_leaves_a_flag_about_money_for_the_arbiter() {
    let wrong_provider = |signal| Step::PaymentReport {
        target: Target::FromEnd(0),
        signal,
        provider: ProviderPick::Other(1),
        amount: AmountPick::Right,
        currency: CurrencyPick::Usd,
    };
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
        provider_says(PaymentSignal::Failed, 0),
        provider_says(PaymentSignal::Succeeded, 0),
        wrong_provider(PaymentSignal::Succeeded),
        wrong_provider(PaymentSignal::Failed),
        provider_says(PaymentSignal::Succeeded, 0),
        Step::Resolve {
            who: Who::Arbiter,
            target: Target::FromEnd(0),
            refund: true,
        },
        refund_settles(0),
    ];
    let (sut, model, outcomes) = replay(reference_setup(), &steps);
    use Outcome::{Changed, Quiet};
    assert_eq!(
        outcomes,
        [
            Changed, Changed, Changed, Changed, Quiet, Quiet, Quiet, Changed, Changed
        ]
    );
    let p = &sut.order.payments()[0];
    assert_eq!(
        (p.status, p.flag.as_ref().map(|f| f.reason)),
        (PaymentStatus::Refunded, None)
    );
    assert_eq!(model.payments[0].returned, 150_000);
    assert_eq!(sut.order.status(), OrderStatus::AwaitingInitialPayment);
}

/// The supplier rejects the claim and, before the sweep ran, makes an
/// offer: the rejection is taken back. The sweep has nothing to escalate,
/// the buyer may not escalate (422), and after the buyer turns the offer
/// down the supplier may reject again, which the sweep escalates a second
/// later.
#[test]
fn an_offer_takes_back_the_suppliers_rejection_until_it_rejects_again() {
    let supplier = |action| Step::Respond {
        who: Who::Supplier,
        action,
        message: None,
        evidence: 0,
    };
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
        Step::OpenDispute {
            who: Who::Buyer,
            reason: DisputeReason::Quality,
            amount: 10_000,
            description: TextPick::Short,
            evidence: 0,
        },
        Step::Advance { secs: 3_600 },
        supplier(RespondPick::Reject),
        supplier(RespondPick::Offer(5_000)),
        Step::Advance { secs: 1 },
        Step::Sweep,
        Step::Escalate { who: Who::Buyer },
        Step::Respond {
            who: Who::Buyer,
            action: RespondPick::Reject,
            message: Some(TextPick::Short),
            evidence: 0,
        },
        Step::Sweep,
        supplier(RespondPick::Reject),
        supplier(RespondPick::Reject),
        Step::Sweep,
        Step::Advance { secs: 1 },
        Step::Sweep,
    ];
    let (sut, _, outcomes) = replay(reference_setup(), &steps);
    use Outcome::{Changed, Clock, Quiet, Refused};
    assert_eq!(
        outcomes,
        [
            Changed,
            Changed,
            Changed,
            Changed,
            Clock,
            Changed,
            Changed,
            Clock,
            Quiet,
            Refused(ErrorKind::Unprocessable),
            Changed,
            Quiet,
            Changed,
            Refused(ErrorKind::Conflict),
            Quiet,
            Clock,
            Changed,
        ]
    );
    let d = sut.order.dispute().expect("the dispute");
    assert_eq!(
        (d.status, d.escalation_ground),
        (
            DisputeStatus::Escalated,
            Some(domain::dispute::EscalationGround::SupplierRejected)
        )
    );
}

/// The buyer writes its 32 KiB share of dispute texts (a description and
/// comments of 2,000 four-byte characters), then turns offers down with
/// 500-character messages beyond it until its 8 KiB overflow leaves no
/// room for another (a short message still fits in what is left of the
/// share), withdraws, and opens a new dispute: a description of 501
/// characters is refused, one of 500 accepted — beyond the overflow.
#[test]
fn a_buyer_whose_texts_and_overflow_are_used_up_opens_a_dispute_with_a_short_description() {
    let buyer = |action, message| Step::Respond {
        who: Who::Buyer,
        action,
        message,
        evidence: 0,
    };
    let offer = Step::Respond {
        who: Who::Supplier,
        action: RespondPick::Offer(5_000),
        message: None,
        evidence: 0,
    };
    let open = |description| Step::OpenDispute {
        who: Who::Buyer,
        reason: DisputeReason::Quality,
        amount: 10_000,
        description,
        evidence: 0,
    };
    let (long, short, too_long) = (
        TextPick::Wide(2000),
        TextPick::Wide(500),
        TextPick::Wide(501),
    );
    let mut steps = vec![
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
        // 8,000 + 3 × 8,000 + 14 = 32,014 bytes; 2,000 more do not fit.
        open(long),
        buyer(RespondPick::Comment, Some(long)),
        buyer(RespondPick::Comment, Some(long)),
        buyer(RespondPick::Comment, Some(long)),
        buyer(RespondPick::Comment, Some(TextPick::Short)),
        buyer(RespondPick::Comment, Some(short)),
    ];
    // Four rejections of 500 characters beyond the share: 8,000 bytes.
    for _ in 0..4 {
        steps.extend([offer.clone(), buyer(RespondPick::Reject, Some(short))]);
    }
    steps.extend([
        offer.clone(),
        // 2,000 more bytes do not fit in the overflow; 14 still fit in
        // the share.
        buyer(RespondPick::Reject, Some(short)),
        buyer(RespondPick::Reject, Some(TextPick::Short)),
        Step::Withdraw { who: Who::Buyer },
        open(too_long),
        open(short),
    ]);
    let (sut, model, outcomes) = replay(reference_setup(), &steps);
    use Outcome::{Changed, Refused};
    let rule = Refused(ErrorKind::Unprocessable);
    let n = outcomes.len();
    assert_eq!(outcomes[..8], [Changed; 8]);
    assert_eq!(outcomes[8], rule, "a comment beyond the share");
    assert!(outcomes[9..n - 5].iter().all(|o| *o == Changed));
    assert_eq!(outcomes[n - 5..], [rule, Changed, Changed, rule, Changed]);
    // Within: 32,014 + 14; beyond: 4 × 2,000 and the 500-character
    // description.
    assert_eq!(sut.order.dispute_text_bytes(Party::Buyer), (32_028, 10_000));
    assert_eq!(
        (model.texts.0.within, model.texts.0.beyond),
        (32_028, 10_000)
    );
    assert!(sut.order.open_dispute().is_some());
}
