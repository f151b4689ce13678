//! Fixtures shared by the HTTP tests: an `Api` on the in-memory backend at
//! a fixed business time, requests as API Gateway's authorizer hands them
//! over, and problem+json assertions.
#![allow(dead_code)]

use app::clock::FixedClock;
use app::memory::MemoryBackend;
use app::ports::SupplierLimits;
use chrono::{TimeZone, Utc};
use domain::Usd;
use domain::ids::UserId;
use http_api::Api;
use http_api::request::{ApiRequest, ApiResponse, Claims};
use serde_json::{Value, json};

pub type TestApi = Api<MemoryBackend, FixedClock>;

pub fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 4, 9, 0, 0)
        .single()
        .expect("time")
}

pub fn api() -> Api<MemoryBackend, FixedClock> {
    Api {
        backend: MemoryBackend::new(),
        clock: FixedClock::at(now()),
        ids: app::ids::Ids::os(),
        clocks: domain::clocks::Clocks::default(),
    }
}

pub fn req(method: &str, path: &str, who: Option<(&str, &str)>, body: &Value) -> ApiRequest {
    ApiRequest {
        method: method.into(),
        path: path.into(),
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
        claims: match who {
            Some((sub, group)) => Claims {
                sub: Some(sub.into()),
                groups: Some(format!("[{group}]")),
            },
            None => Claims::default(),
        },
        request_id: "req-1".into(),
        ..ApiRequest::default()
    }
}

pub const BUYER: Option<(&str, &str)> = Some(("buyer-1", "buyer"));
pub const SUPPLIER: Option<(&str, &str)> = Some(("sup-1", "supplier"));
pub const STRANGER: Option<(&str, &str)> = Some(("buyer-9", "buyer"));
pub const ARBITER: Option<(&str, &str)> = Some(("arb-1", "arbiter"));

pub fn order_body() -> Value {
    json!({"supplier_id": "sup-1",
        "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
        "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
        "ship_by": "2027-01-31", "quality_terms": "IP65, 3 year warranty",
        "destination_country": "US", "coverage": "pre_shipment",
        "inspection": {"agency": "SGS", "location": "china"}})
}

pub fn json_of(r: &ApiResponse) -> Value {
    serde_json::from_str(&r.body).expect("JSON body")
}

pub async fn created(api: &Api<MemoryBackend, FixedClock>) -> String {
    let r = api
        .handle(None, &req("POST", "/v1/orders", BUYER, &order_body()))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    json_of(&r)["id"].as_str().expect("id").to_owned()
}

pub fn assert_problem(r: &ApiResponse, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.content_type, "application/problem+json");
    let p = json_of(r);
    assert_eq!(p["status"], status);
    assert!(
        p["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://"))
    );
    assert!(p["title"].is_string() && p["detail"].is_string());
    p
}

/// Created by the buyer and confirmed by the supplier (limit $100,000).
pub async fn confirmed(api: &Api<MemoryBackend, FixedClock>, body: Value) -> String {
    let r = api
        .handle(None, &req("POST", "/v1/orders", BUYER, &body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = json_of(&r)["id"].as_str().expect("id").to_owned();
    api.backend
        .set_limit(
            &UserId::parse("sup-1").expect("id"),
            Usd::dollars(100_000).expect("usd"),
            None,
        )
        .await
        .expect("limit");
    let r = api
        .handle(
            None,
            &req(
                "POST",
                &format!("/v1/orders/{id}/confirm"),
                SUPPLIER,
                &json!({"version": 1}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

/// `method path` as `who`, body `body` (`Value::Null`: no body).
pub async fn call(
    api: &TestApi,
    method: &str,
    path: &str,
    who: Option<(&str, &str)>,
    body: Value,
) -> ApiResponse {
    api.handle(None, &req(method, path, who, &body)).await
}

/// The buyer pays `stage` by card and the card provider's webhook confirms
/// it (consumed as the queue consumer would). Returns the payment id.
pub async fn paid_by_card(api: &TestApi, id: &str, stage: &str) -> String {
    let r = call(
        api,
        "POST",
        &format!("/v1/orders/{id}/payments"),
        BUYER,
        json!({"stage": stage, "method": "credit_card", "card_brand": "visa"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let payment = json_of(&r);
    let pay = payment["id"].as_str().expect("payment id").to_owned();
    let body = json!({"type": "payment.succeeded", "data": {"payment_id": pay, "order_id": id,
        "amount": payment["amount"]["amount"], "currency": "USD", "provider_reference": format!("ch_{pay}")}});
    let message = crate::store_contract::provider_message(
        domain::actor::Provider::Card,
        &crate::store_contract::unique("msg_"),
        body,
    );
    app::consumer::consume(&api.backend, &message, app::ports::Clock::now(&api.clock))
        .await
        .expect("consumed");
    pay
}

/// The order as its buyer sees it.
pub async fn order_of(api: &TestApi, id: &str) -> Value {
    let r = call(api, "GET", &format!("/v1/orders/{id}"), BUYER, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
    json_of(&r)
}

pub fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

// ---- every route at a point where its rightful caller can act ----------------------
// (used by tests/authorization.rs and tests/bad_input.rs)

/// Another supplier than `SUPPLIER`, with an assurance limit of its own.
pub const OTHER_SUPPLIER: Option<(&str, &str)> = Some(("sup-2", "supplier"));
/// The order's buyer's id, signed in without any role the API knows.
pub const NO_ROLE: Option<(&str, &str)> = Some(("buyer-1", "admin"));

/// The point a fresh `api()` is brought to before a route is called. Every
/// one sets the assurance limits of `sup-1` and `sup-2` ($100,000 each);
/// the orders are `buyer-1`'s from `sup-1` ([`order_body`]: $3,000, SGS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// No order at all.
    NoOrder,
    /// Created by the buyer (who has confirmed it), version 1.
    AwaitingConfirmation,
    /// Confirmed by both.
    AwaitingInitialPayment,
    /// The initial card payment confirmed with another amount: flagged.
    FlaggedPayment,
    /// The initial $1,500 paid.
    AwaitingShipment,
    /// Shipped with a balance due.
    Shipped,
    /// Paid in full up front, then shipped.
    AwaitingReceipt,
    /// Received: complete, no feedback yet.
    Completed,
    /// Paid; a quality dispute open (refund $500).
    DisputeOpen,
    /// The supplier rejected the dispute: the buyer may escalate.
    DisputeRejected,
    /// Escalated: an arbiter may decide.
    DisputeEscalated,
    /// The supplier accepted the dispute (a compensation of $500); its
    /// refund part failed five times: flagged for an arbiter.
    FlaggedRefund,
    /// No order; `buyer-1` has a pending Pay Later application.
    CreditApplied,
}

/// What a [`Setup`] made: the order and payment ids for the path.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub order: Option<String>,
    pub payment: Option<String>,
    pub refund: Option<String>,
}

impl Prepared {
    /// The route's path with `{id}` (the order, or `sup-1` under
    /// `/v1/suppliers/`), `{pid}` and `{provider}` (`card`) filled in.
    pub fn path(&self, pattern: &str) -> String {
        let id = if pattern.starts_with("/v1/suppliers/") {
            "sup-1"
        } else {
            self.order.as_deref().unwrap_or("ord_none")
        };
        pattern
            .replace("{id}", id)
            .replace("{pid}", self.payment.as_deref().unwrap_or("pay_none"))
            .replace("{rid}", self.refund.as_deref().unwrap_or("ref_none"))
            .replace("{provider}", "card")
    }
}

/// `now()` as RFC 3339, for the time fields of bodies.
pub fn now_rfc3339() -> String {
    now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn ok(
    api: &TestApi,
    method: &str,
    path: &str,
    who: Option<(&str, &str)>,
    body: Value,
) -> Value {
    let r = call(api, method, path, who, body).await;
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: {} {}",
        r.status,
        r.body
    );
    json_of(&r)
}

/// Bring a fresh `api` to `setup`; business time then moves on a second,
/// so that what a test does next is not at the instant of the setup's last
/// event (a reminder adds an event without a new version: at the same
/// instant as the creation it would collide with it in history).
pub async fn prepare(api: &TestApi, setup: Setup) -> Prepared {
    let prepared = prepare_at_now(api, setup).await;
    api.clock.advance(chrono::TimeDelta::seconds(1));
    prepared
}

async fn prepare_at_now(api: &TestApi, setup: Setup) -> Prepared {
    for supplier in ["sup-1", "sup-2"] {
        api.backend
            .set_limit(
                &UserId::parse(supplier).expect("id"),
                Usd::dollars(100_000).expect("usd"),
                None,
            )
            .await
            .expect("limit");
    }
    let order = |id: String| Prepared {
        order: Some(id),
        ..Prepared::default()
    };
    match setup {
        Setup::NoOrder => Prepared::default(),
        Setup::CreditApplied => {
            ok(api, "POST", "/v1/credit-line", BUYER, json!({})).await;
            Prepared::default()
        }
        Setup::AwaitingConfirmation => order(created(api).await),
        Setup::AwaitingInitialPayment => order(confirmed(api, order_body()).await),
        Setup::FlaggedPayment => {
            let id = confirmed(api, order_body()).await;
            let payment = ok(
                api,
                "POST",
                &format!("/v1/orders/{id}/payments"),
                BUYER,
                json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
            )
            .await;
            let pay = payment["id"].as_str().expect("payment id").to_owned();
            let body = json!({"type": "payment.succeeded", "data": {"payment_id": pay,
                "order_id": id, "amount": "1.00", "currency": "USD", "provider_reference": "ch_1"}});
            let message = crate::store_contract::provider_message(
                domain::actor::Provider::Card,
                &crate::store_contract::unique("msg_"),
                body,
            );
            app::consumer::consume(&api.backend, &message, now())
                .await
                .expect("consumed");
            Prepared {
                order: Some(id),
                payment: Some(pay),
                refund: None,
            }
        }
        Setup::FlaggedRefund => {
            let id = confirmed(api, order_body()).await;
            paid_by_card(api, &id, "initial").await;
            let at = |p: &str| format!("/v1/orders/{id}/{p}");
            ok(api, "POST", &at("dispute"), BUYER, dispute_body()).await;
            let accept = json!({"action": "accept"});
            let resolved = ok(api, "POST", &at("dispute/responses"), SUPPLIER, accept).await;
            assert_eq!(
                resolved["order_status"], "awaiting_shipment",
                "a compensation"
            );
            let order = ok(api, "GET", &format!("/v1/orders/{id}"), BUYER, Value::Null).await;
            let refund = order["refunds"][0]["id"]
                .as_str()
                .expect("a refund part")
                .to_owned();
            for _ in 0..domain::refund::MAX_REFUND_ATTEMPTS {
                let body = json!({"type": "refund.failed", "data": {"refund_id": refund,
                    "order_id": id}});
                let message = crate::store_contract::provider_message(
                    domain::actor::Provider::Card,
                    &crate::store_contract::unique("msg_"),
                    body,
                );
                app::consumer::consume(&api.backend, &message, now())
                    .await
                    .expect("consumed");
            }
            Prepared {
                order: Some(id),
                payment: None,
                refund: Some(refund),
            }
        }
        Setup::AwaitingShipment
        | Setup::Shipped
        | Setup::DisputeOpen
        | Setup::DisputeRejected
        | Setup::DisputeEscalated => {
            let id = confirmed(api, order_body()).await;
            paid_by_card(api, &id, "initial").await;
            let at = |p: &str| format!("/v1/orders/{id}/{p}");
            match setup {
                Setup::Shipped => {
                    ok(api, "POST", &at("shipment"), SUPPLIER, shipment_body()).await;
                }
                Setup::DisputeOpen | Setup::DisputeRejected | Setup::DisputeEscalated => {
                    ok(api, "POST", &at("dispute"), BUYER, dispute_body()).await;
                }
                _ => {}
            }
            if matches!(setup, Setup::DisputeRejected | Setup::DisputeEscalated) {
                let reject = json!({"action": "reject", "message": "Within spec"});
                ok(api, "POST", &at("dispute/responses"), SUPPLIER, reject).await;
            }
            if setup == Setup::DisputeEscalated {
                ok(api, "POST", &at("dispute/escalate"), BUYER, Value::Null).await;
            }
            order(id)
        }
        Setup::AwaitingReceipt | Setup::Completed => {
            let mut body = order_body();
            body["initial_payment"] = json!("3000.00");
            let id = confirmed(api, body).await;
            paid_by_card(api, &id, "initial").await;
            let path = format!("/v1/orders/{id}/shipment");
            ok(api, "POST", &path, SUPPLIER, shipment_body()).await;
            if setup == Setup::Completed {
                let path = format!("/v1/orders/{id}/receipt");
                ok(api, "POST", &path, BUYER, Value::Null).await;
            }
            order(id)
        }
    }
}

pub fn shipment_body() -> Value {
    json!({"carrier": "DHL", "tracking_number": "JD0001"})
}

pub fn dispute_body() -> Value {
    json!({"reason": "quality", "requested_refund": "500.00",
        "description": "Panels flicker; not IP65 as agreed",
        "evidence": [{"name": "photos.zip", "url": "https://evidence.example.com/photos.zip",
            "sha256": "a".repeat(64)}]})
}

/// The terms of [`order_body`] as an amendment (no parties), changed.
pub fn amend_body() -> Value {
    let mut body = order_body();
    if let Some(o) = body.as_object_mut() {
        o.remove("supplier_id");
    }
    body["quality_terms"] = json!("IP67, 5 year warranty");
    body
}

/// A body the rightful caller of `method pattern` sends successfully at
/// the route's point ([`Setup`]); `Value::Null` is no body.
pub fn valid_body(method: &str, pattern: &str) -> Value {
    match (method, pattern) {
        ("POST", "/v1/orders") => order_body(),
        ("POST", "/v1/orders/{id}/amend") => amend_body(),
        ("POST", "/v1/orders/{id}/confirm") => json!({"version": 1}),
        ("POST", "/v1/orders/{id}/payments") => {
            json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"})
        }
        ("POST", "/v1/orders/{id}/payments/{pid}/resolution") => json!({"resolution": "accept"}),
        ("POST", "/v1/orders/{id}/refunds/{rid}/resolution") => json!({"resolution": "retry"}),
        ("POST", "/v1/orders/{id}/shipment") => shipment_body(),
        ("POST", "/v1/orders/{id}/delivery") => json!({"customs_cleared_at": now_rfc3339()}),
        ("POST", "/v1/orders/{id}/feedback") => json!({"rating": 5, "comment": "As agreed"}),
        ("POST", "/v1/orders/{id}/dispute") => dispute_body(),
        ("POST", "/v1/orders/{id}/dispute/responses") => {
            json!({"action": "comment", "message": "Photos of every panel attached"})
        }
        ("POST", "/v1/orders/{id}/dispute/decision") => json!({"outcome": "claim_rejected"}),
        ("PUT", "/v1/suppliers/{id}/assurance-limit") => json!({"limit": "50000.00"}),
        // remind, cancel, receipt, withdraw, escalate, credit-line; the GETs.
        _ => Value::Null,
    }
}

/// Everything a refused request must leave as it was: the order as its
/// buyer sees it (version included) and its history, every listing, both
/// limits and both credit lines.
pub async fn snapshot(api: &TestApi, prepared: &Prepared) -> Value {
    let get = |path: String, who| async move {
        let r = call(api, "GET", &path, who, Value::Null).await;
        json!({"status": r.status, "body": r.body})
    };
    let mut state = json!({});
    if let Some(id) = &prepared.order {
        state["order"] = get(format!("/v1/orders/{id}"), BUYER).await;
        state["history"] = get(format!("/v1/orders/{id}/history"), BUYER).await;
    }
    for who in [BUYER, STRANGER, SUPPLIER, OTHER_SUPPLIER] {
        let key = who.map(|(id, _)| id).unwrap_or_default();
        state[format!("orders of {key}")] = get("/v1/orders".into(), who).await;
        state[format!("credit of {key}")] = get("/v1/credit-line".into(), who).await;
    }
    for supplier in ["sup-1", "sup-2"] {
        state[format!("limit of {supplier}")] =
            get(format!("/v1/suppliers/{supplier}/assurance-limit"), ARBITER).await;
    }
    state
}

/// An order id nobody has used: what a client naming an unknown order
/// sends.
pub fn fresh_order_id() -> String {
    app::ids::Ids::os()
        .order_id()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_else(|e| panic!("{e}"))
}
