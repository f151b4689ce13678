//! Warm handler latency in process: each hot path through the same entry
//! points the functions run (`Api::handle`, `Webhooks::handle`,
//! `app::consumer::consume`), with its I/O on the embedded in-memory
//! backend, so the figure is our own overhead — routing, decoding, domain
//! rules, the use case and the response — and not DynamoDB's.
//!
//! Every request is answered on a current-thread tokio runtime
//! (`Runtime::block_on` per request, as the Lambda runtime drives one
//! invocation at a time); `harness/block_on` is that cost alone. A path
//! that changes an order gets a fresh one each iteration, prepared outside
//! the timing (`iter_batched_ref`); its fixture is dropped outside the
//! timing too. Each path is checked once (status and effect) before it is
//! timed, so a broken fixture fails the run instead of timing an error.
//!
//! `cargo bench -p http-api --bench hot_paths` (about a minute on 2
//! cores); `tools/bench_warm.py` turns criterion's estimates into the
//! BENCHMARKS.md section. Creating and confirming an order print their
//! CloudWatch metric line on stdout, as on Lambda: that write is timed.

use std::hint::black_box;
use std::time::Duration;

use app::memory::MemoryQueue;
use app::ports::{Clock, LoadRequest, OrderStore, ProviderMessage};
use app::provider_events::{self, WebhookSecret};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use domain::actor::Provider;
use domain::ids::OrderId;
use http_api::dto::{self, Fields};
use http_api::request::ApiRequest;
use http_api::view;
use http_api::webhook::{ProviderSecrets, Webhooks};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use support::*;
use test_kit::api as support;

/// The group every path is reported under (`<criterion>/hot_paths/<id>`).
const GROUP: &str = "hot_paths";
/// Buyer `buyer-1`'s orders when its list is read (one default page: 20).
const LISTED_ORDERS: usize = 25;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The signature's timestamp, also passed as the real clock.
const SIGNED_AT: i64 = 1_800_000_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime")
}

/// A fresh `api()` brought to `setup` (limits of `sup-1`/`sup-2` set).
fn at_point(rt: &Runtime, setup: Setup) -> (TestApi, Prepared) {
    let api = api();
    let prepared = rt.block_on(prepare(&api, setup));
    (api, prepared)
}

/// `method path` as `who` with `body`, and an `Idempotency-Key` if given.
fn request(
    method: &str,
    path: &str,
    who: Option<(&str, &str)>,
    body: &Value,
    key: Option<String>,
) -> ApiRequest {
    let mut r = req(method, path, who, body);
    if let Some(key) = key {
        r.headers.push(("idempotency-key".into(), key));
    }
    r
}

/// One fixture per iteration: an api at some point and the request that
/// moves it on.
struct Step {
    api: TestApi,
    req: ApiRequest,
}

fn step(
    rt: &Runtime,
    setup: Setup,
    method: &str,
    pattern: &str,
    who: Option<(&str, &str)>,
) -> Step {
    let (api, prepared) = at_point(rt, setup);
    let path = prepared.path(pattern);
    let req = request(method, &path, who, &valid_body(method, pattern), None);
    Step { api, req }
}

/// Time `method pattern` as `who` on a fresh order at `setup` each
/// iteration, after checking it answers `status` once.
fn bench_step(
    c: &mut Criterion,
    rt: &Runtime,
    id: &str,
    (setup, method, pattern, who): (Setup, &str, &str, Option<(&str, &str)>),
    status: u16,
) {
    let check = step(rt, setup, method, pattern, who);
    let r = rt.block_on(check.api.handle(None, &check.req));
    assert_eq!(r.status, status, "{id}: {}", r.body);
    c.benchmark_group(GROUP).bench_function(id, |b| {
        b.iter_batched_ref(
            || step(rt, setup, method, pattern, who),
            |s| rt.block_on(s.api.handle(None, &s.req)),
            BatchSize::SmallInput,
        )
    });
}

fn harness(c: &mut Criterion) {
    let rt = runtime();
    c.benchmark_group(GROUP)
        .bench_function("harness/block_on", |b| b.iter(|| rt.block_on(async {})));
}

/// `POST /v1/orders`'s body: strict decoding and parsing into the terms
/// draft, without the handler around it.
fn decode_create_body(c: &mut Criterion) {
    let bytes = order_body().to_string().into_bytes();
    let parse = |bytes: &[u8]| {
        let body: dto::TermsBody = dto::decode(bytes)?;
        let mut f = Fields::default();
        let terms = body.parse(&mut f);
        f.finish(terms)
    };
    assert!(parse(&bytes).is_ok(), "the create-order body parses");
    c.benchmark_group(GROUP)
        .bench_function("decode/create_order_body", |b| {
            b.iter(|| parse(black_box(&bytes)))
        });
}

fn create_order(c: &mut Criterion) {
    let rt = runtime();
    let (api, _) = at_point(&rt, Setup::NoOrder);
    let create = request("POST", "/v1/orders", BUYER, &order_body(), None);
    let r = rt.block_on(api.handle(None, &create));
    assert_eq!(r.status, 201, "{}", r.body);
    // One api for every iteration: the buyer's orders pile up, as in a
    // warm function whose table grows (a map insert on this backend).
    c.benchmark_group(GROUP)
        .bench_function("create_order", |b| {
            b.iter(|| rt.block_on(api.handle(None, black_box(&create))))
        });
    // With an `Idempotency-Key` (a fresh one each time): the lease and the
    // recorded response come in.
    let keyed = |n: u64| {
        request(
            "POST",
            "/v1/orders",
            BUYER,
            &order_body(),
            Some(format!("bench-create-{n}")),
        )
    };
    let r = rt.block_on(api.handle(None, &keyed(0)));
    assert_eq!(r.status, 201, "{}", r.body);
    let mut n = 0;
    c.benchmark_group(GROUP)
        .bench_function("create_order/idempotency_key", |b| {
            b.iter_batched_ref(
                || {
                    n += 1;
                    keyed(n)
                },
                |req| rt.block_on(api.handle(None, req)),
                BatchSize::SmallInput,
            )
        });
}

fn transitions(c: &mut Criterion) {
    let rt = runtime();
    let confirm = (
        Setup::AwaitingConfirmation,
        "POST",
        "/v1/orders/{id}/confirm",
        SUPPLIER,
    );
    bench_step(c, &rt, "confirm_order", confirm, 200);
    let pay = (
        Setup::AwaitingInitialPayment,
        "POST",
        "/v1/orders/{id}/payments",
        BUYER,
    );
    bench_step(c, &rt, "initiate_payment", pay, 201);
    let dispute = (
        Setup::AwaitingShipment,
        "POST",
        "/v1/orders/{id}/dispute",
        BUYER,
    );
    bench_step(c, &rt, "open_dispute", dispute, 201);
}

fn reads(c: &mut Criterion) {
    let rt = runtime();
    // A paid order: confirmed, one payment, its history.
    let (api, prepared) = at_point(&rt, Setup::AwaitingShipment);
    let get = req(
        "GET",
        &prepared.path("/v1/orders/{id}"),
        BUYER,
        &Value::Null,
    );
    let r = rt.block_on(api.handle(None, &get));
    assert_eq!(r.status, 200, "{}", r.body);
    c.benchmark_group(GROUP).bench_function("get_order", |b| {
        b.iter(|| rt.block_on(api.handle(None, black_box(&get))))
    });
    // The same order's view rendered to its JSON body alone: what of
    // `get_order` (and of each listed order) is the response.
    let id = OrderId::parse(prepared.order.clone().unwrap_or_default()).expect("order id");
    let load = LoadRequest {
        order: &id,
        idempotency: None,
        limit_of: None,
        credit_of: None,
    };
    let order = rt
        .block_on(api.backend.load(load, now()))
        .expect("loaded")
        .order
        .expect("the order");
    c.benchmark_group(GROUP)
        .bench_function("view/order_json", |b| {
            b.iter(|| view::order(black_box(&order)).to_string())
        });

    let (api, _) = at_point(&rt, Setup::NoOrder);
    for _ in 0..LISTED_ORDERS {
        rt.block_on(created(&api));
    }
    let list = req("GET", "/v1/orders", BUYER, &Value::Null);
    let r = rt.block_on(api.handle(None, &list));
    assert_eq!(r.status, 200, "{}", r.body);
    let page = json_of(&r)["items"].as_array().map(Vec::len);
    assert_eq!(
        page,
        Some(app::page::DEFAULT_PAGE as usize),
        "one full page"
    );
    c.benchmark_group(GROUP).bench_function("list_orders", |b| {
        b.iter(|| rt.block_on(api.handle(None, black_box(&list))))
    });
}

/// The card provider's `payment.succeeded` for `payment` of `order`.
fn succeeded(order: &str, payment: &str, amount: &str) -> String {
    json!({"type": "payment.succeeded", "data": {"payment_id": payment, "order_id": order,
        "amount": amount, "currency": "USD", "provider_reference": format!("ch_{payment}")}})
    .to_string()
}

fn webhook(c: &mut Criterion) {
    let rt = runtime();
    let secret = WebhookSecret::parse(SECRET).expect("secret");
    let body = succeeded("ord_1", "pay_1", "1500.00");
    let delivery = ApiRequest {
        method: "POST".into(),
        path: "/v1/webhooks/card".into(),
        headers: vec![
            ("webhook-id".into(), "msg_bench".into()),
            ("webhook-timestamp".into(), SIGNED_AT.to_string()),
            (
                "webhook-signature".into(),
                provider_events::sign(&secret, "msg_bench", SIGNED_AT, body.as_bytes()),
            ),
        ],
        body: body.into_bytes(),
        request_id: "req-1".into(),
        ..ApiRequest::default()
    };
    let fresh = || Webhooks {
        queue: MemoryQueue::default(),
        secrets: ProviderSecrets::uniform(secret.clone()),
    };
    let w = fresh();
    let r = rt.block_on(w.handle(&delivery, SIGNED_AT, now()));
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(w.queue.sent().len(), 1, "queued");
    // A fresh (empty) queue each iteration, made and dropped untimed.
    c.benchmark_group(GROUP)
        .bench_function("webhook/accept", |b| {
            b.iter_batched_ref(
                fresh,
                |w| rt.block_on(w.handle(&delivery, SIGNED_AT, now())),
                BatchSize::SmallInput,
            )
        });
}

/// An order awaiting its initial payment, the card payment initiated, and
/// the provider's confirmation of it as the queue delivers it.
struct Delivery {
    api: TestApi,
    message: ProviderMessage,
}

fn delivery(rt: &Runtime) -> Delivery {
    let Step { api, req } = step(
        rt,
        Setup::AwaitingInitialPayment,
        "POST",
        "/v1/orders/{id}/payments",
        BUYER,
    );
    let r = rt.block_on(api.handle(None, &req));
    assert_eq!(r.status, 201, "{}", r.body);
    let payment = json_of(&r);
    let order = req.path.split('/').nth(3).unwrap_or_default().to_owned();
    let message = ProviderMessage {
        provider: Provider::Card,
        webhook_id: test_kit::store_contract::unique("msg_"),
        received_at: api.clock.now(),
        body: succeeded(
            &order,
            payment["id"].as_str().unwrap_or_default(),
            payment["amount"]["amount"].as_str().unwrap_or_default(),
        ),
    };
    Delivery { api, message }
}

fn consume(c: &mut Criterion) {
    let rt = runtime();
    let apply = |d: &Delivery| {
        let at = d.api.clock.now();
        rt.block_on(app::consumer::consume(&d.api.backend, &d.message, at))
    };
    let check = delivery(&rt);
    let applied = apply(&check).expect("consumed");
    assert!(
        matches!(applied, app::consumer::Applied::Applied { events } if events > 0),
        "{applied:?}"
    );
    let r = rt.block_on(order_of_status(&check.api, &check.message));
    assert_eq!(r, "awaiting_shipment");
    c.benchmark_group(GROUP)
        .bench_function("webhook/consume", |b| {
            b.iter_batched_ref(|| delivery(&rt), |d| apply(d), BatchSize::SmallInput)
        });
}

/// The status of the order `message` pays, as its buyer sees it.
async fn order_of_status(api: &TestApi, message: &ProviderMessage) -> String {
    let body: Value = serde_json::from_str(&message.body).unwrap_or_default();
    let id = body["data"]["order_id"].as_str().unwrap_or_default();
    order_of(api, id).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Small samples, short windows: the whole run stays near a minute on 2
/// cores (paths with a fixture per iteration pay for its setup untimed).
fn config() -> Criterion {
    Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(20_000)
        .configure_from_args()
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = harness, decode_create_body, create_order, transitions, reads, webhook, consume
}
criterion_main!(hot_paths);
