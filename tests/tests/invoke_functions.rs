//! Every function binary, run as Lambda runs it: a real process talking to
//! the Runtime API (`tests::runtime_api`), fed its sample event from
//! `events/<function>.json`, with DynamoDB, SQS and EventBridge on the
//! moto server.
//!
//! The sample events carry fixed ids (`buyer-1`, `sup-1`, `arbiter-1`,
//! `ord_sample1`, `pay_sample1`, webhook `msg_sample1`), so each test gets a
//! table (and, for the webhook, a queue) of its own and seeds the state its
//! event needs through the domain and the DynamoDB adapter. The outbox
//! publisher and the scheduled sweep get a bus of their own too, with a
//! rule that copies what they publish to a queue the test reads; the sweep's
//! state is seeded against its sample event's time.
//!
//! The binaries come from `cargo build --workspace --bins` in
//! `$CARGO_TARGET_DIR/debug/` (default: the workspace's `target/`). A
//! missing binary fails the test with that instruction; nothing is skipped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use app::consumer::{Applied, consume};
use app::ports::{
    Attention, Commit, CreditLines, Dedup, LoadRequest, OrderStore, Outbox, ProviderMessage,
    SupplierLimits,
};
use app::provider_events::{ProviderEvent, WebhookSecret, sign, verify_any};
use app::table;
use aws_adapters::dynamodb::DynamoStore;
use aws_adapters::eventbridge::{SOURCE, create_bus_if_missing};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, Terms, TermsDraft,
};
use domain::coverage::CoverageType;
use domain::dispute::{
    DisputeOutcome, DisputeReason, DisputeStatus, EscalationGround, ResponseAction,
};
use domain::event::DomainEvent;
use domain::ids::{OrderId, PaymentId, UserId};
use domain::order::{
    Counterparty, DisputeResponse, NewOrder, OpenDispute, PaymentReport, PaymentRequest,
    ShipmentDetails,
};
use domain::payment::{
    CardBrand, FlagReason, PaymentContext, PaymentMethod, PaymentSignal, PaymentStatus, Stage,
};
use domain::text::{CountryCode, LongText, ShortText};
use domain::{Caller, Order, OrderError, OrderStatus, Provider, Role, Timestamp, Usd};
use entry_points::schedule::{self, ScheduledEvent};
use http_api::routes::{Trigger, all_functions};
use http_api::webhook::{LOCAL_DEFAULT_SECRET, secret_variable};
use serde_json::{Map, Value, json};
use test_kit::moto::{MotoServer, sdk_config};
use test_kit::store_contract::{
    order_paying_by_card, payment_body, provider_message, stored_order, unique,
};
use tests::repo_root;
use tests::runtime_api::{Function, InvokeError, RuntimeApi};

const ORDER: &str = "ord_sample1";
const BUYER: &str = "buyer-1";
const SUPPLIER: &str = "sup-1";
const PAYMENT: &str = "pay_sample1";
/// The webhook-id of `events/payment-webhook.json` and of the record of
/// `events/process-payment-events.json`.
const WEBHOOK_ID: &str = "msg_sample1";
/// Debug binaries against a single-threaded moto shared by parallel tests.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(90);

// ---- locating and running a function ------------------------------------------

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                repo_root().join(dir)
            }
        }
        _ => repo_root().join("target"),
    }
}

fn binary(function: &str) -> PathBuf {
    let path = target_dir().join("debug").join(function);
    assert!(
        path.is_file(),
        "function binary {} not found: run `cargo build --workspace --bins` first \
         (binaries are looked up in $CARGO_TARGET_DIR/debug, else the workspace's target/debug)",
        path.display()
    );
    path
}

fn sample_event(function: &str) -> Value {
    let path = repo_root().join("events").join(format!("{function}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("sample event {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("sample event {}: {e}", path.display()))
}

/// An API Gateway HTTP API (payload 2.0) response, decoded.
#[derive(Debug)]
struct HttpAnswer {
    status: u64,
    headers: Map<String, Value>,
    body: Value,
}

impl HttpAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    fn expect(&self, function: &str, status: u64) {
        assert_eq!(
            self.status, status,
            "{function}: status {} (expected {status}); body: {}",
            self.status, self.body
        );
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "{function}: content-type {ct:?}, expected application/json; headers: {:?}",
            self.headers
        );
    }
}

fn decode(function: &str, raw: &Value) -> HttpAnswer {
    let status = raw["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("{function}: no statusCode in the response {raw}"));
    let headers = raw["headers"].as_object().cloned().unwrap_or_default();
    let text = match raw.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if raw["isBase64Encoded"] == json!(true) => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_else(|e| panic!("{function}: body is not base64: {e}"));
            String::from_utf8(bytes).unwrap_or_else(|e| panic!("{function}: body: {e}"))
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => panic!("{function}: body is not a string: {other}"),
    };
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{function}: body is not JSON ({e}): {text:?}"));
    HttpAnswer {
        status,
        headers,
        body,
    }
}

/// A function process attached to its Runtime API. The process is killed
/// first, then the API stops (fields drop in order).
struct Running {
    function: String,
    process: Function,
    rt: RuntimeApi,
}

impl Running {
    /// One invocation: the function's answer, or why there is none (an
    /// error it reported included).
    fn invoke(&self, event: &Value) -> Result<Value, InvokeError> {
        let outcome = self.rt.invoke(event, INVOKE_TIMEOUT);
        let answered = match &outcome {
            Ok(raw) => raw.to_string(),
            Err(InvokeError::Function {
                error_type, body, ..
            }) => format!("error {error_type:?}: {body}"),
            Err(e) => format!("nothing: {e}"),
        };
        eprintln!(
            "{}: init {:?}, answered {answered}",
            self.function,
            self.process.init_duration()
        );
        outcome
    }
}

/// A fresh table on moto and a runtime to seed it from.
struct Fixture {
    tokio: tokio::runtime::Runtime,
    endpoint: String,
    table: String,
    store: DynamoStore,
}

impl Fixture {
    fn new() -> Fixture {
        let moto = MotoServer::shared();
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
        let table = test_kit::store_contract::unique("invoke-");
        let store = tokio.block_on(async {
            let config = sdk_config(&moto.endpoint).await;
            let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table.as_str());
            store.create_table_if_missing().await.unwrap_or_else(|e| {
                panic!(
                    "cannot create table {table} on moto at {}: {e:?}",
                    moto.endpoint
                )
            });
            store
        });
        Fixture {
            tokio,
            endpoint: moto.endpoint.clone(),
            table,
            store,
        }
    }

    /// Run `function` on `events` against this table: one process (one
    /// cold start), one invocation per event in order, `env` added to the
    /// Lambda environment. The raw responses.
    fn run(&self, function: &str, env: &[(&str, &str)], events: &[Value]) -> Vec<Value> {
        let running = self.start(function, env);
        events
            .iter()
            .map(|event| {
                running
                    .invoke(event)
                    .unwrap_or_else(|e| panic!("{function}: {e}"))
            })
            .collect()
    }

    /// Start `function` against this table (one process, one cold start),
    /// `env` added to the Lambda environment; invoke it at will.
    fn start(&self, function: &str, env: &[(&str, &str)]) -> Running {
        let binary = binary(function);
        let rt = RuntimeApi::start().unwrap_or_else(|e| panic!("runtime api: {e}"));
        let mut vars = vec![
            ("TABLE_NAME", self.table.as_str()),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ];
        vars.extend_from_slice(env);
        let process = rt
            .spawn(&binary, vars)
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        Running {
            function: function.to_owned(),
            process,
            rt,
        }
    }

    /// Run an API function on its sample event against this table.
    fn invoke(&self, function: &str) -> HttpAnswer {
        let raw = self.run(function, &[], &[sample_event(function)]);
        decode(function, &raw[0])
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.tokio.block_on(f)
    }

    /// The order as stored now.
    fn stored(&self, id: &str) -> Order {
        let id = OrderId::parse(id).unwrap_or_else(|e| panic!("{e}"));
        self.block_on(self.store.load(
            LoadRequest {
                order: &id,
                idempotency: None,
                limit_of: None,
                credit_of: None,
            },
            Utc::now(),
        ))
        .unwrap_or_else(|e| panic!("load {id}: {e:?}"))
        .order
        .unwrap_or_else(|| panic!("order {id} is not in the table"))
    }

    // ---- seeding: the domain's commands, committed through the store port ----

    fn commit(&self, order: &Order, expected: Option<u64>, events: &[DomainEvent], now: Timestamp) {
        self.block_on(self.store.commit(Commit {
            previous_flags: &[],
            order,
            expected_revision: expected,
            events,
            idempotency: None,
            dedup: None,
            now,
        }))
        .unwrap_or_else(|e| panic!("commit {}: {e:?}", order.id()));
    }

    /// Apply one command to `order` and commit it on the version it had.
    fn step(
        &self,
        order: &mut Order,
        now: Timestamp,
        command: impl FnOnce(&mut Order) -> Result<Vec<DomainEvent>, OrderError>,
    ) {
        let before = order.version();
        let events = command(order).unwrap_or_else(|e| panic!("seeding {}: {e}", order.id()));
        self.commit(order, Some(before), &events, now);
    }

    fn set_limit(&self, supplier: &str, limit: &str) {
        self.block_on(self.store.set_limit(&user(supplier), usd(limit), None))
            .unwrap_or_else(|e| panic!("set limit: {e:?}"));
    }

    /// `id`, created by `buyer` naming sup-1 on the §5 example terms (with
    /// `initial` as the initial payment).
    fn create(&self, id: &str, buyer: &str, initial: &str, now: Timestamp) -> Order {
        let (order, events) = Order::create(
            &caller(buyer, Role::Buyer),
            NewOrder {
                id: OrderId::parse(id).unwrap_or_else(|e| panic!("{e}")),
                counterparty: Counterparty::Supplier(user(SUPPLIER)),
                terms: sample_terms(initial),
                clocks: domain::clocks::Clocks::default(),
            },
            now,
        )
        .unwrap_or_else(|e| panic!("create {id}: {e}"));
        self.commit(&order, None, &events, now);
        order
    }

    /// ord_sample1 confirmed by sup-1 (limit 50,000.00).
    fn confirmed(&self, initial: &str, now: Timestamp) -> Order {
        self.set_limit(SUPPLIER, "50000.00");
        self.create_confirmed(ORDER, BUYER, initial, now)
    }

    /// `id`, created by `buyer` naming sup-1 and confirmed by sup-1 (whose
    /// limit is set and has room), both at `now`.
    fn create_confirmed(&self, id: &str, buyer: &str, initial: &str, now: Timestamp) -> Order {
        let mut order = self.create(id, buyer, initial, now);
        let limit = self
            .block_on(self.store.get_limit(&user(SUPPLIER)))
            .unwrap_or_else(|e| panic!("get limit: {e:?}"))
            .unwrap_or_else(|| panic!("no limit for {SUPPLIER}"));
        let supplier = caller(SUPPLIER, Role::Supplier);
        self.step(&mut order, now, |o| {
            o.confirm(&supplier, o.version(), &limit, now)
        });
        order
    }

    /// ord_sample1 confirmed, its initial payment pay_sample1 (card,
    /// 1700.00 with the inspection) initiated and not yet confirmed.
    fn paying(&self, initial: &str, now: Timestamp) -> Order {
        let mut order = self.confirmed(initial, now);
        let buyer = caller(BUYER, Role::Buyer);
        self.step(&mut order, now, |o| {
            o.initiate_payment(
                &buyer,
                PaymentRequest {
                    id: payment_id(PAYMENT),
                    stage: Stage::Initial,
                    method: PaymentMethod::CreditCard {
                        card_brand: CardBrand::Visa,
                    },
                },
                PaymentContext::default(),
                now,
            )
        });
        assert_eq!(order.status(), OrderStatus::InitialPaymentProcessing);
        order
    }

    /// ord_sample1 confirmed and its initial payment (card) arrived.
    fn paid(&self, initial: &str, now: Timestamp) -> Order {
        let mut order = self.paying(initial, now);
        let pay = payment_id(PAYMENT);
        let amount = order
            .payment(&pay)
            .map(|p| p.amount)
            .unwrap_or_else(|| panic!("payment {pay} missing"));
        self.step(&mut order, now, |o| {
            o.apply_payment_report(
                Provider::Card,
                PaymentReport {
                    payment_id: pay.clone(),
                    signal: PaymentSignal::Succeeded,
                    confirmed: Some((amount, "USD".into())),
                    provider_reference: Some("ch_sample1".into()),
                },
                now,
            )
        });
        assert_eq!(order.status(), OrderStatus::AwaitingShipment);
        order
    }

    /// ord_sample1 paid and shipped (shipped_at = `now`).
    fn shipped(&self, initial: &str, now: Timestamp) -> Order {
        let mut order = self.paid(initial, now);
        let supplier = caller(SUPPLIER, Role::Supplier);
        self.step(&mut order, now, |o| {
            o.ship(
                &supplier,
                ShipmentDetails {
                    carrier: text("DHL"),
                    tracking_number: text("1Z999AA10123456784"),
                    shipped_at: None,
                },
                now,
            )
        });
        order
    }

    /// ord_sample1 paid (card: 1700.00, the initial payment and the SGS
    /// inspection; 1500.00 covered) and, at `now`, the buyer's quality
    /// dispute on it for 750.00 with the design's deadlines (5 and 15 days).
    fn disputed(&self, now: Timestamp) -> Order {
        let mut order = self.paid("1500.00", now);
        let buyer = caller(BUYER, Role::Buyer);
        self.step(&mut order, now, |o| {
            o.raise_dispute(
                &buyer,
                OpenDispute {
                    reason: DisputeReason::Quality,
                    requested_refund: usd("750.00"),
                    description: long_text("38 of the 100 LED panels fail the IP65 test"),
                    evidence: Vec::new(),
                },
                now,
            )
        });
        order
    }

    /// The disputed ord_sample1, the claim rejected by sup-1 at `now`.
    fn dispute_rejected(&self, now: Timestamp) -> Order {
        let mut order = self.disputed(now);
        let supplier = caller(SUPPLIER, Role::Supplier);
        self.step(&mut order, now, |o| {
            o.respond_dispute(
                &supplier,
                DisputeResponse {
                    action: ResponseAction::Reject,
                    message: Some(long_text("The panels passed our own IP65 test")),
                    evidence: Vec::new(),
                },
                now,
            )
        });
        order
    }

    /// The rejected dispute on ord_sample1, escalated by the buyer at `now`.
    fn dispute_escalated(&self, now: Timestamp) -> Order {
        let mut order = self.dispute_rejected(now);
        let buyer = caller(BUYER, Role::Buyer);
        self.step(&mut order, now, |o| o.escalate_dispute(&buyer, now));
        order
    }
}

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap_or_else(|e| panic!("user {id}: {e}"))
}

fn payment_id(id: &str) -> PaymentId {
    PaymentId::parse(id).unwrap_or_else(|e| panic!("payment {id}: {e}"))
}

fn caller(id: &str, role: Role) -> Caller {
    Caller::new(user(id), [role])
}

fn usd(s: &str) -> Usd {
    Usd::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn text(s: &str) -> ShortText {
    ShortText::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn long_text(s: &str) -> LongText {
    LongText::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The create-order example of docs/api.md: 100 × LED panel at 30.00, no
/// shipping fee, ship by 2030-06-28, pre-shipment, SGS inspection in China.
fn sample_terms(initial: &str) -> Terms {
    Terms::new(TermsDraft {
        items: vec![LineItem {
            description: text("LED panel"),
            quantity: 100,
            unit_price: usd("30.00"),
        }],
        shipping_fee: Usd::ZERO,
        initial_payment: usd(initial),
        ship_by: NaiveDate::from_ymd_opt(2030, 6, 28).unwrap_or_else(|| panic!("date")),
        quality_terms: LongText::parse("IP65, 3 year warranty").unwrap_or_else(|e| panic!("{e}")),
        destination_country: CountryCode::US,
        coverage: CoverageType::PreShipment,
        inspection: Some(Inspection {
            agency: InspectionAgency::Sgs,
            location: InspectionLocation::China,
        }),
        contract_document: None,
    })
    .unwrap_or_else(|e| panic!("terms: {e}"))
}

/// Seeding time for state the sample events act on: before the fixed
/// customs-clearance time in `events/record-delivery.json`.
fn seeded_at() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("time"))
}

fn money(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {v}"))
}

/// The fields docs/api.md says an order representation carries at least.
const ORDER_FIELDS: [&str; 17] = [
    "id",
    "status",
    "buyer_id",
    "supplier_id",
    "items",
    "total",
    "initial_payment",
    "balance",
    "coverage",
    "confirmations",
    "payments",
    "shipment",
    "dispute",
    "deadlines",
    "version",
    "created_at",
    "updated_at",
];

fn assert_order_shape(function: &str, order: &Value) {
    let missing: Vec<&str> = ORDER_FIELDS
        .iter()
        .copied()
        .filter(|f| order.get(*f).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{function}: the order lacks {missing:?} (docs/api.md); body: {order}"
    );
}

// ---- SQS on moto -------------------------------------------------------------------

/// The few SQS calls the tests make, over SQS's JSON protocol straight to
/// the moto server (this crate does not link the SQS SDK; the functions
/// do). moto checks no signature: the authorization header only names the
/// service and region, as a SigV4 credential scope would.
struct MotoSqs {
    /// `host:port`
    addr: String,
}

impl MotoSqs {
    fn new(endpoint: &str) -> MotoSqs {
        let addr = endpoint
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("moto endpoint {endpoint} is not http://host:port"));
        MotoSqs {
            addr: addr.trim_end_matches('/').to_owned(),
        }
    }

    fn call(&self, action: &str, input: &Value) -> Value {
        let body = input.to_string();
        let mut stream = TcpStream::connect(&self.addr)
            .unwrap_or_else(|e| panic!("SQS {action}: connect {}: {e}", self.addr));
        stream
            .set_read_timeout(Some(INVOKE_TIMEOUT))
            .unwrap_or_else(|e| panic!("{e}"));
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: AmazonSQS.{action}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .unwrap_or_else(|e| panic!("SQS {action}: {e}"));
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("SQS {action}: {e}"));
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("SQS {action}: not an HTTP response: {text:?}"));
        let status = head.split_whitespace().nth(1).unwrap_or_default();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        assert_eq!(status, "200", "SQS {action} on moto: {head}\n{body}");
        if body.trim().is_empty() {
            return json!({});
        }
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("SQS {action}: the answer is not JSON ({e}): {body:?}"))
    }

    /// A new queue; its URL.
    fn create_queue(&self, name: &str) -> String {
        let out = self.call("CreateQueue", &json!({"QueueName": name}));
        out["QueueUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("CreateQueue {name}: {out}"))
            .to_owned()
    }

    /// Whatever is visible now (no long polling: moto serves one request
    /// at a time), with every attribute.
    fn receive(&self, queue_url: &str) -> Vec<Value> {
        let out = self.call(
            "ReceiveMessage",
            &json!({
                "QueueUrl": queue_url,
                "MaxNumberOfMessages": 10,
                "WaitTimeSeconds": 0,
                "MessageAttributeNames": ["All"],
                "MessageSystemAttributeNames": ["All"],
            }),
        );
        out["Messages"].as_array().cloned().unwrap_or_default()
    }

    /// Receive until nothing is visible: every message on the queue now
    /// (each received one stays in flight meanwhile).
    fn receive_all(&self, queue_url: &str) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let batch = self.receive(queue_url);
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }

    /// The queue's ARN (what an EventBridge target names).
    fn queue_arn(&self, queue_url: &str) -> String {
        let out = self.call(
            "GetQueueAttributes",
            &json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
        );
        out["Attributes"]["QueueArn"]
            .as_str()
            .unwrap_or_else(|| panic!("GetQueueAttributes: no QueueArn: {out}"))
            .to_owned()
    }

    /// (visible, in flight) messages.
    fn depth(&self, queue_url: &str) -> (u64, u64) {
        let out = self.call(
            "GetQueueAttributes",
            &json!({"QueueUrl": queue_url, "AttributeNames": ["All"]}),
        );
        let count = |name: &str| {
            out["Attributes"][name]
                .as_str()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("GetQueueAttributes: no {name}: {out}"))
        };
        (
            count("ApproximateNumberOfMessages"),
            count("ApproximateNumberOfMessagesNotVisible"),
        )
    }
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or_else(|e| panic!("chunk size {size:?}: {e}"));
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

// ---- webhooks and queued provider events ----------------------------------------

/// The environment the template gives `payment-webhook`: the queue URL and
/// each provider's secrets, resolved from Secrets Manager at deploy. Here
/// every provider has the local default secret, and `card` is mid-rotation
/// (an older secret first, space-separated), as the variable allows.
fn webhook_env(queue_url: &str) -> Vec<(String, String)> {
    let mut env = vec![("QUEUE_URL".to_owned(), queue_url.to_owned())];
    for provider in Provider::ALL {
        let value = if provider == Provider::Card {
            format!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw {LOCAL_DEFAULT_SECRET}")
        } else {
            LOCAL_DEFAULT_SECRET.to_owned()
        };
        env.push((secret_variable(provider), value));
    }
    env
}

fn as_strs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The sample webhook delivery, signed now with `secret` (its recorded
/// timestamp is long past the 5-minute tolerance).
fn webhook_signed_now(secret: &str) -> Value {
    let mut event = sample_event("payment-webhook");
    let at = Utc::now().timestamp();
    let id = event["headers"]["webhook-id"]
        .as_str()
        .unwrap_or_else(|| panic!("payment-webhook: no webhook-id header"))
        .to_owned();
    let body = event["body"]
        .as_str()
        .unwrap_or_else(|| panic!("payment-webhook: no body"))
        .to_owned();
    let secret = WebhookSecret::parse(secret).unwrap_or_else(|e| panic!("secret: {e}"));
    event["headers"]["webhook-timestamp"] = json!(at.to_string());
    event["headers"]["webhook-signature"] = json!(sign(&secret, &id, at, body.as_bytes()));
    event["requestContext"]["timeEpoch"] = json!(at * 1000);
    event
}

/// A record like the sample batch's, carrying `message` (or any body).
fn sqs_record(message_id: &str, body: &str, message: Option<&ProviderMessage>) -> Value {
    let sample = sample_event("process-payment-events");
    let mut record = sample["Records"][0].clone();
    record["messageId"] = json!(message_id);
    record["body"] = json!(body);
    let attribute = |v: &str| json!({"stringValue": v, "stringListValues": [], "binaryListValues": [], "dataType": "String"});
    record["messageAttributes"] = match message {
        Some(m) => json!({
            "provider": attribute(m.provider.as_str()),
            "webhook_id": attribute(&m.webhook_id),
        }),
        None => json!({}),
    };
    // Lambda does not check them; the sample's would not match this body.
    if let Some(r) = record.as_object_mut() {
        r.remove("md5OfBody");
        r.remove("md5OfMessageAttributes");
    }
    record
}

/// The message ids a consumer response asks to redeliver.
fn batch_item_failures(raw: &Value) -> Vec<String> {
    let failures = raw["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not an SQS batch response: {raw}"));
    failures
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .unwrap_or_else(|| panic!("a failure without itemIdentifier: {raw}"))
                .to_owned()
        })
        .collect()
}

// ---- one test per function -------------------------------------------------------

#[test]
fn create_order_answers_its_sample_event() {
    let fx = Fixture::new();
    let answer = fx.invoke("create-order");
    answer.expect("create-order", 201);
    let b = &answer.body;
    assert_order_shape("create-order", b);
    let id = b["id"].as_str().unwrap_or_default();
    assert!(id.starts_with("ord_"), "create-order: id {id:?}");
    assert_eq!(b["status"], "awaiting_confirmation", "{b}");
    assert_eq!(b["buyer_id"], BUYER, "{b}");
    assert_eq!(b["supplier_id"], SUPPLIER, "{b}");
    assert_eq!(b["total"], money("3000.00"), "{b}");
    assert_eq!(b["initial_payment"], money("1500.00"), "{b}");
    assert_eq!(b["balance"], money("1500.00"), "{b}");
    assert_eq!(b["coverage"]["type"], "pre_shipment", "{b}");
    assert_eq!(b["version"], 1, "{b}");
    assert!(!b["confirmations"]["buyer"].is_null(), "{b}");
    assert!(b["confirmations"]["supplier"].is_null(), "{b}");
    assert_eq!(b["items"][0]["description"], "LED panel", "{b}");
    assert_eq!(b["items"][0]["quantity"], 100, "{b}");

    let stored = fx.stored(id);
    assert_eq!(stored.buyer_id().as_str(), BUYER);
    assert_eq!(stored.status(), OrderStatus::AwaitingConfirmation);
    assert!(
        stored.clocks().is_default(),
        "no CLOCK_ variable: the defaults"
    );
}

/// The order keeps the clocks the function was configured with
/// (`CLOCK_<NAME>`, the template's `Clock<Name>` parameters): its draft
/// clock and its future disputes' deadlines follow them.
#[test]
fn create_order_gives_the_order_the_configured_clocks() {
    let fx = Fixture::new();
    let raw = fx.run(
        "create-order",
        &[
            ("CLOCK_CONFIRMATION_DAYS", "10"),
            ("CLOCK_DISPUTE_SUPPLIER_RESPONSE_DAYS", "3"),
            ("CLOCK_DISPUTE_RESOLUTION_DAYS", "8"),
        ],
        &[sample_event("create-order")],
    );
    let answer = decode("create-order", &raw[0]);
    answer.expect("create-order", 201);
    let b = &answer.body;
    let created = instant(&b["created_at"]);
    let due = b["deadlines"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["kind"] == "confirmation_due"))
        .unwrap_or_else(|| panic!("a confirmation deadline: {b}"));
    assert_eq!(instant(&due["due"]), created + TimeDelta::days(10), "{b}");
    let stored = fx.stored(b["id"].as_str().unwrap_or_default());
    let c = stored.clocks();
    assert_eq!(
        (
            c.confirmation_days,
            c.disputes.supplier_response_days,
            c.disputes.resolution_days,
            c.unpaid_days
        ),
        (10, 3, 8, 30)
    );
}

#[test]
fn list_orders_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.create(ORDER, BUYER, "1500.00", seeded_at());
    // Someone else's order is not listed.
    fx.create("ord_other1", "buyer-2", "1500.00", seeded_at());
    let answer = fx.invoke("list-orders");
    answer.expect("list-orders", 200);
    let b = &answer.body;
    let items = b["items"]
        .as_array()
        .unwrap_or_else(|| panic!("list-orders: no items array: {b}"));
    let ids: Vec<&str> = items.iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(ids, [ORDER], "list-orders: {b}");
    assert_eq!(items[0]["buyer_id"], BUYER, "{b}");
    assert_eq!(items[0]["status"], "awaiting_confirmation", "{b}");
    assert!(
        b.get("next_cursor").is_none_or(Value::is_null),
        "list-orders: a single page has no next_cursor: {b}"
    );
}

#[test]
fn get_order_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.create(ORDER, BUYER, "1500.00", seeded_at());
    let answer = fx.invoke("get-order");
    answer.expect("get-order", 200);
    let b = &answer.body;
    assert_order_shape("get-order", b);
    assert_eq!(b["id"], ORDER, "{b}");
    assert_eq!(b["status"], "awaiting_confirmation", "{b}");
    assert_eq!(b["buyer_id"], BUYER, "{b}");
    assert_eq!(b["supplier_id"], SUPPLIER, "{b}");
    assert_eq!(b["total"], money("3000.00"), "{b}");
    assert_eq!(b["version"], 1, "{b}");
    assert_eq!(instant(&b["created_at"]), seeded_at(), "{b}");
}

#[test]
fn amend_order_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.create(ORDER, BUYER, "1500.00", seeded_at());
    let answer = fx.invoke("amend-order");
    answer.expect("amend-order", 200);
    let b = &answer.body;
    assert_order_shape("amend-order", b);
    assert_eq!(b["id"], ORDER, "{b}");
    assert_eq!(b["status"], "awaiting_confirmation", "{b}");
    assert_eq!(b["initial_payment"], money("1000.00"), "{b}");
    assert_eq!(b["balance"], money("2000.00"), "{b}");
    assert_eq!(b["total"], money("3000.00"), "{b}");
    assert_eq!(b["version"], 2, "{b}");
    assert!(!b["confirmations"]["buyer"].is_null(), "{b}");
    assert!(b["confirmations"]["supplier"].is_null(), "{b}");

    let stored = fx.stored(ORDER);
    assert_eq!(stored.version(), 2);
    assert_eq!(stored.terms().initial_payment(), usd("1000.00"));
}

#[test]
fn confirm_order_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.set_limit(SUPPLIER, "50000.00");
    fx.create(ORDER, BUYER, "1500.00", seeded_at());
    let answer = fx.invoke("confirm-order");
    answer.expect("confirm-order", 200);
    let b = &answer.body;
    assert_order_shape("confirm-order", b);
    assert_eq!(b["id"], ORDER, "{b}");
    assert_eq!(b["status"], "awaiting_initial_payment", "{b}");
    assert_eq!(b["version"], 2, "{b}");
    assert!(!b["confirmations"]["supplier"].is_null(), "{b}");
    assert_eq!(b["coverage"]["type"], "pre_shipment", "{b}");
    assert_eq!(b["coverage"]["covered_amount"], money("1500.00"), "{b}");

    assert_eq!(
        fx.stored(ORDER).status(),
        OrderStatus::AwaitingInitialPayment
    );
    let limit = fx
        .block_on(fx.store.get_limit(&user(SUPPLIER)))
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("limit"));
    assert_eq!(limit.reserved(), usd("1500.00"));
}

#[test]
fn initiate_payment_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.confirmed("1500.00", seeded_at());
    let answer = fx.invoke("initiate-payment");
    answer.expect("initiate-payment", 201);
    let b = &answer.body;
    assert!(
        b["id"].as_str().is_some_and(|id| id.starts_with("pay_")),
        "{b}"
    );
    assert_eq!(b["stage"], "initial", "{b}");
    assert_eq!(b["method"], "credit_card", "{b}");
    // The initial payment plus the SGS inspection in China, a separate line.
    assert_eq!(b["amount"], money("1700.00"), "{b}");
    assert_eq!(b["inspection_fee"], money("200.00"), "{b}");
    assert_eq!(b["fee"], money("0.00"), "{b}");
    assert_eq!(b["status"], "processing", "{b}");
    assert!(b["expected_arrival"]["earliest"].is_string(), "{b}");
    assert_eq!(
        fx.stored(ORDER).status(),
        OrderStatus::InitialPaymentProcessing
    );
}

#[test]
fn apply_credit_line_answers_its_sample_event() {
    let fx = Fixture::new();
    let answer = fx.invoke("apply-credit-line");
    answer.expect("apply-credit-line", 201);
    let b = &answer.body;
    assert_eq!(b["buyer_id"], BUYER, "{b}");
    assert_eq!(b["status"], "pending", "{b}");
    assert!(
        b["application_id"]
            .as_str()
            .is_some_and(|a| a.starts_with("app_")),
        "{b}"
    );
    assert_eq!(b["available"], money("0.00"), "{b}");
    let stored = fx
        .block_on(fx.store.get_credit(&user(BUYER)))
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("the application is stored"));
    assert_eq!(stored.status(), domain::payment::CreditLineStatus::Pending);
}

#[test]
fn cancel_order_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.create(ORDER, BUYER, "1500.00", seeded_at());
    let answer = fx.invoke("cancel-order");
    answer.expect("cancel-order", 200);
    let b = &answer.body;
    assert_order_shape("cancel-order", b);
    assert_eq!(b["id"], ORDER, "{b}");
    assert_eq!(b["status"], "cancelled", "{b}");
    assert_eq!(b["version"], 2, "{b}");
    assert_eq!(fx.stored(ORDER).status(), OrderStatus::Cancelled);
}

#[test]
fn ship_order_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.paid("1500.00", seeded_at());
    let before = Utc::now();
    let answer = fx.invoke("ship-order");
    answer.expect("ship-order", 200);
    let b = &answer.body;
    assert_order_shape("ship-order", b);
    assert_eq!(b["id"], ORDER, "{b}");
    assert_eq!(b["status"], "shipped", "{b}");
    assert_eq!(b["shipment"]["carrier"], "DHL", "{b}");
    assert_eq!(
        b["shipment"]["tracking_number"], "1Z999AA10123456784",
        "{b}"
    );
    assert_eq!(b["shipment"]["late"], false, "{b}");
    // No shipped_at in the request: it defaults to now.
    let shipped_at = instant(&b["shipment"]["shipped_at"]);
    assert!(
        shipped_at >= before - TimeDelta::seconds(5) && shipped_at <= Utc::now(),
        "ship-order: shipped_at {shipped_at} is not now; {b}"
    );
    assert_eq!(fx.stored(ORDER).status(), OrderStatus::Shipped);
}

#[test]
fn record_delivery_answers_its_sample_event() {
    let fx = Fixture::new();
    // Shipped before the sample's customs clearance (2026-01-05T10:00:00Z).
    fx.shipped("1500.00", seeded_at());
    let answer = fx.invoke("record-delivery");
    answer.expect("record-delivery", 200);
    let b = &answer.body;
    assert_order_shape("record-delivery", b);
    assert_eq!(b["id"], ORDER, "{b}");
    assert_eq!(b["status"], "shipped", "{b}");
    let cleared = Utc
        .with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("time"));
    assert_eq!(
        instant(&b["shipment"]["customs_cleared_at"]),
        cleared,
        "{b}"
    );
    assert_eq!(
        fx.stored(ORDER)
            .shipment()
            .and_then(|s| s.customs_cleared_at),
        Some(cleared)
    );
}

#[test]
fn confirm_receipt_answers_its_sample_event() {
    let fx = Fixture::new();
    // Paid in full up front: shipped, the order waits for the receipt.
    let order = fx.shipped("3000.00", seeded_at());
    assert_eq!(order.status(), OrderStatus::AwaitingReceiptConfirmation);
    let answer = fx.invoke("confirm-receipt");
    answer.expect("confirm-receipt", 200);
    let b = &answer.body;
    assert_order_shape("confirm-receipt", b);
    assert_eq!(b["id"], ORDER, "{b}");
    assert_eq!(b["status"], "completed", "{b}");
    assert_eq!(fx.stored(ORDER).status(), OrderStatus::Completed);
}

#[test]
fn leave_feedback_answers_its_sample_event() {
    let fx = Fixture::new();
    // Feedback is taken within 60 days of completion on the real clock.
    let now = Utc::now() - TimeDelta::hours(3);
    let mut order = fx.shipped("3000.00", now);
    let buyer = caller(BUYER, Role::Buyer);
    fx.step(&mut order, now, |o| o.confirm_receipt(&buyer, now));
    let answer = fx.invoke("leave-feedback");
    answer.expect("leave-feedback", 201);
    let b = &answer.body;
    // "Feedback ... answer[s] 201 with what they created": the feedback
    // (accepted at the top level or under `feedback`).
    let feedback = if b.get("rating").is_some() {
        b
    } else {
        &b["feedback"]
    };
    assert_eq!(feedback["rating"], 5, "leave-feedback: {b}");
    assert_eq!(
        feedback["comment"],
        "Panels arrived well packed and match the IP65 spec. Will order again.",
        "leave-feedback: {b}"
    );
    let stored = fx.stored(ORDER);
    assert_eq!(stored.feedback().map(|f| f.rating.get()), Some(5));
}

#[test]
fn set_assurance_limit_answers_its_sample_event() {
    let fx = Fixture::new();
    let answer = fx.invoke("set-assurance-limit");
    answer.expect("set-assurance-limit", 200);
    let b = &answer.body;
    assert_eq!(b["supplier_id"], SUPPLIER, "{b}");
    assert_eq!(b["limit"], money("50000.00"), "{b}");
    assert_eq!(b["reserved"], money("0.00"), "{b}");
    assert_eq!(b["available"], money("50000.00"), "{b}");

    let limit = fx
        .block_on(fx.store.get_limit(&user(SUPPLIER)))
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("set-assurance-limit stored no limit"));
    assert_eq!(limit.limit(), usd("50000.00"));
    let account = limit
        .receiving_account
        .unwrap_or_else(|| panic!("set-assurance-limit stored no receiving account"));
    assert_eq!(account.swift.as_str(), "BKCHCNBJ45A");
}

/// The sample delivery, signed now with the local default secret (the card
/// provider's newer one, mid-rotation): 202, and the verified event is
/// really on the queue — the message the consumer's sample batch carries.
#[test]
fn payment_webhook_answers_its_sample_event() {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let queue = sqs.create_queue(&unique("payment-events-"));
    let event = webhook_signed_now(LOCAL_DEFAULT_SECRET);
    let env = webhook_env(&queue);
    let before = Utc::now();
    let raw = fx.run(
        "payment-webhook",
        &as_strs(&env),
        std::slice::from_ref(&event),
    );
    let after = Utc::now();
    let answer = decode("payment-webhook", &raw[0]);
    answer.expect("payment-webhook", 202);
    assert_eq!(
        answer.body,
        json!({"status": "accepted", "webhook_id": WEBHOOK_ID})
    );

    let messages = sqs.receive(&queue);
    let [m] = messages.as_slice() else {
        panic!("payment-webhook: one message on the queue, found {messages:?}");
    };
    let body = m["Body"]
        .as_str()
        .unwrap_or_else(|| panic!("a message without a body: {m}"));
    let message: ProviderMessage = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("the message is not a ProviderMessage ({e}): {body}"));
    assert_eq!(message.provider, Provider::Card);
    assert_eq!(message.webhook_id, WEBHOOK_ID);
    assert_eq!(
        Some(message.body.as_str()),
        event["body"].as_str(),
        "the verified body is queued as sent"
    );
    assert!(
        message.received_at >= before - TimeDelta::seconds(1) && message.received_at <= after,
        "received_at {} is not the time of the delivery",
        message.received_at
    );
    for (name, value) in [("provider", "card"), ("webhook_id", WEBHOOK_ID)] {
        let attribute = &m["MessageAttributes"][name];
        assert_eq!(attribute["StringValue"], value, "attribute {name}: {m}");
        assert_eq!(attribute["DataType"], "String", "attribute {name}: {m}");
    }
    let sample = sample_event("process-payment-events");
    let queued: ProviderMessage = serde_json::from_str(
        sample["Records"][0]["body"]
            .as_str()
            .unwrap_or_else(|| panic!("process-payment-events: no record body")),
    )
    .unwrap_or_else(|e| panic!("process-payment-events: {e}"));
    assert_eq!(
        (queued.provider, queued.webhook_id, queued.body),
        (message.provider, message.webhook_id, message.body),
        "events/process-payment-events.json carries what events/payment-webhook.json queues"
    );
    assert_eq!(
        m["MD5OfMessageAttributes"], sample["Records"][0]["md5OfMessageAttributes"],
        "the sample record's attributes digest is the one SQS computes for these attributes"
    );
    assert_eq!(sqs.depth(&queue), (0, 1), "the one message, now in flight");
}

/// Signed with another secret, signed too long ago (the sample as
/// recorded), or with the body changed after signing: 401 each time, as
/// problem+json, and nothing on the queue.
/// On AWS the webhook secrets live in Secrets Manager, named by
/// `WEBHOOK_SECRET_ID` (no secret in any environment variable): the
/// function reads them on its first delivery and accepts what they sign.
#[test]
fn payment_webhook_reads_its_secrets_from_secrets_manager_on_the_first_delivery() {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let queue = sqs.create_queue(&unique("payment-events-"));
    let name = unique("trade-assurance/webhook-secrets-");
    let value = json!({
        "echeck": LOCAL_DEFAULT_SECRET, "card": LOCAL_DEFAULT_SECRET,
        "bank": LOCAL_DEFAULT_SECRET, "paylater": LOCAL_DEFAULT_SECRET,
    });
    fx.block_on(async {
        let config = sdk_config(&fx.endpoint).await;
        aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(&name)
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("create secret: {e:?}"))
    });
    let forged = webhook_signed_now("whsec_Zm9yZ2VkLWJ5LWEtcHJvYmVy");
    let raws = fx.run(
        "payment-webhook",
        &[
            ("QUEUE_URL", queue.as_str()),
            ("WEBHOOK_SECRET_ID", name.as_str()),
        ],
        &[webhook_signed_now(LOCAL_DEFAULT_SECRET), forged],
    );
    decode("payment-webhook", &raws[0]).expect("payment-webhook", 202);
    assert_eq!(decode("payment-webhook (forged)", &raws[1]).status, 401);
    assert_eq!(sqs.receive(&queue).len(), 1, "only the signed delivery");
}

/// A secret that cannot be read is no reason to drop a delivery: 503 with
/// `Retry-After`, so the provider retries, and nothing is queued.
#[test]
fn payment_webhook_answers_503_while_its_secret_cannot_be_read() {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let queue = sqs.create_queue(&unique("payment-events-"));
    let missing = unique("trade-assurance/missing-");
    let raw = fx.run(
        "payment-webhook",
        &[
            ("QUEUE_URL", queue.as_str()),
            ("WEBHOOK_SECRET_ID", missing.as_str()),
        ],
        &[webhook_signed_now(LOCAL_DEFAULT_SECRET)],
    );
    let answer = decode("payment-webhook", &raw[0]);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.header("retry-after").is_some(),
        "{:?}",
        answer.headers
    );
    assert!(sqs.receive(&queue).is_empty());
}

#[test]
fn payment_webhook_refuses_wrong_stale_or_tampered_signatures_and_queues_nothing() {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let queue = sqs.create_queue(&unique("payment-events-"));
    // base64("forged-by-a-prober")
    let forged = webhook_signed_now("whsec_Zm9yZ2VkLWJ5LWEtcHJvYmVy");
    let stale = sample_event("payment-webhook");
    let mut tampered = webhook_signed_now(LOCAL_DEFAULT_SECRET);
    let body = tampered["body"].as_str().unwrap_or_default().to_owned();
    assert!(body.contains("\"1700.00\""), "the sample confirms 1700.00");
    tampered["body"] = json!(body.replace("\"1700.00\"", "\"17.00\""));
    let env = webhook_env(&queue);
    let raws = fx.run(
        "payment-webhook",
        &as_strs(&env),
        &[forged, stale, tampered],
    );
    for (what, raw) in ["another secret", "a stale timestamp", "a tampered body"]
        .into_iter()
        .zip(&raws)
    {
        let answer = decode("payment-webhook", raw);
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        assert_eq!(answer.body["status"], 401, "{what}: {}", answer.body);
    }
    assert_eq!(sqs.depth(&queue), (0, 0), "nothing was queued");
    assert!(sqs.receive(&queue).is_empty(), "nothing was queued");
}

/// The sample batch confirms ord_sample1's card payment (1700.00): no
/// record to redeliver, the payment succeeded, the order awaits shipment,
/// the (provider, webhook-id) is marked. Delivered again (SQS delivers at
/// least once), it is acknowledged and changes nothing.
#[test]
fn process_payment_events_answers_its_sample_event() {
    let fx = Fixture::new();
    let paying = fx.paying("1500.00", Utc::now() - TimeDelta::hours(1));
    let batch = sample_event("process-payment-events");
    let raws = fx.run("process-payment-events", &[], &[batch.clone(), batch]);
    for raw in &raws {
        assert_eq!(
            raw,
            &json!({"batchItemFailures": []}),
            "process-payment-events"
        );
    }
    let order = fx.stored(ORDER);
    let pay = payment_id(PAYMENT);
    let p = order
        .payment(&pay)
        .unwrap_or_else(|| panic!("payment {pay} missing"));
    assert_eq!(p.status, PaymentStatus::Succeeded);
    assert!(p.flag.is_none(), "{:?}", p.flag);
    assert_eq!(order.status(), OrderStatus::AwaitingShipment);
    assert_eq!(
        order.version(),
        paying.version() + 1,
        "applied once, not twice"
    );
    let history = fx
        .block_on(
            fx.store
                .history(order.id(), &app::page::PageRequest::first(100)),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    let succeeded = history
        .iter()
        .filter(|e| e.body.detail_type() == "PaymentSucceeded")
        .count();
    assert_eq!(succeeded, 1, "one PaymentSucceeded");
    let marked = fx
        .block_on(fx.store.seen(Provider::Card, WEBHOOK_ID, Utc::now()))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(marked, "the delivery is marked as seen");
}

/// A batch of a real confirmation, a poison record (not a provider message
/// at all) and an event for an order that does not exist: only the poison
/// record is handed back for redelivery (and so ends in the DLQ); the
/// confirmation is applied; the unknown order is refused for good and
/// acknowledged.
#[test]
fn process_payment_events_redelivers_only_the_poison_record() {
    let fx = Fixture::new();
    let (_, order, pay) = fx.block_on(order_paying_by_card(&fx.store));
    let good = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &order, &pay, "400.00", "USD"),
    );
    let nowhere = OrderId::parse(unique("ord_")).unwrap_or_else(|e| panic!("{e}"));
    let unknown = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &nowhere, &pay, "400.00", "USD"),
    );
    let json_of = |m: &ProviderMessage| serde_json::to_string(m).unwrap_or_else(|e| panic!("{e}"));
    let batch = json!({"Records": [
        sqs_record("m-good", &json_of(&good), Some(&good)),
        sqs_record("m-poison", "{\"not\": \"a provider message\"", None),
        sqs_record("m-unknown-order", &json_of(&unknown), Some(&unknown)),
    ]});
    let raws = fx.run("process-payment-events", &[], &[batch]);
    assert_eq!(batch_item_failures(&raws[0]), ["m-poison"]);
    let stored = fx.block_on(stored_order(&fx.store, &order));
    assert_eq!(
        stored.payment(&pay).map(|p| p.status),
        Some(PaymentStatus::Succeeded),
        "the confirmation in the same batch is applied"
    );
    let seen = |m: &ProviderMessage| {
        fx.block_on(fx.store.seen(m.provider, &m.webhook_id, Utc::now()))
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    assert!(seen(&good), "the applied event is marked");
    assert!(!seen(&unknown), "a refused event leaves no mark");
}

/// ord_sample1's card payment was confirmed for 1699.99 instead of
/// 1700.00, so the consumer flagged it; the arbiter's sample request
/// accepts it: 200 with the payment, succeeded and no longer flagged.
#[test]
fn resolve_payment_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.paying("1500.00", Utc::now() - TimeDelta::hours(1));
    let order = OrderId::parse(ORDER).unwrap_or_else(|e| panic!("{e}"));
    let pay = payment_id(PAYMENT);
    let short = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &order, &pay, "1699.99", "USD"),
    );
    let applied = fx
        .block_on(consume(&fx.store, &short, Utc::now()))
        .unwrap_or_else(|e| panic!("consume: {e:?}"));
    assert_eq!(applied, Applied::Applied { events: 1 }, "only the flag");
    let flagged = fx.stored(ORDER);
    assert_eq!(
        flagged
            .payment(&pay)
            .and_then(|p| p.flag.as_ref().map(|f| f.reason)),
        Some(FlagReason::AmountMismatch)
    );

    let answer = fx.invoke("resolve-payment");
    answer.expect("resolve-payment", 200);
    let b = &answer.body;
    assert_eq!(b["id"], PAYMENT, "{b}");
    assert_eq!(b["stage"], "initial", "{b}");
    assert_eq!(b["method"], "credit_card", "{b}");
    assert_eq!(b["amount"], money("1700.00"), "{b}");
    assert_eq!(b["status"], "succeeded", "{b}");
    assert_eq!(b["flagged"], false, "{b}");
    assert!(b["flag"].is_null(), "{b}");

    let stored = fx.stored(ORDER);
    let p = stored
        .payment(&pay)
        .unwrap_or_else(|| panic!("payment {pay} missing"));
    assert!(p.flag.is_none(), "the flag is cleared: {:?}", p.flag);
    assert_eq!(p.status, PaymentStatus::Succeeded);
    assert_eq!(stored.status(), OrderStatus::AwaitingShipment);
    assert_eq!(stored.version(), flagged.version() + 1);
    let history = fx
        .block_on(
            fx.store
                .history(&order, &app::page::PageRequest::first(100)),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    assert!(
        history
            .iter()
            .any(|e| e.body.detail_type() == "PaymentFlagResolved"),
        "the resolution is in the order's history"
    );
}

// ---- disputes ---------------------------------------------------------------------

/// An API sample event sent to another route by the same caller: `method`
/// and `route` (a route pattern) at `path`, with `query` and `body` (none:
/// no body), everything else (the claims, the headers) as the sample has it.
fn retargeted(
    mut ev: Value,
    (method, route, path): (&str, &str, &str),
    query: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let route_key = format!("{method} {route}");
    ev["routeKey"] = json!(route_key);
    ev["rawPath"] = json!(path);
    ev["requestContext"]["routeKey"] = json!(route_key);
    ev["requestContext"]["http"]["method"] = json!(method);
    ev["requestContext"]["http"]["path"] = json!(path);
    let params: Map<String, Value> = http_api::routes::match_path(route, path)
        .unwrap_or_else(|| panic!("{path} does not match {route}"))
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let raw_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    ev["rawQueryString"] = json!(raw_query.join("&"));
    let query: Map<String, Value> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let obj = ev
        .as_object_mut()
        .unwrap_or_else(|| panic!("an API event is an object"));
    obj.remove("pathParameters");
    obj.remove("queryStringParameters");
    obj.remove("body");
    if !params.is_empty() {
        obj.insert("pathParameters".into(), Value::Object(params));
    }
    if !query.is_empty() {
        obj.insert("queryStringParameters".into(), Value::Object(query));
    }
    let headers = obj
        .get_mut("headers")
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("an API event has headers"));
    headers.remove("content-type");
    headers.remove("content-length");
    if let Some(body) = body {
        headers.insert("content-type".into(), json!("application/json"));
        headers.insert("content-length".into(), json!(body.len().to_string()));
        obj.insert("body".into(), json!(body));
    }
    ev
}

/// The buyer (`buyer-1`) opens a quality dispute on ord_sample1, paid and
/// awaiting shipment, for 750.00 with the SGS report as evidence: 201 with
/// the dispute, open, its deadlines the order's clocks away (5 and 15
/// days: the order was created with the defaults; `CLOCK_` variables of
/// open-dispute itself change nothing, the order keeps its clocks).
#[test]
fn open_dispute_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.paid("1500.00", Utc::now() - TimeDelta::hours(1));
    let raw = fx.run(
        "open-dispute",
        &[
            ("CLOCK_DISPUTE_SUPPLIER_RESPONSE_DAYS", "3"),
            ("CLOCK_DISPUTE_RESOLUTION_DAYS", "8"),
        ],
        &[sample_event("open-dispute")],
    );
    let answer = decode("open-dispute", &raw[0]);
    answer.expect("open-dispute", 201);
    let b = &answer.body;
    assert_eq!(b["order_id"], ORDER, "{b}");
    assert_eq!(b["status"], "open", "{b}");
    assert_eq!(b["reason"], "quality", "{b}");
    assert_eq!(b["requested_refund"], money("750.00"), "{b}");
    assert!(b["outcome"].is_null(), "{b}");
    let opened = instant(&b["opened_at"]);
    assert_eq!(
        instant(&b["supplier_response_due"]),
        opened + TimeDelta::days(5),
        "{b}"
    );
    assert_eq!(
        instant(&b["resolution_due"]),
        opened + TimeDelta::days(15),
        "{b}"
    );

    let stored = fx.stored(ORDER);
    let d = stored
        .dispute()
        .unwrap_or_else(|| panic!("ord_sample1 has no dispute"));
    assert_eq!(d.status, DisputeStatus::Open);
    assert_eq!(d.reason, DisputeReason::Quality);
    assert_eq!(d.requested_refund, usd("750.00"));
    assert_eq!(d.supplier_response_due, d.opened_at + TimeDelta::days(5));
    assert_eq!(d.resolution_due, d.opened_at + TimeDelta::days(15));
    let evidence: Vec<&str> = d
        .entries
        .iter()
        .flat_map(|e| e.evidence.iter().map(|doc| doc.name.as_str()))
        .collect();
    assert_eq!(evidence, ["SGS inspection report SH-2026-0114"], "{d:?}");
    assert_eq!(stored.status(), OrderStatus::AwaitingShipment);
}

/// The supplier (`sup-1`) answers the buyer's open dispute with a
/// counter-offer of 500.00, a message and evidence: 200, negotiating, the
/// offer pending. Then the same function serves the buyer's withdrawal:
/// 200, resolved as withdrawn, and the order goes on.
#[test]
fn respond_dispute_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.disputed(Utc::now() - TimeDelta::hours(1));
    let withdraw = retargeted(
        sample_event("escalate-dispute"),
        (
            "POST",
            "/v1/orders/{id}/dispute/withdraw",
            "/v1/orders/ord_sample1/dispute/withdraw",
        ),
        &[],
        Some("{}"),
    );
    let raws = fx.run(
        "respond-dispute",
        &[],
        &[sample_event("respond-dispute"), withdraw],
    );
    let answer = decode("respond-dispute", &raws[0]);
    answer.expect("respond-dispute", 200);
    let b = &answer.body;
    assert_eq!(b["order_id"], ORDER, "{b}");
    assert_eq!(b["status"], "negotiating", "{b}");
    assert_eq!(b["pending_offer"], money("500.00"), "{b}");
    assert!(!b["supplier_responded_at"].is_null(), "{b}");

    let withdrawn = decode("respond-dispute (withdraw)", &raws[1]);
    withdrawn.expect("respond-dispute (withdraw)", 200);
    let b = &withdrawn.body;
    assert_eq!(b["status"], "resolved", "{b}");
    assert_eq!(b["outcome"], "withdrawn", "{b}");

    let stored = fx.stored(ORDER);
    let d = stored
        .dispute()
        .unwrap_or_else(|| panic!("ord_sample1 has no dispute"));
    assert_eq!(d.status, DisputeStatus::Resolved);
    assert_eq!(d.outcome, Some(DisputeOutcome::Withdrawn));
    let offered = d
        .entries
        .iter()
        .find(|e| e.amount == Some(usd("500.00")))
        .unwrap_or_else(|| panic!("no entry of the offer: {d:?}"));
    assert_eq!(
        offered.evidence.len(),
        1,
        "the offer's evidence: {offered:?}"
    );
    assert!(
        offered.message.is_some(),
        "the offer's message: {offered:?}"
    );
    assert_eq!(stored.status(), OrderStatus::AwaitingShipment);
}

/// The supplier rejected the buyer's claim, so the buyer may escalate at
/// once: 200, escalated on that ground.
#[test]
fn escalate_dispute_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.dispute_rejected(Utc::now() - TimeDelta::hours(1));
    let answer = fx.invoke("escalate-dispute");
    answer.expect("escalate-dispute", 200);
    let b = &answer.body;
    assert_eq!(b["order_id"], ORDER, "{b}");
    assert_eq!(b["status"], "escalated", "{b}");
    assert_eq!(b["escalation_ground"], "supplier_rejected", "{b}");
    assert!(!b["escalated_at"].is_null(), "{b}");

    let stored = fx.stored(ORDER);
    let d = stored
        .dispute()
        .unwrap_or_else(|| panic!("ord_sample1 has no dispute"));
    assert_eq!(d.status, DisputeStatus::Escalated);
    assert_eq!(
        d.escalation_ground,
        Some(EscalationGround::SupplierRejected)
    );
}

/// An arbiter (`arbiter-1`) finds the escalated quality dispute on
/// ord_sample1: the queue of escalated disputes (`GET /v1/disputes`, the
/// same function) lists it; the sample decides the supplier at fault with
/// a 750.00 refund (the paid SGS inspection fee, 200.00, refunded on top):
/// 200, resolved; the queue is empty after.
#[test]
fn list_flags_answers_its_sample_event() {
    let fx = Fixture::new();
    let refused = app::flags::RefusedEvent {
        provider: Provider::Card,
        webhook_id: unique("msg_"),
        event_type: Some("payment.succeeded".into()),
        reason: "unknown_order",
        detail: "the event names an unknown order".into(),
        order_id: None,
        body: r#"{"type":"payment.succeeded"}"#.into(),
        at: Utc::now() - TimeDelta::hours(1),
    };
    fx.block_on(fx.store.record_refused(&refused))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let answer = fx.invoke("list-flags");
    answer.expect("list-flags", 200);
    let items = answer.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("list-flags: no items array: {}", answer.body));
    assert_eq!(items.len(), 1, "{}", answer.body);
    assert_eq!(items[0]["kind"], "refused_event");
    assert_eq!(items[0]["webhook_id"], refused.webhook_id.as_str());
    assert_eq!(items[0]["reason"], "unknown_order");
    assert_eq!(items[0]["provider"], "card");
}

/// Metrics survive Lambda's log-level filtering and name the function by
/// its short name: with the application log level at WARN and the
/// deployed name's stack prefix and suffix, the EMF line of a created order
/// carries `level` WARN and `Function` `create-order`; and the request is
/// logged once (route, status, latency, request id) at INFO.
#[test]
fn emf_lines_carry_a_level_and_the_short_function_name() {
    let fx = Fixture::new();
    let running = fx.start(
        "create-order",
        &[
            (
                "AWS_LAMBDA_FUNCTION_NAME",
                "ta-prod-CreateOrderFunction-AbC123dEf",
            ),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ],
    );
    running
        .invoke(&sample_event("create-order"))
        .unwrap_or_else(|e| panic!("create-order: {e}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let emf = loop {
        let output = running.process.output();
        let found: Vec<Value> = output
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect();
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let created = emf
        .iter()
        .find(|v| v.get("OrdersCreated").is_some())
        .unwrap_or_else(|| panic!("an OrdersCreated EMF line in {emf:?}"));
    assert_eq!(created["level"], "WARN", "{created}");
    assert_eq!(created["Function"], "create-order", "{created}");
    assert!(
        emf.iter()
            .all(|v| v["level"] == "WARN" && v["Function"] == "create-order"),
        "{emf:?}"
    );
}

#[test]
fn decide_dispute_answers_its_sample_event() {
    let fx = Fixture::new();
    fx.dispute_escalated(Utc::now() - TimeDelta::hours(1));
    let sample = sample_event("decide-dispute");
    let queue = retargeted(
        sample.clone(),
        ("GET", "/v1/disputes", "/v1/disputes"),
        &[("status", "escalated")],
        None,
    );
    let raws = fx.run("decide-dispute", &[], &[queue.clone(), sample, queue]);

    let listed = decode("decide-dispute (queue)", &raws[0]);
    listed.expect("decide-dispute (queue)", 200);
    let items = listed.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("decide-dispute: no items array: {}", listed.body));
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|d| d["order_id"].as_str())
        .collect();
    assert_eq!(ids, [ORDER], "{}", listed.body);
    assert_eq!(items[0]["status"], "escalated", "{}", listed.body);

    let answer = decode("decide-dispute", &raws[1]);
    answer.expect("decide-dispute", 200);
    let b = &answer.body;
    assert_eq!(b["order_id"], ORDER, "{b}");
    assert_eq!(b["status"], "resolved", "{b}");
    assert_eq!(b["outcome"], "supplier_at_fault", "{b}");
    assert_eq!(b["refund_amount"], money("750.00"), "{b}");
    assert_eq!(b["inspection_fee_refund"], money("200.00"), "{b}");

    let after = decode("decide-dispute (queue after)", &raws[2]);
    after.expect("decide-dispute (queue after)", 200);
    assert_eq!(after.body["items"], json!([]), "{}", after.body);

    let stored = fx.stored(ORDER);
    let d = stored
        .dispute()
        .unwrap_or_else(|| panic!("ord_sample1 has no dispute"));
    assert_eq!(d.outcome, Some(DisputeOutcome::SupplierAtFault));
    assert_eq!(d.refund_amount, Some(usd("750.00")));
    let order = OrderId::parse(ORDER).unwrap_or_else(|e| panic!("{e}"));
    let history = fx
        .block_on(
            fx.store
                .history(&order, &app::page::PageRequest::first(100)),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    assert!(
        history
            .iter()
            .any(|e| e.body.detail_type() == "DisputeResolved"),
        "the decision is in the order's history"
    );
}

// ---- domain events: outbox → bus -------------------------------------------------

/// An EventBridge client for the moto server.
fn eventbridge(fx: &Fixture) -> aws_sdk_eventbridge::Client {
    fx.block_on(async { aws_sdk_eventbridge::Client::new(&sdk_config(&fx.endpoint).await) })
}

/// The bus `bus` on moto (as the template's `EventBus`, a name and
/// nothing else), and a rule on it that copies every event of this service
/// to a fresh queue: the queue's URL.
fn observed_bus(fx: &Fixture, sqs: &MotoSqs, bus: &str) -> String {
    let client = eventbridge(fx);
    let queue = sqs.create_queue(&unique("published-"));
    let queue_arn = sqs.queue_arn(&queue);
    fx.block_on(async {
        let created = create_bus_if_missing(&client, bus)
            .await
            .unwrap_or_else(|e| panic!("create bus {bus}: {e:?}"));
        assert!(created, "{bus} is new");
        client
            .put_rule()
            .name("all-published")
            .event_bus_name(bus)
            .event_pattern(json!({"source": [SOURCE]}).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put rule on {bus}: {e:?}"));
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("queue")
            .arn(&queue_arn)
            .build()
            .unwrap_or_else(|e| panic!("target: {e}"));
        let out = client
            .put_targets()
            .rule("all-published")
            .event_bus_name(bus)
            .targets(target)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put targets on {bus}: {e:?}"));
        assert_eq!(out.failed_entry_count(), 0, "put targets on {bus}: {out:?}");
    });
    queue
}

/// What the outbox holds now, oldest first.
fn outbox(fx: &Fixture) -> Vec<DomainEvent> {
    fx.block_on(fx.store.unpublished(app::publisher::BATCH))
        .unwrap_or_else(|e| panic!("outbox: {e:?}"))
        .into_iter()
        .map(|e| e.event)
        .collect()
}

/// Every event the bus delivered to `queue`: each checked to come from
/// this service with its detail-type, and decoded from its detail.
fn published(sqs: &MotoSqs, queue: &str) -> Vec<DomainEvent> {
    sqs.receive_all(queue)
        .iter()
        .map(|m| {
            let body = m["Body"]
                .as_str()
                .unwrap_or_else(|| panic!("a message without a body: {m}"));
            let envelope: Value = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("not an EventBridge event ({e}): {body}"));
            assert_eq!(envelope["source"], SOURCE, "{envelope}");
            let event: DomainEvent = serde_json::from_value(envelope["detail"].clone())
                .unwrap_or_else(|e| panic!("the detail is not a DomainEvent ({e}): {envelope}"));
            assert_eq!(
                envelope["detail-type"],
                event.body.detail_type(),
                "{envelope}"
            );
            event
        })
        .collect()
}

/// The events of ord_sample1 and of another order, all in the outbox: the
/// sample's record is the INSERT of ord_sample1's first history item.
fn events_in_the_outbox(fx: &Fixture) -> Vec<DomainEvent> {
    let sample = fx.confirmed("1500.00", seeded_at());
    let other = fx.create("ord_other1", "buyer-2", "1500.00", seeded_at());
    let mut history = Vec::new();
    for id in [sample.id(), other.id()] {
        history.extend(
            fx.block_on(fx.store.history(id, &app::page::PageRequest::first(100)))
                .unwrap_or_else(|e| panic!("history of {id}: {e:?}"))
                .items,
        );
    }
    let pending = outbox(fx);
    assert_eq!(pending.len(), history.len(), "every event is in the outbox");
    for e in &history {
        assert!(pending.contains(e), "{e:?} is not in the outbox");
    }
    assert!(
        history.len() >= 3,
        "created, confirmed, created: {history:?}"
    );
    history
}

/// The sample batch (the INSERT of ord_sample1's first history item) wakes
/// the publisher, which drains the whole outbox onto the bus: the answer
/// is a success, every event of both orders arrives once, from source
/// `trade-assurance` with its detail-type, and the outbox is empty. The
/// same batch again (Lambda retries, or the next one) publishes nothing
/// more.
#[test]
fn publish_events_answers_its_sample_event() {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let bus = unique("ta-events-");
    let queue = observed_bus(&fx, &sqs, &bus);
    let history = events_in_the_outbox(&fx);
    let (pk, sk) = sample_history_keys();
    let item = fx.block_on(async {
        aws_sdk_dynamodb::Client::new(&sdk_config(&fx.endpoint).await)
            .get_item()
            .table_name(&fx.table)
            .key(table::PK, AttributeValue::S(pk.clone()))
            .key(table::SK, AttributeValue::S(sk.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("get ({pk}, {sk}): {e:?}"))
    });
    assert!(
        item.item().is_some(),
        "the sample's record is the INSERT of ({pk}, {sk}), which the seeding wrote"
    );
    let sample = sample_event("publish-events");
    let raws = fx.run(
        "publish-events",
        &[("EVENT_BUS_NAME", bus.as_str())],
        &[sample.clone(), sample],
    );
    for raw in &raws {
        assert_eq!(raw, &Value::Null, "publish-events answers nothing");
    }
    assert!(outbox(&fx).is_empty(), "the outbox is empty");
    let delivered = published(&sqs, &queue);
    assert_eq!(
        delivered.len(),
        history.len(),
        "each event once, none the second time: {delivered:#?}"
    );
    for e in &history {
        assert!(delivered.contains(e), "{e:?} was not published");
    }
}

/// The bus is missing (a wrong name, a half-deployed stack): the drain
/// fails, the error goes back to the runtime (so Lambda retries the batch)
/// and every event stays in the outbox. Once the bus exists, the retry of
/// the same batch in the same process publishes them all, once.
#[test]
fn publish_events_fails_while_the_bus_is_missing_and_its_retry_publishes_what_the_outbox_kept() {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let history = events_in_the_outbox(&fx);
    let bus = unique("ta-events-");
    let running = fx.start("publish-events", &[("EVENT_BUS_NAME", bus.as_str())]);
    let sample = sample_event("publish-events");
    match running.invoke(&sample) {
        Err(InvokeError::Function { body, .. }) => assert!(
            body.contains("outbox"),
            "the error says the events stay in the outbox: {body}"
        ),
        other => panic!("publish-events must report an error to the runtime, got {other:?}"),
    }
    let kept = outbox(&fx);
    assert_eq!(kept.len(), history.len(), "nothing left the outbox");
    for e in &history {
        assert!(kept.contains(e), "{e:?} left the outbox unpublished");
    }

    let queue = observed_bus(&fx, &sqs, &bus);
    let raw = running
        .invoke(&sample)
        .unwrap_or_else(|e| panic!("publish-events, retried: {e}"));
    assert_eq!(raw, Value::Null, "publish-events answers nothing");
    assert!(outbox(&fx).is_empty(), "the retry emptied the outbox");
    let delivered = published(&sqs, &queue);
    assert_eq!(delivered.len(), history.len(), "{delivered:#?}");
    for e in &history {
        assert!(delivered.contains(e), "{e:?} was not published");
    }
}

// ---- the scheduled sweep ----------------------------------------------------------

/// The instant the sweep's sample event asks to sweep at (its `time`).
fn sweep_sample_time() -> Timestamp {
    instant(&sample_event("escalate-stale-disputes")["time"])
}

/// A whole number field of a sweep report.
fn count(report: &Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("the sweep report has no {field}: {report}"))
}

/// Every event of `orders`' histories, oldest first per order.
fn histories(fx: &Fixture, orders: &[&str]) -> Vec<DomainEvent> {
    orders
        .iter()
        .flat_map(|id| {
            let id = OrderId::parse(*id).unwrap_or_else(|e| panic!("{e}"));
            fx.block_on(fx.store.history(&id, &app::page::PageRequest::first(100)))
                .unwrap_or_else(|e| panic!("history of {id}: {e:?}"))
                .items
        })
        .collect()
}

/// Against the sample's time T: ord_unpaid1 confirmed 31 days before and
/// never paid (due for cancellation a day ago), ord_sample1 paid and
/// disputed 6 days before with no answer from the supplier (its response
/// was due a day ago), ord_fresh1 confirmed 10 days before (due in 20
/// days). The sample event sweeps the first two only: ord_unpaid1
/// cancelled and its coverage released, the dispute escalated for want of
/// a response; the report says so, and every event of the three orders,
/// the new ones included, reaches the bus once. The same event again
/// (Lambda's retry) finds nothing due and publishes nothing.
#[test]
fn escalate_stale_disputes_answers_its_sample_event() {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let bus = unique("ta-events-");
    let queue = observed_bus(&fx, &sqs, &bus);
    let t = sweep_sample_time();
    fx.disputed(t - TimeDelta::days(6));
    fx.create_confirmed("ord_unpaid1", BUYER, "1500.00", t - TimeDelta::days(31));
    let fresh = fx.create_confirmed("ord_fresh1", "buyer-2", "1500.00", t - TimeDelta::days(10));
    let orders = [ORDER, "ord_unpaid1", "ord_fresh1"];
    assert_eq!(
        outbox(&fx).len(),
        histories(&fx, &orders).len(),
        "nothing published yet"
    );

    let sample = sample_event("escalate-stale-disputes");
    let raws = fx.run(
        "escalate-stale-disputes",
        &[("EVENT_BUS_NAME", bus.as_str())],
        &[sample.clone(), sample],
    );
    let report = &raws[0];
    assert_eq!(
        instant(&report["now"]),
        t,
        "swept at the event's time: {report}"
    );
    for (field, expected) in [
        ("due", 2),
        ("changed", 2),
        ("escalated", 1),
        ("cancelled", 1),
        ("released", 1),
        ("overdue_flagged", 0),
        ("retried", 0),
        ("failed", 0),
    ] {
        assert_eq!(count(report, field), expected, "{field}: {report}");
    }

    let unpaid = fx.stored("ord_unpaid1");
    assert_eq!(unpaid.status(), OrderStatus::Cancelled);
    let disputed = fx.stored(ORDER);
    let d = disputed
        .dispute()
        .unwrap_or_else(|| panic!("ord_sample1 has no dispute"));
    assert_eq!(d.status, DisputeStatus::Escalated);
    assert_eq!(
        d.escalation_ground,
        Some(EscalationGround::SupplierNoResponse)
    );
    assert_eq!(d.escalated_at, Some(t));
    assert_eq!(
        fx.stored("ord_fresh1").version(),
        fresh.version(),
        "not due"
    );
    let limit = fx
        .block_on(fx.store.get_limit(&user(SUPPLIER)))
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("limit"));
    assert_eq!(
        limit.reserved(),
        usd("3000.00"),
        "ord_unpaid1's 1500.00 released, the other two still covered"
    );

    let history = histories(&fx, &orders);
    assert!(outbox(&fx).is_empty(), "the outbox is empty");
    assert_eq!(count(report, "published"), history.len() as u64, "{report}");
    let delivered = published(&sqs, &queue);
    assert_eq!(
        delivered.len(),
        history.len(),
        "each event once: {delivered:#?}"
    );
    for e in &history {
        assert!(delivered.contains(e), "{e:?} was not published");
    }
    for kind in ["OrderCancelled", "ReservationReleased", "DisputeEscalated"] {
        assert!(
            delivered
                .iter()
                .any(|e| e.body.detail_type() == kind && e.at == t),
            "the sweep's {kind} was published"
        );
    }

    let again = &raws[1];
    for field in ["due", "changed", "published", "failed"] {
        assert_eq!(count(again, field), 0, "the retry: {field}: {again}");
    }
}

/// The bus is missing: the sweep commits what is due (the order
/// cancelled), but cannot publish, so it reports the error to the runtime,
/// with its cause, for Lambda to retry; the events wait in the outbox. Once
/// the bus exists, the retry publishes them, and sweeps nothing twice.
#[test]
fn escalate_stale_disputes_fails_while_the_bus_is_missing_and_its_retry_publishes_what_the_outbox_kept()
 {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let t = sweep_sample_time();
    fx.confirmed("1500.00", t - TimeDelta::days(31));
    let bus = unique("ta-events-");
    let running = fx.start(
        "escalate-stale-disputes",
        &[("EVENT_BUS_NAME", bus.as_str())],
    );
    let sample = sample_event("escalate-stale-disputes");
    match running.invoke(&sample) {
        Err(InvokeError::Function { body, .. }) => {
            let error: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("the error is not JSON ({e}): {body}"));
            assert_eq!(error["errorType"], "SweepIncomplete", "{body}");
            assert!(
                body.contains("outbox"),
                "the error says the events stay in the outbox: {body}"
            );
        }
        other => {
            panic!("escalate-stale-disputes must report an error to the runtime, got {other:?}")
        }
    }
    assert_eq!(fx.stored(ORDER).status(), OrderStatus::Cancelled);
    let history = histories(&fx, &[ORDER]);
    assert_eq!(outbox(&fx).len(), history.len(), "nothing left the outbox");

    let queue = observed_bus(&fx, &sqs, &bus);
    let report = running
        .invoke(&sample)
        .unwrap_or_else(|e| panic!("escalate-stale-disputes, retried: {e}"));
    assert_eq!(
        count(&report, "due"),
        0,
        "nothing is due any more: {report}"
    );
    assert_eq!(count(&report, "changed"), 0, "{report}");
    assert_eq!(
        count(&report, "published"),
        history.len() as u64,
        "{report}"
    );
    assert!(outbox(&fx).is_empty(), "the retry emptied the outbox");
    let delivered = published(&sqs, &queue);
    assert_eq!(delivered.len(), history.len(), "{delivered:#?}");
    for e in &history {
        assert!(delivered.contains(e), "{e:?} was not published");
    }
}

// ---- every function has its sample event and its test ------------------------------

/// An API function's sample event: an API Gateway v2 event for one of its
/// routes (route key, path, method and path parameters consistent). A
/// route behind the JWT authorizer carries its claims as API Gateway passes
/// them; a public route carries none, and the webhook's is signed with the
/// local default secret (at its own timestamp).
fn check_http_sample(function: &str) {
    let ev = sample_event(function);
    let ctx = &ev["requestContext"];
    assert_eq!(ev["version"], "2.0", "{function}: payload format");
    let route_key = ev["routeKey"].as_str().unwrap_or_default();
    assert_eq!(ctx["routeKey"], route_key, "{function}: routeKey");
    let (method, pattern) = route_key
        .split_once(' ')
        .unwrap_or_else(|| panic!("{function}: routeKey {route_key:?}"));
    let route = http_api::routes::ROUTES
        .iter()
        .find(|r| r.method == method && r.path == pattern)
        .unwrap_or_else(|| panic!("{function}: no route {route_key:?}"));
    assert_eq!(
        route.function, function,
        "{function}: {route_key} is served by another function"
    );
    let path = ev["rawPath"].as_str().unwrap_or_default();
    assert_eq!(ctx["http"]["path"], path, "{function}: http.path");
    assert_eq!(ctx["http"]["method"], method, "{function}: http.method");
    let params = http_api::routes::match_path(pattern, path)
        .unwrap_or_else(|| panic!("{function}: {path} does not match {pattern}"));
    for (name, value) in params {
        assert_eq!(
            ev["pathParameters"][name], value,
            "{function}: pathParameters"
        );
    }
    if route.public {
        assert!(
            ctx.get("authorizer").is_none_or(Value::is_null),
            "{function}: a public route has no authorizer context"
        );
        assert!(
            ev["headers"].get("authorization").is_none(),
            "{function}: a public route's caller sends no token"
        );
    } else {
        let claims = &ctx["authorizer"]["jwt"]["claims"];
        assert!(claims["sub"].is_string(), "{function}: claims.sub");
        assert!(
            claims["cognito:groups"]
                .as_str()
                .is_some_and(|g| g.starts_with('[') && g.ends_with(']')),
            "{function}: cognito:groups as API Gateway passes it (\"[buyer]\")"
        );
        assert!(
            ev["headers"]["authorization"]
                .as_str()
                .is_some_and(|a| a.starts_with("Bearer ")),
            "{function}: authorization header"
        );
    }
    if function == http_api::webhook::FUNCTION {
        let header = |name: &str| {
            ev["headers"][name]
                .as_str()
                .unwrap_or_else(|| panic!("{function}: no {name} header"))
        };
        let timestamp = header("webhook-timestamp");
        let at: i64 = timestamp
            .parse()
            .unwrap_or_else(|e| panic!("{function}: webhook-timestamp: {e}"));
        let secret = WebhookSecret::parse(LOCAL_DEFAULT_SECRET).unwrap_or_else(|e| panic!("{e}"));
        let body = ev["body"].as_str().unwrap_or_default();
        verify_any(
            &[secret],
            header("webhook-id"),
            timestamp,
            header("webhook-signature"),
            body.as_bytes(),
            at,
        )
        .unwrap_or_else(|e| panic!("{function}: not signed with the local default secret: {e}"));
        ProviderEvent::parse(body.as_bytes())
            .unwrap_or_else(|e| panic!("{function}: not a provider event: {e}"));
    }
    if let Some(body) = ev.get("body") {
        let body = body
            .as_str()
            .unwrap_or_else(|| panic!("{function}: body is a string"));
        serde_json::from_str::<Value>(body)
            .unwrap_or_else(|e| panic!("{function}: body is not JSON: {e}"));
        assert_eq!(
            ev["headers"]["content-type"], "application/json",
            "{function}"
        );
    }
    assert_eq!(ev["isBase64Encoded"], false, "{function}");
}

/// The payment-queue consumer's sample event: an SQS batch as Lambda hands
/// it over, each record's body the JSON of a `ProviderMessage` whose body
/// is a provider event, with the `provider` and `webhook_id` attributes the
/// webhook function sets.
fn check_sqs_sample(function: &str) {
    let ev = sample_event(function);
    let records = ev["Records"]
        .as_array()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| panic!("{function}: an SQS event has Records"));
    for r in records {
        for field in ["messageId", "receiptHandle", "awsRegion"] {
            assert!(
                r[field].as_str().is_some_and(|v| !v.is_empty()),
                "{function}: {field}"
            );
        }
        assert_eq!(r["eventSource"], "aws:sqs", "{function}: eventSource");
        assert!(
            r["eventSourceARN"]
                .as_str()
                .is_some_and(|a| a.starts_with("arn:aws:sqs:")),
            "{function}: eventSourceARN"
        );
        assert!(
            r["attributes"]["ApproximateReceiveCount"].is_string(),
            "{function}: attributes.ApproximateReceiveCount"
        );
        let body = r["body"].as_str().unwrap_or_default();
        let message: ProviderMessage = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{function}: the body is not a ProviderMessage: {e}"));
        ProviderEvent::parse(message.body.as_bytes())
            .unwrap_or_else(|e| panic!("{function}: the message is not a provider event: {e}"));
        for (name, value) in [
            ("provider", message.provider.as_str()),
            ("webhook_id", message.webhook_id.as_str()),
        ] {
            let attribute = &r["messageAttributes"][name];
            assert_eq!(
                attribute["stringValue"], value,
                "{function}: attribute {name}"
            );
            assert_eq!(
                attribute["dataType"], "String",
                "{function}: attribute {name}"
            );
        }
    }
}

/// The sample history item: ord_sample1's first event (created at
/// `seeded_at()`), as the DynamoDB adapter keys it.
fn sample_history_keys() -> (String, String) {
    let order = OrderId::parse(ORDER).unwrap_or_else(|e| panic!("{e}"));
    (table::order_pk(&order), table::event_sk(1, seeded_at(), 0))
}

/// The outbox publisher's sample event: a batch from the table's stream as
/// Lambda hands it over, each record the INSERT of a history item, keys
/// only (what the template's filter lets through); the first is the
/// history item of ord_sample1's creation.
fn check_stream_sample(function: &str) {
    let ev = sample_event(function);
    let records = ev["Records"]
        .as_array()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| panic!("{function}: a stream event has Records"));
    for r in records {
        for field in ["eventID", "eventVersion", "awsRegion"] {
            assert!(
                r[field].as_str().is_some_and(|v| !v.is_empty()),
                "{function}: {field}"
            );
        }
        assert_eq!(r["eventSource"], "aws:dynamodb", "{function}: eventSource");
        assert_eq!(r["eventName"], "INSERT", "{function}: eventName");
        assert!(
            r["eventSourceARN"]
                .as_str()
                .is_some_and(|a| a.starts_with("arn:aws:dynamodb:") && a.contains("/stream/")),
            "{function}: eventSourceARN is a table's stream"
        );
        let change = &r["dynamodb"];
        assert_eq!(change["StreamViewType"], "KEYS_ONLY", "{function}");
        assert!(
            change.get("NewImage").is_none() && change.get("OldImage").is_none(),
            "{function}: keys only"
        );
        for field in ["ApproximateCreationDateTime", "SizeBytes"] {
            assert!(change[field].is_number(), "{function}: dynamodb.{field}");
        }
        assert!(
            change["SequenceNumber"].is_string(),
            "{function}: dynamodb.SequenceNumber"
        );
        let keys = change["Keys"]
            .as_object()
            .unwrap_or_else(|| panic!("{function}: dynamodb.Keys"));
        let names: Vec<&str> = keys.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [table::PK, table::SK],
            "{function}: the table's keys"
        );
        assert!(
            keys[table::SK]["S"]
                .as_str()
                .is_some_and(|sk| sk.starts_with(table::EVENT_SK_PREFIX)),
            "{function}: a history item"
        );
    }
    let (pk, sk) = sample_history_keys();
    let keys = &records[0]["dynamodb"]["Keys"];
    assert_eq!(
        (&keys[table::PK]["S"], &keys[table::SK]["S"]),
        (&json!(pk), &json!(sk)),
        "{function}: the first record is ord_sample1's first history item"
    );
}

/// The sweep's sample event: what EventBridge Scheduler sends as the
/// template's target input (`entry_points::schedule::TARGET_INPUT`) with
/// its attributes filled in, which the function reads as a
/// `ScheduledEvent` with a time to sweep at.
fn check_schedule_sample(function: &str) {
    let ev = sample_event(function);
    assert_eq!(ev["version"], "0", "{function}: version");
    assert_eq!(ev["source"], schedule::SOURCE, "{function}: source");
    assert_eq!(
        ev["detail-type"],
        schedule::DETAIL_TYPE,
        "{function}: detail-type"
    );
    for field in ["id", "account", "region", "time"] {
        assert!(
            ev[field].as_str().is_some_and(|v| !v.is_empty()),
            "{function}: {field}"
        );
    }
    let resources = ev["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{function}: resources"));
    let [arn] = resources.as_slice() else {
        panic!("{function}: one resource, the schedule: {resources:?}");
    };
    assert!(
        arn.as_str()
            .is_some_and(|a| a.starts_with("arn:aws:scheduler:") && a.contains(":schedule/")),
        "{function}: resources[0] is a schedule's ARN: {arn}"
    );
    assert!(
        ev["detail"]["attempt"].is_string(),
        "{function}: detail.attempt"
    );
    let event: ScheduledEvent = serde_json::from_value(ev.clone())
        .unwrap_or_else(|e| panic!("{function}: not a ScheduledEvent: {e}"));
    let at = schedule::sweep_time(&event)
        .unwrap_or_else(|e| panic!("{function}: the sweep refuses it: {e}"));
    assert_eq!(at, instant(&ev["time"]), "{function}: the time swept at");
}

/// Every function (routed or triggered) has `events/<function>.json` of the
/// shape its trigger delivers, and a test above that runs it.
#[test]
fn every_function_has_a_sample_event_and_an_invocation_test() {
    let this_file = include_str!("invoke_functions.rs");
    for function in http_api::routes::functions() {
        check_http_sample(function);
    }
    for t in http_api::routes::TRIGGERED {
        match t.trigger {
            Trigger::PaymentQueue => check_sqs_sample(t.function),
            Trigger::TableStream => check_stream_sample(t.function),
            Trigger::Schedule => check_schedule_sample(t.function),
            Trigger::ProviderActionsQueue => check_provider_queue_sample(t.function),
        }
    }
    for function in all_functions() {
        let test = format!(
            "fn {}_answers_its_sample_event()",
            function.replace('-', "_")
        );
        assert!(
            this_file.contains(&test),
            "{function}: no test `{test}` here"
        );
    }
}

// ---- provider actions: bus rule → queue → provider-action step --------------------

/// The card provider's key the tests configure (`PROVIDER_KEY_CARD`).
const CARD_KEY: &str = "sk_test_card_local";

/// What the stand-in provider answers an accepted payment.
fn checkout_answer() -> Value {
    json!({
        "reference": "ch_1",
        "next_action": {"type": "checkout", "url": "https://checkout.card.example/ch_1"},
    })
}

/// One request the stand-in provider received.
#[derive(Debug, Clone)]
struct ProviderCall {
    method: String,
    path: String,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: Value,
}

impl ProviderCall {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A payment provider's API on loopback, standing in for the card
/// provider: every request is answered `status` with `body` (and the
/// connection closed), and kept. The accepting thread lives as long as
/// the test process.
struct ProviderStub {
    url: String,
    calls: std::sync::Arc<std::sync::Mutex<Vec<ProviderCall>>>,
}

impl ProviderStub {
    fn start(status: u16, body: Value) -> ProviderStub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("provider stub: bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("provider stub: {e}"));
        let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&calls);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else {
                    continue;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(call) = read_provider_call(&mut stream) else {
                    continue;
                };
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(call);
                let text = body.to_string();
                let reason = match status {
                    200 => "OK",
                    201 => "Created",
                    402 => "Payment Required",
                    503 => "Service Unavailable",
                    _ => "Status",
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = stream.flush();
            }
        });
        ProviderStub {
            url: format!("http://{addr}"),
            calls,
        }
    }

    fn calls(&self) -> Vec<ProviderCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One HTTP/1.1 request with a Content-Length body, or `None` if the
/// stream breaks off.
fn read_provider_call(stream: &mut TcpStream) -> Option<ProviderCall> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(ProviderCall {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// The message id of the sample's one record.
fn provider_actions_sample_message_id() -> String {
    sample_event("request-provider-actions")["Records"][0]["messageId"]
        .as_str()
        .unwrap_or_else(|| panic!("request-provider-actions: no messageId"))
        .to_owned()
}

/// The domain event the sample's record carries.
fn provider_actions_sample_detail() -> DomainEvent {
    let sample = sample_event("request-provider-actions");
    let body: Value = serde_json::from_str(
        sample["Records"][0]["body"]
            .as_str()
            .unwrap_or_else(|| panic!("request-provider-actions: no record body")),
    )
    .unwrap_or_else(|e| panic!("request-provider-actions: the body is not JSON: {e}"));
    serde_json::from_value(body["detail"].clone())
        .unwrap_or_else(|e| panic!("request-provider-actions: detail is no DomainEvent: {e}"))
}

/// ord_sample1 with pay_sample1 initiated at the sample event's instant:
/// the order whose `PaymentRequested` the sample carries (checked: the
/// history holds exactly that event).
fn seed_the_requested_payment(fx: &Fixture) -> Order {
    let detail = provider_actions_sample_detail();
    let order = fx.paying("1500.00", detail.at);
    let history = fx
        .block_on(
            fx.store
                .history(order.id(), &app::page::PageRequest::first(100)),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    let requested: Vec<&DomainEvent> = history
        .iter()
        .filter(|e| e.body.detail_type() == "PaymentRequested")
        .collect();
    assert_eq!(
        requested,
        [&detail],
        "events/request-provider-actions.json carries the PaymentRequested that initiating \
         pay_sample1 records"
    );
    order
}

fn stored_payment(fx: &Fixture) -> domain::payment::Payment {
    fx.stored(ORDER)
        .payment(&payment_id(PAYMENT))
        .cloned()
        .unwrap_or_else(|| panic!("payment {PAYMENT} missing"))
}

/// The card provider takes the sample's payment request (201, its
/// reference and a checkout): the answer asks for no redelivery, the
/// provider got one `POST /v1/payments` with the payment id as its
/// idempotency key, the card key as bearer token and the amount due, and
/// the payment now carries the reference and the buyer's checkout. The
/// same batch again (a redelivery) asks the provider nothing more and
/// changes nothing.
#[test]
fn request_provider_actions_answers_its_sample_event() {
    let fx = Fixture::new();
    let seeded = seed_the_requested_payment(&fx);
    let provider = ProviderStub::start(201, checkout_answer());
    let sample = sample_event("request-provider-actions");
    let raws = fx.run(
        "request-provider-actions",
        &[
            ("PROVIDER_URL_CARD", provider.url.as_str()),
            ("PROVIDER_KEY_CARD", CARD_KEY),
        ],
        &[sample.clone(), sample],
    );
    for raw in &raws {
        assert_eq!(
            raw,
            &json!({"batchItemFailures": []}),
            "request-provider-actions"
        );
    }
    let calls = provider.calls();
    let [call] = calls.as_slice() else {
        panic!("one request to the provider, got {calls:#?}");
    };
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/v1/payments")
    );
    assert_eq!(call.header("idempotency-key"), Some(PAYMENT));
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {CARD_KEY}").as_str())
    );
    assert_eq!(call.body["payment_id"], PAYMENT, "{}", call.body);
    assert_eq!(call.body["order_id"], ORDER, "{}", call.body);
    let payment = stored_payment(&fx);
    assert_eq!(payment.provider_reference.as_deref(), Some("ch_1"));
    assert_eq!(
        payment.next_action,
        Some(domain::payment::NextAction::Checkout {
            url: "https://checkout.card.example/ch_1".into()
        })
    );
    assert_eq!(call.body["amount"], json!(payment.amount.to_string()));
    assert_eq!(payment.status, PaymentStatus::Processing);
    assert_eq!(
        fx.stored(ORDER).version(),
        seeded.version() + 1,
        "recorded once, not twice"
    );
}

/// The provider is unavailable (503), or not configured at all (no
/// `PROVIDER_URL_CARD`): the record is handed back for redelivery, and
/// nothing is recorded on the payment.
#[test]
fn request_provider_actions_redelivers_what_the_provider_cannot_take_yet() {
    let fx = Fixture::new();
    let seeded = seed_the_requested_payment(&fx);
    let provider = ProviderStub::start(503, json!({"title": "Service Unavailable"}));
    let sample = sample_event("request-provider-actions");
    let id = provider_actions_sample_message_id();
    let raws = fx.run(
        "request-provider-actions",
        &[
            ("PROVIDER_URL_CARD", provider.url.as_str()),
            ("PROVIDER_KEY_CARD", CARD_KEY),
        ],
        std::slice::from_ref(&sample),
    );
    assert_eq!(
        batch_item_failures(&raws[0]),
        std::slice::from_ref(&id),
        "503"
    );
    assert_eq!(provider.calls().len(), 1, "asked once");
    let unconfigured = fx.run(
        "request-provider-actions",
        &[("PROVIDER_KEY_CARD", CARD_KEY)],
        std::slice::from_ref(&sample),
    );
    assert_eq!(
        batch_item_failures(&unconfigured[0]),
        [id],
        "no URL for the card provider"
    );
    let payment = stored_payment(&fx);
    assert_eq!(payment.provider_reference, None);
    assert_eq!(payment.next_action, None);
    assert_eq!(
        fx.stored(ORDER).version(),
        seeded.version(),
        "nothing recorded"
    );
}

/// On AWS the providers' keys live in Secrets Manager, named by
/// `PROVIDER_KEYS_SECRET_ID`: a key found there replaces the environment's.
/// While the secret cannot be read, the whole batch is redelivered and no
/// provider is asked; the next batch reads it.
#[test]
fn request_provider_actions_reads_the_provider_keys_from_secrets_manager() {
    let fx = Fixture::new();
    seed_the_requested_payment(&fx);
    let provider = ProviderStub::start(201, checkout_answer());
    let missing = unique("trade-assurance/provider-keys-missing-");
    let sample = sample_event("request-provider-actions");
    let id = provider_actions_sample_message_id();
    let raws = fx.run(
        "request-provider-actions",
        &[
            ("PROVIDER_URL_CARD", provider.url.as_str()),
            ("PROVIDER_KEYS_SECRET_ID", missing.as_str()),
        ],
        std::slice::from_ref(&sample),
    );
    assert_eq!(batch_item_failures(&raws[0]), [id], "the secret is missing");
    assert!(provider.calls().is_empty(), "no key, no call");

    let name = unique("trade-assurance/provider-keys-");
    fx.block_on(async {
        let config = sdk_config(&fx.endpoint).await;
        aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(&name)
            .secret_string(json!({"card": "sk_live_from_the_secret"}).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("create secret: {e:?}"))
    });
    let raws = fx.run(
        "request-provider-actions",
        &[
            ("PROVIDER_URL_CARD", provider.url.as_str()),
            ("PROVIDER_KEY_CARD", "sk_stale_from_the_environment"),
            ("PROVIDER_KEYS_SECRET_ID", name.as_str()),
        ],
        std::slice::from_ref(&sample),
    );
    assert_eq!(raws[0], json!({"batchItemFailures": []}));
    let calls = provider.calls();
    let [call] = calls.as_slice() else {
        panic!("one request to the provider, got {calls:#?}");
    };
    assert_eq!(
        call.header("authorization"),
        Some("Bearer sk_live_from_the_secret")
    );
    assert_eq!(
        stored_payment(&fx).provider_reference.as_deref(),
        Some("ch_1")
    );
}

/// The template's `ProviderActionsRule` pattern, as JSON.
fn provider_actions_rule_pattern() -> Value {
    let path = repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("template: {e}"));
    let template: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("template: {e}"));
    serde_json::to_value(
        &template["Resources"]["ProviderActionsRule"]["Properties"]["EventPattern"],
    )
    .unwrap_or_else(|e| panic!("ProviderActionsRule.EventPattern: {e}"))
}

/// The whole chain on moto: `publish-events` drains ord_sample1's outbox
/// onto a bus carrying the template's `ProviderActionsRule`, which queues
/// only the `PaymentRequested` (not the creation, the confirmation or the
/// coverage); the message as SQS hands it to Lambda is what the step
/// parses and acts on, and the provider's answer is recorded. The step's
/// own `PaymentRequestAccepted`, published in turn, is not queued again.
#[test]
fn request_provider_actions_acts_on_what_the_bus_rule_queues() {
    let fx = Fixture::new();
    let sqs = MotoSqs::new(&fx.endpoint);
    let bus = unique("ta-events-");
    let queue = sqs.create_queue(&unique("provider-actions-"));
    let queue_arn = sqs.queue_arn(&queue);
    let client = eventbridge(&fx);
    fx.block_on(async {
        create_bus_if_missing(&client, &bus)
            .await
            .unwrap_or_else(|e| panic!("create bus {bus}: {e:?}"));
        client
            .put_rule()
            .name("provider-actions")
            .event_bus_name(&bus)
            .event_pattern(provider_actions_rule_pattern().to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put rule on {bus}: {e:?}"));
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("provider-actions-queue")
            .arn(&queue_arn)
            .build()
            .unwrap_or_else(|e| panic!("target: {e}"));
        let out = client
            .put_targets()
            .rule("provider-actions")
            .event_bus_name(&bus)
            .targets(target)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put targets on {bus}: {e:?}"));
        assert_eq!(out.failed_entry_count(), 0, "{out:?}");
    });
    seed_the_requested_payment(&fx);
    let wake = sample_event("publish-events");
    let bus_env = [("EVENT_BUS_NAME", bus.as_str())];
    fx.run("publish-events", &bus_env, std::slice::from_ref(&wake));
    let messages = sqs.receive_all(&queue);
    let [message] = messages.as_slice() else {
        panic!("the rule queues the PaymentRequested alone, found {messages:#?}");
    };
    let body = message["Body"]
        .as_str()
        .unwrap_or_else(|| panic!("a message without a body: {message}"));
    let mut record = sample_event("request-provider-actions")["Records"][0].clone();
    record["messageId"] = message["MessageId"].clone();
    record["body"] = json!(body);
    if let Some(r) = record.as_object_mut() {
        r.remove("md5OfBody");
    }
    let provider = ProviderStub::start(201, checkout_answer());
    let raws = fx.run(
        "request-provider-actions",
        &[
            ("PROVIDER_URL_CARD", provider.url.as_str()),
            ("PROVIDER_KEY_CARD", CARD_KEY),
        ],
        &[json!({"Records": [record]})],
    );
    assert_eq!(raws[0], json!({"batchItemFailures": []}));
    assert_eq!(provider.calls().len(), 1);
    assert_eq!(
        stored_payment(&fx).provider_reference.as_deref(),
        Some("ch_1")
    );
    // The answer's own event reaches the bus, and the rule leaves it.
    fx.run("publish-events", &bus_env, &[wake]);
    assert!(
        sqs.receive_all(&queue).is_empty(),
        "PaymentRequestAccepted must not come back to the step"
    );
}

/// The provider-action step's sample event: an SQS batch as Lambda hands
/// it over from the queue the bus rule fills, each record's body an
/// EventBridge event of this service (source, detail-type) carrying a
/// provider request as its detail, and no message attributes (EventBridge
/// sets none).
fn check_provider_queue_sample(function: &str) {
    let ev = sample_event(function);
    let records = ev["Records"]
        .as_array()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| panic!("{function}: an SQS event has Records"));
    for r in records {
        for field in ["messageId", "receiptHandle", "awsRegion"] {
            assert!(
                r[field].as_str().is_some_and(|v| !v.is_empty()),
                "{function}: {field}"
            );
        }
        assert_eq!(r["eventSource"], "aws:sqs", "{function}: eventSource");
        assert!(
            r["eventSourceARN"]
                .as_str()
                .is_some_and(|a| a.starts_with("arn:aws:sqs:")),
            "{function}: eventSourceARN"
        );
        assert!(
            r["attributes"]["ApproximateReceiveCount"].is_string(),
            "{function}: attributes.ApproximateReceiveCount"
        );
        assert!(
            r["messageAttributes"]
                .as_object()
                .is_some_and(|a| a.is_empty()),
            "{function}: EventBridge sets no message attributes"
        );
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{function}: the body is not JSON: {e}"));
        assert_eq!(body["source"], SOURCE, "{function}: source");
        for field in ["version", "id", "account", "region", "time"] {
            assert!(
                body[field].as_str().is_some_and(|v| !v.is_empty()),
                "{function}: the envelope's {field}"
            );
        }
        let event: DomainEvent = serde_json::from_value(body["detail"].clone())
            .unwrap_or_else(|e| panic!("{function}: detail is no DomainEvent: {e}"));
        assert_eq!(
            body["detail-type"],
            event.body.detail_type(),
            "{function}: detail-type"
        );
        assert!(
            ["PaymentRequested", "RefundRequested"].contains(&event.body.detail_type()),
            "{function}: a provider request, not {}",
            event.body.detail_type()
        );
    }
}
