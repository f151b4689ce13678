//! The webhook route, `POST /v1/webhooks/{provider}` (function
//! `payment-webhook`): authenticate the provider by its Standard Webhooks
//! signature, check the body is a well-formed event, queue it for the
//! `process-payment-events` consumer, answer 202.
//!
//! Checks run 413 → 404 (unknown provider) → 401 (signature) → 400
//! (malformed event) → 503 (queue unavailable). Nothing of an unverified
//! body is parsed: the signature is computed over the raw bytes, and only
//! a verified body reaches the event parser. The signature's timestamp is
//! checked against the real clock (transport time, which never travels);
//! the message carries business time as `received_at`.
//!
//! Secrets come from the environment (`WEBHOOK_SECRET_ECHECK`, `_CARD`,
//! `_BANK`, `_PAYLATER`), resolved there at deploy time from Secrets
//! Manager by the template: reading them costs nothing at cold start. A
//! variable may hold several space-separated `whsec_` secrets while a
//! provider rotates its key.

use app::error::MessagingError;
use app::ports::{PaymentQueue, ProviderMessage};
use app::provider_events::{self, ProviderEvent, SecretError, WebhookSecret};
use domain::actor::Provider;
use domain::calendar::Timestamp;
use serde_json::json;
use thiserror::Error;

use crate::problem::{ApiError, FieldError, error_chain};
use crate::request::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::routes::{self, Endpoint, Route};

/// The function serving the webhook route.
pub const FUNCTION: &str = "payment-webhook";

/// The providers' route: public (a signature authenticates the sender, not
/// a token).
pub const ROUTES: &[Route] = &[Route::new(
    "POST",
    "/v1/webhooks/{provider}",
    FUNCTION,
    Endpoint::ProviderWebhook,
)
.public()];

/// The secret every provider uses locally when its variable is not set.
pub const LOCAL_DEFAULT_SECRET: &str = "whsec_bG9jYWwtd2ViaG9vay1zZWNyZXQ=";

/// The event types the route accepts.
pub const EVENT_TYPES: [&str; 8] = ProviderEvent::TYPES;

/// `WEBHOOK_SECRET_CARD` for `card`, …
pub fn secret_variable(provider: Provider) -> String {
    format!("WEBHOOK_SECRET_{}", provider.as_str().to_ascii_uppercase())
}

/// A provider's secret variable holds something that is not a secret.
#[derive(Debug, Error)]
#[error("{variable}: {source}")]
pub struct SecretConfigError {
    pub variable: String,
    #[source]
    pub source: SecretError,
}

/// Each provider's current secrets (more than one during a rotation).
#[derive(Debug, Clone, Default)]
pub struct ProviderSecrets {
    secrets: Vec<(Provider, Vec<WebhookSecret>)>,
}

impl ProviderSecrets {
    /// From the environment; a provider whose variable is unset or empty
    /// gets `default` if one is given (the local stack), else no secret —
    /// its webhooks are then refused (401) and a warning is logged once.
    pub fn from_env(default: Option<&str>) -> Result<Self, SecretConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), default)
    }

    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        default: Option<&str>,
    ) -> Result<Self, SecretConfigError> {
        let mut secrets = Vec::new();
        for provider in Provider::ALL {
            let variable = secret_variable(provider);
            let value = get(&variable)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| default.map(str::to_owned));
            let parsed = match value {
                None => {
                    tracing::warn!(%provider, variable, "no webhook secret: this provider's webhooks will be refused");
                    Vec::new()
                }
                Some(value) => value
                    .split_whitespace()
                    .map(WebhookSecret::parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|source| SecretConfigError {
                        variable: variable.clone(),
                        source,
                    })?,
            };
            secrets.push((provider, parsed));
        }
        Ok(ProviderSecrets { secrets })
    }

    /// From a Secrets Manager secret's JSON string: an object with the keys
    /// `echeck`, `card`, `bank` and `paylater`, each one `whsec_…` secret or
    /// several separated by spaces while a provider rotates its key. A
    /// provider without a key gets no secret (its webhooks are refused and
    /// a warning is logged); anything but such an object is an error.
    pub fn from_json(secret_string: &str) -> Result<Self, SecretConfigError> {
        let not_an_object = || SecretConfigError {
            variable: "the webhook secret".to_owned(),
            source: SecretError::NotAnObject,
        };
        let value: serde_json::Value =
            serde_json::from_str(secret_string).map_err(|_| not_an_object())?;
        let object = value.as_object().ok_or_else(not_an_object)?;
        Self::from_lookup(
            |variable| {
                Provider::ALL
                    .into_iter()
                    .find(|p| secret_variable(*p) == variable)
                    .and_then(|p| object.get(p.as_str()))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            },
            None,
        )
    }

    /// The same secrets for every provider (tests).
    pub fn uniform(secret: WebhookSecret) -> Self {
        ProviderSecrets {
            secrets: Provider::ALL
                .into_iter()
                .map(|p| (p, vec![secret.clone()]))
                .collect(),
        }
    }

    pub fn of(&self, provider: Provider) -> &[WebhookSecret] {
        self.secrets
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, s)| s.as_slice())
            .unwrap_or_default()
    }
}

/// What the webhook function holds: the queue and the secrets.
pub struct Webhooks<Q> {
    pub queue: Q,
    pub secrets: ProviderSecrets,
}

impl<Q: PaymentQueue> Webhooks<Q> {
    /// Answer one webhook delivery. `real_now_unix` is the real clock (the
    /// signature's timestamp tolerance); `received_at` is business time.
    pub async fn handle(
        &self,
        req: &ApiRequest,
        real_now_unix: i64,
        received_at: Timestamp,
    ) -> ApiResponse {
        let started = std::time::Instant::now();
        let found = routes::find(&req.method, &req.path);
        let route = found.as_ref().map(|(r, _)| r.path);
        let response = match self.accept(req, found, real_now_unix, received_at).await {
            Ok(response) => response,
            Err(e) => e.logged_response(&req.request_id),
        };
        crate::api::log_request(req, route, &response, started);
        response
    }

    async fn accept(
        &self,
        req: &ApiRequest,
        found: Option<(&'static routes::Route, routes::Params<'_>)>,
        real_now_unix: i64,
        received_at: Timestamp,
    ) -> Result<ApiResponse, ApiError> {
        if req.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let (route, params) = found.ok_or(ApiError::RouteNotFound)?;
        if route.endpoint != Endpoint::ProviderWebhook {
            return Err(ApiError::RouteNotFound);
        }
        let provider = Provider::parse(params.get("provider")).ok_or(ApiError::NotFound)?;
        let header = |name: &str| req.header(name).unwrap_or_default();
        let webhook_id = header("webhook-id");
        if let Err(why) = provider_events::verify_any(
            self.secrets.of(provider),
            webhook_id,
            header("webhook-timestamp"),
            header("webhook-signature"),
            &req.body,
            real_now_unix,
        ) {
            // The reason goes to the log only: a prober learns nothing.
            tracing::info!(request_id = %req.request_id, %provider, reason = %why, "webhook signature refused");
            return Err(ApiError::BadSignature);
        }
        let event = ProviderEvent::parse(&req.body).map_err(|e| ApiError::BadRequest {
            detail: "the body is not a well-formed provider event".into(),
            errors: vec![FieldError::new(e.path(), &e)],
        })?;
        // A parsed event is JSON, hence UTF-8.
        let body = String::from_utf8(req.body.clone())
            .map_err(|e| ApiError::bad_request(vec![FieldError::new("body", e)]))?;
        let message = ProviderMessage {
            provider,
            webhook_id: webhook_id.to_owned(),
            received_at,
            body,
        };
        self.queue.send(&message).await.map_err(|e| match e {
            MessagingError::Unavailable(_) => ApiError::Unavailable,
            other => ApiError::Internal(error_chain(&other)),
        })?;
        tracing::info!(
            request_id = %req.request_id,
            %provider,
            webhook_id,
            event = event.event_type(),
            "webhook queued"
        );
        Ok(ApiResponse::json(
            202,
            json!({"status": "accepted", "webhook_id": webhook_id}).to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::memory::MemoryQueue;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NOW: i64 = 1_800_000_000;
    const BODY: &str = r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":"1500.00","currency":"USD","provider_reference":"ch_1"}}"#;

    #[test]
    fn secrets_from_a_secrets_manager_json_give_each_provider_its_keys() {
        let second = "whsec_dGVzdC1zZWNvbmQta2V5";
        let json = format!(r#"{{"card": "{SECRET} {second}", "bank": "{SECRET}", "unused": "x"}}"#);
        let secrets = ProviderSecrets::from_json(&json).unwrap();
        assert_eq!(
            secrets.of(Provider::Card).len(),
            2,
            "both keys during a rotation"
        );
        assert_eq!(secrets.of(Provider::Bank).len(), 1);
        assert!(secrets.of(Provider::Echeck).is_empty(), "no key: refused");
        assert!(secrets.of(Provider::Paylater).is_empty());
    }

    #[test]
    fn a_secret_that_is_not_a_json_object_of_secrets_is_refused() {
        for bad in ["whsec_abc", "[]", r#"{"card": "not-a-secret"}"#] {
            assert!(ProviderSecrets::from_json(bad).is_err(), "{bad}");
        }
    }

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).expect("secret")
    }

    fn webhooks() -> Webhooks<MemoryQueue> {
        Webhooks {
            queue: MemoryQueue::default(),
            secrets: ProviderSecrets::uniform(secret()),
        }
    }

    fn signed(path: &str, id: &str, at: i64, body: &str, signature: Option<String>) -> ApiRequest {
        let signature =
            signature.unwrap_or_else(|| provider_events::sign(&secret(), id, at, body.as_bytes()));
        ApiRequest {
            method: "POST".into(),
            path: path.into(),
            headers: vec![
                ("webhook-id".into(), id.into()),
                ("webhook-timestamp".into(), at.to_string()),
                ("webhook-signature".into(), signature),
            ],
            body: body.as_bytes().to_vec(),
            ..ApiRequest::default()
        }
    }

    fn received() -> Timestamp {
        chrono::DateTime::from_timestamp(NOW, 0).unwrap_or_default()
    }

    async fn status(w: &Webhooks<MemoryQueue>, req: &ApiRequest) -> u16 {
        w.handle(req, NOW, received()).await.status
    }

    #[tokio::test]
    async fn when_signed_and_well_formed_should_queue_and_202() {
        let w = webhooks();
        let r = w
            .handle(
                &signed("/v1/webhooks/card", "msg_1", NOW, BODY, None),
                NOW,
                received(),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let sent = w.queue.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].provider, Provider::Card);
        assert_eq!(sent[0].webhook_id, "msg_1");
        assert_eq!(sent[0].body, BODY);
        assert_eq!(sent[0].received_at, received());
    }

    #[tokio::test]
    async fn checks_run_413_then_404_then_401_then_400() {
        let w = webhooks();
        let huge = format!(
            r#"{{"type":"payment.succeeded","pad":"{}"}}"#,
            "x".repeat(MAX_BODY_BYTES)
        );
        // Too large even when the provider is unknown and nothing is signed.
        let mut req = signed("/v1/webhooks/nobody", "m", NOW, &huge, Some(String::new()));
        assert_eq!(status(&w, &req).await, 413);
        // Unknown provider before the signature.
        req = signed(
            "/v1/webhooks/nobody",
            "m",
            NOW,
            BODY,
            Some("v1,AAAA".into()),
        );
        assert_eq!(status(&w, &req).await, 404);
        // Bad signature before the (malformed) body.
        req = signed(
            "/v1/webhooks/card",
            "m",
            NOW,
            "{not json",
            Some("v1,AAAA".into()),
        );
        assert_eq!(status(&w, &req).await, 401);
        // Verified but not an event.
        req = signed("/v1/webhooks/card", "m", NOW, "{not json", None);
        let r = w.handle(&req, NOW, received()).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.content_type, "application/problem+json");
        req = signed(
            "/v1/webhooks/card",
            "m",
            NOW,
            r#"{"type":"payment.won"}"#,
            None,
        );
        assert_eq!(status(&w, &req).await, 400);
        assert!(w.queue.sent().is_empty(), "nothing refused is queued");
    }

    #[tokio::test]
    async fn hostile_signatures_are_refused_with_401_and_nothing_queued() {
        let w = webhooks();
        let good = provider_events::sign(&secret(), "m", NOW, BODY.as_bytes());
        let other = WebhookSecret::parse("whsec_bG9jYWwtd2ViaG9vay1zZWNyZXQ=").expect("secret");
        let cases: Vec<(&str, ApiRequest)> = vec![
            (
                "empty signature",
                signed("/v1/webhooks/card", "m", NOW, BODY, Some(String::new())),
            ),
            (
                "garbled signature",
                signed("/v1/webhooks/card", "m", NOW, BODY, Some("v1,%%%".into())),
            ),
            (
                "no version",
                signed(
                    "/v1/webhooks/card",
                    "m",
                    NOW,
                    BODY,
                    Some(good[3..].to_owned()),
                ),
            ),
            (
                "other secret",
                signed(
                    "/v1/webhooks/card",
                    "m",
                    NOW,
                    BODY,
                    Some(provider_events::sign(&other, "m", NOW, BODY.as_bytes())),
                ),
            ),
            (
                "stale by 301 s",
                signed("/v1/webhooks/card", "m", NOW - 301, BODY, None),
            ),
            (
                "future by 301 s",
                signed("/v1/webhooks/card", "m", NOW + 301, BODY, None),
            ),
            ("tampered body", {
                let mut r = signed("/v1/webhooks/card", "m", NOW, BODY, Some(good.clone()));
                r.body = BODY.replace("1500.00", "9500.00").into_bytes();
                r
            }),
            ("id swapped", {
                let mut r = signed("/v1/webhooks/card", "m", NOW, BODY, Some(good.clone()));
                r.headers[0].1 = "m2".into();
                r
            }),
            ("missing id", {
                let mut r = signed("/v1/webhooks/card", "m", NOW, BODY, Some(good.clone()));
                r.headers.remove(0);
                r
            }),
        ];
        for (what, req) in cases {
            let r = w.handle(&req, NOW, received()).await;
            assert_eq!(r.status, 401, "{what}");
            assert!(
                r.body.contains("/problems/invalid-signature"),
                "{what}: {}",
                r.body
            );
        }
        assert!(w.queue.sent().is_empty());
        // At the edge of the tolerance it still passes.
        let edge = signed("/v1/webhooks/card", "m", NOW - 300, BODY, None);
        assert_eq!(status(&w, &edge).await, 202);
    }

    #[tokio::test]
    async fn a_rotated_key_verifies_with_either_signature_or_either_secret() {
        let old = secret();
        let new = WebhookSecret::parse(LOCAL_DEFAULT_SECRET).expect("secret");
        let two = format!("{SECRET} {LOCAL_DEFAULT_SECRET}");
        let secrets = ProviderSecrets::from_lookup(
            |name| (name == "WEBHOOK_SECRET_BANK").then(|| two.clone()),
            None,
        )
        .expect("secrets");
        assert_eq!(secrets.of(Provider::Bank).len(), 2);
        assert!(secrets.of(Provider::Card).is_empty());
        let w = Webhooks {
            queue: MemoryQueue::default(),
            secrets,
        };
        for key in [&old, &new] {
            let sig = provider_events::sign(key, "m", NOW, BODY.as_bytes());
            let req = signed("/v1/webhooks/bank", "m", NOW, BODY, Some(sig));
            assert_eq!(status(&w, &req).await, 202);
        }
        // The provider sends both signatures while it rotates.
        let both = format!(
            "{} {}",
            provider_events::sign(&new, "m", NOW, BODY.as_bytes()),
            "v1,bm90IGEgc2lnbmF0dXJl"
        );
        let req = signed("/v1/webhooks/bank", "m", NOW, BODY, Some(both));
        assert_eq!(status(&w, &req).await, 202);
        // A provider with no secret configured is refused.
        let req = signed("/v1/webhooks/card", "m", NOW, BODY, None);
        assert_eq!(status(&w, &req).await, 401);
    }

    #[test]
    fn a_malformed_secret_fails_configuration_naming_the_variable() {
        let err = ProviderSecrets::from_lookup(
            |name| (name == "WEBHOOK_SECRET_PAYLATER").then(|| "whsec_!!!".to_owned()),
            Some(LOCAL_DEFAULT_SECRET),
        )
        .expect_err("malformed");
        assert_eq!(err.variable, "WEBHOOK_SECRET_PAYLATER");
        let defaults =
            ProviderSecrets::from_lookup(|_| None, Some(LOCAL_DEFAULT_SECRET)).expect("ok");
        for p in Provider::ALL {
            assert_eq!(defaults.of(p).len(), 1);
        }
    }
}
