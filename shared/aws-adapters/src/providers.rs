//! The payment providers' HTTP API: the one adapter of
//! [`app::provider_requests::PaymentProviders`]. A payment, a refund or a
//! credit-line application is one `POST` of a JSON body to the provider's
//! base URL, with the provider's API key as a bearer token and the
//! request's idempotency key; `docs/provider-api.md` is the contract (the
//! local stack's sandbox provider speaks the same API).
//!
//! # The HTTP client
//!
//! Requests go through [`aws_smithy_http_client::Connector`]: the very
//! connector the AWS SDK's default HTTPS client builds for each of its
//! clients (`default_connector`), configured the same way: hyper 1 through
//! `hyper-util`'s pooling client, rustls 0.23 with the aws-lc-rs provider
//! (`CryptoMode::AwsLc`, the SDK's cipher-suite restrictions), the
//! platform's native root certificates (the SDK's default trust store),
//! ALPN offering `h2` then `http/1.1`, `TCP_NODELAY`, and hyper's idle
//! connection pool. So the function links no second TLS stack, no second
//! root store and no second HTTP client: only code the SDK already brings
//! in. The connector takes any request (`HttpConnector::call`), needs no
//! SDK runtime components, and speaks plain `http://` as well (the tests
//! and the local sandbox listen on loopback). It sits behind a
//! `SharedHttpConnector` (an `Arc`), so one [`HttpProviders`] built at
//! start-up is one connection pool for the process, and clones share it.
//!
//! Timeouts are the SDK's defaults where it has one — connect within
//! 3.1 s ([`CONNECT_TIMEOUT`]) — plus a total budget per request
//! ([`REQUEST_TIMEOUT`], 10 s: connect, send, answer and body), which the
//! SDK leaves to the caller. Nothing is retried here: a
//! [`ProviderError::Transient`] goes back to the caller, which asks again
//! later with the same idempotency key.
//!
//! # Configuration
//!
//! [`ProviderConfig`]: per provider a base URL (`PROVIDER_URL_<PROVIDER>`)
//! and an API key, from `PROVIDER_KEY_<PROVIDER>` (local) or from the
//! Secrets Manager secret's JSON ([`ProviderConfig::with_keys_json`]). Keys
//! never appear in `Debug` output, errors or logs.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::provider_requests::{PaymentProviders, ProviderAnswer, ProviderError, ProviderRequest};
use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::Provider as TlsProvider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use domain::ids::{ApplicationId, OrderId, PaymentId, RefundId, UserId};
use domain::payment::{MethodKind, Stage};
use domain::{Currency, Provider, Usd};
use serde::{Deserialize, Serialize};

/// The SDK's default connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// The whole request: connect, send, the answer and its body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// What the platform calls itself.
pub const USER_AGENT: &str = concat!("trade-assurance/", env!("CARGO_PKG_VERSION"));
/// `PROVIDER_URL_ECHECK`, `PROVIDER_URL_CARD`, …
pub const URL_VARIABLE_PREFIX: &str = "PROVIDER_URL_";
/// `PROVIDER_KEY_ECHECK`, `PROVIDER_KEY_CARD`, … (local only; deployed
/// keys come from the secret).
pub const KEY_VARIABLE_PREFIX: &str = "PROVIDER_KEY_";

/// The paths, relative to a provider's base URL.
pub const PAYMENTS_PATH: &str = "/v1/payments";
pub const REFUNDS_PATH: &str = "/v1/refunds";
pub const CREDIT_LINE_APPLICATIONS_PATH: &str = "/v1/credit-line-applications";

/// An answer body larger than this is not read (a provider's answer is a
/// few hundred bytes; anything this large is not one).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;
/// A provider's message is cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// The environment variable of a provider's base URL.
pub fn url_variable(provider: Provider) -> String {
    format!(
        "{URL_VARIABLE_PREFIX}{}",
        provider.as_str().to_ascii_uppercase()
    )
}

/// The environment variable of a provider's API key (local only).
pub fn key_variable(provider: Provider) -> String {
    format!(
        "{KEY_VARIABLE_PREFIX}{}",
        provider.as_str().to_ascii_uppercase()
    )
}

/// An API key: shown as `<redacted>` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
struct ApiKey(String);

impl ApiKey {
    /// A key usable in an `Authorization` header: visible ASCII, no
    /// spaces, surrounding whitespace trimmed.
    fn parse(raw: &str) -> Option<ApiKey> {
        let key = raw.trim();
        let usable = !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic());
        usable.then(|| ApiKey(key.to_owned()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A base URL: `http://` or `https://`, a host, optionally a port and a
/// path prefix; no credentials, query or fragment; trailing `/` dropped.
fn parse_base_url(raw: &str) -> Option<String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let plain = |c: char| !c.is_whitespace() && !c.is_control() && !matches!(c, '?' | '#');
    if authority.is_empty() || authority.contains('@') || !url.chars().all(plain) {
        return None;
    }
    // The request URIs built from it must parse.
    HttpRequest::get(format!("{url}{CREDIT_LINE_APPLICATIONS_PATH}")).ok()?;
    Some(url.to_owned())
}

/// One provider's endpoint, as far as it is configured.
#[derive(Clone, Default, PartialEq, Eq)]
struct Endpoint {
    base_url: Option<String>,
    api_key: Option<ApiKey>,
}

/// Where each provider's API is and the key to call it with. `Debug` shows
/// the URLs and whether a key is set, never the key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Indexed like [`Provider::ALL`].
    endpoints: [Endpoint; 4],
}

fn index(provider: Provider) -> usize {
    match provider {
        Provider::Echeck => 0,
        Provider::Card => 1,
        Provider::Bank => 2,
        Provider::Paylater => 3,
    }
}

impl ProviderConfig {
    /// Reads `PROVIDER_URL_<PROVIDER>` and `PROVIDER_KEY_<PROVIDER>` for
    /// each provider through `get`. An unusable value (a URL that is not
    /// `http(s)://host…`, a key with spaces or control characters) is
    /// ignored with a warning naming the variable, never its value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ProviderConfig {
        let mut config = ProviderConfig::default();
        for provider in Provider::ALL {
            let endpoint = &mut config.endpoints[index(provider)];
            let url_var = url_variable(provider);
            if let Some(raw) = get(&url_var).filter(|v| !v.trim().is_empty()) {
                endpoint.base_url = parse_base_url(&raw);
                if endpoint.base_url.is_none() {
                    tracing::warn!(
                        variable = %url_var,
                        "ignored: a provider URL is http(s)://host[:port][/path], without credentials, query or fragment"
                    );
                }
            }
            let key_var = key_variable(provider);
            if let Some(raw) = get(&key_var).filter(|v| !v.trim().is_empty()) {
                endpoint.api_key = ApiKey::parse(&raw);
                if endpoint.api_key.is_none() {
                    tracing::warn!(
                        variable = %key_var,
                        "ignored: an API key is visible ASCII without spaces"
                    );
                }
            }
        }
        config
    }

    /// [`ProviderConfig::from_lookup`] on the process environment.
    pub fn from_env() -> ProviderConfig {
        ProviderConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Takes the API keys from the providers' key secret: a JSON object of
    /// provider name to key, e.g. `{"echeck": "…", "card": "…", "bank":
    /// "…", "paylater": "…"}`. A key found there replaces the one from the
    /// environment; a provider absent (or `null`) keeps its own; names
    /// that are not providers are ignored. Errors never quote the secret.
    pub fn with_keys_json(mut self, json: &str) -> Result<ProviderConfig, KeysJsonError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| KeysJsonError::NotJson {
                line: e.line(),
                column: e.column(),
            })?;
        let serde_json::Value::Object(keys) = value else {
            return Err(KeysJsonError::NotAnObject);
        };
        for provider in Provider::ALL {
            match keys.get(provider.as_str()) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(raw)) => {
                    let key = ApiKey::parse(raw).ok_or(KeysJsonError::NotAKey(provider))?;
                    self.endpoints[index(provider)].api_key = Some(key);
                }
                Some(_) => return Err(KeysJsonError::NotAKey(provider)),
            }
        }
        Ok(self)
    }

    /// The provider's base URL, if one is configured.
    pub fn base_url(&self, provider: Provider) -> Option<&str> {
        self.endpoints[index(provider)].base_url.as_deref()
    }

    /// Whether the provider has both a URL and a key.
    pub fn is_configured(&self, provider: Provider) -> bool {
        let endpoint = &self.endpoints[index(provider)];
        endpoint.base_url.is_some() && endpoint.api_key.is_some()
    }

    /// The providers that have both a URL and a key.
    pub fn configured(&self) -> Vec<Provider> {
        Provider::ALL
            .into_iter()
            .filter(|p| self.is_configured(*p))
            .collect()
    }

    fn endpoint(&self, provider: Provider) -> Option<(&str, &ApiKey)> {
        let endpoint = &self.endpoints[index(provider)];
        Some((endpoint.base_url.as_deref()?, endpoint.api_key.as_ref()?))
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Shown<'a>(&'a Endpoint);
        impl fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Endpoint")
                    .field("base_url", &self.0.base_url)
                    .field("api_key", &self.0.api_key.as_ref().map(|_| "<redacted>"))
                    .finish()
            }
        }
        f.debug_map()
            .entries(
                Provider::ALL
                    .into_iter()
                    .map(|p| (p.as_str(), Shown(&self.endpoints[index(p)]))),
            )
            .finish()
    }
}

/// Why the providers' key secret could not be used. Never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysJsonError {
    #[error("the providers' key secret is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the providers' key secret is not a JSON object of provider name to key")]
    NotAnObject,
    #[error(
        "the key of provider {0} in the providers' key secret is not a string of visible ASCII"
    )]
    NotAKey(Provider),
}

/// The payment providers over HTTP. Build one at start-up and clone it:
/// clones share one connection pool.
#[derive(Clone, Debug)]
pub struct HttpProviders {
    config: Arc<ProviderConfig>,
    connector: SharedHttpConnector,
    request_timeout: Duration,
}

/// Options of [`HttpProviders`]: the timeouts (defaults
/// [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`]).
#[derive(Debug, Clone)]
pub struct HttpProvidersBuilder {
    config: ProviderConfig,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl HttpProvidersBuilder {
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The client: the SDK's HTTPS connector (see the module
    /// documentation). Loads the native root certificates once; call it
    /// once per process.
    pub fn build(self) -> HttpProviders {
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(self.connect_timeout)
            .build();
        let connector = Connector::builder()
            .connector_settings(settings)
            .tls_provider(TlsProvider::Rustls(CryptoMode::AwsLc))
            .build();
        HttpProviders {
            config: Arc::new(self.config),
            connector: SharedHttpConnector::new(connector),
            request_timeout: self.request_timeout,
        }
    }
}

impl HttpProviders {
    pub fn builder(config: ProviderConfig) -> HttpProvidersBuilder {
        HttpProvidersBuilder {
            config,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }

    /// The client with the default timeouts.
    pub fn new(config: ProviderConfig) -> HttpProviders {
        HttpProviders::builder(config).build()
    }

    /// [`ProviderConfig::from_lookup`], default timeouts.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> HttpProviders {
        HttpProviders::new(ProviderConfig::from_lookup(get))
    }

    /// [`ProviderConfig::from_env`], default timeouts.
    pub fn from_env() -> HttpProviders {
        HttpProviders::new(ProviderConfig::from_env())
    }

    /// The same client with the keys of the providers' key secret (see
    /// [`ProviderConfig::with_keys_json`]).
    pub fn with_keys_json(self, json: &str) -> Result<HttpProviders, KeysJsonError> {
        let config = Arc::unwrap_or_clone(self.config).with_keys_json(json)?;
        Ok(HttpProviders {
            config: Arc::new(config),
            ..self
        })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    async fn post(&self, request: &ProviderRequest) -> Result<ProviderAnswer, ProviderError> {
        let provider = request.provider();
        let (base_url, key) = self
            .config
            .endpoint(provider)
            .ok_or(ProviderError::NotConfigured(provider))?;
        let (path, body) = encode(request)?;
        let idempotency_key = request.idempotency_key();
        let http = build_request(base_url, path, body, key, &idempotency_key)
            // URL and key were checked when configured; this cannot happen.
            .ok_or(ProviderError::NotConfigured(provider))?;

        let started = Instant::now();
        let call = async {
            let response = self.connector.call(http).await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| truncate(v.trim(), 64));
            let body = read_body(response).await;
            Ok::<_, ConnectorError>((status, retry_after, body))
        };
        let outcome = tokio::time::timeout(self.request_timeout, call).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let result = match outcome {
            Err(_) => Err(ProviderError::Transient(format!(
                "{provider} did not answer {path} within {} ms",
                self.request_timeout.as_millis()
            ))),
            Ok(Err(e)) => Err(ProviderError::Transient(connector_message(provider, &e))),
            Ok(Ok((status, retry_after, body))) => {
                interpret(provider, status, retry_after.as_deref(), body)
            }
        };
        match &result {
            Ok(answer) => tracing::info!(
                provider = %provider,
                path,
                idempotency_key = %idempotency_key,
                reference = %answer.reference,
                elapsed_ms,
                "the provider accepted the request"
            ),
            Err(e) => tracing::warn!(
                provider = %provider,
                path,
                idempotency_key = %idempotency_key,
                transient = e.is_transient(),
                error = %e,
                elapsed_ms,
                "the provider did not accept the request"
            ),
        }
        result
    }
}

impl PaymentProviders for HttpProviders {
    fn send(
        &self,
        request: &ProviderRequest,
    ) -> impl Future<Output = Result<ProviderAnswer, ProviderError>> + Send {
        self.post(request)
    }
}

#[derive(Serialize)]
struct PaymentBody<'a> {
    order_id: &'a OrderId,
    payment_id: &'a PaymentId,
    buyer_id: &'a UserId,
    stage: Stage,
    method: MethodKind,
    amount: Usd,
    currency: Currency,
}

#[derive(Serialize)]
struct RefundBody<'a> {
    order_id: &'a OrderId,
    payment_id: &'a PaymentId,
    refund_id: &'a RefundId,
    attempt: u32,
    amount: Usd,
    currency: Currency,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_reference: Option<&'a str>,
}

#[derive(Serialize)]
struct CreditLineBody<'a> {
    buyer_id: &'a UserId,
    application_id: &'a ApplicationId,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_limit: Option<Usd>,
}

/// The path and JSON body of a request. Money is the amount's decimal
/// string with two places (`Usd`'s `Display`), never a JSON number.
fn encode(request: &ProviderRequest) -> Result<(&'static str, Vec<u8>), ProviderError> {
    let encoded = match request {
        ProviderRequest::Payment {
            provider: _,
            order_id,
            payment_id,
            buyer_id,
            stage,
            method,
            amount,
        } => (
            PAYMENTS_PATH,
            serde_json::to_vec(&PaymentBody {
                order_id,
                payment_id,
                buyer_id,
                stage: *stage,
                method: *method,
                amount: *amount,
                currency: Currency::Usd,
            }),
        ),
        ProviderRequest::Refund {
            provider: _,
            order_id,
            payment_id,
            refund_id,
            attempt,
            amount,
            payment_reference,
        } => (
            REFUNDS_PATH,
            serde_json::to_vec(&RefundBody {
                order_id,
                payment_id,
                refund_id,
                attempt: *attempt,
                amount: *amount,
                currency: Currency::Usd,
                payment_reference: payment_reference.as_deref(),
            }),
        ),
        ProviderRequest::CreditLine {
            buyer_id,
            application_id,
            requested_limit,
        } => (
            CREDIT_LINE_APPLICATIONS_PATH,
            serde_json::to_vec(&CreditLineBody {
                buyer_id,
                application_id,
                requested_limit: *requested_limit,
            }),
        ),
    };
    let (path, body) = encoded;
    // Strings, a number and enums: encoding cannot fail. Were it to, the
    // request is kept and asked again rather than lost.
    let body =
        body.map_err(|e| ProviderError::Transient(format!("encoding the request failed: {e}")))?;
    Ok((path, body))
}

fn build_request(
    base_url: &str,
    path: &str,
    body: Vec<u8>,
    key: &ApiKey,
    idempotency_key: &str,
) -> Option<HttpRequest> {
    let mut request = HttpRequest::new(SdkBody::from(body));
    request.set_method("POST").ok()?;
    request.set_uri(format!("{base_url}{path}")).ok()?;
    let headers = request.headers_mut();
    headers
        .try_insert("authorization", format!("Bearer {}", key.0))
        .ok()?;
    headers
        .try_insert("idempotency-key", idempotency_key.to_owned())
        .ok()?;
    headers
        .try_insert("content-type", "application/json")
        .ok()?;
    headers.try_insert("accept", "application/json").ok()?;
    headers.try_insert("user-agent", USER_AGENT).ok()?;
    Some(request)
}

/// The answer's body, or `None` when it is too large or breaks off.
async fn read_body(response: HttpResponse) -> Option<Vec<u8>> {
    let declared = response
        .headers()
        .get("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_ANSWER_BYTES) {
        return None;
    }
    let bytes = ByteStream::new(response.into_body()).collect().await.ok()?;
    Some(bytes.into_bytes().to_vec())
}

fn connector_message(provider: Provider, error: &ConnectorError) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_io() {
        "could not be reached"
    } else {
        "failed"
    };
    // The causes' own words, outermost first, without their `Debug`.
    let mut causes = Vec::new();
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        let said = cause.to_string();
        if !causes.contains(&said) {
            causes.push(said);
        }
        next = cause.source();
    }
    let causes = if causes.is_empty() {
        error.to_string()
    } else {
        causes.join(": ")
    };
    truncate(&format!("{provider} {what}: {causes}"), MAX_MESSAGE_CHARS)
}

/// A problem answer: `{"title", "detail"?}` or `{"message"}`.
#[derive(Deserialize)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// What the provider said, from a problem body or the raw text.
fn message_of(body: Option<&[u8]>) -> String {
    let Some(body) = body else {
        return "no readable reason given".to_owned();
    };
    let nonblank = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Ok(problem) = serde_json::from_slice::<Problem>(body) {
        let said = match (nonblank(problem.title), nonblank(problem.detail)) {
            (Some(title), Some(detail)) => Some(format!("{title}: {detail}")),
            (Some(one), None) | (None, Some(one)) => Some(one),
            (None, None) => nonblank(problem.message),
        };
        if let Some(said) = said {
            return truncate(&said, MAX_MESSAGE_CHARS);
        }
    }
    match std::str::from_utf8(body).map(str::trim) {
        Ok(text) if !text.is_empty() => truncate(text, MAX_MESSAGE_CHARS),
        _ => "no reason given".to_owned(),
    }
}

/// The platform's reading of an answer.
fn interpret(
    provider: Provider,
    status: u16,
    retry_after: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<ProviderAnswer, ProviderError> {
    let retry = |message: String| match retry_after {
        Some(after) if !after.is_empty() && after.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{message} (retry after {after} s)")
        }
        Some(after) if !after.is_empty() => format!("{message} (retry after {after})"),
        _ => message,
    };
    match status {
        200..=202 => {
            let answer = body
                .as_deref()
                .and_then(|b| serde_json::from_slice::<ProviderAnswer>(b).ok())
                .filter(|a| !a.reference.trim().is_empty());
            answer.ok_or_else(|| {
                ProviderError::Transient(format!(
                    "{provider} answered {status} without a readable answer (a proxy's page?)"
                ))
            })
        }
        408 | 429 => Err(ProviderError::Transient(retry(format!(
            "{provider} answered {status}: {}",
            message_of(body.as_deref())
        )))),
        400..=499 => Err(ProviderError::Refused {
            status,
            message: message_of(body.as_deref()),
        }),
        500..=599 => Err(ProviderError::Transient(retry(format!(
            "{provider} answered {status}: {}",
            message_of(body.as_deref())
        )))),
        _ => Err(ProviderError::Transient(format!(
            "{provider} answered an unexpected {status}"
        ))),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_is_http_or_https_with_a_host_and_no_credentials() {
        assert_eq!(
            parse_base_url("https://api.card.example/"),
            Some("https://api.card.example".to_owned())
        );
        assert_eq!(
            parse_base_url("http://127.0.0.1:4010/sandbox/card"),
            Some("http://127.0.0.1:4010/sandbox/card".to_owned())
        );
        for bad in [
            "api.card.example",
            "ftp://api.card.example",
            "https://",
            "https://user:pw@api.card.example",
            "https://api.card.example/?x=1",
            "https://api card.example",
        ] {
            assert_eq!(parse_base_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_message_is_read_from_a_problem_a_message_or_the_text() {
        assert_eq!(
            message_of(Some(
                br#"{"title":"Card declined","detail":"insufficient funds"}"#
            )),
            "Card declined: insufficient funds"
        );
        assert_eq!(
            message_of(Some(br#"{"message":"unknown order"}"#)),
            "unknown order"
        );
        assert_eq!(message_of(Some(b"Bad Request")), "Bad Request");
        assert_eq!(message_of(Some(b"")), "no reason given");
        assert_eq!(message_of(None), "no readable reason given");
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let cut = truncate(&long, MAX_MESSAGE_CHARS);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
