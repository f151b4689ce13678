//! API Gateway, emulated: one request in, one response out. Routing comes
//! from the route table the SAM template is checked against
//! (`http_api::routes::ROUTES`); a route that is not public needs a valid
//! token; the request then goes to the same `Api::handle` every function
//! runs, with the claims API Gateway's JWT authorizer would pass on — or,
//! for the webhook route (public: the provider's signature authenticates
//! it), to the same `Webhooks::handle` the `payment-webhook` function runs,
//! the signature checked on the real clock and `received_at` stamped with
//! business time.
//!
//! Answers that API Gateway gives itself keep its shape: `{"message":
//! "Not Found"}`, `{"message":"Unauthorized"}`, not problem+json.

use app::ports::{Backend, EventBus};
use http_api::request::{ApiRequest, ApiResponse, Claims};
use http_api::routes;

use crate::jwt::{self, Rejection};
use crate::queue::StackQueue;
use crate::stack::Stack;
use crate::{local, sandbox};

/// API Gateway's payload limit (the handlers refuse more than 64 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// A request as it arrived, before routing.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub method: String,
    /// The path as sent (not decoded), like API Gateway's `rawPath`.
    pub path: String,
    pub raw_query: String,
    /// Lower-case names; repeated headers joined with `,`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query parameters, decoded; a repeated name's values joined with
    /// `,` as API Gateway does.
    pub fn query(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for pair in self.raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (percent_decode(k), percent_decode(v));
            match out.iter_mut().find(|(name, _)| *name == k) {
                Some((_, joined)) => {
                    joined.push(',');
                    joined.push_str(&v);
                }
                None => out.push((k, v)),
            }
        }
        out
    }
}

/// `%XX` sequences decoded; anything malformed is kept as sent.
fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// `{"message": …}` as API Gateway answers by itself.
pub fn gateway_message(status: u16, message: &str) -> ApiResponse {
    ApiResponse::json(
        status,
        serde_json::json!({ "message": message }).to_string(),
    )
}

pub fn not_found() -> ApiResponse {
    gateway_message(404, "Not Found")
}

pub fn too_large() -> ApiResponse {
    gateway_message(413, "Request Entity Too Large")
}

/// 401 as API Gateway's JWT authorizer answers; the reason goes only to
/// the `www-authenticate` header and the log.
pub fn unauthorized(why: &Rejection) -> ApiResponse {
    let challenge = match why {
        Rejection::Missing => "Bearer".to_owned(),
        other => format!("Bearer error=\"invalid_token\" error_description=\"{other}\""),
    };
    gateway_message(401, "Unauthorized").with_header("www-authenticate", &challenge)
}

/// The real clock in seconds since the epoch: token expiry and webhook
/// timestamps never travel.
pub fn real_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Answer one request.
pub async fn respond<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: Incoming,
    request_id: &str,
) -> ApiResponse {
    match req.path.as_str() {
        "/health" => match req.method.as_str() {
            "GET" | "HEAD" => ApiResponse::json(200, r#"{"status":"ok"}"#.into()),
            _ => local::method_not_allowed("GET"),
        },
        "/openapi.json" => match req.method.as_str() {
            "GET" | "HEAD" => ApiResponse::json(200, http_api::openapi::document().to_string()),
            _ => local::method_not_allowed("GET"),
        },
        path if path.starts_with("/_local/") => local::respond(stack, &req, request_id).await,
        path if path.starts_with(sandbox::PREFIX) => sandbox::respond(stack, &req).await,
        _ => api(stack, req, request_id).await,
    }
}

/// A `/v1` route: authorizer, then the handlers (the webhook route: its
/// handler, no authorizer). The provider simulator posts here too.
pub async fn api<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: Incoming,
    request_id: &str,
) -> ApiResponse {
    let Some((route, _)) = routes::find(&req.method, &req.path) else {
        return not_found();
    };
    let claims = if route.public {
        Claims::default()
    } else {
        let checked = jwt::bearer(req.header("authorization"))
            .and_then(|token| jwt::authorize(&stack.jwt, token, real_now()));
        match checked {
            Ok(claims) => claims,
            Err(why) => {
                tracing::info!(request_id, method = %req.method, path = %req.path, reason = %why, "unauthorized");
                return unauthorized(&why);
            }
        }
    };
    let query = req.query();
    let changes_state = !matches!(req.method.as_str(), "GET" | "HEAD");
    let request = ApiRequest {
        method: req.method,
        path: req.path,
        query,
        headers: req.headers,
        body: req.body,
        claims,
        request_id: request_id.to_owned(),
    };
    if route.function == http_api::webhook::FUNCTION {
        // Verify and queue; nothing in the store changes here.
        return stack
            .webhooks
            .handle(&request, real_now(), stack.now())
            .await;
    }
    let response = stack.api.handle(None, &request).await;
    if changes_state && (200..300).contains(&response.status) {
        stack.publish_pending().await;
        if route.function == CREDIT_LINE_FUNCTION {
            send_credit_line_application(stack, &response);
        }
    }
    response
}

/// The function behind `POST /v1/credit-line`.
const CREDIT_LINE_FUNCTION: &str = "apply-credit-line";

/// A new credit-line application (201, not a replay) goes to the lender
/// through the provider-action step: a local stand-in, as the service
/// itself does not ask the lender yet.
fn send_credit_line_application<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    response: &ApiResponse,
) {
    let replayed = response
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("idempotent-replayed"));
    if response.status != 201 || replayed {
        return;
    }
    let Ok(line) = serde_json::from_str::<serde_json::Value>(&response.body) else {
        return;
    };
    let id = |field: &str| line.get(field).and_then(|v| v.as_str()).map(str::to_owned);
    let parsed = id("buyer_id")
        .and_then(|b| domain::ids::UserId::parse(b).ok())
        .zip(id("application_id").and_then(|a| domain::ids::ApplicationId::parse(a).ok()));
    if let Some((buyer_id, application_id)) = parsed {
        stack.actions.offer_credit_line(buyer_id, application_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_like_api_gateway() {
        let req = Incoming {
            raw_query: "status=awaiting%20shipment&limit=5&status=shipped&cursor=a-b_c&flag".into(),
            ..Incoming::default()
        };
        assert_eq!(
            req.query(),
            vec![
                ("status".to_owned(), "awaiting shipment,shipped".to_owned()),
                ("limit".to_owned(), "5".to_owned()),
                ("cursor".to_owned(), "a-b_c".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "%ff");
    }
}
