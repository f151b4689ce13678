//! Table-driven boundary tests of every numeric rule (docs/rules.md):
//! each table puts the last value a rule allows next to the first it refuses,
//! and names every case in its assertion message.

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use rust_decimal::Decimal;

use domain::calendar::{ArrivalWindow, add_working_days, end_of_day};
use domain::clocks::Clocks;
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, MAX_LINE_ITEMS, Terms, TermsDraft,
    TermsError,
};
use domain::coverage::{
    AssuranceLimit, CoverageType, LimitError, ReceivingAccount, covered_amount, quality_window_end,
};
use domain::deadline::DeadlineKind;
use domain::dispute::{
    Dispute, DisputeEntry, DisputePolicy, DisputeReason, DisputeStatus, EntryKind, EscalationGround,
};
use domain::error::{ErrorKind, Rule};
use domain::event::{CancelReason, EventBody};
use domain::feedback::{Rating, RatingSummary};
use domain::ids::{ApplicationId, OrderId, PaymentId, UserId};
use domain::order::{
    Counterparty, EndReason, NewOrder, OpenDispute, PaymentReport, PaymentRequest, ShipmentDetails,
};
use domain::payment::{
    AccountType, CardBrand, CreditError, CreditLine, CreditLineStatus, FailureReason, FlagReason,
    MethodKind, PaymentContext, PaymentMethod, PaymentRule, PaymentSignal, Stage,
    check_eligibility,
};
use domain::text::{CountryCode, DocumentRef, HttpsUrl, LongText, ShortText, TextError};
use domain::{
    Actor, Caller, Currency, Money, MoneyError, Order, OrderError, OrderStatus, Provider, Role,
    Timestamp, Usd, usd,
};

// ---- helpers ----------------------------------------------------------------

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("a valid UTC instant")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn uid(s: &str) -> UserId {
    UserId::parse(s).expect("a valid user id")
}

fn short(s: &str) -> ShortText {
    ShortText::parse(s).expect("valid short text")
}

fn long(s: &str) -> LongText {
    LongText::parse(s).expect("valid long text")
}

fn buyer() -> Caller {
    Caller::new(uid("b-1"), [Role::Buyer])
}

fn supplier() -> Caller {
    Caller::new(uid("s-1"), [Role::Supplier])
}

fn receiving_account() -> ReceivingAccount {
    ReceivingAccount {
        bank_name: short("Bank of Hangzhou"),
        account_name: short("Supplier Ltd"),
        account_number: short("6222000011112222"),
        swift: short("HZCBCN2H"),
    }
}

fn approved_line(limit: Usd, reserved: Usd) -> CreditLine {
    let mut line = CreditLine::apply(
        uid("b-1"),
        ApplicationId::parse("app_1").expect("valid application id"),
        at(2025, 1, 1, 0, 0, 0),
    );
    line.approve(limit, at(2025, 1, 2, 0, 0, 0))
        .expect("approvable");
    if !reserved.is_zero() {
        line.reserve(reserved).expect("reservable");
    }
    line
}

fn card(brand: &str) -> PaymentMethod {
    PaymentMethod::CreditCard {
        card_brand: CardBrand::parse(brand),
    }
}

/// The ship-by date of every order below: Friday 14 March 2025.
fn ship_by() -> NaiveDate {
    date(2025, 3, 14)
}

fn draft(items: &[(u32, Usd)], shipping_fee: Usd, initial_payment: Usd) -> TermsDraft {
    TermsDraft {
        items: items
            .iter()
            .enumerate()
            .map(|(i, (quantity, unit_price))| LineItem {
                description: short(&format!("item {i}")),
                quantity: *quantity,
                unit_price: *unit_price,
            })
            .collect(),
        shipping_fee,
        initial_payment,
        ship_by: ship_by(),
        quality_terms: long("as in the sample"),
        destination_country: CountryCode::US,
        coverage: CoverageType::PreShipment,
        inspection: None,
        contract_document: None,
    }
}

// ---- an order driven through its lifecycle ------------------------------------

/// What the order under test looks like. The default is the reference example:
/// 10 × 250.00 + 4 × 112.50 + 50.00 shipping = 3000.00, initial 1500.00,
/// pre-shipment, a supplier limit of 100000.00, no inspection.
#[derive(Clone)]
struct Spec {
    items: Vec<(u32, Usd)>,
    shipping_fee: Usd,
    initial: Usd,
    coverage: CoverageType,
    limit: AssuranceLimit,
    inspection: Option<Inspection>,
    ship_by: NaiveDate,
}

fn spec() -> Spec {
    Spec {
        items: vec![(10, usd!("250.00")), (4, usd!("112.50"))],
        shipping_fee: usd!("50.00"),
        initial: usd!("1500.00"),
        coverage: CoverageType::PreShipment,
        limit: AssuranceLimit::new(uid("s-1"), usd!("100000.00")),
        inspection: None,
        ship_by: ship_by(),
    }
}

impl Spec {
    fn post_delivery(mut self) -> Self {
        self.coverage = CoverageType::PostDelivery;
        self
    }
    fn limit(mut self, limit: Usd) -> Self {
        self.limit = AssuranceLimit::new(uid("s-1"), limit);
        self
    }
    fn inspection(mut self, location: InspectionLocation) -> Self {
        self.inspection = Some(Inspection {
            agency: InspectionAgency::Sgs,
            location,
        });
        self
    }
    fn terms(&self) -> Result<Terms, TermsError> {
        let mut d = draft(&self.items, self.shipping_fee, self.initial);
        d.coverage = self.coverage;
        d.inspection = self.inspection;
        d.ship_by = self.ship_by;
        Terms::new(d)
    }
}

/// Monday 3 March 2025, 09:00 UTC: the order is created.
fn created_at() -> Timestamp {
    at(2025, 3, 3, 9, 0, 0)
}
fn confirmed_at() -> Timestamp {
    created_at() + hours(1)
}
fn initial_paid_at() -> Timestamp {
    created_at() + hours(2)
}
fn initial_arrived_at() -> Timestamp {
    created_at() + hours(3)
}
/// Monday 10 March 2025, 10:00 UTC: shipped, on time.
fn shipped_at() -> Timestamp {
    at(2025, 3, 10, 10, 0, 0)
}
fn completed_at() -> Timestamp {
    at(2025, 3, 20, 12, 0, 0)
}

fn pay(o: &mut Order, id: &str, stage: Stage, now: Timestamp) {
    o.initiate_payment(
        &buyer(),
        PaymentRequest {
            id: PaymentId::parse(id).expect("valid payment id"),
            stage,
            method: card("visa"),
        },
        PaymentContext::default(),
        now,
    )
    .expect("payment initiated");
}

fn arrive(o: &mut Order, id: &str, now: Timestamp) {
    let payment_id = PaymentId::parse(id).expect("valid payment id");
    let amount = o.payment(&payment_id).expect("payment exists").amount;
    o.apply_payment_report(
        Provider::Card,
        PaymentReport {
            payment_id,
            signal: PaymentSignal::Succeeded,
            confirmed: Some((amount, "USD".into())),
            provider_reference: None,
        },
        now,
    )
    .expect("payment report applied");
}

fn shipment(shipped_at: Option<Timestamp>) -> ShipmentDetails {
    ShipmentDetails {
        carrier: short("DHL"),
        tracking_number: short("JD0123456789"),
        shipped_at,
    }
}

/// Drive an order made from `spec` to `target` along the happy path (card
/// payments, shipment at [`shipped_at`], receipt at [`completed_at`]).
fn drive(spec: &Spec, target: OrderStatus) -> Order {
    let new = NewOrder {
        id: OrderId::parse("ord_1").expect("valid order id"),
        counterparty: Counterparty::Supplier(uid("s-1")),
        terms: spec.terms().expect("valid terms"),
        clocks: Clocks::default(),
    };
    let (mut o, _) = Order::create(&buyer(), new, created_at()).expect("created");
    while o.status() != target {
        match o.status() {
            OrderStatus::AwaitingConfirmation => {
                let version = o.version();
                o.confirm(&supplier(), version, &spec.limit, confirmed_at())
                    .expect("confirmed");
            }
            OrderStatus::AwaitingInitialPayment => {
                pay(&mut o, "pay_initial", Stage::Initial, initial_paid_at())
            }
            OrderStatus::InitialPaymentProcessing => {
                arrive(&mut o, "pay_initial", initial_arrived_at())
            }
            OrderStatus::AwaitingShipment => {
                o.ship(&supplier(), shipment(Some(shipped_at())), shipped_at())
                    .expect("shipped");
            }
            OrderStatus::Shipped => pay(
                &mut o,
                "pay_balance",
                Stage::Balance,
                shipped_at() + hours(1),
            ),
            OrderStatus::BalancePaymentProcessing => {
                arrive(&mut o, "pay_balance", shipped_at() + hours(2))
            }
            OrderStatus::AwaitingReceiptConfirmation => {
                o.confirm_receipt(&buyer(), completed_at())
                    .expect("receipt confirmed");
            }
            other => panic!("the builder cannot reach {target} from {other}"),
        }
    }
    o
}

fn claim(reason: DisputeReason, amount: Usd) -> OpenDispute {
    OpenDispute {
        reason,
        requested_refund: amount,
        description: long("not as agreed"),
        evidence: Vec::new(),
    }
}

fn rule(e: OrderError) -> Rule {
    match e {
        OrderError::Rule(r) => r,
        other => panic!("expected a rule refusal, got {other:?}"),
    }
}

// ---- money ----------------------------------------------------------------------

#[test]
fn usd_parse_accepts_at_most_2_places_up_to_999999999999_99_and_refuses_everything_else() {
    let cases: &[(&str, Result<&str, MoneyError>)] = &[
        ("0", Ok("0.00")),
        ("0.00", Ok("0.00")),
        ("0.01", Ok("0.01")),
        ("1500", Ok("1500.00")),
        ("1500.5", Ok("1500.50")),
        ("1500.50", Ok("1500.50")),
        ("999999999999.99", Ok("999999999999.99")),
        ("1500.001", Err(MoneyError::TooPrecise)),
        ("1500.000", Err(MoneyError::TooPrecise)),
        ("0.001", Err(MoneyError::TooPrecise)),
        ("-1", Err(MoneyError::Negative)),
        ("-0.01", Err(MoneyError::Negative)),
        ("1000000000000.00", Err(MoneyError::TooLarge)),
        ("1000000000000", Err(MoneyError::TooLarge)),
        (
            "99999999999999999999999999999999999",
            Err(MoneyError::TooLarge),
        ),
        ("", Err(MoneyError::Empty)),
        ("abc", Err(MoneyError::Malformed)),
        ("1e3", Err(MoneyError::Malformed)),
        (" 1", Err(MoneyError::Malformed)),
        ("1 ", Err(MoneyError::Malformed)),
        ("1,000.00", Err(MoneyError::Malformed)),
        ("+1", Err(MoneyError::Malformed)),
        (".5", Err(MoneyError::Malformed)),
        ("5.", Err(MoneyError::Malformed)),
        ("1.2.3", Err(MoneyError::Malformed)),
        ("-", Err(MoneyError::Malformed)),
        ("--1", Err(MoneyError::Malformed)),
        ("NaN", Err(MoneyError::Malformed)),
    ];
    for (input, expected) in cases {
        let actual = Usd::parse(input).map(|u| u.to_string());
        let expected = expected.clone().map(str::to_owned);
        assert_eq!(actual, expected, "Usd::parse({input:?})");
    }
}

#[test]
fn usd_display_always_has_exactly_2_places() {
    let cases: &[(&str, Result<Usd, MoneyError>, &str)] = &[
        ("zero", Ok(Usd::ZERO), "0.00"),
        ("one cent", Usd::from_cents(1), "0.01"),
        ("150000 cents", Usd::from_cents(150_000), "1500.00"),
        ("200 dollars", Usd::dollars(200), "200.00"),
        (
            "decimal 1.5",
            Usd::from_decimal(Decimal::new(15, 1)),
            "1.50",
        ),
        (
            "decimal 1.500",
            Usd::from_decimal(Decimal::new(1500, 3)),
            "1.50",
        ),
        ("decimal 7", Usd::from_decimal(Decimal::from(7)), "7.00"),
        ("max", Ok(Usd::MAX), "999999999999.99"),
    ];
    for (name, value, shown) in cases {
        let value = value.clone().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(value.to_string(), *shown, "{name}");
        assert_eq!(format!("{value:?}"), format!("Usd({shown})"), "{name}");
    }
}

#[test]
fn usd_from_decimal_refuses_3_places_negatives_and_more_than_max() {
    let cases: &[(&str, Decimal, Result<&str, MoneyError>)] = &[
        ("2 places", Decimal::new(123, 2), Ok("1.23")),
        ("trailing zero 3rd place", Decimal::new(1230, 3), Ok("1.23")),
        (
            "3 places",
            Decimal::new(1234, 3),
            Err(MoneyError::TooPrecise),
        ),
        ("negative", Decimal::new(-1, 2), Err(MoneyError::Negative)),
        (
            "negative zero",
            Decimal::from_parts(0, 0, 0, true, 2),
            Ok("0.00"),
        ),
        (
            "max",
            Decimal::new(99_999_999_999_999, 2),
            Ok("999999999999.99"),
        ),
        (
            "max + 0.01",
            Decimal::new(100_000_000_000_000, 2),
            Err(MoneyError::TooLarge),
        ),
    ];
    for (name, value, expected) in cases {
        let actual = Usd::from_decimal(*value).map(|u| u.to_string());
        assert_eq!(actual, expected.clone().map(str::to_owned), "{name}");
    }
}

#[test]
fn usd_checked_add_reaches_max_and_refuses_one_cent_more() {
    let cases = [
        (
            "1500.00 + 1500.50",
            usd!("1500.00"),
            usd!("1500.50"),
            Ok(usd!("3000.50")),
        ),
        ("0 + 0", Usd::ZERO, Usd::ZERO, Ok(Usd::ZERO)),
        ("max + 0", Usd::MAX, Usd::ZERO, Ok(Usd::MAX)),
        (
            "max - 0.01 + 0.01",
            usd!("999999999999.98"),
            usd!("0.01"),
            Ok(Usd::MAX),
        ),
        (
            "max + 0.01",
            Usd::MAX,
            usd!("0.01"),
            Err(MoneyError::TooLarge),
        ),
        ("max + max", Usd::MAX, Usd::MAX, Err(MoneyError::TooLarge)),
    ];
    for (name, a, b, expected) in cases {
        assert_eq!(a.checked_add(b), expected, "{name}");
    }
    assert_eq!(
        Usd::sum([usd!("0.01"), usd!("0.02"), usd!("0.03")]),
        Ok(usd!("0.06")),
        "sum of cents"
    );
    assert_eq!(
        Usd::sum([Usd::MAX, usd!("0.01")]),
        Err(MoneyError::TooLarge),
        "sum past max"
    );
}

#[test]
fn usd_checked_sub_reaches_zero_and_refuses_to_go_negative() {
    let cases = [
        (
            "3000.00 - 1500.00",
            usd!("3000.00"),
            usd!("1500.00"),
            Ok(usd!("1500.00")),
        ),
        ("1.00 - 1.00", usd!("1.00"), usd!("1.00"), Ok(Usd::ZERO)),
        ("max - max", Usd::MAX, Usd::MAX, Ok(Usd::ZERO)),
        (
            "1.00 - 1.01",
            usd!("1.00"),
            usd!("1.01"),
            Err(MoneyError::WouldBeNegative),
        ),
        (
            "0 - 0.01",
            Usd::ZERO,
            usd!("0.01"),
            Err(MoneyError::WouldBeNegative),
        ),
    ];
    for (name, a, b, expected) in cases {
        assert_eq!(a.checked_sub(b), expected, "{name}");
    }
}

#[test]
fn usd_saturating_sub_floors_at_zero() {
    let cases = [
        ("2.00 - 1.00", usd!("2.00"), usd!("1.00"), usd!("1.00")),
        ("1.00 - 0.99", usd!("1.00"), usd!("0.99"), usd!("0.01")),
        ("1.00 - 1.00", usd!("1.00"), usd!("1.00"), Usd::ZERO),
        ("1.00 - 1.01", usd!("1.00"), usd!("1.01"), Usd::ZERO),
        ("0 - max", Usd::ZERO, Usd::MAX, Usd::ZERO),
    ];
    for (name, a, b, expected) in cases {
        let actual = a.saturating_sub(b);
        assert_eq!(actual, expected, "{name}");
        assert_eq!(actual.to_string(), expected.to_string(), "{name} display");
    }
}

#[test]
fn usd_checked_mul_reaches_max_and_refuses_beyond_it() {
    let cases = [
        ("250.00 × 10", usd!("250.00"), 10, Ok(usd!("2500.00"))),
        ("112.50 × 4", usd!("112.50"), 4, Ok(usd!("450.00"))),
        ("1500.00 × 0", usd!("1500.00"), 0, Ok(Usd::ZERO)),
        ("max × 1", Usd::MAX, 1, Ok(Usd::MAX)),
        ("max × 0", Usd::MAX, 0, Ok(Usd::ZERO)),
        (
            "0.01 × u32::MAX",
            usd!("0.01"),
            u32::MAX,
            Ok(usd!("42949672.95")),
        ),
        (
            "499999999999.99 × 2",
            usd!("499999999999.99"),
            2,
            Ok(usd!("999999999999.98")),
        ),
        (
            "500000000000.00 × 2",
            usd!("500000000000.00"),
            2,
            Err(MoneyError::TooLarge),
        ),
        ("max × 2", Usd::MAX, 2, Err(MoneyError::TooLarge)),
        (
            "max × u32::MAX",
            Usd::MAX,
            u32::MAX,
            Err(MoneyError::TooLarge),
        ),
    ];
    for (name, a, n, expected) in cases {
        let actual = a.checked_mul(n);
        assert_eq!(actual, expected, "{name}");
        if let Ok(v) = actual {
            assert_eq!(
                v.to_string().split('.').nth(1).map(str::len),
                Some(2),
                "{name}"
            );
        }
    }
}

#[test]
fn usd_serializes_as_a_json_string_with_2_places_and_round_trips() {
    let cases = [
        ("zero", Usd::ZERO, "\"0.00\""),
        ("half dollar", usd!("1500.5"), "\"1500.50\""),
        ("max", Usd::MAX, "\"999999999999.99\""),
    ];
    for (name, value, json) in cases {
        let written = serde_json::to_string(&value).expect("serializable");
        assert_eq!(written, json, "{name}");
        let read: Usd = serde_json::from_str(&written).expect("deserializable");
        assert_eq!(read, value, "{name} round trip");
    }
    let refused = [
        ("a JSON number", "1500.5"),
        ("three places", "\"1500.001\""),
        ("negative", "\"-1\""),
        ("too large", "\"1000000000000.00\""),
        ("empty", "\"\""),
        ("exponent", "\"1e3\""),
        ("null", "null"),
    ];
    for (name, json) in refused {
        assert!(
            serde_json::from_str::<Usd>(json).is_err(),
            "{name}: {json} must be refused"
        );
    }
}

#[test]
fn currency_parse_accepts_exactly_usd_and_refuses_anything_else() {
    let cases: &[(&str, Result<Currency, MoneyError>)] = &[
        ("USD", Ok(Currency::Usd)),
        ("usd", Err(MoneyError::UnsupportedCurrency("usd".into()))),
        ("Usd", Err(MoneyError::UnsupportedCurrency("Usd".into()))),
        ("EUR", Err(MoneyError::UnsupportedCurrency("EUR".into()))),
        ("", Err(MoneyError::UnsupportedCurrency(String::new()))),
        (" USD", Err(MoneyError::UnsupportedCurrency(" USD".into()))),
        ("USD ", Err(MoneyError::UnsupportedCurrency("USD ".into()))),
    ];
    for (code, expected) in cases {
        assert_eq!(
            &Currency::parse(code),
            expected,
            "Currency::parse({code:?})"
        );
    }
    assert_eq!(Currency::Usd.to_string(), "USD");
}

#[test]
fn money_parse_needs_a_valid_amount_and_usd() {
    let cases: &[(&str, &str, &str, Result<&str, MoneyError>)] = &[
        ("valid", "1500.00", "USD", Ok("1500.00")),
        ("one place", "1500.5", "USD", Ok("1500.50")),
        (
            "euro",
            "1500.00",
            "EUR",
            Err(MoneyError::UnsupportedCurrency("EUR".into())),
        ),
        (
            "lower-case usd",
            "1500.00",
            "usd",
            Err(MoneyError::UnsupportedCurrency("usd".into())),
        ),
        (
            "too precise",
            "1500.001",
            "USD",
            Err(MoneyError::TooPrecise),
        ),
        ("negative", "-1", "USD", Err(MoneyError::Negative)),
        ("malformed", "abc", "USD", Err(MoneyError::Malformed)),
    ];
    for (name, amount, currency, expected) in cases {
        let actual = Money::parse(amount, currency).map(|m| {
            assert_eq!(m.currency, Currency::Usd, "{name}");
            m.amount.to_string()
        });
        assert_eq!(actual, expected.clone().map(str::to_owned), "{name}");
    }
    let json = serde_json::to_string(&Money::from(usd!("1500"))).expect("serializable");
    assert_eq!(json, r#"{"amount":"1500.00","currency":"USD"}"#);
    assert!(
        serde_json::from_str::<Money>(r#"{"amount":"1500.00","currency":"EUR"}"#).is_err(),
        "a euro amount must be refused"
    );
}

// ---- payments ---------------------------------------------------------------------

#[test]
fn card_payment_of_20000_00_is_allowed_and_20000_01_is_refused() {
    let limit = usd!("20000.00");
    let cases = [
        ("visa 0.01", "visa", usd!("0.01"), Ok(())),
        ("visa 20000.00", "visa", usd!("20000.00"), Ok(())),
        (
            "mastercard 20000.00",
            "mastercard",
            usd!("20000.00"),
            Ok(()),
        ),
        (
            "visa 20000.01",
            "visa",
            usd!("20000.01"),
            Err(PaymentRule::CardLimitExceeded {
                amount: usd!("20000.01"),
                limit,
            }),
        ),
        (
            "mastercard 20000.01",
            "mastercard",
            usd!("20000.01"),
            Err(PaymentRule::CardLimitExceeded {
                amount: usd!("20000.01"),
                limit,
            }),
        ),
    ];
    for (name, brand, amount, expected) in cases {
        let actual = check_eligibility(&card(brand), amount, PaymentContext::default());
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn card_brand_visa_and_mastercard_are_accepted_and_amex_is_refused() {
    let cases = [
        ("visa", CardBrand::Visa, Ok(())),
        ("mastercard", CardBrand::Mastercard, Ok(())),
        (
            "amex",
            CardBrand::Other("amex".into()),
            Err(PaymentRule::CardBrandNotAccepted("amex".into())),
        ),
        (
            "discover",
            CardBrand::Other("discover".into()),
            Err(PaymentRule::CardBrandNotAccepted("discover".into())),
        ),
    ];
    for (name, brand, expected) in cases {
        assert_eq!(CardBrand::parse(name), brand, "CardBrand::parse({name:?})");
        assert_eq!(CardBrand::parse(name).as_str(), name, "{name} as_str");
        let actual = check_eligibility(&card(name), usd!("100.00"), PaymentContext::default());
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn echeck_needs_a_checking_account_at_a_us_bank() {
    let cn = CountryCode::parse("CN").expect("valid country");
    let cases = [
        (
            "US checking",
            CountryCode::US,
            AccountType::Checking,
            Ok(()),
        ),
        (
            "US savings",
            CountryCode::US,
            AccountType::Savings,
            Err(PaymentRule::ECheckRequiresUsChecking),
        ),
        (
            "CN checking",
            cn,
            AccountType::Checking,
            Err(PaymentRule::ECheckRequiresUsChecking),
        ),
        (
            "CN savings",
            cn,
            AccountType::Savings,
            Err(PaymentRule::ECheckRequiresUsChecking),
        ),
    ];
    for (name, bank_country, account_type, expected) in cases {
        let method = PaymentMethod::ECheck {
            bank_country,
            account_type,
        };
        // e-Checking has no per-transaction cap: a large amount is fine.
        let actual = check_eligibility(&method, usd!("250000.00"), PaymentContext::default());
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn echeck_fee_is_exactly_15_00_and_every_other_method_is_free() {
    let cases = [
        ("e-check", MethodKind::ECheck, "15.00"),
        ("card", MethodKind::CreditCard, "0.00"),
        ("T/T", MethodKind::TelegraphicTransfer, "0.00"),
        ("pay later", MethodKind::PayLater, "0.00"),
    ];
    for (name, kind, fee) in cases {
        assert_eq!(kind.fee().to_string(), fee, "{name}");
    }
}

#[test]
fn telegraphic_transfer_needs_a_receiving_account() {
    let account = receiving_account();
    let cases = [
        (
            "without account",
            None,
            Err(PaymentRule::NoReceivingAccount),
        ),
        ("with account", Some(&account), Ok(())),
    ];
    for (name, receiving_account, expected) in cases {
        let ctx = PaymentContext {
            credit_line: None,
            receiving_account,
        };
        let actual = check_eligibility(&PaymentMethod::TelegraphicTransfer, usd!("50000.00"), ctx);
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn pay_later_term_of_1_to_6_months_is_allowed_and_0_or_7_is_refused() {
    let line = approved_line(usd!("10000.00"), Usd::ZERO);
    let cases = [
        (0, Err(PaymentRule::TermOutOfRange(0))),
        (1, Ok(())),
        (3, Ok(())),
        (6, Ok(())),
        (7, Err(PaymentRule::TermOutOfRange(7))),
        (u32::MAX, Err(PaymentRule::TermOutOfRange(u32::MAX))),
    ];
    for (term_months, expected) in cases {
        let ctx = PaymentContext {
            credit_line: Some(&line),
            receiving_account: None,
        };
        let actual = check_eligibility(
            &PaymentMethod::PayLater { term_months },
            usd!("1000.00"),
            ctx,
        );
        assert_eq!(actual, expected, "term of {term_months} months");
    }
}

#[test]
fn pay_later_needs_an_approved_credit_line() {
    let pending = CreditLine::apply(
        uid("b-1"),
        ApplicationId::parse("app_1").expect("valid application id"),
        at(2025, 1, 1, 0, 0, 0),
    );
    let mut declined = pending.clone();
    declined
        .decline(at(2025, 1, 2, 0, 0, 0))
        .expect("declinable");
    let approved = approved_line(usd!("10000.00"), Usd::ZERO);
    let cases = [
        (
            "no credit line",
            None,
            Err(PaymentRule::NoApprovedCreditLine),
        ),
        (
            "pending line",
            Some(&pending),
            Err(PaymentRule::NoApprovedCreditLine),
        ),
        (
            "declined line",
            Some(&declined),
            Err(PaymentRule::NoApprovedCreditLine),
        ),
        ("approved line", Some(&approved), Ok(())),
    ];
    for (name, credit_line, expected) in cases {
        let ctx = PaymentContext {
            credit_line,
            receiving_account: None,
        };
        let actual = check_eligibility(
            &PaymentMethod::PayLater { term_months: 3 },
            usd!("1000.00"),
            ctx,
        );
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn pay_later_amount_equal_to_available_is_allowed_and_one_cent_more_is_refused() {
    let cases = [
        (
            "unused line, amount = limit",
            usd!("10000.00"),
            Usd::ZERO,
            usd!("10000.00"),
            Ok(()),
        ),
        (
            "unused line, limit + 0.01",
            usd!("10000.00"),
            Usd::ZERO,
            usd!("10000.01"),
            Err(PaymentRule::InsufficientCredit {
                amount: usd!("10000.01"),
                available: usd!("10000.00"),
            }),
        ),
        (
            "partly used line, amount = available",
            usd!("10000.00"),
            usd!("4000.00"),
            usd!("6000.00"),
            Ok(()),
        ),
        (
            "partly used line, available + 0.01",
            usd!("10000.00"),
            usd!("4000.00"),
            usd!("6000.01"),
            Err(PaymentRule::InsufficientCredit {
                amount: usd!("6000.01"),
                available: usd!("6000.00"),
            }),
        ),
        (
            "fully used line, 0.01",
            usd!("10000.00"),
            usd!("10000.00"),
            usd!("0.01"),
            Err(PaymentRule::InsufficientCredit {
                amount: usd!("0.01"),
                available: Usd::ZERO,
            }),
        ),
        (
            "largest line, amount = 150000.00",
            usd!("150000.00"),
            Usd::ZERO,
            usd!("150000.00"),
            Ok(()),
        ),
    ];
    for (name, limit, reserved, amount, expected) in cases {
        let line = approved_line(limit, reserved);
        let ctx = PaymentContext {
            credit_line: Some(&line),
            receiving_account: None,
        };
        let actual = check_eligibility(&PaymentMethod::PayLater { term_months: 6 }, amount, ctx);
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn credit_line_approval_of_150000_00_is_allowed_and_150000_01_is_refused() {
    let cases = [
        ("1000.00", usd!("1000.00"), Ok(())),
        ("149999.99", usd!("149999.99"), Ok(())),
        ("150000.00", usd!("150000.00"), Ok(())),
        (
            "150000.01",
            usd!("150000.01"),
            Err(CreditError::LimitTooHigh {
                requested: usd!("150000.01"),
                max: usd!("150000.00"),
            }),
        ),
        (
            "max",
            Usd::MAX,
            Err(CreditError::LimitTooHigh {
                requested: Usd::MAX,
                max: usd!("150000.00"),
            }),
        ),
    ];
    for (name, limit, expected) in cases {
        let mut line = CreditLine::apply(
            uid("b-1"),
            ApplicationId::parse("app_1").expect("valid application id"),
            at(2025, 1, 1, 0, 0, 0),
        );
        let actual = line.approve(limit, at(2025, 1, 2, 0, 0, 0));
        assert_eq!(actual, expected, "{name}");
        match expected {
            Ok(()) => {
                assert_eq!(line.available(), limit, "{name}: available after approval");
                assert_eq!(
                    line.approve(limit, at(2025, 1, 3, 0, 0, 0)),
                    Err(CreditError::AlreadyDecided),
                    "{name}: a second decision"
                );
            }
            Err(_) => assert_eq!(line.available(), Usd::ZERO, "{name}: still pending"),
        }
    }
}

#[test]
fn credit_line_reserve_and_release_keep_available_between_zero_and_limit() {
    enum Op {
        Reserve(Usd),
        Release(Usd),
    }
    // One line of 1000.00, the steps applied in order.
    let steps = [
        (
            "reserve 600.00",
            Op::Reserve(usd!("600.00")),
            Ok(()),
            "400.00",
        ),
        (
            "reserve exactly the 400.00 left",
            Op::Reserve(usd!("400.00")),
            Ok(()),
            "0.00",
        ),
        (
            "reserve 0.01 of nothing",
            Op::Reserve(usd!("0.01")),
            Err(CreditError::Insufficient {
                requested: usd!("0.01"),
                available: Usd::ZERO,
            }),
            "0.00",
        ),
        (
            "release 250.00",
            Op::Release(usd!("250.00")),
            Ok(()),
            "250.00",
        ),
        (
            "release 750.01 of 750.00 reserved",
            Op::Release(usd!("750.01")),
            Err(CreditError::ReleaseExceedsReserved {
                requested: usd!("750.01"),
                reserved: usd!("750.00"),
            }),
            "250.00",
        ),
        (
            "release all 750.00",
            Op::Release(usd!("750.00")),
            Ok(()),
            "1000.00",
        ),
        (
            "release 0.01 of nothing",
            Op::Release(usd!("0.01")),
            Err(CreditError::ReleaseExceedsReserved {
                requested: usd!("0.01"),
                reserved: Usd::ZERO,
            }),
            "1000.00",
        ),
        (
            "reserve 1000.01 of 1000.00",
            Op::Reserve(usd!("1000.01")),
            Err(CreditError::Insufficient {
                requested: usd!("1000.01"),
                available: usd!("1000.00"),
            }),
            "1000.00",
        ),
    ];
    let mut line = approved_line(usd!("1000.00"), Usd::ZERO);
    for (name, op, expected, available) in steps {
        let actual = match op {
            Op::Reserve(a) => line.reserve(a),
            Op::Release(a) => line.release(a),
        };
        assert_eq!(actual, expected, "{name}");
        assert_eq!(line.available().to_string(), available, "{name}: available");
        assert!(line.reserved() <= line.limit(), "{name}: reserved ≤ limit");
    }

    let mut pending = CreditLine::apply(
        uid("b-1"),
        ApplicationId::parse("app_2").expect("valid application id"),
        at(2025, 1, 1, 0, 0, 0),
    );
    assert_eq!(
        pending.reserve(usd!("0.01")),
        Err(CreditError::NotApproved),
        "a pending line reserves nothing"
    );
}

// ---- working days and arrival windows ---------------------------------------------

#[test]
fn add_working_days_skips_saturday_and_sunday() {
    // 2 Jan 2025 is a Thursday.
    let cases = [
        (
            "Thursday + 0 = Thursday",
            date(2025, 1, 2),
            0,
            date(2025, 1, 2),
        ),
        (
            "Thursday + 1 = Friday",
            date(2025, 1, 2),
            1,
            date(2025, 1, 3),
        ),
        (
            "Thursday + 2 = Monday",
            date(2025, 1, 2),
            2,
            date(2025, 1, 6),
        ),
        ("Friday + 1 = Monday", date(2025, 1, 3), 1, date(2025, 1, 6)),
        (
            "Friday + 5 = next Friday",
            date(2025, 1, 3),
            5,
            date(2025, 1, 10),
        ),
        (
            "Saturday + 0 = Saturday",
            date(2025, 1, 4),
            0,
            date(2025, 1, 4),
        ),
        (
            "Saturday + 1 = Monday",
            date(2025, 1, 4),
            1,
            date(2025, 1, 6),
        ),
        ("Sunday + 0 = Sunday", date(2025, 1, 5), 0, date(2025, 1, 5)),
        ("Sunday + 1 = Monday", date(2025, 1, 5), 1, date(2025, 1, 6)),
        ("Monday + 0 = Monday", date(2025, 1, 6), 0, date(2025, 1, 6)),
        (
            "Monday + 5 = next Monday",
            date(2025, 1, 6),
            5,
            date(2025, 1, 13),
        ),
        (
            "Monday + 10 = Monday in two weeks",
            date(2025, 1, 6),
            10,
            date(2025, 1, 20),
        ),
    ];
    for (name, from, n, expected) in cases {
        assert_eq!(add_working_days(from, n), expected, "{name}");
    }
}

#[test]
fn arrival_windows_count_working_days_from_a_thursday_and_from_a_saturday() {
    let thursday = at(2025, 1, 2, 10, 0, 0);
    let thursday_last_second = at(2025, 1, 2, 23, 59, 59);
    let saturday = at(2025, 1, 4, 10, 0, 0);
    let cases = [
        (
            "card from Thursday",
            MethodKind::CreditCard,
            thursday,
            (2025, 1, 6),
            (2025, 1, 7),
        ),
        (
            "e-check from Thursday",
            MethodKind::ECheck,
            thursday,
            (2025, 1, 8),
            (2025, 1, 9),
        ),
        (
            "T/T from Thursday",
            MethodKind::TelegraphicTransfer,
            thursday,
            (2025, 1, 7),
            (2025, 1, 13),
        ),
        (
            "pay later from Thursday",
            MethodKind::PayLater,
            thursday,
            (2025, 1, 3),
            (2025, 1, 7),
        ),
        (
            "card from Thursday 23:59:59",
            MethodKind::CreditCard,
            thursday_last_second,
            (2025, 1, 6),
            (2025, 1, 7),
        ),
        (
            "card from Saturday",
            MethodKind::CreditCard,
            saturday,
            (2025, 1, 7),
            (2025, 1, 8),
        ),
        (
            "e-check from Saturday",
            MethodKind::ECheck,
            saturday,
            (2025, 1, 9),
            (2025, 1, 10),
        ),
        (
            "T/T from Saturday",
            MethodKind::TelegraphicTransfer,
            saturday,
            (2025, 1, 8),
            (2025, 1, 14),
        ),
        (
            "pay later from Saturday",
            MethodKind::PayLater,
            saturday,
            (2025, 1, 6),
            (2025, 1, 8),
        ),
    ];
    for (name, kind, from, (ey, em, ed), (ly, lm, ld)) in cases {
        let expected = ArrivalWindow {
            earliest: date(ey, em, ed),
            latest: date(ly, lm, ld),
        };
        let window = kind.arrival_window(from);
        assert_eq!(window, expected, "{name}");
        assert_eq!(
            window.overdue_after(),
            at(ly, lm, ld, 23, 59, 59),
            "{name}: overdue after the end of the latest day"
        );
    }
}

// ---- contract ---------------------------------------------------------------------

#[test]
fn inspection_fee_is_200_00_in_china_and_300_00_overseas() {
    let cases = [
        (InspectionAgency::Sgs, InspectionLocation::China, "200.00"),
        (InspectionAgency::Bv, InspectionLocation::China, "200.00"),
        (InspectionAgency::Tuv, InspectionLocation::China, "200.00"),
        (
            InspectionAgency::Sgs,
            InspectionLocation::Overseas,
            "300.00",
        ),
        (InspectionAgency::Bv, InspectionLocation::Overseas, "300.00"),
        (
            InspectionAgency::Tuv,
            InspectionLocation::Overseas,
            "300.00",
        ),
    ];
    for (agency, location, fee) in cases {
        let inspection = Inspection { agency, location };
        assert_eq!(inspection.fee().to_string(), fee, "{agency:?} {location:?}");
        let mut d = draft(&[(1, usd!("1000.00"))], Usd::ZERO, usd!("500.00"));
        d.inspection = Some(inspection);
        let terms = Terms::new(d).expect("valid terms");
        assert_eq!(
            terms.inspection_fee().to_string(),
            fee,
            "{agency:?} {location:?} on terms"
        );
        assert_eq!(
            terms.total(),
            usd!("1000.00"),
            "the fee is not in the total"
        );
    }
    let terms =
        Terms::new(draft(&[(1, usd!("1000.00"))], Usd::ZERO, usd!("500.00"))).expect("valid terms");
    assert_eq!(terms.inspection_fee(), Usd::ZERO, "no inspection, no fee");
}

#[test]
fn terms_refuse_no_items_zero_quantity_zero_price_zero_initial_and_initial_above_total() {
    struct Case {
        name: &'static str,
        items: Vec<(u32, Usd)>,
        shipping: Usd,
        initial: Usd,
        expected: Result<(Usd, Usd), TermsError>,
    }
    let p = usd!("100.00");
    let cases = vec![
        Case {
            name: "no items",
            items: vec![],
            shipping: Usd::ZERO,
            initial: usd!("1.00"),
            expected: Err(TermsError::NoItems),
        },
        Case {
            name: "zero quantity on the second item",
            items: vec![(1, p), (0, p)],
            shipping: Usd::ZERO,
            initial: usd!("1.00"),
            expected: Err(TermsError::ZeroQuantity { index: 1 }),
        },
        Case {
            name: "quantity 1",
            items: vec![(1, p)],
            shipping: Usd::ZERO,
            initial: usd!("1.00"),
            expected: Ok((usd!("100.00"), usd!("99.00"))),
        },
        Case {
            name: "zero unit price on the first item",
            items: vec![(1, Usd::ZERO), (1, p)],
            shipping: Usd::ZERO,
            initial: usd!("1.00"),
            expected: Err(TermsError::ZeroUnitPrice { index: 0 }),
        },
        Case {
            name: "unit price 0.01",
            items: vec![(1, usd!("0.01"))],
            shipping: Usd::ZERO,
            initial: usd!("0.01"),
            expected: Ok((usd!("0.01"), Usd::ZERO)),
        },
        Case {
            name: "zero initial payment",
            items: vec![(1, p)],
            shipping: Usd::ZERO,
            initial: Usd::ZERO,
            expected: Err(TermsError::ZeroInitialPayment),
        },
        Case {
            name: "initial 0.01",
            items: vec![(1, p)],
            shipping: Usd::ZERO,
            initial: usd!("0.01"),
            expected: Ok((usd!("100.00"), usd!("99.99"))),
        },
        Case {
            name: "initial == total",
            items: vec![(1, p)],
            shipping: usd!("20.00"),
            initial: usd!("120.00"),
            expected: Ok((usd!("120.00"), Usd::ZERO)),
        },
        Case {
            name: "initial == total + 0.01",
            items: vec![(1, p)],
            shipping: usd!("20.00"),
            initial: usd!("120.01"),
            expected: Err(TermsError::InitialPaymentExceedsTotal {
                initial: usd!("120.01"),
                total: usd!("120.00"),
            }),
        },
        Case {
            name: "100 line items",
            items: vec![(1, usd!("1.00")); MAX_LINE_ITEMS],
            shipping: Usd::ZERO,
            initial: usd!("100.00"),
            expected: Ok((usd!("100.00"), Usd::ZERO)),
        },
        Case {
            name: "101 line items",
            items: vec![(1, usd!("1.00")); MAX_LINE_ITEMS + 1],
            shipping: Usd::ZERO,
            initial: usd!("100.00"),
            expected: Err(TermsError::TooManyItems { max: 100 }),
        },
        Case {
            name: "total exactly max",
            items: vec![(1, usd!("999999999999.98"))],
            shipping: usd!("0.01"),
            initial: usd!("1.00"),
            expected: Ok((Usd::MAX, usd!("999999999998.99"))),
        },
        Case {
            name: "shipping pushes the total past max",
            items: vec![(1, usd!("999999999999.98"))],
            shipping: usd!("0.02"),
            initial: usd!("1.00"),
            expected: Err(TermsError::TotalTooLarge(MoneyError::TooLarge)),
        },
        Case {
            name: "a subtotal past max",
            items: vec![(2, usd!("500000000000.00"))],
            shipping: Usd::ZERO,
            initial: usd!("1.00"),
            expected: Err(TermsError::TotalTooLarge(MoneyError::TooLarge)),
        },
    ];
    for case in cases {
        let actual = Terms::new(draft(&case.items, case.shipping, case.initial))
            .map(|t| (t.total(), t.balance()));
        assert_eq!(actual, case.expected, "{}", case.name);
    }
}

#[test]
fn terms_total_is_sum_of_quantity_times_price_plus_shipping_and_balance_is_total_minus_initial() {
    let cases = [
        (
            "reference order",
            vec![(10, usd!("250.00")), (4, usd!("112.50"))],
            usd!("50.00"),
            usd!("1500.00"),
            "3000.00",
            "1500.00",
        ),
        (
            "no shipping fee",
            vec![(3, usd!("0.33"))],
            Usd::ZERO,
            usd!("0.50"),
            "0.99",
            "0.49",
        ),
        (
            "cents add up",
            vec![(7, usd!("1.01")), (3, usd!("2.99")), (1, usd!("0.01"))],
            usd!("0.99"),
            usd!("17.04"),
            "17.04",
            "0.00",
        ),
    ];
    for (name, items, shipping, initial, total, balance) in cases {
        let terms = Terms::new(draft(&items, shipping, initial)).expect(name);
        assert_eq!(terms.total().to_string(), total, "{name}: total");
        assert_eq!(terms.balance().to_string(), balance, "{name}: balance");
        assert_eq!(terms.shipping_fee(), shipping, "{name}: shipping fee");
        assert_eq!(terms.initial_payment(), initial, "{name}: initial");
    }
}

#[test]
fn terms_ship_by_deadline_is_23_59_59_utc_on_the_ship_by_date() {
    let cases = [
        (
            "ordinary Friday",
            date(2025, 3, 14),
            at(2025, 3, 14, 23, 59, 59),
        ),
        ("leap day", date(2024, 2, 29), at(2024, 2, 29, 23, 59, 59)),
        (
            "new year's eve",
            date(2025, 12, 31),
            at(2025, 12, 31, 23, 59, 59),
        ),
    ];
    for (name, day, deadline) in cases {
        let mut d = draft(&[(1, usd!("10.00"))], Usd::ZERO, usd!("10.00"));
        d.ship_by = day;
        let terms = Terms::new(d).expect(name);
        assert_eq!(terms.ship_by_deadline(), deadline, "{name}");
        assert_eq!(end_of_day(day), deadline, "{name}: end_of_day");
    }
}

// ---- coverage ---------------------------------------------------------------------

#[test]
fn reference_example_total_3000_initial_1500_limit_2000_covers_1500_pre_shipment_and_2000_post_delivery()
 {
    let (total, initial, available) = (usd!("3000.00"), usd!("1500.00"), usd!("2000.00"));
    assert_eq!(
        covered_amount(CoverageType::PreShipment, total, initial, available),
        usd!("1500.00"),
        "pre-shipment"
    );
    assert_eq!(
        covered_amount(CoverageType::PostDelivery, total, initial, available),
        usd!("2000.00"),
        "post-delivery"
    );

    // The same example through the order: the covered amount is fixed and
    // reserved at confirmation.
    for (name, s, covered) in [
        ("pre-shipment order", spec().limit(available), "1500.00"),
        (
            "post-delivery order",
            spec().limit(available).post_delivery(),
            "2000.00",
        ),
    ] {
        let o = drive(&s, OrderStatus::AwaitingInitialPayment);
        assert_eq!(o.terms().total(), total, "{name}: total");
        let c = o.coverage();
        assert_eq!(
            c.covered_amount.map(|u| u.to_string()),
            Some(covered.into()),
            "{name}"
        );
        assert_eq!(c.reserved.to_string(), covered, "{name}: reserved");
    }
}

#[test]
fn covered_amount_is_what_the_coverage_wants_up_to_what_is_available() {
    let (total, initial) = (usd!("3000.00"), usd!("1500.00"));
    let cases = [
        (
            "pre, nothing available",
            CoverageType::PreShipment,
            Usd::ZERO,
            "0.00",
        ),
        (
            "post, nothing available",
            CoverageType::PostDelivery,
            Usd::ZERO,
            "0.00",
        ),
        (
            "pre, 1499.99 available",
            CoverageType::PreShipment,
            usd!("1499.99"),
            "1499.99",
        ),
        (
            "pre, exactly initial available",
            CoverageType::PreShipment,
            initial,
            "1500.00",
        ),
        (
            "post, 2999.99 available",
            CoverageType::PostDelivery,
            usd!("2999.99"),
            "2999.99",
        ),
        (
            "post, exactly total available",
            CoverageType::PostDelivery,
            total,
            "3000.00",
        ),
        (
            "pre, more than total",
            CoverageType::PreShipment,
            usd!("100000.00"),
            "1500.00",
        ),
        (
            "post, more than total",
            CoverageType::PostDelivery,
            usd!("100000.00"),
            "3000.00",
        ),
    ];
    for (name, coverage, available, covered) in cases {
        assert_eq!(
            covered_amount(coverage, total, initial, available).to_string(),
            covered,
            "{name}"
        );
    }
}

#[test]
fn assurance_limit_reserves_exactly_what_is_available_and_refuses_one_cent_more() {
    let cases = [
        (
            "fresh, reserve all",
            "2000.00",
            "0.00",
            "2000.00",
            Ok(()),
            "0.00",
        ),
        (
            "fresh, reserve all + 0.01",
            "2000.00",
            "0.00",
            "2000.01",
            Err(LimitError::Insufficient {
                requested: usd!("2000.01"),
                available: usd!("2000.00"),
            }),
            "2000.00",
        ),
        (
            "half used, reserve the rest",
            "2000.00",
            "1000.00",
            "1000.00",
            Ok(()),
            "0.00",
        ),
        (
            "half used, rest + 0.01",
            "2000.00",
            "1000.00",
            "1000.01",
            Err(LimitError::Insufficient {
                requested: usd!("1000.01"),
                available: usd!("1000.00"),
            }),
            "1000.00",
        ),
        (
            "fully used, 0.01",
            "2000.00",
            "2000.00",
            "0.01",
            Err(LimitError::Insufficient {
                requested: usd!("0.01"),
                available: Usd::ZERO,
            }),
            "0.00",
        ),
    ];
    for (name, limit, reserved, amount, expected, available_after) in cases {
        let mut l = AssuranceLimit::from_parts(
            uid("s-1"),
            Usd::parse(limit).expect("limit"),
            Usd::parse(reserved).expect("reserved"),
            None,
        );
        let actual = l.reserve(Usd::parse(amount).expect("amount"));
        assert_eq!(actual, expected, "{name}");
        assert_eq!(
            l.available().to_string(),
            available_after,
            "{name}: available"
        );
        assert!(l.reserved() <= l.limit(), "{name}: reserved ≤ limit");
    }
}

#[test]
fn assurance_limit_lowered_below_reserved_has_nothing_available_and_refuses_new_reservations() {
    let mut l = AssuranceLimit::new(uid("s-1"), usd!("2000.00"));
    l.reserve(usd!("1500.00")).expect("reservable");
    let lowered = [
        ("lowered to exactly reserved", usd!("1500.00")),
        ("lowered to reserved - 0.01", usd!("1499.99")),
        ("lowered to 1000.00", usd!("1000.00")),
        ("lowered to zero", Usd::ZERO),
    ];
    for (name, new_limit) in lowered {
        let mut l = l.clone();
        l.set_limit(new_limit);
        assert_eq!(l.available(), Usd::ZERO, "{name}: available");
        assert_eq!(l.reserved(), usd!("1500.00"), "{name}: reservations kept");
        for amount in [usd!("0.01"), usd!("500.00")] {
            assert_eq!(
                l.reserve(amount),
                Err(LimitError::Insufficient {
                    requested: amount,
                    available: Usd::ZERO,
                }),
                "{name}: reserve {amount}"
            );
        }
    }

    // Releases make room again: at 1000.00 with 1500.00 reserved, releasing
    // 500.00 leaves nothing available, releasing 0.01 more frees 0.01.
    l.set_limit(usd!("1000.00"));
    l.release(usd!("500.00")).expect("releasable");
    assert_eq!(l.available(), Usd::ZERO, "back at the limit");
    l.release(usd!("0.01")).expect("releasable");
    assert_eq!(l.available(), usd!("0.01"), "one cent of room");
    assert_eq!(l.reserve(usd!("0.01")), Ok(()), "that cent can be reserved");
    assert_eq!(
        l.reserve(usd!("0.01")),
        Err(LimitError::Insufficient {
            requested: usd!("0.01"),
            available: Usd::ZERO,
        }),
        "and no more"
    );
}

#[test]
fn assurance_limit_release_of_more_than_reserved_is_refused() {
    let cases = [
        ("release part", "1500.00", "500.00", Ok("1000.00")),
        ("release exactly reserved", "1500.00", "1500.00", Ok("0.00")),
        (
            "release reserved + 0.01",
            "1500.00",
            "1500.01",
            Err(LimitError::ReleaseExceedsReserved {
                requested: usd!("1500.01"),
                reserved: usd!("1500.00"),
            }),
        ),
        (
            "release from nothing",
            "0.00",
            "0.01",
            Err(LimitError::ReleaseExceedsReserved {
                requested: usd!("0.01"),
                reserved: Usd::ZERO,
            }),
        ),
    ];
    for (name, reserved, amount, expected) in cases {
        let reserved = Usd::parse(reserved).expect("reserved");
        let mut l = AssuranceLimit::from_parts(uid("s-1"), usd!("2000.00"), reserved, None);
        let actual = l
            .release(Usd::parse(amount).expect("amount"))
            .map(|()| l.reserved().to_string());
        assert_eq!(actual, expected.map(str::to_owned), "{name}");
        if actual.is_err() {
            assert_eq!(
                l.reserved(),
                reserved,
                "{name}: a refused release changes nothing"
            );
        }
    }
}

#[test]
fn quality_window_ends_180_days_after_shipment_or_15_days_after_customs_whichever_is_earlier() {
    let shipped = at(2025, 3, 10, 10, 0, 0);
    let cases = [
        ("no customs", None, shipped + days(180)),
        ("customs at shipment", Some(shipped), shipped + days(15)),
        (
            "customs at +10 days",
            Some(shipped + days(10)),
            shipped + days(25),
        ),
        (
            "customs at +165 days: both equal",
            Some(shipped + days(165)),
            shipped + days(180),
        ),
        (
            "customs at +165 days − 1s",
            Some(shipped + days(165) - secs(1)),
            shipped + days(180) - secs(1),
        ),
        (
            "customs at +170 days: shipment wins",
            Some(shipped + days(170)),
            shipped + days(180),
        ),
    ];
    for (name, customs, end) in cases {
        assert_eq!(
            quality_window_end(shipped, customs, &Clocks::default()),
            end,
            "{name}"
        );
    }
}

// ---- feedback ---------------------------------------------------------------------

#[test]
fn rating_of_1_to_5_is_accepted_and_0_6_or_negative_is_refused() {
    let cases = [
        (i64::MIN, false),
        (-1, false),
        (0, false),
        (1, true),
        (2, true),
        (5, true),
        (6, false),
        (256, false),
        (257, false),
        (i64::MAX, false),
    ];
    for (n, ok) in cases {
        let parsed = Rating::parse(n);
        assert_eq!(parsed.is_ok(), ok, "Rating::parse({n})");
        if let Ok(r) = parsed {
            assert_eq!(i64::from(r.get()), n, "Rating::parse({n}).get()");
        }
        let json: Result<Rating, _> = serde_json::from_str(&n.to_string());
        assert_eq!(json.is_ok(), ok, "rating {n} from JSON");
    }
}

#[test]
fn rating_summary_average_is_none_without_ratings_and_rounds_to_2_places_half_away_from_zero() {
    fn ratings(pairs: &[(u8, usize)]) -> Vec<i64> {
        pairs
            .iter()
            .flat_map(|(stars, count)| std::iter::repeat_n(i64::from(*stars), *count))
            .collect()
    }
    let cases = [
        ("no ratings", vec![], None),
        ("one 5", vec![5], Some(Decimal::new(5, 0))),
        ("4 and 5", vec![4, 5], Some(Decimal::new(450, 2))),
        ("1, 2, 2", vec![1, 2, 2], Some(Decimal::new(167, 2))),
        ("1, 1, 2", vec![1, 1, 2], Some(Decimal::new(133, 2))),
        // 997 / 200 = 4.985: half away from zero gives 4.99 (banker's would give 4.98).
        (
            "4.985 rounds up",
            ratings(&[(5, 197), (4, 3)]),
            Some(Decimal::new(499, 2)),
        ),
        // 201 / 200 = 1.005 → 1.01.
        (
            "1.005 rounds up",
            ratings(&[(1, 199), (2, 1)]),
            Some(Decimal::new(101, 2)),
        ),
        // 1999 / 400 = 4.9975 → 5.00.
        (
            "4.9975 rounds to 5",
            ratings(&[(5, 399), (4, 1)]),
            Some(Decimal::new(500, 2)),
        ),
    ];
    for (name, stars, expected) in cases {
        let mut summary = RatingSummary::default();
        for n in &stars {
            summary.add(Rating::parse(*n).expect("valid rating"));
        }
        assert_eq!(summary.count, stars.len() as u64, "{name}: count");
        let average = summary.average();
        assert_eq!(average, expected, "{name}");
        if let Some(a) = average {
            assert!(a.scale() <= 2, "{name}: {a} has at most 2 places");
        }
    }
}

// ---- dispute deadlines -------------------------------------------------------------

fn dispute_opened(opened: Timestamp, policy: DisputePolicy) -> Dispute {
    Dispute::new(
        DisputeReason::Quality,
        usd!("100.00"),
        long("broken"),
        DisputeEntry {
            at: opened,
            by: Actor::Buyer(uid("b-1")),
            kind: EntryKind::Opened,
            amount: Some(usd!("100.00")),
            message: None,
            evidence: Vec::new(),
            over_budget: false,
        },
        policy,
    )
}

struct EscalationCase {
    name: &'static str,
    /// When the supplier responded, after opening.
    responded: Option<TimeDelta>,
    rejected: bool,
    status: DisputeStatus,
    /// When we ask, after opening.
    asked: TimeDelta,
    expected: Option<EscalationGround>,
}

fn check_escalation(policy: DisputePolicy, cases: &[EscalationCase]) {
    let opened = at(2025, 3, 12, 8, 30, 0);
    for c in cases {
        let mut d = dispute_opened(opened, policy);
        assert_eq!(
            d.supplier_response_due,
            opened + days(policy.supplier_response_days.into()),
            "{}: response due",
            c.name
        );
        assert_eq!(
            d.resolution_due,
            opened + days(policy.resolution_days.into()),
            "{}: resolution due",
            c.name
        );
        d.supplier_responded_at = c.responded.map(|r| opened + r);
        d.supplier_rejected = c.rejected;
        d.status = c.status;
        assert_eq!(
            d.escalation_ground(opened + c.asked),
            c.expected,
            "{}",
            c.name
        );
    }
}

#[test]
fn dispute_escalates_after_5_days_of_supplier_silence_or_15_days_without_a_solution() {
    use DisputeStatus::{Escalated, Negotiating, Open, Resolved};
    use EscalationGround::{NoSolutionInTime, SupplierNoResponse, SupplierRejected};
    let policy = DisputePolicy::default();
    assert_eq!(
        (policy.supplier_response_days, policy.resolution_days),
        (5, 15),
        "the design's defaults"
    );
    let case = |name, responded, rejected, status, asked, expected| EscalationCase {
        name,
        responded,
        rejected,
        status,
        asked,
        expected,
    };
    let silent = None;
    let replied = Some(hours(1));
    check_escalation(
        policy,
        &[
            case("silent, just opened", silent, false, Open, secs(0), None),
            case(
                "silent, +4d 23h",
                silent,
                false,
                Open,
                days(4) + hours(23),
                None,
            ),
            case(
                "silent, +5d − 1s",
                silent,
                false,
                Open,
                days(5) - secs(1),
                None,
            ),
            case(
                "silent, +5d",
                silent,
                false,
                Open,
                days(5),
                Some(SupplierNoResponse),
            ),
            case(
                "silent, +15d",
                silent,
                false,
                Open,
                days(15),
                Some(SupplierNoResponse),
            ),
            case("responded, +5d", replied, false, Negotiating, days(5), None),
            case(
                "responded, +14d",
                replied,
                false,
                Negotiating,
                days(14),
                None,
            ),
            case(
                "responded, +15d − 1s",
                replied,
                false,
                Negotiating,
                days(15) - secs(1),
                None,
            ),
            case(
                "responded, +15d",
                replied,
                false,
                Negotiating,
                days(15),
                Some(NoSolutionInTime),
            ),
            case(
                "rejected, at once",
                replied,
                true,
                Negotiating,
                hours(1),
                Some(SupplierRejected),
            ),
            case(
                "rejected, +15d is time-based",
                replied,
                true,
                Negotiating,
                days(15),
                Some(NoSolutionInTime),
            ),
            case("escalated, +15d", silent, false, Escalated, days(15), None),
            case("resolved, +15d", silent, false, Resolved, days(15), None),
        ],
    );
}

#[test]
fn dispute_escalation_follows_a_custom_policy_of_3_and_8_days() {
    use DisputeStatus::{Negotiating, Open};
    use EscalationGround::{NoSolutionInTime, SupplierNoResponse, SupplierRejected};
    let policy = DisputePolicy {
        supplier_response_days: 3,
        resolution_days: 8,
    };
    let case = |name, responded, rejected, status, asked, expected| EscalationCase {
        name,
        responded,
        rejected,
        status,
        asked,
        expected,
    };
    let replied = Some(hours(1));
    check_escalation(
        policy,
        &[
            case(
                "silent, +3d − 1s",
                None,
                false,
                Open,
                days(3) - secs(1),
                None,
            ),
            case(
                "silent, +3d",
                None,
                false,
                Open,
                days(3),
                Some(SupplierNoResponse),
            ),
            case("responded, +3d", replied, false, Negotiating, days(3), None),
            case(
                "responded, +8d − 1s",
                replied,
                false,
                Negotiating,
                days(8) - secs(1),
                None,
            ),
            case(
                "responded, +8d",
                replied,
                false,
                Negotiating,
                days(8),
                Some(NoSolutionInTime),
            ),
            case(
                "rejected, at once",
                replied,
                true,
                Negotiating,
                hours(1),
                Some(SupplierRejected),
            ),
        ],
    );
}

// ---- the order aggregate -------------------------------------------------------------

#[test]
fn create_with_ship_by_today_is_allowed_and_yesterday_is_refused() {
    let cases = [
        (
            "ship-by today, first second",
            date(2025, 3, 3),
            at(2025, 3, 3, 0, 0, 0),
            true,
        ),
        (
            "ship-by today, last second",
            date(2025, 3, 3),
            at(2025, 3, 3, 23, 59, 59),
            true,
        ),
        (
            "ship-by yesterday",
            date(2025, 3, 2),
            at(2025, 3, 3, 0, 0, 0),
            false,
        ),
        (
            "ship-by tomorrow",
            date(2025, 3, 4),
            at(2025, 3, 3, 23, 59, 59),
            true,
        ),
    ];
    for (name, day, now, ok) in cases {
        let mut s = spec();
        s.ship_by = day;
        let new = NewOrder {
            id: OrderId::parse("ord_1").expect("valid order id"),
            counterparty: Counterparty::Supplier(uid("s-1")),
            terms: s.terms().expect("valid terms"),
            clocks: Clocks::default(),
        };
        match Order::create(&buyer(), new, now) {
            Ok(_) => assert!(ok, "{name}: must be refused"),
            Err(e) => {
                assert!(!ok, "{name}: refused with {e}");
                assert_eq!(rule(e), Rule::ShipByInPast, "{name}");
            }
        }
    }
}

#[test]
fn confirm_needs_at_least_0_01_of_assurance_limit_available() {
    let cases = [
        ("nothing available", usd!("2000.00"), usd!("2000.00"), None),
        (
            "limit lowered below reserved",
            usd!("1000.00"),
            usd!("2000.00"),
            None,
        ),
        (
            "0.01 available",
            usd!("2000.00"),
            usd!("1999.99"),
            Some("0.01"),
        ),
        (
            "1500.00 available",
            usd!("3500.00"),
            usd!("2000.00"),
            Some("1500.00"),
        ),
        (
            "1500.01 available",
            usd!("3500.01"),
            usd!("2000.00"),
            Some("1500.00"),
        ),
    ];
    for (name, limit, reserved, covered) in cases {
        let mut s = spec();
        s.limit = AssuranceLimit::from_parts(uid("s-1"), limit, reserved, None);
        let mut o = drive(&s, OrderStatus::AwaitingConfirmation);
        let version = o.version();
        let result = o.confirm(&supplier(), version, &s.limit, confirmed_at());
        match covered {
            None => {
                let e = result.expect_err(name);
                assert_eq!(rule(e), Rule::NoAssuranceLimitAvailable, "{name}");
                assert_eq!(o.status(), OrderStatus::AwaitingConfirmation, "{name}");
            }
            Some(covered) => {
                result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    o.coverage().covered_amount.map(|u| u.to_string()),
                    Some(covered.to_owned()),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn initial_card_payment_with_inspection_fee_of_20000_00_is_allowed_and_20000_01_is_refused() {
    let cases = [
        (
            "19800.00 + 200.00 China inspection",
            usd!("19800.00"),
            Ok("20000.00"),
        ),
        (
            "19800.01 + 200.00 China inspection",
            usd!("19800.01"),
            Err(Rule::Payment(PaymentRule::CardLimitExceeded {
                amount: usd!("20000.01"),
                limit: usd!("20000.00"),
            })),
        ),
    ];
    for (name, initial, expected) in cases {
        let mut s = spec().inspection(InspectionLocation::China);
        s.items = vec![(1, usd!("30000.00"))];
        s.shipping_fee = Usd::ZERO;
        s.initial = initial;
        let mut o = drive(&s, OrderStatus::AwaitingInitialPayment);
        let id = PaymentId::parse("pay_initial").expect("valid payment id");
        let actual = o
            .initiate_payment(
                &buyer(),
                PaymentRequest {
                    id: id.clone(),
                    stage: Stage::Initial,
                    method: card("visa"),
                },
                PaymentContext::default(),
                initial_paid_at(),
            )
            .map(|_| o.payment(&id).expect("payment").amount.to_string())
            .map_err(rule);
        assert_eq!(actual, expected.map(str::to_owned), "{name}");
    }
}

#[test]
fn echeck_initial_payment_carries_a_15_00_fee_on_top_of_its_amount() {
    let mut o = drive(&spec(), OrderStatus::AwaitingInitialPayment);
    let id = PaymentId::parse("pay_echeck").expect("valid payment id");
    o.initiate_payment(
        &buyer(),
        PaymentRequest {
            id: id.clone(),
            stage: Stage::Initial,
            method: PaymentMethod::ECheck {
                bank_country: CountryCode::US,
                account_type: AccountType::Checking,
            },
        },
        PaymentContext::default(),
        initial_paid_at(),
    )
    .expect("e-check payment");
    let p = o.payment(&id).expect("payment");
    assert_eq!(p.amount, usd!("1500.00"), "amount is the stage amount");
    assert_eq!(p.fee, usd!("15.00"), "fee on top");
    // Monday + 4..=5 working days.
    assert_eq!(
        p.expected_arrival,
        ArrivalWindow {
            earliest: date(2025, 3, 7),
            latest: date(2025, 3, 10),
        }
    );
}

#[test]
fn shipped_at_may_be_now_or_up_to_72_hours_back_and_no_later_or_earlier() {
    let now = at(2025, 3, 12, 15, 0, 0);
    let cases = [
        ("default (now)", None, Ok(now)),
        ("exactly now", Some(now), Ok(now)),
        (
            "now + 1s",
            Some(now + secs(1)),
            Err(Rule::ShippedAtInFuture),
        ),
        ("now − 72h", Some(now - hours(72)), Ok(now - hours(72))),
        (
            "now − 72h − 1s",
            Some(now - hours(72) - secs(1)),
            Err(Rule::ShippedAtTooOld),
        ),
    ];
    for (name, shipped, expected) in cases {
        let mut o = drive(&spec(), OrderStatus::AwaitingShipment);
        let actual = o
            .ship(&supplier(), shipment(shipped), now)
            .map(|_| o.shipment().expect("shipment").shipped_at)
            .map_err(rule);
        assert_eq!(actual, expected, "{name}");
        let status = if actual.is_ok() {
            OrderStatus::Shipped
        } else {
            OrderStatus::AwaitingShipment
        };
        assert_eq!(o.status(), status, "{name}: status");
    }
}

#[test]
fn shipment_at_23_59_59_on_the_ship_by_date_is_on_time_and_at_00_00_00_the_next_day_is_late() {
    // Lateness is judged by when the shipment is recorded, whatever
    // `shipped_at` says (docs/rules.md, shipping).
    let deadline = at(2025, 3, 14, 23, 59, 59);
    let cases = [
        (
            "recorded the day before",
            None,
            at(2025, 3, 13, 12, 0, 0),
            false,
        ),
        ("recorded 23:59:59 on ship-by", None, deadline, false),
        (
            "recorded 00:00:00 the next day",
            None,
            deadline + secs(1),
            true,
        ),
        (
            "recorded 00:00:00 the next day, shipped_at 23:59:59 on ship-by",
            Some(deadline),
            deadline + secs(1),
            true,
        ),
        (
            "recorded 23:59:59, shipped_at 71 hours back",
            Some(deadline - hours(71)),
            deadline,
            false,
        ),
        (
            "recorded 2 days after the ship-by date, shipped_at 71 hours back (the issue)",
            Some(deadline + days(2) - hours(71)),
            deadline + days(2),
            true,
        ),
    ];
    for (name, shipped, recorded, late) in cases {
        let mut o = drive(&spec(), OrderStatus::AwaitingShipment);
        let events = o
            .ship(&supplier(), shipment(shipped), recorded)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(o.shipment().map(|s| s.late), Some(late), "{name}");
        assert!(
            events.iter().any(|e| e.body
                == EventBody::OrderShipped {
                    shipped_at: shipped.unwrap_or(recorded),
                    late
                }),
            "{name}: event"
        );
    }
}

#[test]
fn customs_clearance_may_be_recorded_from_the_shipment_up_to_now() {
    // Only the buyer (the importer) records it: the supplier may not shorten
    // the quality window it protects the buyer with.
    let now = shipped_at() + days(2);
    let cases = [
        ("at shipment", shipped_at(), Ok(())),
        (
            "1s before shipment",
            shipped_at() - secs(1),
            Err(Rule::BeforeShipment("customs_cleared_at")),
        ),
        ("now", now, Ok(())),
        (
            "now + 1s",
            now + secs(1),
            Err(Rule::InFuture("customs_cleared_at")),
        ),
    ];
    for (name, cleared, expected) in cases {
        let mut o = drive(&spec(), OrderStatus::Shipped);
        let actual = o
            .record_delivery(&buyer(), Some(cleared), None, now)
            .map(|_| ())
            .map_err(rule);
        assert_eq!(actual, expected, "{name}");
        let by_supplier = o.record_delivery(&supplier(), Some(cleared), None, now);
        assert_eq!(
            by_supplier.map_err(|e| e.kind()).map(|_| ()),
            Err(ErrorKind::Forbidden),
            "{name}: the supplier"
        );
    }
}

#[test]
fn feedback_at_completion_plus_60_days_is_allowed_and_one_second_later_is_refused() {
    let done = completed_at();
    let cases = [
        ("at completion", done, Ok(())),
        ("completion + 60d", done + days(60), Ok(())),
        (
            "completion + 60d + 1s",
            done + days(60) + secs(1),
            Err(Rule::FeedbackWindowClosed),
        ),
    ];
    for (name, now, expected) in cases {
        let mut o = drive(&spec(), OrderStatus::Completed);
        assert_eq!(o.completed_at(), Some(done), "{name}: completed at");
        let actual = o
            .leave_feedback(&buyer(), Rating::parse(4).expect("rating"), long("ok"), now)
            .map(|_| ())
            .map_err(rule);
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn late_shipment_dispute_at_the_ship_by_deadline_is_refused_and_one_second_later_allowed() {
    let deadline = at(2025, 3, 14, 23, 59, 59);
    // (name, shipment recorded at (shipped_at = then), dispute opened at, expected)
    let cases = [
        (
            "unshipped, at the deadline",
            None,
            deadline,
            Err(Rule::NotLateYet),
        ),
        ("unshipped, deadline + 1s", None, deadline + secs(1), Ok(())),
        (
            "recorded at 23:59:59, deadline + 1s",
            Some(deadline),
            deadline + secs(1),
            Err(Rule::ShippedOnTime),
        ),
        (
            "recorded at 00:00:00 next day",
            Some(deadline + secs(1)),
            deadline + hours(1),
            Ok(()),
        ),
    ];
    for (name, recorded, now, expected) in cases {
        let mut o = drive(&spec(), OrderStatus::AwaitingShipment);
        if let Some(recorded) = recorded {
            o.ship(&supplier(), shipment(Some(recorded)), recorded)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let actual = o
            .raise_dispute(
                &buyer(),
                claim(DisputeReason::LateShipment, usd!("100.00")),
                now,
            )
            .map(|_| ())
            .map_err(rule);
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn requested_refund_up_to_covered_and_paid_is_allowed_and_one_cent_more_is_refused() {
    struct Case {
        name: &'static str,
        spec: Spec,
        status: OrderStatus,
        requested: Usd,
        expected: Result<(), Rule>,
    }
    let pre = spec().limit(usd!("2000.00"));
    let post_capped = spec().limit(usd!("2000.00")).post_delivery();
    let post = spec().post_delivery();
    let post_inspected = spec()
        .post_delivery()
        .inspection(InspectionLocation::Overseas);
    let case = |name, spec: &Spec, status, requested, expected| Case {
        name,
        spec: spec.clone(),
        status,
        requested,
        expected,
    };
    let cases = [
        case(
            "zero",
            &pre,
            OrderStatus::AwaitingShipment,
            Usd::ZERO,
            Err(Rule::RefundNotPositive),
        ),
        case(
            "pre: 0.01",
            &pre,
            OrderStatus::AwaitingShipment,
            usd!("0.01"),
            Ok(()),
        ),
        case(
            "pre: covered 1500.00",
            &pre,
            OrderStatus::AwaitingShipment,
            usd!("1500.00"),
            Ok(()),
        ),
        case(
            "pre: covered + 0.01",
            &pre,
            OrderStatus::AwaitingShipment,
            usd!("1500.01"),
            Err(Rule::RefundExceedsCovered(usd!("1500.00"))),
        ),
        case(
            "post, limit 2000: covered 2000.00 of 3000.00 paid",
            &post_capped,
            OrderStatus::AwaitingReceiptConfirmation,
            usd!("2000.00"),
            Ok(()),
        ),
        case(
            "post, limit 2000: covered + 0.01",
            &post_capped,
            OrderStatus::AwaitingReceiptConfirmation,
            usd!("2000.01"),
            Err(Rule::RefundExceedsCovered(usd!("2000.00"))),
        ),
        case(
            "post: paid 1500.00 of 3000.00 covered",
            &post,
            OrderStatus::Shipped,
            usd!("1500.00"),
            Ok(()),
        ),
        case(
            "post: paid + 0.01",
            &post,
            OrderStatus::Shipped,
            usd!("1500.01"),
            Err(Rule::RefundExceedsPaid(usd!("1500.00"))),
        ),
        case(
            "post with 300.00 inspection: the fee is not paid for goods",
            &post_inspected,
            OrderStatus::Shipped,
            usd!("1500.01"),
            Err(Rule::RefundExceedsPaid(usd!("1500.00"))),
        ),
        case(
            "post: everything paid and covered",
            &post,
            OrderStatus::Completed,
            usd!("3000.00"),
            Ok(()),
        ),
        case(
            "post: everything + 0.01",
            &post,
            OrderStatus::Completed,
            usd!("3000.01"),
            Err(Rule::RefundExceedsCovered(usd!("3000.00"))),
        ),
    ];
    for c in cases {
        let mut o = drive(&c.spec, c.status);
        let now = o.updated_at() + hours(1);
        let actual = o
            .raise_dispute(&buyer(), claim(DisputeReason::Quality, c.requested), now)
            .map(|_| ())
            .map_err(rule);
        assert_eq!(actual, c.expected, "{}", c.name);
    }
}

#[test]
fn post_delivery_quality_dispute_at_the_quality_window_end_is_allowed_and_one_second_later_refused()
{
    let shipped = shipped_at();
    let cases = [
        ("no customs, +180d", None, shipped + days(180), true),
        (
            "no customs, +180d + 1s",
            None,
            shipped + days(180) + secs(1),
            false,
        ),
        (
            "customs at +10d, +25d",
            Some(shipped + days(10)),
            shipped + days(25),
            true,
        ),
        (
            "customs at +10d, +25d + 1s",
            Some(shipped + days(10)),
            shipped + days(25) + secs(1),
            false,
        ),
        (
            "customs at +170d, +180d",
            Some(shipped + days(170)),
            shipped + days(180),
            true,
        ),
        (
            "customs at +170d, +180d + 1s",
            Some(shipped + days(170)),
            shipped + days(180) + secs(1),
            false,
        ),
    ];
    for (name, customs, now, ok) in cases {
        let mut o = drive(&spec().post_delivery(), OrderStatus::Completed);
        if let Some(cleared) = customs {
            o.record_delivery(&buyer(), Some(cleared), None, cleared)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let end = quality_window_end(shipped, customs, &Clocks::default());
        assert_eq!(o.quality_window_end(), Some(end), "{name}: window end");
        let actual = o
            .raise_dispute(&buyer(), claim(DisputeReason::Quality, usd!("100.00")), now)
            .map(|_| ())
            .map_err(rule);
        let expected = if ok {
            Ok(())
        } else {
            Err(Rule::QualityWindowClosed(end))
        };
        assert_eq!(actual, expected, "{name}");
    }

    let mut o = drive(&spec().post_delivery(), OrderStatus::AwaitingShipment);
    let e = o
        .raise_dispute(
            &buyer(),
            claim(DisputeReason::Quality, usd!("100.00")),
            initial_arrived_at() + hours(1),
        )
        .expect_err("unshipped post-delivery quality claim");
    assert_eq!(rule(e), Rule::NotShippedYet, "before shipment");
}

#[test]
fn buyer_may_escalate_at_the_supplier_response_deadline_and_not_one_second_before() {
    let opened = initial_arrived_at() + days(1);
    let cases = [
        ("opened + 5d − 1s", opened + days(5) - secs(1), None),
        (
            "opened + 5d",
            opened + days(5),
            Some(EscalationGround::SupplierNoResponse),
        ),
    ];
    for (name, now, ground) in cases {
        let mut o = drive(&spec(), OrderStatus::AwaitingShipment);
        o.raise_dispute(
            &buyer(),
            claim(DisputeReason::Quality, usd!("100.00")),
            opened,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = o.escalate_dispute(&buyer(), now);
        match ground {
            None => assert_eq!(
                result.map_err(rule).map(|_| ()),
                Err(Rule::NotYetEscalatable {
                    supplier_response_due: opened + days(5),
                    resolution_due: opened + days(15),
                }),
                "{name}"
            ),
            Some(g) => {
                result.unwrap_or_else(|e| panic!("{name}: {e}"));
                let d = o.dispute().expect("dispute");
                assert_eq!(d.status, DisputeStatus::Escalated, "{name}");
                assert_eq!(d.escalation_ground, Some(g), "{name}");
            }
        }
    }
}

#[test]
fn sweep_cancels_an_unpaid_order_one_second_after_30_days_and_not_at_30_days() {
    // A clock fires strictly after its due instant: a payment started at
    // that instant wins.
    let cases = [
        ("confirmed + 30d", confirmed_at() + days(30), false),
        (
            "confirmed + 30d + 1s",
            confirmed_at() + days(30) + secs(1),
            true,
        ),
    ];
    for (name, now, cancelled) in cases {
        let mut o = drive(&spec(), OrderStatus::AwaitingInitialPayment);
        assert_eq!(
            o.next_sweep_due(),
            Some(confirmed_at() + days(30) + secs(1)),
            "{name}: due index"
        );
        let events = o.sweep(now).unwrap_or_else(|e| panic!("{name}: {e}"));
        if cancelled {
            assert_eq!(o.status(), OrderStatus::Cancelled, "{name}");
            assert_eq!(o.end_reason(), Some(EndReason::Unpaid), "{name}");
            assert!(
                events.iter().any(|e| e.body
                    == EventBody::OrderCancelled {
                        reason: CancelReason::Unpaid
                    }),
                "{name}: cancelled as unpaid"
            );
            assert_eq!(o.coverage().reserved, Usd::ZERO, "{name}: released");
        } else {
            assert!(events.is_empty(), "{name}: nothing due, got {events:?}");
            assert_eq!(o.status(), OrderStatus::AwaitingInitialPayment, "{name}");
        }
    }
}

#[test]
fn sweep_flags_a_card_payment_overdue_only_after_23_59_59_of_its_latest_arrival_day() {
    // Initiated Monday 3 March: a card payment arrives Wed 5 – Thu 6 March.
    let cases = [
        ("Thursday 23:59:59", at(2025, 3, 6, 23, 59, 59), false),
        ("Friday 00:00:00", at(2025, 3, 7, 0, 0, 0), true),
    ];
    for (name, now, overdue) in cases {
        let mut o = drive(&spec(), OrderStatus::InitialPaymentProcessing);
        let id = PaymentId::parse("pay_initial").expect("valid payment id");
        assert_eq!(
            o.payment(&id).expect("payment").expected_arrival,
            ArrivalWindow {
                earliest: date(2025, 3, 5),
                latest: date(2025, 3, 6),
            },
            "{name}: window"
        );
        o.sweep(now).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = o.payment(&id).expect("payment");
        assert_eq!(p.overdue_reported, overdue, "{name}");
        assert_eq!(
            p.flag.as_ref().map(|f| f.reason),
            overdue.then_some(FlagReason::Overdue),
            "{name}: flag"
        );
    }
}

#[test]
fn pay_later_of_exactly_the_available_credit_is_allowed_and_its_window_counts_from_the_agreement() {
    let cases = [
        ("credit = amount", usd!("1500.00"), Ok(())),
        (
            "credit = amount − 0.01",
            usd!("1499.99"),
            Err(Rule::Payment(PaymentRule::InsufficientCredit {
                amount: usd!("1500.00"),
                available: usd!("1499.99"),
            })),
        ),
    ];
    for (name, credit, expected) in cases {
        let line = approved_line(credit, Usd::ZERO);
        let mut o = drive(&spec(), OrderStatus::AwaitingInitialPayment);
        let id = PaymentId::parse("pay_later").expect("valid payment id");
        let actual = o
            .initiate_payment(
                &buyer(),
                PaymentRequest {
                    id: id.clone(),
                    stage: Stage::Initial,
                    method: PaymentMethod::PayLater { term_months: 6 },
                },
                PaymentContext {
                    credit_line: Some(&line),
                    receiving_account: None,
                },
                initial_paid_at(),
            )
            .map(|events| {
                assert!(
                    events.iter().any(|e| matches!(
                        &e.body,
                        EventBody::CreditReserved { amount, .. } if *amount == usd!("1500.00")
                    )),
                    "{name}: credit reserved"
                );
            })
            .map_err(rule);
        assert_eq!(actual, expected, "{name}");
        if actual.is_err() {
            continue;
        }
        // Initiated Monday 3 March: 1–3 working days → Tue 4 – Thu 6 March.
        let window = |o: &Order| o.payment(&id).expect("payment").expected_arrival;
        assert_eq!(
            window(&o),
            ArrivalWindow {
                earliest: date(2025, 3, 4),
                latest: date(2025, 3, 6),
            },
            "{name}: before the agreement"
        );
        // The loan agreement completes on Saturday 8 March: Mon 10 – Wed 12.
        o.apply_payment_report(
            Provider::Paylater,
            PaymentReport {
                payment_id: id.clone(),
                signal: PaymentSignal::AgreementCompleted,
                confirmed: None,
                provider_reference: None,
            },
            at(2025, 3, 8, 10, 0, 0),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            window(&o),
            ArrivalWindow {
                earliest: date(2025, 3, 10),
                latest: date(2025, 3, 12),
            },
            "{name}: after the agreement"
        );
    }
}

#[test]
fn shipment_with_initial_equal_to_total_awaits_receipt_and_with_0_01_balance_is_shipped() {
    let cases = [
        (
            "initial = total",
            usd!("3000.00"),
            OrderStatus::AwaitingReceiptConfirmation,
        ),
        (
            "initial = total − 0.01",
            usd!("2999.99"),
            OrderStatus::Shipped,
        ),
    ];
    for (name, initial, after_shipment) in cases {
        let mut s = spec();
        s.initial = initial;
        let o = drive(&s, after_shipment);
        assert_eq!(
            o.shipment().map(|s| s.shipped_at),
            Some(shipped_at()),
            "{name}"
        );
        assert_eq!(
            o.terms().balance(),
            usd!("3000.00").saturating_sub(initial),
            "{name}: balance"
        );
    }
    // The 0.01 balance is paid like any other.
    let mut s = spec();
    s.initial = usd!("2999.99");
    let o = drive(&s, OrderStatus::AwaitingReceiptConfirmation);
    let balance = o
        .payment(&PaymentId::parse("pay_balance").expect("valid payment id"))
        .expect("balance payment");
    assert_eq!(balance.amount, usd!("0.01"), "balance amount");
    assert_eq!(o.amount_paid(), usd!("3000.00"), "all paid");
}

#[test]
fn late_shipment_and_pre_shipment_quality_disputes_end_when_receipt_is_confirmed() {
    // Ship-by Friday 7 March; the builder ships on Monday 10 March: late.
    let mut s = spec();
    s.ship_by = date(2025, 3, 7);
    let cases = [
        (
            "late shipment, awaiting receipt",
            DisputeReason::LateShipment,
            OrderStatus::AwaitingReceiptConfirmation,
            Ok(()),
        ),
        (
            "late shipment, receipt confirmed",
            DisputeReason::LateShipment,
            OrderStatus::Completed,
            Err(Rule::CoverageEnded),
        ),
        (
            "pre-shipment quality, awaiting receipt",
            DisputeReason::Quality,
            OrderStatus::AwaitingReceiptConfirmation,
            Ok(()),
        ),
        (
            "pre-shipment quality, receipt confirmed",
            DisputeReason::Quality,
            OrderStatus::Completed,
            Err(Rule::CoverageEnded),
        ),
    ];
    for (name, reason, status, expected) in cases {
        let mut o = drive(&s, status);
        assert_eq!(o.shipment().map(|s| s.late), Some(true), "{name}: late");
        let now = o.updated_at() + secs(1);
        let actual = o
            .raise_dispute(&buyer(), claim(reason, usd!("100.00")), now)
            .map(|_| ())
            .map_err(rule);
        assert_eq!(actual, expected, "{name}");
    }
}

// ---- issue 16: every order ends, bounded orders, rules that cannot be bent ---------

#[test]
fn long_text_of_2000_characters_is_accepted_and_2001_is_refused() {
    let cases = [
        ("2000 ASCII", "x".repeat(2000), true),
        ("2001 ASCII", "x".repeat(2001), false),
        ("2000 three-byte characters", "你".repeat(2000), true),
        ("2001 three-byte characters", "你".repeat(2001), false),
        ("4000, the old bound", "x".repeat(4000), false),
        (
            "2000 after trimming",
            format!("  {}  ", "x".repeat(2000)),
            true,
        ),
    ];
    for (name, text, ok) in cases {
        let parsed = LongText::parse(&text);
        match ok {
            true => assert!(parsed.is_ok(), "{name}"),
            false => assert_eq!(
                parsed.map(|_| ()),
                Err(TextError::TooLong { max: 2000 }),
                "{name}"
            ),
        }
    }
    assert_eq!(domain::dispute::MAX_TEXT_CHARS, 2000);
}

#[test]
fn a_credit_line_approved_with_a_limit_of_0_00_is_refused_and_stays_pending() {
    let cases = [
        ("0.00", Usd::ZERO, Err(CreditError::LimitNotPositive)),
        ("0.01", usd!("0.01"), Ok(())),
        ("150000.00", usd!("150000.00"), Ok(())),
    ];
    for (name, limit, expected) in cases {
        let mut line = CreditLine::apply(
            uid("b-1"),
            ApplicationId::parse("app_1").expect("valid application id"),
            at(2025, 1, 1, 0, 0, 0),
        );
        let actual = line.approve(limit, at(2025, 1, 2, 0, 0, 0));
        assert_eq!(actual, expected, "{name}");
        if actual.is_err() {
            assert_eq!(line.status(), CreditLineStatus::Pending, "{name}");
            assert_eq!(line.available(), Usd::ZERO, "{name}");
            // The buyer is not locked out: a later decision still applies.
            line.approve(usd!("100.00"), at(2025, 1, 3, 0, 0, 0))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(line.status(), CreditLineStatus::Approved, "{name}");
    }
}

#[test]
fn only_assigned_iso_3166_alpha_2_country_codes_are_accepted() {
    let cases = [
        ("US", true),
        ("CN", true),
        ("DE", true),
        ("GB", true),
        ("ZW", true),
        ("XX", false),
        ("ZZ", false),
        ("EU", false),
        ("UK", false),
        ("us", false),
        ("USA", false),
        ("U", false),
        ("", false),
    ];
    for (code, ok) in cases {
        assert_eq!(CountryCode::parse(code).is_ok(), ok, "{code:?}");
        let json = serde_json::from_str::<CountryCode>(&format!("{code:?}"));
        assert_eq!(json.is_ok(), ok, "{code:?} as JSON");
    }
}

#[test]
fn document_and_evidence_urls_must_be_https_with_a_host() {
    let cases = [
        ("https://docs.example.com/contract.pdf", true),
        ("https://example.com", true),
        ("javascript:alert(1)", false),
        ("http://example.com/contract.pdf", false),
        ("s3://contracts/ord_1.pdf", false),
        ("data:text/html,<script>alert(1)</script>", false),
        ("//example.com/a.pdf", false),
        ("https://", false),
        ("https://exa mple.com/", false),
    ];
    for (url, ok) in cases {
        assert_eq!(HttpsUrl::parse(url).is_ok(), ok, "{url:?}");
        let json = serde_json::json!({
            "name": "contract.pdf",
            "url": url,
            "sha256": "ab".repeat(32),
        });
        let doc = serde_json::from_value::<DocumentRef>(json);
        assert_eq!(doc.is_ok(), ok, "{url:?} in a document reference");
    }
}

#[test]
fn shipped_at_may_not_be_before_the_order_was_confirmed() {
    let now = confirmed_at() + hours(2);
    let cases = [
        (
            "before the order was created",
            created_at() - hours(1),
            Err(Rule::ShippedBeforeConfirmation),
        ),
        (
            "confirmation − 1s",
            confirmed_at() - secs(1),
            Err(Rule::ShippedBeforeConfirmation),
        ),
        ("at confirmation", confirmed_at(), Ok(confirmed_at())),
        ("now", now, Ok(now)),
    ];
    for (name, shipped, expected) in cases {
        let mut o = drive(&spec(), OrderStatus::AwaitingShipment);
        let actual = o
            .ship(&supplier(), shipment(Some(shipped)), now)
            .map(|_| o.shipment().expect("shipment").shipped_at)
            .map_err(rule);
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn a_payment_expires_strictly_after_10_working_days_past_its_window_and_pay_later_7_days_after_its_request()
 {
    // Requested Monday 3 March 2025, 11:00.
    let eod = |d: u32| end_of_day(date(2025, 3, d));
    let cases = [
        ("card: latest Thu 6 → Thu 20", card("visa"), eod(20)),
        (
            "e-Checking: latest Mon 10 → Mon 24",
            PaymentMethod::ECheck {
                bank_country: CountryCode::US,
                account_type: AccountType::Checking,
            },
            eod(24),
        ),
        (
            "wire: latest Wed 12 → Wed 26",
            PaymentMethod::TelegraphicTransfer,
            eod(26),
        ),
        (
            "Pay Later: 7 days for the agreement",
            PaymentMethod::PayLater { term_months: 2 },
            initial_paid_at() + days(7),
        ),
    ];
    for (name, method, expires) in cases {
        let line = approved_line(usd!("5000.00"), Usd::ZERO);
        let account = receiving_account();
        let mut o = drive(&spec(), OrderStatus::AwaitingInitialPayment);
        let id = PaymentId::parse("pay_x").expect("valid payment id");
        o.initiate_payment(
            &buyer(),
            PaymentRequest {
                id: id.clone(),
                stage: Stage::Initial,
                method,
            },
            PaymentContext {
                credit_line: Some(&line),
                receiving_account: Some(&account),
            },
            initial_paid_at(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let kind = if name.starts_with("Pay Later") {
            DeadlineKind::AgreementDue
        } else {
            DeadlineKind::PaymentExpires
        };
        assert!(
            o.deadlines()
                .iter()
                .any(|d| d.kind == kind && d.due == expires && d.payment_id == Some(id.clone())),
            "{name}: {:?}",
            o.deadlines()
        );
        let expired = |events: &[domain::event::DomainEvent]| {
            events
                .iter()
                .any(|e| matches!(e.body, EventBody::PaymentExpired { .. }))
        };
        let at_due = o.sweep(expires).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!expired(&at_due), "{name}: not at the due instant");
        let after = o
            .sweep(expires + secs(1))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(expired(&after), "{name}: one second later");
        assert_eq!(o.status(), OrderStatus::AwaitingInitialPayment, "{name}");
        assert_eq!(
            o.payment(&id).and_then(|p| p.failure),
            Some(FailureReason::Expired),
            "{name}"
        );
    }
}

#[test]
fn the_unpaid_clock_keeps_what_was_left_when_a_payment_started_with_a_7_day_floor() {
    // (name, payment started after confirmation, failed after that, days left)
    let cases = [
        ("at once", days(0), hours(1), 30),
        ("after 10 days", days(10), days(2), 20),
        ("after 23 days: exactly 7 left", days(23), days(1), 7),
        ("after 25 days: 5 left, the floor", days(25), days(3), 7),
        ("1 hour before the end", days(30) - hours(1), days(5), 7),
        (
            "at the due instant: the payment wins",
            days(30),
            hours(1),
            7,
        ),
    ];
    for (name, started, in_flight, left) in cases {
        let mut o = drive(&spec(), OrderStatus::AwaitingInitialPayment);
        assert_eq!(o.unpaid_due(), Some(confirmed_at() + days(30)), "{name}");
        pay(&mut o, "pay_x", Stage::Initial, confirmed_at() + started);
        assert_eq!(o.unpaid_due(), None, "{name}: paused");
        let failed = confirmed_at() + started + in_flight;
        o.apply_payment_report(
            Provider::Card,
            PaymentReport {
                payment_id: PaymentId::parse("pay_x").expect("valid payment id"),
                signal: PaymentSignal::Failed,
                confirmed: None,
                provider_reference: None,
            },
            failed,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(o.unpaid_due(), Some(failed + days(left)), "{name}");
    }
}

#[test]
fn the_sweep_escalates_strictly_after_each_dispute_deadline_and_at_its_first_run_after_a_rejection()
{
    use DisputeStatus::{Escalated, Negotiating, Open};
    use EscalationGround::{NoSolutionInTime, SupplierNoResponse, SupplierRejected};
    let opened = at(2025, 3, 12, 8, 30, 0);
    // (name, responded, rejected, status, next check, asked, sweep's ground)
    let cases = [
        (
            "silent, at +5d",
            None,
            None,
            Open,
            Some(days(5)),
            days(5),
            None,
        ),
        (
            "silent, +5d + 1s",
            None,
            None,
            Open,
            Some(days(5)),
            days(5) + secs(1),
            Some(SupplierNoResponse),
        ),
        (
            "responded in time, at +15d",
            Some(hours(1)),
            None,
            Negotiating,
            Some(days(15)),
            days(15),
            None,
        ),
        (
            "responded in time, +15d + 1s",
            Some(hours(1)),
            None,
            Negotiating,
            Some(days(15)),
            days(15) + secs(1),
            Some(NoSolutionInTime),
        ),
        (
            "responded late, +6d",
            Some(days(6)),
            None,
            Negotiating,
            Some(days(5)),
            days(6),
            Some(SupplierNoResponse),
        ),
        (
            "rejected at +1h, at the rejection",
            Some(hours(1)),
            Some(hours(1)),
            Negotiating,
            Some(hours(1)),
            hours(1),
            None,
        ),
        (
            "rejected at +1h, the next run",
            Some(hours(1)),
            Some(hours(1)),
            Negotiating,
            Some(hours(1)),
            hours(1) + secs(1),
            Some(SupplierRejected),
        ),
        ("escalated", None, None, Escalated, None, days(30), None),
    ];
    for (name, responded, rejected, status, next, asked, ground) in cases {
        let mut d = dispute_opened(opened, DisputePolicy::default());
        d.supplier_responded_at = responded.map(|r| opened + r);
        d.supplier_rejected = rejected.is_some();
        d.rejected_at = rejected.map(|r| opened + r);
        d.status = status;
        assert_eq!(
            d.next_escalation_check(),
            next.map(|n| opened + n),
            "{name}: next check"
        );
        assert_eq!(d.sweep_escalation(opened + asked), ground, "{name}");
    }
}

#[test]
fn the_quality_window_follows_the_clocks_the_order_was_created_with() {
    let shipped = at(2025, 3, 10, 10, 0, 0);
    let custom = Clocks {
        quality_days_after_shipment: 90,
        quality_days_after_customs: 5,
        ..Clocks::default()
    };
    let cases = [
        ("default, no customs", Clocks::default(), None, days(180)),
        (
            "default, customs +3d",
            Clocks::default(),
            Some(days(3)),
            days(18),
        ),
        ("90/5, no customs", custom, None, days(90)),
        ("90/5, customs +3d", custom, Some(days(3)), days(8)),
        ("90/5, customs +88d", custom, Some(days(88)), days(90)),
    ];
    for (name, clocks, customs, end) in cases {
        assert_eq!(
            quality_window_end(shipped, customs.map(|c| shipped + c), &clocks),
            shipped + end,
            "{name}"
        );
    }
}

#[test]
fn an_order_keeps_the_clocks_it_was_created_with() {
    let clocks = Clocks {
        unpaid_days: 10,
        confirmation_days: 3,
        confirmation_max_days: 5,
        ..Clocks::default()
    };
    let new = NewOrder {
        id: OrderId::parse("ord_1").expect("valid order id"),
        counterparty: Counterparty::Supplier(uid("s-1")),
        terms: spec().terms().expect("valid terms"),
        clocks,
    };
    let (mut o, _) = Order::create(&buyer(), new, created_at()).expect("created");
    assert_eq!(o.clocks(), &clocks);
    assert_eq!(o.confirmation_due(), Some(created_at() + days(3)));
    let json = serde_json::to_string(&o).expect("serializes");
    let back: Order = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back.clocks(), &clocks, "stored with the order");
    let v = o.version();
    o.confirm(&supplier(), v, &spec().limit, confirmed_at())
        .expect("confirmed");
    assert_eq!(o.unpaid_due(), Some(confirmed_at() + days(10)));
}

#[test]
fn clock_settings_outside_their_range_are_refused_naming_the_variable() {
    for s in domain::clocks::SETTINGS {
        let var = format!("CLOCK_{}", s.name.to_ascii_uppercase());
        let default = (s.get)(&Clocks::default());
        let ok = Clocks::from_lookup(|k| (k == var).then(|| default.to_string()));
        assert_eq!(ok, Ok(Clocks::default()), "{var} at its default");
        for bad in [s.max + 1]
            .into_iter()
            .chain(s.min.checked_sub(1))
            .map(|v| v.to_string())
            .chain(["x".to_owned(), "-1".to_owned()])
        {
            let r = Clocks::from_lookup(|k| (k == var).then(|| bad.clone()));
            assert!(
                r.as_ref().is_err_and(|e| e.contains(&var)),
                "{var}={bad}: {r:?}"
            );
        }
    }
}

#[test]
fn a_refused_command_ranks_404_403_409_429_422() {
    let cases = [
        (OrderError::NotFound, ErrorKind::NotFound),
        (
            OrderError::Forbidden {
                action: domain::status::Action::Remind,
                allowed: "buyer",
            },
            ErrorKind::Forbidden,
        ),
        (
            OrderError::Conflict(domain::error::Conflict::AlreadyRejected),
            ErrorKind::Conflict,
        ),
        (
            OrderError::TooManyRequests {
                what: "one reminder per party per 24 hours",
                retry_after_secs: 60,
            },
            ErrorKind::TooManyRequests,
        ),
        (
            OrderError::Rule(Rule::TooManyDisputes(3)),
            ErrorKind::Unprocessable,
        ),
    ];
    for (e, kind) in cases {
        assert_eq!(e.kind(), kind, "{e}");
    }
}

#[test]
fn a_flag_is_about_money_or_about_an_event_or_a_date_and_only_the_latter_are_wrong_provider_and_overdue()
 {
    use FlagReason as F;
    // (reason, money arrived and was not applied, about money)
    let cases = [
        (F::AmountMismatch, true, true),
        (F::CurrencyMismatch, true, true),
        (F::ContradictsFinalStatus, true, true),
        (F::ClosedOrder, false, true),
        (F::BeyondCoverage, false, true),
        (F::WrongProvider, false, false),
        (F::Overdue, false, false),
    ];
    for (reason, unapplied, money) in cases {
        assert_eq!(reason.is_unapplied_money(), unapplied, "{reason:?}");
        assert_eq!(reason.is_about_money(), money, "{reason:?}");
    }
}
