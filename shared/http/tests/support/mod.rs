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
        ids: http_api::new_order_id,
        disputes: domain::dispute::DisputePolicy::default(),
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
    let message = app::contract::provider_message(
        domain::actor::Provider::Card,
        &app::contract::unique("msg_"),
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
