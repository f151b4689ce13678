//! Suppliers: the assurance limit an arbiter sets (and the supplier and
//! arbiters read), and the feedback buyers left, for anyone signed in.

use app::ports::{Backend, Clock};
use domain::actor::{Caller, Role};
use domain::ids::UserId;
use serde_json::json;

use crate::api::{Api, Result, check_query, ok_json, page_params, page_request};
use crate::dto::{self, Fields};
use crate::problem::ApiError;
use crate::request::{ApiRequest, ApiResponse};
use crate::routes::{self, PAGE, Params, Route};
use crate::view;

/// The supplier routes, each with the function serving it.
pub const ROUTES: &[Route] = &[
    route(
        "PUT",
        "/v1/suppliers/{id}/assurance-limit",
        "set-assurance-limit",
        Endpoint::SetLimit,
    ),
    route(
        "GET",
        "/v1/suppliers/{id}/assurance-limit",
        "set-assurance-limit",
        Endpoint::GetLimit,
    ),
    route(
        "GET",
        "/v1/suppliers/{id}/feedback",
        "leave-feedback",
        Endpoint::Feedback,
    )
    .with_query(PAGE),
];

/// What a supplier route asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    SetLimit,
    GetLimit,
    Feedback,
}

const fn route(
    method: &'static str,
    path: &'static str,
    function: &'static str,
    endpoint: Endpoint,
) -> Route {
    Route::new(
        method,
        path,
        function,
        routes::Endpoint::Suppliers(endpoint),
    )
}

impl<B: Backend, C: Clock> Api<B, C> {
    pub(crate) async fn suppliers(
        &self,
        endpoint: Endpoint,
        req: &ApiRequest,
        caller: &Caller,
        params: &Params<'_>,
    ) -> Result<ApiResponse> {
        // A malformed id names no supplier: 404, like any unknown one.
        let supplier = UserId::parse(params.get("id")).map_err(|_| ApiError::NotFound);
        match endpoint {
            Endpoint::SetLimit => self.set_limit(req, caller, supplier).await,
            Endpoint::GetLimit => self.get_limit(req, caller, supplier?).await,
            Endpoint::Feedback => self.supplier_feedback(req, supplier?).await,
        }
    }

    /// An arbiter sets a supplier's limit (403 for anyone else, before the
    /// supplier's id is even looked at).
    async fn set_limit(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        supplier: Result<UserId>,
    ) -> Result<ApiResponse> {
        if !caller.has(Role::Arbiter) {
            return Err(ApiError::Forbidden(
                "only an arbiter sets assurance limits".into(),
            ));
        }
        let supplier = supplier?;
        if supplier == caller.id {
            // As with disputes: no one decides their own case.
            return Err(ApiError::Forbidden(
                "an arbiter may not set their own assurance limit".into(),
            ));
        }
        check_query(req)?;
        let (limit, account) = dto::parse_body::<dto::LimitBody>(&req.body)?;
        let stored = self
            .backend
            .set_limit(&supplier, limit, account.as_ref())
            .await?;
        Ok(ok_json(200, &view::limit(&stored)))
    }

    async fn get_limit(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        supplier: UserId,
    ) -> Result<ApiResponse> {
        let own = caller.id == supplier && caller.has(Role::Supplier);
        if !own && !caller.has(Role::Arbiter) {
            return Err(ApiError::Forbidden(
                "only the supplier and arbiters see its limit".into(),
            ));
        }
        check_query(req)?;
        let limit = self
            .backend
            .get_limit(&supplier)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(ok_json(200, &view::limit(&limit)))
    }

    /// Anyone signed in reads a supplier's feedback: the average and count
    /// over all of it (kept in one record, so the read stays O(page)), and
    /// the feedback itself newest first, a page at a time, naming neither
    /// the orders nor the buyers.
    async fn supplier_feedback(&self, req: &ApiRequest, supplier: UserId) -> Result<ApiResponse> {
        check_query(req)?;
        let mut f = Fields::default();
        let (limit, cursor) = page_params(req, &mut f, app::page::DEFAULT_PAGE);
        let (limit, cursor) = f.finish(limit.zip(cursor))?;
        let page = page_request(limit, cursor)?;
        let summary = self.backend.rating(&supplier).await?;
        let got = self.backend.feedback(&supplier, &page).await?;
        let items: Vec<_> = got
            .items
            .iter()
            .map(|f| json!({"rating": f.rating, "comment": f.comment, "at": f.at}))
            .collect();
        let mut body = view::rating(supplier.as_str(), &summary, items);
        if let Some(c) = got.next_cursor {
            body["next_cursor"] = json!(c.as_str());
        }
        Ok(ok_json(200, &body))
    }
}
