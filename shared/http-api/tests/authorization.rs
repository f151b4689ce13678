//! The authorization matrix: every route (but the public webhook route,
//! which authenticates by signature: see bad_input.rs) × every kind of
//! caller → the status, through the same `Api::handle` every function runs.
//!
//! The callers, one column each: no token; the order's buyer's id signed in
//                                                                           no    no           other        other
//! (`buyer-9`); the order's supplier (`sup-1`); another supplier (`sup-2`);
//! an arbiter (`arb-1`). "Own" is the order's buyer and supplier, and for
//! `/v1/suppliers/{id}/…` the supplier `sup-1` the path names; "someone
//! else's" is the other buyer and the other supplier. Arbiters own no
//! orders: every order is someone else's to them and they see (but do not
//! act on) all of them — a party who is also an arbiter is the multi-role
//! test below. For the routes without an order the columns read as roles:
//! who may create, list, apply, read a credit line (only one's own: another
//! buyer without one gets 404), set or read a limit.
//!
//! Each cell runs on a fresh `api()` brought to the point where the route's
//! rightful caller succeeds (so every row has a 2xx cell: no row is refused
//! for a reason other than the caller), with a valid body. Every refusal
//! must be problem+json and leave everything as it was (the order as its
//! buyer sees it, version included, its history, listings, limits, credit
//! lines); a 404 for someone else's order must be byte-for-byte the 404 of
//! an order that does not exist; no answer to a caller who is not a party
//! names the order.

use test_kit::figures;

use http_api::routes::ROUTES;
use serde_json::{Value, json};

use support::*;
use test_kit::api as support;

/// The columns of the table.
const CALLERS: [(&str, Option<(&str, &str)>); 7] = [
    ("no token", None),
    ("no role", NO_ROLE),
    ("buyer", BUYER),
    ("other buyer", STRANGER),
    ("supplier", SUPPLIER),
    ("other supplier", OTHER_SUPPLIER),
    ("arbiter", ARBITER),
];

struct Row {
    method: &'static str,
    path: &'static str,
    setup: Setup,
    /// The request body, when not the route's `valid_body`.
    body: Option<Value>,
    /// The status for each of [`CALLERS`].
    expect: [u16; 7],
}

fn row(method: &'static str, path: &'static str, setup: Setup, expect: [u16; 7]) -> Row {
    Row {
        method,
        path,
        setup,
        body: None,
        expect,
    }
}

impl Row {
    fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// The matrix, one row per route (two where the body decides who may act).
#[rustfmt::skip]
fn table() -> Vec<Row> {
    use Setup::*;
    let drafted_by_supplier = {
        let mut body = order_body();
        if let Some(o) = body.as_object_mut() {
            o.remove("supplier_id");
        }
        body["buyer_id"] = json!("buyer-1");
        body
    };
    let delivered = json!({"delivered_at": now_rfc3339()});
    vec![
        //                                                                           no    no           other        other
        //  method  route                                  point                     token role  buyer  buyer  supp. supp.  arbiter
        // Anyone with the role creates, for their own side only: a buyer names
        // a supplier, a supplier drafting names a buyer.
        row("POST", "/v1/orders",                          NoOrder,                 [401,  403,  201,   201,   403,  403,   403]),
        row("POST", "/v1/orders",                          NoOrder,                 [401,  403,  403,   403,   201,  201,   403])
            .with_body(drafted_by_supplier),
        // Each party lists its own (the others get theirs: none of these);
        // an arbiter has no orders to list.
        row("GET",  "/v1/orders",                          AwaitingShipment,        [401,  403,  200,   200,   200,  200,   403]),
        // Reads: the parties and arbiters; anyone else 404, as if unknown.
        row("GET",  "/v1/orders/{id}",                     AwaitingShipment,        [401,  404,  200,   404,   200,  404,   200]),
        row("GET",  "/v1/orders/{id}/history",             AwaitingShipment,        [401,  404,  200,   404,   200,  404,   200]),
        row("GET",  "/v1/orders/{id}/payments",            AwaitingShipment,        [401,  404,  200,   404,   200,  404,   200]),
        // Either party amends and cancels. The missing confirmation is the
        // supplier's (the buyer confirmed by creating: 409); the buyer reminds
        // (there is nothing to remind the buyer of: 409).
        row("POST", "/v1/orders/{id}/amend",               AwaitingConfirmation,    [401,  404,  200,   404,   200,  404,   403]),
        row("POST", "/v1/orders/{id}/confirm",             AwaitingConfirmation,    [401,  404,  409,   404,   200,  404,   403]),
        row("POST", "/v1/orders/{id}/remind",              AwaitingConfirmation,    [401,  404,  200,   404,   409,  404,   403]),
        row("POST", "/v1/orders/{id}/cancel",              AwaitingConfirmation,    [401,  404,  200,   404,   200,  404,   403]),
        // The buyer pays; an arbiter settles a flagged payment.
        row("POST", "/v1/orders/{id}/payments",            AwaitingInitialPayment,  [401,  404,  201,   404,   403,  404,   403]),
        row("POST", "/v1/orders/{id}/payments/{pid}/resolution",
                                                           FlaggedPayment,          [401,  404,  403,   404,   403,  404,   200]),
        row("POST", "/v1/orders/{id}/refunds/{rid}/resolution",
                                                           FlaggedRefund,           [401,  404,  403,   404,   403,  404,   200]),
        // The supplier ships. Only the buyer records customs clearance and
        // delivery: the dates that shorten the quality window and bring the
        // balance forward are not the supplier's to set.
        row("POST", "/v1/orders/{id}/shipment",            AwaitingShipment,        [401,  404,  403,   404,   200,  404,   403]),
        row("POST", "/v1/orders/{id}/delivery",            Shipped,                 [401,  404,  200,   404,   403,  404,   403]),
        row("POST", "/v1/orders/{id}/delivery",            Shipped,                 [401,  404,  200,   404,   403,  404,   403])
            .with_body(delivered),
        // The buyer confirms receipt and leaves feedback; ratings are public
        // to anyone signed in.
        row("POST", "/v1/orders/{id}/receipt",             AwaitingReceipt,         [401,  404,  200,   404,   403,  404,   403]),
        row("POST", "/v1/orders/{id}/receipt/extension",   AwaitingReceipt,         [401,  404,  200,   404,   403,  404,   403]),
        row("POST", "/v1/orders/{id}/feedback",            Completed,               [401,  404,  201,   404,   403,  404,   403]),
        row("GET",  "/v1/suppliers/{id}/feedback",         Completed,               [401,  200,  200,   200,   200,  200,   200]),
        // Disputes: the buyer opens, withdraws and escalates; both parties
        // respond; an arbiter decides, and lists the queue.
        row("POST", "/v1/orders/{id}/dispute",             AwaitingShipment,        [401,  404,  201,   404,   403,  404,   403]),
        row("POST", "/v1/orders/{id}/dispute/responses",   DisputeOpen,             [401,  404,  200,   404,   200,  404,   403]),
        row("POST", "/v1/orders/{id}/dispute/withdraw",    DisputeOpen,             [401,  404,  200,   404,   403,  404,   403]),
        row("POST", "/v1/orders/{id}/dispute/escalate",    DisputeRejected,         [401,  404,  200,   404,   403,  404,   403]),
        row("POST", "/v1/orders/{id}/dispute/decision",    DisputeEscalated,        [401,  404,  403,   404,   403,  404,   200]),
        row("GET",  "/v1/disputes",                        DisputeEscalated,        [401,  403,  403,   403,   403,  403,   200]),
        // What needs an operator: arbiters only.
        row("GET",  "/v1/flags",                           FlaggedPayment,          [401,  403,  403,   403,   403,  403,   200]),
        // Pay Later: buyers apply; each reads only their own line.
        row("POST", "/v1/credit-line",                     NoOrder,                 [401,  403,  201,   201,   403,  403,   403]),
        row("GET",  "/v1/credit-line",                     CreditApplied,           [401,  403,  200,   404,   403,  403,   403]),
        // The limit of sup-1: arbiters set it; the supplier and arbiters read it.
        row("PUT",  "/v1/suppliers/{id}/assurance-limit",  NoOrder,                 [401,  403,  403,   403,   403,  403,   200]),
        row("GET",  "/v1/suppliers/{id}/assurance-limit",  NoOrder,                 [401,  403,  403,   403,   200,  403,   200]),
    ]
}

fn is_order_route(path: &str) -> bool {
    path.starts_with("/v1/orders/{id}")
}

/// One cell: a fresh stack at the row's point, one call, every check.
/// Returns the status.
async fn check_cell(row: &Row, column: usize) -> u16 {
    let (who_name, who) = CALLERS[column];
    let expected = row.expect[column];
    let api = api();
    let prepared = prepare(&api, row.setup).await;
    let path = prepared.path(row.path);
    let body = row
        .body
        .clone()
        .unwrap_or_else(|| valid_body(row.method, row.path));
    let before = snapshot(&api, &prepared).await;
    let r = call(&api, row.method, &path, who, body.clone()).await;
    let cell = format!("{} {} as {who_name}", row.method, row.path);
    assert_eq!(r.status, expected, "{cell}: {}", r.body);
    if r.status >= 400 {
        assert_problem(&r, expected);
        assert_eq!(
            snapshot(&api, &prepared).await,
            before,
            "{cell}: a refusal changed nothing"
        );
    } else {
        assert_eq!(r.content_type, "application/json", "{cell}");
    }
    // Someone else's order is exactly an unknown one.
    if r.status == 404 && is_order_route(row.path) {
        let unknown = Prepared {
            order: Some(test_kit::api::fresh_order_id()),
            payment: prepared.payment.clone(),
            refund: prepared.refund.clone(),
        };
        let u = call(&api, row.method, &unknown.path(row.path), who, body).await;
        assert_eq!((u.status, &u.body), (r.status, &r.body), "{cell}: no leak");
    }
    // Nothing answered to a caller who is not a party names the order.
    if matches!(who_name, "no role" | "other buyer" | "other supplier")
        && let Some(id) = &prepared.order
    {
        assert!(
            !r.body.contains(id.as_str()),
            "{cell} leaks the order: {}",
            r.body
        );
    }
    r.status
}

#[tokio::test]
async fn when_any_caller_calls_any_route_should_answer_as_the_table_says_and_refuse_cleanly() {
    let mut cells = 0;
    let mut refused = 0;
    for row in table() {
        for column in 0..CALLERS.len() {
            if check_cell(&row, column).await >= 400 {
                refused += 1;
            }
            cells += 1;
        }
    }
    figures::record(
        "authorization",
        &format!(
            "authorization matrix: {} rows, {cells} cells checked ({refused} refusals)",
            table().len()
        ),
    );
}

#[test]
fn the_table_covers_every_route_and_each_row_has_a_caller_who_succeeds() {
    let rows = table();
    for route in ROUTES.iter().filter(|r| !r.public) {
        assert!(
            rows.iter()
                .any(|row| (row.method, row.path) == (route.method, route.path)),
            "{} {} has no row in the authorization matrix",
            route.method,
            route.path
        );
    }
    for row in &rows {
        assert!(
            ROUTES
                .iter()
                .any(|r| !r.public && (r.method, r.path) == (row.method, row.path)),
            "{} {} is not a route",
            row.method,
            row.path
        );
        assert!(
            row.expect.iter().any(|s| (200..300).contains(s)),
            "{} {}: nobody succeeds, so the row proves nothing",
            row.method,
            row.path
        );
        assert_eq!(row.expect[0], 401, "{} {}: no token", row.method, row.path);
    }
    // Only the webhook route is public.
    let public: Vec<_> = ROUTES.iter().filter(|r| r.public).map(|r| r.path).collect();
    assert_eq!(public, ["/v1/webhooks/{provider}"]);
}

// ---- callers the columns do not cover ----------------------------------------------

async fn status_as(api: &TestApi, method: &str, path: &str, who: (&str, &str), body: Value) -> u16 {
    call(api, method, path, Some(who), body).await.status
}

#[tokio::test]
async fn when_a_party_is_also_an_arbiter_should_not_decide_or_resolve_their_own_order() {
    // The escalated dispute of buyer-1's order from sup-1. A token whose
    // `sub` is the buyer's or the supplier's never decides, whatever groups
    // it carries (only `arbiter` too).
    for (who, expected) in [
        (("buyer-1", "buyer arbiter"), 403),
        (("buyer-1", "arbiter"), 403),
        (("sup-1", "arbiter supplier"), 403),
        (("sup-1", "arbiter"), 403),
        (("buyer-9", "buyer arbiter"), 200),
    ] {
        let api = api();
        let prepared = prepare(&api, Setup::DisputeEscalated).await;
        let before = snapshot(&api, &prepared).await;
        let path = prepared.path("/v1/orders/{id}/dispute/decision");
        let r = call(
            &api,
            "POST",
            &path,
            Some(who),
            json!({"outcome": "claim_rejected"}),
        )
        .await;
        assert_eq!(r.status, expected, "{who:?}: {}", r.body);
        if expected == 403 {
            assert_problem(&r, 403);
            assert_eq!(snapshot(&api, &prepared).await, before);
        }
    }
    // A flagged payment of their own order.
    for (who, expected) in [
        (("buyer-1", "arbiter buyer"), 403),
        (("sup-1", "supplier arbiter"), 403),
        (("sup-2", "supplier arbiter"), 200),
    ] {
        let api = api();
        let prepared = prepare(&api, Setup::FlaggedPayment).await;
        let before = snapshot(&api, &prepared).await;
        let path = prepared.path("/v1/orders/{id}/payments/{pid}/resolution");
        let r = call(
            &api,
            "POST",
            &path,
            Some(who),
            json!({"resolution": "accept"}),
        )
        .await;
        assert_eq!(r.status, expected, "{who:?}: {}", r.body);
        if expected == 403 {
            assert_problem(&r, 403);
            assert_eq!(snapshot(&api, &prepared).await, before);
        }
    }
    // A flagged refund part of their own order.
    for (who, expected) in [
        (("buyer-1", "arbiter"), 403),
        (("sup-1", "arbiter"), 403),
        (("arb-1", "arbiter"), 200),
    ] {
        let api = api();
        let prepared = prepare(&api, Setup::FlaggedRefund).await;
        let before = snapshot(&api, &prepared).await;
        let path = prepared.path("/v1/orders/{id}/refunds/{rid}/resolution");
        let r = call(
            &api,
            "POST",
            &path,
            Some(who),
            json!({"resolution": "settled_outside"}),
        )
        .await;
        assert_eq!(r.status, expected, "{who:?}: {}", r.body);
        if expected == 403 {
            assert_problem(&r, 403);
            assert_eq!(snapshot(&api, &prepared).await, before);
        }
    }
}

#[tokio::test]
async fn when_a_supplier_is_also_an_arbiter_should_not_set_their_own_limit() {
    for (who, expected) in [
        (("sup-1", "supplier arbiter"), 403),
        (("sup-2", "supplier arbiter"), 200),
    ] {
        let api = api();
        let r = call(
            &api,
            "PUT",
            "/v1/suppliers/sup-1/assurance-limit",
            Some(who),
            json!({"limit": "999999.00"}),
        )
        .await;
        assert_eq!(r.status, expected, "{who:?}: {}", r.body);
        if expected == 403 {
            assert_problem(&r, 403);
            let limit = call(
                &api,
                "GET",
                "/v1/suppliers/sup-1/assurance-limit",
                Some(("sup-2", "arbiter")),
                Value::Null,
            )
            .await;
            assert_ne!(
                json_of(&limit)["limit"]["amount"],
                "999999.00",
                "{}",
                limit.body
            );
        }
    }
}

#[tokio::test]
async fn when_a_caller_is_buyer_and_supplier_should_act_only_as_their_party_on_the_order() {
    let api = api();
    let prepared = prepare(&api, Setup::AwaitingShipment).await;
    let id = prepared.order.clone().expect("order");
    let both_buyer = ("buyer-1", "buyer supplier");
    let both_supplier = ("sup-1", "supplier buyer");
    let at = |p: &str| format!("/v1/orders/{id}/{p}");
    // The order's buyer may not ship it however many roles they have.
    let before = snapshot(&api, &prepared).await;
    let r = call(
        &api,
        "POST",
        &at("shipment"),
        Some(both_buyer),
        shipment_body(),
    )
    .await;
    assert_problem(&r, 403);
    assert_eq!(snapshot(&api, &prepared).await, before);
    // …and the supplier may not dispute it.
    let r = call(
        &api,
        "POST",
        &at("dispute"),
        Some(both_supplier),
        dispute_body(),
    )
    .await;
    assert_problem(&r, 403);
    assert_eq!(snapshot(&api, &prepared).await, before);
    // Each acts as the party they are.
    assert_eq!(
        status_as(
            &api,
            "GET",
            &format!("/v1/orders/{id}"),
            both_buyer,
            Value::Null
        )
        .await,
        200
    );
    assert_eq!(
        status_as(
            &api,
            "POST",
            &at("shipment"),
            both_supplier,
            shipment_body()
        )
        .await,
        200
    );
    // Listing picks the side: as a buyer by default, as a supplier on request.
    let list = |who: (&'static str, &'static str), side: Option<&str>| {
        let mut r = req("GET", "/v1/orders", Some(who), &Value::Null);
        if let Some(side) = side {
            r.query = vec![("as".into(), side.into())];
        }
        r
    };
    let ids = |r: &http_api::request::ApiResponse| -> Vec<String> {
        json_of(r)["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|o| o["id"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        ids(&api.handle(None, &list(both_buyer, None)).await),
        [id.as_str()]
    );
    assert!(ids(&api.handle(None, &list(both_buyer, Some("supplier"))).await).is_empty());
    assert_eq!(
        ids(&api
            .handle(None, &list(both_supplier, Some("supplier")))
            .await),
        [id.as_str()]
    );
    // Nobody orders from themselves.
    let mut body = order_body();
    body["supplier_id"] = json!("buyer-1");
    let r = call(&api, "POST", "/v1/orders", Some(both_buyer), body).await;
    assert_problem(&r, 422);
}

#[tokio::test]
async fn when_the_claims_name_no_known_role_or_no_valid_user_should_refuse_like_the_table() {
    use http_api::request::Claims;
    let api = api();
    let prepared = prepare(&api, Setup::AwaitingShipment).await;
    let order = prepared.path("/v1/orders/{id}");
    let send = |claims: Claims, method: &str, path: &str, body: &Value| {
        let mut r = req(method, path, None, body);
        r.claims = claims;
        r
    };
    let claims = |sub: Option<&str>, groups: Option<&str>| Claims {
        sub: sub.map(str::to_owned),
        groups: groups.map(str::to_owned),
    };
    // The order's buyer's id, but no role the API knows: a stranger.
    for groups in [
        None,
        Some(""),
        Some("[]"),
        Some("[admin ops]"),
        Some("[Buyer]"),
        Some("buyers"),
    ] {
        let who = claims(Some("buyer-1"), groups);
        let r = api
            .handle(None, &send(who.clone(), "GET", &order, &Value::Null))
            .await;
        assert_problem(&r, 404);
        let r = api
            .handle(
                None,
                &send(who.clone(), "POST", "/v1/orders", &order_body()),
            )
            .await;
        assert_problem(&r, 403);
        let r = api
            .handle(None, &send(who, "GET", "/v1/orders", &Value::Null))
            .await;
        assert_problem(&r, 403);
    }
    // No user, or not a user id: unauthenticated whatever the groups.
    let long = "u".repeat(129);
    for sub in [
        None,
        Some(""),
        Some("buyer 1"),
        Some("buyer/1"),
        Some(long.as_str()),
    ] {
        let r = api
            .handle(
                None,
                &send(claims(sub, Some("[buyer]")), "GET", &order, &Value::Null),
            )
            .await;
        assert_problem(&r, 401);
    }
    // The groups as API Gateway may render them: JSON array, bare name.
    for groups in [r#"["buyer"]"#, "buyer", "[buyer]", "[arbiter buyer]"] {
        let r = api
            .handle(
                None,
                &send(
                    claims(Some("buyer-1"), Some(groups)),
                    "GET",
                    &order,
                    &Value::Null,
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{groups}: {}", r.body);
    }
}
