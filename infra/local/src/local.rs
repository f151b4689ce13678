//! The local-only endpoints under `/_local/` (no token needed):
//!
//! ```text
//! GET  /_local/events[?order_id=…]   every published domain event, oldest first
//! GET  /_local/clock                  business time and how far it travelled
//! POST /_local/clock/advance          {"seconds": N}: move business time forward
//! POST /_local/schedules/run          fire the schedules now, at business time:
//!                                     {"runs": [{"schedule", "report", "error"?}]}
//! GET  /_local/schedules/failures     the sweep's on-failure destination:
//!                                     every run that did not complete
//! GET  /_local/dlq                    the payment queue's dead letters
//! POST /_local/providers/{provider}/events
//!                                     the provider simulator: the body is a
//!                                     webhook body, signed and delivered
//! ```
//!
//! The provider simulator signs the body with the provider's secret
//! (`WEBHOOK_SECRET_<PROVIDER>`, the same the webhook route verifies with),
//! a fresh `webhook-id` — or the request's own `webhook-id` header, to
//! simulate a duplicate delivery — and the current real timestamp, and posts
//! it to `POST /v1/webhooks/{provider}` through the gateway, as a provider
//! would. It answers with the webhook's status and body plus the
//! `webhook_id` (also as a `webhook-id` header) and, once accepted, only
//! after the payment consumer has handled that delivery once: then what the
//! consumer did (`"consumer": "acknowledged"`, `"redelivered"` or
//! `"dead_lettered"`) is in the body too, and its events are published.
//!
//! `POST /_local/schedules/run` runs what EventBridge Scheduler triggers on
//! AWS (the deadline sweep, then the outbox republished) at business time
//! and answers 200 with each run's report — also when a run was incomplete,
//! with an `error` next to its report ([`crate::schedules`]). It does not
//! wait for the ticker, and advancing the clock does not run it by itself.

use std::time::Duration;

use app::ports::{Backend, EventBus};
use domain::actor::Provider;
use domain::event::DomainEvent;
use http_api::dto;
use http_api::problem::{ApiError, FieldError, error_chain};
use http_api::request::ApiResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gateway::{self, Incoming, not_found};
use crate::queue::{StackQueue, fresh_uuid};
use crate::schedules;
use crate::stack::{Stack, TravelError};

/// How long the simulator waits for the consumer to handle its delivery.
pub const CONSUMED_TIMEOUT: Duration = Duration::from_secs(30);

/// The source every event carries on the bus (as on EventBridge).
pub const EVENT_SOURCE: &str = "trade-assurance";

pub async fn respond<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: &Incoming,
    request_id: &str,
) -> ApiResponse {
    match (req.path.as_str(), req.method.as_str()) {
        ("/_local/events", "GET" | "HEAD") => events(stack, req),
        ("/_local/events", _) => method_not_allowed("GET"),
        ("/_local/clock", "GET" | "HEAD") => clock(stack, 200),
        ("/_local/clock", _) => method_not_allowed("GET"),
        ("/_local/clock/advance", "POST") => advance(stack, &req.body),
        ("/_local/clock/advance", _) => method_not_allowed("POST"),
        ("/_local/schedules/run", "POST") => schedules::respond(stack).await,
        ("/_local/schedules/run", _) => method_not_allowed("POST"),
        ("/_local/schedules/failures", "GET" | "HEAD") => schedules::failures(stack),
        ("/_local/schedules/failures", _) => method_not_allowed("GET"),
        ("/_local/dlq", "GET" | "HEAD") => dead_letters(stack).await,
        ("/_local/dlq", _) => method_not_allowed("GET"),
        (path, method) => match simulator_provider(path) {
            Some(_) if method != "POST" => method_not_allowed("POST"),
            Some(provider) => simulate(stack, req, provider, request_id).await,
            None => not_found(),
        },
    }
}

/// `/_local/providers/{provider}/events` → `{provider}`, as sent.
fn simulator_provider(path: &str) -> Option<&str> {
    path.strip_prefix("/_local/providers/")?
        .strip_suffix("/events")
        .filter(|p| !p.is_empty() && !p.contains('/'))
}

/// A problem+json answer of the local endpoints' own.
fn problem(status: u16, slug: &str, title: &str, detail: &str) -> ApiResponse {
    let body = json!({
        "type": format!("https://trade-assurance.dev/problems/{slug}"),
        "title": title,
        "status": status,
        "detail": detail,
    });
    ApiResponse {
        status,
        content_type: "application/problem+json".into(),
        body: body.to_string(),
        headers: Vec::new(),
    }
}

async fn dead_letters<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
) -> ApiResponse {
    match stack.webhooks.queue.dead_letters().await {
        Ok(items) => ApiResponse::json(200, json!({ "items": items }).to_string()),
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "reading the dead-letter queue failed");
            ApiError::Unavailable.to_response()
        }
    }
}

/// Sign the body as `provider` would and deliver it to the webhook route.
async fn simulate<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: &Incoming,
    provider: &str,
    request_id: &str,
) -> ApiResponse {
    let Some(provider) = Provider::parse(provider) else {
        let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        return problem(
            404,
            "not-found",
            "Not Found",
            &format!("no such provider; one of {}", known.join(", ")),
        );
    };
    let Some(secret) = stack.webhooks.secrets.of(provider).first() else {
        return problem(
            409,
            "no-webhook-secret",
            "Conflict",
            &format!(
                "no webhook secret is configured for {provider} ({})",
                http_api::webhook::secret_variable(provider)
            ),
        );
    };
    let webhook_id = req
        .header("webhook-id")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map_or_else(
            || format!("msg_{}", fresh_uuid().replace('-', "")),
            str::to_owned,
        );
    let timestamp = gateway::real_now();
    let signature = app::provider_events::sign(secret, &webhook_id, timestamp, &req.body);
    let content_type = req.header("content-type").unwrap_or("application/json");
    let delivery = Incoming {
        method: "POST".into(),
        path: format!("/v1/webhooks/{provider}"),
        raw_query: String::new(),
        headers: vec![
            ("content-type".into(), content_type.to_owned()),
            ("user-agent".into(), "local-stack-provider-simulator".into()),
            ("webhook-id".into(), webhook_id.clone()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signature),
        ],
        body: req.body.clone(),
    };
    let handled_before = stack.consumed.times(provider, &webhook_id);
    let answer = gateway::api(stack, delivery, request_id).await;
    let consumer = if answer.status == 202 {
        let handled = stack
            .consumed
            .wait_beyond(provider, &webhook_id, handled_before, CONSUMED_TIMEOUT)
            .await;
        if handled.is_none() {
            tracing::warn!(%provider, webhook_id, "the payment consumer did not handle the delivery in time");
            let detail = format!(
                "webhook {webhook_id} was accepted, but the payment consumer had not handled \
                 it after {} s",
                CONSUMED_TIMEOUT.as_secs()
            );
            return problem(504, "consumer-timeout", "Gateway Timeout", &detail)
                .with_header("webhook-id", &webhook_id);
        }
        handled
    } else {
        None
    };
    let mut body = serde_json::from_str::<Value>(&answer.body).unwrap_or_else(|_| json!({}));
    if let Some(fields) = body.as_object_mut() {
        fields.insert("webhook_id".into(), Value::String(webhook_id.clone()));
        if let Some(outcome) = consumer {
            fields.insert("consumer".into(), json!(outcome));
        }
    }
    ApiResponse {
        status: answer.status,
        content_type: answer.content_type,
        body: body.to_string(),
        headers: answer.headers,
    }
    .with_header("webhook-id", &webhook_id)
}

pub fn method_not_allowed(allow: &str) -> ApiResponse {
    ApiError::MethodNotAllowed
        .to_response()
        .with_header("allow", allow)
}

/// One event as the bus carries it: EventBridge's envelope (source,
/// detail-type, time) around the event's JSON.
pub fn envelope(n: usize, event: &DomainEvent) -> Value {
    json!({
        "id": format!("evt-{n:06}"),
        "source": EVENT_SOURCE,
        "detail-type": event.body.detail_type(),
        "time": event.at,
        "detail": event,
    })
}

fn events<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: &Incoming,
) -> ApiResponse {
    let query = req.query();
    let order_id = query
        .iter()
        .find(|(k, _)| k == "order_id")
        .map(|(_, v)| v.as_str());
    let items: Vec<Value> = stack
        .bus
        .published()
        .iter()
        .enumerate()
        .filter(|(_, e)| order_id.is_none_or(|id| e.order_id.as_str() == id))
        .map(|(i, e)| envelope(i + 1, e))
        .collect();
    ApiResponse::json(200, json!({ "items": items }).to_string())
}

fn clock<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    status: u16,
) -> ApiResponse {
    let body = json!({
        "now": stack.now(),
        "offset_seconds": stack.offset().num_seconds(),
    });
    ApiResponse::json(status, body.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: i64,
}

fn advance<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    body: &[u8],
) -> ApiResponse {
    let input: Advance = match dto::decode(body) {
        Ok(input) => input,
        Err(e) => return e.to_response(),
    };
    match stack.advance(input.seconds) {
        Ok(()) => {
            tracing::info!(
                seconds = input.seconds,
                offset_seconds = stack.offset().num_seconds(),
                "time travelled"
            );
            clock(stack, 200)
        }
        Err(TravelError::NotPositive) => ApiError::bad_request(vec![FieldError::new(
            "seconds",
            "must be a whole number of seconds greater than 0",
        )])
        .to_response(),
        Err(TravelError::TooFar { room_seconds }) => ApiError::bad_request(vec![FieldError::new(
            "seconds",
            format!("business time can travel at most {room_seconds} more seconds"),
        )])
        .to_response(),
    }
}
