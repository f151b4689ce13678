//! What needs an operator: arbiters page through the open flags — flagged
//! payments, payments past their arrival window, refund parts the provider
//! could not settle, provider events that were verified but refused —
//! oldest first, of one `kind` or all.

use app::flags::FlagEntry;
use app::ports::{Backend, Clock};
use domain::actor::{Caller, Role};
use domain::order::AttentionKind;
use serde_json::{Value, json};

use crate::api::{Api, Result, check_query, ok_json, page_body, page_params, page_request};
use crate::dto::Fields;
use crate::problem::ApiError;
use crate::request::{ApiRequest, ApiResponse};
use crate::routes::{self, Route};
use crate::view;

/// The flags route, with the function serving it.
pub const ROUTES: &[Route] = &[Route::new(
    "GET",
    "/v1/flags",
    "list-flags",
    routes::Endpoint::Flags(Endpoint::List),
)
.with_query(&["limit", "cursor", "kind"])];

/// What a flags route asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    List,
}

impl<B: Backend, C: Clock> Api<B, C> {
    pub(crate) async fn flags(
        &self,
        endpoint: Endpoint,
        req: &ApiRequest,
        caller: &Caller,
    ) -> Result<ApiResponse> {
        match endpoint {
            Endpoint::List => self.list_flags(req, caller).await,
        }
    }

    /// A page of open flags, oldest first (`kind`: one kind only).
    async fn list_flags(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        if !caller.has(Role::Arbiter) {
            return Err(ApiError::Forbidden(
                "only arbiters list what needs an operator".into(),
            ));
        }
        check_query(req)?;
        let mut f = Fields::default();
        let (limit, cursor) = page_params(req, &mut f, app::page::DEFAULT_PAGE);
        let kind = match req.query("kind") {
            None => Some(None),
            Some(k) => f
                .check(
                    "kind",
                    AttentionKind::parse(k).ok_or(
                        "must be flagged_payment, overdue_payment, failed_refund or refused_event",
                    ),
                )
                .map(Some),
        };
        let (limit, (cursor, kind)) = f.finish(limit.zip(cursor.zip(kind)))?;
        let page = page_request(limit, cursor)?;
        let got = self.backend.flags(kind, &page, self.now()).await?;
        let items: Vec<Value> = got.items.iter().map(flag).collect();
        Ok(ok_json(200, &page_body(items, got.next_cursor)))
    }
}

/// One flag as listed: what, why, since when, and what it is about.
pub fn flag(e: &FlagEntry) -> Value {
    let mut v = json!({
        "kind": e.kind.as_str(),
        "reason": e.reason,
        "detail": e.detail,
        "at": e.at,
    });
    let optional = [
        ("order_id", e.order_id.as_ref().map(|o| json!(o.as_str()))),
        ("payment_id", e.payment_id.as_ref().map(|p| json!(p))),
        ("refund_id", e.refund_id.as_ref().map(|r| json!(r))),
        ("amount", e.amount.map(view::money)),
        ("provider", e.provider.map(|p| json!(p.as_str()))),
        ("webhook_id", e.webhook_id.as_ref().map(|w| json!(w))),
        ("event_type", e.event_type.as_ref().map(|t| json!(t))),
        ("body", e.body.as_ref().map(|b| json!(b))),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            v[name] = value;
        }
    }
    v
}
