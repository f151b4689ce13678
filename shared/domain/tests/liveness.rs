//! Liveness as a property (issue 16, item 5): every order ends.
//!
//! A small world — one buyer with one Pay Later [`CreditLine`], two
//! suppliers each with an [`AssuranceLimit`] (only the first has a receiving
//! account for T/T), up to three orders — is driven by random steps: every
//! party command (create, amend, confirm, remind, cancel, pay either stage
//! with every method, ship, record customs and delivery, confirm receipt,
//! extend it, feedback, open, answer, withdraw and escalate a dispute), every
//! arbiter command (decide a dispute, accept or refund a flagged payment,
//! retry or settle outside a flagged refund part), provider reports on
//! payments and refund parts (sometimes from the wrong provider, for the
//! wrong amount or currency, duplicated, out of order — or never sent),
//! clock advances from a minute to 100 days, and the scheduled sweep. The
//! effects each accepted command returns are applied to the limits and the
//! credit line as a store applies them, atomically: a command whose
//! `CoverageReserved` or `CreditReserved` does not fit is not applied at all.
//! Refused commands are part of the game and change nothing.
//!
//! Every order of a world lives by the same clocks: the defaults, or in a
//! quarter of the cases each configurable clock set at random (at most 30
//! days), so the property holds for any configuration, not only the
//! product's.
//!
//! The sweep runs as the stores run it: it reads only the orders whose
//! `next_sweep_due()` has come (the sparse due index), so the test fails if
//! the sweep would have acted on an order the index does not list, or if an
//! order stays due after two sweeps at the same instant.
//!
//! After every step:
//! * each limit's `reserved()` equals Σ `coverage().reserved` of its orders
//!   and never exceeds the limit; the credit line's `reserved()` equals
//!   Σ `credit_held` of the payments; no failed or refunded payment holds
//!   credit; no order reserves more than it covers; a refused command (or
//!   one that emits nothing) leaves the order as it was;
//! * every order is finished (`is_finished()`), or shows a dated deadline
//!   the sweep acts on (`DeadlineKind::is_swept()`), or waits for an
//!   arbiter; and `next_sweep_due()` is `Some` for every order that is
//!   neither finished nor waiting for an arbiter. "Waiting for an arbiter"
//!   is read narrowly — an escalated dispute or a flagged refund part — as
//!   a flagged payment stops no clock; both are `awaits_arbiter()`.
//!
//! Then the drain: nobody but the scheduler and an arbiter acts any more
//! (providers stay silent). Time moves on 1–10 days at a time, the sweep
//! runs, and the arbiter works through what is listed for them (escalated
//! disputes decided, flagged payments accepted when that is allowed and
//! refunded otherwise — in a quarter of the cases refunded first —,
//! flagged refund parts retried twice, then settled outside). Every flag
//! must give way to one of the two resolutions: accepting acknowledges a
//! flag on a payment already paid or returned, or one about an event or a
//! date (the wrong provider, overdue) on a payment that failed, and takes a
//! payment in flight as arrived; refunding returns money that arrived and
//! was not applied (and is refused where none did). Within 400 days every
//! order must be finished with no money in motion (no payment in flight,
//! every refund part settled) and no payment flag left for an arbiter;
//! then nothing is reserved on any limit, the credit line holds exactly
//! Σ `credit_held` (the credit of succeeded Pay Later payments), no
//! finished payment holds credit, and no order is due for the sweep any
//! more.
//!
//! The run is deterministic: 512 cases of 0–120 steps from a fixed seed,
//! whatever `PROPTEST_*` says (`LIVENESS_CASES` and `LIVENESS_SEED` ask for
//! a longer or another search). Its figures (steps per command and how
//! they went, statuses before and after the drain, how payments ended, the
//! flags the arbiter cleared and how) are printed and kept for `make
//! test`'s summary. Three fixed scenarios replay the reproductions
//! of orders that never ended; two tests at the end replay what the drain
//! found about flags, now fixed (see there).

use test_kit::figures;

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::{TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestError, TestRunner};

use domain::actor::{Caller, Party, Provider, Role};
use domain::calendar::Timestamp;
use domain::clocks::Clocks;
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, Terms, TermsDraft,
};
use domain::coverage::{AssuranceLimit, CoverageType, ReceivingAccount};
use domain::deadline::DeadlineKind;
use domain::dispute::{Decision, DisputeReason, DisputeStatus, ResponseAction};
use domain::event::{DomainEvent, EventBody, FlagResolution};
use domain::feedback::Rating;
use domain::ids::{ApplicationId, OrderId, PaymentId};
use domain::order::{
    Counterparty, DisputeResponse, EndReason, NewOrder, OpenDispute, PaymentReport, PaymentRequest,
    RefundReport, ShipmentDetails,
};
use domain::payment::{
    AccountType, CardBrand, CreditLine, FailureReason, PaymentContext, PaymentMethod,
    PaymentSignal, PaymentStatus, Stage,
};
use domain::refund::{RefundResolution, RefundStatus};
use domain::status::OrderStatus;
use domain::text::{CountryCode, DocumentRef, HttpsUrl, LongText, Sha256Hex, ShortText};
use domain::{Order, OrderError, Usd};

// ---- the run ------------------------------------------------------------------

const CASES: u32 = 512;
const SEED: u64 = 0x11fe_2027_0016;
const MIN_STEPS: usize = 0;
const MAX_STEPS: usize = 120;
/// Slots for orders in one world.
const ORDERS: usize = 3;
/// The drain must end every order within this much business time.
const DRAIN_DAYS: i64 = 400;
/// The arbiter retries a flagged refund part this many times before
/// recording it as settled outside the platform.
const DRAIN_RETRIES: u32 = 2;

const BUYER: &str = "b-1";
const SUPPLIERS: [&str; 2] = ["s-1", "s-2"];
const ARBITER: &str = "arb-1";

fn base_time() -> Timestamp {
    // A Monday morning.
    Utc.with_ymd_and_hms(2027, 1, 4, 9, 0, 0)
        .single()
        .expect("valid base time")
}

// ---- small helpers ----------------------------------------------------------

fn usd(cents: u64) -> Usd {
    Usd::from_cents(cents).expect("cents in range")
}

fn uid(s: &str) -> domain::ids::UserId {
    domain::ids::UserId::parse(s).expect("valid user id")
}

fn short(s: &str) -> ShortText {
    ShortText::parse(s).expect("valid short text")
}

fn long(s: &str) -> LongText {
    LongText::parse(s).expect("valid long text")
}

fn sum(amounts: impl IntoIterator<Item = Usd>) -> Usd {
    Usd::sum(amounts).expect("no overflow in test sums")
}

/// `amount × permille / 1000` in whole cents, at least one cent.
fn permille_of(amount: Usd, permille: u64) -> Usd {
    usd((amount.cents().saturating_mul(permille) / 1000).max(1))
}

fn evidence(n: usize) -> Vec<DocumentRef> {
    (0..n)
        .map(|i| DocumentRef {
            name: short(&format!("photo {i}")),
            url: HttpsUrl::parse(&format!("https://evidence.example/{i}.jpg")).expect("valid url"),
            sha256: Sha256Hex::parse(&"ab".repeat(32)).expect("valid digest"),
        })
        .collect()
}

fn buyer() -> Caller {
    Caller::new(uid(BUYER), [Role::Buyer])
}

fn arbiter() -> Caller {
    Caller::new(uid(ARBITER), [Role::Arbiter])
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

// ---- what is generated --------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Buyer,
    Supplier,
}

#[derive(Debug, Clone)]
struct TermsSpec {
    /// (quantity, unit price in cents)
    items: Vec<(u32, u64)>,
    shipping_cents: u64,
    /// initial = max(1 cent, total × ‰ / 1000); 1000 means no balance.
    initial_permille: u64,
    /// Days from "now" to the ship-by date.
    ship_by_days: u32,
    coverage: CoverageType,
    inspection: Option<InspectionLocation>,
}

impl TermsSpec {
    fn build(&self, now: Timestamp) -> Terms {
        let items: Vec<LineItem> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, &(quantity, unit))| LineItem {
                description: short(&format!("item {i}")),
                quantity,
                unit_price: usd(unit),
            })
            .collect();
        let total: u64 = self.shipping_cents
            + self
                .items
                .iter()
                .map(|&(q, u)| u64::from(q) * u)
                .sum::<u64>();
        let initial = (total * self.initial_permille / 1000).max(1);
        Terms::new(TermsDraft {
            items,
            shipping_fee: usd(self.shipping_cents),
            initial_payment: usd(initial),
            ship_by: (now + days(i64::from(self.ship_by_days))).date_naive(),
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

#[derive(Debug, Clone)]
struct OrderSpec {
    terms: TermsSpec,
    /// An offline order drafted by the supplier (else the buyer's online one).
    by_supplier: bool,
    /// Which of the two suppliers.
    supplier: usize,
}

#[derive(Debug, Clone)]
struct WorldSpec {
    /// Each supplier's assurance limit, in dollars.
    limits: [u64; 2],
    /// The buyer's Pay Later line: approved with this many dollars, or
    /// still pending.
    credit: Option<u64>,
    /// Orders drafted at the start (the other slots may be filled later).
    orders: Vec<OrderSpec>,
    /// The clocks every order of this world lives by: the defaults, or one
    /// value per configurable clock (`domain::clocks::SETTINGS`, in its
    /// range and at most 30 days, contradictions set straight).
    clocks: Option<Vec<u32>>,
}

impl WorldSpec {
    fn clocks(&self) -> Clocks {
        let Some(values) = &self.clocks else {
            return Clocks::default();
        };
        let mut c = Clocks::default();
        for (s, &v) in domain::clocks::SETTINGS.iter().zip(values) {
            (s.set)(&mut c, v.clamp(s.min, s.max.min(30)));
        }
        c.confirmation_max_days = c.confirmation_max_days.max(c.confirmation_days);
        c.balance_max_days = c.balance_max_days.max(c.balance_days);
        c.disputes.resolution_days = c
            .disputes
            .resolution_days
            .max(c.disputes.supplier_response_days);
        c.receipt_days = c.receipt_days.max(c.receipt_notice_days);
        c.check().expect("consistent clocks");
        c
    }
}

#[derive(Debug, Clone, Copy)]
enum MethodPick {
    ECheck { us: bool },
    Card { visa: bool },
    Tt,
    PayLater { term: u32 },
}

#[derive(Debug, Clone, Copy)]
enum ProviderPick {
    Right,
    /// Another provider than the payment's (1–3 places along).
    Other(u8),
}

#[derive(Debug, Clone, Copy)]
enum AmountPick {
    Right,
    /// So many cents more than the right amount.
    Off(u64),
    /// Succeeded without an amount / a refund report without one.
    Missing,
    /// The right amount in EUR (payments only).
    Eur,
}

#[derive(Debug, Clone, Copy)]
enum RespondPick {
    Accept,
    /// ‰ of the requested refund.
    Offer(u64),
    Reject,
    Comment,
}

#[derive(Debug, Clone)]
enum Step {
    /// Fill an empty slot with a new order.
    Create {
        o: usize,
        spec: OrderSpec,
    },
    Amend {
        o: usize,
        by: Side,
        terms: TermsSpec,
    },
    /// The party whose confirmation is missing confirms the current (or a
    /// stale) version.
    Confirm {
        o: usize,
        stale: bool,
    },
    Remind {
        o: usize,
        by: Side,
    },
    Cancel {
        o: usize,
        by: Side,
    },
    Pay {
        o: usize,
        stage: Stage,
        method: MethodPick,
    },
    /// A provider's report on the `from_end`-th newest payment.
    PaymentReport {
        o: usize,
        from_end: usize,
        signal: PaymentSignal,
        provider: ProviderPick,
        amount: AmountPick,
        twice: bool,
    },
    /// Shipped `back_hours` ago (more than 72 is refused).
    Ship {
        o: usize,
        back_hours: u32,
    },
    Deliver {
        o: usize,
        by: Side,
        customs_back_hours: Option<u32>,
        delivered_back_hours: Option<u32>,
    },
    ConfirmReceipt {
        o: usize,
    },
    ExtendReceipt {
        o: usize,
    },
    Feedback {
        o: usize,
        rating: i64,
    },
    /// The buyer opens a dispute for ‰ of min(covered left, paid).
    OpenDispute {
        o: usize,
        reason: DisputeReason,
        permille: u64,
        evidence: usize,
    },
    Respond {
        o: usize,
        by: Side,
        action: RespondPick,
    },
    Withdraw {
        o: usize,
    },
    Escalate {
        o: usize,
    },
    /// The arbiter decides: at fault for ‰ of min(covered left, paid), or
    /// the claim rejected.
    Decide {
        o: usize,
        at_fault_permille: Option<u64>,
    },
    ResolvePayment {
        o: usize,
        from_end: usize,
        refund: bool,
    },
    ResolveRefund {
        o: usize,
        part: usize,
        outside: bool,
    },
    RefundReport {
        o: usize,
        part: usize,
        succeeded: bool,
        provider: ProviderPick,
        amount: AmountPick,
        twice: bool,
    },
    Advance {
        secs: i64,
    },
    /// The scheduled sweep, over one order or all of them.
    Sweep {
        o: Option<usize>,
    },
    /// The natural next step for the order's status (keeps sequences
    /// reaching deep states); resolved to one of the steps above.
    Progress {
        o: usize,
        variant: u8,
    },
}

impl Step {
    /// The order a step aims at (not a creation, which names its slot).
    fn target(&mut self) -> Option<&mut usize> {
        match self {
            Step::Create { .. } | Step::Advance { .. } | Step::Sweep { o: None } => None,
            Step::Amend { o, .. }
            | Step::Confirm { o, .. }
            | Step::Remind { o, .. }
            | Step::Cancel { o, .. }
            | Step::Pay { o, .. }
            | Step::PaymentReport { o, .. }
            | Step::Ship { o, .. }
            | Step::Deliver { o, .. }
            | Step::ConfirmReceipt { o }
            | Step::ExtendReceipt { o }
            | Step::Feedback { o, .. }
            | Step::OpenDispute { o, .. }
            | Step::Respond { o, .. }
            | Step::Withdraw { o }
            | Step::Escalate { o }
            | Step::Decide { o, .. }
            | Step::ResolvePayment { o, .. }
            | Step::ResolveRefund { o, .. }
            | Step::RefundReport { o, .. }
            | Step::Sweep { o: Some(o) }
            | Step::Progress { o, .. } => Some(o),
        }
    }
}

/// What the drain does: its clock steps (cycled) and how the arbiter
/// decides escalated disputes.
#[derive(Debug, Clone)]
struct DrainSpec {
    step_days: Vec<u32>,
    /// Decide escalated disputes with the supplier at fault (else reject).
    at_fault: bool,
    permille: u64,
    /// Resolve flagged payments by refunding them when that is allowed,
    /// else by accepting them (the other way round when `false`).
    prefer_refund: bool,
}

#[derive(Debug, Clone)]
struct Case {
    world: WorldSpec,
    steps: Vec<Step>,
    drain: DrainSpec,
}

// ---- strategies -------------------------------------------------------------

fn terms_spec() -> impl Strategy<Value = TermsSpec> {
    (
        prop::collection::vec((1u32..=10, 100u64..=200_000), 1..=3),
        prop_oneof![Just(0u64), 0u64..=20_000],
        prop_oneof![1 => Just(1000u64), 3 => 100u64..=900],
        0u32..=40,
        prop_oneof![
            Just(CoverageType::PreShipment),
            Just(CoverageType::PostDelivery)
        ],
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(InspectionLocation::China)),
            1 => Just(Some(InspectionLocation::Overseas)),
        ],
    )
        .prop_map(
            |(items, shipping_cents, initial_permille, ship_by_days, coverage, inspection)| {
                TermsSpec {
                    items,
                    shipping_cents,
                    initial_permille,
                    ship_by_days,
                    coverage,
                    inspection,
                }
            },
        )
}

fn order_spec() -> impl Strategy<Value = OrderSpec> {
    (
        terms_spec(),
        any::<bool>(),
        prop_oneof![3 => Just(0usize), 1 => Just(1usize)],
    )
        .prop_map(|(terms, by_supplier, supplier)| OrderSpec {
            terms,
            by_supplier,
            supplier,
        })
}

fn world_spec() -> impl Strategy<Value = WorldSpec> {
    (
        [1_000u64..=120_000, 500u64..=60_000],
        prop_oneof![1 => Just(None), 4 => (500u64..=80_000).prop_map(Some)],
        prop::collection::vec(order_spec(), 1..=ORDERS),
        prop_oneof![
            3 => Just(None),
            1 => prop::collection::vec(0u32..=30, domain::clocks::SETTINGS.len()).prop_map(Some),
        ],
    )
        .prop_map(|(limits, credit, orders, clocks)| WorldSpec {
            limits,
            credit,
            orders,
            clocks,
        })
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buyer), Just(Side::Supplier)]
}

fn method() -> impl Strategy<Value = MethodPick> {
    prop_oneof![
        2 => Just(MethodPick::ECheck { us: true }),
        1 => Just(MethodPick::ECheck { us: false }),
        3 => prop_oneof![4 => Just(true), 1 => Just(false)].prop_map(|visa| MethodPick::Card { visa }),
        2 => Just(MethodPick::Tt),
        3 => prop_oneof![6 => 1u32..=6, 1 => Just(7u32)].prop_map(|term| MethodPick::PayLater { term }),
    ]
}

fn provider_pick() -> impl Strategy<Value = ProviderPick> {
    prop_oneof![6 => Just(ProviderPick::Right), 1 => (1u8..=3).prop_map(ProviderPick::Other)]
}

fn amount_pick() -> impl Strategy<Value = AmountPick> {
    prop_oneof![
        8 => Just(AmountPick::Right),
        1 => (1u64..=100).prop_map(AmountPick::Off),
        1 => Just(AmountPick::Missing),
        1 => Just(AmountPick::Eur),
    ]
}

fn signal() -> impl Strategy<Value = PaymentSignal> {
    prop_oneof![
        2 => Just(PaymentSignal::Processing),
        2 => Just(PaymentSignal::AgreementCompleted),
        4 => Just(PaymentSignal::Succeeded),
        2 => Just(PaymentSignal::Failed),
    ]
}

fn advance() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 60i64..=3_600,
        3 => 3_600i64..=3 * 86_400,
        2 => 86_400i64..=20 * 86_400,
        1 => 20 * 86_400i64..=100 * 86_400,
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let o = || 0..ORDERS;
    prop_oneof![
        1 => (o(), order_spec()).prop_map(|(o, spec)| Step::Create { o, spec }),
        1 => (o(), side(), terms_spec()).prop_map(|(o, by, terms)| Step::Amend { o, by, terms }),
        2 => (o(), prop_oneof![5 => Just(false), 1 => Just(true)])
            .prop_map(|(o, stale)| Step::Confirm { o, stale }),
        1 => (o(), side()).prop_map(|(o, by)| Step::Remind { o, by }),
        1 => (o(), side()).prop_map(|(o, by)| Step::Cancel { o, by }),
        2 => (
            o(),
            prop_oneof![Just(Stage::Initial), Just(Stage::Balance)],
            method()
        )
            .prop_map(|(o, stage, method)| Step::Pay { o, stage, method }),
        4 => (o(), 0usize..3, signal(), provider_pick(), amount_pick(), any::<bool>()).prop_map(
            |(o, from_end, signal, provider, amount, twice)| Step::PaymentReport {
                o,
                from_end,
                signal,
                provider,
                amount,
                twice,
            }
        ),
        1 => (o(), prop_oneof![4 => Just(0u32), 2 => 1u32..=72, 1 => 73u32..=100])
            .prop_map(|(o, back_hours)| Step::Ship { o, back_hours }),
        1 => (
            o(),
            prop_oneof![6 => Just(Side::Buyer), 1 => Just(Side::Supplier)],
            prop::option::of(0u32..=400),
            prop::option::of(0u32..=400)
        )
            .prop_map(|(o, by, customs_back_hours, delivered_back_hours)| Step::Deliver {
                o,
                by,
                customs_back_hours,
                delivered_back_hours,
            }),
        1 => o().prop_map(|o| Step::ConfirmReceipt { o }),
        1 => o().prop_map(|o| Step::ExtendReceipt { o }),
        1 => (o(), 0i64..=6).prop_map(|(o, rating)| Step::Feedback { o, rating }),
        2 => (
            o(),
            prop_oneof![Just(DisputeReason::LateShipment), Just(DisputeReason::Quality)],
            prop_oneof![4 => 1u64..=999, 2 => Just(1000u64), 1 => 1001u64..=1100],
            0usize..=2
        )
            .prop_map(|(o, reason, permille, evidence)| Step::OpenDispute {
                o,
                reason,
                permille,
                evidence,
            }),
        3 => (
            o(),
            side(),
            prop_oneof![
                Just(RespondPick::Accept),
                (1u64..=1000).prop_map(RespondPick::Offer),
                Just(RespondPick::Reject),
                Just(RespondPick::Comment),
            ]
        )
            .prop_map(|(o, by, action)| Step::Respond { o, by, action }),
        1 => o().prop_map(|o| Step::Withdraw { o }),
        1 => o().prop_map(|o| Step::Escalate { o }),
        1 => (o(), prop::option::of(1u64..=1000))
            .prop_map(|(o, at_fault_permille)| Step::Decide { o, at_fault_permille }),
        1 => (o(), 0usize..3, any::<bool>())
            .prop_map(|(o, from_end, refund)| Step::ResolvePayment { o, from_end, refund }),
        1 => (o(), 0usize..4, any::<bool>())
            .prop_map(|(o, part, outside)| Step::ResolveRefund { o, part, outside }),
        3 => (o(), 0usize..4, prop_oneof![3 => Just(true), 2 => Just(false)], provider_pick(), amount_pick(), any::<bool>())
            .prop_map(|(o, part, succeeded, provider, amount, twice)| Step::RefundReport {
                o,
                part,
                succeeded,
                provider,
                amount,
                twice,
            }),
        6 => advance().prop_map(|secs| Step::Advance { secs }),
        3 => prop::option::of(o()).prop_map(|o| Step::Sweep { o }),
        14 => (o(), any::<u8>()).prop_map(|(o, variant)| Step::Progress { o, variant }),
    ]
}

fn drain_spec() -> impl Strategy<Value = DrainSpec> {
    (
        prop::collection::vec(1u32..=10, 1..=6),
        any::<bool>(),
        1u64..=1000,
        prop_oneof![3 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(step_days, at_fault, permille, prefer_refund)| DrainSpec {
            step_days,
            at_fault,
            permille,
            prefer_refund,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        world_spec(),
        prop::collection::vec(step(), MIN_STEPS..=MAX_STEPS),
        drain_spec(),
    )
        .prop_map(|(world, steps, drain)| Case {
            world,
            steps,
            drain,
        })
}

// ---- figures ------------------------------------------------------------------

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tally {
    /// Accepted with events, applied.
    Changed,
    /// Accepted, nothing to do (a duplicate report, nothing due).
    Quiet,
    /// Refused by the domain.
    Refused,
    /// Accepted by the order but its effects did not fit the limit or the
    /// credit line: not applied, as the store's transaction would fail.
    Discarded,
    /// Nothing to aim at (an empty slot, no such payment or refund part).
    Skipped,
}

#[derive(Debug, Clone, Default)]
struct Figures {
    cases: u64,
    steps: u64,
    /// Per step name: changed, quiet, refused, discarded, skipped.
    by_step: BTreeMap<&'static str, [u64; 5]>,
    /// Statuses at the end of the random part.
    before_drain: BTreeMap<&'static str, u64>,
    /// Statuses (with the end reason) after the drain.
    after_drain: BTreeMap<String, u64>,
    /// Longest drain until every order had ended, in days.
    longest_drain_days: i64,
    drain_days_total: i64,
    /// The arbiter's work during the drain.
    arbiter_actions: u64,
    /// How the arbiter cleared payment flags in the drain: the payment's
    /// status and flag, and the resolution that was accepted.
    resolutions: BTreeMap<String, u64>,
    /// Payments that ended with each status and failure reason.
    payments: BTreeMap<String, u64>,
}

impl Figures {
    fn tally(&mut self, name: &'static str, t: Tally) {
        let i = match t {
            Tally::Changed => 0,
            Tally::Quiet => 1,
            Tally::Refused => 2,
            Tally::Discarded => 3,
            Tally::Skipped => 4,
        };
        self.by_step.entry(name).or_default()[i] += 1;
    }

    fn report(&self) -> String {
        let mut out = format!(
            "liveness: {} cases, {} random steps, then a drain of {} days on average ({} at most); \
             arbiter actions in the drain: {}\n",
            self.cases,
            self.steps,
            self.drain_days_total / i64::try_from(self.cases.max(1)).unwrap_or(1),
            self.longest_drain_days,
            self.arbiter_actions,
        );
        out.push_str(&format!(
            "{:<16} {:>7} {:>6} {:>7} {:>9} {:>7}\n",
            "step", "changed", "quiet", "refused", "discarded", "skipped"
        ));
        for (name, c) in &self.by_step {
            out.push_str(&format!(
                "{:<16} {:>7} {:>6} {:>7} {:>9} {:>7}\n",
                name, c[0], c[1], c[2], c[3], c[4]
            ));
        }
        out.push_str(&format!(
            "statuses before the drain: {:?}\n",
            self.before_drain
        ));
        out.push_str(&format!(
            "statuses after the drain: {:?}\n",
            self.after_drain
        ));
        out.push_str(&format!("payments at the end: {:?}\n", self.payments));
        out.push_str(&format!(
            "payment flags cleared in the drain: {:?}",
            self.resolutions
        ));
        out
    }
}

// ---- the world --------------------------------------------------------------

#[derive(Clone)]
struct World {
    now: Timestamp,
    clocks: Clocks,
    orders: Vec<Option<Order>>,
    limits: Vec<AssuranceLimit>,
    credit: CreditLine,
    next_payment: usize,
    figures: Figures,
}

/// A property violation, with what the test knows about it.
type Violation = String;

fn receiving_account() -> ReceivingAccount {
    ReceivingAccount {
        bank_name: short("Bank of Ningbo"),
        account_name: short("Supplier One Ltd"),
        account_number: short("6222 0000 1111"),
        swift: short("BKNBCN2N"),
    }
}

fn limits_ok(
    limits: &mut [AssuranceLimit],
    credit: &mut CreditLine,
    events: &[DomainEvent],
) -> Result<bool, Violation> {
    for e in events {
        match &e.body {
            EventBody::CoverageReserved {
                supplier_id,
                amount,
            } => {
                let Some(limit) = limits.iter_mut().find(|l| &l.supplier_id == supplier_id) else {
                    return Ok(false);
                };
                if limit.reserve(*amount).is_err() {
                    return Ok(false);
                }
            }
            EventBody::ReservationReleased {
                supplier_id,
                amount,
            } => {
                let limit = limits
                    .iter_mut()
                    .find(|l| &l.supplier_id == supplier_id)
                    .ok_or_else(|| {
                        format!("{} releases {amount} of an unknown limit", e.order_id)
                    })?;
                limit.release(*amount).map_err(|err| {
                    format!(
                        "{} releases {amount} of {supplier_id}'s limit: {err}",
                        e.order_id
                    )
                })?;
            }
            EventBody::CreditReserved {
                buyer_id, amount, ..
            } => {
                let fits = buyer_id == &credit.buyer_id && credit.reserve(*amount).is_ok();
                if !fits {
                    return Ok(false);
                }
            }
            EventBody::CreditReleased {
                buyer_id,
                payment_id,
                amount,
            } => {
                if buyer_id != &credit.buyer_id {
                    return Err(format!("{payment_id} releases credit of {buyer_id}"));
                }
                credit.release(*amount).map_err(|err| {
                    format!(
                        "{} {payment_id} releases {amount} of credit: {err}",
                        e.order_id
                    )
                })?;
            }
            _ => {}
        }
    }
    Ok(true)
}

impl World {
    fn new(spec: &WorldSpec) -> World {
        let now = base_time();
        let limits = SUPPLIERS
            .iter()
            .zip(spec.limits)
            .enumerate()
            .map(|(i, (s, dollars))| {
                AssuranceLimit::from_parts(
                    uid(s),
                    usd(dollars * 100),
                    Usd::ZERO,
                    (i == 0).then(receiving_account),
                )
            })
            .collect();
        let mut credit = CreditLine::apply(
            uid(BUYER),
            ApplicationId::parse("app_1").expect("valid application id"),
            now,
        );
        if let Some(dollars) = spec.credit {
            credit
                .approve(usd(dollars * 100), now)
                .expect("a positive limit within the maximum");
        }
        let mut world = World {
            now,
            clocks: spec.clocks(),
            orders: vec![None; ORDERS],
            limits,
            credit,
            next_payment: 0,
            figures: Figures::default(),
        };
        for (o, spec) in spec.orders.iter().enumerate() {
            world.create(o, spec);
        }
        world
    }

    fn order(&self, o: usize) -> Option<&Order> {
        self.orders.get(o).and_then(Option::as_ref)
    }

    fn party(&self, o: usize, side: Side) -> Caller {
        match (side, self.order(o)) {
            (Side::Buyer, _) => buyer(),
            (Side::Supplier, Some(order)) => {
                Caller::new(order.supplier_id().clone(), [Role::Supplier])
            }
            (Side::Supplier, None) => Caller::new(uid(SUPPLIERS[0]), [Role::Supplier]),
        }
    }

    fn create(&mut self, o: usize, spec: &OrderSpec) {
        if self.order(o).is_some() {
            self.figures.tally("create", Tally::Skipped);
            return;
        }
        let supplier = uid(SUPPLIERS[spec.supplier]);
        let (caller, counterparty) = if spec.by_supplier {
            (
                Caller::new(supplier, [Role::Supplier]),
                Counterparty::Buyer(uid(BUYER)),
            )
        } else {
            (buyer(), Counterparty::Supplier(supplier))
        };
        let new = NewOrder {
            id: OrderId::parse(format!("ord_{o}")).expect("valid order id"),
            counterparty,
            terms: spec.terms.build(self.now),
            clocks: self.clocks,
        };
        match Order::create(&caller, new, self.now) {
            Ok((order, _)) => {
                self.orders[o] = Some(order);
                self.figures.tally("create", Tally::Changed);
            }
            Err(_) => self.figures.tally("create", Tally::Refused),
        }
    }

    /// Run a command on order `o` as a store does: on a copy, its effects
    /// applied to copies of the limits and the credit line, all committed
    /// together or not at all.
    fn run<F>(&mut self, o: usize, name: &'static str, f: F) -> Result<Tally, Violation>
    where
        F: FnOnce(
            &mut Order,
            &AssuranceLimit,
            &CreditLine,
            Timestamp,
        ) -> Result<Vec<DomainEvent>, OrderError>,
    {
        let Some(order) = self.order(o) else {
            self.figures.tally(name, Tally::Skipped);
            return Ok(Tally::Skipped);
        };
        let limit = self
            .limits
            .iter()
            .find(|l| &l.supplier_id == order.supplier_id())
            .ok_or("an order of a supplier without a limit")?;
        let mut draft = order.clone();
        let tally = match f(&mut draft, limit, &self.credit, self.now) {
            Err(_) => {
                if &draft != order {
                    return Err(format!(
                        "{name} on order {o} was refused but changed the order"
                    ));
                }
                Tally::Refused
            }
            Ok(events) if events.is_empty() => {
                if &draft != order {
                    return Err(format!(
                        "{name} on order {o} emitted nothing but changed the order"
                    ));
                }
                Tally::Quiet
            }
            Ok(events) => {
                let mut limits = self.limits.clone();
                let mut credit = self.credit.clone();
                if limits_ok(&mut limits, &mut credit, &events)? {
                    self.orders[o] = Some(draft);
                    self.limits = limits;
                    self.credit = credit;
                    Tally::Changed
                } else {
                    Tally::Discarded
                }
            }
        };
        self.figures.tally(name, tally);
        Ok(tally)
    }

    /// The scheduled sweep over order `o`, as the stores run it: only when
    /// the due index lists it (`next_sweep_due() <= now`), which must cover
    /// everything the sweep would do; after the run nothing is due any more
    /// (a second run at the same instant is allowed to finish the work).
    fn sweep(&mut self, o: usize) -> Result<(), Violation> {
        let now = self.now;
        for run in 0..3 {
            let Some(order) = self.order(o) else {
                return Ok(());
            };
            let due = order.next_sweep_due();
            let listed = due.is_some_and(|d| d <= now);
            let mut draft = order.clone();
            let events = draft
                .sweep(now)
                .map_err(|e| format!("the sweep failed on order {o} at {now}: {e}"))?;
            if !listed {
                if !events.is_empty() {
                    return Err(format!(
                        "the sweep acts on order {o} at {now} although the due index lists it at {due:?}: {:?}",
                        events.iter().map(|e| &e.body).collect::<Vec<_>>()
                    ));
                }
                if run == 0 {
                    self.figures.tally("sweep", Tally::Skipped);
                }
                return Ok(());
            }
            if run == 2 {
                return Err(format!(
                    "order {o} stays due at {due:?} after two sweeps at {now} (status {}, deadlines {:?})",
                    order.status(),
                    order.deadlines()
                ));
            }
            if events.is_empty() {
                self.figures.tally("sweep", Tally::Quiet);
                continue;
            }
            let mut limits = self.limits.clone();
            let mut credit = self.credit.clone();
            if !limits_ok(&mut limits, &mut credit, &events)? {
                return Err(format!(
                    "the sweep's effects on order {o} do not fit: {events:?}"
                ));
            }
            self.orders[o] = Some(draft);
            self.limits = limits;
            self.credit = credit;
            self.figures.tally("sweep", Tally::Changed);
        }
        Ok(())
    }

    fn sweep_all(&mut self) -> Result<(), Violation> {
        for o in 0..ORDERS {
            self.sweep(o)?;
        }
        Ok(())
    }

    fn advance(&mut self, secs: i64) {
        self.now += TimeDelta::seconds(secs);
    }

    fn new_payment_id(&mut self) -> PaymentId {
        self.next_payment += 1;
        PaymentId::parse(format!("pay_{}", self.next_payment)).expect("valid payment id")
    }

    /// Refund cap of a dispute: what is left of the covered amount and
    /// what was paid, the smaller.
    fn refund_base(order: &Order) -> Usd {
        order.covered_left().min(order.amount_paid())
    }

    /// The slot a step's `o` aims at: the `o`-th existing order (wrapping),
    /// so that steps rarely miss while some slots are still empty.
    fn slot(&self, o: usize) -> usize {
        let existing: Vec<usize> = self.live_orders().map(|(i, _)| i).collect();
        if existing.is_empty() {
            o
        } else {
            existing[o % existing.len()]
        }
    }

    fn exec(&mut self, step: &Step) -> Result<(), Violation> {
        let mut step = step.clone();
        if let Some(o) = step.target() {
            *o = self.slot(*o);
        }
        self.exec_at(&step)
    }

    fn exec_at(&mut self, step: &Step) -> Result<(), Violation> {
        self.figures.steps += 1;
        match step {
            Step::Create { o, spec } => self.create(*o, spec),
            Step::Amend { o, by, terms } => {
                let caller = self.party(*o, *by);
                let terms = terms.build(self.now);
                self.run(*o, "amend", |ord, _, _, now| ord.amend(&caller, terms, now))?;
            }
            Step::Confirm { o, stale } => {
                let Some(order) = self.order(*o) else {
                    self.figures.tally("confirm", Tally::Skipped);
                    return Ok(());
                };
                let side = if order.confirmations().buyer.is_none() {
                    Side::Buyer
                } else {
                    Side::Supplier
                };
                let caller = self.party(*o, side);
                let version = order.version() - u64::from(*stale);
                self.run(*o, "confirm", |ord, limit, _, now| {
                    ord.confirm(&caller, version, limit, now)
                })?;
            }
            Step::Remind { o, by } => {
                let caller = self.party(*o, *by);
                self.run(*o, "remind", |ord, _, _, now| ord.remind(&caller, now))?;
            }
            Step::Cancel { o, by } => {
                let caller = self.party(*o, *by);
                self.run(*o, "cancel", |ord, _, _, now| ord.cancel(&caller, now))?;
            }
            Step::Pay { o, stage, method } => {
                let id = self.new_payment_id();
                let method = match *method {
                    MethodPick::ECheck { us } => PaymentMethod::ECheck {
                        bank_country: if us { CountryCode::US } else { CountryCode::CN },
                        account_type: AccountType::Checking,
                    },
                    MethodPick::Card { visa } => PaymentMethod::CreditCard {
                        card_brand: if visa {
                            CardBrand::Visa
                        } else {
                            CardBrand::parse("amex")
                        },
                    },
                    MethodPick::Tt => PaymentMethod::TelegraphicTransfer,
                    MethodPick::PayLater { term } => PaymentMethod::PayLater { term_months: term },
                };
                let name = match stage {
                    Stage::Initial => "pay_initial",
                    Stage::Balance => "pay_balance",
                };
                let request = PaymentRequest {
                    id,
                    stage: *stage,
                    method,
                };
                self.run(*o, name, |ord, limit, credit, now| {
                    let ctx = PaymentContext {
                        credit_line: Some(credit),
                        receiving_account: limit.receiving_account.as_ref(),
                    };
                    ord.initiate_payment(&buyer(), request, ctx, now)
                })?;
            }
            Step::PaymentReport {
                o,
                from_end,
                signal,
                provider,
                amount,
                twice,
            } => {
                let Some(p) = self
                    .order(*o)
                    .and_then(|ord| ord.payments().iter().rev().nth(*from_end))
                else {
                    self.figures.tally("payment_report", Tally::Skipped);
                    return Ok(());
                };
                let right = p.provider();
                let provider = pick_provider(right, *provider);
                let confirmed = match (*signal, *amount) {
                    (PaymentSignal::Succeeded, AmountPick::Right) => Some((p.amount, "USD".into())),
                    (PaymentSignal::Succeeded, AmountPick::Off(c)) => {
                        Some((usd(p.amount.cents() + c), "USD".into()))
                    }
                    (PaymentSignal::Succeeded, AmountPick::Eur) => Some((p.amount, "EUR".into())),
                    _ => None,
                };
                let report = PaymentReport {
                    payment_id: p.id.clone(),
                    signal: *signal,
                    confirmed,
                    provider_reference: Some("prov-ref-1".into()),
                };
                for _ in 0..=usize::from(*twice) {
                    let report = report.clone();
                    self.run(*o, "payment_report", |ord, _, _, now| {
                        ord.apply_payment_report(provider, report, now)
                    })?;
                }
            }
            Step::Ship { o, back_hours } => {
                let caller = self.party(*o, Side::Supplier);
                let details = ShipmentDetails {
                    carrier: short("Maersk"),
                    tracking_number: short("MSK123"),
                    shipped_at: Some(self.now - TimeDelta::hours(i64::from(*back_hours))),
                };
                self.run(*o, "ship", |ord, _, _, now| ord.ship(&caller, details, now))?;
            }
            Step::Deliver {
                o,
                by,
                customs_back_hours,
                delivered_back_hours,
            } => {
                let caller = self.party(*o, *by);
                let at = |h: &Option<u32>| h.map(|h| self.now - TimeDelta::hours(i64::from(h)));
                let (customs, delivered) = (at(customs_back_hours), at(delivered_back_hours));
                self.run(*o, "record_delivery", |ord, _, _, now| {
                    ord.record_delivery(&caller, customs, delivered, now)
                })?;
            }
            Step::ConfirmReceipt { o } => {
                self.run(*o, "confirm_receipt", |ord, _, _, now| {
                    ord.confirm_receipt(&buyer(), now)
                })?;
            }
            Step::ExtendReceipt { o } => {
                self.run(*o, "extend_receipt", |ord, _, _, now| {
                    ord.extend_receipt(&buyer(), now)
                })?;
            }
            Step::Feedback { o, rating } => {
                let Ok(rating) = Rating::parse(*rating) else {
                    self.figures.tally("feedback", Tally::Refused);
                    return Ok(());
                };
                self.run(*o, "feedback", |ord, _, _, now| {
                    ord.leave_feedback(&buyer(), rating, long("fine"), now)
                })?;
            }
            Step::OpenDispute {
                o,
                reason,
                permille,
                evidence: n,
            } => {
                let Some(order) = self.order(*o) else {
                    self.figures.tally("open_dispute", Tally::Skipped);
                    return Ok(());
                };
                let open = OpenDispute {
                    reason: *reason,
                    requested_refund: permille_of(Self::refund_base(order), *permille),
                    description: long("not what was agreed"),
                    evidence: evidence(*n),
                };
                self.run(*o, "open_dispute", |ord, _, _, now| {
                    ord.raise_dispute(&buyer(), open, now)
                })?;
            }
            Step::Respond { o, by, action } => {
                let Some(order) = self.order(*o) else {
                    self.figures.tally("respond", Tally::Skipped);
                    return Ok(());
                };
                let requested = order.dispute().map_or(usd(1), |d| d.requested_refund);
                let action = match *action {
                    RespondPick::Accept => ResponseAction::Accept,
                    RespondPick::Offer(p) => ResponseAction::Offer(permille_of(requested, p)),
                    RespondPick::Reject => ResponseAction::Reject,
                    RespondPick::Comment => ResponseAction::Comment,
                };
                let response = DisputeResponse {
                    action,
                    message: Some(long("see the photos")),
                    evidence: Vec::new(),
                };
                let caller = self.party(*o, *by);
                self.run(*o, "respond", |ord, _, _, now| {
                    ord.respond_dispute(&caller, response, now)
                })?;
            }
            Step::Withdraw { o } => {
                self.run(*o, "withdraw", |ord, _, _, now| {
                    ord.withdraw_dispute(&buyer(), now)
                })?;
            }
            Step::Escalate { o } => {
                self.run(*o, "escalate", |ord, _, _, now| {
                    ord.escalate_dispute(&buyer(), now)
                })?;
            }
            Step::Decide {
                o,
                at_fault_permille,
            } => {
                let Some(order) = self.order(*o) else {
                    self.figures.tally("decide", Tally::Skipped);
                    return Ok(());
                };
                let decision = match at_fault_permille {
                    Some(p) => Decision::SupplierAtFault(permille_of(Self::refund_base(order), *p)),
                    None => Decision::ClaimRejected,
                };
                self.run(*o, "decide", |ord, _, _, now| {
                    ord.decide_dispute(&arbiter(), decision, now)
                })?;
            }
            Step::ResolvePayment {
                o,
                from_end,
                refund,
            } => {
                let Some(p) = self
                    .order(*o)
                    .and_then(|ord| ord.payments().iter().rev().nth(*from_end))
                else {
                    self.figures.tally("resolve_payment", Tally::Skipped);
                    return Ok(());
                };
                let id = p.id.clone();
                let resolution = if *refund {
                    FlagResolution::Refund
                } else {
                    FlagResolution::Accept
                };
                self.run(*o, "resolve_payment", |ord, _, _, now| {
                    ord.resolve_payment(&arbiter(), &id, resolution, now)
                })?;
            }
            Step::ResolveRefund { o, part, outside } => {
                let Some(r) = self.order(*o).and_then(|ord| ord.refunds().get(*part)) else {
                    self.figures.tally("resolve_refund", Tally::Skipped);
                    return Ok(());
                };
                let id = r.id.clone();
                let resolution = if *outside {
                    RefundResolution::SettledOutside
                } else {
                    RefundResolution::Retry
                };
                self.run(*o, "resolve_refund", |ord, _, _, now| {
                    ord.resolve_refund(&arbiter(), &id, resolution, now)
                })?;
            }
            Step::RefundReport {
                o,
                part,
                succeeded,
                provider,
                amount,
                twice,
            } => {
                let Some(r) = self.order(*o).and_then(|ord| ord.refunds().get(*part)) else {
                    self.figures.tally("refund_report", Tally::Skipped);
                    return Ok(());
                };
                let provider = pick_provider(r.provider, *provider);
                let report = RefundReport {
                    refund_id: r.id.clone(),
                    succeeded: *succeeded,
                    amount: match amount {
                        AmountPick::Right | AmountPick::Eur => Some(r.amount),
                        AmountPick::Off(c) => Some(usd(r.amount.cents() + c)),
                        AmountPick::Missing => None,
                    },
                };
                for _ in 0..=usize::from(*twice) {
                    let report = report.clone();
                    self.run(*o, "refund_report", |ord, _, _, now| {
                        ord.apply_refund_report(provider, report, now)
                    })?;
                }
            }
            Step::Advance { secs } => self.advance(*secs),
            Step::Sweep { o: Some(o) } => self.sweep(*o)?,
            Step::Sweep { o: None } => self.sweep_all()?,
            Step::Progress { o, variant } => {
                if let Some(next) = self.progress(*o, *variant) {
                    self.figures.steps -= 1;
                    return self.exec_at(&next);
                }
                self.figures.tally("progress", Tally::Skipped);
            }
        }
        Ok(())
    }

    /// The natural next step for order `o` in its status.
    fn progress(&self, o: usize, v: u8) -> Option<Step> {
        use OrderStatus as S;
        let order = self.order(o)?;
        if let Some(d) = order.open_dispute()
            && !v.is_multiple_of(5)
        {
            return Some(match d.status {
                DisputeStatus::Escalated => Step::Decide {
                    o,
                    at_fault_permille: v.is_multiple_of(2).then_some(u64::from(v) * 4 + 1),
                },
                _ if d.pending_offer.is_some() => Step::Respond {
                    o,
                    by: Side::Buyer,
                    action: if v.is_multiple_of(3) {
                        RespondPick::Reject
                    } else {
                        RespondPick::Accept
                    },
                },
                _ if d.supplier_rejected || d.supplier_responded_at.is_some() => {
                    if v.is_multiple_of(3) {
                        Step::Withdraw { o }
                    } else {
                        Step::Escalate { o }
                    }
                }
                _ => Step::Respond {
                    o,
                    by: Side::Supplier,
                    action: match v % 4 {
                        0 => RespondPick::Accept,
                        1 => RespondPick::Offer(500),
                        2 => RespondPick::Reject,
                        _ => RespondPick::Comment,
                    },
                },
            });
        }
        let in_flight = order
            .payments()
            .iter()
            .rev()
            .position(|p| p.status.in_flight());
        Some(match order.status() {
            S::AwaitingConfirmation => match v % 6 {
                0 => Step::Remind {
                    o,
                    by: if order.created_by() == Party::Buyer {
                        Side::Buyer
                    } else {
                        Side::Supplier
                    },
                },
                _ => Step::Confirm { o, stale: false },
            },
            S::AwaitingInitialPayment | S::Shipped
                if v.is_multiple_of(7) && order.status() == S::Shipped =>
            {
                Step::Deliver {
                    o,
                    by: Side::Buyer,
                    customs_back_hours: v.is_multiple_of(2).then_some(1),
                    delivered_back_hours: Some(1),
                }
            }
            S::AwaitingInitialPayment | S::Shipped => Step::Pay {
                o,
                stage: if order.status() == S::Shipped {
                    Stage::Balance
                } else {
                    Stage::Initial
                },
                method: match v % 5 {
                    0 => MethodPick::ECheck { us: true },
                    1 => MethodPick::Card { visa: true },
                    2 => MethodPick::Tt,
                    _ => MethodPick::PayLater { term: 3 },
                },
            },
            S::InitialPaymentProcessing | S::BalancePaymentProcessing => {
                let from_end = in_flight?;
                let awaiting = order.payments().iter().rev().nth(from_end)?.status
                    == PaymentStatus::AwaitingAgreement;
                Step::PaymentReport {
                    o,
                    from_end,
                    signal: match v % 6 {
                        _ if awaiting && !v.is_multiple_of(3) => PaymentSignal::AgreementCompleted,
                        0 => PaymentSignal::Failed,
                        1 => PaymentSignal::Processing,
                        _ => PaymentSignal::Succeeded,
                    },
                    provider: ProviderPick::Right,
                    amount: AmountPick::Right,
                    twice: v.is_multiple_of(4),
                }
            }
            S::AwaitingShipment => {
                if v.is_multiple_of(4) && self.now > order.terms().ship_by_deadline() {
                    Step::OpenDispute {
                        o,
                        reason: DisputeReason::LateShipment,
                        permille: u64::from(v) * 4 + 1,
                        evidence: 0,
                    }
                } else {
                    Step::Ship {
                        o,
                        back_hours: u32::from(v % 3),
                    }
                }
            }
            S::AwaitingReceiptConfirmation => match v % 5 {
                0 => Step::ExtendReceipt { o },
                1 => Step::OpenDispute {
                    o,
                    reason: DisputeReason::Quality,
                    permille: u64::from(v) * 4 + 1,
                    evidence: 1,
                },
                2 => Step::Deliver {
                    o,
                    by: Side::Buyer,
                    customs_back_hours: Some(2),
                    delivered_back_hours: Some(1),
                },
                _ => Step::ConfirmReceipt { o },
            },
            S::Completed => match v % 3 {
                0 => Step::OpenDispute {
                    o,
                    reason: DisputeReason::Quality,
                    permille: u64::from(v) * 4 + 1,
                    evidence: 0,
                },
                _ => Step::Feedback {
                    o,
                    rating: i64::from(v % 5) + 1,
                },
            },
            S::RefundPending => {
                let part = order
                    .refunds()
                    .iter()
                    .position(|r| r.status != RefundStatus::Succeeded)?;
                if order.refunds()[part].flagged {
                    Step::ResolveRefund {
                        o,
                        part,
                        outside: v.is_multiple_of(2),
                    }
                } else {
                    Step::RefundReport {
                        o,
                        part,
                        succeeded: !v.is_multiple_of(4),
                        provider: ProviderPick::Right,
                        amount: AmountPick::Right,
                        twice: false,
                    }
                }
            }
            S::Refunded | S::Cancelled | S::Closed => Step::Sweep { o: Some(o) },
        })
    }

    // ---- what must hold -------------------------------------------------------

    fn live_orders(&self) -> impl Iterator<Item = (usize, &Order)> {
        self.orders
            .iter()
            .enumerate()
            .filter_map(|(o, ord)| ord.as_ref().map(|ord| (o, ord)))
    }

    /// The money invariants and the shape of liveness, after every step.
    fn check(&self) -> Result<(), Violation> {
        for limit in &self.limits {
            let held = sum(self
                .live_orders()
                .filter(|(_, ord)| ord.supplier_id() == &limit.supplier_id)
                .map(|(_, ord)| ord.coverage().reserved));
            if limit.reserved() != held {
                return Err(format!(
                    "{}'s limit has {} reserved, its orders hold {held}",
                    limit.supplier_id,
                    limit.reserved()
                ));
            }
            if limit.reserved() > limit.limit() {
                return Err(format!(
                    "{}'s limit reserves {} of {}",
                    limit.supplier_id,
                    limit.reserved(),
                    limit.limit()
                ));
            }
        }
        let held = sum(self
            .live_orders()
            .flat_map(|(_, ord)| ord.payments().iter().map(|p| p.credit_held)));
        if self.credit.reserved() != held {
            return Err(format!(
                "the credit line has {} reserved, the payments hold {held}",
                self.credit.reserved()
            ));
        }
        for (o, ord) in self.live_orders() {
            if let Some(p) = ord.payments().iter().find(|p| {
                matches!(p.status, PaymentStatus::Failed | PaymentStatus::Refunded)
                    && !p.credit_held.is_zero()
            }) {
                return Err(format!(
                    "order {o}: payment {} is {:?} and still holds {} of credit",
                    p.id, p.status, p.credit_held
                ));
            }
            let covered = ord.coverage().covered_amount.unwrap_or(Usd::ZERO);
            if ord.coverage().reserved > covered {
                return Err(format!(
                    "order {o} reserves {} of {covered} covered",
                    ord.coverage().reserved
                ));
            }
            check_waits_on_something(o, ord)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.live_orders()
            .map(|(o, ord)| {
                format!(
                    "order {o}: {} (end {:?}), reserved {}, dispute {:?}, deadlines {:?}, next sweep {:?}, \
                     awaits arbiter {}, payments {:?}, refunds {:?}",
                    ord.status(),
                    ord.end_reason(),
                    ord.coverage().reserved,
                    ord.open_dispute().map(|d| d.status),
                    ord.deadlines()
                        .iter()
                        .map(|d| (d.kind, d.due))
                        .collect::<Vec<_>>(),
                    ord.next_sweep_due(),
                    ord.awaits_arbiter(),
                    ord.payments()
                        .iter()
                        .map(|p| (p.id.as_str().to_owned(), p.status, p.flag.as_ref().map(|f| f.reason)))
                        .collect::<Vec<_>>(),
                    ord.refunds()
                        .iter()
                        .map(|r| (r.status, r.flag_reason, r.attempts))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    // ---- the drain -------------------------------------------------------------

    /// The arbiter works through what is listed for them on order `o`.
    fn arbiter_pass(
        &mut self,
        o: usize,
        drain: &DrainSpec,
        retries: &mut BTreeMap<String, u32>,
    ) -> Result<(), Violation> {
        let Some(order) = self.order(o) else {
            return Ok(());
        };
        if order
            .open_dispute()
            .is_some_and(|d| d.status == DisputeStatus::Escalated)
        {
            let base = Self::refund_base(order);
            let decision = if drain.at_fault && !base.is_zero() {
                Decision::SupplierAtFault(permille_of(base, drain.permille))
            } else {
                Decision::ClaimRejected
            };
            self.figures.arbiter_actions += 1;
            let t = self.run(o, "drain_decide", |ord, _, _, now| {
                ord.decide_dispute(&arbiter(), decision, now)
            })?;
            if t != Tally::Changed {
                self.run(o, "drain_decide", |ord, _, _, now| {
                    ord.decide_dispute(&arbiter(), Decision::ClaimRejected, now)
                })?;
            }
        }
        let flagged: Vec<PaymentId> = self
            .order(o)
            .map(|ord| {
                ord.payments()
                    .iter()
                    .filter(|p| p.flag.is_some())
                    .map(|p| p.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in flagged {
            self.figures.arbiter_actions += 1;
            let what = self
                .order(o)
                .and_then(|ord| ord.payment(&id))
                .map(|p| {
                    format!(
                        "{:?}{} {:?}",
                        p.status,
                        if p.failure.is_some() { " (failed)" } else { "" },
                        p.flag.as_ref().map(|f| f.reason)
                    )
                })
                .unwrap_or_default();
            let mut cleared = false;
            let mut order = [FlagResolution::Accept, FlagResolution::Refund];
            if drain.prefer_refund {
                order.reverse();
            }
            for resolution in order {
                let t = self.run(o, "drain_resolve_payment", |ord, _, _, now| {
                    ord.resolve_payment(&arbiter(), &id, resolution, now)
                })?;
                if t == Tally::Changed {
                    *self
                        .figures
                        .resolutions
                        .entry(format!("{what} -> {resolution:?}"))
                        .or_default() += 1;
                    cleared = true;
                    break;
                }
            }
            if !cleared {
                return Err(format!(
                    "order {o}: the arbiter can clear the flag of payment {id} ({what}) neither by \
                     accepting nor by refunding it"
                ));
            }
        }
        let parts: Vec<_> = self
            .order(o)
            .map(|ord| {
                ord.refunds()
                    .iter()
                    .filter(|r| r.flagged && r.status != RefundStatus::Succeeded)
                    .map(|r| r.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in parts {
            self.figures.arbiter_actions += 1;
            let tried = retries.entry(id.as_str().to_owned()).or_default();
            let resolution = if *tried < DRAIN_RETRIES {
                *tried += 1;
                RefundResolution::Retry
            } else {
                RefundResolution::SettledOutside
            };
            let t = self.run(o, "drain_resolve_refund", |ord, _, _, now| {
                ord.resolve_refund(&arbiter(), &id, resolution, now)
            })?;
            if t != Tally::Changed {
                return Err(format!(
                    "order {o}: the arbiter cannot resolve flagged refund part {id} ({resolution:?})"
                ));
            }
        }
        Ok(())
    }

    /// Every order ended, with no money in motion and nothing left for an
    /// arbiter.
    fn at_rest(&self) -> bool {
        self.live_orders().all(|(_, ord)| {
            ord.is_finished()
                && !ord.payment_in_flight()
                && ord
                    .refunds()
                    .iter()
                    .all(|r| r.status == RefundStatus::Succeeded)
                && !ord.awaits_arbiter()
        })
    }

    /// Only the scheduler and an arbiter act until every order has ended;
    /// returns the days it took.
    fn drain(&mut self, drain: &DrainSpec) -> Result<i64, Violation> {
        let start = self.now;
        let horizon = start + days(DRAIN_DAYS);
        let mut retries = BTreeMap::new();
        let mut round = 0usize;
        // Whatever is already due is swept first.
        self.sweep_all()?;
        loop {
            for o in 0..ORDERS {
                self.arbiter_pass(o, drain, &mut retries)?;
            }
            self.check()?;
            if self.at_rest() {
                break;
            }
            if self.now >= horizon {
                return Err(format!(
                    "after {DRAIN_DAYS} days of sweeps and arbitration some order has not ended:\n{}",
                    self.describe()
                ));
            }
            let step = drain.step_days[round % drain.step_days.len()];
            round += 1;
            self.advance(i64::from(step) * 86_400);
            self.sweep_all()?;
            self.check()?;
        }
        Ok((self.now - start).num_days())
    }

    /// What must hold once every order has ended.
    fn check_ended(&self) -> Result<(), Violation> {
        self.check()?;
        for limit in &self.limits {
            if !limit.reserved().is_zero() {
                return Err(format!(
                    "every order ended but {}'s limit still has {} reserved",
                    limit.supplier_id,
                    limit.reserved()
                ));
            }
        }
        for (o, ord) in self.live_orders() {
            if !ord.is_finished() {
                return Err(format!("order {o} has not ended: {}", ord.status()));
            }
            if !ord.coverage().reserved.is_zero() {
                return Err(format!(
                    "order {o} ended ({}) holding {} of its supplier's limit",
                    ord.status(),
                    ord.coverage().reserved
                ));
            }
            if let Some(p) = ord.payments().iter().find(|p| p.status.in_flight()) {
                return Err(format!(
                    "order {o} ended with payment {} still in flight",
                    p.id
                ));
            }
            if let Some(p) = ord.payments().iter().find(|p| p.flag.is_some()) {
                return Err(format!(
                    "order {o} ended ({}) with payment {} ({:?}) still flagged {:?} for an arbiter",
                    ord.status(),
                    p.id,
                    p.status,
                    p.flag.as_ref().map(|f| f.reason)
                ));
            }
            if ord.next_sweep_due().is_some() {
                // Every part has settled and nothing is in flight: nothing
                // is left for the sweep, and the due index forgets it.
                return Err(format!(
                    "order {o} ended ({}) yet is due for the sweep at {:?}",
                    ord.status(),
                    ord.next_sweep_due()
                ));
            }
        }
        Ok(())
    }
}

fn pick_provider(right: Provider, pick: ProviderPick) -> Provider {
    match pick {
        ProviderPick::Right => right,
        ProviderPick::Other(k) => {
            let i = Provider::ALL
                .iter()
                .position(|p| *p == right)
                .unwrap_or_default();
            Provider::ALL[(i + usize::from(k)) % Provider::ALL.len()]
        }
    }
}

/// Every order is finished, or shows a dated deadline the sweep acts on, or
/// waits for an arbiter; and the due index lists every order that is
/// neither finished nor waiting for an arbiter.
fn check_waits_on_something(o: usize, ord: &Order) -> Result<(), Violation> {
    if ord.is_finished() {
        return Ok(());
    }
    // What only an arbiter can move: an escalated dispute, or a refund
    // part flagged for them. (A flagged payment stops no clock: its order
    // must still show one, so it is not counted here — stronger than
    // `awaits_arbiter()`, which it implies.)
    let blocked = ord
        .open_dispute()
        .is_some_and(|d| d.status == DisputeStatus::Escalated)
        || ord
            .refunds()
            .iter()
            .any(|r| r.flagged && r.status != RefundStatus::Succeeded);
    if blocked && !ord.awaits_arbiter() {
        return Err(format!(
            "order {o} ({}) waits for an arbiter but is not listed for them",
            ord.status()
        ));
    }
    let deadlines = ord.deadlines();
    let dated = deadlines.iter().any(|d| d.kind.is_swept());
    if !dated && !blocked {
        return Err(format!(
            "order {o} ({}) waits for nothing dated: deadlines {:?}, reserved {}",
            ord.status(),
            deadlines.iter().map(|d| d.kind).collect::<Vec<_>>(),
            ord.coverage().reserved
        ));
    }
    if !blocked && ord.next_sweep_due().is_none() {
        return Err(format!(
            "order {o} ({}) is not finished and waits for no arbiter, but the due index does not list it \
             (deadlines {:?})",
            ord.status(),
            deadlines
                .iter()
                .map(|d| (d.kind, d.due))
                .collect::<Vec<_>>()
        ));
    }
    Ok(())
}

fn status_name(ord: &Order) -> &'static str {
    ord.status().as_str()
}

fn end_name(ord: &Order) -> String {
    match ord.end_reason() {
        Some(r) => format!("{} ({})", status_name(ord), end_reason(r)),
        None => status_name(ord).to_owned(),
    }
}

fn end_reason(r: EndReason) -> &'static str {
    match r {
        EndReason::ByParty => "by_party",
        EndReason::NotConfirmed => "not_confirmed",
        EndReason::Unpaid => "unpaid",
        EndReason::BalanceUnpaid => "balance_unpaid",
        EndReason::NotShipped => "not_shipped",
        EndReason::Dispute => "dispute",
    }
}

/// One case: the random part with checks after every step, the check of
/// the moment, the drain, and the checks of the end.
fn run_case(case: &Case) -> Result<Figures, Violation> {
    let mut world = World::new(&case.world);
    world.check()?;
    for (i, step) in case.steps.iter().enumerate() {
        world
            .exec(step)
            .and_then(|()| world.check())
            .map_err(|why| format!("after step {i} ({step:?}): {why}"))?;
    }
    let before: Vec<&'static str> = world.live_orders().map(|(_, o)| status_name(o)).collect();
    for name in before {
        *world.figures.before_drain.entry(name).or_default() += 1;
    }
    let took = world.drain(&case.drain)?;
    world.check_ended()?;
    let mut figures = std::mem::take(&mut world.figures);
    figures.drain_days_total += took;
    figures.longest_drain_days = took;
    for (_, ord) in world.live_orders() {
        *figures.after_drain.entry(end_name(ord)).or_default() += 1;
        for p in ord.payments() {
            let name = match p.failure {
                Some(FailureReason::Expired) => format!("{:?} (expired)", p.status),
                Some(FailureReason::Declined) => format!("{:?} (declined)", p.status),
                None => format!("{:?}", p.status),
            };
            *figures.payments.entry(name).or_default() += 1;
        }
    }
    Ok(figures)
}

/// The run's configuration: fixed, whatever `PROPTEST_*` variables say.
fn config() -> Config {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    Config {
        cases: env("LIVENESS_CASES")
            .map_or(CASES, |n| u32::try_from(n).unwrap_or(u32::MAX).max(CASES)),
        max_shrink_iters: 8192,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(env("LIVENESS_SEED").unwrap_or(SEED)),
        ..Config::default()
    }
}

#[test]
fn every_order_ends_whatever_the_parties_and_providers_do() {
    let total = RefCell::new(Figures::default());
    let mut runner = TestRunner::new(config());
    let result = runner.run(&case(), |case| {
        let figures = run_case(&case).map_err(TestCaseError::fail)?;
        let mut t = total.borrow_mut();
        t.cases += 1;
        t.steps += figures.steps;
        for (name, c) in figures.by_step {
            let e = t.by_step.entry(name).or_default();
            for (a, b) in e.iter_mut().zip(c) {
                *a += b;
            }
        }
        for (k, v) in figures.before_drain {
            *t.before_drain.entry(k).or_default() += v;
        }
        for (k, v) in figures.after_drain {
            *t.after_drain.entry(k).or_default() += v;
        }
        for (k, v) in figures.payments {
            *t.payments.entry(k).or_default() += v;
        }
        for (k, v) in figures.resolutions {
            *t.resolutions.entry(k).or_default() += v;
        }
        t.drain_days_total += figures.drain_days_total;
        t.longest_drain_days = t.longest_drain_days.max(figures.longest_drain_days);
        t.arbiter_actions += figures.arbiter_actions;
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => {
            let steps: Vec<String> = case
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| format!("  {i:>3}: {s:?}"))
                .collect();
            panic!(
                "liveness fails: {why}\nworld: {:?}\ndrain: {:?}\nminimal steps:\n{}",
                case.world,
                case.drain,
                steps.join("\n")
            );
        }
        Err(e) => panic!("liveness: {e}"),
    }
    let t = total.into_inner();
    figures::record("liveness", &t.report());
    // The generators must keep reaching every way an order ends.
    for reached in [
        "completed",
        "refunded (dispute)",
        "refunded (not_shipped)",
        "cancelled (by_party)",
        "cancelled (not_confirmed)",
        "cancelled (unpaid)",
        "closed (balance_unpaid)",
    ] {
        assert!(
            t.after_drain.contains_key(reached),
            "no case ended {reached}: {:?}",
            t.after_drain
        );
    }
}

// ---- fixed scenarios ------------------------------------------------------------

/// A world of one order of `total` dollars (`initial` of them first),
/// drafted by the buyer with supplier s-1 (limit $100,000), ship-by in
/// 10 days.
fn one_order(total: u64, initial: u64, coverage: CoverageType) -> World {
    let spec = WorldSpec {
        limits: [100_000, 1_000],
        credit: Some(10_000),
        orders: vec![OrderSpec {
            terms: TermsSpec {
                items: vec![(1, total * 100)],
                shipping_cents: 0,
                initial_permille: initial * 1000 / total,
                ship_by_days: 10,
                coverage,
                inspection: None,
            },
            by_supplier: false,
            supplier: 0,
        }],
        clocks: None,
    };
    World::new(&spec)
}

fn ok(world: &mut World, step: Step) {
    let tally_before = world.figures.by_step.clone();
    world
        .exec(&step)
        .unwrap_or_else(|e| panic!("{step:?}: {e}"));
    world
        .check()
        .unwrap_or_else(|e| panic!("after {step:?}: {e}"));
    assert_ne!(tally_before, world.figures.by_step, "{step:?} did nothing");
}

/// Advance a day at a time, sweeping, for `n` days; the day (from now) at
/// which `done` first held.
fn days_of_sweeps(world: &mut World, n: i64, done: impl Fn(&Order) -> bool) -> Option<i64> {
    let mut first = None;
    for day in 1..=n {
        world.advance(86_400);
        world
            .sweep_all()
            .unwrap_or_else(|e| panic!("day {day}: {e}"));
        world.check().unwrap_or_else(|e| panic!("day {day}: {e}"));
        if first.is_none() && world.order(0).is_some_and(&done) {
            first = Some(day);
        }
    }
    first
}

fn succeed_newest(world: &mut World) {
    ok(
        world,
        Step::PaymentReport {
            o: 0,
            from_end: 0,
            signal: PaymentSignal::Succeeded,
            provider: ProviderPick::Right,
            amount: AmountPick::Right,
            twice: false,
        },
    );
}

fn order0(world: &World) -> &Order {
    world.order(0).expect("order 0 exists")
}

#[test]
fn a_card_payment_the_provider_never_confirms_expires_and_the_unpaid_order_is_cancelled() {
    let mut w = one_order(1_500, 1_500, CoverageType::PreShipment);
    ok(&mut w, Step::Confirm { o: 0, stale: false });
    assert_eq!(w.limits[0].reserved(), usd(150_000));
    ok(
        &mut w,
        Step::Pay {
            o: 0,
            stage: Stage::Initial,
            method: MethodPick::Card { visa: true },
        },
    );
    assert_eq!(order0(&w).status(), OrderStatus::InitialPaymentProcessing);
    // Nothing ever comes from the card provider.
    let mut again = w.clone();
    let expired = days_of_sweeps(&mut w, 200, |o| {
        o.payments()[0].failure == Some(FailureReason::Expired)
    });
    let cancelled = days_of_sweeps(&mut again, 200, |o| o.status() == OrderStatus::Cancelled);
    let (expired, cancelled) = (
        expired.expect("the payment expires"),
        cancelled.expect("the order is cancelled"),
    );
    // Card: 2–3 working days, then 10 working days: paid on Monday 4
    // January, latest arrival Thursday 7, expiry at the end of Thursday 21,
    // so the daily 09:00 sweep expires it on day 18. The unpaid clock then
    // has the 30 days it had left when the payment started: due exactly at
    // the sweep of day 48, so it fires (strictly after) on day 49.
    assert_eq!(expired, 18, "expired on day {expired}");
    assert_eq!(cancelled, expired + 31, "cancelled on day {cancelled}");
    let o = order0(&w);
    assert_eq!(o.status(), OrderStatus::Cancelled);
    assert_eq!(o.end_reason(), Some(EndReason::Unpaid));
    assert!(o.is_finished());
    assert_eq!(o.payments()[0].status, PaymentStatus::Failed);
    assert_eq!(o.coverage().reserved, Usd::ZERO);
    assert_eq!(w.limits[0].reserved(), Usd::ZERO);
    assert_eq!(o.next_sweep_due(), None);
    w.check_ended().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_order_shipped_with_the_balance_never_paid_is_closed_and_its_reservation_released() {
    let mut w = one_order(2_000, 500, CoverageType::PostDelivery);
    ok(&mut w, Step::Confirm { o: 0, stale: false });
    assert_eq!(w.limits[0].reserved(), usd(200_000));
    ok(
        &mut w,
        Step::Pay {
            o: 0,
            stage: Stage::Initial,
            method: MethodPick::Card { visa: true },
        },
    );
    succeed_newest(&mut w);
    ok(
        &mut w,
        Step::Ship {
            o: 0,
            back_hours: 0,
        },
    );
    assert_eq!(order0(&w).status(), OrderStatus::Shipped);
    assert!(
        order0(&w)
            .deadlines()
            .iter()
            .any(|d| d.kind == DeadlineKind::BalanceDue && d.due == w.now + days(90)),
        "the balance is due 90 days after the shipment was recorded: {:?}",
        order0(&w).deadlines()
    );
    // The buyer never pays; the sweep runs at the same time every day, so
    // on day 90 the clock is exactly due (not yet past) and closes on 91.
    let closed = days_of_sweeps(&mut w, 200, |o| o.status() == OrderStatus::Closed);
    assert_eq!(closed, Some(91));
    let o = order0(&w);
    assert_eq!(o.end_reason(), Some(EndReason::BalanceUnpaid));
    assert!(o.is_finished());
    assert_eq!(o.coverage().reserved, Usd::ZERO);
    assert_eq!(w.limits[0].reserved(), Usd::ZERO);
    w.check_ended().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_fully_paid_order_whose_receipt_is_never_confirmed_is_completed_by_the_sweep() {
    let mut w = one_order(3_000, 1_500, CoverageType::PostDelivery);
    ok(&mut w, Step::Confirm { o: 0, stale: false });
    ok(
        &mut w,
        Step::Pay {
            o: 0,
            stage: Stage::Initial,
            method: MethodPick::PayLater { term: 3 },
        },
    );
    assert_eq!(w.credit.reserved(), usd(150_000));
    ok(
        &mut w,
        Step::PaymentReport {
            o: 0,
            from_end: 0,
            signal: PaymentSignal::AgreementCompleted,
            provider: ProviderPick::Right,
            amount: AmountPick::Right,
            twice: false,
        },
    );
    succeed_newest(&mut w);
    ok(
        &mut w,
        Step::Ship {
            o: 0,
            back_hours: 0,
        },
    );
    ok(
        &mut w,
        Step::Pay {
            o: 0,
            stage: Stage::Balance,
            method: MethodPick::Tt,
        },
    );
    succeed_newest(&mut w);
    assert_eq!(
        order0(&w).status(),
        OrderStatus::AwaitingReceiptConfirmation
    );
    // The buyer never confirms receipt: on day 31 the sweep does it for
    // them; the post-delivery reservation stays until the quality window
    // ends, 180 days after shipment, and is released the day after.
    let mut again = w.clone();
    let completed = days_of_sweeps(&mut w, 200, |o| o.status() == OrderStatus::Completed);
    let released = days_of_sweeps(&mut again, 200, |o| o.is_finished());
    assert_eq!(completed, Some(31));
    assert_eq!(released, Some(181));
    let o = order0(&w);
    assert_eq!(o.completed_at(), Some(base_time() + days(31)));
    assert!(o.is_finished());
    assert_eq!(w.limits[0].reserved(), Usd::ZERO);
    // The Pay Later loan stays drawn: its payment succeeded.
    assert_eq!(w.credit.reserved(), usd(150_000));
    w.check_ended().unwrap_or_else(|e| panic!("{e}"));
}

// ---- what the property found ------------------------------------------------------
//
// The liveness property holds. Beside it, the drain showed flags an arbiter
// could never clear, and stale flags that left an arbiter only wrong
// choices. The domain now clears both; the two tests below are their
// minimal reproductions, kept to show it.

/// A paid order that is never shipped is refunded by the sweep; once the
/// refund has settled its payment is `refunded`. A late `payment.failed`
/// from the card provider then flags it (`contradicts_final_status`). An
/// arbiter accepts it, which only acknowledges the flag (the payment stays
/// refunded, nothing is asked back again, the order stays refunded);
/// refunding it again is refused (409): its money was returned already.
#[test]
fn a_flag_on_a_refunded_payment_can_be_cleared_by_an_arbiter() {
    let mut w = one_order(1_500, 1_500, CoverageType::PreShipment);
    ok(&mut w, Step::Confirm { o: 0, stale: false });
    ok(
        &mut w,
        Step::Pay {
            o: 0,
            stage: Stage::Initial,
            method: MethodPick::Card { visa: true },
        },
    );
    succeed_newest(&mut w);
    // Ship-by in 10 days, refunded 30 days after it.
    let pending = days_of_sweeps(&mut w, 45, |o| o.status() == OrderStatus::RefundPending);
    assert_eq!(pending, Some(41));
    ok(
        &mut w,
        Step::RefundReport {
            o: 0,
            part: 0,
            succeeded: true,
            provider: ProviderPick::Right,
            amount: AmountPick::Right,
            twice: false,
        },
    );
    assert_eq!(order0(&w).status(), OrderStatus::Refunded);
    assert_eq!(order0(&w).payments()[0].status, PaymentStatus::Refunded);
    ok(
        &mut w,
        Step::PaymentReport {
            o: 0,
            from_end: 0,
            signal: PaymentSignal::Failed,
            provider: ProviderPick::Right,
            amount: AmountPick::Right,
            twice: false,
        },
    );
    assert!(order0(&w).awaits_arbiter(), "the late failure is flagged");
    let id = order0(&w).payments()[0].id.clone();
    let mut copy = order0(&w).clone();
    let refund = copy.resolve_payment(&arbiter(), &id, FlagResolution::Refund, w.now);
    assert!(
        matches!(refund, Err(OrderError::Conflict(_))),
        "refunding a refunded payment again: {refund:?}"
    );
    assert_eq!(&copy, order0(&w), "a refused resolution changed the order");
    let before = order0(&w).clone();
    ok(
        &mut w,
        Step::ResolvePayment {
            o: 0,
            from_end: 0,
            refund: false,
        },
    );
    let o = order0(&w);
    assert!(!o.awaits_arbiter(), "the flag is cleared");
    assert_eq!(o.payments()[0].flag, None);
    assert_eq!(o.payments()[0].status, PaymentStatus::Refunded);
    assert_eq!(o.status(), OrderStatus::Refunded);
    assert_eq!(o.refunds(), before.refunds(), "nothing is asked back again");
    assert_eq!(o.amount_refunded(), usd(150_000));
    w.check_ended().unwrap_or_else(|e| panic!("{e}"));
}

/// A card payment not arrived by its latest arrival day is flagged
/// `overdue`; then the provider declines it. A payment that failed is no
/// longer overdue: the decline clears the flag (as expiry and success do),
/// so nothing is left for an arbiter — who, before, could clear it only by
/// refunding money that never arrived or, while the stage waited, by
/// accepting the declined payment as paid. The buyer pays again and the
/// order goes on.
#[test]
fn a_declined_payment_is_no_longer_flagged_overdue() {
    let mut w = one_order(1_500, 1_500, CoverageType::PreShipment);
    ok(&mut w, Step::Confirm { o: 0, stale: false });
    ok(
        &mut w,
        Step::Pay {
            o: 0,
            stage: Stage::Initial,
            method: MethodPick::Card { visa: true },
        },
    );
    // Paid on Monday; latest arrival Thursday; flagged at Friday's sweep.
    let overdue = days_of_sweeps(&mut w, 4, |o| o.payments()[0].flag.is_some());
    assert_eq!(overdue, Some(4));
    assert!(order0(&w).awaits_arbiter());
    ok(
        &mut w,
        Step::PaymentReport {
            o: 0,
            from_end: 0,
            signal: PaymentSignal::Failed,
            provider: ProviderPick::Right,
            amount: AmountPick::Right,
            twice: false,
        },
    );
    let o = order0(&w);
    assert_eq!(o.status(), OrderStatus::AwaitingInitialPayment);
    assert_eq!(o.payments()[0].failure, Some(FailureReason::Declined));
    assert_eq!(
        o.payments()[0].flag,
        None,
        "a declined payment is not overdue"
    );
    assert!(!o.awaits_arbiter());
    // Nothing to resolve on it any more (409), whatever the resolution.
    let id = o.payments()[0].id.clone();
    for resolution in [FlagResolution::Accept, FlagResolution::Refund] {
        let mut copy = o.clone();
        let r = copy.resolve_payment(&arbiter(), &id, resolution, w.now);
        assert!(
            matches!(r, Err(OrderError::Conflict(_))),
            "{resolution:?} on a declined payment without a flag: {r:?}"
        );
    }
    // The buyer pays again and the order goes on.
    ok(
        &mut w,
        Step::Pay {
            o: 0,
            stage: Stage::Initial,
            method: MethodPick::Card { visa: true },
        },
    );
    succeed_newest(&mut w);
    let o = order0(&w);
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    assert!(
        !o.payments().iter().any(|p| p.flag.is_some()),
        "no payment is left flagged"
    );
    assert!(o.refunds().is_empty(), "no money was asked back");
}

/// The supplier rejects a claim and takes the rejection back with an
/// offer, which the buyer turns down; then nobody acts but the scheduler.
/// The sweep no longer escalates the dispute for the rejection, but it
/// still escalates it at its resolution deadline (15 days after it was
/// opened, strictly after), so it reaches an arbiter; decided with a
/// refund of everything paid, the order ends refunded.
#[test]
fn a_dispute_whose_rejection_an_offer_took_back_still_reaches_an_arbiter() {
    let mut w = one_order(1_500, 1_500, CoverageType::PreShipment);
    ok(&mut w, Step::Confirm { o: 0, stale: false });
    ok(
        &mut w,
        Step::Pay {
            o: 0,
            stage: Stage::Initial,
            method: MethodPick::Card { visa: true },
        },
    );
    succeed_newest(&mut w);
    ok(
        &mut w,
        Step::OpenDispute {
            o: 0,
            reason: DisputeReason::Quality,
            permille: 500,
            evidence: 0,
        },
    );
    for (by, action) in [
        (Side::Supplier, RespondPick::Reject),
        (Side::Supplier, RespondPick::Offer(500)),
        (Side::Buyer, RespondPick::Reject),
    ] {
        ok(&mut w, Step::Respond { o: 0, by, action });
    }
    let d = order0(&w).open_dispute().expect("open");
    assert_eq!((d.supplier_rejected, d.rejected_at), (false, None));
    let escalated = days_of_sweeps(&mut w, 20, |o| {
        o.open_dispute()
            .is_some_and(|d| d.status == DisputeStatus::Escalated)
    });
    assert_eq!(
        escalated,
        Some(16),
        "at the resolution deadline, not before"
    );
    assert_eq!(
        order0(&w).dispute().and_then(|d| d.escalation_ground),
        Some(domain::dispute::EscalationGround::NoSolutionInTime)
    );
    assert!(order0(&w).awaits_arbiter());
    ok(
        &mut w,
        Step::Decide {
            o: 0,
            at_fault_permille: Some(1000),
        },
    );
    assert_eq!(order0(&w).status(), OrderStatus::RefundPending);
    ok(
        &mut w,
        Step::RefundReport {
            o: 0,
            part: 0,
            succeeded: true,
            provider: ProviderPick::Right,
            amount: AmountPick::Right,
            twice: false,
        },
    );
    assert_eq!(order0(&w).status(), OrderStatus::Refunded);
    w.check_ended().unwrap_or_else(|e| panic!("{e}"));
}
