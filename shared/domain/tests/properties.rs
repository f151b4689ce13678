//! Property tests of the order aggregate, run in a small "world": one
//! supplier [`AssuranceLimit`], one buyer [`CreditLine`], a clock that only
//! moves forward, and one to four orders. Random command sequences (20–80
//! steps) drive the orders through every command, with right and wrong
//! callers, versions, providers, amounts and currencies. After each
//! successful command its effects are applied to the world exactly as the
//! application layer will apply them (`CoverageReserved` /
//! `ReservationReleased` on the limit, `CreditReserved` / `CreditReleased` on
//! the credit line); a `CoverageReserved` the limit refuses is the loser of a
//! race, and the whole command is discarded as the store would refuse the
//! transaction.
//!
//! Each `proptest!` below checks one family of invariants over the same
//! generated worlds and command sequences (at least 256 cases each;
//! `PROPTEST_CASES=5000` searches longer):
//!
//! 1. `money_is_conserved`
//! 2. `terminal_statuses_are_final`
//! 3. `reservations_never_exceed_the_limit`
//! 4. `payment_status_never_regresses`
//! 5. `status_changes_follow_the_table`
//! 6. `credit_line_matches_pay_later_payments`
//!
//! and, beside them, `refused_commands_change_nothing` and
//! `sweep_works_only_when_due`; the liveness of "every order ends" (issue
//! 16): `an_order_nobody_acts_on_any_more_ends_or_waits_for_an_arbiter` and
//! `every_order_ends_once_an_arbiter_acts_on_what_awaits_them`.
//! `scenarios_reach_every_state` keeps the generators honest. The
//! regression tests at the end are the minimal reproductions of the bugs
//! these properties found (fixed).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use domain::actor::{ActorKind, Caller, Provider, Role};
use domain::calendar::Timestamp;
use domain::clocks::Clocks;
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, Terms, TermsDraft,
};
use domain::coverage::{AssuranceLimit, CoverageType, ReceivingAccount};
use domain::dispute::{Decision, DisputeOutcome, DisputeReason, DisputeStatus, ResponseAction};
use domain::event::{DomainEvent, EventBody, FlagResolution};
use domain::feedback::Rating;
use domain::ids::{ApplicationId, OrderId, PaymentId, RefundId, UserId};
use domain::order::{
    Counterparty, DisputeResponse, NewOrder, OpenDispute, PaymentReport, PaymentRequest,
    RefundReport, ShipmentDetails,
};
use domain::payment::{
    AccountType, CardBrand, CreditLine, CreditLineStatus, FlagReason, PaymentContext,
    PaymentMethod, PaymentSignal, PaymentStatus, Stage,
};
use domain::refund::{RefundResolution, RefundStatus};
use domain::status::{self, OrderStatus};
use domain::text::{CountryCode, DocumentRef, HttpsUrl, LongText, Sha256Hex, ShortText};
use domain::{Order, OrderError, Usd};

// ---- small helpers ----------------------------------------------------------

fn cents(c: u64) -> Usd {
    Usd::from_cents(c).expect("cents in range")
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

fn add(a: Usd, b: Usd) -> Usd {
    a.checked_add(b).expect("no overflow in test sums")
}

fn sum(amounts: impl IntoIterator<Item = Usd>) -> Usd {
    Usd::sum(amounts).expect("no overflow in test sums")
}

/// `amount × permille / 1000`, in whole cents (integer arithmetic only).
fn permille_of(amount: Usd, permille: u64) -> Usd {
    cents(amount.cents().saturating_mul(permille) / 1000)
}

fn evidence(n: usize) -> Vec<DocumentRef> {
    (0..n)
        .map(|i| DocumentRef {
            name: short(&format!("photo {i}")),
            url: HttpsUrl::parse(&format!("https://evidence.example.com/{i}.jpg"))
                .expect("valid url"),
            sha256: Sha256Hex::parse(&"ab".repeat(32)).expect("valid digest"),
        })
        .collect()
}

const BUYER: &str = "b-1";
const SUPPLIER: &str = "s-1";
/// The supplier of an occasional order that has no assurance limit here.
const FOREIGN_SUPPLIER: &str = "s-2";
const OTHER_BUYER: &str = "b-9";
const OTHER_SUPPLIER: &str = "s-9";
const ARBITER: &str = "arb-1";
const MAX_ORDERS: usize = 4;

fn base_time() -> Timestamp {
    Utc.with_ymd_and_hms(2025, 1, 6, 9, 0, 0)
        .single()
        .expect("valid base time")
}

// ---- what is generated --------------------------------------------------------

#[derive(Debug, Clone)]
struct TermsSpec {
    /// (quantity, unit price in cents)
    items: Vec<(u32, u64)>,
    shipping_cents: u64,
    /// initial = max(1 cent, total × ‰ / 1000); 1000 means no balance.
    initial_permille: u64,
    /// Days from "now" (at creation or amendment) to the ship-by date.
    ship_by_days: u32,
    coverage: CoverageType,
    inspection: Option<(InspectionAgency, InspectionLocation)>,
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
                unit_price: cents(unit),
            })
            .collect();
        let total: u64 = self.shipping_cents
            + self
                .items
                .iter()
                .map(|&(q, u)| u64::from(q) * u)
                .sum::<u64>();
        let initial = (total * self.initial_permille / 1000).max(1);
        let ship_by = (now + TimeDelta::days(i64::from(self.ship_by_days))).date_naive();
        Terms::new(TermsDraft {
            items,
            shipping_fee: cents(self.shipping_cents),
            initial_payment: cents(initial),
            ship_by,
            quality_terms: long("as per the approved sample"),
            destination_country: CountryCode::US,
            coverage: self.coverage,
            inspection: self
                .inspection
                .map(|(agency, location)| Inspection { agency, location }),
            contract_document: None,
        })
        .expect("generated terms are valid")
    }
}

#[derive(Debug, Clone)]
struct OrderSpec {
    terms: TermsSpec,
    created_by_supplier: bool,
    /// The supplier has no assurance limit in this world: confirmation fails.
    foreign_supplier: bool,
}

#[derive(Debug, Clone)]
enum CreditSpec {
    Pending,
    Declined,
    Approved(u64),
}

#[derive(Debug, Clone)]
struct WorldSpec {
    start_offset_secs: i64,
    limit_cents: u64,
    receiving_account: bool,
    credit: CreditSpec,
    orders: Vec<OrderSpec>,
}

/// Who calls. `Right` is the natural caller for the command; the others are
/// the order's own parties, strangers, an arbiter, or a party's id with the
/// wrong group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Right,
    Buyer,
    Supplier,
    OtherBuyer,
    OtherSupplier,
    Arbiter,
    BuyerIdAsSupplier,
    NoRoles,
}

#[derive(Debug, Clone, Copy)]
enum VersionPick {
    Right,
    Older,
    Newer,
}

#[derive(Debug, Clone, Copy)]
enum StagePick {
    Natural,
    Initial,
    Balance,
}

#[derive(Debug, Clone, Copy)]
enum MethodSpec {
    ECheck { us: bool, checking: bool },
    Card { brand: u8 },
    Tt,
    PayLater { term: u32 },
}

#[derive(Debug, Clone, Copy)]
enum ProviderPick {
    Right,
    Other(u8),
}

#[derive(Debug, Clone, Copy)]
enum AmountPick {
    Right,
    Off(u64),
    Missing,
}

#[derive(Debug, Clone, Copy)]
enum CurrencyPick {
    Usd,
    Eur,
    LowerUsd,
}

#[derive(Debug, Clone, Copy)]
enum ShipAt {
    Now,
    BackHours(u32),
    FutureHours(u32),
}

#[derive(Debug, Clone, Copy)]
enum RespondPick {
    Accept,
    Offer(u64),
    Reject,
    Comment { message: bool },
}

#[derive(Debug, Clone)]
enum Cmd {
    Create {
        o: usize,
        who: Who,
    },
    Amend {
        o: usize,
        who: Who,
        as_supplier: bool,
        terms: TermsSpec,
    },
    Confirm {
        o: usize,
        who: Who,
        version: VersionPick,
        stale_limit: bool,
    },
    Remind {
        o: usize,
        who: Who,
    },
    Cancel {
        o: usize,
        who: Who,
    },
    Pay {
        o: usize,
        who: Who,
        stage: StagePick,
        method: MethodSpec,
        reuse_id: bool,
    },
    /// A provider's report on the `from_end`-th newest payment.
    Report {
        o: usize,
        from_end: usize,
        signal: PaymentSignal,
        provider: ProviderPick,
        amount: AmountPick,
        currency: CurrencyPick,
        duplicate: bool,
    },
    Ship {
        o: usize,
        who: Who,
        at: ShipAt,
    },
    Record {
        o: usize,
        who: Who,
        customs_hours_back: Option<u32>,
        delivered_hours_back: Option<u32>,
    },
    Receipt {
        o: usize,
        who: Who,
    },
    /// The buyer extends the receipt clock.
    Extend {
        o: usize,
        who: Who,
    },
    Feedback {
        o: usize,
        who: Who,
        rating: i64,
    },
    Open {
        o: usize,
        who: Who,
        reason: DisputeReason,
        /// Of min(covered, paid); above 1000 asks too much.
        permille: u64,
        evidence: usize,
    },
    Respond {
        o: usize,
        who: Who,
        action: RespondPick,
        evidence: usize,
    },
    Withdraw {
        o: usize,
        who: Who,
    },
    Escalate {
        o: usize,
        who: Who,
    },
    Decide {
        o: usize,
        who: Who,
        at_fault_permille: Option<u64>,
    },
    RefundReport {
        o: usize,
        part: usize,
        succeeded: bool,
        provider: ProviderPick,
        amount: AmountPick,
    },
    Resolve {
        o: usize,
        who: Who,
        from_end: usize,
        refund: bool,
    },
    /// An arbiter resolves a refund part (mostly a flagged one).
    ResolveRefund {
        o: usize,
        who: Who,
        part: usize,
        retry: bool,
    },
    /// The scheduled sweep, over one order or all of them.
    Sweep {
        o: Option<usize>,
    },
    Advance {
        secs: i64,
    },
    /// An arbiter sets the supplier's limit to ‰ of what it is now.
    SetLimit {
        permille: u64,
    },
    /// The natural next step for the order's status (keeps the sequences
    /// reaching deep states); resolved to one of the commands above.
    Progress {
        o: usize,
        variant: u8,
        aside: u8,
    },
}

// ---- strategies -------------------------------------------------------------

fn terms_spec() -> impl Strategy<Value = TermsSpec> {
    (
        prop_oneof![
            3 => prop::collection::vec((1u32..=10, 1u64..=100_000), 1..=3),
            1 => prop::collection::vec((1u32..=20, 1u64..=200_000), 1..=3),
        ],
        prop_oneof![Just(0u64), 0u64..=20_000],
        prop_oneof![1 => Just(1000u64), 3 => 1u64..=1000],
        1u32..=30,
        prop_oneof![
            Just(CoverageType::PreShipment),
            Just(CoverageType::PostDelivery)
        ],
        prop::option::of((
            prop_oneof![
                Just(InspectionAgency::Sgs),
                Just(InspectionAgency::Bv),
                Just(InspectionAgency::Tuv)
            ],
            prop_oneof![
                Just(InspectionLocation::China),
                Just(InspectionLocation::Overseas)
            ],
        )),
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

fn world_spec() -> impl Strategy<Value = WorldSpec> {
    (
        0i64..365 * 86_400,
        prop_oneof![
            1 => 0u64..=1_000_000,
            3 => 1_000_000u64..=50_000_000,
        ],
        prop::bool::weighted(0.7),
        prop_oneof![
            1 => Just(CreditSpec::Pending),
            1 => Just(CreditSpec::Declined),
            4 => (1u64..=15_000_000).prop_map(CreditSpec::Approved),
        ],
        prop::collection::vec(
            (terms_spec(), any::<bool>(), prop::bool::weighted(0.05)).prop_map(
                |(terms, created_by_supplier, foreign_supplier)| OrderSpec {
                    terms,
                    created_by_supplier,
                    foreign_supplier,
                },
            ),
            1..=MAX_ORDERS,
        ),
    )
        .prop_map(
            |(start_offset_secs, limit_cents, receiving_account, credit, orders)| WorldSpec {
                start_offset_secs,
                limit_cents,
                receiving_account,
                credit,
                orders,
            },
        )
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        16 => Just(Who::Right),
        1 => Just(Who::Buyer),
        1 => Just(Who::Supplier),
        1 => Just(Who::OtherBuyer),
        1 => Just(Who::OtherSupplier),
        1 => Just(Who::Arbiter),
        1 => Just(Who::BuyerIdAsSupplier),
        1 => Just(Who::NoRoles),
    ]
}

fn provider_pick() -> impl Strategy<Value = ProviderPick> {
    prop_oneof![8 => Just(ProviderPick::Right), 1 => (0u8..3).prop_map(ProviderPick::Other)]
}

fn amount_pick() -> impl Strategy<Value = AmountPick> {
    prop_oneof![
        8 => Just(AmountPick::Right),
        1 => (1u64..=100).prop_map(AmountPick::Off),
        1 => Just(AmountPick::Missing),
    ]
}

fn method_spec() -> impl Strategy<Value = MethodSpec> {
    prop_oneof![
        (prop::bool::weighted(0.8), prop::bool::weighted(0.8))
            .prop_map(|(us, checking)| MethodSpec::ECheck { us, checking }),
        (0u8..=2).prop_map(|brand| MethodSpec::Card { brand }),
        Just(MethodSpec::Tt),
        prop_oneof![4 => 1u32..=6, 1 => 0u32..=8].prop_map(|term| MethodSpec::PayLater { term }),
    ]
}

fn signal() -> impl Strategy<Value = PaymentSignal> {
    prop_oneof![
        1 => Just(PaymentSignal::Processing),
        1 => Just(PaymentSignal::AgreementCompleted),
        2 => Just(PaymentSignal::Succeeded),
        1 => Just(PaymentSignal::Failed),
    ]
}

fn from_end() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => 0usize..4]
}

/// Orders are named 0..4 and taken modulo the number of orders in the
/// world, so the commands shrink independently of the world.
fn cmd() -> impl Strategy<Value = Cmd> {
    let o = 0..MAX_ORDERS;
    prop_oneof![
        2 => (o.clone(), who()).prop_map(|(o, who)| Cmd::Create { o, who }),
        1 => (o.clone(), who(), any::<bool>(), terms_spec())
            .prop_map(|(o, who, as_supplier, terms)| Cmd::Amend { o, who, as_supplier, terms }),
        3 => (
            o.clone(),
            who(),
            prop_oneof![6 => Just(VersionPick::Right), 1 => Just(VersionPick::Older), 1 => Just(VersionPick::Newer)],
            prop::bool::weighted(0.3),
        )
            .prop_map(|(o, who, version, stale_limit)| Cmd::Confirm { o, who, version, stale_limit }),
        1 => (o.clone(), who()).prop_map(|(o, who)| Cmd::Remind { o, who }),
        1 => (o.clone(), who()).prop_map(|(o, who)| Cmd::Cancel { o, who }),
        3 => (
            o.clone(),
            who(),
            prop_oneof![4 => Just(StagePick::Natural), 1 => Just(StagePick::Initial), 1 => Just(StagePick::Balance)],
            method_spec(),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(o, who, stage, method, reuse_id)| Cmd::Pay { o, who, stage, method, reuse_id }),
        5 => (
            o.clone(),
            from_end(),
            signal(),
            provider_pick(),
            amount_pick(),
            prop_oneof![8 => Just(CurrencyPick::Usd), 1 => Just(CurrencyPick::Eur), 1 => Just(CurrencyPick::LowerUsd)],
            prop::bool::weighted(0.15),
        )
            .prop_map(|(o, from_end, signal, provider, amount, currency, duplicate)| Cmd::Report {
                o, from_end, signal, provider, amount, currency, duplicate,
            }),
        2 => (
            o.clone(),
            who(),
            prop_oneof![4 => Just(ShipAt::Now), 1 => (0u32..=100).prop_map(ShipAt::BackHours), 1 => (1u32..=5).prop_map(ShipAt::FutureHours)],
        )
            .prop_map(|(o, who, at)| Cmd::Ship { o, who, at }),
        1 => (o.clone(), who(), prop::option::of(0u32..=200), prop::option::of(0u32..=200))
            .prop_map(|(o, who, customs_hours_back, delivered_hours_back)| Cmd::Record {
                o, who, customs_hours_back, delivered_hours_back,
            }),
        2 => (o.clone(), who()).prop_map(|(o, who)| Cmd::Receipt { o, who }),
        1 => (o.clone(), who()).prop_map(|(o, who)| Cmd::Extend { o, who }),
        1 => (o.clone(), who(), 0i64..=6).prop_map(|(o, who, rating)| Cmd::Feedback { o, who, rating }),
        2 => (
            o.clone(),
            who(),
            prop_oneof![Just(DisputeReason::LateShipment), Just(DisputeReason::Quality)],
            prop_oneof![6 => 1u64..=1000, 1 => Just(0u64), 1 => 1001u64..=1500],
            prop_oneof![8 => 0usize..=2, 1 => Just(21usize)],
        )
            .prop_map(|(o, who, reason, permille, evidence)| Cmd::Open { o, who, reason, permille, evidence }),
        3 => (
            o.clone(),
            who(),
            prop_oneof![
                Just(RespondPick::Accept),
                prop_oneof![6 => 1u64..=1000, 1 => Just(0u64), 1 => 1001u64..=1500].prop_map(RespondPick::Offer),
                Just(RespondPick::Reject),
                any::<bool>().prop_map(|message| RespondPick::Comment { message }),
            ],
            prop_oneof![8 => 0usize..=2, 1 => Just(21usize)],
        )
            .prop_map(|(o, who, action, evidence)| Cmd::Respond { o, who, action, evidence }),
        1 => (o.clone(), who()).prop_map(|(o, who)| Cmd::Withdraw { o, who }),
        1 => (o.clone(), who()).prop_map(|(o, who)| Cmd::Escalate { o, who }),
        2 => (
            o.clone(),
            who(),
            prop::option::of(prop_oneof![6 => 1u64..=1000, 1 => Just(0u64), 1 => 1001u64..=1500]),
        )
            .prop_map(|(o, who, at_fault_permille)| Cmd::Decide { o, who, at_fault_permille }),
        2 => (o.clone(), 0usize..4, prop::bool::weighted(0.75), provider_pick(), amount_pick())
            .prop_map(|(o, part, succeeded, provider, amount)| Cmd::RefundReport {
                o, part, succeeded, provider, amount,
            }),
        3 => (o.clone(), who(), from_end(), any::<bool>())
            .prop_map(|(o, who, from_end, refund)| Cmd::Resolve { o, who, from_end, refund }),
        1 => (o.clone(), who(), 0usize..4, any::<bool>())
            .prop_map(|(o, who, part, retry)| Cmd::ResolveRefund { o, who, part, retry }),
        2 => prop::option::of(o.clone()).prop_map(|o| Cmd::Sweep { o }),
        5 => prop_oneof![
            1i64..3_600,
            3_600i64..3 * 86_400,
            86_400i64..=40 * 86_400,
        ]
        .prop_map(|secs| Cmd::Advance { secs }),
        1 => prop_oneof![0u64..1000, 1000u64..=2000].prop_map(|permille| Cmd::SetLimit { permille }),
        24 => (o, any::<u8>(), any::<u8>()).prop_map(|(o, variant, aside)| Cmd::Progress { o, variant, aside }),
    ]
}

fn scenario() -> impl Strategy<Value = (WorldSpec, Vec<Cmd>)> {
    (world_spec(), prop::collection::vec(cmd(), 20..=80))
}

// ---- the world ------------------------------------------------------------------

/// What one step did to one order.
#[derive(Debug)]
enum Outcome {
    /// Nothing to act on (the order does not exist yet, a clock step, …).
    Skipped,
    Refused(OrderError),
    /// The store would refuse the transaction: `CoverageReserved` lost a race.
    Discarded,
    Done(Vec<DomainEvent>),
}

/// One executed step, for the checks.
struct Rec {
    /// The concrete command (a `Progress` is resolved).
    cmd: Cmd,
    before: Option<Order>,
    after: Option<Order>,
    outcome: Outcome,
    /// Effects the application layer must be able to apply and could not.
    limit_failures: Vec<String>,
    credit_failures: Vec<String>,
    limit_reserved_before: Usd,
}

struct World {
    now: Timestamp,
    limit: AssuranceLimit,
    /// An arbiter has set the limit below what was reserved at that moment.
    limit_lowered_below_reserved: bool,
    /// The limit as it was before the last successful reservation: what a
    /// concurrent confirmation that read it earlier would see.
    stale_limit: Option<AssuranceLimit>,
    credit: CreditLine,
    specs: Vec<OrderSpec>,
    orders: Vec<Option<Order>>,
    next_payment: u32,
    /// Payments ever seen `Failed` (their credit went back to the line).
    ever_failed: BTreeSet<PaymentId>,
    /// Failed payments an arbiter accepted late (a Pay Later one reserved
    /// its credit again).
    accepted_late: BTreeSet<PaymentId>,
    /// Refund parts requested by a dispute resolution or the sweep's
    /// not-shipped refund.
    dispute_parts: BTreeSet<RefundId>,
    /// Payments flagged for what they kept beyond the coverage of an order
    /// that never shipped.
    beyond_coverage: BTreeSet<PaymentId>,
    /// Refund parts returning a whole payment (money on a closed order, an
    /// arbiter's refund of a flagged payment).
    return_parts: BTreeMap<RefundId, Usd>,
}

impl World {
    fn new(spec: &WorldSpec) -> World {
        let now = base_time() + TimeDelta::seconds(spec.start_offset_secs);
        let mut limit = AssuranceLimit::new(uid(SUPPLIER), cents(spec.limit_cents));
        if spec.receiving_account {
            limit.receiving_account = Some(ReceivingAccount {
                bank_name: short("Bank of Ningbo"),
                account_name: short("Supplier Co"),
                account_number: short("6222000011112222"),
                swift: short("BKNBCN2N"),
            });
        }
        let mut credit = CreditLine::apply(
            uid(BUYER),
            ApplicationId::parse("app_1").expect("valid application id"),
            now,
        );
        match spec.credit {
            CreditSpec::Pending => {}
            CreditSpec::Declined => credit.decline(now).expect("pending line declines"),
            CreditSpec::Approved(c) => credit.approve(cents(c), now).expect("limit ≤ max"),
        }
        World {
            now,
            limit,
            limit_lowered_below_reserved: false,
            stale_limit: None,
            credit,
            specs: spec.orders.clone(),
            orders: vec![None; spec.orders.len()],
            next_payment: 1,
            ever_failed: BTreeSet::new(),
            accepted_late: BTreeSet::new(),
            dispute_parts: BTreeSet::new(),
            beyond_coverage: BTreeSet::new(),
            return_parts: BTreeMap::new(),
        }
    }

    fn order(&self, slot: usize) -> Option<&Order> {
        self.orders.get(slot).and_then(Option::as_ref)
    }

    fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.iter().flatten()
    }

    fn supplier_of(&self, slot: usize) -> UserId {
        if self.specs[slot].foreign_supplier {
            uid(FOREIGN_SUPPLIER)
        } else {
            uid(SUPPLIER)
        }
    }

    fn fresh_payment_id(&mut self) -> PaymentId {
        let id = PaymentId::parse(format!("pay_{}", self.next_payment)).expect("valid id");
        self.next_payment += 1;
        id
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Natural {
    Buyer,
    Supplier,
    Arbiter,
}

fn caller_for(order: &Order, who: Who, natural: Natural) -> Caller {
    let buyer = Caller::new(order.buyer_id().clone(), [Role::Buyer]);
    let supplier = Caller::new(order.supplier_id().clone(), [Role::Supplier]);
    let arbiter = Caller::new(uid(ARBITER), [Role::Arbiter]);
    match who {
        Who::Right => match natural {
            Natural::Buyer => buyer,
            Natural::Supplier => supplier,
            Natural::Arbiter => arbiter,
        },
        Who::Buyer => buyer,
        Who::Supplier => supplier,
        Who::OtherBuyer => Caller::new(uid(OTHER_BUYER), [Role::Buyer]),
        Who::OtherSupplier => Caller::new(uid(OTHER_SUPPLIER), [Role::Supplier]),
        Who::Arbiter => arbiter,
        Who::BuyerIdAsSupplier => Caller::new(order.buyer_id().clone(), [Role::Supplier]),
        Who::NoRoles => Caller::new(order.buyer_id().clone(), []),
    }
}

fn other_provider(right: Provider, k: u8) -> Provider {
    let i = Provider::ALL
        .iter()
        .position(|p| *p == right)
        .expect("known provider");
    Provider::ALL[(i + 1 + usize::from(k % 3)) % Provider::ALL.len()]
}

fn pick_provider(right: Provider, pick: ProviderPick) -> Provider {
    match pick {
        ProviderPick::Right => right,
        ProviderPick::Other(k) => other_provider(right, k),
    }
}

fn pick_amount(right: Usd, pick: AmountPick) -> Option<Usd> {
    match pick {
        AmountPick::Right => Some(right),
        AmountPick::Off(c) => Some(cents(right.cents() + c)),
        AmountPick::Missing => None,
    }
}

fn method_of(spec: MethodSpec) -> PaymentMethod {
    match spec {
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

/// What a dispute may ask for, as the generators see it: min(covered, paid).
fn refund_cap(order: &Order) -> Usd {
    order
        .coverage()
        .covered_amount
        .unwrap_or(Usd::ZERO)
        .min(order.amount_paid())
}

fn payment_from_end(order: &Order, from_end: usize) -> Option<PaymentId> {
    let ps = order.payments();
    if ps.is_empty() {
        return None;
    }
    let k = from_end % ps.len();
    Some(ps[ps.len() - 1 - k].id.clone())
}

/// The natural next step for an order, so sequences reach deep states.
fn progress(world: &World, slot: usize, v: u8, aside: u8) -> Cmd {
    let o = slot;
    let Some(order) = world.order(slot) else {
        return Cmd::Create { o, who: Who::Right };
    };
    // Side tracks through the operator paths: resolve a flagged payment,
    // settle a refund part, a success arriving after a failure.
    let flagged = order.payments().iter().any(|p| p.flag.is_some());
    let requested = order
        .refunds()
        .iter()
        .position(|r| r.status == RefundStatus::Requested);
    let failed = order
        .payments()
        .iter()
        .rev()
        .position(|p| p.status == PaymentStatus::Failed && p.flag.is_none());
    let flagged_part = order.refunds().iter().position(|r| r.flagged);
    if let (5, Some(part)) = (aside % 8, flagged_part) {
        return Cmd::ResolveRefund {
            o,
            who: Who::Right,
            part,
            retry: aside % 16 == 5,
        };
    }
    match (aside % 8, requested, failed) {
        (0 | 1, _, _) if flagged => {
            return Cmd::Resolve {
                o,
                who: Who::Right,
                from_end: 0,
                refund: aside.is_multiple_of(2),
            };
        }
        (2 | 3, Some(part), _) => {
            return Cmd::RefundReport {
                o,
                part,
                succeeded: aside % 16 != 3,
                provider: ProviderPick::Right,
                amount: AmountPick::Right,
            };
        }
        (4, _, Some(from_end)) => {
            return Cmd::Report {
                o,
                from_end,
                signal: PaymentSignal::Succeeded,
                provider: ProviderPick::Right,
                amount: AmountPick::Right,
                currency: CurrencyPick::Usd,
                duplicate: false,
            };
        }
        _ => {}
    }
    if let Some(d) = order.open_dispute()
        && v % 6 != 5
    {
        return match d.status {
            DisputeStatus::Escalated => Cmd::Decide {
                o,
                who: Who::Right,
                // Everything paid (closing) or a compensation.
                at_fault_permille: match v % 3 {
                    0 => None,
                    1 => Some(1000),
                    _ => Some(700),
                },
            },
            _ => match v % 5 {
                0 => Cmd::Respond {
                    o,
                    who: Who::Supplier,
                    action: RespondPick::Accept,
                    evidence: 0,
                },
                1 => Cmd::Respond {
                    o,
                    who: Who::Supplier,
                    action: RespondPick::Offer(600),
                    evidence: 1,
                },
                2 if d.pending_offer.is_some() => Cmd::Respond {
                    o,
                    who: Who::Buyer,
                    action: RespondPick::Accept,
                    evidence: 0,
                },
                2 => Cmd::Respond {
                    o,
                    who: Who::Supplier,
                    action: RespondPick::Reject,
                    evidence: 0,
                },
                3 => Cmd::Escalate { o, who: Who::Right },
                _ => Cmd::Advance { secs: 6 * 86_400 },
            },
        };
    }
    let report = |from_end: usize, signal: PaymentSignal| Cmd::Report {
        o,
        from_end,
        signal,
        provider: ProviderPick::Right,
        amount: if v % 6 == 2 {
            AmountPick::Off(1)
        } else {
            AmountPick::Right
        },
        currency: CurrencyPick::Usd,
        duplicate: v.is_multiple_of(7),
    };
    let pay = |stage: StagePick, amount: Usd| {
        let paylater_ok = world.credit.status() == CreditLineStatus::Approved
            && world.credit.available() >= amount;
        let method = match v % 4 {
            0 if paylater_ok => MethodSpec::PayLater { term: 3 },
            1 if amount <= Usd::dollars_const(20_000) => MethodSpec::Card { brand: 0 },
            2 if world.limit.receiving_account.is_some() => MethodSpec::Tt,
            _ => MethodSpec::ECheck {
                us: true,
                checking: true,
            },
        };
        Cmd::Pay {
            o,
            who: Who::Right,
            stage,
            method,
            reuse_id: false,
        }
    };
    match order.status() {
        OrderStatus::AwaitingConfirmation => Cmd::Confirm {
            o,
            who: Who::Right,
            version: VersionPick::Right,
            stale_limit: false,
        },
        OrderStatus::AwaitingInitialPayment => pay(
            StagePick::Initial,
            add(
                order.terms().initial_payment(),
                order.terms().inspection_fee(),
            ),
        ),
        OrderStatus::BalancePaymentProcessing if v.is_multiple_of(3) => Cmd::Open {
            o,
            who: Who::Right,
            reason: if v % 12 == 3 {
                DisputeReason::LateShipment
            } else {
                DisputeReason::Quality
            },
            // Everything paid closes the order while the balance is in
            // flight: its money then arrives on a closed order.
            permille: if v % 24 == 21 { 700 } else { 1000 },
            evidence: 0,
        },
        OrderStatus::InitialPaymentProcessing | OrderStatus::BalancePaymentProcessing => {
            let in_flight = order
                .payments()
                .iter()
                .rev()
                .position(|p| p.status.in_flight())
                .unwrap_or(0);
            let awaiting = order
                .payments()
                .iter()
                .any(|p| p.status == PaymentStatus::AwaitingAgreement);
            let signal = if awaiting && v.is_multiple_of(2) {
                PaymentSignal::AgreementCompleted
            } else if v % 6 == 1 {
                PaymentSignal::Failed
            } else {
                PaymentSignal::Succeeded
            };
            report(in_flight, signal)
        }
        OrderStatus::AwaitingShipment => match v % 6 {
            0 => Cmd::Open {
                o,
                who: Who::Right,
                reason: if v.is_multiple_of(12) {
                    DisputeReason::Quality
                } else {
                    DisputeReason::LateShipment
                },
                permille: 800,
                evidence: 1,
            },
            1 => Cmd::Advance { secs: 10 * 86_400 },
            _ => Cmd::Ship {
                o,
                who: Who::Right,
                at: ShipAt::Now,
            },
        },
        OrderStatus::Shipped => match v % 5 {
            0 => Cmd::Open {
                o,
                who: Who::Right,
                reason: DisputeReason::Quality,
                permille: 1000,
                evidence: 1,
            },
            _ => pay(StagePick::Balance, order.terms().balance()),
        },
        OrderStatus::AwaitingReceiptConfirmation => match v % 8 {
            0 => Cmd::Record {
                o,
                who: Who::Right,
                customs_hours_back: Some(1),
                delivered_hours_back: None,
            },
            1 => Cmd::Open {
                o,
                who: Who::Right,
                reason: DisputeReason::Quality,
                permille: 500,
                evidence: 0,
            },
            2 => Cmd::Extend { o, who: Who::Right },
            // Into the last 3 days of the receipt clock, then the sweep:
            // the notice, later the automatic confirmation.
            3 => Cmd::Advance { secs: 28 * 86_400 },
            4 => Cmd::Sweep { o: Some(o) },
            _ => Cmd::Receipt { o, who: Who::Right },
        },
        OrderStatus::Completed => match v % 4 {
            0 => Cmd::Feedback {
                o,
                who: Who::Right,
                rating: 4,
            },
            1 => Cmd::Open {
                o,
                who: Who::Right,
                reason: DisputeReason::Quality,
                permille: 900,
                evidence: 1,
            },
            2 => Cmd::Advance { secs: 20 * 86_400 },
            _ => Cmd::Sweep { o: Some(o) },
        },
        OrderStatus::RefundPending
            if v % 3 != 2 && order.payments().iter().any(|p| p.status.in_flight()) =>
        {
            let in_flight = order
                .payments()
                .iter()
                .rev()
                .position(|p| p.status.in_flight())
                .unwrap_or(0);
            report(in_flight, PaymentSignal::Succeeded)
        }
        OrderStatus::RefundPending => {
            let part = order
                .refunds()
                .iter()
                .position(|r| r.status == RefundStatus::Requested)
                .unwrap_or(0);
            Cmd::RefundReport {
                o,
                part,
                succeeded: !v.is_multiple_of(4),
                provider: ProviderPick::Right,
                amount: AmountPick::Right,
            }
        }
        OrderStatus::Refunded | OrderStatus::Cancelled | OrderStatus::Closed => match v % 2 {
            0 => Cmd::Sweep { o: Some(o) },
            // Money still on its way arrives on a closed order.
            _ => report(
                order
                    .payments()
                    .iter()
                    .rev()
                    .position(|p| p.status.in_flight())
                    .unwrap_or(0),
                PaymentSignal::Succeeded,
            ),
        },
    }
}

type CmdResult = Result<Vec<DomainEvent>, OrderError>;

/// The payment an arbiter resolves: mostly a flagged one (the newest but
/// `from_end`), else any.
fn resolve_target(order: &Order, from_end: usize) -> PaymentId {
    let flagged: Vec<&PaymentId> = order
        .payments()
        .iter()
        .filter(|p| p.flag.is_some())
        .map(|p| &p.id)
        .collect();
    match flagged.len() {
        0 => payment_from_end(order, from_end)
            .unwrap_or_else(|| PaymentId::parse("pay_unknown").expect("valid id")),
        n => flagged[n - 1 - from_end % n].clone(),
    }
}

/// What applying a command's events to the limit and the credit line found
/// wrong: effects the application layer must be able to apply and could not.
#[derive(Debug, Default)]
struct EffectFailures {
    limit: Vec<String>,
    credit: Vec<String>,
}

/// Apply a successful command's events to the limit and the credit line as
/// the application layer does. `Err(())` when a `CoverageReserved` is
/// refused: the race loser, whose whole transaction the store refuses (the
/// caller then throws the copies away).
fn apply_to(
    limit: &mut AssuranceLimit,
    credit: &mut CreditLine,
    events: &[DomainEvent],
) -> Result<EffectFailures, ()> {
    let mut failures = EffectFailures::default();
    for e in events {
        match &e.body {
            EventBody::CoverageReserved {
                supplier_id,
                amount,
            } => {
                if *supplier_id != limit.supplier_id {
                    failures
                        .limit
                        .push(format!("reservation for unknown supplier {supplier_id}"));
                } else if limit.reserve(*amount).is_err() {
                    return Err(());
                }
            }
            EventBody::ReservationReleased {
                supplier_id,
                amount,
            } => {
                if *supplier_id != limit.supplier_id {
                    failures
                        .limit
                        .push(format!("release for unknown supplier {supplier_id}"));
                } else if let Err(err) = limit.release(*amount) {
                    failures
                        .limit
                        .push(format!("release of {amount} failed: {err}"));
                }
            }
            EventBody::CreditReserved {
                buyer_id, amount, ..
            } => {
                if *buyer_id != credit.buyer_id {
                    failures
                        .credit
                        .push(format!("credit reserved for unknown buyer {buyer_id}"));
                } else if let Err(err) = credit.reserve(*amount) {
                    failures
                        .credit
                        .push(format!("credit reserve of {amount} failed: {err}"));
                }
            }
            EventBody::CreditReleased {
                buyer_id,
                payment_id,
                amount,
            } => {
                if *buyer_id != credit.buyer_id {
                    failures
                        .credit
                        .push(format!("credit released for unknown buyer {buyer_id}"));
                } else if let Err(err) = credit.release(*amount) {
                    failures.credit.push(format!(
                        "credit release of {amount} for {payment_id} failed: {err}"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(failures)
}

/// Run one concrete command on order `slot` (which must exist).
fn exec_on(world: &mut World, slot: usize, cmd: &Cmd) -> Rec {
    let limit_reserved_before = world.limit.reserved();
    let order = world.orders[slot].take();
    let Some(mut order) = order else {
        return Rec {
            cmd: cmd.clone(),
            before: None,
            after: None,
            outcome: Outcome::Skipped,
            limit_failures: Vec::new(),
            credit_failures: Vec::new(),
            limit_reserved_before,
        };
    };
    let before = order.clone();
    let now = world.now;
    let result: CmdResult = match cmd {
        Cmd::Amend {
            who,
            as_supplier,
            terms,
            ..
        } => {
            let natural = if *as_supplier {
                Natural::Supplier
            } else {
                Natural::Buyer
            };
            order.amend(&caller_for(&before, *who, natural), terms.build(now), now)
        }
        Cmd::Confirm {
            who,
            version,
            stale_limit,
            ..
        } => {
            let natural = if before.confirmations().buyer.is_none() {
                Natural::Buyer
            } else {
                Natural::Supplier
            };
            let seen = match version {
                VersionPick::Right => before.version(),
                VersionPick::Older => before.version().saturating_sub(1),
                VersionPick::Newer => before.version() + 1,
            };
            let limit = if *stale_limit {
                world.stale_limit.as_ref().unwrap_or(&world.limit)
            } else {
                &world.limit
            };
            order.confirm(&caller_for(&before, *who, natural), seen, limit, now)
        }
        Cmd::Remind { who, .. } => {
            let natural = if before.confirmations().buyer.is_some() {
                Natural::Buyer
            } else {
                Natural::Supplier
            };
            order.remind(&caller_for(&before, *who, natural), now)
        }
        Cmd::Cancel { who, .. } => order.cancel(&caller_for(&before, *who, Natural::Buyer), now),
        Cmd::Pay {
            who,
            stage,
            method,
            reuse_id,
            ..
        } => {
            let stage = match stage {
                StagePick::Initial => Stage::Initial,
                StagePick::Balance => Stage::Balance,
                StagePick::Natural => match before.status() {
                    OrderStatus::Shipped | OrderStatus::BalancePaymentProcessing => Stage::Balance,
                    _ => Stage::Initial,
                },
            };
            let id = match (reuse_id, before.payments().last()) {
                (true, Some(p)) => p.id.clone(),
                _ => world.fresh_payment_id(),
            };
            let ctx = PaymentContext {
                credit_line: Some(&world.credit).filter(|c| &c.buyer_id == before.buyer_id()),
                receiving_account: if &world.limit.supplier_id == before.supplier_id() {
                    world.limit.receiving_account.as_ref()
                } else {
                    None
                },
            };
            order.initiate_payment(
                &caller_for(&before, *who, Natural::Buyer),
                PaymentRequest {
                    id,
                    stage,
                    method: method_of(*method),
                },
                ctx,
                now,
            )
        }
        Cmd::Report {
            from_end,
            signal,
            provider,
            amount,
            currency,
            ..
        } => {
            let payment =
                payment_from_end(&before, *from_end).and_then(|id| before.payment(&id).cloned());
            let (payment_id, right_provider, right_amount) = match &payment {
                Some(p) => (p.id.clone(), p.provider(), p.amount),
                None => (
                    PaymentId::parse("pay_unknown").expect("valid id"),
                    Provider::Card,
                    cents(100),
                ),
            };
            let code = match currency {
                CurrencyPick::Usd => "USD",
                CurrencyPick::Eur => "EUR",
                CurrencyPick::LowerUsd => "usd",
            };
            let confirmed = pick_amount(right_amount, *amount).map(|a| (a, code.to_owned()));
            order.apply_payment_report(
                pick_provider(right_provider, *provider),
                PaymentReport {
                    payment_id,
                    signal: *signal,
                    confirmed,
                    provider_reference: Some("prov-ref-1".to_owned()),
                },
                now,
            )
        }
        Cmd::Ship { who, at, .. } => {
            let shipped_at = match at {
                ShipAt::Now => None,
                ShipAt::BackHours(h) => Some(now - TimeDelta::hours(i64::from(*h))),
                ShipAt::FutureHours(h) => Some(now + TimeDelta::hours(i64::from(*h))),
            };
            order.ship(
                &caller_for(&before, *who, Natural::Supplier),
                ShipmentDetails {
                    carrier: short("DHL"),
                    tracking_number: short("1234567890"),
                    shipped_at,
                },
                now,
            )
        }
        Cmd::Record {
            who,
            customs_hours_back,
            delivered_hours_back,
            ..
        } => {
            let back = |h: &Option<u32>| h.map(|h| now - TimeDelta::hours(i64::from(h)));
            order.record_delivery(
                &caller_for(&before, *who, Natural::Buyer),
                back(customs_hours_back),
                back(delivered_hours_back),
                now,
            )
        }
        Cmd::Receipt { who, .. } => {
            order.confirm_receipt(&caller_for(&before, *who, Natural::Buyer), now)
        }
        Cmd::Extend { who, .. } => {
            order.extend_receipt(&caller_for(&before, *who, Natural::Buyer), now)
        }
        Cmd::Feedback { who, rating, .. } => match Rating::parse(*rating) {
            Ok(rating) => order.leave_feedback(
                &caller_for(&before, *who, Natural::Buyer),
                rating,
                long("good supplier"),
                now,
            ),
            // An invalid rating never reaches the aggregate.
            Err(_) => Ok(Vec::new()),
        },
        Cmd::Open {
            who,
            reason,
            permille,
            evidence: n,
            ..
        } => order.raise_dispute(
            &caller_for(&before, *who, Natural::Buyer),
            OpenDispute {
                reason: *reason,
                requested_refund: permille_of(refund_cap(&before), *permille),
                description: long("not as agreed"),
                evidence: evidence(*n),
            },
            now,
        ),
        Cmd::Respond {
            who,
            action,
            evidence: n,
            ..
        } => {
            let pending = before.open_dispute().and_then(|d| d.pending_offer);
            let (natural, action, message) = match action {
                RespondPick::Accept if pending.is_some() => {
                    (Natural::Buyer, ResponseAction::Accept, None)
                }
                RespondPick::Accept => (Natural::Supplier, ResponseAction::Accept, None),
                RespondPick::Offer(p) => (
                    Natural::Supplier,
                    ResponseAction::Offer(permille_of(refund_cap(&before), *p)),
                    Some(long("we offer less")),
                ),
                RespondPick::Reject if pending.is_some() => {
                    (Natural::Buyer, ResponseAction::Reject, None)
                }
                RespondPick::Reject => (Natural::Supplier, ResponseAction::Reject, None),
                RespondPick::Comment { message } => (
                    Natural::Buyer,
                    ResponseAction::Comment,
                    message.then(|| long("see photos")),
                ),
            };
            order.respond_dispute(
                &caller_for(&before, *who, natural),
                DisputeResponse {
                    action,
                    message,
                    evidence: evidence(*n),
                },
                now,
            )
        }
        Cmd::Withdraw { who, .. } => {
            order.withdraw_dispute(&caller_for(&before, *who, Natural::Buyer), now)
        }
        Cmd::Escalate { who, .. } => {
            order.escalate_dispute(&caller_for(&before, *who, Natural::Buyer), now)
        }
        Cmd::Decide {
            who,
            at_fault_permille,
            ..
        } => {
            let decision = match at_fault_permille {
                Some(p) => Decision::SupplierAtFault(permille_of(refund_cap(&before), *p)),
                None => Decision::ClaimRejected,
            };
            order.decide_dispute(&caller_for(&before, *who, Natural::Arbiter), decision, now)
        }
        Cmd::RefundReport {
            part,
            succeeded,
            provider,
            amount,
            ..
        } => {
            let refunds = before.refunds();
            let (refund_id, right_provider, right_amount) = if refunds.is_empty() {
                (
                    RefundId::parse("ref_unknown_1").expect("valid id"),
                    Provider::Card,
                    cents(100),
                )
            } else {
                let r = &refunds[part % refunds.len()];
                (r.id.clone(), r.provider, r.amount)
            };
            order.apply_refund_report(
                pick_provider(right_provider, *provider),
                RefundReport {
                    refund_id,
                    succeeded: *succeeded,
                    amount: pick_amount(right_amount, *amount),
                },
                now,
            )
        }
        Cmd::Resolve {
            who,
            from_end,
            refund,
            ..
        } => {
            let id = resolve_target(&before, *from_end);
            let resolution = if *refund {
                FlagResolution::Refund
            } else {
                FlagResolution::Accept
            };
            order.resolve_payment(
                &caller_for(&before, *who, Natural::Arbiter),
                &id,
                resolution,
                now,
            )
        }
        Cmd::ResolveRefund {
            who, part, retry, ..
        } => {
            let refunds = before.refunds();
            let flagged: Vec<_> = refunds.iter().filter(|r| r.flagged).collect();
            let id = match (flagged.len(), refunds.len()) {
                (0, 0) => RefundId::parse("ref_unknown_1").expect("valid id"),
                (0, n) => refunds[part % n].id.clone(),
                (n, _) => flagged[part % n].id.clone(),
            };
            let resolution = if *retry {
                RefundResolution::Retry
            } else {
                RefundResolution::SettledOutside
            };
            order.resolve_refund(
                &caller_for(&before, *who, Natural::Arbiter),
                &id,
                resolution,
                now,
            )
        }
        Cmd::Sweep { .. } => order.sweep(now),
        Cmd::Create { .. } | Cmd::Advance { .. } | Cmd::SetLimit { .. } | Cmd::Progress { .. } => {
            unreachable!("not an order command")
        }
    };

    let mut rec = Rec {
        cmd: cmd.clone(),
        before: Some(before.clone()),
        after: None,
        outcome: Outcome::Skipped,
        limit_failures: Vec::new(),
        credit_failures: Vec::new(),
        limit_reserved_before,
    };
    match result {
        Err(err) => {
            rec.outcome = Outcome::Refused(err);
        }
        Ok(events) => {
            let mut limit = world.limit.clone();
            let mut credit = world.credit.clone();
            match apply_to(&mut limit, &mut credit, &events) {
                Err(()) => {
                    // The race loser: the store refuses the transaction.
                    order = before.clone();
                    rec.outcome = Outcome::Discarded;
                }
                Ok(failures) => {
                    if events
                        .iter()
                        .any(|e| matches!(e.body, EventBody::CoverageReserved { .. }))
                    {
                        world.stale_limit = Some(world.limit.clone());
                    }
                    world.limit = limit;
                    world.credit = credit;
                    rec.limit_failures = failures.limit;
                    rec.credit_failures = failures.credit;
                    classify_refund_parts(world, &events);
                    rec.outcome = Outcome::Done(events);
                }
            }
        }
    }
    for p in order.payments() {
        if p.status == PaymentStatus::Failed {
            world.ever_failed.insert(p.id.clone());
        }
        let accepted = matches!(rec.cmd, Cmd::Resolve { refund: false, .. })
            && matches!(rec.outcome, Outcome::Done(_));
        let was_failed = before
            .payment(&p.id)
            .is_some_and(|q| q.status == PaymentStatus::Failed);
        if accepted && was_failed && p.status == PaymentStatus::Succeeded {
            world.accepted_late.insert(p.id.clone());
        }
    }
    rec.after = Some(order.clone());
    world.orders[slot] = Some(order);
    rec
}

fn classify_refund_parts(world: &mut World, events: &[DomainEvent]) {
    // A dispute's refund, or the sweep's refund of goods never shipped: both
    // are refunds of a claim, within the coverage.
    let dispute = events.iter().any(|e| {
        matches!(
            e.body,
            EventBody::DisputeResolved { .. } | EventBody::NotShippedRefundStarted { .. }
        )
    });
    // An arbiter refunding what a never-shipped order's payment kept beyond
    // the coverage: what is left of that payment, not all of it.
    let beyond = events.iter().any(|e| {
        matches!(&e.body, EventBody::PaymentFlagResolved { resolution: FlagResolution::Refund, payment_id }
            if world.beyond_coverage.contains(payment_id))
    });
    for e in events {
        if let EventBody::PaymentFlagged {
            payment_id,
            reason: FlagReason::BeyondCoverage,
        } = &e.body
        {
            world.beyond_coverage.insert(payment_id.clone());
        }
    }
    if beyond {
        return;
    }
    for e in events {
        if let EventBody::RefundRequested {
            refund_id,
            amount,
            attempt: 1,
            ..
        } = &e.body
        {
            if dispute {
                world.dispute_parts.insert(refund_id.clone());
            } else {
                world.return_parts.insert(refund_id.clone(), *amount);
            }
        }
    }
}

fn exec_create(world: &mut World, slot: usize, who: Who) -> Rec {
    let limit_reserved_before = world.limit.reserved();
    let mut rec = Rec {
        cmd: Cmd::Create { o: slot, who },
        before: None,
        after: None,
        outcome: Outcome::Skipped,
        limit_failures: Vec::new(),
        credit_failures: Vec::new(),
        limit_reserved_before,
    };
    if world.orders[slot].is_some() {
        return rec;
    }
    let spec = world.specs[slot].clone();
    let supplier = world.supplier_of(slot);
    let by_supplier = match who {
        Who::Buyer => false,
        Who::Supplier => true,
        _ => spec.created_by_supplier,
    };
    let (caller, counterparty) = match (who, by_supplier) {
        (Who::BuyerIdAsSupplier, _) => (
            Caller::new(uid(BUYER), [Role::Supplier]),
            Counterparty::Supplier(supplier),
        ),
        (Who::NoRoles, _) => (
            Caller::new(uid(BUYER), []),
            Counterparty::Supplier(supplier),
        ),
        (Who::OtherBuyer, _) => (
            Caller::new(uid(BUYER), [Role::Buyer]),
            Counterparty::Supplier(uid(BUYER)),
        ),
        (Who::Arbiter | Who::OtherSupplier, _) => (
            Caller::new(uid(ARBITER), [Role::Arbiter]),
            Counterparty::Buyer(uid(BUYER)),
        ),
        (_, true) => (
            Caller::new(supplier, [Role::Supplier]),
            Counterparty::Buyer(uid(BUYER)),
        ),
        (_, false) => (
            Caller::new(uid(BUYER), [Role::Buyer]),
            Counterparty::Supplier(supplier),
        ),
    };
    let new = NewOrder {
        id: OrderId::parse(format!("ord_{slot}")).expect("valid order id"),
        counterparty,
        terms: spec.terms.build(world.now),
        clocks: Clocks::default(),
    };
    match Order::create(&caller, new, world.now) {
        Err(err) => rec.outcome = Outcome::Refused(err),
        Ok((order, events)) => {
            rec.after = Some(order.clone());
            world.orders[slot] = Some(order);
            rec.outcome = Outcome::Done(events);
        }
    }
    rec
}

/// The command with its order index taken modulo the number of orders.
fn on_existing_slots(cmd: &Cmd, n: usize) -> Cmd {
    let mut cmd = cmd.clone();
    match &mut cmd {
        Cmd::Create { o, .. }
        | Cmd::Amend { o, .. }
        | Cmd::Confirm { o, .. }
        | Cmd::Remind { o, .. }
        | Cmd::Cancel { o, .. }
        | Cmd::Pay { o, .. }
        | Cmd::Report { o, .. }
        | Cmd::Ship { o, .. }
        | Cmd::Record { o, .. }
        | Cmd::Receipt { o, .. }
        | Cmd::Extend { o, .. }
        | Cmd::Feedback { o, .. }
        | Cmd::Open { o, .. }
        | Cmd::Respond { o, .. }
        | Cmd::Withdraw { o, .. }
        | Cmd::Escalate { o, .. }
        | Cmd::Decide { o, .. }
        | Cmd::RefundReport { o, .. }
        | Cmd::Resolve { o, .. }
        | Cmd::ResolveRefund { o, .. }
        | Cmd::Progress { o, .. }
        | Cmd::Sweep { o: Some(o) } => *o %= n,
        Cmd::Sweep { o: None } | Cmd::Advance { .. } | Cmd::SetLimit { .. } => {}
    }
    cmd
}

/// Execute one generated command: zero or more step records.
fn exec(world: &mut World, cmd: &Cmd) -> Vec<Rec> {
    let cmd = &on_existing_slots(cmd, world.orders.len());
    let skipped = |world: &World, cmd: &Cmd| Rec {
        cmd: cmd.clone(),
        before: None,
        after: None,
        outcome: Outcome::Skipped,
        limit_failures: Vec::new(),
        credit_failures: Vec::new(),
        limit_reserved_before: world.limit.reserved(),
    };
    match cmd {
        Cmd::Progress { o, variant, aside } => {
            let concrete = progress(world, *o, *variant, *aside);
            exec(world, &concrete)
        }
        Cmd::Create { o, who } => vec![exec_create(world, *o, *who)],
        Cmd::Advance { secs } => {
            world.now += TimeDelta::seconds(*secs);
            vec![skipped(world, cmd)]
        }
        Cmd::SetLimit { permille } => {
            let rec = skipped(world, cmd);
            let new = permille_of(world.limit.limit(), *permille);
            if new < world.limit.reserved() {
                world.limit_lowered_below_reserved = true;
            }
            world.limit.set_limit(new);
            vec![rec]
        }
        Cmd::Sweep { o: None } => {
            let slots: Vec<usize> = (0..world.orders.len())
                .filter(|&slot| world.orders[slot].is_some())
                .collect();
            slots
                .into_iter()
                .map(|slot| exec_on(world, slot, &Cmd::Sweep { o: Some(slot) }))
                .collect()
        }
        Cmd::Sweep { o: Some(o) } => vec![exec_on(world, *o, cmd)],
        Cmd::Report { o, duplicate, .. } => {
            let mut recs = vec![exec_on(world, *o, cmd)];
            if *duplicate {
                recs.push(exec_on(world, *o, cmd));
            }
            recs
        }
        Cmd::Amend { o, .. }
        | Cmd::Confirm { o, .. }
        | Cmd::Remind { o, .. }
        | Cmd::Cancel { o, .. }
        | Cmd::Pay { o, .. }
        | Cmd::Ship { o, .. }
        | Cmd::Record { o, .. }
        | Cmd::Receipt { o, .. }
        | Cmd::Extend { o, .. }
        | Cmd::Feedback { o, .. }
        | Cmd::Open { o, .. }
        | Cmd::Respond { o, .. }
        | Cmd::Withdraw { o, .. }
        | Cmd::Escalate { o, .. }
        | Cmd::Decide { o, .. }
        | Cmd::RefundReport { o, .. }
        | Cmd::Resolve { o, .. }
        | Cmd::ResolveRefund { o, .. } => vec![exec_on(world, *o, cmd)],
    }
}

/// Run the scenario, calling `check` after every step with the record and
/// the world as it is after the step.
fn run(
    spec: &WorldSpec,
    cmds: &[Cmd],
    mut check: impl FnMut(&Rec, &World) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut world = World::new(spec);
    for cmd in cmds {
        for rec in exec(&mut world, cmd) {
            check(&rec, &world)?;
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // At least 256; PROPTEST_CASES raises the count for a longer search.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .map_or(256, |n| n.max(256)),
        max_shrink_iters: 4096,
        // No regression files next to the sources: a failure prints its
        // minimal input.
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    }
}

// ---- property helpers ---------------------------------------------------------

/// Σ of every refund part (requested or settled) taken from `payment`.
fn parts_of(order: &Order, payment: &PaymentId) -> Usd {
    sum(order
        .refunds()
        .iter()
        .filter(|r| &r.payment_id == payment)
        .map(|r| r.amount))
}

/// Σ of the settled refund parts of `payment`.
fn settled_parts_of(order: &Order, payment: &PaymentId) -> Usd {
    sum(order
        .refunds()
        .iter()
        .filter(|r| &r.payment_id == payment && r.status == RefundStatus::Succeeded)
        .map(|r| r.amount))
}

fn arrived(status: PaymentStatus) -> bool {
    matches!(status, PaymentStatus::Succeeded | PaymentStatus::Refunded)
}

/// What the buyer has paid and not had back or asked back, per stage: the
/// amounts of arrived payments less every refund part requested of them.
fn kept(order: &Order, stage: Stage) -> Usd {
    sum(order
        .payments()
        .iter()
        .filter(|p| p.stage == stage && arrived(p.status))
        .map(|p| p.amount.saturating_sub(parts_of(order, &p.id))))
}

/// The same for goods only: the inspection fee carried by an initial
/// payment is not paid for goods, unless a dispute refunded it (a quality
/// fault), which leaves the order going on with that fee returned. A
/// payment returned whole keeps nothing.
fn kept_for_goods(order: &Order) -> Usd {
    let cents_of = |u: Usd| i128::from(u.cents());
    let fee_refunded: i128 = order
        .past_disputes()
        .iter()
        .chain(order.dispute())
        .filter_map(|d| d.inspection_fee_refund)
        .map(cents_of)
        .sum();
    let held: i128 = order
        .payments()
        .iter()
        .filter(|p| arrived(p.status) && parts_of(order, &p.id) < p.amount)
        .map(|p| cents_of(p.amount) - cents_of(p.inspection_fee) - cents_of(parts_of(order, &p.id)))
        .sum();
    let total = (held + fee_refunded).max(0);
    cents(u64::try_from(total).expect("cents fit"))
}

fn events_of(rec: &Rec) -> &[DomainEvent] {
    match &rec.outcome {
        Outcome::Done(events) => events,
        _ => &[],
    }
}

// ---- the properties ------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// A refused command, and a command discarded because its reservation
    /// lost the race, leave the order exactly as it was; so does a command
    /// that succeeds without emitting an event.
    #[test]
    fn refused_commands_change_nothing((spec, cmds) in scenario()) {
        run(&spec, &cmds, |rec, _| {
            if let (Some(before), Some(after)) = (&rec.before, &rec.after) {
                let quiet = matches!(&rec.outcome, Outcome::Done(e) if e.is_empty());
                if quiet || matches!(rec.outcome, Outcome::Refused(_) | Outcome::Discarded) {
                    prop_assert_eq!(before, after, "{:?} -> {:?}", rec.cmd, rec.outcome);
                }
            }
            Ok(())
        })?;
    }

    /// Money is conserved.
    ///
    /// * Per payment: the refund parts ever requested of it sum to at most
    ///   its amount, and `refunded` is exactly the sum of its settled parts.
    /// * A completed order has kept (arrived less every refund part asked of
    ///   it) at most initial + inspection fee on the initial stage and at
    ///   most the balance on the balance stage, and exactly the total plus
    ///   the inspection fee once the compensations (refunds of less than
    ///   everything paid, which let the order go on) are added back.
    /// * A dispute that ends with refund `r` requests parts summing to
    ///   exactly `r` + the inspection fee refunded (due only when an arbiter
    ///   finds the supplier at fault in a quality dispute and the fee was
    ///   paid, and only once over the order's life); `r` ≤ covered amount
    ///   and `r` ≤ what the buyer had kept for goods at that moment.
    /// * Over the order, the dispute refund parts that settled sum to at
    ///   most the covered amount plus the inspection fee (the cap at what
    ///   was paid for goods is the check above, made when the refund is
    ///   agreed or decided). Parts returning a whole payment (money that
    ///   arrived on a closed order, an arbiter refunding a flagged payment)
    ///   are not refunds of the claim and each equals its payment's amount.
    #[test]
    fn money_is_conserved((spec, cmds) in scenario()) {
        run(&spec, &cmds, |rec, world| {
            for order in world.orders() {
                for p in order.payments() {
                    let asked = parts_of(order, &p.id);
                    prop_assert!(
                        asked <= p.amount,
                        "refund parts of {} sum to {} > its amount {} after {:?}\n{:#?}",
                        p.id, asked, p.amount, rec.cmd, order.refunds()
                    );
                    prop_assert_eq!(p.refunded, settled_parts_of(order, &p.id));
                }
                if order.status() == OrderStatus::Completed {
                    // What arrived and was not returned whole, plus every
                    // compensation asked back of it, is exactly the order's
                    // total with its inspection fee.
                    let terms = order.terms();
                    let compensated = sum(order
                        .refunds()
                        .iter()
                        .filter(|r| world.dispute_parts.contains(&r.id))
                        .map(|r| r.amount));
                    prop_assert_eq!(
                        add(add(kept(order, Stage::Initial), kept(order, Stage::Balance)), compensated),
                        add(terms.total(), terms.inspection_fee()),
                        "stages of completed {}", order.id()
                    );
                    prop_assert!(kept(order, Stage::Balance) <= terms.balance());
                    prop_assert!(
                        kept(order, Stage::Initial) <= add(terms.initial_payment(), terms.inspection_fee())
                    );
                }
                let settled_dispute_refunds = sum(order
                    .refunds()
                    .iter()
                    .filter(|r| r.status == RefundStatus::Succeeded && world.dispute_parts.contains(&r.id))
                    .map(|r| r.amount));
                let covered = order.coverage().covered_amount.unwrap_or(Usd::ZERO);
                prop_assert!(
                    settled_dispute_refunds <= add(covered, order.terms().inspection_fee()),
                    "{} refunded {} for a claim covered up to {}", order.id(), settled_dispute_refunds, covered
                );
                for r in order.refunds() {
                    if let Some(whole) = world.return_parts.get(&r.id) {
                        let p = order.payment(&r.payment_id);
                        prop_assert!(p.is_some_and(|p| p.amount == *whole),
                            "return part {} of {} is not the whole payment", r.id, whole);
                    }
                }
            }
            // The refund that a resolving step requests.
            let (Some(before), Some(after)) = (&rec.before, &rec.after) else { return Ok(()) };
            let events = events_of(rec);
            let Some((outcome, refund)) = events.iter().find_map(|e| match &e.body {
                EventBody::DisputeResolved { outcome, refund_amount: Some(r) } => Some((*outcome, *r)),
                _ => None,
            }) else { return Ok(()) };
            let requested = sum(events.iter().filter_map(|e| match &e.body {
                EventBody::RefundRequested { amount, attempt: 1, .. } => Some(*amount),
                _ => None,
            }));
            let dispute = after.dispute().expect("a resolved dispute");
            let fee = dispute.inspection_fee_refund.unwrap_or(Usd::ZERO);
            let initial_paid = before.payments().iter().any(|p| {
                p.stage == Stage::Initial
                    && arrived(p.status)
                    && p.amount.saturating_sub(parts_of(before, &p.id)) >= p.inspection_fee
                    && p.flag.as_ref().is_none_or(|f| f.reason != FlagReason::ClosedOrder)
            });
            // The fee is refunded once over the order's life.
            let fee_refunded_before = sum(before
                .past_disputes()
                .iter()
                .chain(before.dispute())
                .filter_map(|d| d.inspection_fee_refund));
            let fee_due = if outcome == DisputeOutcome::SupplierAtFault
                && dispute.reason == DisputeReason::Quality
                && initial_paid
            {
                before.terms().inspection_fee().saturating_sub(fee_refunded_before)
            } else {
                Usd::ZERO
            };
            prop_assert_eq!(fee, fee_due, "inspection fee refunded");
            prop_assert_eq!(requested, add(refund, fee), "parts of the refund");
            let covered = before.coverage().covered_amount.unwrap_or(Usd::ZERO);
            prop_assert!(refund <= covered, "refund {} > covered {}", refund, covered);
            let goods = kept_for_goods(before);
            prop_assert!(
                refund <= goods,
                "refund {} > {} kept for goods (amount_paid says {})\n{:#?}\n{:#?}",
                refund, goods, before.amount_paid(), before.payments(), before.refunds()
            );
            Ok(())
        })?;
    }

    /// Nothing leaves a terminal status: once `refunded`, `cancelled` or `closed`,
    /// every later command fails or leaves the status as it is, and the
    /// order holds nothing of the supplier's limit.
    #[test]
    fn terminal_statuses_are_final((spec, cmds) in scenario()) {
        run(&spec, &cmds, |rec, _| {
            if let (Some(before), Some(after)) = (&rec.before, &rec.after) {
                if before.status().is_terminal() {
                    prop_assert_eq!(before.status(), after.status(), "{:?}", rec.cmd);
                }
                if after.status().is_terminal() {
                    prop_assert!(after.coverage().reserved.is_zero(),
                        "{} is {} and still reserves {}", after.id(), after.status(), after.coverage().reserved);
                }
            }
            Ok(())
        })?;
    }

    /// The supplier's limit. After every step the limit's `reserved` equals
    /// Σ over orders of what each holds (`coverage.reserved`), every release
    /// succeeds (so nothing ever goes below zero), each order holds at most
    /// its covered amount (a live one at most what is left to cover after
    /// its compensations), and
    /// `reserved ≤ limit` — unless an arbiter lowered the limit below what
    /// was reserved, in which case no step may increase `reserved` beyond
    /// the limit.
    #[test]
    fn reservations_never_exceed_the_limit((spec, cmds) in scenario()) {
        run(&spec, &cmds, |rec, world| {
            prop_assert!(rec.limit_failures.is_empty(), "{:?}: {:?}", rec.cmd, rec.limit_failures);
            let held = sum(world.orders().map(|o| o.coverage().reserved));
            prop_assert_eq!(world.limit.reserved(), held, "after {:?}", rec.cmd);
            for o in world.orders() {
                prop_assert!(o.coverage().reserved <= o.coverage().covered_amount.unwrap_or(Usd::ZERO));
                // A compensation shrinks the reservation by what it
                // refunded: a live order never holds more than is left to
                // cover (a closing refund holds it until the parts settle).
                if !o.status().is_closed() {
                    prop_assert!(o.coverage().reserved <= o.covered_left(),
                        "{} holds {} with {} left to cover after {:?}",
                        o.id(), o.coverage().reserved, o.covered_left(), rec.cmd);
                }
            }
            if !world.limit_lowered_below_reserved {
                prop_assert!(world.limit.reserved() <= world.limit.limit());
            }
            if world.limit.reserved() > rec.limit_reserved_before {
                prop_assert!(world.limit.reserved() <= world.limit.limit(),
                    "{:?} reserved {} of a limit of {}", rec.cmd, world.limit.reserved(), world.limit.limit());
            }
            Ok(())
        })?;
    }

    /// A payment's status never regresses: its rank never decreases, and
    /// `succeeded` never becomes `failed`. `failed` becomes `succeeded` only
    /// when an arbiter resolves a flagged payment whose money did arrive
    /// after it failed or expired (`resolve_payment`: `Refund` holds the
    /// money, then returns it; `Accept` applies it while its stage still
    /// waits). Payments are never removed. Nor does a payment's flag about
    /// money (`FlagReason::is_about_money`) ever give way to one about an
    /// event or a date: it stays until an arbiter resolves it, or becomes
    /// `closed_order` when its money arrives on a closed order.
    #[test]
    fn payment_status_never_regresses((spec, cmds) in scenario()) {
        run(&spec, &cmds, |rec, _| {
            let (Some(before), Some(after)) = (&rec.before, &rec.after) else { return Ok(()) };
            for p in before.payments() {
                let q = after.payment(&p.id);
                prop_assert!(q.is_some(), "payment {} vanished", p.id);
                let q = q.expect("checked");
                prop_assert!(q.status.rank() >= p.status.rank(),
                    "{}: {:?} -> {:?} by {:?}", p.id, p.status, q.status, rec.cmd);
                prop_assert!(!(p.status == PaymentStatus::Succeeded && q.status == PaymentStatus::Failed),
                    "{}: succeeded -> failed by {:?}", p.id, rec.cmd);
                if p.status == PaymentStatus::Failed && q.status == PaymentStatus::Succeeded {
                    prop_assert!(matches!(rec.cmd, Cmd::Resolve { .. }),
                        "{}: failed -> succeeded by {:?}", p.id, rec.cmd);
                }
                let (was, is) = (p.flag.as_ref().map(|f| f.reason), q.flag.as_ref().map(|f| f.reason));
                if let Some(money) = was.filter(|r| r.is_about_money()) {
                    let resolved = matches!(rec.cmd, Cmd::Resolve { .. });
                    prop_assert!(is == Some(money) || is == Some(FlagReason::ClosedOrder) || resolved,
                        "{}: a flag about money ({:?}) became {:?} by {:?}", p.id, money, is, rec.cmd);
                }
            }
            Ok(())
        })?;
    }

    /// Every observed status change is a row of `status::TRANSITIONS` made
    /// by an actor the row allows; creation is the `None → awaiting
    /// confirmation` row (a refund that settles in the change starting it
    /// goes through refund_pending: two rows). The version goes up by exactly 1 on every
    /// successful command that emits events, and not at all on a refused,
    /// discarded or silent one, nor on a reminder; the revision goes up by
    /// exactly 1 on every successful command that emits events, a reminder
    /// included. No command is ever
    /// refused with `IllegalTransition`: the guards refuse first.
    #[test]
    fn status_changes_follow_the_table((spec, cmds) in scenario()) {
        run(&spec, &cmds, |rec, _| {
            if let Outcome::Refused(err) = &rec.outcome {
                prop_assert!(!matches!(err, OrderError::IllegalTransition { .. }),
                    "{:?} was refused with {}", rec.cmd, err);
            }
            let events = events_of(rec);
            match (&rec.before, &rec.after) {
                (None, Some(after)) => {
                    prop_assert_eq!(after.version(), 1);
                    let kind = events.first().map(|e| e.actor.kind());
                    prop_assert!(status::TRANSITIONS.iter().any(|t| t.from.is_none()
                        && t.to == after.status()
                        && kind.is_some_and(|k| t.who.contains(&k))));
                }
                (Some(before), Some(after)) => {
                    if before.status() != after.status() {
                        let kinds: BTreeSet<String> = events.iter().map(|e| e.actor.kind().to_string()).collect();
                        prop_assert_eq!(kinds.len(), 1, "one actor per change");
                        let kind = events[0].actor.kind();
                        let row = status::TRANSITIONS.iter().find(|t| {
                            t.from == Some(before.status()) && t.to == after.status() && t.who.contains(&kind)
                        });
                        // A refund with nothing left outstanding (say, not
                        // shipped after a compensation refunded the whole
                        // cover) settles in the change that starts it: two
                        // rows, through refund_pending, by the same actor.
                        let through_refund_pending = after.status() == OrderStatus::Refunded
                            && status::TRANSITIONS.iter().any(|t| {
                                t.from == Some(before.status())
                                    && t.to == OrderStatus::RefundPending
                                    && t.who.contains(&kind)
                            })
                            && status::TRANSITIONS.iter().any(|t| {
                                t.from == Some(OrderStatus::RefundPending)
                                    && t.to == OrderStatus::Refunded
                                    && t.who.contains(&kind)
                            });
                        prop_assert!(row.is_some() || through_refund_pending,
                            "{} -> {} by {} ({:?}) is not in the table",
                            before.status(), after.status(), kind, rec.cmd);
                        if let Some(row) = row {
                            prop_assert!(status::is_allowed(before.status(), after.status(), row.action));
                        }
                        // The sweep only ends an order, sends a stage back to
                        // waiting for its payment, or confirms receipt for
                        // the buyer.
                        prop_assert!(kind != ActorKind::Scheduler || matches!(
                            after.status(),
                            OrderStatus::Cancelled
                                | OrderStatus::Closed
                                | OrderStatus::RefundPending
                                | OrderStatus::Refunded
                                | OrderStatus::Completed
                                | OrderStatus::AwaitingInitialPayment
                                | OrderStatus::Shipped
                        ), "the scheduler moved {} to {}", before.status(), after.status());
                    }
                    let expected = match &rec.outcome {
                        Outcome::Done(e) if !e.is_empty() && !matches!(rec.cmd, Cmd::Remind { .. }) => before.version() + 1,
                        _ => before.version(),
                    };
                    prop_assert_eq!(after.version(), expected, "{:?} -> {:?}", rec.cmd, rec.outcome);
                    // The stored revision counts every stored change, a
                    // reminder too.
                    let expected = match &rec.outcome {
                        Outcome::Done(e) if !e.is_empty() => before.revision() + 1,
                        _ => before.revision(),
                    };
                    prop_assert_eq!(after.revision(), expected, "{:?} -> {:?}", rec.cmd, rec.outcome);
                    if let Outcome::Done(e) = &rec.outcome {
                        for ev in e {
                            prop_assert_eq!(ev.status, after.status());
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
    }

    /// The scheduled sweep works only on orders that are due: a sweep that
    /// changes an order at `now` found the order's `next_sweep_due()` (what
    /// the sparse "due" index is keyed by) at or before `now`, so an index
    /// that visits only due orders misses nothing. A second sweep at the
    /// same instant finds nothing left to do.
    #[test]
    fn sweep_works_only_when_due((spec, cmds) in scenario()) {
        run(&spec, &cmds, |rec, world| {
            let (Some(before), Some(after)) = (&rec.before, &rec.after) else { return Ok(()) };
            if !matches!(rec.cmd, Cmd::Sweep { .. }) {
                return Ok(());
            }
            if !events_of(rec).is_empty() {
                let due = before.next_sweep_due();
                prop_assert!(due.is_some_and(|d| d <= world.now),
                    "the sweep at {} changed {} whose next_sweep_due was {:?}: {:?}",
                    world.now, before.id(), due, events_of(rec).iter().map(|e| e.body.detail_type()).collect::<Vec<_>>());
            }
            let mut again = after.clone();
            let second = again.sweep(world.now);
            prop_assert!(matches!(&second, Ok(e) if e.is_empty()), "second sweep: {:?}", second);
            prop_assert_eq!(&again, after);
            Ok(())
        })?;
    }

    /// The buyer's Pay Later credit line. Credit is reserved when a Pay
    /// Later payment is initiated, released when it fails, and released by
    /// each settled refund part of it. So after every step:
    ///
    /// `credit.reserved` = Σ over the buyer's Pay Later payments that have
    /// never failed, or failed (or expired) and were accepted late by an
    /// arbiter (who reserves their credit again), of (amount − refunded),
    ///
    /// every `CreditReserved` / `CreditReleased` applies (reservations were
    /// checked by eligibility against the same line; a release never
    /// exceeds what is reserved), and `reserved ≤ limit` (available never
    /// below zero).
    #[test]
    fn credit_line_matches_pay_later_payments((spec, cmds) in scenario()) {
        run(&spec, &cmds, |rec, world| {
            prop_assert!(rec.credit_failures.is_empty(), "{:?}: {:?}", rec.cmd, rec.credit_failures);
            let outstanding = sum(world
                .orders()
                .filter(|o| o.buyer_id() == &world.credit.buyer_id)
                .flat_map(|o| o.payments())
                .filter(|p| matches!(p.method, PaymentMethod::PayLater { .. }))
                .filter(|p| !world.ever_failed.contains(&p.id) || world.accepted_late.contains(&p.id))
                .map(|p| p.amount.saturating_sub(p.refunded)));
            prop_assert_eq!(world.credit.reserved(), outstanding, "after {:?}", rec.cmd);
            prop_assert!(world.credit.reserved() <= world.credit.limit());
            Ok(())
        })?;
    }

    /// Every order ends, or waits for an arbiter. After any scenario, with
    /// the parties and the providers silent from then on, sweeping each
    /// order whenever the due index says it is due (every such sweep has
    /// work to do) leaves every order finished or waiting for an arbiter,
    /// who alone can move it then: no payment is still in flight, none that
    /// failed holds Pay Later credit, and the limit holds exactly what the
    /// orders hold, nothing for a finished one.
    #[test]
    fn an_order_nobody_acts_on_any_more_ends_or_waits_for_an_arbiter((spec, cmds) in scenario()) {
        let mut world = World::new(&spec);
        for cmd in &cmds {
            exec(&mut world, cmd);
        }
        sweep_while_due(&mut world)?;
        for o in world.orders() {
            prop_assert!(o.is_finished() || o.awaits_arbiter(),
                "{} is {} with no deadline and nothing for an arbiter: {:?}",
                o.id(), o.status(), o.deadlines());
            prop_assert_eq!(o.next_sweep_due(), None, "{} {}", o.id(), o.status());
            prop_assert!(!o.payment_in_flight(), "{}", o.id());
            if o.is_finished() {
                prop_assert!(o.coverage().reserved.is_zero(), "{} {}", o.id(), o.status());
            }
            for p in o.payments() {
                if p.status == PaymentStatus::Failed {
                    prop_assert!(p.credit_held.is_zero(), "{} of {} holds credit", p.id, o.id());
                }
            }
        }
        let held = sum(world.orders().map(|o| o.coverage().reserved));
        prop_assert_eq!(world.limit.reserved(), held);
        let credit = sum(world.orders().flat_map(|o| o.payments()).map(|p| p.credit_held));
        prop_assert_eq!(world.credit.reserved(), credit);
    }

    /// Every order ends. As above, and once an arbiter also acts on all
    /// that awaits them (rejects escalated claims, accepts or refunds
    /// flagged payments, settles flagged refund parts outside), every order
    /// is finished with nothing left to sweep or to resolve, nothing
    /// reserved of the supplier's limit and no Pay Later credit held by a
    /// payment that failed or was refunded.
    #[test]
    fn every_order_ends_once_an_arbiter_acts_on_what_awaits_them((spec, cmds) in scenario()) {
        let mut world = World::new(&spec);
        for cmd in &cmds {
            exec(&mut world, cmd);
        }
        sweep_while_due(&mut world)?;
        for _ in 0..20 {
            if world.orders().all(|o| o.is_finished() && !o.awaits_arbiter()) {
                break;
            }
            arbiter_acts(&mut world);
            sweep_while_due(&mut world)?;
        }
        for o in world.orders() {
            prop_assert!(o.is_finished() && !o.awaits_arbiter(),
                "{} is {} (awaits an arbiter: {}) after the arbiter and the sweeps: {:?}",
                o.id(), o.status(), o.awaits_arbiter(),
                o.payments().iter().map(|p| (&p.id, p.status, &p.flag)).collect::<Vec<_>>());
            prop_assert_eq!(o.next_sweep_due(), None, "{} {}", o.id(), o.status());
            prop_assert!(!o.payment_in_flight(), "{}", o.id());
            for p in o.payments() {
                if matches!(p.status, PaymentStatus::Failed | PaymentStatus::Refunded) {
                    prop_assert!(p.credit_held.is_zero(), "{} of {} holds credit", p.id, o.id());
                }
            }
        }
        prop_assert_eq!(world.limit.reserved(), Usd::ZERO);
        let held = sum(world.orders().flat_map(|o| o.payments()).map(|p| p.credit_held));
        prop_assert_eq!(world.credit.reserved(), held);
    }
}

// ---- liveness helpers -------------------------------------------------------------

/// Sweep the order that is due first, at its due instant, until no order has
/// a due instant left. Every such sweep must change the order, and every
/// effect must apply.
fn sweep_while_due(world: &mut World) -> Result<(), TestCaseError> {
    for _ in 0..2_000 {
        let next = (0..world.orders.len())
            .filter_map(|slot| Some((world.order(slot)?.next_sweep_due()?, slot)))
            .min();
        let Some((due, slot)) = next else {
            return Ok(());
        };
        world.now = world.now.max(due);
        let rec = exec_on(world, slot, &Cmd::Sweep { o: Some(slot) });
        prop_assert!(rec.limit_failures.is_empty(), "{:?}", rec.limit_failures);
        prop_assert!(rec.credit_failures.is_empty(), "{:?}", rec.credit_failures);
        prop_assert!(
            matches!(&rec.outcome, Outcome::Done(e) if !e.is_empty()),
            "the sweep of ord_{} at its due instant {} did nothing: {:?}\n{:#?}",
            slot,
            due,
            rec.outcome,
            rec.before
        );
    }
    Err(TestCaseError::fail("the sweeps never ended"))
}

/// An arbiter acts on everything that awaits one: rejects escalated claims,
/// accepts flagged payments (or refunds those that cannot be accepted) and
/// settles flagged refund parts as returned outside the platform.
fn arbiter_acts(world: &mut World) {
    for slot in 0..world.orders.len() {
        for _ in 0..20 {
            let Some(order) = world.order(slot) else {
                break;
            };
            let escalated = order
                .open_dispute()
                .is_some_and(|d| d.status == DisputeStatus::Escalated);
            let flagged_payment = order.payments().iter().any(|p| p.flag.is_some());
            let flagged_part = order.refunds().iter().any(|r| r.flagged);
            let mut tries = Vec::new();
            if escalated {
                tries.push(Cmd::Decide {
                    o: slot,
                    who: Who::Right,
                    at_fault_permille: None,
                });
            }
            if flagged_payment {
                for refund in [false, true] {
                    tries.push(Cmd::Resolve {
                        o: slot,
                        who: Who::Right,
                        from_end: 0,
                        refund,
                    });
                }
            }
            if flagged_part {
                tries.push(Cmd::ResolveRefund {
                    o: slot,
                    who: Who::Right,
                    part: 0,
                    retry: false,
                });
            }
            let acted = tries
                .iter()
                .any(|cmd| matches!(exec_on(world, slot, cmd).outcome, Outcome::Done(_)));
            if !acted {
                break;
            }
        }
    }
}

// ---- the generators reach deep states ---------------------------------------

/// The scenarios are only as good as the states they reach: over a fixed
/// sample, every status, every dispute outcome, every payment flag, a lost
/// reservation race, the sweep's cancellation and Pay Later credit moving
/// both ways all occur. A change to the domain that silently makes the
/// generators shallow fails here.
#[test]
fn scenarios_reach_every_state() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for _ in 0..256 {
        let (spec, cmds) = scenario()
            .new_tree(&mut runner)
            .expect("a scenario")
            .current();
        run(&spec, &cmds, |rec, _| {
            if let Some(after) = &rec.after {
                seen.insert(format!("status {}", after.status()));
            }
            if matches!(rec.outcome, Outcome::Discarded) {
                seen.insert("race lost".to_owned());
            }
            for e in events_of(rec) {
                seen.insert(e.body.detail_type().to_owned());
                match &e.body {
                    EventBody::DisputeResolved { outcome, .. } => {
                        seen.insert(format!("dispute {outcome:?}"));
                    }
                    EventBody::PaymentFlagged { reason, .. } => {
                        seen.insert(format!("flag {reason:?}"));
                    }
                    EventBody::OrderCancelled { reason } => {
                        seen.insert(format!("cancel {reason:?}"));
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .expect("no check");
    }
    let mut wanted: Vec<String> = OrderStatus::ALL
        .iter()
        .map(|s| format!("status {s}"))
        .collect();
    wanted.extend(
        [
            "race lost",
            "dispute Agreed",
            "dispute SupplierAtFault",
            "dispute ClaimRejected",
            "dispute Withdrawn",
            "flag AmountMismatch",
            "flag CurrencyMismatch",
            "flag ContradictsFinalStatus",
            "flag ClosedOrder",
            "flag Overdue",
            "flag WrongProvider",
            "cancel ByParty",
            "cancel Unpaid",
            "CreditReserved",
            "CreditReleased",
            "DisputeEscalated",
            "PaymentFlagResolved",
            "RefundFailed",
            "OrderRefunded",
            "FeedbackLeft",
            "CustomsCleared",
            // The clocks of "every order ends".
            "cancel NotConfirmed",
            "PaymentExpired",
            "OrderClosed",
            "NotShippedRefundStarted",
            "ReceiptAutoConfirmationDue",
            "flag BeyondCoverage",
            "RefundFlagged",
            "RefundResolved",
            "ReceiptExtended",
        ]
        .map(str::to_owned),
    );
    let missing: Vec<&String> = wanted.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(missing.is_empty(), "never reached: {missing:?}");
}

// ---- regressions ------------------------------------------------------------------
//
// Minimal reproductions of the bugs the properties found, now fixed.

struct Bench {
    now: Timestamp,
    buyer: Caller,
    supplier: Caller,
    arbiter: Caller,
    limit: AssuranceLimit,
    credit: CreditLine,
}

impl Bench {
    fn new() -> Bench {
        let now = base_time();
        let mut credit = CreditLine::apply(
            uid(BUYER),
            ApplicationId::parse("app_1").expect("valid id"),
            now,
        );
        credit
            .approve(domain::usd!("5000.00"), now)
            .expect("approve");
        Bench {
            now,
            buyer: Caller::new(uid(BUYER), [Role::Buyer]),
            supplier: Caller::new(uid(SUPPLIER), [Role::Supplier]),
            arbiter: Caller::new(uid(ARBITER), [Role::Arbiter]),
            limit: AssuranceLimit::new(uid(SUPPLIER), domain::usd!("10000.00")),
            credit,
        }
    }

    /// A confirmed order: total $1000.00, initial $300.00, ship-by in 3 days.
    fn confirmed_order(&mut self, coverage: CoverageType) -> Order {
        let terms = TermsSpec {
            items: vec![(10, 10_000)],
            shipping_cents: 0,
            initial_permille: 300,
            ship_by_days: 3,
            coverage,
            inspection: None,
        }
        .build(self.now);
        let (mut order, _) = Order::create(
            &self.buyer,
            NewOrder {
                id: OrderId::parse("ord_1").expect("valid id"),
                counterparty: Counterparty::Supplier(uid(SUPPLIER)),
                terms,
                clocks: Clocks::default(),
            },
            self.now,
        )
        .expect("create");
        let events = order
            .confirm(&self.supplier, 1, &self.limit, self.now)
            .expect("confirm");
        self.apply(&events);
        order
    }

    /// Apply events as the application layer does; every effect must apply.
    fn apply(&mut self, events: &[DomainEvent]) {
        let failures =
            apply_to(&mut self.limit, &mut self.credit, events).expect("reservation applies");
        assert!(failures.limit.is_empty(), "{:?}", failures.limit);
        assert!(failures.credit.is_empty(), "{:?}", failures.credit);
    }

    fn pay(&mut self, order: &mut Order, id: &PaymentId, method: PaymentMethod) {
        let events = order
            .initiate_payment(
                &self.buyer,
                PaymentRequest {
                    id: id.clone(),
                    stage: Stage::Initial,
                    method,
                },
                PaymentContext {
                    credit_line: Some(&self.credit),
                    receiving_account: None,
                },
                self.now,
            )
            .expect("pay");
        self.apply(&events);
    }

    fn report(&mut self, order: &mut Order, id: &PaymentId, signal: PaymentSignal, amount: Usd) {
        let provider = order.payment(id).expect("known payment").provider();
        let events = order
            .apply_payment_report(
                provider,
                PaymentReport {
                    payment_id: id.clone(),
                    signal,
                    confirmed: Some((amount, "USD".to_owned())),
                    provider_reference: None,
                },
                self.now,
            )
            .expect("report");
        self.apply(&events);
    }
}

/// An arbiter refunds a Pay Later payment that had failed and whose money
/// then arrived anyway. Its credit went back to the line when it failed;
/// the settled refund must not release it a second time (that ate the
/// reservation of another Pay Later payment, here the buyer's second attempt).
#[test]
fn an_arbiter_refund_of_a_failed_pay_later_payment_does_not_release_its_credit_twice() {
    let mut b = Bench::new();
    let mut order = b.confirmed_order(CoverageType::PreShipment);
    let paylater = PaymentMethod::PayLater { term_months: 3 };
    let first = PaymentId::parse("pay_1").expect("valid id");
    let second = PaymentId::parse("pay_2").expect("valid id");
    let amount = domain::usd!("300.00");

    b.pay(&mut order, &first, paylater.clone());
    b.report(&mut order, &first, PaymentSignal::Failed, amount);
    assert_eq!(b.credit.reserved(), Usd::ZERO);
    b.pay(&mut order, &second, paylater);
    assert_eq!(b.credit.reserved(), amount);
    // The first payment's money arrives after all: flagged, then refunded.
    b.report(&mut order, &first, PaymentSignal::Succeeded, amount);
    let events = order
        .resolve_payment(&b.arbiter, &first, FlagResolution::Refund, b.now)
        .expect("resolve");
    b.apply(&events);
    let part = order.refunds()[0].clone();
    let events = order
        .apply_refund_report(
            part.provider,
            RefundReport {
                refund_id: part.id,
                succeeded: true,
                amount: Some(part.amount),
            },
            b.now,
        )
        .expect("refund report");
    b.apply(&events);

    // The second payment still holds its credit.
    assert_eq!(b.credit.reserved(), amount, "events: {events:#?}");
}

/// An arbiter refunds a flagged payment that is still in flight; the buyer
/// pays the stage again; a dispute then ends with a refund. While the first
/// payment's return has not settled, `amount_paid()` used to count it and
/// `split_newest_first` to find it refundable, so the dispute refund was
/// taken from it a second time: the buyer got back more than they paid.
#[test]
fn a_payment_being_returned_is_not_refunded_again_by_a_dispute() {
    let mut b = Bench::new();
    let mut order = b.confirmed_order(CoverageType::PostDelivery);
    let card = PaymentMethod::CreditCard {
        card_brand: CardBrand::Visa,
    };
    let first = PaymentId::parse("pay_1").expect("valid id");
    let second = PaymentId::parse("pay_2").expect("valid id");
    let initial = domain::usd!("300.00");

    b.pay(&mut order, &first, card.clone());
    // A confirmation for the wrong amount: flagged, not applied.
    b.report(
        &mut order,
        &first,
        PaymentSignal::Succeeded,
        domain::usd!("300.01"),
    );
    let events = order
        .resolve_payment(&b.arbiter, &first, FlagResolution::Refund, b.now)
        .expect("resolve");
    b.apply(&events);
    assert_eq!(order.status(), OrderStatus::AwaitingInitialPayment);
    b.pay(&mut order, &second, card);
    b.report(&mut order, &second, PaymentSignal::Succeeded, initial);
    assert_eq!(order.status(), OrderStatus::AwaitingShipment);

    b.now += TimeDelta::days(5);
    // The buyer has $300.00 in (the first $300.00 is on its way back).
    let claim = order.amount_paid();
    let opened = order.raise_dispute(
        &b.buyer,
        OpenDispute {
            reason: DisputeReason::LateShipment,
            requested_refund: claim,
            description: long("not shipped"),
            evidence: Vec::new(),
        },
        b.now,
    );
    if opened.is_ok() {
        let _ = order.respond_dispute(
            &b.supplier,
            DisputeResponse {
                action: ResponseAction::Accept,
                message: None,
                evidence: Vec::new(),
            },
            b.now,
        );
    }
    let asked_of_first = parts_of(&order, &first);
    assert!(
        asked_of_first <= initial,
        "refund parts of pay_1 sum to {asked_of_first} (its amount is {initial}); amount_paid() said {claim}; parts: {:#?}",
        order.refunds()
    );
}

/// A provider's `payment.failed` for a payment that has already been
/// refunded in full contradicts a final status: the payment is flagged for
/// an arbiter. Nothing is left to do with its money, so accepting the flag
/// ("let it stand") must clear it. Found by
/// `every_order_ends_once_an_arbiter_acts_on_what_awaits_them`: both
/// resolutions were refused and the order awaited an arbiter for ever.
#[test]
fn an_arbiter_can_clear_a_flag_raised_on_a_refunded_payment() {
    let mut b = Bench::new();
    let mut order = b.confirmed_order(CoverageType::PreShipment);
    let card = PaymentMethod::CreditCard {
        card_brand: CardBrand::Visa,
    };
    let id = PaymentId::parse("pay_1").expect("valid id");
    let initial = domain::usd!("300.00");
    b.pay(&mut order, &id, card);
    b.report(&mut order, &id, PaymentSignal::Succeeded, initial);
    // Everything paid comes back: a closing refund, settled.
    let events = order
        .raise_dispute(
            &b.buyer,
            OpenDispute {
                reason: DisputeReason::Quality,
                requested_refund: initial,
                description: long("broken"),
                evidence: Vec::new(),
            },
            b.now,
        )
        .expect("open");
    b.apply(&events);
    let events = order
        .respond_dispute(
            &b.supplier,
            DisputeResponse {
                action: ResponseAction::Accept,
                message: None,
                evidence: Vec::new(),
            },
            b.now,
        )
        .expect("accept");
    b.apply(&events);
    let part = order.refunds()[0].clone();
    let events = order
        .apply_refund_report(
            part.provider,
            RefundReport {
                refund_id: part.id,
                succeeded: true,
                amount: Some(part.amount),
            },
            b.now,
        )
        .expect("settled");
    b.apply(&events);
    assert_eq!(order.status(), OrderStatus::Refunded);
    assert_eq!(
        order.payment(&id).map(|p| p.status),
        Some(PaymentStatus::Refunded)
    );
    // A contradicting event: flagged.
    b.report(&mut order, &id, PaymentSignal::Failed, initial);
    assert!(order.awaits_arbiter());
    let accepted = order.resolve_payment(&b.arbiter, &id, FlagResolution::Accept, b.now);
    let refunded = order.resolve_payment(&b.arbiter, &id, FlagResolution::Refund, b.now);
    assert!(
        accepted.is_ok() || refunded.is_ok(),
        "accept: {accepted:?}; refund: {refunded:?}"
    );
    assert!(!order.awaits_arbiter(), "the flag is cleared");
}
