//! End to end over HTTP against the local stack, as clients use it: the
//! built `local-stack` binary started on a free port (`spawn_app`), driven
//! with plain HTTP/1.1 requests, tokens minted for the emulated JWT
//! authorizer.
//!
//! The binary comes from `cargo build --workspace --bins` (or
//! `cargo build -p local-stack`) in `$CARGO_TARGET_DIR/debug/` (default:
//! the workspace's `target/`). A missing binary fails the test with that
//! instruction; nothing is skipped.
//!
//! The scenarios that touch the backend run twice: on the embedded backend
//! (`spawn_app`) and in AWS-endpoint mode on the test process's moto server
//! with a table, bus and payment queue of their own (`spawn_app_on_moto`,
//! the `…_on_moto` tests), which also read the table and the bus back. If
//! moto cannot be started those tests fail; they never skip.
//!
//! The payment scenarios go the whole way a provider's confirmation goes:
//! the provider simulator (`POST /_local/providers/{provider}/events`) signs
//! and delivers to the webhook route, which queues (in process, or on SQS);
//! the consumer applies; the simulator answers once it has. Those stacks
//! run with `PROVIDER_SANDBOX=manual`, so that nothing but the test's own
//! deliveries moves a payment. The sandbox scenarios (`spawn_app_with_sandbox`,
//! `make demo`) run as `make run` does, `PROVIDER_SANDBOX=auto`: the
//! provider-action step asks the stack's sandbox provider through the
//! provider adapter, and the sandbox confirms by signed webhook as the test
//! advances business time — no hand-made webhook.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::ports::{LoadRequest, OrderStore, Outbox};
use aws_adapters::dynamodb::DynamoStore;
use chrono::{DateTime, Days, NaiveDate, Utc};
use domain::ids::OrderId;
use local_stack::jwt::{JwtConfig, sign_claims};
use serde_json::{Value, json};
use test_kit::moto::{MotoServer, sdk_config};
use test_kit::store_contract::unique;
use tests::repo_root;

/// The stack under test signs with this, not the default secret.
const SECRET: &str = "e2e-local-secret";
/// Every provider's webhook secret in the stack under test (the default).
const WEBHOOK_SECRET: &str = "whsec_bG9jYWwtd2ViaG9vay1zZWNyZXQ=";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

// ---- the stack ------------------------------------------------------------------

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

fn binary() -> PathBuf {
    let path = target_dir().join("debug").join("local-stack");
    assert!(
        path.is_file(),
        "local-stack binary {} not found: run `cargo build --workspace --bins` (or \
         `cargo build -p local-stack`) first (binaries are looked up in \
         $CARGO_TARGET_DIR/debug, else the workspace's target/debug)",
        path.display()
    );
    path
}

/// A running stack; killed when dropped.
struct App {
    child: Child,
    port: u16,
    /// What the stack wrote after its first line, for failure messages.
    output: Arc<Mutex<String>>,
    /// In AWS-endpoint mode: where its table and bus are.
    aws: Option<AwsTarget>,
}

/// The endpoint, table, bus and payment queue of a stack in AWS-endpoint
/// mode.
#[derive(Debug, Clone)]
struct AwsTarget {
    endpoint: String,
    table: String,
    bus: String,
    queue: String,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keep(output: &Arc<Mutex<String>>, line: &str) {
    let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
    if out.len() < 256 * 1024 {
        out.push_str(line);
        out.push('\n');
    }
}

/// Start the stack on the embedded backend, the sandbox provider off
/// (`PROVIDER_SANDBOX=manual`: the test delivers every webhook).
fn spawn_app() -> App {
    spawn(None, "manual")
}

/// Start the stack in AWS-endpoint mode on the shared moto server, with a
/// table, a bus and a payment queue of its own; the sandbox off.
fn spawn_app_on_moto() -> App {
    spawn(Some(moto_target_fresh()), "manual")
}

/// The embedded stack as `make run` starts it: the sandbox provider on.
fn spawn_app_with_sandbox() -> App {
    spawn(None, "auto")
}

/// AWS-endpoint mode on moto with the sandbox provider on.
fn spawn_app_on_moto_with_sandbox() -> App {
    spawn(Some(moto_target_fresh()), "auto")
}

fn moto_target_fresh() -> AwsTarget {
    let moto = MotoServer::shared();
    AwsTarget {
        endpoint: moto.endpoint.clone(),
        table: unique("ta-e2e-"),
        bus: unique("ta-e2e-bus-"),
        queue: unique("ta-e2e-payments-"),
    }
}

/// Start the stack on a free port (`PORT=0`) with `PROVIDER_SANDBOX=sandbox`
/// and wait for the port it reports on its first stdout line.
fn spawn(aws: Option<AwsTarget>, sandbox: &str) -> App {
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .env("PORT", "0")
        .env("PROVIDER_SANDBOX", sandbox)
        .env("LOCAL_JWT_SECRET", SECRET)
        .env_remove("LOCAL_JWT_ISSUER")
        .env_remove("LOCAL_JWT_AUDIENCE")
        .env("RUST_LOG", "warn")
        // Nothing here may reach real AWS or instance metadata.
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Every provider signs with the default webhook secret.
        .env_remove("WEBHOOK_SECRET_ECHECK")
        .env_remove("WEBHOOK_SECRET_CARD")
        .env_remove("WEBHOOK_SECRET_BANK")
        .env_remove("WEBHOOK_SECRET_PAYLATER")
        .env_remove("PAYMENT_DLQ_NAME")
        .env_remove("PAYMENT_QUEUE_WAIT_SECONDS")
        // The sandbox provider's own URLs and keys.
        .env_remove("PROVIDER_URL_ECHECK")
        .env_remove("PROVIDER_URL_CARD")
        .env_remove("PROVIDER_URL_BANK")
        .env_remove("PROVIDER_URL_PAYLATER")
        .env_remove("PROVIDER_KEY_ECHECK")
        .env_remove("PROVIDER_KEY_CARD")
        .env_remove("PROVIDER_KEY_BANK")
        .env_remove("PROVIDER_KEY_PAYLATER")
        // Sweeps run when a test asks (`POST /_local/schedules/run`), never
        // behind its back; dispute deadlines are the defaults.
        .env("SCHEDULE_INTERVAL_SECONDS", "0")
        .env_remove("DISPUTE_SUPPLIER_RESPONSE_DAYS")
        .env_remove("DISPUTE_RESOLUTION_DAYS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &aws {
        Some(target) => command
            .env("AWS_ENDPOINT_URL", &target.endpoint)
            .env("TABLE_NAME", &target.table)
            .env("EVENT_BUS_NAME", &target.bus)
            .env("PAYMENT_QUEUE_NAME", &target.queue),
        None => command
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("TABLE_NAME")
            .env_remove("EVENT_BUS_NAME")
            .env_remove("PAYMENT_QUEUE_NAME"),
    };
    let mut child = command.spawn().expect("start local-stack");
    let output = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (first_tx, first_rx) = mpsc::channel::<String>();
    {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = first_tx.send(first);
            }
            for line in lines.map_while(Result::ok) {
                keep(&output, &line);
            }
        });
    }
    {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep(&output, &line);
            }
        });
    }
    let mut app = App {
        child,
        port: 0,
        output,
        aws,
    };
    let first = first_rx.recv_timeout(STARTUP_TIMEOUT).unwrap_or_else(|e| {
        panic!(
            "local-stack printed no first line within {STARTUP_TIMEOUT:?} ({e}); \
             exit status {:?}; output:\n{}",
            app.child.try_wait(),
            app.output()
        )
    });
    let port = first
        .strip_prefix("listening on http://127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    assert_ne!(port, 0);
    app.port = port;
    // The banner names the backend in use.
    let banner = wait_for_output(&app, "Ctrl-C");
    match &app.aws {
        Some(t) => {
            for part in [&t.endpoint, &t.table, &t.bus, &t.queue] {
                assert!(banner.contains(part.as_str()), "{part} in:\n{banner}");
            }
        }
        None => assert!(banner.contains("backend   embedded"), "{banner}"),
    }
    assert!(
        banner.contains(&format!("providers sandbox {sandbox}")),
        "{banner}"
    );
    app
}

/// The output so far once it holds `needle` (the banner ends with
/// "stop      Ctrl-C").
fn wait_for_output(app: &App, needle: &str) -> String {
    let deadline = std::time::Instant::now() + STARTUP_TIMEOUT;
    loop {
        let out = app.output();
        if out.contains(needle) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} from the stack within {STARTUP_TIMEOUT:?}; output:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- a small HTTP/1.1 client ----------------------------------------------------

#[derive(Debug)]
struct Reply {
    status: u16,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// Assert the status and a JSON body; the body.
    #[track_caller]
    fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/json") || ct.starts_with("application/problem+json"),
            "content-type {ct:?}"
        );
        self.json()
    }
}

impl App {
    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("connect to the stack: {e}; output:\n{}", self.output()));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\nconnection: close\r\n\
             content-length: {}\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(body).expect("write body");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("read the answer to {method} {path}: {e}"));
        parse_reply(&raw)
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        let body = body.map(Value::to_string).unwrap_or_default();
        self.send(method, path, &headers, body.as_bytes())
    }

    fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call("GET", path, token, None)
    }

    fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call("POST", path, token, Some(body))
    }

    fn events(&self, order_id: &str) -> Vec<Value> {
        let r = self.get(&format!("/_local/events?order_id={order_id}"), None);
        r.expect(200)["items"].as_array().expect("items").clone()
    }

    fn advance(&self, seconds: i64) -> Value {
        self.post(
            "/_local/clock/advance",
            None,
            &json!({ "seconds": seconds }),
        )
        .expect(200)
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = &raw[split + 4..];
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body = &body[..len.min(body.len())];
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    }
}

// ---- tokens and bodies ------------------------------------------------------------

fn now_secs() -> i64 {
    Utc::now().timestamp()
}

fn config() -> JwtConfig {
    JwtConfig::new(SECRET)
}

fn token_with(claims: Value) -> String {
    sign_claims(&config(), &claims).expect("sign")
}

/// A token valid for an hour of real time.
fn token(sub: &str, role: &str) -> String {
    token_with(json!({"sub": sub, "cognito:groups": [role], "exp": now_secs() + 3600}))
}

/// Real today plus `days`.
fn date_in(days: u64) -> NaiveDate {
    Utc::now()
        .date_naive()
        .checked_add_days(Days::new(days))
        .expect("date")
}

fn order_body(ship_by: NaiveDate) -> Value {
    json!({"supplier_id": "sup-1",
        "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
        "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
        "ship_by": ship_by.to_string(), "quality_terms": "IP65, 3 year warranty",
        "destination_country": "US", "coverage": "pre_shipment",
        "inspection": {"agency": "SGS", "location": "china"}})
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not an RFC 3339 instant: {v}"))
}

fn create_order(app: &App, buyer: &str, ship_by: NaiveDate) -> Value {
    app.post("/v1/orders", Some(buyer), &order_body(ship_by))
        .expect(201)
}

fn detail_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["detail-type"].as_str().expect("detail-type").to_owned())
        .collect()
}

#[track_caller]
fn assert_gateway_401(r: &Reply) {
    assert_eq!(r.status, 401, "body: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), json!({"message": "Unauthorized"}));
}

// ---- tests ----------------------------------------------------------------------

#[test]
fn health_and_local_endpoints_answer_without_a_token() {
    let app = spawn_app();
    let r = app.get("/health", None);
    assert_eq!(r.expect(200), json!({"status": "ok"}));
    assert!(r.header("apigw-requestid").is_some());

    let clock = app.get("/_local/clock", None).expect(200);
    assert_eq!(clock["offset_seconds"], 0);
    let drift = (instant(&clock["now"]) - Utc::now()).num_seconds().abs();
    assert!(drift < 60, "business time {clock} is the real time");
    assert_eq!(
        app.get("/_local/events", None).expect(200),
        json!({"items": []})
    );

    // The OpenAPI document of the real routes, without a token.
    let doc = app.get("/openapi.json", None).expect(200);
    assert_eq!(doc["openapi"], "3.1.0");
    for route in http_api::routes::ROUTES.iter() {
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is documented",
            route.method,
            route.path
        );
    }

    // The payment queue's dead letters; the provider simulator takes POST.
    assert_eq!(
        app.get("/_local/dlq", None).expect(200),
        json!({"items": []})
    );
    let r = app.get("/_local/providers/card/events", None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    // The webhook route needs no token: an unsigned delivery reaches the
    // webhook handler, which refuses it itself (problem+json), not the
    // authorizer; an unknown provider is its 404.
    let r = app.post(
        "/v1/webhooks/card",
        None,
        &json!({"type": "payment.succeeded"}),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let r = app.post("/v1/webhooks/cash", None, &json!({}));
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));

    // Unknown routes answer as API Gateway does, token or not.
    for path in ["/v2/orders", "/v1/orders/", "/_local/nothing", "/"] {
        let r = app.get(path, None);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.json(), json!({"message": "Not Found"}), "{path}");
    }
    let r = app.call(
        "DELETE",
        "/v1/orders",
        Some(&token("buyer-1", "buyer")),
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"message": "Not Found"}));
}

#[test]
fn v1_routes_refuse_missing_bad_and_expired_tokens() {
    let app = spawn_app();
    let now = now_secs();
    let good = json!({"sub": "buyer-1", "cognito:groups": ["buyer"], "exp": now + 3600});
    let default_secret = sign_claims(&JwtConfig::new("local-dev-secret"), &good).expect("sign");
    let expired =
        token_with(json!({"sub": "buyer-1", "cognito:groups": ["buyer"], "exp": now - 5}));
    let no_exp = token_with(json!({"sub": "buyer-1", "cognito:groups": ["buyer"]}));
    let valid = token_with(good.clone());
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        let other =
            token_with(json!({"sub": "arb-1", "cognito:groups": ["arbiter"], "exp": now + 3600}));
        let payload = other.split('.').nth(1).expect("payload").to_owned();
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let unsigned = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(good.to_string())
        )
    };

    let r = app.get("/v1/orders", None);
    assert_gateway_401(&r);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    for (what, t) in [
        ("garbage", "not-a-jwt"),
        ("signed with another secret", default_secret.as_str()),
        ("expired", expired.as_str()),
        ("without exp", no_exp.as_str()),
        ("tampered payload", tampered.as_str()),
        ("alg none", unsigned.as_str()),
    ] {
        let r = app.get("/v1/orders", Some(t));
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        assert_gateway_401(&r);
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.contains("invalid_token")),
            "{what}: {:?}",
            r.headers
        );
        // A write is refused the same way, before anything happens.
        let r = app.post("/v1/orders", Some(t), &order_body(date_in(30)));
        assert_gateway_401(&r);
    }
    let r = app.send(
        "GET",
        "/v1/orders",
        &[("authorization", "Basic dXNlcjpwYXNz")],
        b"",
    );
    assert_gateway_401(&r);
    assert!(
        app.get("/_local/events", None).expect(200)["items"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    // The same claims, correctly signed, pass; the handlers' own checks
    // (here: a body over 64 KiB) come after the authorizer.
    let big = vec![b' '; 64 * 1024 + 1];
    let auth = format!("Bearer {valid}");
    let r = app.send("POST", "/v1/orders", &[("authorization", &auth)], &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let r = app.send("POST", "/v1/orders", &[], &big);
    assert_gateway_401(&r);
    assert_eq!(
        app.get("/v1/orders", Some(&valid)).expect(200),
        json!({"items": []})
    );
}

#[test]
fn a_token_minted_by_the_cli_is_accepted() {
    let app = spawn_app();
    let out = Command::new(binary())
        .args(["token", "--sub", "sup-1", "--role", "supplier,buyer"])
        .args(["--ttl-seconds", "600"])
        .env("LOCAL_JWT_SECRET", SECRET)
        .env_remove("LOCAL_JWT_ISSUER")
        .env_remove("LOCAL_JWT_AUDIENCE")
        .output()
        .expect("run local-stack token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted = String::from_utf8(out.stdout).expect("utf-8");
    let minted = minted.trim();
    assert_eq!(minted.split('.').count(), 3, "{minted}");
    assert_eq!(
        app.get("/v1/orders", Some(minted)).expect(200),
        json!({"items": []})
    );
    // Both roles came through: the supplier may read its own limit.
    app.get("/v1/suppliers/sup-1/assurance-limit", Some(minted))
        .expect(404);

    let bad = Command::new(binary())
        .args(["token", "--sub", "sup-1", "--role", "admin"])
        .output()
        .expect("run local-stack token");
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
}

fn order_lifecycle(app: &App) -> String {
    let buyer = token("buyer-1", "buyer");
    let supplier = token("sup-1", "supplier");
    let arbiter = token("arb-1", "arbiter");

    let limit = app
        .call(
            "PUT",
            "/v1/suppliers/sup-1/assurance-limit",
            Some(&arbiter),
            Some(&json!({"limit": "50000.00"})),
        )
        .expect(200);
    assert_eq!(limit["available"]["amount"], "50000.00");

    let order = create_order(app, &buyer, date_in(60));
    let id = order["id"].as_str().expect("id").to_owned();
    assert_eq!(order["status"], "awaiting_confirmation");

    // The supplier reads the order and confirms the version it saw.
    let seen = app
        .get(&format!("/v1/orders/{id}"), Some(&supplier))
        .expect(200);
    let version = seen["version"].as_u64().expect("version");
    let stale = app.post(
        &format!("/v1/orders/{id}/confirm"),
        Some(&supplier),
        &json!({ "version": version + 1 }),
    );
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert_eq!(
        stale.header("content-type"),
        Some("application/problem+json")
    );
    let confirmed = app
        .post(
            &format!("/v1/orders/{id}/confirm"),
            Some(&supplier),
            &json!({ "version": version }),
        )
        .expect(200);
    assert_eq!(confirmed["status"], "awaiting_initial_payment");
    let covered = confirmed["coverage"]["covered_amount"]["amount"].clone();
    assert!(covered.is_string(), "{confirmed}");
    let limit = app
        .get("/v1/suppliers/sup-1/assurance-limit", Some(&supplier))
        .expect(200);
    assert_eq!(limit["reserved"]["amount"], covered);

    // Every event of the order was published, oldest first, exactly as
    // its history tells it.
    let events = app.events(&id);
    let types = detail_types(&events);
    assert_eq!(types.first().map(String::as_str), Some("OrderCreated"));
    assert!(types.iter().any(|t| t == "OrderConfirmed"), "{types:?}");
    assert!(types.iter().any(|t| t == "CoverageReserved"), "{types:?}");
    let history = app
        .get(&format!("/v1/orders/{id}/history"), Some(&buyer))
        .expect(200);
    let told: Vec<String> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["event"].as_str().expect("event").to_owned())
        .collect();
    assert_eq!(types, told);
    for e in &events {
        assert_eq!(e["source"], "trade-assurance");
        assert_eq!(e["detail"]["order_id"], id.as_str());
        assert_eq!(e["time"], e["detail"]["at"]);
    }
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| instant(&e["time"])).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // Another order's events are listed apart; the full list has both.
    let other = create_order(app, &buyer, date_in(60));
    let other_id = other["id"].as_str().expect("id");
    assert_eq!(detail_types(&app.events(other_id)), ["OrderCreated"]);
    let all = app.get("/_local/events", None).expect(200);
    assert_eq!(
        all["items"].as_array().map(Vec::len),
        Some(events.len() + 1)
    );
    // A refused request published nothing more.
    assert_eq!(app.events(&id).len(), events.len());
    id
}

#[test]
fn an_order_is_created_and_confirmed_and_its_events_are_published() {
    order_lifecycle(&spawn_app());
}

#[test]
fn an_order_is_created_and_confirmed_and_its_events_are_published_on_moto() {
    let app = spawn_app_on_moto();
    let id = order_lifecycle(&app);
    let orders = assert_aws_backend_holds_what_was_published(&app);
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert_eq!(
        orders
            .iter()
            .find(|(o, _)| *o == id)
            .map(|(_, s)| s.as_str()),
        Some("awaiting_initial_payment")
    );
}

fn concurrent_writes(app: &App) -> Vec<String> {
    let buyer = token("buyer-1", "buyer");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    create_order(app, &buyer, date_in(60))["id"]
                        .as_str()
                        .expect("id")
                        .to_owned()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let all = app.get("/_local/events", None).expect(200);
    let items = all["items"].as_array().expect("items");
    assert_eq!(items.len(), ids.len(), "{all}");
    for id in &ids {
        assert_eq!(detail_types(&app.events(id)), ["OrderCreated"], "{id}");
    }
    ids
}

#[test]
fn concurrent_writes_publish_each_event_once() {
    concurrent_writes(&spawn_app());
}

#[test]
fn concurrent_writes_publish_each_event_once_on_moto() {
    let app = spawn_app_on_moto();
    let ids = concurrent_writes(&app);
    let orders = assert_aws_backend_holds_what_was_published(&app);
    assert_eq!(orders.len(), ids.len());
}

fn time_travel(app: &App) -> String {
    // Valid for two minutes of real time only: long past in business time
    // after the jump, and still accepted.
    let buyer =
        token_with(json!({"sub": "buyer-1", "cognito:groups": ["buyer"], "exp": now_secs() + 120}));

    let first = create_order(app, &buyer, date_in(400));
    const TEN_DAYS: i64 = 10 * 24 * 3600;
    let moved = app.advance(TEN_DAYS);
    assert_eq!(moved["offset_seconds"], TEN_DAYS);
    let ahead = (instant(&moved["now"]) - Utc::now()).num_seconds();
    assert!((TEN_DAYS - 60..=TEN_DAYS).contains(&ahead), "{moved}");
    assert_eq!(
        app.get("/_local/clock", None).expect(200)["offset_seconds"],
        TEN_DAYS
    );

    let second = create_order(app, &buyer, date_in(400));
    let apart = instant(&second["created_at"]) - instant(&first["created_at"]);
    assert!(
        (TEN_DAYS..TEN_DAYS + 60).contains(&apart.num_seconds()),
        "created {} then {}",
        first["created_at"],
        second["created_at"]
    );
    // History and events carry business time too.
    let id = second["id"].as_str().expect("id");
    let events = app.events(id);
    assert_eq!(events[0]["time"], second["created_at"]);

    // A year later the same token still works: expiry is on the real clock.
    app.advance(366 * 24 * 3600);
    app.get(&format!("/v1/orders/{id}"), Some(&buyer))
        .expect(200);
    let total = app.get("/_local/clock", None).expect(200);
    assert_eq!(total["offset_seconds"], TEN_DAYS + 366 * 24 * 3600);
    second["created_at"]
        .as_str()
        .expect("created_at")
        .to_owned()
}

#[test]
fn time_travel_moves_business_time_and_tokens_keep_working() {
    time_travel(&spawn_app());
}

#[test]
fn time_travel_moves_business_time_and_tokens_keep_working_on_moto() {
    let app = spawn_app_on_moto();
    let created_at = time_travel(&app);
    let orders = assert_aws_backend_holds_what_was_published(&app);
    assert_eq!(orders.len(), 2);
    // The table keeps the travelled business time.
    let rt = runtime();
    let config = rt.block_on(sdk_config(&moto_target(&app).endpoint));
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        moto_target(&app).table.as_str(),
    );
    let stored: Vec<String> = orders
        .iter()
        .map(|(id, _)| {
            let order = load(&rt, &store, id);
            serde_json::to_value(&order).expect("order JSON")["created_at"]
                .as_str()
                .expect("created_at")
                .to_owned()
        })
        .collect();
    assert!(stored.contains(&created_at), "{stored:?} has {created_at}");
}

fn ship_by_in_travelled_past(app: &App) {
    let buyer = token("buyer-1", "buyer");
    // In ten days by the real calendar: fine now.
    create_order(app, &buyer, date_in(10));
    app.advance(30 * 24 * 3600);
    let r = app.post("/v1/orders", Some(&buyer), &order_body(date_in(10)));
    let problem = r.expect(422);
    assert_eq!(
        problem["type"],
        "https://trade-assurance.dev/problems/ship-by-in-past"
    );
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    // Forty days out by the real calendar is ten days ahead of business time.
    create_order(app, &buyer, date_in(40));
}

#[test]
fn a_ship_by_date_in_the_past_of_travelled_time_is_refused() {
    ship_by_in_travelled_past(&spawn_app());
}

#[test]
fn a_ship_by_date_in_the_past_of_travelled_time_is_refused_on_moto() {
    let app = spawn_app_on_moto();
    ship_by_in_travelled_past(&app);
    assert_eq!(assert_aws_backend_holds_what_was_published(&app).len(), 2);
}

#[test]
fn clock_advance_takes_strict_json_and_a_positive_whole_number() {
    let app = spawn_app();
    for body in [
        r#"{"seconds": 0}"#,
        r#"{"seconds": -60}"#,
        r#"{"seconds": 1.5}"#,
        r#"{"seconds": "60"}"#,
        r#"{"seconds": 60, "minutes": 1}"#,
        r#"{}"#,
        "",
        "seconds=60",
        r#"{"seconds": 99999999999999}"#,
    ] {
        let r = app.send(
            "POST",
            "/_local/clock/advance",
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        let problem = r.expect(400);
        assert_eq!(problem["status"], 400, "{body}");
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{body}"
        );
    }
    assert_eq!(
        app.get("/_local/clock", None).expect(200)["offset_seconds"],
        0
    );
    let r = app.get("/_local/clock/advance", None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(app.advance(60)["offset_seconds"], 60);
}

// ---- payments: provider webhooks through the simulator and the queue ------------

impl App {
    /// The provider simulator: sign `body` as `provider`, deliver it to the
    /// webhook route (with this `webhook-id`, or a fresh one), answer once
    /// the consumer has handled it.
    fn simulate(&self, provider: &str, body: &Value, webhook_id: Option<&str>) -> Reply {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(id) = webhook_id {
            headers.push(("webhook-id", id));
        }
        self.send(
            "POST",
            &format!("/_local/providers/{provider}/events"),
            &headers,
            body.to_string().as_bytes(),
        )
    }

    /// A delivery the webhook accepts and the consumer acknowledges; the
    /// simulator's answer.
    #[track_caller]
    fn deliver(&self, provider: &str, body: &Value, webhook_id: Option<&str>) -> Value {
        let r = self.simulate(provider, body, webhook_id);
        let answer = r.expect(202);
        assert_eq!(answer["status"], "accepted", "{answer}");
        assert_eq!(answer["consumer"], "acknowledged", "{answer}");
        let id = answer["webhook_id"].as_str().expect("webhook_id");
        assert_eq!(r.header("webhook-id"), Some(id));
        if let Some(given) = webhook_id {
            assert_eq!(id, given);
        }
        answer
    }

    fn order(&self, token: &str, id: &str) -> Value {
        self.get(&format!("/v1/orders/{id}"), Some(token))
            .expect(200)
    }

    /// The order's history, by event name.
    fn history(&self, token: &str, id: &str) -> Vec<String> {
        self.get(&format!("/v1/orders/{id}/history"), Some(token))
            .expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|h| h["event"].as_str().expect("event").to_owned())
            .collect()
    }

    fn pay(&self, token: &str, id: &str, body: &Value) -> Value {
        self.post(&format!("/v1/orders/{id}/payments"), Some(token), body)
            .expect(201)
    }

    fn dead_letters(&self) -> Vec<Value> {
        self.get("/_local/dlq", None).expect(200)["items"]
            .as_array()
            .expect("items")
            .clone()
    }
}

/// The parties of a payment scenario.
struct Parties {
    buyer: String,
    supplier: String,
    arbiter: String,
}

fn parties() -> Parties {
    Parties {
        buyer: token("buyer-1", "buyer"),
        supplier: token("sup-1", "supplier"),
        arbiter: token("arb-1", "arbiter"),
    }
}

/// An order of sup-1 (limit set, with `limit_body`) confirmed by the
/// supplier: awaiting its initial payment.
fn confirmed_order(app: &App, p: &Parties, limit_body: &Value) -> String {
    app.call(
        "PUT",
        "/v1/suppliers/sup-1/assurance-limit",
        Some(&p.arbiter),
        Some(limit_body),
    )
    .expect(200);
    let order = create_order(app, &p.buyer, date_in(60));
    let id = order["id"].as_str().expect("id").to_owned();
    let confirmed = app
        .post(
            &format!("/v1/orders/{id}/confirm"),
            Some(&p.supplier),
            &json!({ "version": order["version"] }),
        )
        .expect(200);
    assert_eq!(confirmed["status"], "awaiting_initial_payment");
    id
}

/// A provider's `payment.{kind}` webhook body for `payment`; `amount`
/// defaults to what the payment asked for.
fn payment_event(kind: &str, order_id: &str, payment: &Value, amount: Option<&str>) -> Value {
    let asked = payment["amount"]["amount"].as_str().expect("amount");
    json!({"type": format!("payment.{kind}"), "data": {
        "payment_id": payment["id"], "order_id": order_id,
        "amount": amount.unwrap_or(asked), "currency": "USD",
        "provider_reference": "ch_e2e"}})
}

fn payment_in<'a>(order: &'a Value, payment: &Value) -> &'a Value {
    order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .find(|p| p["id"] == payment["id"])
        .unwrap_or_else(|| panic!("payment {} in {order}", payment["id"]))
}

fn count(events: &[String], name: &str) -> usize {
    events.iter().filter(|e| *e == name).count()
}

/// A webhook signed as a provider would, straight to the webhook route.
fn signed_webhook(app: &App, provider: &str, secret: &str, at: i64, body: &Value) -> Reply {
    let secret = ::app::provider_events::WebhookSecret::parse(secret).expect("secret");
    let id = unique("msg_");
    let body = body.to_string();
    let signature = ::app::provider_events::sign(&secret, &id, at, body.as_bytes());
    let at = at.to_string();
    app.send(
        "POST",
        &format!("/v1/webhooks/{provider}"),
        &[
            ("content-type", "application/json"),
            ("webhook-id", &id),
            ("webhook-timestamp", &at),
            ("webhook-signature", &signature),
        ],
        body.as_bytes(),
    )
}

fn card_payment_confirmed_by_webhook(app: &App) -> String {
    let p = parties();
    let id = confirmed_order(app, &p, &json!({"limit": "50000.00"}));
    let payment = app.pay(
        &p.buyer,
        &id,
        &json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
    );
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["method"], "credit_card");
    assert_eq!(
        app.order(&p.buyer, &id)["status"],
        "initial_payment_processing"
    );

    // Refused deliveries queue nothing: a wrong secret, a stale timestamp
    // (transport time: the real clock), an unknown provider.
    let confirmation = payment_event("succeeded", &id, &payment, None);
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let r = signed_webhook(app, "card", other, now_secs(), &confirmation);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let r = signed_webhook(app, "card", WEBHOOK_SECRET, now_secs() - 600, &confirmation);
    assert_eq!(r.status, 401, "{}", r.body);
    let r = app.post("/v1/webhooks/card", None, &confirmation);
    assert_eq!(r.status, 401, "unsigned: {}", r.body);
    let r = signed_webhook(app, "cash", WEBHOOK_SECRET, now_secs(), &confirmation);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(app.simulate("cash", &confirmation, None).status, 404);
    // Signed, but not an event: 400 from the webhook, through the simulator.
    let r = app.simulate("card", &json!({"type": "payment.won"}), None);
    assert_eq!(r.expect(400)["status"], 400);
    assert!(r.header("webhook-id").is_some());
    assert_eq!(
        app.order(&p.buyer, &id)["status"],
        "initial_payment_processing",
        "nothing refused was applied"
    );

    // Business time travels; the signature still checks the real clock,
    // and the payment settles in business time.
    let travelled = app.advance(24 * 3600);
    let first = app.deliver("card", &confirmation, None);
    let order = app.order(&p.buyer, &id);
    assert_eq!(order["status"], "awaiting_shipment");
    let settled = payment_in(&order, &payment);
    assert_eq!(settled["status"], "succeeded");
    assert_eq!(settled["flagged"], false);
    assert!(
        instant(&settled["settled_at"]) >= instant(&travelled["now"]),
        "{settled}"
    );

    // The provider retries the same delivery: acknowledged, one effect.
    let webhook_id = first["webhook_id"].as_str().expect("webhook_id");
    app.deliver("card", &confirmation, Some(webhook_id));
    let history = app.history(&p.buyer, &id);
    assert_eq!(count(&history, "PaymentSucceeded"), 1, "{history:?}");
    assert_eq!(app.order(&p.buyer, &id)["version"], order["version"]);
    let published = detail_types(&app.events(&id));
    assert_eq!(published, history, "what was applied was published");
    assert!(app.dead_letters().is_empty());
    id
}

#[test]
fn a_card_payment_confirmed_by_webhook_moves_the_order_on_once() {
    card_payment_confirmed_by_webhook(&spawn_app());
}

#[test]
fn a_card_payment_confirmed_by_webhook_moves_the_order_on_once_on_moto() {
    let app = spawn_app_on_moto();
    let id = card_payment_confirmed_by_webhook(&app);
    let orders = assert_aws_backend_holds_what_was_published(&app);
    assert_eq!(
        orders
            .iter()
            .find(|(o, _)| *o == id)
            .map(|(_, s)| s.as_str()),
        Some("awaiting_shipment")
    );
}

fn mismatched_confirmation_resolved_by_an_arbiter(app: &App) {
    let p = parties();
    let id = confirmed_order(app, &p, &json!({"limit": "50000.00"}));
    let payment = app.pay(
        &p.buyer,
        &id,
        &json!({"stage": "initial", "method": "credit_card", "card_brand": "mastercard"}),
    );
    // The provider confirms a cent less than was asked: flagged, not applied.
    let asked = payment["amount"]["amount"]
        .as_str()
        .and_then(|a| domain::Usd::parse(a).ok())
        .expect("amount");
    let less = asked
        .checked_sub(domain::Usd::from_cents(1).expect("a cent"))
        .expect("more than a cent")
        .to_string();
    app.deliver(
        "card",
        &payment_event("succeeded", &id, &payment, Some(&less)),
        None,
    );
    let order = app.order(&p.buyer, &id);
    assert_eq!(order["status"], "initial_payment_processing");
    let flagged = payment_in(&order, &payment);
    assert_eq!(flagged["flagged"], true, "{flagged}");
    assert_eq!(flagged["status"], "processing");
    assert!(flagged["flag"]["reason"].is_string(), "{flagged}");
    assert_eq!(count(&app.history(&p.buyer, &id), "PaymentSucceeded"), 0);

    // Only an arbiter resolves it; accepting it makes it paid.
    let path = format!(
        "/v1/orders/{id}/payments/{}/resolution",
        payment["id"].as_str().expect("id")
    );
    let accept = json!({"resolution": "accept"});
    assert_eq!(app.post(&path, Some(&p.buyer), &accept).status, 403);
    let resolved = app.post(&path, Some(&p.arbiter), &accept).expect(200);
    assert_eq!(resolved["id"], payment["id"]);
    assert_eq!(resolved["status"], "succeeded", "{resolved}");
    let order = app.order(&p.buyer, &id);
    assert_eq!(order["status"], "awaiting_shipment");
    assert_eq!(payment_in(&order, &payment)["status"], "succeeded");
    // Once resolved, there is nothing left to resolve.
    assert_eq!(app.post(&path, Some(&p.arbiter), &accept).status, 409);
}

#[test]
fn a_mismatched_confirmation_is_flagged_until_an_arbiter_accepts_it() {
    mismatched_confirmation_resolved_by_an_arbiter(&spawn_app());
}

#[test]
fn a_mismatched_confirmation_is_flagged_until_an_arbiter_accepts_it_on_moto() {
    let app = spawn_app_on_moto();
    mismatched_confirmation_resolved_by_an_arbiter(&app);
    assert_aws_backend_holds_what_was_published(&app);
}

/// Every flag of `kind` the arbiter sees, all pages.
fn flags(app: &App, arbiter: &str, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = format!("/v1/flags?kind={kind}&limit=2");
    loop {
        let page = app.get(&path, Some(arbiter)).expect(200);
        out.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/flags?kind={kind}&limit=2&cursor={c}"),
            None => return out,
        }
    }
}

fn flags_of(app: &App, arbiter: &str, kind: &str, order: &str) -> Vec<Value> {
    flags(app, arbiter, kind)
        .into_iter()
        .filter(|f| f["order_id"] == order)
        .collect()
}

fn what_needs_an_operator_is_listed_until_resolved(app: &App) {
    let p = parties();
    let id = confirmed_order(app, &p, &json!({"limit": "50000.00"}));
    let payment = app.pay(
        &p.buyer,
        &id,
        &json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
    );
    // Only arbiters list it; an unknown kind is refused.
    assert_eq!(app.get("/v1/flags", Some(&p.buyer)).status, 403);
    assert_eq!(
        app.get("/v1/flags?kind=everything", Some(&p.arbiter))
            .status,
        400
    );

    // A confirmation of another amount: a flagged payment, with its reason.
    let mismatch = app.deliver(
        "card",
        &payment_event("succeeded", &id, &payment, Some("1.00")),
        None,
    );
    // Its event on the bus is correlated with the delivery; the order's
    // creation with the request that made it.
    let events = app.events(&id);
    let flag_event = events
        .iter()
        .find(|e| e["detail-type"] == "PaymentFlagged" || e["type"] == "payment_flagged")
        .unwrap_or_else(|| panic!("a PaymentFlagged event in {events:?}"));
    let detail = if flag_event.get("detail").is_some() {
        &flag_event["detail"]
    } else {
        flag_event
    };
    assert_eq!(
        detail["correlation_id"],
        format!(
            "card:{}",
            mismatch["webhook_id"].as_str().expect("webhook id")
        )
        .as_str(),
        "{flag_event}"
    );
    assert!(
        events
            .iter()
            .all(|e| e.get("detail").unwrap_or(e)["correlation_id"].is_string()),
        "every event carries a correlation id: {events:?}"
    );
    let flagged = flags_of(app, &p.arbiter, "flagged_payment", &id);
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0]["payment_id"], payment["id"]);
    assert_eq!(flagged[0]["reason"], "amount_mismatch");
    assert!(flagged[0]["at"].is_string() && flagged[0]["detail"].is_string());

    // The arbiter returns the money: the flag is gone, a refund part is
    // requested — and every attempt of it fails.
    let path = format!(
        "/v1/orders/{id}/payments/{}/resolution",
        payment["id"].as_str().expect("id")
    );
    app.post(&path, Some(&p.arbiter), &json!({"resolution": "refund"}))
        .expect(200);
    assert!(flags_of(app, &p.arbiter, "flagged_payment", &id).is_empty());
    let order = app.order(&p.buyer, &id);
    let part = order["refunds"][0].clone();
    let refund_id = part["id"].as_str().expect("refund id").to_owned();
    for _ in 0..domain::refund::MAX_REFUND_ATTEMPTS {
        app.deliver(
            "card",
            &json!({"type": "refund.failed", "data": {
                "refund_id": refund_id, "order_id": id, "amount": part["amount"]["amount"]}}),
            None,
        );
    }
    let failed = flags_of(app, &p.arbiter, "failed_refund", &id);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["refund_id"], refund_id.as_str());

    // A verified event naming a payment the order does not have is kept.
    let unknown = json!({"type": "payment.succeeded", "data": {
        "payment_id": "pay_unknown0000000000000000", "order_id": id,
        "amount": "1.00", "currency": "USD"}});
    let delivered = app.deliver("card", &unknown, None);
    let webhook_id = delivered["webhook_id"].as_str().expect("webhook id");
    let refused: Vec<Value> = flags(app, &p.arbiter, "refused_event")
        .into_iter()
        .filter(|f| f["webhook_id"] == webhook_id)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["provider"], "card");
    assert_eq!(refused[0]["reason"], "unknown_payment");
    assert_eq!(refused[0]["event_type"], "payment.succeeded");
    assert_eq!(refused[0]["order_id"], id.as_str());
    let body: Value =
        serde_json::from_str(refused[0]["body"].as_str().expect("body")).expect("JSON body");
    assert_eq!(body, unknown);

    // All kinds together hold both of this order's flags.
    let all: Vec<Value> = flags(app, &p.arbiter, "failed_refund")
        .into_iter()
        .chain(flags(app, &p.arbiter, "refused_event"))
        .collect();
    let mut listed = app.get("/v1/flags?limit=100", Some(&p.arbiter)).expect(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    listed.retain(|f| all.contains(f) && (f["order_id"] == id.as_str()));
    assert_eq!(listed.len(), 2, "{listed:?}");
}

#[test]
fn failed_refunds_and_refused_provider_events_are_listed_for_an_operator() {
    what_needs_an_operator_is_listed_until_resolved(&spawn_app());
}

#[test]
fn failed_refunds_and_refused_provider_events_are_listed_for_an_operator_on_moto() {
    what_needs_an_operator_is_listed_until_resolved(&spawn_app_on_moto());
}

fn wire_transfer(app: &App) {
    let p = parties();
    // Without a receiving account the supplier cannot be paid by wire.
    let id = confirmed_order(app, &p, &json!({"limit": "50000.00"}));
    let tt = json!({"stage": "initial", "method": "telegraphic_transfer"});
    let r = app.post(&format!("/v1/orders/{id}/payments"), Some(&p.buyer), &tt);
    assert_eq!(r.expect(422)["status"], 422);

    let account = json!({"bank_name": "Citibank", "account_name": "Shenzhen LED Co",
        "account_number": "123456789", "swift": "CITIUS33"});
    let id = confirmed_order(
        app,
        &p,
        &json!({"limit": "50000.00", "receiving_account": account}),
    );
    let payment = app.pay(&p.buyer, &id, &tt);
    assert_eq!(payment["method"], "telegraphic_transfer");
    assert_eq!(payment["status"], "processing");
    let instructions = &payment["instructions"];
    for field in ["bank_name", "account_name", "account_number", "swift"] {
        assert_eq!(instructions[field], account[field], "{field}: {payment}");
    }
    let reference = instructions["reference"].as_str().expect("reference");
    assert!(!reference.is_empty());
    assert_eq!(instructions["amount"], payment["amount"]);
    // Another wire gets another reference.
    let other = confirmed_order(
        app,
        &p,
        &json!({"limit": "50000.00", "receiving_account": account}),
    );
    let second = app.pay(&p.buyer, &other, &tt);
    assert_ne!(
        second["instructions"]["reference"],
        instructions["reference"]
    );

    // The bank confirms the wire's arrival.
    app.deliver(
        "bank",
        &payment_event("succeeded", &id, &payment, None),
        None,
    );
    assert_eq!(app.order(&p.buyer, &id)["status"], "awaiting_shipment");
}

#[test]
fn a_wire_transfer_answers_instructions_with_a_reference() {
    wire_transfer(&spawn_app());
}

#[test]
fn a_wire_transfer_answers_instructions_with_a_reference_on_moto() {
    let app = spawn_app_on_moto();
    wire_transfer(&app);
    assert_aws_backend_holds_what_was_published(&app);
}

fn pay_later(app: &App) {
    let p = parties();
    let id = confirmed_order(app, &p, &json!({"limit": "50000.00"}));
    let applied = app
        .post("/v1/credit-line", Some(&p.buyer), &json!({}))
        .expect(201);
    assert_eq!(applied["status"], "pending");
    assert_eq!(applied["buyer_id"], "buyer-1");
    // The lender approves the application by webhook.
    app.deliver(
        "paylater",
        &json!({"type": "credit_line.approved", "data": {
            "buyer_id": "buyer-1", "application_id": applied["application_id"],
            "limit": "10000.00"}}),
        None,
    );
    let line = app.get("/v1/credit-line", Some(&p.buyer)).expect(200);
    assert_eq!(line["status"], "approved", "{line}");
    assert_eq!(line["limit"]["amount"], "10000.00");

    let payment = app.pay(
        &p.buyer,
        &id,
        &json!({"stage": "initial", "method": "pay_later", "term_months": 3}),
    );
    assert_eq!(payment["method"], "pay_later");
    assert_eq!(payment["status"], "awaiting_agreement");
    let line = app.get("/v1/credit-line", Some(&p.buyer)).expect(200);
    assert_eq!(line["reserved"]["amount"], payment["amount"]["amount"]);

    app.deliver(
        "paylater",
        &json!({"type": "loan.agreement_completed", "data": {
            "payment_id": payment["id"], "order_id": id}}),
        None,
    );
    let order = app.order(&p.buyer, &id);
    assert_eq!(payment_in(&order, &payment)["status"], "processing");
    app.deliver(
        "paylater",
        &payment_event("succeeded", &id, &payment, None),
        None,
    );
    let order = app.order(&p.buyer, &id);
    assert_eq!(payment_in(&order, &payment)["status"], "succeeded");
    assert_eq!(order["status"], "awaiting_shipment");
}

#[test]
fn pay_later_runs_from_credit_line_to_arrival() {
    pay_later(&spawn_app());
}

#[test]
fn pay_later_runs_from_credit_line_to_arrival_on_moto() {
    let app = spawn_app_on_moto();
    pay_later(&app);
    assert_aws_backend_holds_what_was_published(&app);
}

/// `make demo` is `python3 tools/demo.py`: it walks an order through every
/// step against a running stack and must complete.
fn demo(app: &App) -> String {
    let root = repo_root();
    let out = std::process::Command::new("python3")
        .arg(root.join("tools/demo.py"))
        .env("TA_URL", format!("http://127.0.0.1:{}", app.port))
        .env("LOCAL_JWT_SECRET", SECRET)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Done:"), "{stdout}");
    // The full lifecycle, with both payments confirmed by the provider.
    for step in [
        "order initial_payment_processing",
        "order awaiting_shipment",
        "order shipped",
        "order balance_payment_processing",
        "order awaiting_receipt_confirmation",
        "order completed",
        "order refunded",
    ] {
        assert!(stdout.contains(step), "{step} in:\n{stdout}");
    }
    // Every confirmation came from the sandbox as the clock moved: none
    // was posted by hand.
    assert!(
        !stdout.contains("/_local/providers/card/events"),
        "{stdout}"
    );
    for delivered in [
        "card payment.succeeded",
        "echeck payment.succeeded",
        "card refund.succeeded",
    ] {
        assert!(stdout.contains(delivered), "{delivered} in:\n{stdout}");
    }
    assert_eq!(app.provider_dead_letters(), Vec::<Value>::new());
    stdout.into_owned()
}

#[test]
fn the_demo_completes_against_a_running_stack() {
    demo(&spawn_app_with_sandbox());
}

#[test]
fn the_demo_completes_against_a_running_stack_on_moto() {
    let app = spawn_app_on_moto_with_sandbox();
    demo(&app);
    let orders = assert_aws_backend_holds_what_was_published(&app);
    assert!(
        orders.iter().any(|(_, status)| status == "completed"),
        "{orders:?}"
    );
}

// ---- AWS-endpoint mode: what the table and the bus hold ---------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn moto_target(app: &App) -> &AwsTarget {
    app.aws.as_ref().expect("a stack in AWS-endpoint mode")
}

fn load(rt: &tokio::runtime::Runtime, store: &DynamoStore, id: &str) -> domain::Order {
    let order_id = OrderId::parse(id).expect("order id");
    let request = LoadRequest {
        order: &order_id,
        idempotency: None,
        limit_of: None,
        credit_of: None,
    };
    rt.block_on(store.load(request, Utc::now()))
        .unwrap_or_else(|e| panic!("load {id} from the table: {e}"))
        .order
        .unwrap_or_else(|| panic!("order {id} is not in the table"))
}

/// Read the stack's table and bus back on the same endpoint: every order
/// whose events `/_local/events` lists is in the table, in the status of its
/// last event, with exactly those events as history; the outbox is drained
/// (EventBridge accepted every event); the bus exists. The orders, each with
/// its status.
fn assert_aws_backend_holds_what_was_published(app: &App) -> Vec<(String, String)> {
    let target = moto_target(app);
    let items = app.get("/_local/events", None).expect(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for item in items {
        let id = item["detail"]["order_id"]
            .as_str()
            .expect("order_id")
            .to_owned();
        match orders.iter_mut().find(|(o, _)| *o == id) {
            Some((_, events)) => events.push(item),
            None => orders.push((id, vec![item])),
        }
    }
    let rt = runtime();
    let config = rt.block_on(sdk_config(&target.endpoint));
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        target.table.as_str(),
    );
    let mut statuses = Vec::new();
    for (id, events) in &orders {
        let order = load(&rt, &store, id);
        let status = serde_json::to_value(order.status()).expect("status JSON");
        let last = events.last().expect("an event");
        assert_eq!(status, last["detail"]["status"], "{id}");
        let order_id = OrderId::parse(id.as_str()).expect("order id");
        let history = rt
            .block_on(store.history(&order_id, &app::page::PageRequest::first(100)))
            .unwrap_or_else(|e| panic!("history of {id}: {e}"))
            .items;
        let stored: Vec<&str> = history.iter().map(|e| e.body.detail_type()).collect();
        assert_eq!(stored, detail_types(events), "{id}");
        statuses.push((id.clone(), status.as_str().expect("status").to_owned()));
    }
    let pending = rt
        .block_on(store.unpublished(100))
        .unwrap_or_else(|e| panic!("outbox of {}: {e}", target.table));
    assert!(pending.is_empty(), "unpublished: {pending:?}");

    let bus = rt
        .block_on(
            aws_sdk_eventbridge::Client::new(&config)
                .describe_event_bus()
                .name(&target.bus)
                .send(),
        )
        .unwrap_or_else(|e| panic!("the stack's bus {}: {e:?}", target.bus));
    assert_eq!(bus.name(), Some(target.bus.as_str()));
    statuses
}

// ---- disputes: negotiation, escalation on time, decision, split refund ---------

impl App {
    fn run_schedules(&self) -> Value {
        let r = self
            .post("/_local/schedules/run", None, &json!({}))
            .expect(200);
        let runs = r["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1, "{r}");
        assert!(runs[0].get("error").is_none_or(Value::is_null), "{r}");
        runs[0]["report"].clone()
    }
}

fn amount(v: &Value) -> domain::Usd {
    domain::Usd::parse(v["amount"].as_str().unwrap_or_else(|| panic!("money: {v}")))
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// The whole dispute path over HTTP: a post-delivery order paid by card
/// (initial) and e-check (balance), a quality dispute that blocks receipt,
/// a silent supplier escalated by the sweep exactly at 5 days, the
/// arbiter's queue and decision, and the refund split newest first across
/// the two payments, each part settled by its own provider's webhook; the
/// order ends `refunded` with the supplier's reservation released.
fn dispute_escalated_on_time_decided_and_refunded(app: &App) -> String {
    let p = parties();
    app.call(
        "PUT",
        "/v1/suppliers/sup-1/assurance-limit",
        Some(&p.arbiter),
        Some(&json!({"limit": "50000.00"})),
    )
    .expect(200);
    let mut body = order_body(date_in(60));
    body["coverage"] = json!("post_delivery");
    let order = app.post("/v1/orders", Some(&p.buyer), &body).expect(201);
    let id = order["id"].as_str().expect("id").to_owned();
    let confirmed = app
        .post(
            &format!("/v1/orders/{id}/confirm"),
            Some(&p.supplier),
            &json!({"version": order["version"]}),
        )
        .expect(200);
    assert_eq!(confirmed["coverage"]["covered_amount"]["amount"], "3000.00");
    let initial = app.pay(
        &p.buyer,
        &id,
        &json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
    );
    app.deliver(
        "card",
        &payment_event("succeeded", &id, &initial, None),
        None,
    );
    app.post(
        &format!("/v1/orders/{id}/shipment"),
        Some(&p.supplier),
        &json!({"carrier": "DHL", "tracking_number": "JD014600006281"}),
    )
    .expect(200);
    let balance = app.pay(
        &p.buyer,
        &id,
        &json!({"stage": "balance", "method": "e_checking", "bank_country": "US",
            "account_type": "checking"}),
    );
    app.deliver(
        "echeck",
        &payment_event("succeeded", &id, &balance, None),
        None,
    );
    assert_eq!(
        app.order(&p.buyer, &id)["status"],
        "awaiting_receipt_confirmation"
    );

    // The buyer opens a quality dispute; receipt now waits for it.
    let opened = app
        .post(
            &format!("/v1/orders/{id}/dispute"),
            Some(&p.buyer),
            &json!({"reason": "quality", "requested_refund": "2000.00",
                "description": "40 of 100 panels flicker",
                "evidence": [{"name": "video.mp4", "url": "https://evidence.example/video.mp4",
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]}),
        )
        .expect(201);
    assert_eq!(opened["status"], "open");
    let r = app.post(
        &format!("/v1/orders/{id}/receipt"),
        Some(&p.buyer),
        &json!({}),
    );
    assert_eq!(
        r.expect(409)["type"],
        "https://trade-assurance.dev/problems/dispute-unresolved"
    );
    let r = app.post(
        &format!("/v1/orders/{id}/dispute/escalate"),
        Some(&p.buyer),
        &json!({}),
    );
    r.expect(422);

    // The supplier stays silent: not escalated a minute before 5 days, by
    // the schedule once 5 days have passed (business time; the exact
    // second — strictly after the deadline — is the domain's tests'
    // business).
    let due = instant(&opened["supplier_response_due"]);
    let now = instant(&app.get("/_local/clock", None).expect(200)["now"]);
    // Whole seconds, rounded up: after both advances business time is at
    // or past the deadline.
    let to_due = ((due - now).num_milliseconds() + 999) / 1000;
    app.advance(to_due - 60);
    let report = app.run_schedules();
    assert_eq!(report["escalated"], 0, "{report}");
    app.advance(61);
    let report = app.run_schedules();
    assert_eq!(report["escalated"], 1, "{report}");
    let dispute = &app.order(&p.buyer, &id)["dispute"];
    assert_eq!(dispute["status"], "escalated", "{dispute}");
    assert_eq!(dispute["escalation_ground"], "supplier_no_response");
    let last = dispute["entries"]
        .as_array()
        .and_then(|e| e.last())
        .expect("entries");
    assert_eq!(last["by"]["role"], "scheduler");
    // Running it again changes nothing.
    let version = app.order(&p.buyer, &id)["version"].clone();
    assert_eq!(app.run_schedules()["changed"], 0);
    assert_eq!(app.order(&p.buyer, &id)["version"], version);

    // The arbiter's queue holds it; the decision refunds everything paid,
    // 3,000.00 (which closes the order), and the inspection fee on top.
    let queue = app
        .get("/v1/disputes?status=escalated", Some(&p.arbiter))
        .expect(200);
    assert!(
        queue["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|d| d["order_id"] == id.as_str()),
        "{queue}"
    );
    app.get("/v1/disputes", Some(&p.buyer)).expect(403);
    let decided = app
        .post(
            &format!("/v1/orders/{id}/dispute/decision"),
            Some(&p.arbiter),
            &json!({"outcome": "supplier_at_fault", "refund_amount": "3000.00"}),
        )
        .expect(200);
    assert_eq!(decided["outcome"], "supplier_at_fault");
    assert_eq!(decided["order_status"], "refund_pending");
    let fee = amount(&decided["inspection_fee_refund"]);
    let order = app.order(&p.buyer, &id);
    let parts = order["refunds"].as_array().expect("refunds").clone();
    // Newest first: the e-check balance gives all of its 1,500.00, the
    // card the rest (and the inspection fee).
    assert_eq!(parts.len(), 2, "{order}");
    assert_eq!(
        (
            parts[0]["payment_id"].clone(),
            parts[0]["provider"].as_str()
        ),
        (balance["id"].clone(), Some("echeck"))
    );
    assert_eq!(parts[0]["amount"]["amount"], "1500.00");
    assert_eq!(
        (
            parts[1]["payment_id"].clone(),
            parts[1]["provider"].as_str()
        ),
        (initial["id"].clone(), Some("card"))
    );
    let total = parts.iter().fold(domain::Usd::ZERO, |acc, p| {
        acc.checked_add(amount(&p["amount"])).expect("sum")
    });
    assert_eq!(
        Some(total),
        domain::Usd::parse("3000.00")
            .ok()
            .and_then(|u| u.checked_add(fee).ok())
    );
    let published = detail_types(&app.events(&id));
    assert_eq!(count(&published, "RefundRequested"), 2, "{published:?}");

    // Each provider confirms its part; the second settles the order.
    for (i, part) in parts.iter().enumerate() {
        let provider = part["provider"].as_str().expect("provider");
        app.deliver(
            provider,
            &json!({"type": "refund.succeeded", "data": {"refund_id": part["id"],
                "order_id": id, "amount": part["amount"]["amount"]}}),
            None,
        );
        let status = app.order(&p.buyer, &id)["status"].clone();
        let expected = if i == 0 { "refund_pending" } else { "refunded" };
        assert_eq!(status, expected);
    }
    let order = app.order(&p.buyer, &id);
    assert_eq!(order["coverage"]["reserved"]["amount"], "0.00");
    let limit = app
        .get("/v1/suppliers/sup-1/assurance-limit", Some(&p.arbiter))
        .expect(200);
    assert_eq!(limit["reserved"]["amount"], "0.00", "{limit}");
    let history = app.history(&p.buyer, &id);
    for event in [
        "DisputeOpened",
        "DisputeEscalated",
        "DisputeResolved",
        "OrderRefunded",
        "ReservationReleased",
    ] {
        assert_eq!(count(&history, event), 1, "{event} in {history:?}");
    }
    assert_eq!(detail_types(&app.events(&id)), history, "all published");
    assert!(app.dead_letters().is_empty());
    id
}

#[test]
fn a_dispute_escalates_on_time_is_decided_and_its_split_refund_settles() {
    dispute_escalated_on_time_decided_and_refunded(&spawn_app());
}

#[test]
fn a_dispute_escalates_on_time_is_decided_and_its_split_refund_settles_on_moto() {
    dispute_escalated_on_time_decided_and_refunded(&spawn_app_on_moto());
}

// ---- every order ends: the sweep's clocks, over HTTP ------------------------------

/// Orders nobody finishes — a draft nobody confirms, a card payment its
/// provider never confirms, an order shipped whose balance never comes, an
/// order paid in full whose receipt is never confirmed (extended once) —
/// each reach their end as business time runs on and the schedule runs;
/// every reservation is released and everything is published. On the way:
/// a second reminder the same day is 429 with `Retry-After`, unknown query
/// parameters and a tampered cursor are 400, the history reads a page at a
/// time, and a small compensation leaves its order going.
fn orders_nobody_finishes_end(app: &App) -> Vec<String> {
    let p = parties();
    app.call(
        "PUT",
        "/v1/suppliers/sup-1/assurance-limit",
        Some(&p.arbiter),
        Some(&json!({"limit": "100000.00"})),
    )
    .expect(200);
    let card = json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"});
    let paid = |id: &str, stage: &str| {
        let mut body = card.clone();
        body["stage"] = json!(stage);
        let payment = app.pay(&p.buyer, id, &body);
        app.deliver(
            "card",
            &payment_event("succeeded", id, &payment, None),
            None,
        );
    };
    let ship = |id: &str| {
        app.post(
            &format!("/v1/orders/{id}/shipment"),
            Some(&p.supplier),
            &json!({"carrier": "DHL", "tracking_number": "JD1"}),
        )
        .expect(200)
    };

    // A draft nobody confirms; its buyer reminds the supplier once a day.
    let draft = create_order(app, &p.buyer, date_in(60));
    let draft = draft["id"].as_str().expect("id").to_owned();
    let remind = format!("/v1/orders/{draft}/remind");
    app.post(&remind, Some(&p.buyer), &json!({})).expect(200);
    let again = app.post(&remind, Some(&p.buyer), &json!({}));
    assert_eq!(again.status, 429, "{}", again.body);
    let wait: i64 = again
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((86_000..=86_400).contains(&wait), "{wait}");
    // Unknown query parameters, a tampered cursor: 400.
    app.get("/v1/orders?supplier_id=sup-2", Some(&p.buyer))
        .expect(400);
    let forged = ::app::page::Cursor::encode(&::app::page::CursorPosition {
        partition: "BUYER#buyer-1".into(),
        sort_key: String::new(),
        order_id: String::new(),
    });
    app.get(
        &format!("/v1/orders?cursor={}", forged.as_str()),
        Some(&p.buyer),
    )
    .expect(400);

    // A card payment never confirmed.
    let silent = confirmed_order(app, &p, &json!({"limit": "100000.00"}));
    let never = app.pay(&p.buyer, &silent, &card);
    // Shipped; the balance never comes.
    let unpaid = confirmed_order(app, &p, &json!({"limit": "100000.00"}));
    paid(&unpaid, "initial");
    assert_eq!(ship(&unpaid)["status"], "shipped");
    // Paid in full; receipt never confirmed; the buyer takes 15 more days.
    let unreceived = confirmed_order(app, &p, &json!({"limit": "100000.00"}));
    paid(&unreceived, "initial");
    ship(&unreceived);
    paid(&unreceived, "balance");
    let extended = app
        .post(
            &format!("/v1/orders/{unreceived}/receipt/extension"),
            Some(&p.buyer),
            &json!({}),
        )
        .expect(200);
    assert_eq!(extended["receipt"]["extensions_used"], 1);
    // A compensation: the order goes on, its reservation shrinks.
    let compensated = confirmed_order(app, &p, &json!({"limit": "100000.00"}));
    paid(&compensated, "initial");
    app.post(
        &format!("/v1/orders/{compensated}/dispute"),
        Some(&p.buyer),
        &json!({"reason": "quality", "requested_refund": "1.00",
            "description": "one scratched sample"}),
    )
    .expect(201);
    let agreed = app
        .post(
            &format!("/v1/orders/{compensated}/dispute/responses"),
            Some(&p.supplier),
            &json!({"action": "accept"}),
        )
        .expect(200);
    assert_eq!(agreed["order_status"], "awaiting_shipment", "{agreed}");
    let o = app.order(&p.buyer, &compensated);
    assert_eq!(o["coverage"]["reserved"]["amount"], "1499.00", "{o}");
    let part = o["refunds"][0].clone();
    app.deliver(
        "card",
        &json!({"type": "refund.succeeded", "data": {"refund_id": part["id"],
            "order_id": compensated, "amount": part["amount"]["amount"]}}),
        None,
    );
    assert_eq!(ship(&compensated)["status"], "shipped");
    paid(&compensated, "balance");
    app.post(
        &format!("/v1/orders/{compensated}/receipt"),
        Some(&p.buyer),
        &json!({}),
    )
    .expect(200);

    // Business time runs on for 100 days, the schedule every 10.
    for _ in 0..10 {
        app.advance(10 * 86_400);
        app.run_schedules();
    }
    let status = |id: &str| {
        let o = app.order(&p.buyer, id);
        (
            o["status"].as_str().unwrap_or_default().to_owned(),
            o["status_reason"].as_str().map(str::to_owned),
        )
    };
    assert_eq!(
        status(&draft),
        ("cancelled".into(), Some("not_confirmed".into()))
    );
    assert_eq!(status(&silent), ("cancelled".into(), Some("unpaid".into())));
    let o = app.order(&p.buyer, &silent);
    assert_eq!(payment_in(&o, &never)["failure_reason"], "expired", "{o}");
    assert_eq!(
        status(&unpaid),
        ("closed".into(), Some("balance_unpaid".into()))
    );
    assert_eq!(status(&unreceived), ("completed".into(), None));
    assert_eq!(status(&compensated), ("completed".into(), None));
    let limit = app
        .get("/v1/suppliers/sup-1/assurance-limit", Some(&p.arbiter))
        .expect(200);
    assert_eq!(limit["reserved"]["amount"], "0.00", "{limit}");

    // The silent order's history, a page at a time, is the whole history.
    let path = format!("/v1/orders/{silent}/history");
    let whole = app.get(&path, Some(&p.buyer)).expect(200)["items"].clone();
    let mut paged = Vec::new();
    let mut next = format!("{path}?limit=3");
    loop {
        let page = app.get(&next, Some(&p.buyer)).expect(200);
        paged.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => next = format!("{path}?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(Value::Array(paged), whole);
    for id in [&draft, &silent, &unpaid, &unreceived, &compensated] {
        assert_eq!(
            detail_types(&app.events(id)),
            app.history(&p.buyer, id),
            "{id}: all published"
        );
    }
    assert!(app.dead_letters().is_empty());
    vec![draft, silent, unpaid, unreceived, compensated]
}

#[test]
fn orders_nobody_finishes_are_ended_by_the_sweep() {
    orders_nobody_finishes_end(&spawn_app());
}

#[test]
fn orders_nobody_finishes_are_ended_by_the_sweep_on_moto() {
    let app = spawn_app_on_moto();
    let ids = orders_nobody_finishes_end(&app);
    // What the table holds is what the API answered.
    let rt = runtime();
    let target = moto_target(&app);
    let config = rt.block_on(sdk_config(&target.endpoint));
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), target.table.clone());
    let statuses: Vec<String> = ids
        .iter()
        .map(|id| load(&rt, &store, id).status().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["cancelled", "cancelled", "closed", "completed", "completed"]
    );
}

// ---- the sandbox provider: the clock alone moves money ---------------------------

const DAY: i64 = 24 * 3600;

impl App {
    /// Advance business time a day at a time (at most `days`) until the
    /// order satisfies `done`: the order then, and every provider event the
    /// sandbox delivered meanwhile.
    #[track_caller]
    fn advance_until(
        &self,
        token: &str,
        id: &str,
        days: u32,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, Vec<Value>) {
        let mut delivered = Vec::new();
        for _ in 0..days {
            let moved = self.advance(DAY);
            let sent = moved["provider_events"]
                .as_array()
                .unwrap_or_else(|| panic!("provider_events in {moved}"));
            for event in sent {
                assert_eq!(event["status"], 202, "{event}");
                assert_eq!(event["consumer"], "acknowledged", "{event}");
            }
            delivered.extend(sent.iter().cloned());
            let order = self.order(token, id);
            if done(&order) {
                return (order, delivered);
            }
        }
        panic!(
            "{id} not there after {days} days: {}\ndelivered: {delivered:?}",
            self.order(token, id)
        );
    }

    /// What the sandbox was asked about `id` (an order, payment or refund
    /// part), once the provider-action step is idle.
    fn sandbox_requests(&self, id: &str) -> Vec<Value> {
        let listed = self
            .get(&format!("/_local/providers/requests?id={id}"), None)
            .expect(200);
        assert_eq!(listed["mode"], "auto", "{listed}");
        assert_eq!(listed["settled"], true, "{listed}");
        listed["items"].as_array().expect("items").clone()
    }

    fn provider_dead_letters(&self) -> Vec<Value> {
        self.get("/_local/providers/dlq", None).expect(200)["items"]
            .as_array()
            .expect("items")
            .clone()
    }
}

/// Every key the sandbox was asked with for `id` once, and answered 201
/// once.
#[track_caller]
fn one_request_per_key(requests: &[Value]) {
    let mut keys: Vec<&str> = requests
        .iter()
        .map(|r| r["idempotency_key"].as_str().expect("key"))
        .collect();
    let asked = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), asked, "one record per key: {requests:?}");
    for r in requests {
        let answered = r["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .filter(|a| a["status"] == 201 && a.get("replayed").is_none())
            .count();
        assert_eq!(answered, 1, "answered once: {r}");
    }
}

/// An order paid by card and by e-check, shipped and received, with every
/// confirmation from the sandbox as the clock moves; then a disputed order
/// escalated on time, decided by an arbiter while the card provider is
/// down for three requests, refunded once per part and settled. Both
/// orders' ids.
fn sandbox_walk(app: &App) -> (String, String) {
    let p = parties();
    let id = confirmed_order(app, &p, &json!({"limit": "50000.00"}));
    let initial = app.pay(
        &p.buyer,
        &id,
        &json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
    );
    let (_, delivered) =
        app.advance_until(&p.buyer, &id, 6, |o| o["status"] == "awaiting_shipment");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["data"]["payment_id"], initial["id"]);
    app.post(
        &format!("/v1/orders/{id}/shipment"),
        Some(&p.supplier),
        &json!({"carrier": "DHL", "tracking_number": "JD014600007001"}),
    )
    .expect(200);
    let balance = app.pay(
        &p.buyer,
        &id,
        &json!({"stage": "balance", "method": "e_checking", "bank_country": "US",
            "account_type": "checking"}),
    );
    // e-Checking: asked for (and confirmed) the balance; the fee is the
    // platform's.
    let asked = app.sandbox_requests(balance["id"].as_str().expect("id"));
    assert_eq!(asked[0]["request"]["amount"], "1500.00", "{asked:?}");
    assert_eq!(
        asked[0]["answer"]["body"]["next_action"]["type"],
        "authorize"
    );
    app.advance_until(&p.buyer, &id, 8, |o| {
        o["status"] == "awaiting_receipt_confirmation"
    });
    let done = app
        .post(
            &format!("/v1/orders/{id}/receipt"),
            Some(&p.buyer),
            &json!({}),
        )
        .expect(200);
    assert_eq!(done["status"], "completed");
    one_request_per_key(&app.sandbox_requests(&id));
    assert_eq!(detail_types(&app.events(&id)), app.history(&p.buyer, &id));

    // A post-delivery order, paid in full, disputed.
    let mut body = order_body(date_in(400));
    body["coverage"] = json!("post_delivery");
    let order = app.post("/v1/orders", Some(&p.buyer), &body).expect(201);
    let disputed = order["id"].as_str().expect("id").to_owned();
    app.post(
        &format!("/v1/orders/{disputed}/confirm"),
        Some(&p.supplier),
        &json!({"version": order["version"]}),
    )
    .expect(200);
    let card = json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"});
    app.pay(&p.buyer, &disputed, &card);
    app.advance_until(&p.buyer, &disputed, 6, |o| {
        o["status"] == "awaiting_shipment"
    });
    app.post(
        &format!("/v1/orders/{disputed}/shipment"),
        Some(&p.supplier),
        &json!({"carrier": "DHL", "tracking_number": "JD014600007002"}),
    )
    .expect(200);
    let mut card_balance = card.clone();
    card_balance["stage"] = json!("balance");
    app.pay(&p.buyer, &disputed, &card_balance);
    app.advance_until(&p.buyer, &disputed, 6, |o| {
        o["status"] == "awaiting_receipt_confirmation"
    });
    let opened = app
        .post(
            &format!("/v1/orders/{disputed}/dispute"),
            Some(&p.buyer),
            &json!({"reason": "quality", "requested_refund": "3000.00",
                "description": "40 of 100 panels flicker"}),
        )
        .expect(201);
    let due = instant(&opened["supplier_response_due"]);
    let now = instant(&app.get("/_local/clock", None).expect(200)["now"]);
    app.advance((due - now).num_seconds() + 60);
    assert_eq!(app.run_schedules()["escalated"], 1);

    // The card provider is down for its next three requests.
    app.post(
        "/_local/providers/outage",
        None,
        &json!({"provider": "card", "status": 503, "requests": 3}),
    )
    .expect(200);
    let decided = app
        .post(
            &format!("/v1/orders/{disputed}/dispute/decision"),
            Some(&p.arbiter),
            &json!({"outcome": "supplier_at_fault", "refund_amount": "3000.00"}),
        )
        .expect(200);
    assert_eq!(decided["order_status"], "refund_pending");
    // Each part reached the sandbox once, the first after three 503s.
    let refunds: Vec<Value> = app
        .sandbox_requests(&disputed)
        .into_iter()
        .filter(|r| r["kind"] == "refund")
        .collect();
    assert_eq!(refunds.len(), 2, "{refunds:?}");
    let statuses: Vec<Vec<u64>> = refunds
        .iter()
        .map(|r| {
            r["attempts"]
                .as_array()
                .expect("attempts")
                .iter()
                .map(|a| a["status"].as_u64().expect("status"))
                .collect()
        })
        .collect();
    assert_eq!(statuses, [vec![503, 503, 503, 201], vec![201]]);
    let parts = app.order(&p.buyer, &disputed)["refunds"].clone();
    for (request, part) in refunds.iter().zip(parts.as_array().expect("parts")) {
        assert_eq!(
            request["idempotency_key"],
            format!("{}:1", part["id"].as_str().expect("id"))
        );
        assert_eq!(request["request"]["amount"], part["amount"]["amount"]);
    }
    let (order, delivered) =
        app.advance_until(&p.buyer, &disputed, 4, |o| o["status"] == "refunded");
    let types: Vec<&str> = delivered
        .iter()
        .map(|d| d["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["refund.succeeded", "refund.succeeded"]);
    assert_eq!(order["coverage"]["reserved"]["amount"], "0.00");

    let history = app.history(&p.buyer, &disputed);
    assert_eq!(count(&history, "RefundRequested"), 2, "{history:?}");
    assert_eq!(count(&history, "RefundRequestAccepted"), 2, "{history:?}");
    assert_eq!(count(&history, "RefundSucceeded"), 2, "{history:?}");
    one_request_per_key(&app.sandbox_requests(&disputed));
    assert_eq!(detail_types(&app.events(&disputed)), history);
    assert!(app.dead_letters().is_empty());
    assert!(app.provider_dead_letters().is_empty());
    (id, disputed)
}

#[test]
fn the_sandbox_confirms_payments_and_refunds_as_business_time_passes() {
    sandbox_walk(&spawn_app_with_sandbox());
}

#[test]
fn the_sandbox_confirms_payments_and_refunds_as_business_time_passes_on_moto() {
    let app = spawn_app_on_moto_with_sandbox();
    let (completed, refunded) = sandbox_walk(&app);
    let orders = assert_aws_backend_holds_what_was_published(&app);
    for (id, status) in [(completed, "completed"), (refunded, "refunded")] {
        assert!(
            orders.iter().any(|(o, s)| *o == id && s == status),
            "{id} {status} in {orders:?}"
        );
    }
}

/// A card payment of an amount ending in `.02` is declined by the
/// sandbox: the payment fails and the order waits for another; a second
/// payment goes through.
fn declined_card_payment(app: &App) -> String {
    let p = parties();
    app.call(
        "PUT",
        "/v1/suppliers/sup-1/assurance-limit",
        Some(&p.arbiter),
        Some(&json!({"limit": "50000.00"})),
    )
    .expect(200);
    // 1500.02 plus the 200.00 inspection fee.
    let mut body = order_body(date_in(400));
    body["initial_payment"] = json!("1500.02");
    let order = app.post("/v1/orders", Some(&p.buyer), &body).expect(201);
    let id = order["id"].as_str().expect("id").to_owned();
    app.post(
        &format!("/v1/orders/{id}/confirm"),
        Some(&p.supplier),
        &json!({"version": order["version"]}),
    )
    .expect(200);
    let card = json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"});
    let declined = app.pay(&p.buyer, &id, &card);
    assert!(
        declined["amount"]["amount"]
            .as_str()
            .is_some_and(|a| a.ends_with(".02")),
        "{declined}"
    );
    let (order, delivered) = app.advance_until(&p.buyer, &id, 1, |o| {
        o["status"] == "awaiting_initial_payment"
    });
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["type"], "payment.failed");
    let failed = payment_in(&order, &declined);
    assert_eq!(failed["status"], "failed", "{order}");
    let asked = app.sandbox_requests(&id);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["behaviour"], "declined");
    let history = app.history(&p.buyer, &id);
    assert_eq!(count(&history, "PaymentFailed"), 1, "{history:?}");
    assert_eq!(count(&history, "PaymentSucceeded"), 0, "{history:?}");
    assert_eq!(detail_types(&app.events(&id)), history);
    id
}

#[test]
fn a_card_payment_ending_in_02_is_declined_and_the_order_waits_for_another() {
    declined_card_payment(&spawn_app_with_sandbox());
}

#[test]
fn a_card_payment_ending_in_02_is_declined_and_the_order_waits_for_another_on_moto() {
    let app = spawn_app_on_moto_with_sandbox();
    let id = declined_card_payment(&app);
    let orders = assert_aws_backend_holds_what_was_published(&app);
    assert!(
        orders
            .iter()
            .any(|(o, s)| *o == id && s == "awaiting_initial_payment"),
        "{orders:?}"
    );
}
