//! The sandbox provider and the provider-action step on the local stack,
//! over HTTP: what the buyer pays and the arbiter refunds is asked of the
//! sandbox through the provider adapter (`aws_adapters::providers`), and
//! confirmed by signed webhook as business time passes — no hand-made
//! webhook anywhere here.
//!
//! Each test starts an embedded stack of its own in process with the
//! sandbox on (as `PROVIDER_SANDBOX=auto`), on a free loopback port, the
//! ticker off: business time moves only when a test advances it.

mod support;

use std::sync::Arc;

use app::provider_requests::{PaymentProviders, ProviderError, ProviderRequest};
use aws_adapters::providers::HttpProviders;
use chrono::{Days, Utc};
use domain::Usd;
use domain::actor::Provider;
use domain::ids::{OrderId, PaymentId, UserId};
use domain::payment::{MethodKind, Stage};
use local_stack::actions::sandbox_config;
use local_stack::schedules::TickerConfig;
use serde_json::{Value, json};
use support::{App, EmbeddedStack, local_webhook_secrets, token};

const SECRET: &str = "sandbox-test-secret";
const DAY: i64 = 24 * 3600;

fn spawn() -> (App, Arc<EmbeddedStack>) {
    support::spawn_embedded_with_sandbox(SECRET, local_webhook_secrets(), TickerConfig::off())
}

struct Parties {
    buyer: String,
    supplier: String,
    arbiter: String,
}

fn parties() -> Parties {
    Parties {
        buyer: token(SECRET, "buyer-1", "buyer"),
        supplier: token(SECRET, "sup-1", "supplier"),
        arbiter: token(SECRET, "arb-1", "arbiter"),
    }
}

impl App {
    fn advance(&self, seconds: i64) -> Value {
        self.post(
            "/_local/clock/advance",
            None,
            &json!({ "seconds": seconds }),
        )
        .expect(200)
    }

    fn order(&self, token: &str, id: &str) -> Value {
        self.get(&format!("/v1/orders/{id}"), Some(token))
            .expect(200)
    }

    /// Advance a day at a time (at most `days`) until the order satisfies
    /// `done`; the order then, and every provider event delivered meanwhile.
    #[track_caller]
    fn advance_until(
        &self,
        token: &str,
        id: &str,
        days: u32,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, Vec<Value>) {
        let mut delivered = Vec::new();
        for _ in 0..days {
            let moved = self.advance(DAY);
            delivered.extend(
                moved["provider_events"]
                    .as_array()
                    .unwrap_or_else(|| panic!("provider events in {moved}"))
                    .iter()
                    .cloned(),
            );
            let order = self.order(token, id);
            if done(&order) {
                return (order, delivered);
            }
        }
        panic!(
            "{id} not there after {days} days: {}; delivered {delivered:?}",
            self.order(token, id)
        );
    }

    /// The sandbox's requests naming `id`.
    fn requests(&self, id: &str) -> Vec<Value> {
        let listed = self
            .get(&format!("/_local/providers/requests?id={id}"), None)
            .expect(200);
        assert_eq!(listed["mode"], "auto", "{listed}");
        assert_eq!(listed["pending_actions"], 0, "{listed}");
        listed["items"].as_array().expect("items").clone()
    }

    fn history(&self, token: &str, id: &str) -> Vec<String> {
        self.get(&format!("/v1/orders/{id}/history"), Some(token))
            .expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|h| h["event"].as_str().expect("event").to_owned())
            .collect()
    }
}

/// An order of sup-1 for $3000 (`initial` up front), confirmed: awaiting
/// its initial payment.
fn confirmed_order(app: &App, p: &Parties, initial: &str, limit: &Value) -> String {
    app.call(
        "PUT",
        "/v1/suppliers/sup-1/assurance-limit",
        Some(&p.arbiter),
        Some(limit),
    )
    .expect(200);
    let ship_by = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(400))
        .expect("date");
    let order = app
        .post(
            "/v1/orders",
            Some(&p.buyer),
            &json!({"supplier_id": "sup-1",
                "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
                "shipping_fee": "0.00", "currency": "USD", "initial_payment": initial,
                "ship_by": ship_by.to_string(), "quality_terms": "IP65",
                "destination_country": "US", "coverage": "pre_shipment"}),
        )
        .expect(201);
    let id = order["id"].as_str().expect("id").to_owned();
    app.post(
        &format!("/v1/orders/{id}/confirm"),
        Some(&p.supplier),
        &json!({"version": order["version"]}),
    )
    .expect(200);
    id
}

fn pay(app: &App, p: &Parties, id: &str, body: &Value) -> Value {
    app.post(&format!("/v1/orders/{id}/payments"), Some(&p.buyer), body)
        .expect(201)
}

fn card(stage: &str) -> Value {
    json!({"stage": stage, "method": "credit_card", "card_brand": "visa"})
}

fn payment_of<'a>(order: &'a Value, payment: &Value) -> &'a Value {
    order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .find(|p| p["id"] == payment["id"])
        .unwrap_or_else(|| panic!("{} in {order}", payment["id"]))
}

fn limit() -> Value {
    json!({"limit": "50000.00"})
}

#[test]
fn a_card_payment_gets_a_checkout_and_arrives_on_the_first_day_of_its_window() {
    let (app, _) = spawn();
    let p = parties();
    let id = confirmed_order(&app, &p, "1500.00", &limit());
    let payment = pay(&app, &p, &id, &card("initial"));
    let earliest = payment["expected_arrival"]["earliest"]
        .as_str()
        .expect("earliest")
        .to_owned();

    // The step asked the sandbox once; its answer is on the payment.
    let requests = app.requests(payment["id"].as_str().expect("id"));
    assert_eq!(requests.len(), 1, "{requests:?}");
    let asked = &requests[0];
    assert_eq!(asked["kind"], "payment");
    assert_eq!(asked["provider"], "card");
    assert_eq!(asked["idempotency_key"], payment["id"]);
    assert_eq!(asked["request"]["amount"], "1500.00");
    let reference = asked["answer"]["body"]["reference"].as_str().expect("ref");
    assert!(reference.starts_with("ch_sbx_"), "{reference}");
    let due = asked["confirmations"][0]["due"].as_str().expect("due");
    assert!(due.starts_with(&earliest), "{due} on {earliest}");
    let order = app.order(&p.buyer, &id);
    let taken = payment_of(&order, &payment);
    assert_eq!(taken["provider_reference"], reference, "{taken}");
    let url = taken["next_action"]["url"].as_str().expect("checkout url");
    assert_eq!(taken["next_action"]["type"], "checkout");
    // The checkout page is served.
    let path = url.split_once("127.0.0.1").expect("local").1;
    let path = &path[path.find('/').expect("path")..];
    let page = app.get(path, None).expect(200);
    assert_eq!(page["reference"], reference);

    // Business time brings the confirmation, through the webhook route.
    let (order, delivered) =
        app.advance_until(&p.buyer, &id, 6, |o| o["status"] == "awaiting_shipment");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["type"], "payment.succeeded");
    assert_eq!(delivered[0]["consumer"], "acknowledged");
    let settled = payment_of(&order, &payment);
    assert_eq!(settled["status"], "succeeded");
    assert!(
        settled["settled_at"]
            .as_str()
            .is_some_and(|at| at >= earliest.as_str()),
        "{settled}"
    );
    let history = app.history(&p.buyer, &id);
    for event in [
        "PaymentRequested",
        "PaymentRequestAccepted",
        "PaymentSucceeded",
    ] {
        assert_eq!(
            history.iter().filter(|e| *e == event).count(),
            1,
            "{event}: {history:?}"
        );
    }
    // Nothing more comes.
    assert_eq!(app.advance(10 * DAY)["provider_events"], json!([]));
}

#[test]
fn the_sandbox_answers_once_per_key_and_only_with_the_key() {
    let (app, _) = spawn();
    let port = app.port;
    let request = ProviderRequest::Payment {
        provider: Provider::Card,
        order_id: OrderId::parse("ord_sandboxkey").expect("id"),
        payment_id: PaymentId::parse("pay_sandboxkey").expect("id"),
        buyer_id: UserId::parse("buyer-1").expect("id"),
        stage: Stage::Initial,
        method: MethodKind::CreditCard,
        amount: Usd::parse("10.03").expect("amount"),
    };
    let providers = HttpProviders::new(sandbox_config(port, |_| None));
    let first = app.block_on(providers.send(&request)).expect("an answer");
    let again = app.block_on(providers.send(&request)).expect("an answer");
    assert_eq!(first, again, "a replay answers the first answer");

    // Another key is refused (a 4xx: final).
    let wrong = HttpProviders::new(sandbox_config(port, |name| {
        (name == "PROVIDER_KEY_CARD").then(|| "sk_wrong".to_owned())
    }));
    match app.block_on(wrong.send(&request)) {
        Err(ProviderError::Refused { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
    // The outage switch: a throttle is transient, then it answers again.
    app.post(
        "/_local/providers/outage",
        None,
        &json!({"provider": "card", "status": 429, "requests": 1}),
    )
    .expect(200);
    match app.block_on(providers.send(&request)) {
        Err(ProviderError::Transient(why)) => assert!(why.contains("429"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        app.get("/_local/providers/outage", None).expect(200),
        json!({"outages": []})
    );
    assert_eq!(
        app.block_on(providers.send(&request)).expect("answer"),
        first
    );

    // The same key with another body: a conflict.
    let mut other = json!({"order_id": "ord_sandboxkey", "payment_id": "pay_sandboxkey",
        "buyer_id": "buyer-1", "stage": "initial", "method": "credit_card",
        "amount": "10.03", "currency": "USD"});
    let same = app.send(
        "POST",
        "/_sandbox/card/v1/payments",
        &[
            ("authorization", "Bearer sk_sandbox_card"),
            ("idempotency-key", "pay_sandboxkey"),
        ],
        other.to_string().as_bytes(),
    );
    assert_eq!(same.status, 201, "{}", same.body);
    assert_eq!(same.header("idempotent-replayed"), Some("true"));
    other["amount"] = json!("10.04");
    let r = app.send(
        "POST",
        "/_sandbox/card/v1/payments",
        &[
            ("authorization", "Bearer sk_sandbox_card"),
            ("idempotency-key", "pay_sandboxkey"),
        ],
        other.to_string().as_bytes(),
    );
    assert_eq!(r.status, 409, "{}", r.body);

    // Without a key header, or the key: refused.
    let r = app.send(
        "POST",
        "/_sandbox/card/v1/payments",
        &[("authorization", "Bearer sk_sandbox_card")],
        b"{}",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app.send("POST", "/_sandbox/card/v1/payments", &[], b"{}");
    assert_eq!(r.status, 401, "{}", r.body);
    // A card payment is not e-check's.
    let r = app.send(
        "POST",
        "/_sandbox/echeck/v1/payments",
        &[
            ("authorization", "Bearer sk_sandbox_echeck"),
            ("idempotency-key", "k-1"),
        ],
        json!({"order_id": "ord_1", "payment_id": "pay_1", "buyer_id": "b", "stage": "initial",
            "method": "credit_card", "amount": "1.00", "currency": "USD"})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.body);

    // One record for the key: every attempt, the replays marked.
    let listed = app.requests("pay_sandboxkey");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let statuses: Vec<(u64, bool)> = listed[0]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                a["status"].as_u64().expect("status"),
                a["replayed"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (201, false),
            (201, true),
            (429, false),
            (201, true),
            (201, true),
            (409, false)
        ]
    );
    // `.03`: never confirmed.
    assert_eq!(listed[0]["behaviour"], "never_confirmed");
    assert_eq!(listed[0]["confirmations"], json!([]));
}

#[test]
fn a_declined_card_payment_fails_and_the_stage_waits_for_another() {
    let (app, _) = spawn();
    let p = parties();
    let id = confirmed_order(&app, &p, "1500.02", &limit());
    let payment = pay(&app, &p, &id, &card("initial"));
    assert_eq!(
        app.order(&p.buyer, &id)["status"],
        "initial_payment_processing"
    );
    // Declined at once: the next pass delivers it, without moving time.
    let ran = app
        .post("/_local/schedules/run", None, &json!({}))
        .expect(200);
    let events = ran["provider_events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{ran}");
    assert_eq!(events[0]["type"], "payment.failed");
    let order = app.order(&p.buyer, &id);
    assert_eq!(order["status"], "awaiting_initial_payment", "{order}");
    assert_eq!(payment_of(&order, &payment)["status"], "failed");
    assert_eq!(app.requests(&id)[0]["behaviour"], "declined");
}

#[test]
fn a_payment_ending_in_03_is_never_confirmed_until_it_expires() {
    let (app, _) = spawn();
    let p = parties();
    let id = confirmed_order(&app, &p, "1500.03", &limit());
    let payment = pay(&app, &p, &id, &card("initial"));
    // 3 + 10 working days: at most 19 days on.
    for _ in 0..5 {
        assert_eq!(app.advance(5 * DAY)["provider_events"], json!([]));
        app.post("/_local/schedules/run", None, &json!({}))
            .expect(200);
    }
    let order = app.order(&p.buyer, &id);
    let expired = payment_of(&order, &payment);
    assert_eq!(expired["status"], "failed", "{order}");
    assert_eq!(expired["failure_reason"], "expired", "{order}");
}

#[test]
fn a_refund_of_a_payment_ending_in_04_fails_once_then_settles() {
    let (app, _) = spawn();
    let p = parties();
    let id = confirmed_order(&app, &p, "1500.04", &limit());
    pay(&app, &p, &id, &card("initial"));
    app.advance_until(&p.buyer, &id, 6, |o| o["status"] == "awaiting_shipment");
    // A compensation the supplier accepts: one refund part.
    app.post(
        &format!("/v1/orders/{id}/dispute"),
        Some(&p.buyer),
        &json!({"reason": "quality", "requested_refund": "10.00",
            "description": "one scratched panel"}),
    )
    .expect(201);
    app.post(
        &format!("/v1/orders/{id}/dispute/responses"),
        Some(&p.supplier),
        &json!({"action": "accept"}),
    )
    .expect(200);
    let (order, delivered) = app.advance_until(&p.buyer, &id, 8, |o| {
        o["refunds"][0]["status"] == "succeeded"
    });
    let types: Vec<&str> = delivered
        .iter()
        .map(|d| d["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        ["refund.failed", "refund.succeeded"],
        "{delivered:?}"
    );
    assert_eq!(order["refunds"][0]["attempts"], 2, "{order}");
    let history = app.history(&p.buyer, &id);
    let count = |name: &str| history.iter().filter(|e| *e == name).count();
    assert_eq!(count("RefundRequested"), 2, "{history:?}");
    assert_eq!(count("RefundRequestAccepted"), 2, "{history:?}");
    assert_eq!((count("RefundFailed"), count("RefundSucceeded")), (1, 1));
    // Two requests, one per attempt's key.
    let refund_id = order["refunds"][0]["id"].as_str().expect("refund id");
    let keys: Vec<Value> = app
        .requests(refund_id)
        .iter()
        .map(|r| r["idempotency_key"].clone())
        .collect();
    assert_eq!(
        keys,
        [
            json!(format!("{refund_id}:1")),
            json!(format!("{refund_id}:2"))
        ]
    );
}

#[test]
fn pay_later_from_the_application_to_the_arrival_by_the_clock_alone() {
    let (app, _) = spawn();
    let p = parties();
    // The application goes to the lender, which approves the maximum.
    let applied = app
        .post("/v1/credit-line", Some(&p.buyer), &json!({}))
        .expect(201);
    assert_eq!(applied["status"], "pending");
    let application = applied["application_id"].as_str().expect("id");
    let mut approved = Value::Null;
    for _ in 0..4 {
        app.advance(DAY);
        approved = app.get("/v1/credit-line", Some(&p.buyer)).expect(200);
        if approved["status"] == "approved" {
            break;
        }
    }
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(approved["limit"]["amount"], "150000.00");
    let asked = app.requests(application);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["kind"], "credit_line_application");

    let id = confirmed_order(&app, &p, "1500.00", &limit());
    let payment = pay(
        &app,
        &p,
        &id,
        &json!({"stage": "initial", "method": "pay_later", "term_months": 3}),
    );
    assert_eq!(payment["status"], "awaiting_agreement");
    assert_eq!(app.requests(&id).len(), 1, "the step asked the lender");
    let order = app.order(&p.buyer, &id);
    assert_eq!(
        payment_of(&order, &payment)["next_action"]["type"],
        "loan_agreement",
        "{order}"
    );
    let (_, agreed) = app.advance_until(&p.buyer, &id, 4, |o| {
        payment_of(o, &payment)["status"] == "processing"
    });
    assert_eq!(
        agreed.last().map(|d| d["type"].clone()),
        Some(json!("loan.agreement_completed"))
    );
    let (order, _) = app.advance_until(&p.buyer, &id, 4, |o| o["status"] == "awaiting_shipment");
    assert_eq!(payment_of(&order, &payment)["status"], "succeeded");
}

#[test]
fn a_wire_is_answered_with_the_payments_instructions() {
    let (app, _) = spawn();
    let p = parties();
    let account = json!({"bank_name": "Citibank", "account_name": "Shenzhen LED Co",
        "account_number": "123456789", "swift": "CITIUS33"});
    let id = confirmed_order(
        &app,
        &p,
        "1500.00",
        &json!({"limit": "50000.00", "receiving_account": account}),
    );
    let payment = pay(
        &app,
        &p,
        &id,
        &json!({"stage": "initial", "method": "telegraphic_transfer"}),
    );
    // The API answers before the step asks the bank; the listing waits for
    // the step.
    assert_eq!(app.requests(&id).len(), 1);
    let order = app.order(&p.buyer, &id);
    let next = &payment_of(&order, &payment)["next_action"];
    assert_eq!(next["type"], "wire", "{order}");
    assert_eq!(
        next["instructions"]["reference"],
        payment["instructions"]["reference"]
    );
    assert_eq!(next["instructions"]["account_number"], "123456789");
    app.advance_until(&p.buyer, &id, 8, |o| o["status"] == "awaiting_shipment");
}

#[test]
fn a_provider_down_for_good_leaves_the_request_in_the_dead_letter_list() {
    let (app, stack) = spawn();
    let p = parties();
    app.post(
        "/_local/providers/outage",
        None,
        &json!({"provider": "card", "status": 503, "requests": 100}),
    )
    .expect(200);
    let id = confirmed_order(&app, &p, "1500.00", &limit());
    let payment = pay(&app, &p, &id, &card("initial"));
    // The listing waits for the step: five attempts, then the dead letter.
    let asked = app.requests(&id);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["attempts"].as_array().map(Vec::len), Some(5));
    assert!(asked[0].get("answer").is_none(), "{asked:?}");
    let dead = app.get("/_local/providers/dlq", None).expect(200)["items"].clone();
    assert_eq!(dead.as_array().map(Vec::len), Some(1), "{dead}");
    assert_eq!(dead[0]["attempts"], 5);
    assert_eq!(dead[0]["item"]["detail-type"], "PaymentRequested");
    assert!(
        dead[0]["error"].as_str().is_some_and(|e| e.contains("503")),
        "{dead}"
    );
    assert_eq!(stack.actions.pending(), 0);
    let order = app.order(&p.buyer, &id);
    assert_eq!(
        payment_of(&order, &payment)["provider_reference"],
        Value::Null
    );
}

#[test]
fn in_manual_mode_nothing_is_asked_or_confirmed() {
    let app = support::spawn_embedded(SECRET, local_webhook_secrets(), TickerConfig::off());
    let p = parties();
    let id = confirmed_order(&app, &p, "1500.00", &limit());
    pay(&app, &p, &id, &card("initial"));
    let moved = app.advance(10 * DAY);
    assert!(moved.get("provider_events").is_none(), "{moved}");
    let listed = app.get("/_local/providers/requests", None).expect(200);
    assert_eq!(listed["mode"], "manual");
    assert_eq!(listed["items"], json!([]));
    assert_eq!(
        app.order(&p.buyer, &id)["status"],
        "initial_payment_processing"
    );
}
