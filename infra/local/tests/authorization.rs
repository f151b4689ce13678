//! Nothing answers without a token but `/health`, `/openapi.json`, the
//! webhook route and the local stack's `/_local/*` — route by route, over
//! HTTP, through the local stack's emulated API Gateway.
//!
//! A stack of its own in process, as the binary wires it (embedded backend,
//! the payment consumer beside it, no ticker), on a free loopback port, on
//! a runtime shut down when the test's [`App`] is dropped. For every route
//! of `http_api::routes::ROUTES` with its path parameters filled in, each
//! way of not having a token (no header, an empty or non-Bearer one, a
//! garbage, foreign-secret or expired token) gets the authorizer's own 401
//! (`{"message":"Unauthorized"}` with `www-authenticate: Bearer…`), never a
//! handler's answer; with a valid token the same request reaches the
//! handlers (so the 401 was the authorizer's, not a path that matched
//! nothing). The public webhook route reaches its handler, which refuses an
//! unsigned delivery itself (problem+json 401). Nothing refused publishes
//! an event.

use test_kit::figures;

mod support;

use http_api::routes::ROUTES;
use local_stack::schedules::TickerConfig;
use serde_json::json;
use support::{App, Reply, local_webhook_secrets, token, token_with};

const SECRET: &str = "authorization-test-secret";

// ---- the stack --------------------------------------------------------------------

/// The embedded stack, every provider with the local default webhook
/// secret (so the webhook route refuses for want of a signature, not of a
/// secret).
fn spawn_embedded() -> App {
    support::spawn_embedded(SECRET, local_webhook_secrets(), TickerConfig::off())
}

impl App {
    /// `method path` with `authorization` (if any) as the header's value
    /// and `body` (JSON for POST and PUT).
    fn request(&self, method: &str, path: &str, authorization: Option<&str>, body: &str) -> Reply {
        let headers: Vec<(&str, &str)> = authorization
            .map(|value| ("authorization", value))
            .into_iter()
            .collect();
        self.send(method, path, &headers, body.as_bytes())
    }

    fn published_events(&self) -> usize {
        let r = self.get("/_local/events", None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["items"].as_array().expect("items").len()
    }
}

// ---- tokens -----------------------------------------------------------------------

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn valid_token() -> String {
    token(SECRET, "buyer-1", "buyer")
}

/// Every way of calling without a usable token, with whether the
/// authorizer's challenge is the bare `Bearer` (no token at all) or names
/// an invalid token.
fn no_usable_token() -> Vec<(&'static str, Option<String>, bool)> {
    let arbiter = json!({"sub": "arb-1", "cognito:groups": ["arbiter"], "exp": now_secs() + 3600});
    let expired = json!({"sub": "arb-1", "cognito:groups": ["arbiter"], "exp": now_secs() - 5});
    vec![
        ("no authorization header", None, true),
        ("an empty header", Some(String::new()), true),
        ("a bare Bearer", Some("Bearer".into()), true),
        ("Bearer and spaces", Some("Bearer    ".into()), true),
        (
            "Basic credentials",
            Some("Basic dXNlcjpwYXNz".into()),
            false,
        ),
        ("a garbage token", Some("Bearer not-a-jwt".into()), false),
        (
            "an arbiter's token signed with another secret",
            Some(format!(
                "Bearer {}",
                token_with("local-dev-secret", &arbiter)
            )),
            false,
        ),
        (
            "an expired arbiter's token",
            Some(format!("Bearer {}", token_with(SECRET, &expired))),
            false,
        ),
    ]
}

/// The route's path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace(
        "{id}",
        if path.starts_with("/v1/suppliers/") {
            "sup-1"
        } else {
            "ord_x1"
        },
    )
    .replace("{pid}", "pay_x1")
    .replace("{provider}", "card")
}

fn body_for(method: &str) -> &'static str {
    if matches!(method, "POST" | "PUT") {
        "{}"
    } else {
        ""
    }
}

#[track_caller]
fn assert_authorizers_401(r: &Reply, bare: bool, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
    assert_eq!(r.json(), json!({"message": "Unauthorized"}), "{what}");
    let challenge = r.header("www-authenticate").unwrap_or_default();
    if bare {
        assert_eq!(challenge, "Bearer", "{what}");
    } else {
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{what}: {challenge}"
        );
    }
}

// ---- tests ------------------------------------------------------------------------

#[test]
fn when_no_usable_token_is_sent_every_non_public_route_should_get_the_authorizers_401() {
    let app = spawn_embedded();
    let valid = format!("Bearer {}", valid_token());
    let mut checked = 0;
    for route in ROUTES.iter().filter(|r| !r.public) {
        let path = concrete(route.path);
        let body = body_for(route.method);
        for (what, authorization, bare) in no_usable_token() {
            let r = app.request(route.method, &path, authorization.as_deref(), body);
            assert_authorizers_401(&r, bare, &format!("{} {path} with {what}", route.method));
            checked += 1;
        }
        // With a valid token the same request reaches the handlers: the
        // route matched, and the 401 above was the authorizer's.
        let r = app.request(route.method, &path, Some(&valid), body);
        assert_ne!(r.status, 401, "{} {path}: {}", route.method, r.body);
        assert_ne!(
            r.body,
            json!({"message": "Not Found"}).to_string(),
            "{} {path} is routed",
            route.method
        );
        assert!(r.status < 500, "{} {path}: {}", route.method, r.body);
    }
    assert_eq!(
        app.published_events(),
        0,
        "nothing refused published anything"
    );
    figures::record(
        "gateway-authorization",
        &format!("local gateway: {checked} unauthenticated requests refused by the authorizer"),
    );
}

#[test]
fn when_no_token_is_sent_the_webhook_route_should_reach_its_handler_and_refuse_an_unsigned_delivery()
 {
    let app = spawn_embedded();
    let public: Vec<_> = ROUTES.iter().filter(|r| r.public).collect();
    assert_eq!(public.len(), 1, "the webhook route is the only public one");
    let event = json!({"type": "payment.succeeded", "data": {"payment_id": "pay_1",
        "order_id": "ord_1", "amount": "1.00", "currency": "USD"}})
    .to_string();
    for provider in domain::actor::Provider::ALL {
        let path = public[0].path.replace("{provider}", provider.as_str());
        for (what, authorization, _) in no_usable_token() {
            let r = app.request("POST", &path, authorization.as_deref(), &event);
            assert_eq!(r.status, 401, "{path} with {what}: {}", r.body);
            assert_eq!(
                r.header("content-type"),
                Some("application/problem+json"),
                "{path} with {what}: the handler answered, not the authorizer"
            );
            let p = r.json();
            assert_eq!(p["status"], 401);
            assert_eq!(
                p["type"],
                "https://trade-assurance.dev/problems/invalid-signature"
            );
            assert!(r.header("www-authenticate").is_none(), "{path} with {what}");
        }
    }
    // An unknown provider is the handler's 404.
    let r = app.request("POST", "/v1/webhooks/cash", None, &event);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(app.published_events(), 0);
}

#[test]
fn when_no_token_is_sent_health_openapi_and_the_local_endpoints_should_answer() {
    let app = spawn_embedded();
    // The GETs (infra/local/src/gateway.rs and local.rs).
    for path in [
        "/health",
        "/openapi.json",
        "/_local/events",
        "/_local/events?order_id=ord_x1",
        "/_local/clock",
        "/_local/dlq",
    ] {
        let r = app.request("GET", path, None, "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
        assert!(r.json().is_object(), "{path}");
        assert!(r.header("www-authenticate").is_none(), "{path}");
        let r = app.request("HEAD", path, None, "");
        assert_eq!(r.status, 200, "HEAD {path}");
    }
    assert_eq!(
        app.request("GET", "/health", None, "").json(),
        json!({"status": "ok"})
    );
    assert_eq!(
        app.request("GET", "/openapi.json", None, "").json()["openapi"],
        "3.1.0"
    );
    // The POSTs answer too, each by its own rules rather than a 401.
    let r = app.request("POST", "/_local/schedules/run", None, "{}");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.request("POST", "/_local/clock/advance", None, r#"{"seconds": 0}"#);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    // The simulator signs what it is given and delivers it: not an event.
    let r = app.request("POST", "/_local/providers/card/events", None, "{}");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    // A wrong method is a 405 naming the right one, still not a 401.
    let r = app.request("POST", "/_local/clock", None, "{}");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    let r = app.request("GET", "/_local/providers/card/events", None, "");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    // A route that does not exist is API Gateway's 404, token or not.
    for path in [
        "/v1/nothing",
        "/v1/orders/ord_x1/nothing",
        "/_local/nothing",
    ] {
        let r = app.request("GET", path, None, "");
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
}
