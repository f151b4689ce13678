//! One completed order and one disputed order through the real handlers on
//! the DynamoDB adapter (moto), step by step: every DynamoDB call captured,
//! its capacity computed from the items sent and received.

use std::collections::HashMap;

use app::clock::FixedClock;
use app::memory::MemoryBus;
use app::ports::SupplierLimits;
use aws_adapters::dynamodb::DynamoStore;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, TimeZone, Utc};
use domain::Usd;
use domain::actor::Provider;
use domain::ids::UserId;
use http_api::Api;
use http_api::request::{ApiRequest, ApiResponse, Claims};
use serde::Serialize;
use serde_json::{Value, json};
use test_kit::counting::CallCounter;

use crate::capture::{Call, Capture};
use crate::units::{Item, Key, KindUnits, Shadow, Units, updated_keys};

pub const BUYER: (&str, &str) = ("buyer-1", "buyer");
pub const SUPPLIER: (&str, &str) = ("sup-1", "supplier");
pub const ARBITER: (&str, &str) = ("arb-1", "arbiter");

/// What a step is, for its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An HTTP request that changes an order: ≤ 2 calls.
    Transition,
    /// An HTTP request that reads: 1 call.
    Read,
    /// A provider event applied by the queue consumer: a transition, ≤ 2.
    Consumer,
    /// The outbox publisher woken by the step's new history items.
    Publisher,
}

impl Kind {
    pub fn budget(self) -> Option<usize> {
        match self {
            Kind::Transition | Kind::Consumer => Some(2),
            Kind::Read => Some(1),
            Kind::Publisher => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub kind: Kind,
    /// Operations in order (one per call; a retried call once).
    pub calls: Vec<String>,
    /// Attempts the server refused (conditional failures, throttling).
    pub failed_attempts: usize,
    pub units: Units,
    /// Events published (publisher steps).
    pub events: usize,
    /// The largest published event's detail, bytes.
    pub max_event_bytes: usize,
}

impl Step {
    pub fn within_budget(&self) -> Option<bool> {
        self.kind.budget().map(|b| self.calls.len() <= b)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Lifecycle {
    pub name: String,
    pub steps: Vec<Step>,
    /// Write units, writes and the largest item, by item kind.
    pub wru_by_item: Vec<(String, KindUnits)>,
}

impl Lifecycle {
    pub fn total(&self) -> Units {
        let mut u = Units::default();
        for s in &self.steps {
            u.add(&s.units);
        }
        u
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.steps.iter().filter(|s| s.kind == kind).count()
    }

    pub fn calls(&self) -> usize {
        self.steps.iter().map(|s| s.calls.len()).sum()
    }

    pub fn events(&self) -> usize {
        self.steps.iter().map(|s| s.events).sum()
    }
}

pub fn to_json(av: &AttributeValue) -> Value {
    match av {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(b) => json!({"NULL": b}),
        AttributeValue::B(b) => json!({"B": "x".repeat(b.as_ref().len() * 4 / 3)}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::L(v) => json!({"L": v.iter().map(to_json).collect::<Vec<_>>()}),
        AttributeValue::M(m) => {
            json!({"M": m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<serde_json::Map<_, _>>()})
        }
        _ => Value::Null,
    }
}

/// A table with its store (every call captured and counted) and a plain
/// client (not captured) for fetching after-images.
pub struct Bench {
    pub api: Api<DynamoStore, FixedClock>,
    pub capture: Capture,
    pub counter: CallCounter,
    pub raw: Client,
    pub table: String,
    pub shadow: Shadow,
    pub bus: MemoryBus,
}

impl Bench {
    pub async fn new(endpoint: &str, table: &str) -> Result<Bench, String> {
        let config = test_kit::moto::sdk_config(endpoint).await;
        let capture = Capture::default();
        let counter = CallCounter::new();
        let conf = aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(capture.clone())
            .interceptor(counter.clone())
            .build();
        let store = DynamoStore::new(Client::from_conf(conf), table);
        store
            .create_table_if_missing()
            .await
            .map_err(|e| format!("create table {table}: {e:?}"))?;
        let now = Utc
            .with_ymd_and_hms(2027, 1, 4, 9, 0, 0)
            .single()
            .ok_or("time")?;
        let bench = Bench {
            api: Api {
                backend: store,
                clock: FixedClock::at(now),
                ids: app::ids::Ids::os(),
                clocks: domain::clocks::Clocks::default(),
            },
            capture,
            counter,
            raw: Client::new(&config),
            table: table.to_owned(),
            shadow: Shadow::default(),
            bus: MemoryBus::default(),
        };
        bench.forget();
        Ok(bench)
    }

    /// Drop what was captured (setup work).
    pub fn forget(&self) {
        self.capture.take();
        self.counter.reset();
    }

    pub async fn fetch(&self, key: &Key) -> Option<Item> {
        let out = self
            .raw
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.0.clone()))
            .key("sk", AttributeValue::S(key.1.clone()))
            .consistent_read(true)
            .send()
            .await
            .ok()?;
        out.item.map(|i| {
            i.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Item>()
        })
    }

    /// Remember an item's current image (before it is first updated).
    pub async fn prefetch(&mut self, key: Key) {
        if let Some(i) = self.fetch(&key).await {
            self.shadow.items.insert(key, i);
        }
    }

    /// Charge what was captured since the last step to a step.
    pub async fn charge(&mut self, name: &str, kind: Kind) -> Step {
        let calls: Vec<Call> = self.capture.take();
        let ops = self.counter.calls();
        self.counter.reset();
        let mut post: HashMap<Key, Item> = HashMap::new();
        for k in updated_keys(&calls) {
            if let Some(i) = self.fetch(&k).await {
                post.insert(k, i);
            }
        }
        let mut units = Units::default();
        for c in &calls {
            units.add(&self.shadow.charge(c, &post));
        }
        Step {
            name: name.to_owned(),
            kind,
            calls: ops,
            failed_attempts: calls.iter().filter(|c| c.status != 200).count(),
            units,
            events: 0,
            max_event_bytes: 0,
        }
    }

    /// The publisher, as the table's stream wakes it after a step that wrote
    /// history items (none: it would not run, no step).
    pub async fn drain(&mut self, after: &str) -> Result<Option<Step>, String> {
        self.forget();
        let before = self.bus.published().len();
        let n = app::publisher::drain(&self.api.backend, &self.bus)
            .await
            .map_err(|e| format!("drain: {e:?}"))?;
        if n == 0 {
            self.forget();
            return Ok(None);
        }
        let mut step = self
            .charge(&format!("↳ publish {after}"), Kind::Publisher)
            .await;
        let published = self.bus.published();
        step.events = published.len() - before;
        step.max_event_bytes = published
            .get(before..)
            .unwrap_or_default()
            .iter()
            .map(|e| serde_json::to_string(e).map_or(0, |s| s.len()))
            .max()
            .unwrap_or(0);
        Ok(Some(step))
    }
}

fn request(method: &str, path: &str, who: (&str, &str), body: &Value, key: &str) -> ApiRequest {
    ApiRequest {
        method: method.into(),
        path: path.into(),
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
        headers: if method == "GET" {
            Vec::new()
        } else {
            vec![("idempotency-key".to_owned(), key.to_owned())]
        },
        claims: Claims {
            sub: Some(who.0.into()),
            groups: Some(format!("[{}]", who.1)),
        },
        request_id: format!("req-{key}"),
        ..ApiRequest::default()
    }
}

fn json_of(r: &ApiResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

fn provider(name: &str) -> Result<Provider, String> {
    match name {
        "card" => Ok(Provider::Card),
        "echeck" => Ok(Provider::Echeck),
        "bank" => Ok(Provider::Bank),
        "paylater" => Ok(Provider::Paylater),
        other => Err(format!("unknown provider {other}")),
    }
}

/// Runs a lifecycle and records its steps.
pub struct Run<'a> {
    pub bench: &'a mut Bench,
    pub steps: Vec<Step>,
}

impl<'a> Run<'a> {
    /// A lifecycle's run: write units by item kind counted from here.
    pub fn new(bench: &'a mut Bench) -> Self {
        bench.shadow.by_item.clear();
        Run {
            bench,
            steps: Vec::new(),
        }
    }

    /// The lifecycle the run's steps make up.
    fn finish(self, name: &str) -> Lifecycle {
        let wru_by_item = self
            .bench
            .shadow
            .by_item
            .iter()
            .map(|(k, u)| ((*k).to_owned(), *u))
            .collect();
        Lifecycle {
            name: name.to_owned(),
            steps: self.steps,
            wru_by_item,
        }
    }

    async fn record(&mut self, name: &str, kind: Kind) -> Result<(), String> {
        let step = self.bench.charge(name, kind).await;
        self.steps.push(step);
        if let Some(p) = self.bench.drain(name).await? {
            self.steps.push(p);
        }
        // Business time moves on between steps.
        self.bench.api.clock.advance(TimeDelta::hours(1));
        Ok(())
    }

    /// An HTTP request as its caller sends it (with an Idempotency-Key).
    pub async fn http(
        &mut self,
        name: &str,
        method: &str,
        path: &str,
        who: (&str, &str),
        body: Value,
    ) -> Result<Value, String> {
        self.bench.forget();
        let req = request(
            method,
            path,
            who,
            &body,
            &test_kit::store_contract::unique("key-"),
        );
        let r = self.bench.api.handle(None, &req).await;
        if !(200..300).contains(&r.status) {
            return Err(format!("{name}: {method} {path} → {} {}", r.status, r.body));
        }
        let kind = if method == "GET" {
            Kind::Read
        } else {
            Kind::Transition
        };
        self.record(name, kind).await?;
        Ok(json_of(&r))
    }

    /// A provider's webhook event, consumed as the queue consumer would.
    pub async fn webhook(
        &mut self,
        name: &str,
        provider: Provider,
        body: Value,
    ) -> Result<(), String> {
        self.bench.forget();
        let now = app::ports::Clock::now(&self.bench.api.clock);
        let message = app::ports::ProviderMessage {
            provider,
            webhook_id: test_kit::store_contract::unique("msg_"),
            received_at: now,
            body: body.to_string(),
        };
        let applied = app::consumer::consume(&self.bench.api.backend, &message, now)
            .await
            .map_err(|e| format!("{name}: {e:?}"))?;
        if !matches!(applied, app::consumer::Applied::Applied { .. }) {
            return Err(format!("{name}: not applied: {applied:?}"));
        }
        self.record(name, Kind::Consumer).await
    }

    /// Pay `stage` and have the provider confirm it.
    async fn pay(
        &mut self,
        id: &str,
        stage: &str,
        method: Value,
        provider: Provider,
    ) -> Result<(), String> {
        let mut body = method;
        body["stage"] = json!(stage);
        let payment = self
            .http(
                &format!("pay {stage} ({})", body["method"].as_str().unwrap_or("?")),
                "POST",
                &format!("/v1/orders/{id}/payments"),
                BUYER,
                body,
            )
            .await?;
        let pay = payment["id"].as_str().ok_or("payment id")?.to_owned();
        let event = json!({"type": "payment.succeeded", "data": {"payment_id": pay, "order_id": id,
            "amount": payment["amount"]["amount"], "currency": "USD", "provider_reference": format!("ref_{pay}")}});
        self.webhook(
            &format!("webhook payment.succeeded ({stage})"),
            provider,
            event,
        )
        .await
    }

    /// Created, confirmed, initial paid by card, shipped, balance paid by
    /// e-Checking. Returns the order id.
    pub async fn until_paid_and_shipped(&mut self) -> Result<String, String> {
        let order = json!({"supplier_id": SUPPLIER.0,
            "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
            "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
            "ship_by": "2027-01-31", "quality_terms": "IP65, 3 year warranty",
            "destination_country": "US", "coverage": "pre_shipment",
            "inspection": {"agency": "SGS", "location": "china"}});
        let created = self
            .http("create order", "POST", "/v1/orders", BUYER, order)
            .await?;
        let id = created["id"].as_str().ok_or("order id")?.to_owned();
        let at = |p: &str| format!("/v1/orders/{id}/{p}");
        self.http(
            "confirm (supplier)",
            "POST",
            &at("confirm"),
            SUPPLIER,
            json!({"version": 1}),
        )
        .await?;
        self.pay(
            &id,
            "initial",
            json!({"method": "credit_card", "card_brand": "visa"}),
            Provider::Card,
        )
        .await?;
        self.http(
            "ship",
            "POST",
            &at("shipment"),
            SUPPLIER,
            json!({"carrier": "DHL", "tracking_number": "JD0001"}),
        )
        .await?;
        self.pay(
            &id,
            "balance",
            json!({"method": "e_checking", "bank_country": "US", "account_type": "checking"}),
            Provider::Echeck,
        )
        .await?;
        Ok(id)
    }
}

/// The setup both lifecycles share: the supplier's limit (not counted).
pub async fn setup(bench: &mut Bench) -> Result<(), String> {
    let supplier = UserId::parse(SUPPLIER.0).map_err(|e| e.to_string())?;
    bench
        .api
        .backend
        .set_limit(
            &supplier,
            Usd::dollars(1_000_000).map_err(|e| e.to_string())?,
            None,
        )
        .await
        .map_err(|e| format!("limit: {e:?}"))?;
    bench.forget();
    bench
        .prefetch((format!("SUPPLIER#{}", SUPPLIER.0), "LIMIT".to_owned()))
        .await;
    Ok(())
}

pub async fn completed(bench: &mut Bench) -> Result<Lifecycle, String> {
    let mut run = Run::new(bench);
    let id = run.until_paid_and_shipped().await?;
    let at = |p: &str| format!("/v1/orders/{id}/{p}");
    run.http(
        "confirm receipt",
        "POST",
        &at("receipt"),
        BUYER,
        Value::Null,
    )
    .await?;
    run.http(
        "leave feedback",
        "POST",
        &at("feedback"),
        BUYER,
        json!({"rating": 5, "comment": "As agreed"}),
    )
    .await?;
    run.http(
        "read order (GET)",
        "GET",
        &format!("/v1/orders/{id}"),
        BUYER,
        Value::Null,
    )
    .await?;
    Ok(run.finish("completed"))
}

pub async fn disputed(bench: &mut Bench) -> Result<Lifecycle, String> {
    let mut run = Run::new(bench);
    let id = run.until_paid_and_shipped().await?;
    let at = |p: &str| format!("/v1/orders/{id}/{p}");
    run.http(
        "open dispute",
        "POST",
        &at("dispute"),
        BUYER,
        json!({"reason": "quality", "requested_refund": "500.00",
            "description": "Panels flicker; not IP65 as agreed",
            "evidence": [{"name": "photos.zip", "url": "https://evidence.example.com/photos.zip",
                "sha256": "a".repeat(64)}]}),
    )
    .await?;
    run.http(
        "supplier rejects",
        "POST",
        &at("dispute/responses"),
        SUPPLIER,
        json!({"action": "reject", "message": "Within spec"}),
    )
    .await?;
    run.http(
        "buyer escalates",
        "POST",
        &at("dispute/escalate"),
        BUYER,
        Value::Null,
    )
    .await?;
    run.http(
        "arbiter decides",
        "POST",
        &at("dispute/decision"),
        ARBITER,
        json!({"outcome": "supplier_at_fault", "refund_amount": "500.00"}),
    )
    .await?;
    // The refund parts requested (read outside the count).
    run.bench.forget();
    let order = run
        .bench
        .api
        .handle(
            None,
            &request("GET", &format!("/v1/orders/{id}"), BUYER, &Value::Null, "x"),
        )
        .await;
    run.bench.forget();
    let order = json_of(&order);
    let refunds = order["refunds"].as_array().cloned().unwrap_or_default();
    if refunds.is_empty() {
        return Err(format!("no refunds requested: {order}"));
    }
    for r in refunds {
        let p = provider(r["provider"].as_str().unwrap_or_default())?;
        let event = json!({"type": "refund.succeeded", "data": {
            "refund_id": r["id"], "order_id": id, "amount": r["amount"]["amount"]}});
        run.webhook(
            &format!(
                "webhook refund.succeeded ({})",
                r["provider"].as_str().unwrap_or("?")
            ),
            p,
            event,
        )
        .await?;
    }
    Ok(run.finish("disputed"))
}
