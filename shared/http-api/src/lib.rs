//! The HTTP conventions in one place, used by every function and by the
//! local stack: the route table, the caller from the request context,
//! strict decoding, problem+json errors, idempotency keys, response shapes,
//! and one handler per route.

pub mod dto;
pub mod handlers;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod request;
pub mod routes;
pub mod view;
pub mod webhook;

use app::ports::{Backend, Clock};

pub use handlers::Api;
use problem::{ApiError, error_chain};
use request::{ApiRequest, ApiResponse, MAX_BODY_BYTES};

impl<B: Backend, C: Clock> Api<B, C> {
    /// Answer a request, if `function` serves its route (`None`: any route,
    /// as the local stack does). 401 → 413 → route → the handler's checks.
    pub async fn handle(&self, function: Option<&str>, req: &ApiRequest) -> ApiResponse {
        match self.dispatch(function, req).await {
            Ok(r) => r,
            Err(e) => e.logged_response(&req.request_id),
        }
    }

    async fn dispatch(
        &self,
        function: Option<&str>,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let caller = req.claims.caller().ok_or(ApiError::Unauthenticated)?;
        if req.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let (route, params) =
            routes::find(&req.method, &req.path).ok_or(ApiError::RouteNotFound)?;
        if function.is_some_and(|f| f != route.function) {
            return Err(ApiError::RouteNotFound);
        }
        let id = params.get("id");
        let c = &caller;
        match (route.method, route.path) {
            ("POST", "/v1/orders") => self.create_order(req, c).await,
            ("GET", "/v1/orders") => self.list_orders(req, c).await,
            ("GET", "/v1/orders/{id}") => self.get_order(req, c, id, "order").await,
            ("GET", "/v1/orders/{id}/history") => self.get_order(req, c, id, "history").await,
            ("GET", "/v1/orders/{id}/payments") => self.get_order(req, c, id, "payments").await,
            ("POST", "/v1/orders/{id}/amend") => self.amend(req, c, id).await,
            ("POST", "/v1/orders/{id}/confirm") => self.confirm(req, c, id).await,
            ("POST", "/v1/orders/{id}/remind") => self.remind(req, c, id).await,
            ("POST", "/v1/orders/{id}/cancel") => self.cancel(req, c, id).await,
            ("POST", "/v1/orders/{id}/payments") => self.initiate_payment(req, c, id).await,
            ("POST", "/v1/orders/{id}/payments/{pid}/resolution") => {
                self.resolve_payment(req, c, id, params.get("pid")).await
            }
            ("POST", "/v1/orders/{id}/refunds/{rid}/resolution") => {
                self.resolve_refund(req, c, id, params.get("rid")).await
            }
            ("POST", "/v1/orders/{id}/shipment") => self.ship(req, c, id).await,
            ("POST", "/v1/orders/{id}/delivery") => self.delivery(req, c, id).await,
            ("POST", "/v1/orders/{id}/receipt") => self.receipt(req, c, id).await,
            ("POST", "/v1/orders/{id}/receipt/extension") => self.extend_receipt(req, c, id).await,
            ("POST", "/v1/orders/{id}/feedback") => self.feedback(req, c, id).await,
            ("GET", "/v1/suppliers/{id}/feedback") => self.supplier_feedback(req, c, id).await,
            ("POST", "/v1/orders/{id}/dispute") => self.open_dispute(req, c, id).await,
            ("POST", "/v1/orders/{id}/dispute/responses") => self.respond_dispute(req, c, id).await,
            ("POST", "/v1/orders/{id}/dispute/withdraw") => self.withdraw_dispute(req, c, id).await,
            ("POST", "/v1/orders/{id}/dispute/escalate") => self.escalate_dispute(req, c, id).await,
            ("POST", "/v1/orders/{id}/dispute/decision") => self.decide_dispute(req, c, id).await,
            ("GET", "/v1/disputes") => self.list_disputes(req, c).await,
            ("POST", "/v1/credit-line") => self.apply_for_credit(req, c).await,
            ("GET", "/v1/credit-line") => self.get_credit_line(req, c).await,
            ("PUT", "/v1/suppliers/{id}/assurance-limit") => self.put_limit(req, c, id).await,
            ("GET", "/v1/suppliers/{id}/assurance-limit") => self.get_limit(req, c, id).await,
            // Served by `webhook::Webhooks::handle` (its own function and
            // authentication), never by the API's handlers.
            ("POST", "/v1/webhooks/{provider}") => Err(ApiError::RouteNotFound),
            _ => Err(ApiError::Internal(error_chain(&std::io::Error::other(
                format!("route {} {} has no handler", route.method, route.path),
            )))),
        }
    }
}

/// 64 unguessable bits: a process-wide counter hashed with a freshly
/// OS-seeded `RandomState` (no RNG crate, nothing at cold start).
pub fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::collections::hash_map::RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh id `<prefix>_` + time-ordered, unguessable hex (time in
/// microseconds, then 64 random bits).
pub fn new_id(prefix: &str) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!("{prefix}_{micros:x}{:016x}", random_u64())
}

/// A fresh order id (`ord_…`, see [`new_id`]).
pub fn new_order_id() -> String {
    new_id("ord")
}

/// The lifecycle's clocks from the environment: `CLOCK_<NAME>` in days for
/// every clock of [`domain::clocks::SETTINGS`] (e.g. `CLOCK_UNPAID_DAYS`,
/// `CLOCK_DISPUTE_SUPPLIER_RESPONSE_DAYS`), each defaulting to the product's
/// rule. A value out of its range, or clocks that contradict each other,
/// are a configuration error at start-up.
pub fn clocks_from_env() -> Result<domain::clocks::Clocks, String> {
    domain::clocks::Clocks::from_lookup(|k| std::env::var(k).ok())
}
