//! The local-only endpoints under `/_local/` (no token needed):
//!
//! ```text
//! GET  /_local/events[?order_id=…]   every published domain event, oldest first
//! GET  /_local/clock                  business time and how far it travelled
//! POST /_local/clock/advance          {"seconds": N}: move business time forward
//! ```
//!
//! Schedules (`/_local/schedules/run`) and the provider simulator
//! (`/_local/providers/{provider}/events`) join the match below.

use app::ports::{Backend, EventBus};
use domain::event::DomainEvent;
use http_api::dto;
use http_api::problem::{ApiError, FieldError};
use http_api::request::ApiResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gateway::{Incoming, not_found};
use crate::stack::{Stack, TravelError};

/// The source every event carries on the bus (as on EventBridge).
pub const EVENT_SOURCE: &str = "trade-assurance";

pub async fn respond<B: Backend, U: EventBus>(stack: &Stack<B, U>, req: &Incoming) -> ApiResponse {
    match (req.path.as_str(), req.method.as_str()) {
        ("/_local/events", "GET" | "HEAD") => events(stack, req),
        ("/_local/events", _) => method_not_allowed("GET"),
        ("/_local/clock", "GET" | "HEAD") => clock(stack, 200),
        ("/_local/clock", _) => method_not_allowed("GET"),
        ("/_local/clock/advance", "POST") => advance(stack, &req.body),
        ("/_local/clock/advance", _) => method_not_allowed("POST"),
        _ => not_found(),
    }
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

fn events<B: Backend, U: EventBus>(stack: &Stack<B, U>, req: &Incoming) -> ApiResponse {
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

fn clock<B: Backend, U: EventBus>(stack: &Stack<B, U>, status: u16) -> ApiResponse {
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

fn advance<B: Backend, U: EventBus>(stack: &Stack<B, U>, body: &[u8]) -> ApiResponse {
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
