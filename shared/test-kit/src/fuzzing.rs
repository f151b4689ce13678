//! The fuzz harnesses, written once: the cargo-fuzz targets in `fuzz/` call
//! them with what libFuzzer generates, and the stable test
//! `tests/fuzz_corpus.rs` replays the committed corpus through them in
//! `make test`. Each asserts the promise of hostile input — no panic, never
//! a 5xx — and the invariants of what it exercises:
//!
//! - [`money`]: `Usd` parsing against an independent oracle (the grammar,
//!   the error kind, the exact cents), Display and serde round trips,
//!   checked arithmetic, and the same strings through a request DTO and
//!   the API's `Money` shape.
//! - [`webhook`]: Standard Webhooks verification against an independent
//!   oracle (only what the fixed secret signed, within the tolerance,
//!   passes), the event parser and the reports derived from an event, and
//!   the webhook route's exact status (401 / 400 / 202) with what it queued.
//! - [`request_body`]: every POST (and PUT) route through the real
//!   `Api::handle` (or the webhook route's own handler) on a fresh in-memory
//!   backend holding an order at one of several stages, with a caller who
//!   gets as far as decoding the body: never 5xx, every 4xx problem+json
//!   naming its status, every 2xx JSON, an idempotent retry answered the
//!   same, the order still readable afterwards.
//!
//! Assertions are the point here: a failed one is a finding.
//! Nothing here runs on a request path.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use app::clock::FixedClock;
use app::consumer::{self, ConsumeError};
use app::memory::{MemoryBackend, MemoryQueue};
use app::ports::{Clock, ProviderMessage, SupplierLimits};
use app::provider_events::{self, ProviderEvent, WebhookSecret};
use chrono::{TimeDelta, TimeZone, Utc};
use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::ids::UserId;
use domain::money::{Money, MoneyError, Usd};
use serde_json::{Value, json};

use http_api::Api;
use http_api::dto;
use http_api::problem::ApiError;
use http_api::request::{ApiRequest, ApiResponse, Claims};
use http_api::routes::{self, Route};
use http_api::webhook::{ProviderSecrets, Webhooks};

/// The secret every provider signs with in the harnesses.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A secret nobody signs with (rotation: must never make a difference).
const OTHER_SECRET: &str = "whsec_bG9jYWwtd2ViaG9vay1zZWNyZXQ=";
/// The real time of every webhook delivery, Unix seconds.
pub const NOW_UNIX: i64 = 1_800_000_000;
/// The id of the one order in the request-body harness.
pub const ORDER_ID: &str = "ord_fuzz";

// ---------------------------------------------------------------------------
// A tiny executor
// ---------------------------------------------------------------------------

/// Run a future of the in-memory backend to completion. Its ports never
/// wait (every call is done under a lock), so the future is ready at the
/// first poll; one that is not would need a real runtime, which is a bug of
/// this harness.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("an in-memory future did not complete: the harness needs a real runtime")
}

// ---------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------

/// What `Usd::parse` must answer for `s`, computed independently: the
/// amount in cents, or the error kind.
fn usd_oracle(s: &str) -> Result<u64, MoneyError> {
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match body.find('.') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(MoneyError::Malformed);
    }
    if negative {
        return Err(MoneyError::Negative);
    }
    let frac = frac.unwrap_or("");
    if frac.len() > 2 {
        return Err(MoneyError::TooPrecise);
    }
    let significant = int.trim_start_matches('0');
    if significant.len() > 12 {
        return Err(MoneyError::TooLarge);
    }
    let digits = |p: &str| p.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    let cents_part = match frac.len() {
        0 => 0,
        1 => digits(frac) * 10,
        _ => digits(frac),
    };
    Ok(digits(significant) * 100 + cents_part)
}

/// Everything an accepted amount must be: exactly two places when shown,
/// at most `Usd::MAX`, the same value back from its text and its JSON.
fn check_usd(v: Usd) {
    let text = v.to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    assert!(
        !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()),
        "{text}: not a plain non-negative amount"
    );
    assert_eq!(frac.len(), 2, "{text}: not two decimal places");
    assert!(v <= Usd::MAX, "{text}: above the maximum");
    assert_eq!(
        text,
        format!("{}.{:02}", v.cents() / 100, v.cents() % 100),
        "Display and cents disagree"
    );
    assert_eq!(
        Usd::parse(&text),
        Ok(v),
        "{text}: Display does not parse back"
    );
    let json = serde_json::to_string(&v).unwrap_or_default();
    assert_eq!(
        json,
        format!("\"{text}\""),
        "serde writes the amount as a string"
    );
    assert_eq!(serde_json::from_str::<Usd>(&json).ok(), Some(v));
    let money: Money = v.into();
    let json = serde_json::to_value(money).unwrap_or_default();
    assert_eq!(json, json!({"amount": text, "currency": "USD"}));
    assert_eq!(serde_json::from_value::<Money>(json).ok(), Some(money));
}

/// Money parsing. The input, as text, is one amount, or two amounts
/// separated by `|`, optionally followed by `*` and a quantity: each amount
/// is parsed against an independent oracle (error kind or exact cents),
/// round-tripped, and sent through the DTOs that carry money; two amounts
/// are added, subtracted and compared; a quantity multiplies.
pub fn money(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (amounts, quantity) = match text.rsplit_once('*') {
        Some((a, q)) => (a, q.parse::<u32>().ok()),
        None => (text.as_ref(), None),
    };
    let (first, second) = match amounts.split_once('|') {
        Some((a, b)) => (a, Some(b)),
        None => (amounts, None),
    };
    let a = one_amount(first);
    let b = second.and_then(one_amount);
    if let (Some(a), Some(b)) = (a, b) {
        let (ca, cb) = (a.cents(), b.cents());
        assert_eq!(a.cmp(&b), ca.cmp(&cb), "{a} vs {b}: order is not by cents");
        match a.checked_add(b) {
            Ok(sum) => {
                assert_eq!(sum.cents(), ca + cb, "{a} + {b}");
                check_usd(sum);
            }
            Err(e) => {
                assert_eq!(e, MoneyError::TooLarge, "{a} + {b}");
                assert!(ca + cb > Usd::MAX.cents(), "{a} + {b} refused: {e}");
            }
        }
        assert_eq!(Usd::sum([a, b]), a.checked_add(b), "sum vs checked_add");
        match a.checked_sub(b) {
            Ok(d) => assert_eq!(d.cents(), ca - cb, "{a} - {b}"),
            Err(e) => {
                assert_eq!(e, MoneyError::WouldBeNegative, "{a} - {b}");
                assert!(cb > ca, "{a} - {b} refused: {e}");
            }
        }
        assert_eq!(a.saturating_sub(b).cents(), ca.saturating_sub(cb));
    }
    if let (Some(a), Some(q)) = (a, quantity) {
        let exact = u128::from(a.cents()) * u128::from(q);
        match a.checked_mul(q) {
            Ok(p) => {
                assert_eq!(u128::from(p.cents()), exact, "{a} × {q}");
                check_usd(p);
            }
            Err(e) => {
                assert_eq!(e, MoneyError::TooLarge, "{a} × {q}");
                assert!(exact > u128::from(Usd::MAX.cents()), "{a} × {q}: {e}");
            }
        }
    }
}

/// One amount: `Usd::parse` against the oracle, then the same string as a
/// request body's amount (`PUT …/assurance-limit`) and as API `Money`.
fn one_amount(s: &str) -> Option<Usd> {
    let parsed = Usd::parse(s);
    match (&parsed, usd_oracle(s)) {
        (Ok(v), Ok(cents)) => {
            assert_eq!(v.cents(), cents, "{s:?} parsed to {v}");
            check_usd(*v);
        }
        (Err(got), Err(want)) => assert_eq!(got, &want, "{s:?}: the wrong refusal"),
        (got, want) => panic!("{s:?}: parsed as {got:?}, the oracle says {want:?}"),
    }
    assert_eq!(s.parse::<Usd>(), parsed, "FromStr and parse disagree");
    // A JSON string holding `s` must decode to the same verdict.
    let as_json = serde_json::to_string(s).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Usd>(&as_json).ok(),
        parsed.clone().ok()
    );
    let money = serde_json::from_value::<Money>(json!({"amount": s, "currency": "USD"}));
    assert_eq!(money.ok().map(|m| m.amount), parsed.clone().ok());
    // The DTO path: an amount in a request body is a 400 naming its field
    // when refused, the same value when accepted.
    let body = format!("{{\"limit\": {as_json}}}");
    match (dto::parse_body::<dto::LimitBody>(body.as_bytes()), &parsed) {
        (Ok((limit, None)), Ok(v)) => assert_eq!(limit, *v),
        (Err(ApiError::BadRequest { errors, .. }), Err(_)) => {
            assert!(
                errors.iter().any(|e| e.field == "limit"),
                "{s:?}: {errors:?}"
            );
        }
        (got, want) => panic!("{s:?}: the DTO answered {got:?}, Usd::parse {want:?}"),
    }
    parsed.ok()
}

// ---------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------

fn secret() -> WebhookSecret {
    WebhookSecret::parse(SECRET).unwrap_or_else(|e| panic!("the harness secret: {e}"))
}

fn other_secret() -> WebhookSecret {
    WebhookSecret::parse(OTHER_SECRET).unwrap_or_else(|e| panic!("the harness secret: {e}"))
}

fn business_time() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 1, 4, 9, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("a valid time"))
}

/// Whether Standard Webhooks verification must pass, computed
/// independently: an id of 1 to 256 characters, a canonical timestamp
/// within 5 minutes of now, and an entry that is exactly the `v1`
/// signature of the fixed secret (padding optional). Anything else was not
/// signed by the secret (a non-canonical timestamp is signed as sent, and
/// only a forger could produce that signature).
fn verify_oracle(id: &str, timestamp: &str, signatures: &str, body: &[u8], now: i64) -> bool {
    if id.is_empty() || id.chars().count() > provider_events::MAX_ID_LEN {
        return false;
    }
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(at) = timestamp.parse::<i64>() else {
        return false;
    };
    if at.to_string() != timestamp || now.abs_diff(at) > provider_events::TOLERANCE_SECONDS {
        return false;
    }
    let expected = provider_events::sign(&secret(), id, at, body);
    let tag = expected.trim_start_matches("v1,");
    let bare = tag.trim_end_matches('=');
    signatures
        .split(' ')
        .filter_map(|e| e.strip_prefix("v1,"))
        .any(|t| t == tag || t == bare)
}

/// What a parsed event must be: the type it was sent as, the reports the
/// domain takes from it consistent with it, its amounts valid `Usd`.
fn check_event(event: &ProviderEvent, body: &[u8]) {
    let root: Value = serde_json::from_slice(body).unwrap_or_default();
    let kind = event.event_type();
    assert_eq!(root["type"].as_str(), Some(kind), "the event's type");
    assert!(ProviderEvent::TYPES.contains(&kind));
    let data = &root["data"];
    let is_payment = kind.starts_with("payment.") || kind.starts_with("loan.");
    let is_refund = kind.starts_with("refund.");
    let payment = event.payment_report();
    let refund = event.refund_report();
    assert_eq!(payment.is_some(), is_payment, "{kind}: payment report");
    assert_eq!(refund.is_some(), is_refund, "{kind}: refund report");
    assert_eq!(
        event.order_id().is_some(),
        is_payment || is_refund,
        "{kind}: order id"
    );
    if let Some(order) = event.order_id() {
        assert_eq!(data["order_id"].as_str(), Some(order.as_str()));
    }
    if let Some((order, report)) = payment {
        assert_eq!(Some(&order), event.order_id());
        assert_eq!(
            data["payment_id"].as_str(),
            Some(report.payment_id.as_str())
        );
        assert_eq!(
            report.confirmed.is_some(),
            kind == "payment.succeeded",
            "{kind}: only a success confirms an amount"
        );
        if let Some((amount, currency)) = &report.confirmed {
            check_usd(*amount);
            assert_eq!(data["amount"].as_str().map(Usd::parse), Some(Ok(*amount)));
            assert_eq!(data["currency"].as_str(), Some(currency.as_str()));
        }
        assert_eq!(
            report.provider_reference.as_deref(),
            data["provider_reference"].as_str()
        );
    }
    if let Some((order, report)) = refund {
        assert_eq!(Some(&order), event.order_id());
        assert_eq!(data["refund_id"].as_str(), Some(report.refund_id.as_str()));
        assert_eq!(report.succeeded, kind == "refund.succeeded");
        assert_eq!(report.amount.is_some(), report.succeeded);
        if let Some(amount) = report.amount {
            check_usd(amount);
            assert_eq!(data["amount"].as_str().map(Usd::parse), Some(Ok(amount)));
        }
    }
    if let ProviderEvent::CreditLineApproved { limit, .. } = event {
        check_usd(*limit);
    }
}

/// Webhook verification, parsing and the webhook route.
///
/// Byte 0 is flags: bit 0 signs the rest with the fixed secret (else the
/// rest is `id \n timestamp \n signature \n body`, all as sent); bits 1–2
/// pick the provider; bit 3 adds other entries to the signature header
/// (a malformed one, another version); bit 4 posts to an unknown provider.
/// Byte 1 moves a signed delivery's timestamp by −384 s … +381 s.
pub fn webhook(data: &[u8]) {
    let flags = data.first().copied().unwrap_or(0);
    let shift = data.get(1).copied().unwrap_or(128);
    let rest = data.get(2..).unwrap_or_default();
    let provider = Provider::ALL[usize::from(flags >> 1) % 4];
    let (id, timestamp, mut signature, body) = if flags & 1 == 1 {
        let at = NOW_UNIX + (i64::from(shift) - 128) * 3;
        let id = "msg_fuzz".to_owned();
        let signature = provider_events::sign(&secret(), &id, at, rest);
        (id, at.to_string(), signature, rest.to_vec())
    } else {
        let mut parts = rest.splitn(4, |b| *b == b'\n');
        let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let (id, timestamp, signature) = (text(), text(), text());
        (
            id,
            timestamp,
            signature,
            parts.next().unwrap_or_default().to_vec(),
        )
    };
    if flags & 8 == 8 {
        signature = format!("v1,AAAA {signature} v2,{}", "A".repeat(43));
    }

    let expected = verify_oracle(&id, &timestamp, &signature, &body, NOW_UNIX);
    let verified = provider_events::verify(&secret(), &id, &timestamp, &signature, &body, NOW_UNIX);
    assert_eq!(
        verified.is_ok(),
        expected,
        "verification: {verified:?}, the oracle says {expected}"
    );
    let rotated = [other_secret(), secret()];
    assert_eq!(
        provider_events::verify_any(&rotated, &id, &timestamp, &signature, &body, NOW_UNIX).is_ok(),
        expected,
        "a second secret changes the verdict"
    );
    assert!(
        provider_events::verify(
            &other_secret(),
            &id,
            &timestamp,
            &signature,
            &body,
            NOW_UNIX
        )
        .is_err(),
        "verified under a secret that signed nothing"
    );
    assert!(
        provider_events::verify_any(&[], &id, &timestamp, &signature, &body, NOW_UNIX).is_err()
    );

    let parsed = ProviderEvent::parse(&body);
    match &parsed {
        Ok(event) => check_event(event, &body),
        Err(e) => {
            let path = e.path();
            assert!(
                matches!(path, "body" | "type" | "data") || path.starts_with("data."),
                "an error path {path:?}"
            );
            assert!(!e.to_string().is_empty());
        }
    }

    // The route: exactly 401, 400 or 202, and only a 202 queues.
    let hooks = Webhooks {
        queue: MemoryQueue::default(),
        secrets: ProviderSecrets::uniform(secret()),
    };
    let unknown = flags & 16 == 16;
    let path = if unknown {
        "/v1/webhooks/nobody".to_owned()
    } else {
        format!("/v1/webhooks/{}", provider.as_str())
    };
    let req = ApiRequest {
        method: "POST".into(),
        path,
        headers: vec![
            ("webhook-id".into(), id.clone()),
            ("webhook-timestamp".into(), timestamp.clone()),
            ("webhook-signature".into(), signature.clone()),
        ],
        body: body.clone(),
        request_id: "req-fuzz".into(),
        ..ApiRequest::default()
    };
    let r = block_on(hooks.handle(&req, NOW_UNIX, business_time()));
    check_response(&r);
    let want = match (body.len() > http_api::request::MAX_BODY_BYTES, unknown) {
        (true, _) => 413,
        (false, true) => 404,
        _ if !expected => 401,
        _ if parsed.is_err() => 400,
        _ => 202,
    };
    assert_eq!(r.status, want, "{}", r.body);
    let sent = hooks.queue.drain();
    if r.status == 202 {
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].provider, provider);
        assert_eq!(sent[0].webhook_id, id);
        assert_eq!(sent[0].body.as_bytes(), body.as_slice());
        // The consumer parses with the same parser: never malformed, and
        // the in-memory store never fails.
        check_consumed(&MemoryBackend::new(), &sent[0]);
    } else {
        assert!(sent.is_empty(), "a refused webhook was queued");
    }
}

/// Consume a queued message: whatever it says, never malformed (the route
/// parsed it) and never a store failure (the in-memory store has none).
fn check_consumed(backend: &MemoryBackend, message: &ProviderMessage) {
    match block_on(consumer::consume(backend, message, message.received_at)) {
        Ok(_) => {}
        Err(e @ (ConsumeError::Malformed(_) | ConsumeError::Store(_))) => {
            panic!("consuming a verified event failed: {e}")
        }
        Err(_) => {}
    }
}

// ---------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------

type FuzzApi = Api<MemoryBackend, FixedClock>;

const BUYER: (&str, &str) = ("buyer-1", "buyer");
const SUPPLIER: (&str, &str) = ("sup-1", "supplier");
const ARBITER: (&str, &str) = ("arb-1", "arbiter");
const STRANGER: (&str, &str) = ("buyer-9", "buyer");

/// The stages the one order can be at, picked by the input.
const STAGES: u8 = 7;

/// The fixture's order, `ORDER_ID`, created as `POST /v1/orders` would:
/// the same body parsed by the API's own parser, the same domain command,
/// committed to the backend (the API would give it a fresh id).
fn create_fixture_order(api: &FuzzApi) {
    let body = order_body().to_string();
    let (counterparty, terms) =
        http_api::dto::new_order(body.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    let buyer = Claims {
        sub: Some(BUYER.0.into()),
        groups: Some(BUYER.1.into()),
    }
    .caller()
    .unwrap_or_else(|| panic!("the buyer is a caller"));
    let new = domain::order::NewOrder {
        id: domain::ids::OrderId::parse(ORDER_ID).unwrap_or_else(|e| panic!("{e}")),
        counterparty,
        terms,
        clocks: api.clocks,
    };
    let now = business_time();
    let (order, events) = domain::Order::create(&buyer, new, now).unwrap_or_else(|e| panic!("{e}"));
    block_on(app::ports::OrderStore::commit(
        &api.backend,
        app::ports::Commit {
            previous_flags: &[],
            order: &order,
            expected_revision: None,
            events: &events,
            idempotency: None,
            dedup: None,
            now,
        },
    ))
    .unwrap_or_else(|e| panic!("setup order: {e}"));
}

fn request(method: &str, path: &str, who: Option<(&str, &str)>, body: Vec<u8>) -> ApiRequest {
    ApiRequest {
        method: method.into(),
        path: path.into(),
        body,
        claims: match who {
            Some((sub, group)) => Claims {
                sub: Some(sub.into()),
                groups: Some(format!("[{group}]")),
            },
            None => Claims::default(),
        },
        request_id: "req-fuzz".into(),
        ..ApiRequest::default()
    }
}

/// A setup step that must succeed (a failure is a bug of the harness or a
/// regression of the happy path).
fn setup(api: &FuzzApi, method: &str, path: &str, who: (&str, &str), body: Value) -> Value {
    let r = block_on(api.handle(
        None,
        &request(method, path, Some(who), body.to_string().into_bytes()),
    ));
    assert!(
        (200..300).contains(&r.status),
        "setup {method} {path}: {} {}",
        r.status,
        r.body
    );
    serde_json::from_str(&r.body).unwrap_or_default()
}

/// What the harness built: the ids a webhook body may name through the
/// placeholders `$ORDER`, `$PAYMENT`, `$REFUND` and `$APPLICATION`.
#[derive(Default)]
struct Fixture {
    payment: Option<String>,
    application: Option<String>,
}

/// A fresh backend holding order `ORDER_ID` (buyer `buyer-1`, supplier
/// `sup-1`, $3,000, initial $1,500) at `stage`: 0 awaiting confirmation,
/// 1 awaiting the initial payment, 2 paid (awaiting shipment), 3 shipped,
/// 4 disputed, 5 disputed and escalated, 6 awaiting the initial payment
/// with a pending Pay Later application.
fn fixture(stage: u8) -> (FuzzApi, Fixture) {
    let api = Api {
        backend: MemoryBackend::new(),
        clock: FixedClock::at(business_time()),
        // An order the input creates gets an id of a repeatable sequence.
        ids: app::ids::Ids::seeded(1),
        clocks: domain::clocks::Clocks::default(),
    };
    let mut fx = Fixture::default();
    let order = format!("/v1/orders/{ORDER_ID}");
    create_fixture_order(&api);
    if stage == 0 {
        return (api, fx);
    }
    let supplier = UserId::parse("sup-1").unwrap_or_else(|e| panic!("{e}"));
    let limit = Usd::dollars(100_000).unwrap_or_else(|e| panic!("{e}"));
    block_on(api.backend.set_limit(&supplier, limit, None))
        .unwrap_or_else(|e| panic!("setup limit: {e}"));
    setup(
        &api,
        "POST",
        &format!("{order}/confirm"),
        SUPPLIER,
        json!({"version": 1}),
    );
    if stage == 6 {
        let line = setup(&api, "POST", "/v1/credit-line", BUYER, json!({}));
        fx.application = line["application_id"].as_str().map(str::to_owned);
        return (api, fx);
    }
    if stage == 1 {
        return (api, fx);
    }
    let payment = setup(
        &api,
        "POST",
        &format!("{order}/payments"),
        BUYER,
        json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
    );
    let pay = payment["id"].as_str().unwrap_or_default().to_owned();
    let succeeded = json!({"type": "payment.succeeded", "data": {"payment_id": pay,
        "order_id": ORDER_ID, "amount": payment["amount"]["amount"], "currency": "USD",
        "provider_reference": "ch_fuzz"}});
    let message = ProviderMessage {
        provider: Provider::Card,
        webhook_id: "msg_setup".into(),
        received_at: api.clock.now(),
        body: succeeded.to_string(),
    };
    block_on(consumer::consume(&api.backend, &message, api.clock.now()))
        .unwrap_or_else(|e| panic!("setup payment: {e}"));
    fx.payment = Some(pay);
    match stage {
        3 => {
            setup(
                &api,
                "POST",
                &format!("{order}/shipment"),
                SUPPLIER,
                json!({"carrier": "DHL", "tracking_number": "1Z999"}),
            );
        }
        4 | 5 => {
            setup(
                &api,
                "POST",
                &format!("{order}/dispute"),
                BUYER,
                json!({"reason": "quality", "requested_refund": "100.00",
                    "description": "not IP65 as agreed"}),
            );
            if stage == 5 {
                api.clock.advance(TimeDelta::days(16));
                setup(
                    &api,
                    "POST",
                    &format!("{order}/dispute/escalate"),
                    BUYER,
                    json!({}),
                );
            }
        }
        _ => {}
    }
    (api, fx)
}

fn order_body() -> Value {
    json!({"supplier_id": "sup-1",
        "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
        "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
        "ship_by": "2027-01-31", "quality_terms": "IP65, 3 year warranty",
        "destination_country": "US", "coverage": "pre_shipment"})
}

/// The caller who gets past 401/403 to the body on `route`.
fn natural_caller(route: &Route) -> (&'static str, &'static str) {
    let p = route.path;
    if p.ends_with("/resolution") || p.ends_with("/decision") || p.ends_with("/assurance-limit") {
        ARBITER
    } else if p.ends_with("/confirm") || p.ends_with("/shipment") || p.ends_with("/responses") {
        SUPPLIER
    } else {
        BUYER
    }
}

/// Every response: never 5xx; a 4xx is problem+json whose `status` is the
/// HTTP status, with a type, a title and a detail (a 400 names a field);
/// a 2xx is a JSON object.
pub fn check_response(r: &ApiResponse) {
    assert!(
        [200, 201, 202, 400, 401, 403, 404, 409, 413, 422].contains(&r.status),
        "status {}: {}",
        r.status,
        r.body
    );
    let body: Value = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("{}: the body is not JSON ({e}): {}", r.status, r.body));
    if r.status >= 400 {
        assert_eq!(r.content_type, "application/problem+json", "{}", r.body);
        assert_eq!(body["status"], json!(r.status), "{}", r.body);
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://trade-assurance.dev/problems/")),
            "{}",
            r.body
        );
        assert!(body["title"].is_string() && body["detail"].is_string());
        if r.status == 400 {
            let errors = body["errors"].as_array().cloned().unwrap_or_default();
            assert!(!errors.is_empty(), "a 400 names no field: {}", r.body);
            for e in errors {
                assert!(
                    e["field"].as_str().is_some_and(|f| !f.is_empty()) && e["message"].is_string(),
                    "{}",
                    r.body
                );
            }
        }
    } else {
        assert_eq!(r.content_type, "application/json", "{}", r.body);
        assert!(body.is_object(), "{}", r.body);
    }
}

/// Every POST (and PUT) route through the real handlers.
///
/// Byte 0 picks the route (the write routes of `routes::ROUTES`, in order);
/// byte 1 the order's stage (`% 7`) and the caller (`/ 7 % 8`: 0–3 the one
/// who gets to the body, then buyer, supplier, arbiter, and a stranger or
/// nobody); byte 2 is flags: bit 0 sends an `Idempotency-Key`, bit 1 then
/// sends the request twice, bit 2 names an unknown order, bit 3 leaves a
/// webhook unsigned, bits 4–5 pick its provider. The rest is the body; in
/// a webhook body `$ORDER`, `$PAYMENT`, `$REFUND` and `$APPLICATION` stand
/// for the ids the fixture made.
pub fn request_body(data: &[u8]) {
    let writes: Vec<&Route> = routes::ROUTES
        .iter()
        .filter(|r| r.method != "GET")
        .collect();
    let pick = data.first().copied().unwrap_or(0);
    let setup_byte = data.get(1).copied().unwrap_or(0);
    let flags = data.get(2).copied().unwrap_or(0);
    let body = data.get(3..).unwrap_or_default().to_vec();
    let route = writes[usize::from(pick) % writes.len()];
    let stage = setup_byte % STAGES;
    let (api, fx) = fixture(stage);

    let order = if flags & 4 == 4 {
        "ord_unknown"
    } else {
        ORDER_ID
    };
    let payment = fx.payment.clone().unwrap_or_else(|| "pay_none".into());
    let provider = Provider::ALL[usize::from(flags >> 4) % 4];
    let path = route
        .path
        .replace(
            "{id}",
            if route.path.starts_with("/v1/suppliers") {
                "sup-1"
            } else {
                order
            },
        )
        .replace("{pid}", &payment)
        .replace("{provider}", provider.as_str());
    let who = match (setup_byte / STAGES) % 8 {
        0..=3 => Some(natural_caller(route)),
        4 => Some(BUYER),
        5 => Some(SUPPLIER),
        6 => Some(ARBITER),
        _ if setup_byte >= 128 => None,
        _ => Some(STRANGER),
    };

    let changed = if route.function == http_api::webhook::FUNCTION {
        webhook_request(&api, &fx, &path, flags & 8 == 0, &body)
    } else {
        let mut req = request(route.method, &path, who, body);
        if flags & 1 == 1 {
            req.headers
                .push(("idempotency-key".into(), "fuzz-key-1".into()));
        }
        let first = block_on(api.handle(None, &req));
        check_response(&first);
        if flags & 3 == 3 && first.status < 500 {
            let again = block_on(api.handle(None, &req));
            check_response(&again);
            assert_eq!(
                again.status, first.status,
                "a retry with the same Idempotency-Key: {} then {}",
                first.body, again.body
            );
            if first.status < 300 {
                assert_eq!(again.body, first.body, "a replay answers the same");
            }
        }
        first.status < 300
    };

    // Whatever happened, the order is still readable; after a change, its
    // history and payments too.
    let mut reads = vec![format!("/v1/orders/{ORDER_ID}")];
    if changed {
        reads.push(format!("/v1/orders/{ORDER_ID}/history"));
        reads.push(format!("/v1/orders/{ORDER_ID}/payments"));
    }
    for path in reads {
        let r = block_on(api.handle(None, &request("GET", &path, Some(BUYER), vec![])));
        check_response(&r);
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// The webhook route with the fixture's ids in the body, signed (or not),
/// then its queued message consumed against the fixture. Whether it was
/// accepted.
fn webhook_request(api: &FuzzApi, fx: &Fixture, path: &str, signed: bool, body: &[u8]) -> bool {
    let mut body = String::from_utf8_lossy(body).into_owned();
    let payment = fx.payment.clone().unwrap_or_else(|| "pay_none".into());
    let refund = format!("ref_{}_1", payment.trim_start_matches("pay_"));
    for (placeholder, id) in [
        ("$ORDER", ORDER_ID),
        ("$PAYMENT", payment.as_str()),
        ("$REFUND", refund.as_str()),
        (
            "$APPLICATION",
            fx.application.as_deref().unwrap_or("app_none"),
        ),
    ] {
        body = body.replace(placeholder, id);
    }
    let signature = if signed {
        provider_events::sign(&secret(), "msg_fuzz", NOW_UNIX, body.as_bytes())
    } else {
        "v1,AAAA".to_owned()
    };
    let hooks = Webhooks {
        queue: MemoryQueue::default(),
        secrets: ProviderSecrets::uniform(secret()),
    };
    let mut req = request("POST", path, None, body.clone().into_bytes());
    req.headers = vec![
        ("webhook-id".into(), "msg_fuzz".into()),
        ("webhook-timestamp".into(), NOW_UNIX.to_string()),
        ("webhook-signature".into(), signature),
    ];
    let r = block_on(hooks.handle(&req, NOW_UNIX, api.clock.now()));
    check_response(&r);
    let want = match (signed, ProviderEvent::parse(body.as_bytes()).is_ok()) {
        _ if body.len() > http_api::request::MAX_BODY_BYTES => 413,
        (false, _) => 401,
        (true, false) => 400,
        (true, true) => 202,
    };
    assert_eq!(r.status, want, "{}", r.body);
    for message in hooks.queue.drain() {
        check_consumed(&api.backend, &message);
        // Delivered twice, it is a duplicate, never applied again.
        let again = block_on(consumer::consume(&api.backend, &message, api.clock.now()));
        assert!(
            !matches!(again, Ok(consumer::Applied::Applied { .. })),
            "a redelivered webhook was applied twice: {again:?}"
        );
    }
    r.status == 202
}
