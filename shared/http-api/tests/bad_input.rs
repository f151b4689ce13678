//! Hostile bodies for every POST and PUT route, through the same
//! `Api::handle` every function runs, and for the webhook route through
//! `Webhooks::handle`: each case is sent by the route's rightful caller on
//! a fresh `api()` brought to the point where the valid body succeeds (so
//! only the body is wrong), and must answer 400, 409, 413 or 422 — never a
//! 5xx — as problem+json whose `status` is the HTTP status, a 400 naming
//! the field where there is one, and change nothing (the order as its buyer
//! sees it, version included, its history, every listing, limit and credit
//! line).
//!
//! Where the answer is a choice rather than a given, the case says why:
//! e.g. a zero unit price is well-formed (400 is for malformed input) but
//! breaks a contract rule (422); a stale `version` is a conflict (409).

use test_kit::figures;

use app::memory::MemoryQueue;
use app::provider_events::{self, WebhookSecret};
use http_api::request::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use http_api::routes::ROUTES;
use http_api::webhook::{ProviderSecrets, Webhooks};
use serde_json::{Value, json};

use support::*;
use test_kit::api as support;

struct Case {
    what: String,
    body: Vec<u8>,
    expect: u16,
    /// For a 400 or 422: the field an error names (as its `field`, or in
    /// its message for errors about the whole body, e.g. a missing field).
    field: Option<String>,
}

/// One POST or PUT route: who rightfully calls it, at which point, with
/// which success status for its valid body, and its own hostile cases.
struct Target {
    method: &'static str,
    path: &'static str,
    setup: Setup,
    who: Option<(&'static str, &'static str)>,
    ok: u16,
    cases: Vec<Case>,
}

fn bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// The valid body with the value at `pointer` set (`Some`) or removed.
fn patched(valid: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut body = valid.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let slot = body.pointer_mut(parent).expect("the parent exists");
    match (slot, value) {
        (Value::Object(o), Some(v)) => {
            o.insert(key.to_owned(), v);
        }
        (Value::Object(o), None) => {
            o.remove(key);
        }
        (Value::Array(a), Some(v)) => a[key.parse::<usize>().expect("index")] = v,
        (other, _) => panic!("cannot patch {pointer} in {other}"),
    }
    body
}

/// Cases built against a route's valid body.
struct Cases {
    valid: Value,
    out: Vec<Case>,
}

impl Cases {
    fn new(valid: Value) -> Self {
        Cases {
            valid,
            out: Vec::new(),
        }
    }

    /// `pointer` set to `value`: `expect`, naming `field`.
    fn set(mut self, pointer: &str, value: Value, expect: u16, field: &str) -> Self {
        let body = patched(&self.valid, pointer, Some(value.clone()));
        self.out.push(Case {
            what: format!("{pointer} = {value}"),
            body: bytes(&body),
            expect,
            field: (!field.is_empty()).then(|| field.to_owned()),
        });
        self
    }

    /// `pointer` set to each of `values`, each `expect` naming `field`.
    fn each(mut self, pointer: &str, values: &[Value], expect: u16, field: &str) -> Self {
        for v in values {
            self = self.set(pointer, v.clone(), expect, field);
        }
        self
    }

    /// `pointer` removed.
    fn without(mut self, pointer: &str, expect: u16, field: &str) -> Self {
        let body = patched(&self.valid, pointer, None);
        self.out.push(Case {
            what: format!("without {pointer}"),
            body: bytes(&body),
            expect,
            field: (!field.is_empty()).then(|| field.to_owned()),
        });
        self
    }

    /// A whole body.
    fn body(mut self, what: &str, body: Value, expect: u16, field: &str) -> Self {
        self.out.push(Case {
            what: what.to_owned(),
            body: bytes(&body),
            expect,
            field: (!field.is_empty()).then(|| field.to_owned()),
        });
        self
    }

    /// Raw bytes.
    fn raw(mut self, what: &str, body: &str, expect: u16, field: &str) -> Self {
        self.out.push(Case {
            what: what.to_owned(),
            body: body.as_bytes().to_vec(),
            expect,
            field: (!field.is_empty()).then(|| field.to_owned()),
        });
        self
    }

    fn done(self) -> Vec<Case> {
        self.out
    }
}

/// Amounts that are not plain non-negative decimals with at most two
/// places, at most 999,999,999,999.99, as strings: all malformed (400).
fn bad_amounts() -> Vec<Value> {
    [
        "-1.00",
        "-0.01",
        "1.001",
        "30.000",
        "1e3",
        "1E3",
        "NaN",
        "Infinity",
        "-Infinity",
        "99999999999999999999.99",
        "1000000000000.00",
        "1e30",
        "",
        " 30.00",
        "30.00 ",
        "30,00",
        "+30.00",
        "30.",
        ".5",
        "0x1F",
        "３０.00",
        "30 USD",
    ]
    .iter()
    .map(|s| json!(s))
    .chain([
        json!(30),
        json!(30.5),
        json!(null),
        json!(true),
        json!({"amount": "30.00"}),
    ])
    .collect()
}

fn long(n: usize) -> Value {
    json!("x".repeat(n))
}

fn texts_that_are_not_text(max: usize) -> Vec<Value> {
    vec![
        json!(""),
        json!("   "),
        long(max + 1),
        json!("nul \u{0000} inside"),
        json!("bell \u{0007}"),
        json!(5),
        json!(null),
        json!(["a"]),
    ]
}

/// Not RFC 3339 instants. (`2027-01-04 09:00:00Z`, with a space for the
/// `T`, is one: RFC 3339 §5.6 allows it, and it is accepted.)
fn bad_instants() -> Vec<Value> {
    [
        "yesterday",
        "2027-01-04",
        "2027-01-04T09:00:00",
        "2027-02-30T00:00:00Z",
        "04/01/2027 09:00",
        "",
    ]
    .iter()
    .map(|s| json!(s))
    .chain([json!(1_800_000_000), json!(null)])
    .collect()
}

fn bad_ids() -> Vec<Value> {
    vec![
        json!(""),
        json!("sup 1"),
        json!("sup/1"),
        json!("sup-1\u{0000}"),
        long(129),
        json!(5),
        json!(["sup-1"]),
    ]
}

/// `values` as JSON strings.
fn strs(values: &[&str]) -> Vec<Value> {
    values.iter().map(|s| json!(s)).collect()
}

/// The contract terms (create and amend): every field's malformed values.
#[rustfmt::skip]
fn terms_cases(c: Cases) -> Cases {
    let item = json!({"description": "LED panel", "quantity": 1, "unit_price": "30.00"});
    let too_many = Value::Array(vec![item; 101]);
    let bad_digest = json!({"name": "c.pdf", "url": "https://docs.example.com/c.pdf", "sha256": "xyz"});
    let long_url = json!({"name": "c.pdf", "url": format!("https://docs.example.com/{}", "s".repeat(2049)),
        "sha256": "a".repeat(64)});
    let not_https = |url: &str| json!({"name": "c.pdf", "url": url, "sha256": "a".repeat(64)});
    let quantities = [json!(-1), json!(1.5), json!("100"), json!(4_294_967_296_u64), json!(1e30),
        json!(null)];
    let ship_by = strs(&["2027-02-30", "yesterday", "31/01/2027", "2027-01-31T00:00:00Z", ""]);
    c.body("an empty object", json!({}), 400, "items")
        .without("/items", 400, "items")
        .each("/items", &[json!([]), json!("LED"), json!({}), json!(null)], 400, "items")
        .set("/items/0", json!("LED panel"), 400, "items[0]")
        .set("/items/0", json!(["LED panel", 100, "30.00"]), 400, "items[0]")
        .without("/items/0/quantity", 400, "quantity")
        .set("/items/0/quantity", json!(0), 400, "items[0].quantity")
        .each("/items/0/quantity", &quantities, 400, "items[0].quantity")
        .each("/items/0/unit_price", &bad_amounts(), 400, "items[0].unit_price")
        .each("/items/0/description", &texts_that_are_not_text(200), 400, "items[0].description")
        .set("/items/0/colour", json!("red"), 400, "colour")
        .each("/currency", &strs(&["EUR", "usd", "US D", ""]), 400, "currency")
        .each("/currency", &[json!(840), json!(null)], 400, "currency")
        .without("/currency", 400, "currency")
        .each("/initial_payment", &bad_amounts(), 400, "initial_payment")
        .each("/shipping_fee", &strs(&["-5.00", "5.001", "1e3"]), 400, "shipping_fee")
        .set("/shipping_fee", json!(5), 400, "shipping_fee")
        .each("/ship_by", &ship_by, 400, "ship_by")
        .each("/ship_by", &[json!(20270131), json!(null)], 400, "ship_by")
        .each("/quality_terms", &texts_that_are_not_text(4000), 400, "quality_terms")
        .each("/destination_country", &strs(&["USA", "us", "U", "", "XX", "ZZ", "EU", "UK"]), 400,
            "destination_country")
        .set("/destination_country", json!(1), 400, "destination_country")
        .each("/coverage", &strs(&["full", "PRE_SHIPMENT", ""]), 400, "coverage")
        .each("/coverage", &[json!(1), json!(null)], 400, "coverage")
        .set("/inspection/agency", json!("XYZ"), 400, "inspection.agency")
        .set("/inspection/location", json!("moon"), 400, "inspection.location")
        .without("/inspection/location", 400, "location")
        .each("/inspection", &[json!("SGS"), json!(["SGS", "china"]), json!([])], 400, "inspection")
        .set("/contract_document", bad_digest, 400, "contract_document.sha256")
        .set("/contract_document", long_url, 400, "contract_document.url")
        .each("/contract_document", &["javascript:alert(1)", "http://docs.example.com/c.pdf",
            "s3://docs/c.pdf", "data:text/html,x", "https://", "/c.pdf"].map(not_https), 400,
            "contract_document.url")
        // What the server decides is not the client's to send.
        .set("/status", json!("completed"), 400, "status")
        .set("/version", json!(7), 400, "version")
        .set("/total", json!("1.00"), 400, "total")
        // Well-formed, but no contract: the rules' 422, naming the field.
        .set("/items/0/unit_price", json!("0.00"), 422, "items[0].unit_price")
        .set("/items/0/unit_price", json!("999999999999.99"), 422, "items")
        .set("/items", too_many, 422, "items")
        .set("/initial_payment", json!("0.00"), 422, "initial_payment")
        .set("/initial_payment", json!("3000.01"), 422, "initial_payment")
        // Well-formed dates in the past: a rule.
        .each("/ship_by", &strs(&["2027-01-03", "1970-01-01"]), 422, "")
}

/// A payment body: `method` with `details`.
fn pay(method: &str, details: Value) -> Value {
    let mut body = json!({"stage": "initial", "method": method});
    if let (Some(b), Some(d)) = (body.as_object_mut(), details.as_object()) {
        b.extend(d.clone());
    }
    body
}

/// The POST and PUT routes, each with its rightful caller, its point, its
/// success status and its own cases.
#[rustfmt::skip]
fn targets() -> Vec<Target> {
    use Setup::*;
    let target = |method, path, setup, who, ok, cases: Cases| Target {
        method, path, setup, who, ok, cases: cases.done(),
    };
    let valid = |path| Cases::new(valid_body(if path == ASSURANCE_LIMIT { "PUT" } else { "POST" },
        path));
    let checking = json!({"bank_country": "US", "account_type": "checking"});
    let echeck = |field: &str, value: &str| {
        patched(&pay("e_checking", checking.clone()), field, Some(json!(value)))
    };
    let instants_422 =
        strs(&["2027-01-05T09:00:00Z", "2026-01-01T00:00:00Z", "0001-01-01T00:00:00Z"]);
    let not_instants = bad_instants();
    vec![
        target("POST", "/v1/orders", NoOrder, BUYER, 201,
            terms_cases(valid("/v1/orders"))
                .without("/supplier_id", 400, "supplier_id")
                .set("/buyer_id", json!("buyer-1"), 400, "supplier_id")
                .each("/supplier_id", &bad_ids(), 400, "supplier_id")
                // Well-formed: nobody orders from themselves.
                .set("/supplier_id", json!("buyer-1"), 422, "")),
        target("POST", "/v1/orders/{id}/amend", AwaitingConfirmation, BUYER, 200,
            terms_cases(valid("/v1/orders/{id}/amend"))
                .set("/supplier_id", json!("sup-2"), 400, "supplier_id")
                .set("/buyer_id", json!("buyer-9"), 400, "supplier_id")),
        target("POST", "/v1/orders/{id}/confirm", AwaitingConfirmation, SUPPLIER, 200,
            valid("/v1/orders/{id}/confirm")
                .body("an empty object", json!({}), 400, "version")
                .each("/version", &[json!("1"), json!(-1), json!(1.5), json!(1e30)], 400, "version")
                .each("/version", &[json!(null), json!(true), json!([1])], 400, "version")
                .raw("version 2^64", r#"{"version": 18446744073709551616}"#, 400, "version")
                .raw("version 1.0", r#"{"version": 1.0}"#, 400, "version")
                .raw("version 1e0", r#"{"version": 1e0}"#, 400, "version")
                .set("/coverage", json!("post_delivery"), 400, "coverage")
                // Well-formed but not the version the order is at: 409.
                .each("/version", &[json!(0), json!(2), json!(u64::MAX)], 409, "")),
        target("POST", "/v1/orders/{id}/remind", AwaitingConfirmation, BUYER, 200, empty_cases()),
        target("POST", "/v1/orders/{id}/cancel", AwaitingConfirmation, BUYER, 200, empty_cases()),
        target("POST", "/v1/orders/{id}/payments", AwaitingInitialPayment, BUYER, 201,
            valid("/v1/orders/{id}/payments")
                .body("an empty object", json!({}), 400, "stage")
                .without("/stage", 400, "stage")
                .each("/stage", &strs(&["final", "INITIAL", ""]), 400, "stage")
                .each("/stage", &[json!(1), json!(null)], 400, "stage")
                .without("/method", 400, "method")
                .each("/method", &strs(&["cash", "CREDIT_CARD", ""]), 400, "method")
                .each("/method", &[json!(2), json!(null)], 400, "method")
                .without("/card_brand", 400, "card_brand")
                .each("/card_brand", &[json!(5), json!(["visa"])], 400, "card_brand")
                // The amount is the order's, not the client's.
                .set("/amount", json!("1.00"), 400, "amount")
                .set("/currency", json!("USD"), 400, "currency")
                .body("e-Checking without details", pay("e_checking", json!({})), 400,
                    "bank_country")
                .body("e-Checking from a three-letter country",
                    echeck("/bank_country", "USA"),
                    400, "bank_country")
                .body("e-Checking from a brokerage account",
                    echeck("/account_type", "brokerage"),
                    400, "account_type")
                .body("Pay Later without a term", pay("pay_later", json!({})), 400, "term_months")
                .body("Pay Later for -1 months", pay("pay_later", json!({"term_months": -1})), 400,
                    "term_months")
                .body("Pay Later for \"3\" months", pay("pay_later", json!({"term_months": "3"})),
                    400, "term_months")
                .body("Pay Later for 2^32 months",
                    pay("pay_later", json!({"term_months": 4_294_967_296_u64})), 400, "term_months")
                .body("Pay Later for 1.5 months", pay("pay_later", json!({"term_months": 1.5})),
                    400, "term_months")
                // Well-formed: the rules (a brand not taken, no credit line,
                // a wire without an account) and the state (no balance due).
                .each("/card_brand", &[json!("amex"), json!(""), long(500)], 422, "")
                .body("Pay Later for 7 months", pay("pay_later", json!({"term_months": 7})), 422,
                    "")
                .body("a wire to no account", pay("telegraphic_transfer", json!({})), 422, "")
                .set("/stage", json!("balance"), 409, "")),
        target("POST", "/v1/orders/{id}/payments/{pid}/resolution", FlaggedPayment, ARBITER, 200,
            valid("/v1/orders/{id}/payments/{pid}/resolution")
                .body("an empty object", json!({}), 400, "resolution")
                .each("/resolution", &strs(&["maybe", "ACCEPT", ""]), 400, "resolution")
                .each("/resolution", &[json!(1), json!(null), json!(["accept"])], 400, "resolution")
                .set("/resolution", json!({"accept": true}), 400, "resolution")
                .set("/amount", json!("1.00"), 400, "amount")),
        target("POST", "/v1/orders/{id}/refunds/{rid}/resolution", FlaggedRefund, ARBITER, 200,
            valid("/v1/orders/{id}/refunds/{rid}/resolution")
                .body("an empty object", json!({}), 400, "resolution")
                .each("/resolution", &strs(&["refund", "RETRY", "settled", ""]), 400, "resolution")
                .each("/resolution", &[json!(1), json!(null), json!(["retry"])], 400, "resolution")
                .set("/attempt", json!(6), 400, "attempt")),
        target("POST", "/v1/orders/{id}/shipment", AwaitingShipment, SUPPLIER, 200,
            valid("/v1/orders/{id}/shipment")
                .body("an empty object", json!({}), 400, "carrier")
                .without("/carrier", 400, "carrier")
                .without("/tracking_number", 400, "tracking_number")
                .each("/carrier", &texts_that_are_not_text(200), 400, "carrier")
                .each("/tracking_number", &texts_that_are_not_text(200), 400, "tracking_number")
                .each("/shipped_at", &not_instants[..not_instants.len() - 1], 400, "shipped_at")
                .set("/status", json!("shipped"), 400, "status")
                // Well-formed instants the rules refuse: in the future, or
                // further back than a shipment may be backdated.
                .each("/shipped_at", &instants_422, 422, "")),
        target("POST", "/v1/orders/{id}/delivery", Shipped, BUYER, 200,
            valid("/v1/orders/{id}/delivery")
                .body("an empty object", json!({}), 400, "customs_cleared_at")
                .body("both null", json!({"customs_cleared_at": null, "delivered_at": null}), 400,
                    "customs_cleared_at")
                .each("/customs_cleared_at", &not_instants[..not_instants.len() - 1], 400,
                    "customs_cleared_at")
                .body("a bad delivered_at", json!({"delivered_at": "2027-02-30T00:00:00Z"}), 400,
                    "delivered_at")
                // Well-formed instants the rules refuse: in the future, or
                // before the shipment.
                .each("/customs_cleared_at",
                    &strs(&["2027-02-01T00:00:00Z", "2027-01-01T00:00:00Z"]), 422, "")),
        target("POST", "/v1/orders/{id}/receipt", AwaitingReceipt, BUYER, 200, empty_cases()),
        target("POST", "/v1/orders/{id}/receipt/extension", AwaitingReceipt, BUYER, 200,
            empty_cases()),
        target("POST", "/v1/orders/{id}/feedback", Completed, BUYER, 201,
            valid("/v1/orders/{id}/feedback")
                .body("an empty object", json!({}), 400, "rating")
                .each("/rating", &[json!(0), json!(6), json!(-1), json!(i64::MAX)], 400, "rating")
                .each("/rating", &[json!("5"), json!(4.5), json!(1e30), json!(null)], 400, "rating")
                .raw("rating 10^20", r#"{"rating": 100000000000000000000, "comment": "x"}"#, 400,
                    "rating")
                .each("/comment", &texts_that_are_not_text(2000), 400, "comment")
                .without("/comment", 400, "comment")),
        target("POST", "/v1/orders/{id}/dispute", AwaitingShipment, BUYER, 201,
            valid("/v1/orders/{id}/dispute")
                .body("an empty object", json!({}), 400, "reason")
                .each("/reason", &strs(&["too_expensive", "QUALITY", ""]), 400, "reason")
                .set("/reason", json!(null), 400, "reason")
                .each("/requested_refund", &bad_amounts(), 400, "requested_refund")
                .each("/description", &texts_that_are_not_text(2000), 400, "description")
                .each("/evidence", &[json!("s3://photos.zip"), json!({}), json!([[]])], 400,
                    "evidence")
                .set("/evidence/0", json!({"name": "photos.zip"}), 400, "evidence[0]")
                .set("/evidence/0/sha256", json!("not-a-digest"), 400, "evidence[0].sha256")
                .set("/evidence/0/name", json!(""), 400, "evidence[0].name")
                .each("/evidence/0/url", &strs(&["javascript:alert(1)", "http://evidence.example.com/a",
                    "s3://evidence/a.zip", "data:image/png;base64,AAAA", "https://", "photos.zip"]), 400,
                    "evidence[0].url")
                // Well-formed, against the caps and the calendar.
                .each("/requested_refund", &strs(&["0.00", "1500.01", "999999999999.99"]), 422, "")
                .set("/reason", json!("late_shipment"), 422, "")),
        target("POST", "/v1/orders/{id}/dispute/responses", DisputeOpen, SUPPLIER, 200,
            valid("/v1/orders/{id}/dispute/responses")
                .body("an empty object", json!({}), 400, "action")
                .each("/action", &strs(&["shrug", "OFFER", ""]), 400, "action")
                .set("/action", json!(null), 400, "action")
                .set("/action", json!("offer"), 400, "refund_amount")
                .set("/refund_amount", json!("5.00"), 400, "refund_amount")
                .each("/message", &texts_that_are_not_text(2000)[..4], 400, "message")
                .set("/evidence", json!([{"name": "x"}]), 400, "evidence[0]")
                .body("a comment saying nothing", json!({"action": "comment"}), 422, "")
                .body("an offer above the cover",
                    json!({"action": "offer", "refund_amount": "1500.01"}), 422, "")
                .body("an offer of nothing", json!({"action": "offer", "refund_amount": "0.00"}),
                    422, ""))
        .with_each_amount("/refund_amount", json!({"action": "offer", "refund_amount": "5.00"}),
            "refund_amount"),
        target("POST", "/v1/orders/{id}/dispute/withdraw", DisputeOpen, BUYER, 200, empty_cases()),
        target("POST", "/v1/orders/{id}/dispute/escalate", DisputeRejected, BUYER, 200,
            empty_cases()),
        target("POST", "/v1/orders/{id}/dispute/decision", DisputeEscalated, ARBITER, 200,
            valid("/v1/orders/{id}/dispute/decision")
                .body("an empty object", json!({}), 400, "outcome")
                .each("/outcome", &strs(&["split_the_difference", "CLAIM_REJECTED", ""]), 400,
                    "outcome")
                .set("/outcome", json!(null), 400, "outcome")
                .set("/refund_amount", json!("1.00"), 400, "refund_amount")
                .body("supplier at fault without an amount",
                    json!({"outcome": "supplier_at_fault"}), 400, "refund_amount")
                .body("supplier at fault for more than is covered",
                    json!({"outcome": "supplier_at_fault", "refund_amount": "1500.01"}), 422, ""))
        .with_each_amount("/refund_amount",
            json!({"outcome": "supplier_at_fault", "refund_amount": "1.00"}), "refund_amount"),
        target("POST", "/v1/credit-line", NoOrder, BUYER, 201, empty_cases()),
        target("PUT", ASSURANCE_LIMIT, NoOrder, ARBITER, 200,
            valid(ASSURANCE_LIMIT)
                .body("an empty object", json!({}), 400, "limit")
                .each("/limit", &bad_amounts(), 400, "limit")
                .set("/receiving_account", json!({}), 400, "bank_name")
                .set("/receiving_account", json!("Citibank 123"), 400, "receiving_account")
                .set("/receiving_account", account("swift", json!(5)), 400,
                    "receiving_account.swift")
                .set("/receiving_account", account("bank_name", json!("")), 400,
                    "receiving_account.bank_name")
                .set("/supplier_id", json!("sup-2"), 400, "supplier_id")
                .set("/available", json!("1.00"), 400, "available")),
    ]
}

const ASSURANCE_LIMIT: &str = "/v1/suppliers/{id}/assurance-limit";

/// A receiving account with `field` set to `value`.
fn account(field: &str, value: Value) -> Value {
    let good = json!({"bank_name": "Citibank", "account_name": "Shenzhen LED Co",
        "account_number": "123456789", "swift": "CITIUS33"});
    patched(&good, &format!("/{field}"), Some(value))
}

impl Target {
    /// Every malformed amount at `pointer` of `base` (400 naming `field`).
    fn with_each_amount(mut self, pointer: &str, base: Value, field: &str) -> Self {
        let more = Cases::new(base)
            .each(pointer, &bad_amounts(), 400, field)
            .done();
        self.cases.extend(more);
        self
    }
}

/// The routes whose body is `{}` or nothing: anything in it is refused.
fn empty_cases() -> Cases {
    Cases::new(json!({}))
        .set("/reason", json!("changed my mind"), 400, "reason")
        .set("/version", json!(1), 400, "version")
        .set("/status", json!("cancelled"), 400, "status")
        .set("/", json!(null), 400, "")
        .body("an array", json!([]), 400, "")
}

/// The cases every route gets: what is not one JSON object of the route's
/// shape, and the size limit.
fn common_cases(valid: &Value) -> Vec<Case> {
    let raw = |what: &str, body: Vec<u8>, expect: u16| Case {
        what: what.to_owned(),
        body,
        expect,
        field: None,
    };
    let text = valid.to_string();
    let values: Vec<Value> = valid
        .as_object()
        .map(|o| o.values().cloned().collect())
        .unwrap_or_default();
    let mut cases = vec![
        raw("malformed JSON", b"{\"a\": ".to_vec(), 400),
        raw("a lone brace", b"{".to_vec(), 400),
        raw("single quotes", b"{'a': 1}".to_vec(), 400),
        raw("a trailing comma", b"{\"a\": 1,}".to_vec(), 400),
        raw("trailing garbage", format!("{text} x").into_bytes(), 400),
        raw("two documents", format!("{text}{text}").into_bytes(), 400),
        raw("an empty array", b"[]".to_vec(), 400),
        raw("the values as an array", bytes(&Value::Array(values)), 400),
        raw("a string", b"\"{}\"".to_vec(), 400),
        raw("null", b"null".to_vec(), 400),
        raw("a number", b"42".to_vec(), 400),
        raw("true", b"true".to_vec(), 400),
        raw("not UTF-8", b"{\"a\": \"\xff\xfe\"}".to_vec(), 400),
        raw(
            "a byte-order mark",
            [&b"\xef\xbb\xbf"[..], text.as_bytes()].concat(),
            400,
        ),
        raw(
            "nested 10,000 deep",
            [
                b"{\"a\": ".to_vec(),
                b"[".repeat(10_000),
                b"]".repeat(10_000),
                b"}".to_vec(),
            ]
            .concat(),
            400,
        ),
        Case {
            what: "an unknown field".into(),
            body: bytes(&patched(valid, "/zzz_unknown", Some(json!(1)))),
            expect: 400,
            field: Some("zzz_unknown".into()),
        },
        raw(
            "over 64 KiB",
            bytes(&json!({"pad": "x".repeat(MAX_BODY_BYTES)})),
            413,
        ),
        raw(
            "over 64 KiB of whitespace after a valid body",
            [text.as_bytes(), &vec![b' '; MAX_BODY_BYTES]].concat(),
            413,
        ),
    ];
    if let Some((key, value)) = valid.as_object().and_then(|o| o.iter().next()) {
        let duplicated = format!(
            "{{{k}: {value}, {k}: {value}, {}",
            &text[1..],
            k = json!(key)
        );
        cases.push(raw("a duplicated field", duplicated.into_bytes(), 400));
    }
    cases
}

fn names_field(p: &Value, field: &str) -> bool {
    p["errors"].as_array().is_some_and(|errors| {
        errors.iter().any(|e| {
            e["field"]
                .as_str()
                .is_some_and(|f| f == field || f.starts_with(field))
                || e["message"].as_str().is_some_and(|m| m.contains(field))
        })
    })
}

fn raw_request(method: &str, path: &str, who: Option<(&str, &str)>, body: Vec<u8>) -> ApiRequest {
    let mut r = req(method, path, who, &Value::Null);
    r.body = body;
    r
}

/// Send `body` as the target's rightful caller on a fresh stack; check
/// the answer is `expect` and, if refused, a problem that changed nothing.
async fn check(
    t: &Target,
    path_of: impl Fn(&Prepared) -> String,
    what: &str,
    body: Vec<u8>,
    expect: u16,
    field: Option<&str>,
) {
    let api = api();
    let prepared = prepare(&api, t.setup).await;
    let path = path_of(&prepared);
    let before = snapshot(&api, &prepared).await;
    let r: ApiResponse = api
        .handle(None, &raw_request(t.method, &path, t.who, body))
        .await;
    let name = format!("{} {} with {what}", t.method, t.path);
    assert!(r.status < 500, "{name}: {} {}", r.status, r.body);
    assert_eq!(r.status, expect, "{name}: {}", r.body);
    if r.status >= 400 {
        let p = assert_problem(&r, expect);
        if expect == 400 {
            assert!(
                p["errors"].as_array().is_some_and(|e| !e.is_empty()),
                "{name}: a 400 says what is wrong: {p}"
            );
        }
        if let Some(field) = field {
            assert!(
                names_field(&p, field),
                "{name}: the errors name {field}: {p}"
            );
        }
        assert_eq!(
            snapshot(&api, &prepared).await,
            before,
            "{name}: nothing changed"
        );
    }
}

#[tokio::test]
async fn when_a_post_or_put_gets_a_hostile_body_should_refuse_it_with_a_4xx_and_change_nothing() {
    let mut count = 0;
    for t in targets() {
        let pattern = t.path;
        let path_of = |p: &Prepared| p.path(pattern);
        let valid = valid_body(t.method, t.path);
        // The valid body succeeds, also padded to exactly the limit: only
        // the body is wrong in the cases below.
        let valid_bytes = if valid.is_null() {
            Vec::new()
        } else {
            bytes(&valid)
        };
        check(&t, path_of, "the valid body", valid_bytes, t.ok, None).await;
        let text = if valid.is_null() {
            "{}".to_owned()
        } else {
            valid.to_string()
        };
        let padded = [text.as_bytes(), &vec![b' '; MAX_BODY_BYTES - text.len()]].concat();
        check(
            &t,
            path_of,
            "the valid body padded to 64 KiB",
            padded,
            t.ok,
            None,
        )
        .await;
        count += 2;
        let base = if valid.is_null() { json!({}) } else { valid };
        for case in common_cases(&base)
            .into_iter()
            .chain(t.cases.iter().map(|c| Case {
                what: c.what.clone(),
                body: c.body.clone(),
                expect: c.expect,
                field: c.field.clone(),
            }))
        {
            check(
                &t,
                path_of,
                &case.what,
                case.body,
                case.expect,
                case.field.as_deref(),
            )
            .await;
            count += 1;
        }
        // Ids in the path that name nothing: 404 like an unknown order.
        if pattern.contains("{id}") {
            let ids: Vec<String> = if pattern.starts_with("/v1/suppliers/") {
                vec!["sup%201".into(), "s".repeat(129), "sup-1%00".into()]
            } else {
                vec![
                    "ord_".into(),
                    "nope".into(),
                    format!("ord_{}", "x".repeat(61)),
                    "ord_%00".into(),
                    "ORD_x".into(),
                    test_kit::api::fresh_order_id(),
                ]
            };
            for id in ids {
                let path_of = |p: &Prepared| {
                    let filled = p.path(pattern);
                    match (&p.order, pattern.starts_with("/v1/suppliers/")) {
                        (_, true) => filled.replacen("sup-1", &id, 1),
                        (Some(order), false) => filled.replacen(order.as_str(), &id, 1),
                        (None, false) => filled,
                    }
                };
                let body = bytes(&base);
                check(&t, path_of, &format!("id {id:?}"), body, 404, None).await;
                count += 1;
            }
        }
        if pattern.contains("{pid}") {
            for pid in ["pay_", "x", "pay_unknown", "PAY_1"] {
                let path_of = |p: &Prepared| {
                    p.path(pattern)
                        .replacen(p.payment.as_deref().unwrap_or_default(), pid, 1)
                };
                check(
                    &t,
                    path_of,
                    &format!("payment id {pid:?}"),
                    bytes(&base),
                    404,
                    None,
                )
                .await;
                count += 1;
            }
        }
    }
    figures::record(
        "bad-input",
        &format!(
            "bad input: {count} cases on {} POST/PUT routes",
            targets().len()
        ),
    );
}

#[test]
fn every_post_and_put_route_has_a_table_of_hostile_bodies() {
    let targets = targets();
    for route in ROUTES.iter().filter(|r| matches!(r.method, "POST" | "PUT")) {
        if route.public {
            // The webhook route: its own test below.
            assert_eq!(route.path, "/v1/webhooks/{provider}");
            continue;
        }
        let t = targets
            .iter()
            .find(|t| (t.method, t.path) == (route.method, route.path))
            .unwrap_or_else(|| {
                panic!(
                    "{} {} has no table of hostile bodies",
                    route.method, route.path
                )
            });
        assert!(!t.cases.is_empty(), "{} {}", t.method, t.path);
    }
    for t in &targets {
        assert!(
            ROUTES
                .iter()
                .any(|r| (r.method, r.path) == (t.method, t.path)),
            "{} {} is not a route",
            t.method,
            t.path
        );
    }
}

// ---- the webhook route ------------------------------------------------------------

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_800_000_000;

fn secret() -> WebhookSecret {
    WebhookSecret::parse(SECRET).expect("secret")
}

/// A delivery to `provider` with the given headers (`None`: left out).
fn delivery(
    provider: &str,
    id: Option<&str>,
    at: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> ApiRequest {
    let mut headers = Vec::new();
    for (name, value) in [
        ("webhook-id", id),
        ("webhook-timestamp", at),
        ("webhook-signature", signature),
    ] {
        if let Some(v) = value {
            headers.push((name.to_owned(), v.to_owned()));
        }
    }
    ApiRequest {
        method: "POST".into(),
        path: format!("/v1/webhooks/{provider}"),
        headers,
        body: body.to_vec(),
        request_id: "req-1".into(),
        ..ApiRequest::default()
    }
}

/// Signed as the provider would, now.
fn signed(body: &[u8]) -> ApiRequest {
    let signature = provider_events::sign(&secret(), "msg_1", NOW, body);
    delivery(
        "card",
        Some("msg_1"),
        Some(&NOW.to_string()),
        Some(&signature),
        body,
    )
}

fn event(data: Value) -> Vec<u8> {
    bytes(&json!({"type": "payment.succeeded", "data": data}))
}

fn good_data() -> Value {
    json!({"payment_id": "pay_1", "order_id": "ord_1", "amount": "1500.00",
        "currency": "USD", "provider_reference": "ch_1"})
}

#[tokio::test]
async fn when_the_webhook_route_gets_a_bad_signature_or_body_should_refuse_it_and_queue_nothing() {
    let w = Webhooks {
        queue: MemoryQueue::default(),
        secrets: ProviderSecrets::uniform(secret()),
    };
    let good = event(good_data());
    let good_sig = provider_events::sign(&secret(), "msg_1", NOW, &good);
    let other_secret =
        WebhookSecret::parse(http_api::webhook::LOCAL_DEFAULT_SECRET).expect("secret");
    let now = NOW.to_string();
    let with_data = |pointer: &str, v: Value| event(patched(&good_data(), pointer, Some(v)));
    let mut cases: Vec<(String, ApiRequest, u16)> = vec![
        (
            "unsigned".into(),
            delivery("card", None, None, None, &good),
            401,
        ),
        (
            "no signature".into(),
            delivery("card", Some("msg_1"), Some(&now), None, &good),
            401,
        ),
        (
            "an empty signature".into(),
            delivery("card", Some("msg_1"), Some(&now), Some(""), &good),
            401,
        ),
        (
            "a garbled signature".into(),
            delivery("card", Some("msg_1"), Some(&now), Some("v1,%%%"), &good),
            401,
        ),
        (
            "a v2 signature".into(),
            delivery(
                "card",
                Some("msg_1"),
                Some(&now),
                Some(&good_sig.replacen("v1", "v2", 1)),
                &good,
            ),
            401,
        ),
        (
            "a truncated signature".into(),
            delivery(
                "card",
                Some("msg_1"),
                Some(&now),
                Some(&good_sig[..good_sig.len() - 4]),
                &good,
            ),
            401,
        ),
        (
            "another secret".into(),
            delivery(
                "card",
                Some("msg_1"),
                Some(&now),
                Some(&provider_events::sign(&other_secret, "msg_1", NOW, &good)),
                &good,
            ),
            401,
        ),
        (
            "no id".into(),
            delivery("card", None, Some(&now), Some(&good_sig), &good),
            401,
        ),
        (
            "another id".into(),
            delivery("card", Some("msg_2"), Some(&now), Some(&good_sig), &good),
            401,
        ),
        (
            "no timestamp".into(),
            delivery("card", Some("msg_1"), None, Some(&good_sig), &good),
            401,
        ),
        (
            "a tampered body".into(),
            delivery(
                "card",
                Some("msg_1"),
                Some(&now),
                Some(&good_sig),
                &event(with_data_amount("9500.00")),
            ),
            401,
        ),
        (
            "an oversized body, unsigned".into(),
            delivery("card", None, None, None, &vec![b' '; MAX_BODY_BYTES + 1]),
            413,
        ),
        (
            "an unknown provider".into(),
            delivery("cash", Some("msg_1"), Some(&now), Some(&good_sig), &good),
            404,
        ),
        (
            "an upper-case provider".into(),
            delivery("CARD", Some("msg_1"), Some(&now), Some(&good_sig), &good),
            404,
        ),
    ];
    for at in [
        "soon",
        "-1",
        "1e9",
        "1800000000.5",
        " 1800000000",
        "99999999999999999999",
        "9223372036854775807",
        "0",
        &(NOW - 301).to_string(),
        &(NOW + 301).to_string(),
    ] {
        let sig = provider_events::sign(&secret(), "msg_1", at.parse().unwrap_or(NOW), &good);
        cases.push((
            format!("timestamp {at:?}"),
            delivery("card", Some("msg_1"), Some(at), Some(&sig), &good),
            401,
        ));
    }
    // Signed, but not a well-formed event: 400.
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("malformed JSON", b"{\"type\": ".to_vec()),
        ("an array", b"[]".to_vec()),
        ("a string", b"\"payment.succeeded\"".to_vec()),
        ("null", b"null".to_vec()),
        ("not UTF-8", b"{\"type\": \"\xff\"}".to_vec()),
        (
            "nested 10,000 deep",
            [
                b"{\"type\": ".to_vec(),
                b"[".repeat(10_000),
                b"]".repeat(10_000),
                b"}".to_vec(),
            ]
            .concat(),
        ),
        ("an empty object", b"{}".to_vec()),
        (
            "a numeric type",
            bytes(&json!({"type": 5, "data": good_data()})),
        ),
        (
            "an unknown type",
            bytes(&json!({"type": "payment.won", "data": good_data()})),
        ),
        ("no data", bytes(&json!({"type": "payment.succeeded"}))),
        (
            "data as an array",
            bytes(&json!({"type": "payment.succeeded", "data": []})),
        ),
        ("a bad payment id", with_data("/payment_id", json!("x"))),
        ("a bad order id", with_data("/order_id", json!("ord_"))),
        ("a numeric order id", with_data("/order_id", json!(1))),
        ("no amount", event(patched(&good_data(), "/amount", None))),
        ("a numeric amount", with_data("/amount", json!(1500))),
        ("a negative amount", with_data("/amount", json!("-1.00"))),
        (
            "an over-precise amount",
            with_data("/amount", json!("1.001")),
        ),
        ("an exponent amount", with_data("/amount", json!("1e3"))),
        ("NaN", with_data("/amount", json!("NaN"))),
        (
            "a huge amount",
            with_data("/amount", json!("99999999999999999999.99")),
        ),
        ("a numeric currency", with_data("/currency", json!(840))),
        (
            "a 17-letter currency",
            with_data("/currency", json!("X".repeat(17))),
        ),
        ("a credit line for no buyer", credit_line("", "1.00")),
        ("a credit line of -1", credit_line("buyer-1", "-1")),
    ];
    for (what, body) in bodies {
        cases.push((format!("signed, {what}"), signed(&body), 400));
    }
    let mut count = 0;
    for (what, req, expect) in &cases {
        let r = w.handle(req, NOW, now_ts()).await;
        assert!(r.status < 500, "{what}: {} {}", r.status, r.body);
        assert_eq!(r.status, *expect, "{what}: {}", r.body);
        let p = assert_problem(&r, *expect);
        if *expect == 400 {
            assert!(
                p["errors"].as_array().is_some_and(|e| !e.is_empty()),
                "{what}: {p}"
            );
        }
        count += 1;
    }
    assert!(w.queue.sent().is_empty(), "nothing refused is queued");
    // Well-formed and signed: accepted — a confirmation in another
    // currency too (kept as sent; the domain flags the payment).
    for (what, body) in [
        ("the good event", good.clone()),
        ("in EUR", with_data("/currency", json!("EUR"))),
    ] {
        let r = w.handle(&signed(&body), NOW, now_ts()).await;
        assert_eq!(r.status, 202, "{what}: {}", r.body);
        count += 1;
    }
    assert_eq!(w.queue.sent().len(), 2);
    figures::record(
        "bad-input-webhook",
        &format!("bad input: {count} webhook cases"),
    );
}

fn credit_line(buyer: &str, limit: &str) -> Vec<u8> {
    let data = json!({"buyer_id": buyer, "application_id": "app_1", "limit": limit});
    bytes(&json!({"type": "credit_line.approved", "data": data}))
}

fn with_data_amount(amount: &str) -> Value {
    patched(&good_data(), "/amount", Some(json!(amount)))
}

fn now_ts() -> domain::calendar::Timestamp {
    now()
}
