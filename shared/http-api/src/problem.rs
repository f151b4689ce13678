//! Every refusal of the API, and the one place it becomes an RFC 9457
//! problem+json response with a status. Internal detail is logged, never
//! returned.

use app::error::{ConflictKind, StoreError};
use app::idempotency::{GuardError, IdemConflict};
use app::write::WriteError;
use domain::error::{ErrorKind, OrderError};
use serde::Serialize;

use crate::request::ApiResponse;

/// One field that failed to decode or validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        FieldError {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum ApiError {
    Unauthenticated,
    /// A webhook whose signature did not verify (the reason is logged only).
    BadSignature,
    PayloadTooLarge,
    NotFound,
    RouteNotFound,
    MethodNotAllowed,
    Forbidden(String),
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    Conflict {
        code: &'static str,
        detail: String,
    },
    Unprocessable {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Too soon for this action: retry after the seconds given (429).
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// Throttled or a dependency is down: retry later (503).
    Unavailable,
    /// A bug: logged with its chain, answered without detail.
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    /// Log the refusal (a bug with its chain at error level, an outage as
    /// a warning, anything else as information) and answer it.
    pub fn logged_response(&self, request_id: &str) -> ApiResponse {
        match self {
            ApiError::Internal(detail) => {
                tracing::error!(request_id, error = %detail, "request failed")
            }
            ApiError::Unavailable => tracing::warn!(request_id, "dependency unavailable"),
            other => tracing::info!(request_id, status = other.status(), "refused"),
        }
        self.to_response()
    }

    pub fn bad_request(errors: Vec<FieldError>) -> Self {
        ApiError::BadRequest {
            detail: "the request is malformed".into(),
            errors,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthenticated | ApiError::BadSignature => 401,
            ApiError::PayloadTooLarge => 413,
            ApiError::NotFound | ApiError::RouteNotFound => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Forbidden(_) => 403,
            ApiError::BadRequest { .. } => 400,
            ApiError::Conflict { .. } => 409,
            ApiError::Unprocessable { .. } => 422,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Unavailable => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// The problem+json response.
    pub fn to_response(&self) -> ApiResponse {
        let (slug, title, detail, errors): (&str, &str, String, &[FieldError]) = match self {
            ApiError::Unauthenticated => (
                "unauthenticated",
                "Unauthorized",
                "a valid token is required".into(),
                &[],
            ),
            ApiError::BadSignature => (
                "invalid-signature",
                "Unauthorized",
                "the webhook signature could not be verified".into(),
                &[],
            ),
            ApiError::PayloadTooLarge => (
                "payload-too-large",
                "Payload Too Large",
                format!(
                    "request bodies are limited to {} bytes",
                    crate::request::MAX_BODY_BYTES
                ),
                &[],
            ),
            ApiError::NotFound => ("not-found", "Not Found", "no such resource".into(), &[]),
            ApiError::RouteNotFound => ("not-found", "Not Found", "no such route".into(), &[]),
            ApiError::MethodNotAllowed => (
                "method-not-allowed",
                "Method Not Allowed",
                "method not allowed".into(),
                &[],
            ),
            ApiError::Forbidden(d) => ("forbidden", "Forbidden", d.clone(), &[]),
            ApiError::BadRequest { detail, errors } => {
                ("bad-request", "Bad Request", detail.clone(), errors)
            }
            ApiError::Conflict { code, detail } => (code, "Conflict", detail.clone(), &[]),
            ApiError::Unprocessable {
                code,
                detail,
                errors,
            } => (code, "Unprocessable Content", detail.clone(), errors),
            ApiError::TooManyRequests { detail, .. } => (
                "too-many-requests",
                "Too Many Requests",
                detail.clone(),
                &[],
            ),
            ApiError::Unavailable => (
                "unavailable",
                "Service Unavailable",
                "please retry later".into(),
                &[],
            ),
            ApiError::Internal(_) => (
                "internal",
                "Internal Server Error",
                "something went wrong on our side".into(),
                &[],
            ),
        };
        let problem = Problem {
            kind: format!("https://trade-assurance.dev/problems/{slug}"),
            title,
            status: self.status(),
            detail: &detail,
            errors,
        };
        let body = serde_json::to_string(&problem).unwrap_or_else(|_| "{}".into());
        let mut r = ApiResponse::json(self.status(), body);
        r.content_type = "application/problem+json".into();
        match self {
            ApiError::Unavailable => r = r.with_header("retry-after", "1"),
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => r = r.with_header("retry-after", &retry_after_secs.to_string()),
            _ => {}
        }
        r
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e.kind() {
            ErrorKind::NotFound => ApiError::NotFound,
            ErrorKind::Forbidden => ApiError::Forbidden(e.to_string()),
            ErrorKind::TooManyRequests => ApiError::TooManyRequests {
                retry_after_secs: match &e {
                    OrderError::TooManyRequests {
                        retry_after_secs, ..
                    } => *retry_after_secs,
                    _ => 1,
                },
                detail: e.to_string(),
            },
            ErrorKind::Conflict => ApiError::Conflict {
                code: match &e {
                    OrderError::WrongStatus { .. } => "wrong-status",
                    OrderError::Conflict(c) => c.code(),
                    _ => "conflict",
                },
                detail: e.to_string(),
            },
            ErrorKind::Unprocessable => ApiError::Unprocessable {
                code: match &e {
                    OrderError::Rule(r) => r.code(),
                    OrderError::Terms(_) => "invalid-terms",
                    OrderError::Limit(_) => "assurance-limit",
                    OrderError::Credit(_) => "credit-line",
                    _ => "rule",
                },
                errors: match &e {
                    OrderError::Terms(t) => vec![FieldError::new(t.field(), t)],
                    _ => Vec::new(),
                },
                detail: e.to_string(),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(kind) => conflict(kind),
            StoreError::Unavailable(_) => ApiError::Unavailable,
            StoreError::InvalidCursor => ApiError::bad_request(vec![FieldError::new(
                "cursor",
                "the cursor is not valid for this listing",
            )]),
            StoreError::TooLarge => ApiError::Unprocessable {
                code: "order-too-large",
                detail: "the order cannot grow any further; nothing was changed".into(),
                errors: Vec::new(),
            },
            other => ApiError::Internal(error_chain(&other)),
        }
    }
}

fn conflict(kind: ConflictKind) -> ApiError {
    match kind {
        ConflictKind::LimitInsufficient => ApiError::Unprocessable {
            code: "no-assurance-limit-available",
            detail: "the supplier's assurance limit has no room for this order".into(),
            errors: Vec::new(),
        },
        ConflictKind::CreditInsufficient => ApiError::Unprocessable {
            code: "insufficient-credit",
            detail: "the Pay Later credit line has no room for this payment".into(),
            errors: Vec::new(),
        },
        _ => ApiError::Conflict {
            code: "concurrent-change",
            detail: "the order was changed by another request; read it again and retry".into(),
        },
    }
}

impl From<IdemConflict> for ApiError {
    fn from(e: IdemConflict) -> Self {
        match e {
            IdemConflict::PayloadMismatch => ApiError::Unprocessable {
                code: "idempotency-key-reused",
                detail: "this Idempotency-Key was used with another request body".into(),
                errors: Vec::new(),
            },
            IdemConflict::InProgress => ApiError::Conflict {
                code: "request-in-progress",
                detail: "a request with this Idempotency-Key is still being processed".into(),
            },
        }
    }
}

impl From<GuardError> for ApiError {
    fn from(e: GuardError) -> Self {
        match e {
            GuardError::Conflict(c) => c.into(),
            GuardError::Store(e) => e.into(),
        }
    }
}

impl<E: Into<ApiError>> From<WriteError<E>> for ApiError {
    fn from(e: WriteError<E>) -> Self {
        match e {
            WriteError::NotFound => ApiError::NotFound,
            WriteError::Refused(e) => e.into(),
            WriteError::Idempotency(c) => c.into(),
            WriteError::Contended(kind) => conflict(kind),
            WriteError::Store(e) => e.into(),
        }
    }
}

pub use app::error::error_chain;
