//! Each HTTP convention, proven through the same `Api::handle` every
//! function runs, on the in-memory backend: checks in the order
//! 401 → 413 → 404 → 403 → 400 → 409 → 422, problem+json errors, strict
//! decoding, idempotency keys, money as `{"amount", "currency"}`.

use app::clock::FixedClock;
use app::idempotency::{IdemKey, IdemRecord, PayloadHash};
use app::memory::MemoryBackend;
use app::ports::{Idempotency, SupplierLimits};

use domain::Usd;
use domain::ids::UserId;
use http_api::Api;
use http_api::request::Claims;
use serde_json::{Value, json};

use support::*;
use test_kit::api as support;

#[tokio::test]
async fn without_a_caller_every_route_is_401() {
    let api = api();
    let r = api
        .handle(None, &req("POST", "/v1/orders", None, &order_body()))
        .await;
    assert_problem(&r, 401);
    let r = api
        .handle(None, &req("GET", "/v1/orders/ord_x", None, &Value::Null))
        .await;
    assert_problem(&r, 401);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_after_401_and_before_everything_else() {
    let api = api();
    let mut big = req(
        "POST",
        "/v1/orders/ord_unknown/cancel",
        STRANGER,
        &Value::Null,
    );
    big.body = vec![b' '; 64 * 1024 + 1];
    assert_problem(&api.handle(None, &big).await, 413);
    big.claims = Claims::default();
    assert_problem(&api.handle(None, &big).await, 401);
    let mut fits = req(
        "POST",
        "/v1/orders/ord_unknown/cancel",
        STRANGER,
        &Value::Null,
    );
    fits.body = vec![b' '; 64 * 1024];
    assert_problem(&api.handle(None, &fits).await, 404);
}

#[tokio::test]
async fn someone_elses_order_is_404_like_an_unknown_one_even_with_a_bad_body() {
    let api = api();
    let id = created(&api).await;
    let path = format!("/v1/orders/{id}");
    assert_problem(
        &api.handle(None, &req("GET", &path, STRANGER, &Value::Null))
            .await,
        404,
    );
    assert_problem(
        &api.handle(
            None,
            &req("GET", "/v1/orders/ord_nope", BUYER, &Value::Null),
        )
        .await,
        404,
    );
    let bad = req(
        "POST",
        &format!("{path}/cancel"),
        STRANGER,
        &json!({"status": "cancelled"}),
    );
    assert_problem(&api.handle(None, &bad).await, 404);
    // The parties and arbiters do see it.
    assert_eq!(
        api.handle(None, &req("GET", &path, SUPPLIER, &Value::Null))
            .await
            .status,
        200
    );
    assert_eq!(
        api.handle(None, &req("GET", &path, ARBITER, &Value::Null))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_other_partys_action_is_403_before_the_body_is_read() {
    let api = api();
    let id = created(&api).await;
    let r = api
        .handle(
            None,
            &req(
                "POST",
                &format!("/v1/orders/{id}/shipment"),
                BUYER,
                &json!({"nonsense": true}),
            ),
        )
        .await;
    assert_problem(&r, 403);
    let r = api
        .handle(
            None,
            &req(
                "PUT",
                "/v1/suppliers/sup-1/assurance-limit",
                SUPPLIER,
                &json!({"limit": "1.00"}),
            ),
        )
        .await;
    assert_problem(&r, 403);
}

#[tokio::test]
async fn unknown_fields_and_malformed_values_are_400_with_field_errors() {
    let api = api();
    let mut body = order_body();
    body["status"] = json!("completed");
    let p = assert_problem(
        &api.handle(None, &req("POST", "/v1/orders", BUYER, &body))
            .await,
        400,
    );
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown field")),
        "{p}"
    );

    let mut body = order_body();
    body["items"][0]["unit_price"] = json!("30.001");
    body["currency"] = json!("EUR");
    let p = assert_problem(
        &api.handle(None, &req("POST", "/v1/orders", BUYER, &body))
            .await,
        400,
    );
    let fields: Vec<_> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert!(
        fields.contains(&json!("currency")) && fields.contains(&json!("items[0].unit_price")),
        "{p}"
    );

    let mut raw = req("POST", "/v1/orders", BUYER, &Value::Null);
    raw.body = b"{not json".to_vec();
    assert_problem(&api.handle(None, &raw).await, 400);
}

#[tokio::test]
async fn a_stale_version_or_a_wrong_status_is_409_and_a_business_rule_is_422() {
    let api = api();
    let id = created(&api).await;
    let confirm = |v: u64| {
        req(
            "POST",
            &format!("/v1/orders/{id}/confirm"),
            SUPPLIER,
            &json!({"version": v}),
        )
    };
    // No assurance limit: a rule says no.
    let p = assert_problem(&api.handle(None, &confirm(1)).await, 422);
    assert_eq!(
        p["type"],
        "https://trade-assurance.dev/problems/no-assurance-limit-available"
    );
    api.backend
        .set_limit(
            &UserId::parse("sup-1").expect("id"),
            Usd::dollars(2000).expect("usd"),
            None,
        )
        .await
        .expect("limit");
    assert_problem(&api.handle(None, &confirm(7)).await, 409);
    let r = api.handle(None, &confirm(1)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let order = json_of(&r);
    assert_eq!(order["status"], "awaiting_initial_payment");
    assert_eq!(
        order["coverage"]["covered_amount"],
        json!({"amount": "1500.00", "currency": "USD"})
    );
    // Shipping before the initial payment has arrived: wrong status.
    let ship = req(
        "POST",
        &format!("/v1/orders/{id}/shipment"),
        SUPPLIER,
        &json!({"carrier": "DHL", "tracking_number": "1"}),
    );
    let p = assert_problem(&api.handle(None, &ship).await, 409);
    assert_eq!(
        p["type"],
        "https://trade-assurance.dev/problems/wrong-status"
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_refuses_another_body() {
    let api = api();
    let mut first = req("POST", "/v1/orders", BUYER, &order_body());
    first.headers.push(("idempotency-key".into(), "k-1".into()));
    let a = api.handle(None, &first).await;
    let b = api.handle(None, &first).await;
    assert_eq!(a.status, 201);
    assert_eq!(
        (b.status, &b.body),
        (a.status, &a.body),
        "the same response again"
    );
    assert!(
        b.headers
            .iter()
            .any(|(k, v)| k == "idempotent-replayed" && v == "true")
    );

    let mut other = first.clone();
    let mut body = order_body();
    body["initial_payment"] = json!("1000.00");
    other.body = body.to_string().into_bytes();
    let p = assert_problem(&api.handle(None, &other).await, 422);
    assert_eq!(
        p["type"],
        "https://trade-assurance.dev/problems/idempotency-key-reused"
    );

    // Scoped to the caller: another buyer's same key is a new request.
    let mut theirs = first.clone();
    theirs.claims.sub = Some("buyer-2".into());
    let c = api.handle(None, &theirs).await;
    assert_eq!(c.status, 201);
    assert_ne!(json_of(&c)["id"], json_of(&a)["id"]);

    // On a transition too: a retried cancel answers 200 again, not 409.
    let id = json_of(&a)["id"].as_str().expect("id").to_owned();
    let mut cancel = req(
        "POST",
        &format!("/v1/orders/{id}/cancel"),
        BUYER,
        &Value::Null,
    );
    cancel
        .headers
        .push(("idempotency-key".into(), "c-1".into()));
    let x = api.handle(None, &cancel).await;
    let y = api.handle(None, &cancel).await;
    assert_eq!((x.status, y.status), (200, 200), "{}", y.body);
    assert_eq!(x.body, y.body);
}

#[tokio::test]
async fn a_duplicate_while_the_first_is_still_running_is_409() {
    let api = api();
    let body = order_body().to_string();
    // The first request holds its lease (it is between its two writes).
    let key = IdemKey::new(
        &UserId::parse("buyer-1").expect("id"),
        "POST",
        "/v1/orders",
        "k-running",
    )
    .expect("key");
    let lease = IdemRecord::in_progress(key, PayloadHash::of(body.as_bytes()), now());
    api.backend.begin(&lease, now()).await.expect("lease");
    let mut dup = req("POST", "/v1/orders", BUYER, &order_body());
    dup.headers
        .push(("idempotency-key".into(), "k-running".into()));
    let p = assert_problem(&api.handle(None, &dup).await, 409);
    assert_eq!(
        p["type"],
        "https://trade-assurance.dev/problems/request-in-progress"
    );
}

#[tokio::test]
async fn money_is_an_amount_and_a_currency_and_no_error_leaks_internals() {
    let api = api();
    let id = created(&api).await;
    let order = json_of(
        &api.handle(
            None,
            &req("GET", &format!("/v1/orders/{id}"), BUYER, &Value::Null),
        )
        .await,
    );
    assert_eq!(
        order["total"],
        json!({"amount": "3000.00", "currency": "USD"})
    );
    assert_eq!(
        order["balance"],
        json!({"amount": "1500.00", "currency": "USD"})
    );
    assert_eq!(
        order["inspection"]["fee"],
        json!({"amount": "200.00", "currency": "USD"})
    );
    let r = api
        .handle(None, &req("GET", "/v1/nowhere", BUYER, &Value::Null))
        .await;
    let p = assert_problem(&r, 404);
    assert!(!p.to_string().contains("handler") && !p.to_string().contains("panicked"));
}

#[tokio::test]
async fn a_function_answers_only_its_own_routes() {
    let api = api();
    let r = api
        .handle(
            Some(&http_api::routes::endpoints_of("get-order")),
            &req("POST", "/v1/orders", BUYER, &order_body()),
        )
        .await;
    assert_problem(&r, 404);
    let r = api
        .handle(
            Some(&http_api::routes::endpoints_of("create-order")),
            &req("POST", "/v1/orders", BUYER, &order_body()),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn a_buyer_lists_own_orders_newest_first_with_a_cursor() {
    let api = api();
    for _ in 0..3 {
        created(&api).await;
    }
    let mut page = req("GET", "/v1/orders", BUYER, &Value::Null);
    page.query = vec![("limit".into(), "2".into())];
    let first = json_of(&api.handle(None, &page).await);
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().expect("more").to_owned();
    page.query.push(("cursor".into(), cursor.clone()));
    let second = json_of(&api.handle(None, &page).await);
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert!(second.get("next_cursor").is_none());
    // Another buyer cannot use that cursor to read this listing.
    let mut theirs = req("GET", "/v1/orders", STRANGER, &Value::Null);
    theirs.query = vec![("cursor".into(), cursor)];
    assert_problem(&api.handle(None, &theirs).await, 400);
}

#[tokio::test]
async fn paying_checks_who_what_and_the_method_rules_in_order() {
    let api = api();
    let mut body = order_body();
    body["items"][0]["unit_price"] = json!("500.00");
    body["initial_payment"] = json!("20000.01");
    body.as_object_mut().expect("object").remove("inspection");
    let id = confirmed(&api, body).await;
    let path = format!("/v1/orders/{id}/payments");
    let pay = |who, body: Value| req("POST", &path, who, &body);

    // The supplier may not pay (403), before its body is even read.
    assert_problem(
        &api.handle(None, &pay(SUPPLIER, json!({"bogus": 1}))).await,
        403,
    );
    // Malformed: unknown method, a card without a brand.
    assert_problem(
        &api.handle(
            None,
            &pay(BUYER, json!({"stage": "initial", "method": "cash"})),
        )
        .await,
        400,
    );
    let p = assert_problem(
        &api.handle(
            None,
            &pay(BUYER, json!({"stage": "initial", "method": "credit_card"})),
        )
        .await,
        400,
    );
    assert_eq!(p["errors"][0]["field"], "card_brand");
    // Business rules name themselves.
    let rule = |p: Value| {
        p["type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let card = json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"});
    let p = assert_problem(&api.handle(None, &pay(BUYER, card)).await, 422);
    assert_eq!(rule(p), "card-limit-exceeded");
    let amex = json!({"stage": "initial", "method": "credit_card", "card_brand": "amex"});
    assert_eq!(
        rule(assert_problem(
            &api.handle(None, &pay(BUYER, amex)).await,
            422
        )),
        "card-brand-not-accepted"
    );
    let savings = json!({"stage": "initial", "method": "e_checking", "bank_country": "US", "account_type": "savings"});
    assert_eq!(
        rule(assert_problem(
            &api.handle(None, &pay(BUYER, savings)).await,
            422
        )),
        "echeck-requires-us-checking"
    );
    let wire = json!({"stage": "initial", "method": "telegraphic_transfer"});
    assert_eq!(
        rule(assert_problem(
            &api.handle(None, &pay(BUYER, wire)).await,
            422
        )),
        "no-receiving-account"
    );
    let later = json!({"stage": "initial", "method": "pay_later", "term_months": 3});
    assert_eq!(
        rule(assert_problem(
            &api.handle(None, &pay(BUYER, later)).await,
            422
        )),
        "no-approved-credit-line"
    );
    let long = json!({"stage": "initial", "method": "pay_later", "term_months": 7});
    assert_eq!(
        rule(assert_problem(
            &api.handle(None, &pay(BUYER, long)).await,
            422
        )),
        "pay-later-term-out-of-range"
    );
    // The balance is not due before shipment.
    let balance = json!({"stage": "balance", "method": "e_checking", "bank_country": "US", "account_type": "checking"});
    assert_problem(&api.handle(None, &pay(BUYER, balance)).await, 409);

    // e-Checking from a US checking account: 201 with the fee on top and the window.
    let ok = json!({"stage": "initial", "method": "e_checking", "bank_country": "US", "account_type": "checking"});
    let r = api.handle(None, &pay(BUYER, ok.clone())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let payment = json_of(&r);
    assert_eq!(
        payment["amount"],
        json!({"amount": "20000.01", "currency": "USD"})
    );
    assert_eq!(
        payment["fee"],
        json!({"amount": "15.00", "currency": "USD"})
    );
    assert_eq!(payment["status"], "processing");
    // Monday + 4..5 working days.
    assert_eq!(
        payment["expected_arrival"],
        json!({"earliest": "2027-01-08", "latest": "2027-01-11"})
    );
    // One payment in flight per stage.
    assert_problem(&api.handle(None, &pay(BUYER, ok)).await, 409);
}

#[tokio::test]
async fn a_wire_transfer_answers_with_the_suppliers_account_and_a_reference() {
    let api = api();
    let id = confirmed(&api, order_body()).await;
    let account = domain::coverage::ReceivingAccount {
        bank_name: domain::text::ShortText::parse("Citibank").expect("text"),
        account_name: domain::text::ShortText::parse("Shenzhen LED Co").expect("text"),
        account_number: domain::text::ShortText::parse("123456789").expect("text"),
        swift: domain::text::ShortText::parse("CITIUS33").expect("text"),
    };
    api.backend
        .set_limit(
            &UserId::parse("sup-1").expect("id"),
            Usd::dollars(100_000).expect("usd"),
            Some(&account),
        )
        .await
        .expect("limit");
    let r = api
        .handle(
            None,
            &req(
                "POST",
                &format!("/v1/orders/{id}/payments"),
                BUYER,
                &json!({"stage": "initial", "method": "telegraphic_transfer"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let p = json_of(&r);
    assert_eq!(
        p["amount"],
        json!({"amount": "1700.00", "currency": "USD"}),
        "initial + the $200 inspection line"
    );
    assert_eq!(p["instructions"]["swift"], "CITIUS33");
    assert!(
        p["instructions"]["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("TA-"))
    );
}

#[tokio::test]
async fn a_buyer_applies_for_pay_later_once_and_a_retried_application_is_replayed() {
    let api = api();
    let mut apply = req("POST", "/v1/credit-line", BUYER, &Value::Null);
    apply
        .headers
        .push(("idempotency-key".into(), "apply-1".into()));
    let first = api.handle(None, &apply).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let line = json_of(&first);
    assert_eq!(line["status"], "pending");
    assert_eq!(
        line["available"],
        json!({"amount": "0.00", "currency": "USD"})
    );
    let again = api.handle(None, &apply).await;
    assert_eq!((again.status, &again.body), (201, &first.body), "replayed");
    // A new application while one is pending: 409.
    let p = assert_problem(
        &api.handle(None, &req("POST", "/v1/credit-line", BUYER, &json!({})))
            .await,
        409,
    );
    assert_eq!(
        p["type"],
        "https://trade-assurance.dev/problems/credit-line-exists"
    );
    // Another body under the same key: 422.
    let mut other = apply.clone();
    other.body = b"{\"x\":1}".to_vec();
    assert_problem(&api.handle(None, &other).await, 400);
    // Only buyers; and each buyer sees only their own line.
    assert_problem(
        &api.handle(None, &req("POST", "/v1/credit-line", SUPPLIER, &json!({})))
            .await,
        403,
    );
    let mine = api
        .handle(None, &req("GET", "/v1/credit-line", BUYER, &Value::Null))
        .await;
    assert_eq!(json_of(&mine)["application_id"], line["application_id"]);
    assert_problem(
        &api.handle(None, &req("GET", "/v1/credit-line", STRANGER, &Value::Null))
            .await,
        404,
    );
}

/// A confirmed order whose card payment was confirmed by the provider with
/// another amount: the payment is flagged, not applied. Returns the order
/// id and the payment id.
async fn flagged_payment(api: &Api<MemoryBackend, FixedClock>) -> (String, String) {
    let id = confirmed(api, order_body()).await;
    let r = api
        .handle(
            None,
            &req(
                "POST",
                &format!("/v1/orders/{id}/payments"),
                BUYER,
                &json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pay = json_of(&r)["id"].as_str().expect("payment id").to_owned();
    let body = json!({"type": "payment.succeeded", "data": {"payment_id": pay, "order_id": id,
        "amount": "1.00", "currency": "USD", "provider_reference": "ch_1"}});
    let message = test_kit::store_contract::provider_message(
        domain::actor::Provider::Card,
        &test_kit::store_contract::unique("msg_"),
        body,
    );
    app::consumer::consume(&api.backend, &message, now())
        .await
        .expect("consumed");
    (id, pay)
}

async fn payment_of(api: &Api<MemoryBackend, FixedClock>, id: &str, pay: &str) -> Value {
    let r = api
        .handle(
            None,
            &req(
                "GET",
                &format!("/v1/orders/{id}/payments"),
                ARBITER,
                &Value::Null,
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    json_of(&r)["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["id"] == pay)
        .cloned()
        .expect("the payment")
}

#[tokio::test]
async fn an_arbiter_accepts_a_flagged_payment_and_only_an_arbiter_may() {
    let api = api();
    let (id, pay) = flagged_payment(&api).await;
    assert_eq!(payment_of(&api, &id, &pay).await["flagged"], true);
    let path = format!("/v1/orders/{id}/payments/{pay}/resolution");
    let accept = json!({"resolution": "accept"});
    assert_problem(
        &api.handle(None, &req("POST", &path, STRANGER, &accept))
            .await,
        404,
    );
    assert_problem(
        &api.handle(None, &req("POST", &path, BUYER, &accept)).await,
        403,
    );
    assert_problem(
        &api.handle(
            None,
            &req(
                "POST",
                &format!("/v1/orders/{id}/payments/pay_unknown/resolution"),
                ARBITER,
                &accept,
            ),
        )
        .await,
        404,
    );
    let p = assert_problem(
        &api.handle(
            None,
            &req("POST", &path, ARBITER, &json!({"resolution": "maybe"})),
        )
        .await,
        400,
    );
    assert_eq!(p["errors"][0]["field"], "resolution");
    let r = api
        .handle(
            Some(&http_api::routes::endpoints_of("resolve-payment")),
            &req("POST", &path, ARBITER, &accept),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let resolved = json_of(&r);
    assert_eq!(resolved["id"], pay.as_str());
    assert_eq!(resolved["status"], "succeeded");
    assert_eq!(resolved["flagged"], false);
    let order = api
        .handle(
            None,
            &req("GET", &format!("/v1/orders/{id}"), BUYER, &Value::Null),
        )
        .await;
    assert_eq!(json_of(&order)["status"], "awaiting_shipment");
    // Nothing is flagged any more.
    assert_problem(
        &api.handle(None, &req("POST", &path, ARBITER, &accept))
            .await,
        409,
    );
}

#[tokio::test]
async fn an_arbiter_refunds_a_flagged_payment_and_the_stage_is_unpaid_again() {
    let api = api();
    let (id, pay) = flagged_payment(&api).await;
    let path = format!("/v1/orders/{id}/payments/{pay}/resolution");
    let r = api
        .handle(
            None,
            &req("POST", &path, ARBITER, &json!({"resolution": "refund"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["flagged"], false);
    let order = json_of(
        &api.handle(
            None,
            &req("GET", &format!("/v1/orders/{id}"), BUYER, &Value::Null),
        )
        .await,
    );
    // The buyer can pay the initial stage again; the refund is requested
    // from the card provider.
    assert_eq!(order["status"], "awaiting_initial_payment", "{order}");
    assert_eq!(order["refunds"][0]["payment_id"], pay.as_str());
    assert_eq!(order["refunds"][0]["provider"], "card");
    let history = json_of(
        &api.handle(
            None,
            &req(
                "GET",
                &format!("/v1/orders/{id}/history"),
                BUYER,
                &Value::Null,
            ),
        )
        .await,
    );
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(kinds.contains(&"RefundRequested"), "{kinds:?}");
}

#[tokio::test]
async fn a_buyer_with_approved_credit_pays_with_pay_later_and_the_credit_is_reserved() {
    let api = api();
    let r = api
        .handle(None, &req("POST", "/v1/credit-line", BUYER, &json!({})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let application = json_of(&r)["application_id"].clone();
    let approved = json!({"type": "credit_line.approved", "data": {
        "buyer_id": "buyer-1", "application_id": application, "limit": "5000.00"}});
    let message = test_kit::store_contract::provider_message(
        domain::actor::Provider::Paylater,
        &test_kit::store_contract::unique("msg_"),
        approved,
    );
    app::consumer::consume(&api.backend, &message, now())
        .await
        .expect("approved");
    let id = confirmed(&api, order_body()).await;
    let r = api
        .handle(
            Some(&http_api::routes::endpoints_of("initiate-payment")),
            &req(
                "POST",
                &format!("/v1/orders/{id}/payments"),
                BUYER,
                &json!({"stage": "initial", "method": "pay_later", "term_months": 3}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let payment = json_of(&r);
    assert_eq!(payment["status"], "awaiting_agreement");
    assert_eq!(payment["amount"]["amount"], "1700.00");
    let line = json_of(
        &api.handle(None, &req("GET", "/v1/credit-line", BUYER, &Value::Null))
            .await,
    );
    assert_eq!(line["reserved"]["amount"], "1700.00");
    assert_eq!(line["available"]["amount"], "3300.00");
}
