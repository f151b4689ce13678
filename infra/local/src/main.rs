//! `local-stack [serve]` runs the stack; `local-stack token` mints a token.

use std::process::ExitCode;
use std::sync::Arc;

use app::ports::{Backend, EventBus};
use http_api::webhook::{LOCAL_DEFAULT_SECRET, ProviderSecrets};
use local_stack::jwt::{self, JwtConfig};
use local_stack::queue::StackQueue;
use local_stack::sandbox::Mode;
use local_stack::schedules::TickerConfig;
use local_stack::server;
use local_stack::stack::Stack;
use tokio::net::TcpListener;

const DEFAULT_PORT: u16 = 3000;

const USAGE: &str = "\
usage:
  local-stack [serve]
      The local stack on 127.0.0.1:$PORT (default 3000; PORT=0 picks a free
      port). The first stdout line is `listening on http://127.0.0.1:<port>`.
  local-stack token --sub <user> --role <buyer|supplier|arbiter>... [--ttl-seconds N]
      Print a token for the emulated JWT authorizer (HS256, LOCAL_JWT_SECRET).
      Repeat --role or separate roles with commas. Default lifetime 3600 s.

environment:
  PORT                 port to listen on (default 3000)
  LOCAL_JWT_SECRET     HS256 secret (default local-dev-secret)
  LOCAL_JWT_ISSUER     if set, tokens must carry this `iss` (minted ones do)
  LOCAL_JWT_AUDIENCE   if set (comma-separated), tokens must name one as `aud`
  RUST_LOG             log filter for stderr (default info)
  WEBHOOK_SECRET_ECHECK, WEBHOOK_SECRET_CARD, WEBHOOK_SECRET_BANK, WEBHOOK_SECRET_PAYLATER
                       each provider's whsec_ secret(s), space-separated while
                       rotating (default whsec_bG9jYWwtd2ViaG9vay1zZWNyZXQ=)
  PROVIDER_SANDBOX     auto (default): the provider-action step asks each
                       payment, refund and credit-line application of the
                       sandbox provider at /_sandbox/<provider> through the
                       provider adapter, and the sandbox confirms by signed
                       webhook as business time passes; manual: neither, only
                       POST /_local/providers/<provider>/events moves payments
  PROVIDER_URL_<PROVIDER>, PROVIDER_KEY_<PROVIDER>
                       auto only: send that provider's requests elsewhere (a
                       base URL) or with another key (default sk_sandbox_<provider>,
                       which the sandbox then expects)
  SCHEDULE_INTERVAL_SECONDS
                       how often the ticker fires the schedules (the deadline
                       sweep of escalate-stale-disputes) at business time,
                       0-86400 (default 60; 0: no ticker, POST
                       /_local/schedules/run only)
  CLOCK_<NAME>         the lifecycle's clocks in days, for orders created from
                       then on, e.g. CLOCK_CONFIRMATION_DAYS (30),
                       CLOCK_UNPAID_DAYS (30), CLOCK_BALANCE_DAYS (30),
                       CLOCK_RECEIPT_DAYS (30), CLOCK_NOT_SHIPPED_DAYS (30),
                       CLOCK_DISPUTE_SUPPLIER_RESPONSE_DAYS (5),
                       CLOCK_DISPUTE_RESOLUTION_DAYS (15); every name, its
                       default and range: docs/rules.md
  AWS_ENDPOINT_URL     if set (a moto server, or real AWS): AWS-endpoint mode,
                       the DynamoDB, SQS and EventBridge adapters instead of
                       the embedded backend; a missing table, bus or queue is
                       created
  TABLE_NAME           its table (default trade-assurance-local)
  EVENT_BUS_NAME       its event bus (default trade-assurance-local)
  PAYMENT_QUEUE_NAME   its payment queue (default trade-assurance-local-payments)
  PAYMENT_DLQ_NAME     that queue's dead-letter queue (default <queue>-dlq)
  PAYMENT_QUEUE_WAIT_SECONDS
                       the poller's receive wait, 0-20 (default 20, or 0 for a
                       loopback endpoint: short polls that never hold it)
  FAULT_RATE_PERCENT   AWS-endpoint mode only: inject faults into this share of
                       DynamoDB, SQS and EventBridge calls (0-100, e.g. 20),
                       with the SDK's retry backoff in milliseconds
  FAULT_SEED           the injector's seed (default 1)
  AWS_REGION           its region (else AWS_DEFAULT_REGION, the profile, us-east-1);
                       credentials from the environment or the profile, or
                       testing/testing for a loopback endpoint when
                       AWS_ACCESS_KEY_ID is unset; never instance metadata";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") if args.len() <= 1 => serve(),
        Some("token") => token(&args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => usage_error(&format!("unexpected arguments: {}", args.join(" "))),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("local-stack: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

fn token(args: &[String]) -> ExitCode {
    let mut sub: Option<String> = None;
    let mut roles: Vec<String> = Vec::new();
    let mut ttl = jwt::DEFAULT_TTL_SECONDS;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        if !matches!(flag, "--sub" | "--role" | "--ttl-seconds") {
            return usage_error(&format!("unknown option {arg:?}"));
        }
        let Some(value) = inline.or_else(|| rest.next().cloned()) else {
            return usage_error(&format!("{flag} needs a value"));
        };
        match flag {
            "--sub" => sub = Some(value),
            "--role" => roles.push(value),
            _ => match value.parse::<i64>() {
                Ok(n) => ttl = n,
                Err(_) => return usage_error(&format!("--ttl-seconds {value:?} is not a number")),
            },
        }
    }
    let Some(sub) = sub else {
        return usage_error("--sub is required");
    };
    let roles = match jwt::parse_roles(roles.iter().map(String::as_str)) {
        Ok(roles) => roles,
        Err(e) => return usage_error(&e),
    };
    let now = chrono::Utc::now().timestamp();
    match jwt::mint(&JwtConfig::from_env(), &sub, roles, ttl, now) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(&e),
    }
}

fn serve() -> ExitCode {
    let port = match std::env::var("PORT") {
        Err(_) => DEFAULT_PORT,
        Ok(p) if p.is_empty() => DEFAULT_PORT,
        Ok(p) => match p.parse::<u16>() {
            Ok(port) => port,
            Err(_) => return usage_error(&format!("PORT={p:?} is not a port number")),
        },
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("local-stack: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match server::bind(port).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!(
                    "local-stack: cannot listen on 127.0.0.1:{port}: {e} \
                     (set PORT to another port, or PORT=0 for any free one)"
                );
                return ExitCode::FAILURE;
            }
        };
        let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let jwt = JwtConfig::from_env();
        let secrets = match ProviderSecrets::from_env(Some(LOCAL_DEFAULT_SECRET)) {
            Ok(secrets) => secrets,
            Err(e) => {
                eprintln!("local-stack: webhook secret {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(settings) = aws_settings() {
            return serve_aws(listener, bound, jwt, secrets, settings, config).await;
        }
        let stack = Arc::new(Stack::embedded(jwt, secrets).with_clocks(config.clocks));
        tokio::spawn(local_stack::queue::run_consumer(Arc::clone(&stack)));
        start_providers(&stack, bound, config.sandbox);
        run(
            listener,
            bound,
            stack,
            EMBEDDED.to_owned(),
            "embedded",
            config,
        )
        .await
    })
}

/// What the environment configures beyond the port, the authorizer and
/// the backend; a bad value stops the start.
#[derive(Debug, Clone, Copy)]
struct Config {
    ticker: TickerConfig,
    clocks: domain::clocks::Clocks,
    sandbox: Mode,
}

impl Config {
    fn from_env() -> Result<Config, String> {
        Ok(Config {
            ticker: TickerConfig::from_env()?,
            clocks: domain::clocks::Clocks::from_lookup(|k| std::env::var(k).ok())?,
            sandbox: Mode::from_lookup(|k| std::env::var(k).ok())?,
        })
    }
}

/// `PROVIDER_SANDBOX=auto`: the provider-action step and the sandbox's
/// confirmations, the adapter pointed at this stack's sandbox (or at
/// `PROVIDER_URL_<PROVIDER>`).
fn start_providers<B: Backend, U: EventBus + 'static, Q: StackQueue>(
    stack: &Arc<Stack<B, U, Q>>,
    port: u16,
    mode: Mode,
) {
    let env = |k: &str| std::env::var(k).ok();
    match mode {
        Mode::Auto => {
            local_stack::actions::start(stack, port, env);
        }
        // The sandbox still answers (with these keys); nothing asks it.
        Mode::Manual => stack
            .sandbox
            .set_keys(local_stack::sandbox::keys_from_lookup(env)),
    }
}

const EMBEDDED: &str = "embedded, in memory (state is lost when the stack stops)
            payment queue in process (dead letters: GET /_local/dlq)";

#[cfg(feature = "aws")]
type AwsSettings = local_stack::aws::Settings;
#[cfg(not(feature = "aws"))]
type AwsSettings = String;

#[cfg(feature = "aws")]
fn aws_settings() -> Option<AwsSettings> {
    local_stack::aws::Settings::from_env()
}

#[cfg(not(feature = "aws"))]
fn aws_settings() -> Option<AwsSettings> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

#[cfg(feature = "aws")]
async fn serve_aws(
    listener: TcpListener,
    bound: u16,
    jwt: JwtConfig,
    secrets: ProviderSecrets,
    settings: AwsSettings,
    config: Config,
) -> ExitCode {
    let faults = match local_stack::aws::faults_from_lookup(|k| std::env::var(k).ok()) {
        Ok(faults) => faults,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    let connected = match local_stack::aws::connect_with(&settings, faults.as_ref()).await {
        Ok(connected) => connected,
        Err(e) => {
            eprintln!("local-stack: AWS-endpoint mode (AWS_ENDPOINT_URL): {e}");
            return ExitCode::FAILURE;
        }
    };
    let backend = format!(
        "AWS endpoint {endpoint} (region {region}, {credentials} credentials)
            DynamoDB table {table}, EventBridge bus {bus}
            SQS payment queue {queue}, dead letters {dlq} (receive wait {wait} s){faults}",
        endpoint = settings.endpoint,
        region = connected.region,
        credentials = connected.credentials,
        table = settings.table,
        bus = settings.bus,
        queue = settings.payments.queue,
        dlq = settings.payments.dlq,
        wait = settings.payments.wait_seconds,
        faults = faults.as_ref().map_or_else(String::new, |f| format!(
            "\n            FAULT INJECTION: {} % of SDK calls fail (throttle, 5xx, timeout, lost response, conflict)",
            percent(f.rate_ppm())
        )),
    );
    let webhooks = http_api::webhook::Webhooks {
        queue: connected.payments,
        secrets,
    };
    let stack = Arc::new(
        Stack::new(connected.store, connected.bus, webhooks, jwt).with_clocks(config.clocks),
    );
    tokio::spawn(local_stack::sqs::run_poller(Arc::clone(&stack)));
    start_providers(&stack, bound, config.sandbox);
    run(listener, bound, stack, backend, "aws", config).await
}

#[cfg(not(feature = "aws"))]
async fn serve_aws(
    _: TcpListener,
    _: u16,
    _: JwtConfig,
    _: ProviderSecrets,
    endpoint: AwsSettings,
    _: Config,
) -> ExitCode {
    eprintln!(
        "local-stack: AWS_ENDPOINT_URL={endpoint:?} is set, but this build has no \
         AWS-endpoint mode (build with the `aws` feature, the default)"
    );
    ExitCode::FAILURE
}

/// Print the first line and the quickstart, then serve (and tick) until
/// the end.
async fn run<B: Backend, U: EventBus + 'static, Q: StackQueue>(
    listener: TcpListener,
    bound: u16,
    stack: Arc<Stack<B, U, Q>>,
    backend: String,
    kind: &'static str,
    config: Config,
) -> ExitCode {
    println!("listening on http://127.0.0.1:{bound}");
    println!("{}", quickstart(bound, &backend, &config));
    tracing::info!(
        port = bound,
        backend = kind,
        ticker_seconds = config.ticker.interval.map_or(0, |i| i.as_secs()),
        dispute_supplier_response_days = config.clocks.disputes.supplier_response_days,
        dispute_resolution_days = config.clocks.disputes.resolution_days,
        default_clocks = config.clocks.is_default(),
        "local stack ready"
    );
    match server::serve_with_ticker(listener, stack, config.ticker).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-stack: {e}");
            ExitCode::FAILURE
        }
    }
}

fn quickstart(port: u16, backend: &str, config: &Config) -> String {
    let url = format!("http://127.0.0.1:{port}");
    let ticker = config.ticker.describe();
    let providers = providers_banner(&url, config.sandbox);
    let c = &config.clocks;
    let (respond, resolve) = (
        c.disputes.supplier_response_days,
        c.disputes.resolution_days,
    );
    let (draft, unpaid, balance, receipt) = (
        c.confirmation_days,
        c.unpaid_days,
        c.balance_days,
        c.receipt_days,
    );
    format!(
        "  backend   {backend}
  health    curl -s {url}/health
  token     make token SUB=buyer-1 ROLE=buyer
            (or: local-stack token --sub buyer-1 --role buyer; roles buyer, supplier, arbiter)
  try       TOKEN=$(make -s token SUB=buyer-1 ROLE=buyer)
            curl -s {url}/v1/orders -H \"authorization: Bearer $TOKEN\"
  local     GET {url}/_local/events   GET {url}/_local/clock
            POST {url}/_local/clock/advance  {{\"seconds\": 86400}}
            GET {url}/_local/dlq  (the payment queue's dead letters)
  schedules POST {url}/_local/schedules/run  (the deadline sweep, now, at business time)
            {ticker}
            disputes escalate after {respond} days unanswered, {resolve} unsolved
            every order ends: drafts cancelled after {draft} days, unpaid orders
            after {unpaid}, balance due {balance} days after delivery, receipt
            confirmed {receipt} days in (CLOCK_<NAME> in days sets each clock)
{providers}
  stop      Ctrl-C"
    )
}

fn providers_banner(url: &str, mode: Mode) -> String {
    let simulator = format!(
        "POST {url}/_local/providers/card/events  (body: a webhook body, e.g.
            {{\"type\":\"payment.succeeded\",\"data\":{{...}}}}; signed and delivered)"
    );
    match mode {
        Mode::Auto => format!(
            "  providers sandbox auto (PROVIDER_SANDBOX): the service asks the sandbox provider
            at {url}/_sandbox/<provider> for every payment, refund and
            credit-line application; it confirms by signed webhook as business
            time passes (clock advance, schedules run, ticker): payments on the
            first day of their arrival window, refunds and credit lines a working
            day on; amounts ending .02 are declined, .03 never confirmed, and a
            refund of a payment ending .04 fails once
            GET {url}/_local/providers/requests  (asked, answered, confirmed when)
            POST {url}/_local/providers/outage  {{\"provider\":\"card\",\"status\":503,\"requests\":3}}
            GET {url}/_local/providers/dlq  (the provider-action step's dead letters)
  simulator {simulator}"
        ),
        Mode::Manual => format!(
            "  providers sandbox manual (PROVIDER_SANDBOX): nothing asks or confirms by itself
  provider  {simulator}"
        ),
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// 200,000 parts per million → `20`, 5,000 → `0.5`.
#[cfg(feature = "aws")]
fn percent(ppm: u32) -> String {
    let (whole, fraction) = (ppm / 10_000, ppm % 10_000);
    if fraction == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{fraction:04}")
            .trim_end_matches('0')
            .to_owned()
    }
}
