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
//! GET  /_local/providers/requests[?provider=…][&id=…]
//!                                     what the sandbox provider was asked,
//!                                     answered, and confirms when
//! GET|POST /_local/providers/outage   {"provider", "status", "requests"}:
//!                                     a provider answers 5xx/429 for a while
//! GET  /_local/providers/dlq          the provider-action step's dead letters
//! ```
//!
//! With the sandbox provider on (`PROVIDER_SANDBOX=auto`, [`crate::sandbox`])
//! `POST /_local/clock/advance` and `POST /_local/schedules/run` first let
//! the provider-action step finish, then deliver the sandbox's
//! confirmations that have come due, and list them in `provider_events`.
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

use crate::actions::IDLE_TIMEOUT;
use crate::gateway::{self, Incoming, not_found};
use crate::queue::{Outcome, StackQueue, fresh_uuid};
use crate::stack::{Stack, TravelError};
use crate::{sandbox, schedules};

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
        ("/_local/clock/advance", "POST") => advance(stack, &req.body).await,
        ("/_local/clock/advance", _) => method_not_allowed("POST"),
        ("/_local/schedules/run", "POST") => schedules::respond(stack).await,
        ("/_local/schedules/run", _) => method_not_allowed("POST"),
        ("/_local/schedules/failures", "GET" | "HEAD") => schedules::failures(stack),
        ("/_local/schedules/failures", _) => method_not_allowed("GET"),
        ("/_local/dlq", "GET" | "HEAD") => dead_letters(stack).await,
        ("/_local/dlq", _) => method_not_allowed("GET"),
        ("/_local/providers/requests", "GET" | "HEAD") => sandbox::requests(stack, req).await,
        ("/_local/providers/requests", _) => method_not_allowed("GET"),
        ("/_local/providers/outage", "GET" | "HEAD" | "POST") => sandbox::outage(stack, req),
        ("/_local/providers/outage", _) => method_not_allowed("GET, POST"),
        ("/_local/providers/dlq", "GET" | "HEAD") => sandbox::dead_letters(stack),
        ("/_local/providers/dlq", _) => method_not_allowed("GET"),
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
    let webhook_id = req
        .header("webhook-id")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map_or_else(
            || format!("msg_{}", fresh_uuid().replace('-', "")),
            str::to_owned,
        );
    let content_type = req.header("content-type").unwrap_or("application/json");
    let Delivery { answer, consumer } = match deliver(
        stack,
        provider,
        &req.body,
        &webhook_id,
        content_type,
        request_id,
    )
    .await
    {
        Ok(delivery) => delivery,
        Err(problem) => return problem,
    };
    // What the delivery caused reaches the providers before the answer.
    stack.actions.wait_idle(IDLE_TIMEOUT).await;
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

/// A delivery through the webhook route: what the route answered and, once
/// it accepted, what the payment consumer did.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub answer: ApiResponse,
    pub consumer: Option<Outcome>,
}

/// Sign `body` with `provider`'s (first) webhook secret as a provider
/// would — `webhook_id`, the real clock's timestamp — post it to
/// `POST /v1/webhooks/{provider}` through the gateway, and, once accepted,
/// wait until the payment consumer has handled it (and published what it
/// applied). The provider simulator and the sandbox provider both deliver
/// so. A problem answer when there is no secret, or the consumer did not
/// handle the delivery within [`CONSUMED_TIMEOUT`].
pub async fn deliver<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    provider: Provider,
    body: &[u8],
    webhook_id: &str,
    content_type: &str,
    request_id: &str,
) -> Result<Delivery, ApiResponse> {
    let Some(secret) = stack.webhooks.secrets.of(provider).first() else {
        return Err(problem(
            409,
            "no-webhook-secret",
            "Conflict",
            &format!(
                "no webhook secret is configured for {provider} ({})",
                http_api::webhook::secret_variable(provider)
            ),
        ));
    };
    let timestamp = gateway::real_now();
    let signature = app::provider_events::sign(secret, webhook_id, timestamp, body);
    let delivery = Incoming {
        method: "POST".into(),
        path: format!("/v1/webhooks/{provider}"),
        raw_query: String::new(),
        headers: vec![
            ("content-type".into(), content_type.to_owned()),
            ("user-agent".into(), "local-stack-provider-simulator".into()),
            ("webhook-id".into(), webhook_id.to_owned()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signature),
        ],
        body: body.to_vec(),
    };
    let handled_before = stack.consumed.times(provider, webhook_id);
    let answer = gateway::api(stack, delivery, request_id).await;
    if answer.status != 202 {
        return Ok(Delivery {
            answer,
            consumer: None,
        });
    }
    let handled = stack
        .consumed
        .wait_beyond(provider, webhook_id, handled_before, CONSUMED_TIMEOUT)
        .await;
    if handled.is_none() {
        tracing::warn!(%provider, webhook_id, "the payment consumer did not handle the delivery in time");
        let detail = format!(
            "webhook {webhook_id} was accepted, but the payment consumer had not handled \
             it after {} s",
            CONSUMED_TIMEOUT.as_secs()
        );
        return Err(problem(504, "consumer-timeout", "Gateway Timeout", &detail)
            .with_header("webhook-id", webhook_id));
    }
    Ok(Delivery {
        answer,
        consumer: handled,
    })
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

async fn advance<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    body: &[u8],
) -> ApiResponse {
    let input: Advance = match dto::decode(body) {
        Ok(input) => input,
        Err(e) => return e.to_response(),
    };
    // Requests already made reach the providers at the time they were made.
    stack.actions.wait_idle(IDLE_TIMEOUT).await;
    match stack.advance(input.seconds) {
        Ok(()) => {
            tracing::info!(
                seconds = input.seconds,
                offset_seconds = stack.offset().num_seconds(),
                "time travelled"
            );
            let sent = sandbox::time_passes(stack).await;
            let mut answer = json!({
                "now": stack.now(),
                "offset_seconds": stack.offset().num_seconds(),
            });
            if stack.sandbox.confirming() {
                answer["provider_events"] = json!(sent);
            }
            ApiResponse::json(200, answer.to_string())
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
