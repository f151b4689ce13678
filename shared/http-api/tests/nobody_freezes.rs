//! The reproductions of "nobody can freeze an order", through the same
//! `Api::handle` every function runs: a party cannot flood an order with
//! reminders (429 with `Retry-After`) or grow it past what a store keeps (a
//! write refused for size is a 422, never a 500); listings and histories
//! are paginated with cursors checked whole (400, never a 500); unknown
//! query parameters are refused; a replayed 201 carries its `Location`; a
//! supplier's feedback is counted over all of it and listed without order
//! ids; the receipt clock can be extended twice, and a refund part that
//! failed five times is resolved by an arbiter.

use test_kit::api as support;

use app::ports::{Clock, SupplierLimits};
use chrono::TimeDelta;
use domain::Usd;
use domain::ids::UserId;
use http_api::request::ApiRequest;
use serde_json::{Value, json};
use support::*;

fn with_query(mut r: ApiRequest, query: &[(&str, &str)]) -> ApiRequest {
    r.query = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    r
}

fn code(problem: &Value) -> String {
    problem["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn when_a_party_reminds_twice_in_24_hours_should_429_with_retry_after() {
    let api = api();
    let id = created(&api).await;
    let remind = format!("/v1/orders/{id}/remind");
    let r = call(&api, "POST", &remind, BUYER, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let version = json_of(&r)["version"].clone();
    api.clock.advance(TimeDelta::hours(23));
    let r = call(&api, "POST", &remind, BUYER, Value::Null).await;
    let p = assert_problem(&r, 429);
    assert_eq!(code(&p), "too-many-requests");
    let retry: u64 = r
        .headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .and_then(|(_, v)| v.parse().ok())
        .expect("a Retry-After header in seconds");
    assert_eq!(retry, 3600, "an hour left of the 24");
    // Nothing was recorded for the refused reminder.
    let history = json_of(
        &call(
            &api,
            "GET",
            &format!("/v1/orders/{id}/history"),
            BUYER,
            Value::Null,
        )
        .await,
    );
    let reminders = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["event"] == "ConfirmationReminded")
        .count();
    assert_eq!(reminders, 1);
    // A day later it is accepted again; reminders never change the version
    // the supplier confirms.
    api.clock.advance(TimeDelta::hours(1));
    let r = call(&api, "POST", &remind, BUYER, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["version"], version);
    let confirm = format!("/v1/orders/{id}/confirm");
    api.backend
        .set_limit(
            &UserId::parse("sup-1").expect("id"),
            Usd::dollars(10_000).expect("usd"),
            None,
        )
        .await
        .expect("limit");
    let r = call(
        &api,
        "POST",
        &confirm,
        SUPPLIER,
        json!({"version": version}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn when_a_write_is_refused_for_size_should_422_never_500() {
    // A backend that stores documents of at most 4 KB (DynamoDB: 400 KB).
    let mut api = api();
    api.backend = app::memory::MemoryBackend::new().with_max_order_bytes(4 * 1024);
    let id = created(&api).await;
    let mut body = amend_body();
    body["quality_terms"] = json!("x".repeat(2000));
    let mut version = 1;
    let mut last = None;
    for _ in 0..40 {
        let r = call(
            &api,
            "POST",
            &format!("/v1/orders/{id}/amend"),
            BUYER,
            body.clone(),
        )
        .await;
        if r.status != 200 {
            last = Some(r);
            break;
        }
        version = json_of(&r)["version"].as_u64().expect("version");
        body["items"]
            .as_array_mut()
            .expect("items")
            .push(json!({"description": "y".repeat(200), "quantity": 1, "unit_price": "1.00"}));
    }
    let r = last.expect("a write grew past 4 KB");
    let p = assert_problem(&r, 422);
    assert_eq!(code(&p), "order-too-large");
    assert_eq!(
        order_of(&api, &id).await["version"],
        version,
        "nothing changed"
    );
}

#[tokio::test]
async fn when_a_query_parameter_is_unknown_should_400_naming_it() {
    let api = api();
    let id = created(&api).await;
    for (path, who, query) in [
        (
            "/v1/orders".to_owned(),
            BUYER,
            vec![("supplier_id", "sup-2")],
        ),
        (
            "/v1/orders".to_owned(),
            BUYER,
            vec![("limit", "5"), ("sort", "asc")],
        ),
        (format!("/v1/orders/{id}"), BUYER, vec![("fields", "id")]),
        (
            format!("/v1/orders/{id}/history"),
            BUYER,
            vec![("since", "2027")],
        ),
        (
            format!("/v1/orders/{id}/payments"),
            BUYER,
            vec![("stage", "initial")],
        ),
        (
            "/v1/disputes".to_owned(),
            ARBITER,
            vec![("reason", "quality")],
        ),
        (
            "/v1/suppliers/sup-1/feedback".to_owned(),
            BUYER,
            vec![("rating", "5")],
        ),
        (
            "/v1/suppliers/sup-1/assurance-limit".to_owned(),
            ARBITER,
            vec![("x", "1")],
        ),
        ("/v1/credit-line".to_owned(), BUYER, vec![("x", "1")]),
    ] {
        let r = api
            .handle(
                None,
                &with_query(req("GET", &path, who, &Value::Null), &query),
            )
            .await;
        let p = assert_problem(&r, 400);
        let (unknown, _) = query.last().expect("a parameter");
        assert!(
            p["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|f| f["field"] == *unknown)),
            "{path}: {p}"
        );
    }
    // A POST takes none, and the 404 of someone else's order comes first.
    let r = api
        .handle(
            None,
            &with_query(
                req(
                    "POST",
                    &format!("/v1/orders/{id}/cancel"),
                    BUYER,
                    &Value::Null,
                ),
                &[("force", "true")],
            ),
        )
        .await;
    assert_problem(&r, 400);
    let r = api
        .handle(
            None,
            &with_query(
                req(
                    "POST",
                    &format!("/v1/orders/{id}/cancel"),
                    STRANGER,
                    &Value::Null,
                ),
                &[("force", "true")],
            ),
        )
        .await;
    assert_problem(&r, 404);
    assert_eq!(order_of(&api, &id).await["status"], "awaiting_confirmation");
}

#[tokio::test]
async fn when_a_cursor_is_tampered_with_should_400_on_every_listing() {
    use app::page::{Cursor, CursorPosition};
    let api = api();
    let id = created(&api).await;
    let encode = |partition: &str, sort_key: &str| {
        Cursor::encode(&CursorPosition {
            partition: partition.to_owned(),
            sort_key: sort_key.to_owned(),
            order_id: String::new(),
        })
        .as_str()
        .to_owned()
    };
    for (path, who, partition) in [
        ("/v1/orders".to_owned(), BUYER, "BUYER#buyer-1".to_owned()),
        (
            "/v1/orders".to_owned(),
            SUPPLIER,
            "SUPPLIER#sup-1".to_owned(),
        ),
        (
            "/v1/disputes".to_owned(),
            ARBITER,
            "DISPUTE#escalated".to_owned(),
        ),
        (
            format!("/v1/orders/{id}/history"),
            BUYER,
            format!("ORDER#{id}"),
        ),
        (
            "/v1/suppliers/sup-1/feedback".to_owned(),
            BUYER,
            "SUPPLIER#sup-1".to_owned(),
        ),
    ] {
        for sort_key in ["", "x", "2027-01-04T09:00:00.000000Z#", "EVENT#1"] {
            let mut query = vec![("cursor", encode(&partition, sort_key))];
            if who == SUPPLIER {
                query.push(("as", "supplier".to_owned()));
            }
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = api
                .handle(
                    None,
                    &with_query(req("GET", &path, who, &Value::Null), &query),
                )
                .await;
            let p = assert_problem(&r, 400);
            assert!(
                p["errors"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|f| f["field"] == "cursor")),
                "{path} with {sort_key:?}: {p}"
            );
        }
    }
}

#[tokio::test]
async fn a_long_history_is_read_a_page_at_a_time() {
    let api = api();
    let id = created(&api).await;
    for i in 0..5 {
        api.clock.advance(TimeDelta::minutes(1));
        let mut body = amend_body();
        body["quality_terms"] = json!(format!("revision {i}"));
        let r = call(&api, "POST", &format!("/v1/orders/{id}/amend"), BUYER, body).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let path = format!("/v1/orders/{id}/history");
    let all = json_of(&call(&api, "GET", &path, BUYER, Value::Null).await);
    assert_eq!(all["items"].as_array().map(Vec::len), Some(6));
    assert!(all["next_cursor"].is_null(), "one page by default");
    let mut seen = Vec::new();
    let mut query: Vec<(String, String)> = vec![("limit".into(), "4".into())];
    loop {
        let q: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = api
            .handle(
                None,
                &with_query(req("GET", &path, BUYER, &Value::Null), &q),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = json_of(&r);
        seen.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => query = vec![("limit".into(), "4".into()), ("cursor".into(), c.into())],
            None => break,
        }
    }
    assert_eq!(seen, all["items"].as_array().cloned().unwrap_or_default());
    let r = api
        .handle(
            None,
            &with_query(req("GET", &path, BUYER, &Value::Null), &[("limit", "101")]),
        )
        .await;
    assert_problem(&r, 400);
}

#[tokio::test]
async fn a_replayed_201_carries_the_first_answers_location() {
    let api = api();
    let mut request = req("POST", "/v1/orders", BUYER, &order_body());
    request.headers = vec![("idempotency-key".into(), "create-1".into())];
    let first = api.handle(None, &request).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let location = |r: &http_api::request::ApiResponse| {
        r.headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone())
    };
    let id = json_of(&first)["id"].as_str().expect("id").to_owned();
    assert_eq!(location(&first), Some(format!("/v1/orders/{id}")));
    let again = api.handle(None, &request).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(location(&again), location(&first));
    assert!(
        again
            .headers
            .iter()
            .any(|(k, v)| k == "idempotent-replayed" && v == "true")
    );
}

/// Complete an order of `sup-1` and leave feedback with `rating`.
async fn completed_with_feedback(api: &TestApi, rating: u8) -> String {
    let mut body = order_body();
    body["initial_payment"] = json!("3000.00");
    let id = confirmed(api, body).await;
    paid_by_card(api, &id, "initial").await;
    let at = |p: &str| format!("/v1/orders/{id}/{p}");
    let r = call(api, "POST", &at("shipment"), SUPPLIER, shipment_body()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(api, "POST", &at("receipt"), BUYER, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        api,
        "POST",
        &at("feedback"),
        BUYER,
        json!({"rating": rating, "comment": format!("{rating} stars")}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    id
}

#[tokio::test]
async fn supplier_feedback_counts_all_of_it_lists_it_newest_first_and_names_no_order() {
    let api = api();
    let first = completed_with_feedback(&api, 4).await;
    // 104 newer orders without feedback (the reproduction).
    for _ in 0..104 {
        api.clock.advance(TimeDelta::seconds(1));
        created(&api).await;
    }
    let feedback = json_of(
        &call(
            &api,
            "GET",
            "/v1/suppliers/sup-1/feedback",
            STRANGER,
            Value::Null,
        )
        .await,
    );
    assert_eq!(feedback["count"], 1);
    assert_eq!(feedback["average_rating"], "4.00");
    assert_eq!(
        feedback["items"],
        json!([{"rating": 4, "comment": "4 stars", "at": api.clock.now() - TimeDelta::seconds(104)}]),
        "every feedback listed, without the order's id"
    );
    assert!(!feedback.to_string().contains(&first));
    api.clock.advance(TimeDelta::minutes(1));
    completed_with_feedback(&api, 2).await;
    api.clock.advance(TimeDelta::minutes(1));
    completed_with_feedback(&api, 5).await;
    let page = |cursor: Option<&str>| {
        let mut q = vec![("limit", "2")];
        if let Some(c) = cursor {
            q.push(("cursor", c));
        }
        with_query(
            req(
                "GET",
                "/v1/suppliers/sup-1/feedback",
                STRANGER,
                &Value::Null,
            ),
            &q,
        )
    };
    let one = json_of(&api.handle(None, &page(None)).await);
    assert_eq!(
        (one["count"].clone(), one["average_rating"].clone()),
        (json!(3), json!("3.67"))
    );
    let ratings: Vec<_> = one["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["rating"].clone())
        .collect();
    assert_eq!(ratings, [json!(5), json!(2)], "newest first");
    let cursor = one["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let two = json_of(&api.handle(None, &page(Some(&cursor))).await);
    let ratings: Vec<_> = two["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["rating"].clone())
        .collect();
    assert_eq!(ratings, [json!(4)]);
    assert!(two["next_cursor"].is_null());
}

#[tokio::test]
async fn the_buyer_extends_the_receipt_clock_twice_and_no_more() {
    let api = api();
    let _ = prepare(&api, Setup::AwaitingReceipt).await;
    let list = json_of(&call(&api, "GET", "/v1/orders", BUYER, Value::Null).await);
    let id = list["items"][0]["id"].as_str().expect("id").to_owned();
    let before = order_of(&api, &id).await["receipt"]["auto_confirm_at"].clone();
    let extend = format!("/v1/orders/{id}/receipt/extension");
    for used in 1..=2 {
        let r = call(&api, "POST", &extend, BUYER, Value::Null).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let o = json_of(&r);
        assert_eq!(o["receipt"]["extensions_used"], used);
        assert_eq!(o["status"], "awaiting_receipt_confirmation");
    }
    let after = order_of(&api, &id).await["receipt"]["auto_confirm_at"].clone();
    let days = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("instant")).expect("rfc 3339")
    };
    assert_eq!(days(&after) - days(&before), TimeDelta::days(30));
    let p = assert_problem(&call(&api, "POST", &extend, BUYER, Value::Null).await, 422);
    assert_eq!(code(&p), "no-extensions-left");
    assert_problem(
        &call(&api, "POST", &extend, SUPPLIER, Value::Null).await,
        403,
    );
}

#[tokio::test]
async fn an_arbiter_resolves_a_refund_part_that_failed_five_times() {
    let api = api();
    let prepared = prepare(&api, Setup::FlaggedRefund).await;
    let id = prepared.order.clone().expect("order");
    let o = order_of(&api, &id).await;
    let part = &o["refunds"][0];
    assert_eq!(
        (
            part["flagged"].clone(),
            part["flag_reason"].clone(),
            part["attempts"].clone()
        ),
        (json!(true), json!("refund_failed"), json!(5))
    );
    let path = prepared.path("/v1/orders/{id}/refunds/{rid}/resolution");
    let r = call(&api, "POST", &path, ARBITER, json!({"resolution": "retry"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let retried = json_of(&r);
    assert_eq!(
        (retried["flagged"].clone(), retried["attempts"].clone()),
        (json!(false), json!(6))
    );
    assert_eq!(
        retried["provider_key"],
        format!("{}:6", retried["id"].as_str().unwrap_or_default())
    );
    // Not flagged any more: nothing to resolve.
    let again = call(
        &api,
        "POST",
        &path,
        ARBITER,
        json!({"resolution": "settled_outside"}),
    )
    .await;
    let p = assert_problem(&again, 409);
    assert_eq!(code(&p), "refund-not-flagged");
}

#[tokio::test]
async fn a_provider_event_refused_for_size_is_acknowledged_not_dead_lettered() {
    let api = api();
    let id = confirmed(&api, order_body()).await;
    let r = call(
        &api,
        "POST",
        &format!("/v1/orders/{id}/payments"),
        BUYER,
        json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let payment = json_of(&r);
    // The store now refuses the order's next write for size.
    api.backend.set_max_order_bytes(100);
    let body = json!({"type": "payment.succeeded", "data": {"payment_id": payment["id"],
        "order_id": id, "amount": payment["amount"]["amount"], "currency": "USD"}});
    let message = test_kit::store_contract::provider_message(
        domain::actor::Provider::Card,
        &test_kit::store_contract::unique("msg_"),
        body,
    );
    let result = app::consumer::consume(&api.backend, &message, api.clock.now()).await;
    let error = result.expect_err("the write is refused");
    assert!(
        !error.report_as_failure(),
        "acknowledged, not redelivered into the DLQ: {error}"
    );
    api.backend.set_max_order_bytes(0);
    assert_eq!(
        order_of(&api, &id).await["status"],
        "initial_payment_processing"
    );
}
