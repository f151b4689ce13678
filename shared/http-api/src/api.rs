//! The API every HTTP function runs (and the local stack): [`Api::handle`]
//! takes a request through 401 → 413 → the route (404) → its endpoint, and
//! what every endpoint shares: answers and replays, the query and
//! idempotency-key checks, paging, and [`Api::change_order`], the one way an
//! endpoint changes an order (through `app::write`).
//!
//! An endpoint checks in the order 404 → 403 → 400 → 409 → 429 → 422: the
//! body is decoded before anything is read, and its error reported after
//! the order was found and the caller allowed to act on it.

use app::idempotency::{IdemKey, IdemRequest, PayloadHash, StoredResponse};
use app::ids::Ids;
use app::page::{Cursor, PageRequest};
use app::ports::{Backend, Clock, LoadRequest, Loaded};
use app::write::{self, Decide, Respond, Target, Written};
use domain::Order;
use domain::actor::{Caller, Role};
use domain::calendar::Timestamp;
use domain::event::DomainEvent;
use domain::ids::{OrderId, PaymentId, RefundId};
use domain::order::{Command, Context};
use domain::status::Action;
use serde_json::Value;

use crate::dto::Fields;
use crate::problem::{ApiError, FieldError};
use crate::request::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::routes::{self, Endpoint};
use crate::view;

/// Everything an endpoint needs: the backend (every port), business time,
/// where new ids come from, and the clocks new orders live by.
pub struct Api<B, C> {
    pub backend: B,
    pub clock: C,
    /// New order, payment and application ids.
    pub ids: Ids,
    /// The clocks new orders live by (configuration; each order keeps the
    /// clocks it was created with).
    pub clocks: domain::clocks::Clocks,
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

impl<B: Backend, C: Clock> Api<B, C> {
    /// Answer a request. `serves`: the endpoints of the function answering
    /// (any other route is 404 there); `None` answers every route, as the
    /// local stack does.
    pub async fn handle(&self, serves: Option<&[Endpoint]>, req: &ApiRequest) -> ApiResponse {
        let started = std::time::Instant::now();
        // Found once: the dispatch and the request's log line both use it.
        let found = routes::find(&req.method, &req.path);
        let route = found.as_ref().map(|(r, _)| r.path);
        let response = match self.dispatch(serves, req, found).await {
            Ok(r) => r,
            Err(e) => e.logged_response(&req.request_id),
        };
        log_request(req, route, &response, started);
        response
    }

    async fn dispatch(
        &self,
        serves: Option<&[Endpoint]>,
        req: &ApiRequest,
        found: Option<(&'static routes::Route, routes::Params<'_>)>,
    ) -> Result<ApiResponse> {
        let caller = req.claims.caller().ok_or(ApiError::Unauthenticated)?;
        if req.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let (route, params) = found.ok_or(ApiError::RouteNotFound)?;
        if serves.is_some_and(|s| !s.contains(&route.endpoint)) {
            return Err(ApiError::RouteNotFound);
        }
        let c = &caller;
        match route.endpoint {
            Endpoint::Orders(e) => self.orders(e, req, c, &params).await,
            Endpoint::Payments(e) => self.payments(e, req, c, &params).await,
            Endpoint::Disputes(e) => self.disputes(e, req, c, &params).await,
            Endpoint::Suppliers(e) => self.suppliers(e, req, c, &params).await,
            Endpoint::Credit(e) => self.credit(e, req, c).await,
            Endpoint::Flags(e) => self.flags(e, req, c).await,
            // Answered by `webhook::Webhooks::handle`: its own function and
            // its own authentication (a signature, not a token).
            Endpoint::ProviderWebhook => Err(ApiError::RouteNotFound),
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Change one order as the request asks: `command` is what its body
    /// decoded to (or why it did not), `action` what it asks (who may: 403)
    /// when the body did not decode. Answers `status` with `view` of the
    /// changed order, the same for every replay; the order too, when it was
    /// changed now rather than replayed.
    pub(crate) async fn change_order(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
        request: OrderRequest,
    ) -> Result<(ApiResponse, Option<Order>)> {
        let id = order_id(id)?;
        let idem = idempotency(req, caller)?;
        let needs = request
            .command
            .as_ref()
            .map(Command::needs)
            .unwrap_or_default();
        let change = OrderChange {
            caller,
            unknown_query: unknown_query(req),
            request,
        };
        let target = Target {
            order: &id,
            limit_of: (needs.supplier_limit && caller.has(Role::Supplier)).then_some(&caller.id),
            needs_limit: needs.supplier_limit,
            credit_of: needs.credit_line.then_some(&caller.id),
            idempotency: idem.as_ref().map(|i| (i, &change as &(dyn Respond + Sync))),
            dedup: None,
            correlation: req.correlation_id(),
        };
        let outcome = write::change(&self.backend, target, self.now(), &change).await?;
        match outcome.written {
            Written::Replayed(r) => Ok((replayed(r), None)),
            Written::Committed { order, .. } | Written::Unchanged(order) => {
                let body = change.request.view.render(&order);
                Ok((ok_json(change.request.status, &body), Some(order)))
            }
            Written::Duplicate => Err(ApiError::Internal(
                "a request without a provider event was a duplicate".into(),
            )),
        }
    }
}

/// How a changed order is answered: the same body for the first answer and
/// for every replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum View {
    Order,
    /// The payment just initiated.
    LastPayment,
    Payment(PaymentId),
    Refund(RefundId),
    Feedback,
    Dispute,
}

impl View {
    pub(crate) fn render(&self, order: &Order) -> Value {
        match self {
            View::Order => view::order(order),
            View::LastPayment => view::last_payment(order),
            View::Payment(id) => order
                .payment(id)
                .map(|p| view::order_payment(order, p))
                .unwrap_or(Value::Null),
            View::Refund(id) => order
                .refunds()
                .iter()
                .find(|r| &r.id == id)
                .map(view::refund_part)
                .unwrap_or(Value::Null),
            View::Feedback => view::feedback(order),
            View::Dispute => view::dispute(order),
        }
    }
}

/// A command on one order, as a request asks it.
pub(crate) struct OrderRequest {
    /// What the body decoded to, or why it did not (400, after 404 / 403).
    pub command: Result<Command>,
    /// What the request asks, for the 403 check when the body did not
    /// decode (else the command's own).
    pub action: Action,
    pub status: u16,
    pub view: View,
}

impl OrderRequest {
    /// 200 with the order.
    pub(crate) fn new(action: Action, command: Result<Command>) -> Self {
        OrderRequest {
            command,
            action,
            status: 200,
            view: View::Order,
        }
    }

    pub(crate) fn answering(self, status: u16, view: View) -> Self {
        OrderRequest {
            status,
            view,
            ..self
        }
    }
}

/// An [`OrderRequest`] on the write path.
struct OrderChange<'a> {
    caller: &'a Caller,
    /// Query parameters the route does not take: 400 after 404 / 403.
    unknown_query: Vec<FieldError>,
    request: OrderRequest,
}

impl Decide for OrderChange<'_> {
    type Error = ApiError;

    fn admit(&self, order: &Order) -> Result<()> {
        order.viewer(self.caller)?;
        let action = self
            .request
            .command
            .as_ref()
            .map_or(self.request.action, Command::action);
        order.authorize(self.caller, action)?;
        if !self.unknown_query.is_empty() {
            return Err(ApiError::bad_request(self.unknown_query.clone()));
        }
        match &self.request.command {
            Ok(_) => Ok(()),
            Err(e) => Err(e.clone()),
        }
    }

    fn decide(
        &self,
        order: &mut Order,
        loaded: &Loaded,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>> {
        let command = self.request.command.clone()?;
        let context = Context {
            limit: loaded.limit.as_ref(),
            credit_line: loaded.credit.as_ref(),
        };
        Ok(order.execute(self.caller, command, context, now)?)
    }
}

impl Respond for OrderChange<'_> {
    fn respond(&self, order: &Order) -> StoredResponse {
        to_stored(&ok_json(
            self.request.status,
            &self.request.view.render(order),
        ))
    }
}

/// One INFO line per request (route, status, latency, request id), and a
/// `Refusals` data point (by status) for every 4xx the API answers.
pub(crate) fn log_request(
    req: &ApiRequest,
    route: Option<&str>,
    response: &ApiResponse,
    started: std::time::Instant,
) {
    let route = route.unwrap_or("(no route)");
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::info!(
        method = %req.method,
        route,
        status = response.status,
        latency_us,
        request_id = %req.request_id,
        correlation_id = req.correlation_id().unwrap_or_default(),
        "request answered"
    );
    if (400..500).contains(&response.status) {
        crate::metrics::count_by("Refusals", "Status", &response.status.to_string());
    }
}

pub(crate) fn ok_json(status: u16, v: &Value) -> ApiResponse {
    ApiResponse::json(status, v.to_string())
}

/// A stored response, answered again with the headers of the first answer.
pub(crate) fn replayed(r: StoredResponse) -> ApiResponse {
    let mut headers = r.headers;
    headers.push(("idempotent-replayed".into(), "true".into()));
    ApiResponse {
        status: r.status,
        content_type: r.content_type,
        body: r.body,
        headers,
    }
}

/// What a response stores for replays: everything a client reads.
pub(crate) fn to_stored(r: &ApiResponse) -> StoredResponse {
    StoredResponse {
        status: r.status,
        content_type: r.content_type.clone(),
        body: r.body.clone(),
        headers: r.headers.clone(),
    }
}

/// The query parameters the request's route does not take (400).
fn unknown_query(req: &ApiRequest) -> Vec<FieldError> {
    let allowed = routes::find(&req.method, &req.path).map_or(&[][..], |(r, _)| r.query);
    let mut errors: Vec<FieldError> = Vec::new();
    for (name, _) in &req.query {
        if !allowed.contains(&name.as_str()) && !errors.iter().any(|e| &e.field == name) {
            errors.push(FieldError::new(
                name.clone(),
                if allowed.is_empty() {
                    "unknown query parameter: this route takes none".to_owned()
                } else {
                    format!(
                        "unknown query parameter; this route takes {}",
                        allowed.join(", ")
                    )
                },
            ));
        }
    }
    errors
}

/// 400 for a query parameter the route does not take.
pub(crate) fn check_query(req: &ApiRequest) -> Result<()> {
    let errors = unknown_query(req);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(errors))
    }
}

pub(crate) fn order_id(id: &str) -> Result<OrderId> {
    // A malformed id names no order: 404, like any unknown one.
    OrderId::parse(id).map_err(|_| ApiError::NotFound)
}

/// The request's idempotency key, scoped to caller, method and path.
pub(crate) fn idempotency(req: &ApiRequest, caller: &Caller) -> Result<Option<IdemRequest>> {
    let Some(key) = req.header("idempotency-key") else {
        return Ok(None);
    };
    let key = IdemKey::new(&caller.id, &req.method, &req.path, key)
        .map_err(|e| ApiError::bad_request(vec![FieldError::new("Idempotency-Key", e)]))?;
    Ok(Some(IdemRequest {
        key,
        payload: PayloadHash::of(&req.body),
    }))
}

/// `limit` (default `default_limit`) and `cursor` of a listing, as a page
/// request, with their field errors.
pub(crate) fn page_params(
    req: &ApiRequest,
    f: &mut Fields,
    default_limit: u32,
) -> (Option<u32>, Option<Option<Cursor>>) {
    let limit = req
        .query("limit")
        .map(|l| {
            f.check(
                "limit",
                l.parse::<u32>().map_err(|_| "must be a whole number"),
            )
        })
        .unwrap_or(Some(default_limit));
    let cursor = req
        .query("cursor")
        .map(|c| f.check("cursor", Cursor::parse(c)).map(Some))
        .unwrap_or(Some(None));
    (limit, cursor)
}

/// A page of items as the API answers it: `items`, and `next_cursor` when
/// there is more.
pub(crate) fn page_body(items: Vec<Value>, next: Option<Cursor>) -> Value {
    let mut body = serde_json::json!({ "items": items });
    if let Some(c) = next {
        body["next_cursor"] = serde_json::json!(c.as_str());
    }
    body
}

/// A fresh id for what the request creates.
pub(crate) fn fresh<T, E: std::fmt::Display>(id: std::result::Result<T, E>) -> Result<T> {
    id.map_err(|e| ApiError::Internal(e.to_string()))
}

/// The page a listing asks for (400 for a limit out of range).
pub(crate) fn page_request(limit: u32, cursor: Option<Cursor>) -> Result<PageRequest> {
    PageRequest::new(Some(limit), cursor)
        .map_err(|e| ApiError::bad_request(vec![FieldError::new("limit", e)]))
}

impl<B: Backend, C: Clock> Api<B, C> {
    /// An order the caller may see (404 for anyone else), its route's query
    /// parameters checked after (400).
    pub(crate) async fn read_order(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<Order> {
        let id = order_id(id)?;
        let loaded = self
            .backend
            .load(
                LoadRequest {
                    order: &id,
                    idempotency: None,
                    limit_of: None,
                    credit_of: None,
                },
                self.now(),
            )
            .await?;
        let order = loaded.order.ok_or(ApiError::NotFound)?;
        order.viewer(caller)?;
        check_query(req)?;
        Ok(order)
    }
}
