//! A transport-neutral request and response, built from API Gateway's
//! event by `lambda.rs` and from a plain HTTP request by the local stack.

use domain::actor::{Caller, Role};
use domain::ids::UserId;

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The caller as API Gateway's JWT authorizer passed it on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    pub sub: Option<String>,
    /// `cognito:groups` as API Gateway renders arrays: `[buyer supplier]`,
    /// or a JSON array, or a single name.
    pub groups: Option<String>,
}

impl Claims {
    /// The signed-in caller, if the claims name one.
    pub fn caller(&self) -> Option<Caller> {
        let id = UserId::parse(self.sub.clone()?).ok()?;
        let groups = self.groups.as_deref().unwrap_or_default();
        let roles = groups
            .trim_matches(|c| c == '[' || c == ']')
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(|g| g.trim_matches('"'))
            .filter_map(Role::parse);
        Some(Caller::new(id, roles))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub claims: Claims,
    pub request_id: String,
}

/// The header a client may send to correlate its request with the events
/// it causes.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Is `s` usable as a correlation id (1–128 of `A–Z a–z 0–9 . _ : -`)?
pub fn is_correlation_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl ApiRequest {
    /// What the events this request causes are correlated by: the client's
    /// `X-Correlation-Id` when it is well formed (anything else is
    /// ignored, never refused), else API Gateway's request id.
    pub fn correlation_id(&self) -> Option<&str> {
        self.header(CORRELATION_HEADER)
            .filter(|c| is_correlation_id(c))
            .or((!self.request_id.is_empty()).then_some(self.request_id.as_str()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl ApiResponse {
    pub fn json(status: u16, body: String) -> Self {
        ApiResponse {
            status,
            content_type: "application/json".into(),
            body,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}
