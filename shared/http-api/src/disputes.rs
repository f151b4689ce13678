//! Disputes: the buyer opens one, both parties respond (accept, offer,
//! reject, comment), the buyer withdraws or escalates it, an arbiter
//! decides; arbiters page through the disputes by status.

use app::ports::{Backend, Clock, Listing};
use domain::actor::{Caller, Role};
use domain::dispute::DisputeStatus;
use domain::order::Command;
use domain::status::Action;

use crate::api::{
    Api, OrderRequest, Result, View, check_query, ok_json, page_body, page_params, page_request,
};
use crate::dto::{self, Fields};
use crate::metrics;
use crate::problem::ApiError;
use crate::request::{ApiRequest, ApiResponse};
use crate::routes::{self, Params, Route};
use crate::view;

/// The dispute routes, each with the function serving it.
pub const ROUTES: &[Route] = &[
    route(
        "POST",
        "/v1/orders/{id}/dispute",
        "open-dispute",
        Endpoint::Open,
    ),
    route(
        "POST",
        "/v1/orders/{id}/dispute/responses",
        "respond-dispute",
        Endpoint::Respond,
    ),
    route(
        "POST",
        "/v1/orders/{id}/dispute/withdraw",
        "respond-dispute",
        Endpoint::Withdraw,
    ),
    route(
        "POST",
        "/v1/orders/{id}/dispute/escalate",
        "escalate-dispute",
        Endpoint::Escalate,
    ),
    route(
        "POST",
        "/v1/orders/{id}/dispute/decision",
        "decide-dispute",
        Endpoint::Decide,
    ),
    route("GET", "/v1/disputes", "decide-dispute", Endpoint::List)
        .with_query(&["limit", "cursor", "status"]),
];

/// What a dispute route asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Open,
    Respond,
    Withdraw,
    Escalate,
    Decide,
    List,
}

const fn route(
    method: &'static str,
    path: &'static str,
    function: &'static str,
    endpoint: Endpoint,
) -> Route {
    Route::new(method, path, function, routes::Endpoint::Disputes(endpoint))
}

impl<B: Backend, C: Clock> Api<B, C> {
    pub(crate) async fn disputes(
        &self,
        endpoint: Endpoint,
        req: &ApiRequest,
        caller: &Caller,
        params: &Params<'_>,
    ) -> Result<ApiResponse> {
        let id = params.get("id");
        // Every change answers with the dispute.
        let (action, command, status) = match endpoint {
            Endpoint::List => return self.list_disputes(req, caller).await,
            // The buyer opens a dispute (201). Its deadlines come from the
            // order's clocks (5 and 15 days by default).
            Endpoint::Open => (
                Action::OpenDispute,
                dto::parse_body::<dto::OpenDisputeBody>(&req.body).map(Command::OpenDispute),
                201,
            ),
            Endpoint::Respond => (
                Action::RespondDispute,
                dto::parse_body::<dto::DisputeResponseBody>(&req.body).map(Command::RespondDispute),
                200,
            ),
            // The buyer withdraws; the order continues where it was.
            Endpoint::Withdraw => (
                Action::WithdrawDispute,
                dto::decode::<dto::EmptyBody>(&req.body).map(|_| Command::WithdrawDispute),
                200,
            ),
            // The buyer escalates once eligible (422 before, naming the
            // deadlines).
            Endpoint::Escalate => (
                Action::EscalateDispute,
                dto::decode::<dto::EmptyBody>(&req.body).map(|_| Command::EscalateDispute),
                200,
            ),
            Endpoint::Decide => (
                Action::DecideDispute,
                dto::parse_body::<dto::DecisionBody>(&req.body).map(Command::DecideDispute),
                200,
            ),
        };
        let request = OrderRequest::new(action, command).answering(status, View::Dispute);
        let (resp, order) = self.change_order(req, caller, id, request).await?;
        if endpoint == Endpoint::Decide && order.is_some() {
            metrics::count("DisputesDecided");
        }
        Ok(resp)
    }

    /// The arbiters' queue: orders whose dispute has `status` (default
    /// `escalated`), oldest first, paginated.
    async fn list_disputes(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        if !caller.has(Role::Arbiter) {
            return Err(ApiError::Forbidden("only arbiters list disputes".into()));
        }
        check_query(req)?;
        let mut f = Fields::default();
        let (limit, cursor) = page_params(req, &mut f, app::page::DEFAULT_PAGE);
        let status = f.check(
            "status",
            DisputeStatus::parse(req.query("status").unwrap_or("escalated"))
                .ok_or("must be open, negotiating, escalated or resolved"),
        );
        let (limit, (cursor, status)) = f.finish(limit.zip(cursor.zip(status)))?;
        let page = page_request(limit, cursor)?;
        let got = self.backend.list(&Listing::Disputes(status), &page).await?;
        let items: Vec<_> = got
            .items
            .iter()
            // The index follows the order's dispute; read-your-writes lag of
            // the index aside, show only what matches now.
            .filter(|o| o.dispute().is_some_and(|d| d.status == status))
            .map(view::dispute_summary)
            .collect();
        Ok(ok_json(200, &page_body(items, got.next_cursor)))
    }
}
