//! Fault injection under the AWS SDKs, the local stack's fault mode (and its
//! fault tests): an
//! HTTP client that wraps the SDK's own and, at a configurable rate, answers
//! a DynamoDB, SQS or EventBridge call with a fault instead of (or after)
//! sending it.
//!
//! The faults are what the services really answer, on the wire, so that the
//! SDK's deserialisers, its retry classifiers and our adapters see exactly
//! what they would see in production:
//!
//! | kind | sent? | what the SDK gets |
//! |---|---|---|
//! | [`Fault::Throttle`] | no | 400 `ThrottlingException` (DynamoDB: `ProvisionedThroughputExceededException`) |
//! | [`Fault::ServerError`] | no | 500 `InternalServerError` |
//! | [`Fault::Timeout`] | no | a connector timeout |
//! | [`Fault::LostResponse`] | **yes** | a connector timeout after the service applied the call |
//! | [`Fault::TransactionConflict`] | no | 400 `TransactionCanceledException` with `TransactionConflict` reasons (`TransactWriteItems` only) |
//! | [`Fault::PartialFailure`] | no | 200 with every entry failed (`PutEvents` only) |
//!
//! A lost response is the hard one: the write happened, the caller does not
//! know, and the SDK retries it. It is how duplicates reach a system that
//! never sends one on purpose.
//!
//! DynamoDB makes a retried `TransactWriteItems` with the same
//! `ClientRequestToken` a no-op for ten minutes: the retry of a transaction
//! that committed succeeds without writing again. Moto ignores the token,
//! so the injector keeps that promise itself: a lost transaction's real
//! answer is remembered by its token and a retry carrying the token gets a
//! success without being sent again (a transaction that failed is sent
//! again, as DynamoDB would run it). Every other lost write reaches the
//! service twice.
//!
//! The rate is in parts per million and can be changed while clients run
//! ([`FaultInjector::set_rate_ppm`]), so a test can set up with none, run
//! with 20 % and check with none again. Decisions come from a seeded
//! counter-based generator: a run with one request at a time is repeatable;
//! concurrent runs interleave differently, as production does.
//!
//! Not for production: it lives in the local stack, which no function links.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    Throttle,
    ServerError,
    Timeout,
    LostResponse,
    TransactionConflict,
    PartialFailure,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Timeout,
        Fault::LostResponse,
        Fault::TransactionConflict,
        Fault::PartialFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::ServerError => "server_error",
            Fault::Timeout => "timeout",
            Fault::LostResponse => "lost_response",
            Fault::TransactionConflict => "transaction_conflict",
            Fault::PartialFailure => "partial_failure",
        }
    }

    /// Whether the service applied the call before the fault.
    pub fn applied(self) -> bool {
        matches!(self, Fault::LostResponse)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The service and operation of a call, from its `X-Amz-Target` header
/// (all three services speak the AWS JSON protocols):
/// `DynamoDB_20120810.TransactWriteItems` → (`dynamodb`, `TransactWriteItems`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub service: &'static str,
    pub operation: String,
}

impl Call {
    pub fn of(request: &HttpRequest) -> Call {
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let (prefix, operation) = target.split_once('.').unwrap_or(("", target));
        let service = if prefix.starts_with("DynamoDB") {
            "dynamodb"
        } else if prefix.starts_with("AmazonSQS") {
            "sqs"
        } else if prefix.starts_with("AWSEvents") {
            "eventbridge"
        } else {
            "other"
        };
        Call {
            service,
            operation: operation.to_owned(),
        }
    }

    /// Set-up calls (tables, queues, buses) are never faulted: the faults
    /// are for the paths a request or a message takes.
    fn is_setup(&self) -> bool {
        const SETUP: &[&str] = &[
            "CreateTable",
            "DescribeTable",
            "UpdateTimeToLive",
            "DescribeTimeToLive",
            "CreateQueue",
            "GetQueueUrl",
            "GetQueueAttributes",
            "SetQueueAttributes",
            "CreateEventBus",
            "DescribeEventBus",
        ];
        SETUP.contains(&self.operation.as_str())
    }

    /// The faults this call can get.
    fn possible(&self) -> &'static [Fault] {
        match (self.service, self.operation.as_str()) {
            ("dynamodb", "TransactWriteItems") => &[
                Fault::Throttle,
                Fault::ServerError,
                Fault::Timeout,
                Fault::LostResponse,
                Fault::TransactionConflict,
            ],
            ("eventbridge", "PutEvents") => &[
                Fault::Throttle,
                Fault::ServerError,
                Fault::Timeout,
                Fault::LostResponse,
                Fault::PartialFailure,
            ],
            _ => &[
                Fault::Throttle,
                Fault::ServerError,
                Fault::Timeout,
                Fault::LostResponse,
            ],
        }
    }
}

/// What was injected so far: calls seen and faults per service and kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultReport {
    /// Calls that went through the injector (set-up calls included), per service.
    pub calls: BTreeMap<&'static str, u64>,
    /// Injected faults per (service, kind).
    pub injected: BTreeMap<(&'static str, Fault), u64>,
}

impl FaultReport {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    pub fn total_injected(&self) -> u64 {
        self.injected.values().sum()
    }

    pub fn of_kind(&self, kind: Fault) -> u64 {
        self.injected
            .iter()
            .filter(|((_, k), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn of_service(&self, service: &str) -> u64 {
        self.injected
            .iter()
            .filter(|((s, _), _)| *s == service)
            .map(|(_, n)| n)
            .sum()
    }
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} calls, {} faults injected",
            self.total_calls(),
            self.total_injected()
        )?;
        for ((service, kind), n) in &self.injected {
            write!(f, "; {service} {kind} {n}")?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct State {
    rate_ppm: AtomicU32,
    seed: u64,
    draws: AtomicU64,
    report: Mutex<FaultReport>,
    /// `ClientRequestToken`s of transactions that committed but whose
    /// answer was lost.
    committed_tokens: Mutex<std::collections::HashSet<String>>,
}

/// The injector: cheap to clone, shared by every client built from it.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    state: Arc<State>,
}

/// One in a million.
pub const PPM: u32 = 1_000_000;

impl FaultInjector {
    /// Inject at `rate_ppm` parts per million (clamped to 1,000,000), with
    /// decisions drawn from `seed`.
    pub fn new(rate_ppm: u32, seed: u64) -> FaultInjector {
        FaultInjector {
            state: Arc::new(State {
                rate_ppm: AtomicU32::new(rate_ppm.min(PPM)),
                seed,
                draws: AtomicU64::new(0),
                report: Mutex::new(FaultReport::default()),
                committed_tokens: Mutex::new(std::collections::HashSet::new()),
            }),
        }
    }

    pub fn set_rate_ppm(&self, rate_ppm: u32) {
        self.state
            .rate_ppm
            .store(rate_ppm.min(PPM), Ordering::SeqCst);
    }

    pub fn rate_ppm(&self) -> u32 {
        self.state.rate_ppm.load(Ordering::SeqCst)
    }

    pub fn report(&self) -> FaultReport {
        self.state
            .report
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The SDK's own HTTPS client (rustls with aws-lc, as the SDK's
    /// default), wrapped: give it to `aws_config::ConfigLoader::http_client`.
    pub fn http_client(&self) -> SharedHttpClient {
        let inner = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        SharedHttpClient::new(FaultyClient {
            inner,
            injector: self.clone(),
        })
    }

    /// The SDK's standard retry mode (3 attempts) with its backoff
    /// shortened from seconds to milliseconds, so a test at a high fault
    /// rate stays quick while every retry path still runs.
    ///
    /// Connections are reused after a transient error: an injected fault
    /// never used one, and the SDK would otherwise log an error for each
    /// connection it cannot find to close.
    pub fn quick_retries() -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(2))
            .with_max_backoff(Duration::from_millis(20))
            .with_reconnect_mode(aws_smithy_types::retry::ReconnectMode::ReuseAllConnections)
    }

    /// splitmix64 of the seed and a draw counter.
    fn draw(&self) -> u64 {
        let n = self.state.draws.fetch_add(1, Ordering::Relaxed);
        let mut z = self
            .state
            .seed
            .wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Whether this call gets a fault, and which; counted either way.
    fn decide(&self, call: &Call) -> Option<Fault> {
        let rate = u64::from(self.rate_ppm());
        let fault = if call.is_setup() || rate == 0 {
            None
        } else {
            let roll = self.draw();
            let possible = call.possible();
            ((roll % u64::from(PPM)) < rate).then(|| {
                let pick = (roll / u64::from(PPM)) % possible.len() as u64;
                possible[usize::try_from(pick).unwrap_or_default()]
            })
        };
        if let Ok(mut report) = self.state.report.lock() {
            *report.calls.entry(call.service).or_default() += 1;
            if let Some(kind) = fault {
                *report.injected.entry((call.service, kind)).or_default() += 1;
            }
        }
        fault
    }
}

#[derive(Debug)]
struct FaultyClient {
    inner: SharedHttpClient,
    injector: FaultInjector,
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            injector: self.injector.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    injector: FaultInjector,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let call = Call::of(&request);
        let token = (call.service == "dynamodb" && call.operation == "TransactWriteItems")
            .then(|| request_token(&request))
            .flatten();
        if let Some(t) = &token {
            let committed = self
                .injector
                .state
                .committed_tokens
                .lock()
                .is_ok_and(|set| set.contains(t));
            if committed {
                // DynamoDB's idempotent retry: the transaction committed.
                return HttpConnectorFuture::ready(json_response(
                    200,
                    &serde_json::json!({}),
                    "application/x-amz-json-1.0",
                ));
            }
        }
        let Some(fault) = self.injector.decide(&call) else {
            return self.inner.call(request);
        };
        tracing::debug!(service = call.service, operation = %call.operation, %fault, "injected fault");
        match fault {
            Fault::LostResponse => {
                let sent = self.inner.call(request);
                let injector = self.injector.clone();
                HttpConnectorFuture::new(async move {
                    // Whatever the service answered is lost on the way back.
                    let answer = sent.await;
                    if let (Some(t), Ok(r)) = (token, &answer)
                        && r.status().is_success()
                        && let Ok(mut set) = injector.state.committed_tokens.lock()
                    {
                        set.insert(t);
                    }
                    Err(ConnectorError::timeout(
                        "injected fault: the response was lost after the call was sent".into(),
                    ))
                })
            }
            Fault::Timeout => HttpConnectorFuture::ready(Err(ConnectorError::timeout(
                "injected fault: timed out before the call was sent".into(),
            ))),
            other => HttpConnectorFuture::ready(fault_response(&call, other, &request)),
        }
    }
}

/// The service's own answer for an injected fault (AWS JSON protocols:
/// the error code in `__type`).
fn fault_response(
    call: &Call,
    fault: Fault,
    request: &HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let (status, body) = match fault {
        Fault::Throttle => {
            let code = if call.service == "dynamodb" {
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            } else {
                "ThrottlingException"
            };
            (
                400,
                serde_json::json!({"__type": code, "message": "injected fault: rate exceeded"}),
            )
        }
        Fault::TransactionConflict => {
            let items = entries(request, "TransactItems").max(1);
            let mut reasons = vec![serde_json::json!({"Code": "None"}); items];
            reasons[0] = serde_json::json!({"Code": "TransactionConflict",
                "Message": "Transaction is ongoing for the item"});
            (
                400,
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                    "CancellationReasons": reasons}),
            )
        }
        Fault::PartialFailure => {
            let n = entries(request, "Entries");
            let failed = vec![
                serde_json::json!({"ErrorCode": "InternalFailure",
                    "ErrorMessage": "injected fault: entry not accepted"});
                n
            ];
            (
                200,
                serde_json::json!({"FailedEntryCount": n, "Entries": failed}),
            )
        }
        // Server errors, and anything else asked of a call that cannot
        // have it.
        _ => (
            500,
            serde_json::json!({"__type": "InternalServerError",
                "message": "injected fault: internal server error"}),
        ),
    };
    let content_type = if call.service == "dynamodb" {
        "application/x-amz-json-1.0"
    } else {
        "application/x-amz-json-1.1"
    };
    json_response(status, &body, content_type)
}

fn json_response(
    status: u16,
    body: &serde_json::Value,
    content_type: &'static str,
) -> Result<HttpResponse, ConnectorError> {
    let status = StatusCode::try_from(status).map_err(|e| ConnectorError::other(e.into(), None))?;
    let mut response = HttpResponse::new(status, SdkBody::from(body.to_string()));
    response.headers_mut().insert("content-type", content_type);
    Ok(response)
}

/// A transaction's `ClientRequestToken`.
fn request_token(request: &HttpRequest) -> Option<String> {
    request
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("ClientRequestToken")?.as_str().map(str::to_owned))
}

/// How many entries the request's JSON body has under `field`.
fn entries(request: &HttpRequest, field: &str) -> usize {
    request
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get(field).and_then(|e| e.as_array()).map(Vec::len))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, body: &str) -> HttpRequest {
        let mut r = HttpRequest::new(SdkBody::from(body.to_owned()));
        r.headers_mut().insert("x-amz-target", target.to_owned());
        r
    }

    #[test]
    fn calls_are_named_by_their_target_header() {
        let c = Call::of(&request("DynamoDB_20120810.TransactWriteItems", "{}"));
        assert_eq!(
            (c.service, c.operation.as_str()),
            ("dynamodb", "TransactWriteItems")
        );
        assert_eq!(
            Call::of(&request("AmazonSQS.SendMessage", "{}")).service,
            "sqs"
        );
        assert_eq!(
            Call::of(&request("AWSEvents.PutEvents", "{}")).service,
            "eventbridge"
        );
        assert!(Call::of(&request("DynamoDB_20120810.CreateTable", "{}")).is_setup());
    }

    #[test]
    fn the_rate_is_honoured_and_setup_calls_are_never_faulted() {
        let injector = FaultInjector::new(200_000, 7);
        let call = Call::of(&request("DynamoDB_20120810.GetItem", "{}"));
        let faulted = (0..10_000)
            .filter(|_| injector.decide(&call).is_some())
            .count();
        assert!(
            (1_800..2_200).contains(&faulted),
            "{faulted} of 10,000 at 20 %"
        );
        let setup = Call::of(&request("DynamoDB_20120810.DescribeTable", "{}"));
        assert!((0..1_000).all(|_| injector.decide(&setup).is_none()));
        injector.set_rate_ppm(0);
        assert!((0..1_000).all(|_| injector.decide(&call).is_none()));
        let report = injector.report();
        assert_eq!(report.calls["dynamodb"], 12_000);
        assert_eq!(report.total_injected(), faulted as u64);
    }

    #[test]
    fn every_kind_a_call_can_get_is_drawn_and_only_those() {
        let injector = FaultInjector::new(PPM, 1);
        for (target, kinds) in [
            ("DynamoDB_20120810.TransactWriteItems", 5),
            ("AWSEvents.PutEvents", 5),
            ("AmazonSQS.SendMessage", 4),
        ] {
            let call = Call::of(&request(target, "{}"));
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..1_000 {
                seen.insert(injector.decide(&call).expect("always at 100 %"));
            }
            assert_eq!(seen.len(), kinds, "{target}: {seen:?}");
            assert!(seen.iter().all(|k| call.possible().contains(k)));
        }
    }

    #[test]
    fn fault_responses_are_the_services_own_errors() {
        let tx = request(
            "DynamoDB_20120810.TransactWriteItems",
            r#"{"TransactItems":[{},{},{}]}"#,
        );
        let call = Call::of(&tx);
        let r = fault_response(&call, Fault::TransactionConflict, &tx).expect("response");
        assert_eq!(r.status().as_u16(), 400);
        let body: serde_json::Value =
            serde_json::from_slice(r.body().bytes().expect("body")).expect("json");
        assert_eq!(
            body["CancellationReasons"].as_array().map(Vec::len),
            Some(3)
        );
        assert_eq!(
            body["CancellationReasons"][0]["Code"],
            "TransactionConflict"
        );

        let put = request("AWSEvents.PutEvents", r#"{"Entries":[{},{}]}"#);
        let r = fault_response(&Call::of(&put), Fault::PartialFailure, &put).expect("response");
        assert_eq!(r.status().as_u16(), 200);
        let body: serde_json::Value =
            serde_json::from_slice(r.body().bytes().expect("body")).expect("json");
        assert_eq!(body["FailedEntryCount"], 2);

        let get = request("DynamoDB_20120810.GetItem", "{}");
        let r = fault_response(&Call::of(&get), Fault::Throttle, &get).expect("response");
        assert_eq!(r.status().as_u16(), 400);
        assert_eq!(
            r.headers().get("content-type"),
            Some("application/x-amz-json-1.0")
        );
    }
}
