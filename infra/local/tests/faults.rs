//! The whole system under AWS faults: the local stack in AWS-endpoint mode
//! on the test process's moto server, every DynamoDB, SQS and EventBridge
//! call through `local_stack::faults::FaultInjector` at 20 % — throttles,
//! 5xx, timeouts before sending, responses lost after the service applied
//! the call, transaction conflicts, EventBridge entries refused — with the
//! SDK's retry backoff in milliseconds.
//!
//! Many orders run their lifecycle at once over HTTP, as clients and
//! providers would: every POST carries an `Idempotency-Key` and is retried
//! with it on 429/503; every webhook is retried with its `webhook-id` on
//! 5xx, and a share of them is delivered twice on purpose. A third of the
//! orders complete (card initial payment, e-check balance, receipt); a
//! third are disputed, escalated, decided and refunded across both
//! payments; a third stay live, paid and awaiting shipment.
//!
//! Then, with the faults off, the promise is checked: no 500 ever; every
//! order in its expected state with its money exact (each payment applied
//! once, each refund once); every provider event applied (none in the
//! dead-letter queue); every domain event published (at least once, in
//! order); and the supplier's reserved amount equal to the sum of the
//! covered amounts its live orders hold.
//!
//! `FAULT_TEST_ORDERS` (default 30) and `FAULT_TEST_RATE_PERCENT` (default
//! 20) scale it; the figures it prints are the ones RELIABILITY.md quotes.
#![cfg(feature = "aws")]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::provider_events::{WebhookSecret, sign};
use chrono::{Days, Utc};
use domain::Usd;
use http_api::webhook::ProviderSecrets;
use local_stack::faults::{Fault, FaultInjector};
use local_stack::schedules::TickerConfig;
use serde_json::{Value, json};
use support::{AwsStack, Reply, token};
use test_kit::store_contract::unique;

use test_kit::figures;

mod support;

const SECRET: &str = "faults-test-secret";
const WEBHOOK_SECRET: &str = "whsec_ZmF1bHRzLXRlc3Qtd2ViaG9vay1zZWNyZXQ=";
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one request may keep answering 429/503 before the test gives up.
const RETRY_FOR: Duration = Duration::from_secs(120);
/// How long an order may take to reflect a delivered webhook.
const SETTLE_FOR: Duration = Duration::from_secs(120);
const CLIENTS: usize = 6;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

// ---- what the clients saw ----------------------------------------------------------

#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    /// 429/503 answers a client retried.
    retried: AtomicU64,
    webhooks: AtomicU64,
    /// 5xx answers of the webhook route a provider retried.
    webhook_retried: AtomicU64,
    /// Deliveries sent twice on purpose (same webhook-id).
    duplicates_sent: AtomicU64,
    statuses: Mutex<BTreeMap<u16, u64>>,
}

impl Seen {
    fn status(&self, status: u16) {
        if let Ok(mut s) = self.statuses.lock() {
            *s.entry(status).or_default() += 1;
        }
    }
}

// ---- the stack ---------------------------------------------------------------------

/// The stack in AWS-endpoint mode, its webhook secret, and what its clients
/// saw.
struct App {
    /// The port and the runtime: dropped first, which shuts the runtime
    /// down.
    served: support::App,
    stack: Arc<AwsStack>,
    secret: WebhookSecret,
    seen: Seen,
}

/// The stack on moto with every AWS call through `faults`, every provider
/// signing with the test's webhook secret, no ticker.
fn spawn(faults: &FaultInjector) -> App {
    let secret = WebhookSecret::parse(WEBHOOK_SECRET).expect("webhook secret");
    let (served, stack) = support::spawn_on_moto(
        "ta-faults-",
        SECRET,
        ProviderSecrets::uniform(secret.clone()),
        TickerConfig::off(),
        Some(faults),
    );
    App {
        served,
        stack,
        secret,
        seen: Seen::default(),
    }
}

// ---- a small HTTP/1.1 client that retries as a good client does ---------------------

impl App {
    /// One request through the shared client, counted with its status.
    fn once(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let r = support::send_to(self.served.port, IO_TIMEOUT, method, path, headers, body);
        self.seen.requests.fetch_add(1, Ordering::Relaxed);
        self.seen.status(r.status);
        r
    }

    /// A request as a careful client sends it: a write carries an
    /// `Idempotency-Key`, and a 429 or 503 is retried with the same key
    /// after a short pause. Never a 500.
    fn call(&self, method: &str, path: &str, who: &str, body: Option<&Value>) -> Reply {
        let key = unique("idem-");
        let auth = format!("Bearer {who}");
        let mut headers = vec![("authorization", auth.as_str())];
        if method != "GET" {
            headers.push(("idempotency-key", key.as_str()));
        }
        let body = body.map(Value::to_string).unwrap_or_default();
        let started = Instant::now();
        loop {
            let r = self.once(method, path, &headers, body.as_bytes());
            assert!(
                r.status < 500 || r.status == 503,
                "{method} {path} answered {}: {}",
                r.status,
                r.body
            );
            // A 409 `request-in-progress` is the key's earlier attempt
            // still holding its lease: wait and ask again.
            let in_progress = r.status == 409 && r.body.contains("/request-in-progress");
            if r.status != 429 && r.status != 503 && !in_progress {
                return r;
            }
            assert!(
                started.elapsed() < RETRY_FOR,
                "{method} {path} kept answering {}",
                r.status
            );
            self.seen.retried.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[track_caller]
    fn expect(
        &self,
        method: &str,
        path: &str,
        who: &str,
        body: Option<&Value>,
        status: u16,
    ) -> Value {
        let r = self.call(method, path, who, body);
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        r.json()
    }

    /// A provider's delivery: signed now, retried with the same
    /// `webhook-id` (and a fresh signature) until the route accepts it;
    /// `twice` delivers it once more afterwards, as providers do when an
    /// acknowledgement is lost.
    fn webhook(&self, provider: &str, body: &Value, twice: bool) {
        let id = unique("msg_");
        let body = body.to_string();
        let deliveries = if twice { 2 } else { 1 };
        for n in 0..deliveries {
            if n > 0 {
                self.seen.duplicates_sent.fetch_add(1, Ordering::Relaxed);
            }
            let started = Instant::now();
            loop {
                let at = Utc::now().timestamp();
                let signature = sign(&self.secret, &id, at, body.as_bytes());
                let at = at.to_string();
                let r = self.once(
                    "POST",
                    &format!("/v1/webhooks/{provider}"),
                    &[
                        ("webhook-id", &id),
                        ("webhook-timestamp", &at),
                        ("webhook-signature", &signature),
                    ],
                    body.as_bytes(),
                );
                self.seen.webhooks.fetch_add(1, Ordering::Relaxed);
                assert!(
                    r.status < 500 || r.status == 503,
                    "webhook answered {}: {}",
                    r.status,
                    r.body
                );
                if r.status == 202 {
                    break;
                }
                assert_eq!(r.status, 503, "webhook: {}", r.body);
                assert!(
                    started.elapsed() < RETRY_FOR,
                    "the webhook kept answering 503"
                );
                self.seen.webhook_retried.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The order as `who` sees it once `done` holds (the consumer works
    /// behind the queue).
    #[track_caller]
    fn wait_for(&self, who: &str, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let order = self.expect("GET", &format!("/v1/orders/{id}"), who, None, 200);
            if done(&order) {
                return order;
            }
            assert!(
                started.elapsed() < SETTLE_FOR,
                "order {id} never reached {what}: {order}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// ---- one order's journey -----------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Journey {
    /// Paid in full, shipped, received: `completed`.
    Completed,
    /// Paid in full, disputed for quality, escalated after the supplier's
    /// rejection, decided for the buyer and refunded across both payments.
    Refunded,
    /// Initial payment made: `awaiting_shipment`, its coverage reserved.
    Live,
}

impl Journey {
    fn of(i: usize) -> Journey {
        match i % 3 {
            0 => Journey::Completed,
            1 => Journey::Refunded,
            _ => Journey::Live,
        }
    }

    fn status(self) -> &'static str {
        match self {
            Journey::Completed => "completed",
            Journey::Refunded => "refunded",
            Journey::Live => "awaiting_shipment",
        }
    }
}

struct Parties {
    buyer: String,
    supplier: String,
    arbiter: String,
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |o: &Value| o["status"] == status
}

fn payment_event(order_id: &str, payment: &Value) -> Value {
    json!({"type": "payment.succeeded", "data": {
        "payment_id": payment["id"], "order_id": order_id,
        "amount": payment["amount"]["amount"], "currency": "USD",
        "provider_reference": format!("ref_{}", payment["id"].as_str().unwrap_or_default())}})
}

/// Run order `i`'s journey; returns its id.
fn journey(app: &App, i: usize, p: &Parties) -> String {
    let journey = Journey::of(i);
    let ship_by = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(60))
        .expect("date");
    let coverage = if journey == Journey::Refunded {
        "post_delivery"
    } else {
        "pre_shipment"
    };
    let body = json!({"supplier_id": "sup-1",
        "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
        "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
        "ship_by": ship_by.to_string(), "quality_terms": "IP65, 3 year warranty",
        "destination_country": "US", "coverage": coverage,
        "inspection": {"agency": "SGS", "location": "china"}});
    let order = app.expect("POST", "/v1/orders", &p.buyer, Some(&body), 201);
    let id = order["id"].as_str().expect("id").to_owned();
    let path = |tail: &str| format!("/v1/orders/{id}{tail}");

    // The supplier confirms the version it read; a 409 from losing the
    // race for the shared limit is read again and retried.
    loop {
        let seen = app.expect("GET", &path(""), &p.supplier, None, 200);
        if seen["status"] != "awaiting_confirmation" {
            break;
        }
        let r = app.call(
            "POST",
            &path("/confirm"),
            &p.supplier,
            Some(&json!({"version": seen["version"]})),
        );
        match r.status {
            200 => break,
            409 => continue,
            other => panic!("confirm {id}: {other} {}", r.body),
        }
    }

    let initial = app.expect(
        "POST",
        &path("/payments"),
        &p.buyer,
        Some(&json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"})),
        201,
    );
    app.webhook("card", &payment_event(&id, &initial), i.is_multiple_of(2));
    app.wait_for(
        &p.buyer,
        &id,
        "awaiting_shipment",
        status_is("awaiting_shipment"),
    );
    if journey == Journey::Live {
        return id;
    }

    app.expect(
        "POST",
        &path("/shipment"),
        &p.supplier,
        Some(&json!({"carrier": "DHL", "tracking_number": format!("JD{i:012}")})),
        200,
    );
    let balance = app.expect(
        "POST",
        &path("/payments"),
        &p.buyer,
        Some(
            &json!({"stage": "balance", "method": "e_checking", "bank_country": "US",
            "account_type": "checking"}),
        ),
        201,
    );
    app.webhook("echeck", &payment_event(&id, &balance), i % 4 == 1);
    app.wait_for(
        &p.buyer,
        &id,
        "awaiting_receipt_confirmation",
        status_is("awaiting_receipt_confirmation"),
    );

    if journey == Journey::Completed {
        app.expect("POST", &path("/receipt"), &p.buyer, Some(&json!({})), 200);
        return id;
    }

    app.expect(
        "POST",
        &path("/dispute"),
        &p.buyer,
        Some(&json!({"reason": "quality", "requested_refund": "2000.00",
            "description": "40 of 100 panels flicker"})),
        201,
    );
    app.expect(
        "POST",
        &path("/dispute/responses"),
        &p.supplier,
        Some(&json!({"action": "reject", "message": "they passed inspection"})),
        200,
    );
    app.expect(
        "POST",
        &path("/dispute/escalate"),
        &p.buyer,
        Some(&json!({})),
        200,
    );
    app.expect(
        "POST",
        &path("/dispute/decision"),
        &p.arbiter,
        Some(&json!({"outcome": "supplier_at_fault", "refund_amount": "3000.00"})),
        200,
    );
    let order = app.expect("GET", &path(""), &p.buyer, None, 200);
    let parts = order["refunds"].as_array().expect("refunds").clone();
    assert_eq!(parts.len(), 2, "a refund part per payment: {order}");
    for (n, part) in parts.iter().enumerate() {
        let provider = part["provider"].as_str().expect("provider");
        app.webhook(
            provider,
            &json!({"type": "refund.succeeded", "data": {"refund_id": part["id"],
                "order_id": id, "amount": part["amount"]["amount"]}}),
            (i + n).is_multiple_of(2),
        );
    }
    app.wait_for(&p.buyer, &id, "refunded", status_is("refunded"));
    id
}

fn usd(v: &Value) -> Usd {
    Usd::parse(v["amount"].as_str().unwrap_or_else(|| panic!("money: {v}")))
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn names(items: &Value) -> Vec<String> {
    items["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["event"].as_str().expect("event").to_owned())
        .collect()
}

fn count(events: &[String], name: &str) -> usize {
    events.iter().filter(|e| *e == name).count()
}

#[test]
fn at_20_percent_aws_faults_every_order_ends_right_and_no_money_is_lost_or_doubled() {
    let orders = usize::try_from(setting("FAULT_TEST_ORDERS", 30)).unwrap_or(30);
    let rate_ppm =
        u32::try_from(setting("FAULT_TEST_RATE_PERCENT", 20) * 10_000).unwrap_or(200_000);
    let faults = FaultInjector::new(0, 20_261_121);
    let app = Arc::new(spawn(&faults));
    let p = Arc::new(Parties {
        buyer: token(SECRET, "buyer-1", "buyer"),
        supplier: token(SECRET, "sup-1", "supplier"),
        arbiter: token(SECRET, "arb-1", "arbiter"),
    });

    // Faults from the first request on (the table, queues and bus exist).
    faults.set_rate_ppm(rate_ppm);
    let started = Instant::now();
    app.expect(
        "PUT",
        "/v1/suppliers/sup-1/assurance-limit",
        &p.arbiter,
        Some(&json!({"limit": "1000000.00"})),
        200,
    );
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (app, p, next, ids) = (
                Arc::clone(&app),
                Arc::clone(&p),
                Arc::clone(&next),
                Arc::clone(&ids),
            );
            std::thread::spawn(move || {
                loop {
                    let i =
                        usize::try_from(next.fetch_add(1, Ordering::SeqCst)).unwrap_or(usize::MAX);
                    if i >= orders {
                        return;
                    }
                    let id = journey(&app, i, &p);
                    ids.lock().expect("ids").push((i, id));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client's journeys");
    }
    let under_faults = started.elapsed();
    let report = faults.report();
    faults.set_rate_ppm(0);

    // Everything still queued is consumed; the outbox is drained.
    app.served.block_on(app.stack.publish_pending());
    let dlq = app.expect("GET", "/_local/dlq", &p.buyer, None, 200);
    assert_eq!(
        dlq["items"].as_array().map(Vec::len),
        Some(0),
        "no provider event may end in the dead-letter queue here: {dlq}"
    );

    let mut ids = ids.lock().expect("ids").clone();
    ids.sort();
    assert_eq!(ids.len(), orders);
    let published = app.stack.bus.published();
    let mut by_order: HashMap<String, Vec<String>> = HashMap::new();
    let mut first_seen = std::collections::HashSet::new();
    let mut duplicate_publications = 0usize;
    for e in &published {
        let key = serde_json::to_string(e).expect("event");
        if first_seen.insert(key) {
            by_order
                .entry(e.order_id.to_string())
                .or_default()
                .push(e.body.detail_type().to_owned());
        } else {
            duplicate_publications += 1;
        }
    }

    let mut reserved_sum = Usd::ZERO;
    let mut payments_applied = 0;
    let mut refunds_applied = 0;
    for (i, id) in &ids {
        let journey = Journey::of(*i);
        let order = app.expect("GET", &format!("/v1/orders/{id}"), &p.buyer, None, 200);
        assert_eq!(order["status"], journey.status(), "order {i}: {order}");
        let history = names(&app.expect(
            "GET",
            &format!("/v1/orders/{id}/history"),
            &p.buyer,
            None,
            200,
        ));
        // Each payment applied once, each refund once, whatever the
        // duplicates and the lost responses.
        let payments = if journey == Journey::Live { 1 } else { 2 };
        assert_eq!(
            count(&history, "PaymentSucceeded"),
            payments,
            "order {i}: {history:?}"
        );
        payments_applied += payments;
        let total = usd(&order["total"]);
        let paid = usd(&order["amount_paid"]);
        let pays = order["payments"].as_array().expect("payments");
        assert_eq!(pays.len(), payments, "order {i}: {order}");
        let sum = |field: &str| {
            pays.iter().fold(Usd::ZERO, |acc, p| {
                acc.checked_add(usd(&p[field])).expect("sum")
            })
        };
        let fee = usd(&order["inspection"]["fee"]);
        let refunded = usd(&order["amount_refunded"]);
        // Exact money: the buyer paid the total (the inspection fee on top,
        // with the initial payment) once, and got back exactly what was
        // decided, once.
        match journey {
            Journey::Completed => {
                assert_eq!(count(&history, "ReceiptConfirmed"), 1);
                assert_eq!(paid, total, "order {i}: {order}");
                assert_eq!(
                    sum("amount"),
                    total.checked_add(fee).expect("usd"),
                    "order {i}"
                );
                assert_eq!(refunded, Usd::ZERO, "order {i}");
            }
            Journey::Live => {
                assert_eq!(paid, usd(&order["initial_payment"]), "order {i}: {order}");
                assert_eq!(
                    order["coverage"]["reserved"], order["coverage"]["covered_amount"],
                    "a live order holds its covered amount: {order}"
                );
            }
            Journey::Refunded => {
                assert_eq!(
                    count(&history, "RefundSucceeded"),
                    2,
                    "order {i}: {history:?}"
                );
                assert_eq!(
                    count(&history, "OrderRefunded"),
                    1,
                    "order {i}: {history:?}"
                );
                assert_eq!(
                    count(&history, "DisputeResolved"),
                    1,
                    "order {i}: {history:?}"
                );
                refunds_applied += 2;
                let decided = Usd::parse("3000.00")
                    .expect("usd")
                    .checked_add(fee)
                    .expect("usd");
                assert_eq!(refunded, decided, "order {i}: {order}");
                assert_eq!(sum("refunded"), decided, "order {i}: {order}");
                assert_eq!(
                    paid.checked_add(refunded).expect("usd"),
                    sum("amount"),
                    "order {i}: {order}"
                );
                assert_eq!(
                    usd(&order["coverage"]["reserved"]),
                    Usd::ZERO,
                    "order {i}: {order}"
                );
            }
        }
        reserved_sum = reserved_sum
            .checked_add(usd(&order["coverage"]["reserved"]))
            .expect("sum");
        // Every event was published, at least once, in the order's order.
        assert_eq!(
            by_order.get(id.as_str()),
            Some(&history),
            "order {i}: published vs history"
        );
    }
    let limit = app.expect(
        "GET",
        "/v1/suppliers/sup-1/assurance-limit",
        &p.arbiter,
        None,
        200,
    );
    assert_eq!(
        usd(&limit["reserved"]),
        reserved_sum,
        "reserved == Σ covered amounts of live orders: {limit}"
    );
    let live = ids
        .iter()
        .filter(|(i, _)| Journey::of(*i) == Journey::Live)
        .count();
    assert!(live > 0 && reserved_sum > Usd::ZERO);

    // The faults really happened, of every kind, to every service.
    for kind in Fault::ALL {
        assert!(report.of_kind(kind) > 0, "no {kind} injected: {report}");
    }
    for service in ["dynamodb", "sqs", "eventbridge"] {
        assert!(
            report.of_service(service) > 0,
            "no fault for {service}: {report}"
        );
    }
    let statuses = app.seen.statuses.lock().expect("statuses").clone();
    let figures = format!(
        "faults: {orders} orders ({} completed, {} refunded, {live} live) at {} % in {:.0?}; \
         SDK calls {}, faults injected {} ({}); client requests {} (statuses {statuses:?}), \
         retried after 429/503 {}; responses lost after the call was applied (so sent again by \
         the SDK): {}; webhook deliveries {}, retried after 503 {}, \
         sent twice on purpose {}; payments applied {payments_applied}, refunds applied \
         {refunds_applied}; events recorded as published {} ({} recorded twice); \
         dead letters 0; reserved {} == Σ covered of live orders",
        ids.iter()
            .filter(|(i, _)| Journey::of(*i) == Journey::Completed)
            .count(),
        ids.iter()
            .filter(|(i, _)| Journey::of(*i) == Journey::Refunded)
            .count(),
        rate_ppm / 10_000,
        under_faults,
        report.total_calls(),
        report.total_injected(),
        Fault::ALL
            .iter()
            .map(|k| format!("{k} {}", report.of_kind(*k)))
            .collect::<Vec<_>>()
            .join(", "),
        app.seen.requests.load(Ordering::Relaxed),
        app.seen.retried.load(Ordering::Relaxed),
        ["dynamodb", "sqs", "eventbridge"]
            .iter()
            .map(|s| format!(
                "{s} {}",
                report
                    .injected
                    .get(&(*s, Fault::LostResponse))
                    .copied()
                    .unwrap_or(0)
            ))
            .collect::<Vec<_>>()
            .join(", "),
        app.seen.webhooks.load(Ordering::Relaxed),
        app.seen.webhook_retried.load(Ordering::Relaxed),
        app.seen.duplicates_sent.load(Ordering::Relaxed),
        published.len(),
        duplicate_publications,
        reserved_sum,
    );
    figures::record("faults", &figures);
}
