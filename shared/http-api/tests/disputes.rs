//! The dispute routes through the same `Api::handle` the functions run, on
//! the in-memory backend with a clock the tests move: who may do what,
//! strict bodies, the caps, the deadlines, what an unresolved dispute
//! blocks, negotiation with its history, escalation, the arbiter's decision
//! and the arbiters' queue.

use chrono::TimeDelta;
use serde_json::{Value, json};

use support::*;
use test_kit::api as support;

const PRE: &str = "pre_shipment";

/// A confirmed order whose initial payment has arrived (total $3,000,
/// initial $1,500 + SGS inspection fee, covered $1,500).
async fn paid_order(api: &TestApi, initial: &str, coverage: &str) -> String {
    let mut body = order_body();
    body["initial_payment"] = json!(initial);
    body["coverage"] = json!(coverage);
    let id = confirmed(api, body).await;
    paid_by_card(api, &id, "initial").await;
    assert_eq!(order_of(api, &id).await["status"], "awaiting_shipment");
    id
}

fn quality(refund: &str) -> Value {
    json!({"reason": "quality", "requested_refund": refund,
        "description": "Panels flicker; not IP65 as agreed",
        "evidence": [{"name": "photos.zip", "url": "https://evidence.example.com/photos.zip",
            "sha256": "a".repeat(64)}]})
}

async fn open(api: &TestApi, id: &str, body: Value) -> ApiResponse {
    call(
        api,
        "POST",
        &format!("/v1/orders/{id}/dispute"),
        BUYER,
        body,
    )
    .await
}

async fn respond(api: &TestApi, id: &str, who: Option<(&str, &str)>, body: Value) -> ApiResponse {
    call(
        api,
        "POST",
        &format!("/v1/orders/{id}/dispute/responses"),
        who,
        body,
    )
    .await
}

async fn escalate(api: &TestApi, id: &str) -> ApiResponse {
    call(
        api,
        "POST",
        &format!("/v1/orders/{id}/dispute/escalate"),
        BUYER,
        Value::Null,
    )
    .await
}

async fn decide(api: &TestApi, id: &str, who: Option<(&str, &str)>, body: Value) -> ApiResponse {
    call(
        api,
        "POST",
        &format!("/v1/orders/{id}/dispute/decision"),
        who,
        body,
    )
    .await
}

fn code(p: &Value) -> &str {
    p["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or_default()
}

use http_api::request::ApiResponse;

#[tokio::test]
async fn when_the_initial_payment_has_not_arrived_opening_a_dispute_should_409() {
    let api = api();
    let id = confirmed(&api, order_body()).await;
    let p = assert_problem(&open(&api, &id, quality("100.00")).await, 409);
    assert_eq!(code(&p), "wrong-status");
}

#[tokio::test]
async fn opening_a_dispute_checks_who_then_the_body_then_the_caps_and_answers_201_once() {
    let api = api();
    let id = paid_order(&api, "1500.00", PRE).await;
    let path = format!("/v1/orders/{id}/dispute");
    // Not theirs: 404; the supplier: 403 — before the body is read.
    assert_problem(
        &call(&api, "POST", &path, STRANGER, json!({"x": 1})).await,
        404,
    );
    assert_problem(
        &call(&api, "POST", &path, SUPPLIER, json!({"x": 1})).await,
        403,
    );
    // Strict bodies: 400 with the field named.
    let mut unknown = quality("100.00");
    unknown["status"] = json!("resolved");
    assert_problem(&open(&api, &id, unknown).await, 400);
    for (field, value) in [
        ("reason", json!("too_expensive")),
        ("requested_refund", json!("-1.00")),
        ("requested_refund", json!("10.001")),
        ("requested_refund", json!(100)),
        ("description", json!("")),
    ] {
        let mut body = quality("100.00");
        body[field] = value.clone();
        let p = assert_problem(&open(&api, &id, body).await, 400);
        assert!(p.to_string().contains(field), "{field}={value}: {p}");
    }
    let mut bad_evidence = quality("100.00");
    bad_evidence["evidence"][0]["sha256"] = json!("not-a-digest");
    let p = assert_problem(&open(&api, &id, bad_evidence).await, 400);
    assert_eq!(p["errors"][0]["field"], "evidence[0].sha256", "{p}");
    // The caps: ≤ covered ($1,500) and ≤ paid.
    let p = assert_problem(&open(&api, &id, quality("1500.01")).await, 422);
    assert_eq!(code(&p), "refund-exceeds-covered");
    let p = assert_problem(&open(&api, &id, quality("0.00")).await, 422);
    assert_eq!(code(&p), "refund-not-positive");
    // Late shipment only from the day after the ship-by date.
    let late = json!({"reason": "late_shipment", "requested_refund": "100.00",
        "description": "Not shipped"});
    let p = assert_problem(&open(&api, &id, late).await, 422);
    assert_eq!(code(&p), "not-late-yet");

    let r = open(&api, &id, quality("1500.00")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = json_of(&r);
    assert_eq!(d["order_id"], json!(id));
    assert_eq!(d["status"], "open");
    assert_eq!(d["reason"], "quality");
    assert_eq!(d["requested_refund"], usd("1500.00"));
    assert_eq!(
        d["entries"][0]["by"],
        json!({"role": "buyer", "id": "buyer-1"})
    );
    assert_eq!(d["entries"][0]["action"], "opened");
    assert_eq!(d["entries"][0]["evidence"][0]["name"], "photos.zip");
    let kinds: Vec<&str> = d["deadlines"]
        .as_array()
        .expect("deadlines")
        .iter()
        .filter_map(|x| x["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["supplier_response_due", "escalation_due"]);
    assert_eq!(
        d["supplier_response_due"],
        json!(now() + TimeDelta::days(5))
    );
    assert_eq!(d["resolution_due"], json!(now() + TimeDelta::days(15)));
    // The order shows it too, money as money.
    let order = order_of(&api, &id).await;
    assert_eq!(order["dispute"]["requested_refund"], usd("1500.00"));

    let p = assert_problem(&open(&api, &id, quality("10.00")).await, 409);
    assert_eq!(code(&p), "dispute-already-open");
}

#[tokio::test]
async fn an_unresolved_dispute_blocks_balance_payment_cancellation_and_receipt_but_not_shipment() {
    let api = api();
    // With a balance: shipping goes on, paying the balance and cancelling wait.
    let id = paid_order(&api, "1500.00", PRE).await;
    assert_eq!(open(&api, &id, quality("500.00")).await.status, 201);
    let r = call(
        &api,
        "POST",
        &format!("/v1/orders/{id}/shipment"),
        SUPPLIER,
        json!({"carrier": "DHL", "tracking_number": "JD0001"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["status"], "shipped");
    let r = call(
        &api,
        "POST",
        &format!("/v1/orders/{id}/payments"),
        BUYER,
        json!({"stage": "balance", "method": "credit_card", "card_brand": "visa"}),
    )
    .await;
    assert_eq!(code(&assert_problem(&r, 409)), "dispute-unresolved");
    let r = call(
        &api,
        "POST",
        &format!("/v1/orders/{id}/cancel"),
        BUYER,
        Value::Null,
    )
    .await;
    assert_problem(&r, 409);

    // Paid in full up front: shipped goods wait for receipt, which waits
    // for the dispute; withdrawing it lets the order go on where it was.
    let id = paid_order(&api, "3000.00", PRE).await;
    assert_eq!(open(&api, &id, quality("500.00")).await.status, 201);
    let r = call(
        &api,
        "POST",
        &format!("/v1/orders/{id}/shipment"),
        SUPPLIER,
        json!({"carrier": "DHL", "tracking_number": "JD0002"}),
    )
    .await;
    assert_eq!(json_of(&r)["status"], "awaiting_receipt_confirmation");
    let receipt = format!("/v1/orders/{id}/receipt");
    let r = call(&api, "POST", &receipt, BUYER, Value::Null).await;
    assert_eq!(code(&assert_problem(&r, 409)), "dispute-unresolved");

    let withdraw = format!("/v1/orders/{id}/dispute/withdraw");
    assert_problem(
        &call(&api, "POST", &withdraw, SUPPLIER, Value::Null).await,
        403,
    );
    let r = call(&api, "POST", &withdraw, BUYER, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = json_of(&r);
    assert_eq!(
        (d["status"].as_str(), d["outcome"].as_str()),
        (Some("resolved"), Some("withdrawn"))
    );
    assert_eq!(d["order_status"], "awaiting_receipt_confirmation");
    assert_eq!(d["deadlines"], json!([]));
    let p = assert_problem(
        &call(&api, "POST", &withdraw, BUYER, Value::Null).await,
        409,
    );
    assert_eq!(code(&p), "no-open-dispute");
    let r = call(&api, "POST", &receipt, BUYER, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["status"], "completed");
}

#[tokio::test]
/// A counter-offer of less than everything paid, accepted, is a
/// compensation: the dispute is resolved, the refund requested, and the
/// order goes on where it was with its reservation shrunk by the refund.
async fn a_counter_offer_accepted_by_the_buyer_resolves_the_dispute_and_requests_the_refund() {
    let api = api();
    let id = paid_order(&api, "1500.00", PRE).await;
    assert_eq!(open(&api, &id, quality("1000.00")).await.status, 201);
    // Strict response bodies.
    for bad in [
        json!({"action": "offer"}),
        json!({"action": "accept", "refund_amount": "5.00"}),
        json!({"action": "shrug"}),
        json!({"action": "comment", "colour": "red"}),
    ] {
        assert_problem(&respond(&api, &id, SUPPLIER, bad).await, 400);
    }
    // Only the supplier makes offers; an offer obeys the caps.
    assert_problem(
        &respond(
            &api,
            &id,
            BUYER,
            json!({"action": "offer", "refund_amount": "10.00"}),
        )
        .await,
        403,
    );
    let p = assert_problem(
        &respond(
            &api,
            &id,
            SUPPLIER,
            json!({"action": "offer", "refund_amount": "1500.01"}),
        )
        .await,
        422,
    );
    assert_eq!(code(&p), "refund-exceeds-covered");
    // Nothing to accept yet for the buyer; an empty comment says nothing.
    let p = assert_problem(
        &respond(&api, &id, BUYER, json!({"action": "accept"})).await,
        409,
    );
    assert_eq!(code(&p), "no-pending-offer");
    let p = assert_problem(
        &respond(&api, &id, BUYER, json!({"action": "comment"})).await,
        422,
    );
    assert_eq!(code(&p), "empty-comment");

    api.clock.advance(TimeDelta::hours(2));
    let r = respond(
        &api,
        &id,
        SUPPLIER,
        json!({"action": "offer", "refund_amount": "600.00", "message": "Half the panels are fine",
            "evidence": [{"name": "qc.pdf", "url": "https://evidence.example.com/qc.pdf", "sha256": "b".repeat(64)}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = json_of(&r);
    assert_eq!(d["status"], "negotiating");
    assert_eq!(d["pending_offer"], usd("600.00"));
    api.clock.advance(TimeDelta::hours(1));
    let r = respond(
        &api,
        &id,
        BUYER,
        json!({"action": "comment", "message": "Photos of every panel attached",
            "evidence": [{"name": "all.zip", "url": "https://evidence.example.com/all.zip", "sha256": "c".repeat(64)}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    api.clock.advance(TimeDelta::hours(1));
    let r = respond(&api, &id, BUYER, json!({"action": "accept"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = json_of(&r);
    assert_eq!(d["status"], "resolved");
    assert_eq!(d["outcome"], "agreed");
    assert_eq!(d["refund_amount"], usd("600.00"));
    assert_eq!(
        d["order_status"], "awaiting_shipment",
        "a compensation: the order goes on"
    );
    // The record keeps who did what, when, with what.
    let steps: Vec<(String, String, Value)> = d["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["by"]["role"].as_str().unwrap_or_default().to_owned(),
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["amount"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("buyer".into(), "opened".into(), usd("1000.00")),
            ("supplier".into(), "offered".into(), usd("600.00")),
            ("buyer".into(), "commented".into(), Value::Null),
            ("buyer".into(), "accepted".into(), usd("600.00")),
        ]
    );
    assert_eq!(d["entries"][1]["at"], json!(now() + TimeDelta::hours(2)));
    assert_eq!(d["entries"][1]["message"], "Half the panels are fine");
    let order = order_of(&api, &id).await;
    let refunds = order["refunds"].as_array().expect("refunds");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["amount"], usd("600.00"));
    assert_eq!(refunds[0]["provider"], "card");
    assert_eq!(refunds[0]["status"], "requested");
    assert_eq!(order["coverage"]["reserved"], usd("900.00"));
    assert_eq!(order["coverage"]["refunded"], usd("600.00"));
    // The supplier can still ship.
    let ship = format!("/v1/orders/{id}/shipment");
    let r = call(&api, "POST", &ship, SUPPLIER, shipment_body()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["status"], "shipped");
}

#[tokio::test]
async fn manual_escalation_is_refused_before_the_supplier_response_deadline_and_allowed_at_it() {
    let api = api();
    let id = paid_order(&api, "1500.00", PRE).await;
    assert_eq!(open(&api, &id, quality("800.00")).await.status, 201);
    // Only the buyer escalates.
    assert_problem(
        &call(
            &api,
            "POST",
            &format!("/v1/orders/{id}/dispute/escalate"),
            SUPPLIER,
            Value::Null,
        )
        .await,
        403,
    );
    api.clock.advance(TimeDelta::days(4) + TimeDelta::hours(23));
    let p = assert_problem(&escalate(&api, &id).await, 422);
    assert_eq!(code(&p), "not-yet-escalatable");
    api.clock.advance(TimeDelta::hours(1));
    let r = escalate(&api, &id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = json_of(&r);
    assert_eq!(d["status"], "escalated");
    assert_eq!(d["escalation_ground"], "supplier_no_response");
    assert_eq!(d["deadlines"], json!([]));
    let p = assert_problem(&escalate(&api, &id).await, 409);
    assert_eq!(code(&p), "dispute-escalated");
    // Once escalated, only comments, evidence, acceptance or withdrawal.
    let p = assert_problem(
        &respond(
            &api,
            &id,
            SUPPLIER,
            json!({"action": "offer", "refund_amount": "10.00"}),
        )
        .await,
        409,
    );
    assert_eq!(code(&p), "dispute-escalated");
}

#[tokio::test]
async fn a_rejection_lets_the_buyer_escalate_at_once() {
    let api = api();
    let id = paid_order(&api, "1500.00", PRE).await;
    assert_eq!(open(&api, &id, quality("800.00")).await.status, 201);
    assert_eq!(
        respond(
            &api,
            &id,
            SUPPLIER,
            json!({"action": "reject", "message": "Within spec"})
        )
        .await
        .status,
        200
    );
    let r = escalate(&api, &id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["escalation_ground"], "supplier_rejected");
}

#[tokio::test]
async fn the_arbiter_decides_within_the_caps_and_refunds_the_inspection_fee_in_a_quality_dispute() {
    let api = api();
    let id = paid_order(&api, "1500.00", PRE).await;
    let fee = order_of(&api, &id).await["inspection"]["fee"].clone();
    assert_eq!(open(&api, &id, quality("1500.00")).await.status, 201);
    // Not escalated yet: nothing to decide.
    let p = assert_problem(
        &decide(&api, &id, ARBITER, json!({"outcome": "claim_rejected"})).await,
        409,
    );
    assert_eq!(code(&p), "dispute-not-escalated");
    api.clock.advance(TimeDelta::days(5));
    assert_eq!(escalate(&api, &id).await.status, 200);
    // Only arbiters decide; bodies are strict.
    assert_problem(
        &decide(&api, &id, BUYER, json!({"outcome": "claim_rejected"})).await,
        403,
    );
    assert_problem(
        &decide(&api, &id, SUPPLIER, json!({"outcome": "claim_rejected"})).await,
        403,
    );
    for bad in [
        json!({"outcome": "supplier_at_fault"}),
        json!({"outcome": "claim_rejected", "refund_amount": "1.00"}),
        json!({"outcome": "split_the_difference"}),
    ] {
        assert_problem(&decide(&api, &id, ARBITER, bad).await, 400);
    }
    // The decided refund obeys the caps.
    let p = assert_problem(
        &decide(
            &api,
            &id,
            ARBITER,
            json!({"outcome": "supplier_at_fault", "refund_amount": "1500.01"}),
        )
        .await,
        422,
    );
    assert_eq!(code(&p), "refund-exceeds-covered");
    let r = decide(
        &api,
        &id,
        ARBITER,
        json!({"outcome": "supplier_at_fault", "refund_amount": "1500.00"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = json_of(&r);
    assert_eq!(d["outcome"], "supplier_at_fault");
    assert_eq!(d["refund_amount"], usd("1500.00"));
    assert_eq!(d["inspection_fee_refund"], fee);
    assert_eq!(d["order_status"], "refund_pending");
    assert_eq!(
        d["entries"]
            .as_array()
            .and_then(|e| e.last())
            .map(|e| e["by"].clone()),
        Some(json!({"role": "arbiter", "id": "arb-1"}))
    );
    let order = order_of(&api, &id).await;
    let amount =
        |v: &Value| domain::Usd::parse(v["amount"].as_str().unwrap_or_default()).expect("amount");
    let refunded = order["refunds"]
        .as_array()
        .expect("refunds")
        .iter()
        .fold(domain::Usd::ZERO, |acc, r| {
            acc.checked_add(amount(&r["amount"])).expect("sum")
        });
    let expected = domain::Usd::parse("1500.00")
        .and_then(|u| u.checked_add(amount(&fee)))
        .expect("expected");
    assert_eq!(refunded, expected);
    // Decided once.
    assert_problem(
        &decide(&api, &id, ARBITER, json!({"outcome": "claim_rejected"})).await,
        409,
    );
}

#[tokio::test]
async fn a_rejected_claim_lets_the_order_continue_where_it_was() {
    let api = api();
    let id = paid_order(&api, "1500.00", PRE).await;
    assert_eq!(open(&api, &id, quality("700.00")).await.status, 201);
    api.clock.advance(TimeDelta::days(15));
    let r = escalate(&api, &id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = decide(&api, &id, ARBITER, json!({"outcome": "claim_rejected"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = json_of(&r);
    assert_eq!(
        (d["status"].as_str(), d["outcome"].as_str()),
        (Some("resolved"), Some("claim_rejected"))
    );
    assert_eq!(d["refund_amount"], Value::Null);
    assert_eq!(d["order_status"], "awaiting_shipment");
    let order = order_of(&api, &id).await;
    assert_eq!(order["refunds"], json!([]));
    assert_eq!(order["coverage"]["reserved"], usd("1500.00"));
}

#[tokio::test]
async fn arbiters_page_through_disputes_by_status_oldest_first_and_nobody_else_may() {
    let api = api();
    let mut escalated = Vec::new();
    for _ in 0..3 {
        let id = paid_order(&api, "1500.00", PRE).await;
        assert_eq!(open(&api, &id, quality("100.00")).await.status, 201);
        escalated.push(id);
        api.clock.advance(TimeDelta::minutes(1));
    }
    let open_only = paid_order(&api, "1500.00", PRE).await;
    api.clock.advance(TimeDelta::days(5));
    assert_eq!(open(&api, &open_only, quality("100.00")).await.status, 201);
    for id in &escalated {
        assert_eq!(escalate(&api, id).await.status, 200);
    }
    let list = |who, query: Vec<(&str, String)>| {
        let mut r = req("GET", "/v1/disputes", who, &Value::Null);
        r.query = query.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        r
    };
    assert_problem(&api.handle(None, &list(BUYER, vec![])).await, 403);
    assert_problem(&api.handle(None, &list(SUPPLIER, vec![])).await, 403);
    assert_problem(
        &api.handle(None, &list(ARBITER, vec![("status", "closed".into())]))
            .await,
        400,
    );
    // Escalated by default, oldest first, two per page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut query = vec![("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let r = api.handle(None, &list(ARBITER, query)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = json_of(&r);
        for item in page["items"].as_array().expect("items") {
            assert_eq!(item["status"], "escalated");
            assert_eq!(item["covered_amount"], usd("1500.00"));
            seen.push(item["order_id"].as_str().unwrap_or_default().to_owned());
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, escalated);
    let r = api
        .handle(None, &list(ARBITER, vec![("status", "open".into())]))
        .await;
    let ids: Vec<Value> = json_of(&r)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["order_id"].clone())
        .collect();
    assert_eq!(ids, [json!(open_only)]);
}

#[tokio::test]
async fn a_repeated_dispute_request_with_its_idempotency_key_is_replayed() {
    let api = api();
    let id = paid_order(&api, "1500.00", PRE).await;
    let mut first = req(
        "POST",
        &format!("/v1/orders/{id}/dispute"),
        BUYER,
        &quality("300.00"),
    );
    first
        .headers
        .push(("idempotency-key".into(), "open-1".into()));
    let a = api.handle(None, &first).await;
    let b = api.handle(None, &first).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!((b.status, &b.body), (a.status, &a.body));
    assert!(
        b.headers
            .iter()
            .any(|(k, v)| k == "idempotent-replayed" && v == "true")
    );
}
