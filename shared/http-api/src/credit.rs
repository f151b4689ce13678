//! Pay Later credit lines: a buyer applies (pending until the lender's
//! webhook approves it with a limit, or declines it) and reads its line.

use app::error::{ConflictKind, StoreError};
use app::ports::{Backend, Clock};
use app::usecases::{self, Once};
use domain::actor::{Caller, Role};
use domain::payment::CreditLine;

use crate::api::{Api, Result, check_query, fresh, idempotency, ok_json, replayed, to_stored};
use crate::dto;
use crate::problem::ApiError;
use crate::request::{ApiRequest, ApiResponse};
use crate::routes::{self, Route};
use crate::view;

/// The credit-line routes, each with the function serving it.
pub const ROUTES: &[Route] = &[
    route(
        "POST",
        "/v1/credit-line",
        "apply-credit-line",
        Endpoint::Apply,
    ),
    route("GET", "/v1/credit-line", "apply-credit-line", Endpoint::Get),
];

/// What a credit-line route asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Apply,
    Get,
}

const fn route(
    method: &'static str,
    path: &'static str,
    function: &'static str,
    endpoint: Endpoint,
) -> Route {
    Route::new(method, path, function, routes::Endpoint::Credit(endpoint))
}

impl<B: Backend, C: Clock> Api<B, C> {
    pub(crate) async fn credit(
        &self,
        endpoint: Endpoint,
        req: &ApiRequest,
        caller: &Caller,
    ) -> Result<ApiResponse> {
        match endpoint {
            Endpoint::Apply => self.apply_for_credit(req, caller).await,
            Endpoint::Get => {
                if !caller.has(Role::Buyer) {
                    return Err(ApiError::Forbidden(
                        "only buyers have Pay Later credit lines".into(),
                    ));
                }
                check_query(req)?;
                let line = self
                    .backend
                    .get_credit(&caller.id)
                    .await?
                    .ok_or(ApiError::NotFound)?;
                Ok(ok_json(200, &view::credit_line(&line)))
            }
        }
    }

    /// A buyer applies for a Pay Later credit line, once per idempotency
    /// key: the answer (201, or a refusal) is stored for replays; a server
    /// error is not, and the retry runs again.
    async fn apply_for_credit(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        if !caller.has(Role::Buyer) {
            return Err(ApiError::Forbidden(
                "only buyers apply for Pay Later".into(),
            ));
        }
        dto::decode::<dto::EmptyBody>(&req.body)?;
        check_query(req)?;
        let idem = idempotency(req, caller)?;
        let now = self.now();
        let apply = || async {
            let id = fresh(self.ids.application_id())?;
            let line = CreditLine::apply(caller.id.clone(), id, now);
            match self.backend.apply_for_credit(&line).await {
                Ok(()) => Ok(ok_json(201, &view::credit_line(&line))),
                Err(StoreError::Conflict(ConflictKind::AlreadyExists)) => Err(ApiError::Conflict {
                    code: "credit-line-exists",
                    detail: "you already have a credit line or an application pending".into(),
                }),
                Err(e) => Err(e.into()),
            }
        };
        let keep = |result: &Result<ApiResponse>| {
            let response = match result {
                Ok(r) => r.clone(),
                Err(e) => e.to_response(),
            };
            (response.status < 500).then(|| to_stored(&response))
        };
        match usecases::once(&self.backend, idem.as_ref(), now, apply, keep).await? {
            Once::Ran(result) => result,
            Once::Replayed(r) => Ok(replayed(r)),
        }
    }
}
