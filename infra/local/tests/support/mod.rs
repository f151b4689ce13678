//! The harness the local stack's HTTP tests share: a stack served on a free
//! loopback port on a runtime of its own, shut down when its [`App`] is
//! dropped (whether the test passes or panics); the embedded stack and, with
//! feature `aws`, the AWS-endpoint mode on moto, as the binary wires them; a
//! small blocking HTTP/1.1 client; and JWTs signed with a test's secret.
#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use http_api::webhook::{LOCAL_DEFAULT_SECRET, ProviderSecrets};
use local_stack::jwt::{JwtConfig, sign_claims};
use local_stack::schedules::TickerConfig;
use local_stack::server;
use local_stack::stack::Stack;
use serde_json::{Value, json};

/// How long the client waits to connect, write or read.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

// ---- the stack --------------------------------------------------------------------

/// A stack serving on a loopback port; dropping it shuts its runtime down,
/// which stops the server and whatever runs beside it (the consumer or
/// poller, the ticker).
pub struct App {
    pub port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl App {
    /// The stack `runtime` serves on `port`.
    pub fn new(port: u16, runtime: tokio::runtime::Runtime) -> App {
        App {
            port,
            runtime: Some(runtime),
        }
    }

    /// Run `future` to completion on the stack's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.as_ref().expect("runtime").block_on(future)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// A runtime of two worker threads, I/O and time enabled.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every provider with the local default webhook secret, as the binary
/// runs without one configured.
pub fn local_webhook_secrets() -> ProviderSecrets {
    ProviderSecrets::from_lookup(|_| None, Some(LOCAL_DEFAULT_SECRET)).expect("secrets")
}

/// The embedded stack (in-memory backend, in-process queue and bus) as the
/// binary wires it: tokens checked against `jwt_secret`, webhooks against
/// `secrets`, the payment consumer beside the server, and the ticker as
/// `ticker` says (never the process environment).
pub fn spawn_embedded(jwt_secret: &str, secrets: ProviderSecrets, ticker: TickerConfig) -> App {
    let runtime = runtime();
    let port = runtime.block_on(async {
        let listener = server::bind(0).await.expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        let stack = Arc::new(Stack::embedded(JwtConfig::new(jwt_secret), secrets));
        tokio::spawn(local_stack::queue::run_consumer(Arc::clone(&stack)));
        tokio::spawn(server::serve_with_ticker(listener, stack, ticker));
        port
    });
    App::new(port, runtime)
}

/// The embedded stack with the sandbox provider on, as the binary runs it
/// with `PROVIDER_SANDBOX=auto`: the provider-action step asks the sandbox
/// (through the provider adapter, on this stack's port) and the sandbox
/// confirms as business time passes. With the stack, for what a test
/// checks behind the API.
pub fn spawn_embedded_with_sandbox(
    jwt_secret: &str,
    secrets: ProviderSecrets,
    ticker: TickerConfig,
) -> (App, Arc<EmbeddedStack>) {
    let runtime = runtime();
    let (port, stack) = runtime.block_on(async {
        let listener = server::bind(0).await.expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        let stack = Arc::new(Stack::embedded(JwtConfig::new(jwt_secret), secrets));
        tokio::spawn(local_stack::queue::run_consumer(Arc::clone(&stack)));
        local_stack::actions::start(&stack, port, |_| None).expect("started once");
        tokio::spawn(server::serve_with_ticker(
            listener,
            Arc::clone(&stack),
            ticker,
        ));
        (port, stack)
    });
    (App::new(port, runtime), stack)
}

/// The embedded stack's type.
pub type EmbeddedStack = Stack<
    app::memory::MemoryBackend,
    local_stack::stack::NoUpstream,
    local_stack::queue::LocalQueue,
>;

/// The stack in AWS-endpoint mode.
#[cfg(feature = "aws")]
pub type AwsStack = Stack<
    aws_adapters::dynamodb::DynamoStore,
    aws_adapters::eventbridge::EventBridgeBus,
    local_stack::sqs::SqsPayments,
>;

/// AWS-endpoint mode on the test process's shared moto server, with a
/// table, bus, payment queue and dead-letter queue of its own (named from
/// `prefix`), every AWS call through `faults` if there is an injector, the
/// SQS poller beside the server, and tokens, webhooks and the ticker as for
/// [`spawn_embedded`]. With the stack, for what a test checks behind the API.
#[cfg(feature = "aws")]
pub fn spawn_on_moto(
    prefix: &str,
    jwt_secret: &str,
    secrets: ProviderSecrets,
    ticker: TickerConfig,
    faults: Option<&local_stack::faults::FaultInjector>,
) -> (App, Arc<AwsStack>) {
    use local_stack::aws::{Settings, connect_with};
    use local_stack::sqs::QueueSettings;
    use test_kit::moto::MotoServer;
    use test_kit::store_contract::unique;

    let moto = MotoServer::shared();
    let settings = Settings {
        endpoint: moto.endpoint.clone(),
        table: unique(prefix),
        bus: unique(&format!("{prefix}bus-")),
        payments: QueueSettings {
            queue: unique(&format!("{prefix}pay-")),
            dlq: unique(&format!("{prefix}dlq-")),
            wait_seconds: 0,
        },
    };
    let runtime = runtime();
    let (port, stack) = runtime.block_on(async {
        let connected = connect_with(&settings, faults)
            .await
            .expect("connect to moto");
        let listener = server::bind(0).await.expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        let webhooks = http_api::webhook::Webhooks {
            queue: connected.payments,
            secrets,
        };
        let stack = Arc::new(Stack::new(
            connected.store,
            connected.bus,
            webhooks,
            JwtConfig::new(jwt_secret),
        ));
        tokio::spawn(local_stack::sqs::run_poller(Arc::clone(&stack)));
        tokio::spawn(server::serve_with_ticker(
            listener,
            Arc::clone(&stack),
            ticker,
        ));
        (port, stack)
    });
    (App::new(port, runtime), stack)
}

// ---- a small HTTP/1.1 client ------------------------------------------------------

/// An answer: its status, its headers (names in lower case) and its body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The value of header `name` (lower case), if the answer has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The body as JSON, once the status is `status`.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.json()
    }
}

/// `method path` to the stack on loopback `port` over a connection of its
/// own (`connection: close`, a JSON content type), with `headers` and
/// `body`, waiting up to `io_timeout` for each step.
pub fn send_to(
    port: u16,
    io_timeout: Duration,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(io_timeout)).expect("timeout");
    stream.set_write_timeout(Some(io_timeout)).expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read the answer to {method} {path}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&raw[split + 4..]).into_owned(),
    }
}

impl App {
    /// `method path` with `headers` and `body`.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        send_to(self.port, IO_TIMEOUT, method, path, headers, body)
    }

    /// `method path` as the holder of `token` (if any), with `body` (if
    /// any) as JSON.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let body = body.map(Value::to_string).unwrap_or_default();
        let authorization = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        self.send(method, path, &headers, body.as_bytes())
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call("POST", path, token, Some(body))
    }
}

// ---- tokens -----------------------------------------------------------------------

/// `claims` signed with `secret`, as the authorizer checks them.
pub fn token_with(secret: &str, claims: &Value) -> String {
    sign_claims(&JwtConfig::new(secret), claims).expect("sign")
}

/// A token for `sub` in group `role`, signed with `secret`, valid for an
/// hour.
pub fn token(secret: &str, sub: &str, role: &str) -> String {
    token_with(
        secret,
        &json!({"sub": sub, "cognito:groups": [role], "exp": Utc::now().timestamp() + 3600}),
    )
}
