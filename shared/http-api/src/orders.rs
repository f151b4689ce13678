//! Orders: creating, listing and reading them, agreeing the contract
//! (amend, confirm, remind, cancel), and what follows payment (shipment,
//! delivery, receipt, feedback). Payments, disputes, suppliers and credit
//! lines have their own files.

use app::idempotency::StoredResponse;
use app::ports::{Backend, Clock, Listing};
use app::usecases::{self, Creation};
use app::write::{Respond, Written};
use domain::Order;
use domain::actor::{Caller, Role};
use domain::calendar::Timestamp;
use domain::event::{DomainEvent, HistoryEntry};
use domain::order::{Command, NewOrder};
use domain::status::{Action, OrderStatus};
use serde_json::json;

use crate::api::{
    Api, OrderRequest, Result, View, check_query, fresh, idempotency, ok_json, page_body,
    page_params, page_request, replayed, to_stored,
};
use crate::dto::{self, Fields};
use crate::metrics;
use crate::problem::ApiError;
use crate::request::{ApiRequest, ApiResponse};
use crate::routes::{self, PAGE, Params, Route};
use crate::view;

/// The order routes, each with the function serving it.
pub const ROUTES: &[Route] = &[
    route("POST", "/v1/orders", "create-order", Endpoint::Create),
    route("GET", "/v1/orders", "list-orders", Endpoint::List)
        .with_query(&["limit", "cursor", "status", "as"]),
    route("GET", "/v1/orders/{id}", "get-order", Endpoint::Get),
    route(
        "GET",
        "/v1/orders/{id}/history",
        "get-order",
        Endpoint::History,
    )
    .with_query(PAGE),
    route(
        "POST",
        "/v1/orders/{id}/amend",
        "amend-order",
        Endpoint::Amend,
    ),
    route(
        "POST",
        "/v1/orders/{id}/confirm",
        "confirm-order",
        Endpoint::Confirm,
    ),
    route(
        "POST",
        "/v1/orders/{id}/remind",
        "confirm-order",
        Endpoint::Remind,
    ),
    route(
        "POST",
        "/v1/orders/{id}/cancel",
        "cancel-order",
        Endpoint::Cancel,
    ),
    route(
        "POST",
        "/v1/orders/{id}/shipment",
        "ship-order",
        Endpoint::Ship,
    ),
    route(
        "POST",
        "/v1/orders/{id}/delivery",
        "record-delivery",
        Endpoint::Delivery,
    ),
    route(
        "POST",
        "/v1/orders/{id}/receipt",
        "confirm-receipt",
        Endpoint::Receipt,
    ),
    route(
        "POST",
        "/v1/orders/{id}/receipt/extension",
        "confirm-receipt",
        Endpoint::ReceiptExtension,
    ),
    route(
        "POST",
        "/v1/orders/{id}/feedback",
        "leave-feedback",
        Endpoint::Feedback,
    ),
];

/// What an order route asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Create,
    List,
    Get,
    History,
    Amend,
    Confirm,
    Remind,
    Cancel,
    Ship,
    Delivery,
    Receipt,
    ReceiptExtension,
    Feedback,
}

const fn route(
    method: &'static str,
    path: &'static str,
    function: &'static str,
    endpoint: Endpoint,
) -> Route {
    Route::new(method, path, function, routes::Endpoint::Orders(endpoint))
}

impl<B: Backend, C: Clock> Api<B, C> {
    pub(crate) async fn orders(
        &self,
        endpoint: Endpoint,
        req: &ApiRequest,
        caller: &Caller,
        params: &Params<'_>,
    ) -> Result<ApiResponse> {
        let id = params.get("id");
        match endpoint {
            Endpoint::Create => self.create_order(req, caller).await,
            Endpoint::List => self.list_orders(req, caller).await,
            Endpoint::Get => {
                let order = self.read_order(req, caller, id).await?;
                Ok(ok_json(200, &view::order(&order)))
            }
            Endpoint::History => self.history(req, caller, id).await,
            Endpoint::Amend => {
                let command = dto::amended_terms(&req.body).map(Command::Amend);
                let request = OrderRequest::new(Action::Amend, command);
                Ok(self.change_order(req, caller, id, request).await?.0)
            }
            Endpoint::Confirm => self.confirm(req, caller, id).await,
            Endpoint::Remind => self.no_body(req, caller, id, Command::Remind).await,
            Endpoint::Cancel => self.no_body(req, caller, id, Command::Cancel).await,
            Endpoint::Ship => {
                let command = dto::parse_body::<dto::ShipmentBody>(&req.body).map(Command::Ship);
                let request = OrderRequest::new(Action::Ship, command);
                Ok(self.change_order(req, caller, id, request).await?.0)
            }
            Endpoint::Delivery => {
                let command = dto::parse_body::<dto::DeliveryBody>(&req.body).map(
                    |(customs_cleared_at, delivered_at)| Command::RecordDelivery {
                        customs_cleared_at,
                        delivered_at,
                    },
                );
                let request = OrderRequest::new(Action::RecordDelivery, command);
                Ok(self.change_order(req, caller, id, request).await?.0)
            }
            Endpoint::Receipt => {
                let (resp, order) = self
                    .no_body_change(req, caller, id, Command::ConfirmReceipt)
                    .await?;
                if order.is_some() {
                    metrics::count("OrdersCompleted");
                }
                Ok(resp)
            }
            Endpoint::ReceiptExtension => {
                self.no_body(req, caller, id, Command::ExtendReceipt).await
            }
            Endpoint::Feedback => {
                let command = dto::parse_body::<dto::FeedbackBody>(&req.body)
                    .map(|(rating, comment)| Command::LeaveFeedback { rating, comment });
                let request = OrderRequest::new(Action::LeaveFeedback, command)
                    .answering(201, View::Feedback);
                Ok(self.change_order(req, caller, id, request).await?.0)
            }
        }
    }

    /// A command whose request has no fields (`{}` or an empty body),
    /// answered with the order.
    pub(crate) async fn no_body(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
        command: Command,
    ) -> Result<ApiResponse> {
        Ok(self.no_body_change(req, caller, id, command).await?.0)
    }

    async fn no_body_change(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
        command: Command,
    ) -> Result<(ApiResponse, Option<Order>)> {
        let action = command.action();
        let command = dto::decode::<dto::EmptyBody>(&req.body).map(|_| command);
        let request = OrderRequest::new(action, command);
        self.change_order(req, caller, id, request).await
    }

    async fn create_order(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        if !caller.has(Role::Buyer) && !caller.has(Role::Supplier) {
            return Err(ApiError::Forbidden(
                "only buyers and suppliers create orders".into(),
            ));
        }
        check_query(req)?;
        let (counterparty, terms) = dto::new_order(&req.body)?;
        let now = self.now();
        let idem = idempotency(req, caller)?;
        let creation = Create {
            caller,
            new: NewOrder {
                id: fresh(self.ids.order_id())?,
                counterparty,
                terms,
                clocks: self.clocks,
            },
        };
        match usecases::create(
            &self.backend,
            now,
            idem.as_ref(),
            req.correlation_id(),
            &creation,
        )
        .await?
        {
            Written::Replayed(r) => Ok(replayed(r)),
            Written::Committed { order, .. } | Written::Unchanged(order) => {
                metrics::count("OrdersCreated");
                Ok(created_response(&order))
            }
            Written::Duplicate => Err(ApiError::Internal(
                "creating an order was a duplicate".into(),
            )),
        }
    }

    async fn list_orders(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        if !caller.has(Role::Buyer) && !caller.has(Role::Supplier) {
            return Err(ApiError::Forbidden(
                "only buyers and suppliers list their orders".into(),
            ));
        }
        check_query(req)?;
        let mut f = Fields::default();
        let (limit, cursor) = page_params(req, &mut f, app::page::DEFAULT_PAGE);
        let status = req
            .query("status")
            .map(|s| {
                f.check("status", OrderStatus::parse(s).ok_or("unknown status"))
                    .map(Some)
            })
            .unwrap_or(Some(None));
        let as_supplier = match req.query("as") {
            Some("supplier") => caller.has(Role::Supplier),
            Some("buyer") => false,
            Some(_) => {
                f.fail("as", "must be buyer or supplier");
                false
            }
            None => !caller.has(Role::Buyer) && caller.has(Role::Supplier),
        };
        let (limit, (cursor, status)) = f.finish(limit.zip(cursor.zip(status)))?;
        let listing = if as_supplier {
            Listing::Supplier(caller.id.clone())
        } else if caller.has(Role::Buyer) {
            Listing::Buyer(caller.id.clone())
        } else {
            return Err(ApiError::Forbidden(
                "only buyers and suppliers list their orders".into(),
            ));
        };
        let mut page = page_request(limit, cursor)?;
        // A status filter reads on until the page is full (bounded).
        let mut items = Vec::new();
        let mut next = None;
        for _ in 0..10 {
            let got = self.backend.list(&listing, &page).await?;
            items.extend(
                got.items
                    .iter()
                    .filter(|o| status.is_none_or(|s| o.status() == s))
                    .map(view::order),
            );
            next = got.next_cursor;
            match &next {
                Some(c) if status.is_some() && items.len() < limit as usize => {
                    page = app::page::PageRequest {
                        limit,
                        cursor: Some(c.clone()),
                    };
                }
                _ => break,
            }
        }
        Ok(ok_json(200, &page_body(items, next)))
    }

    /// The order's events, oldest first, a page at a time (100 by default).
    async fn history(&self, req: &ApiRequest, caller: &Caller, id: &str) -> Result<ApiResponse> {
        let order = self.read_order(req, caller, id).await?;
        let mut f = Fields::default();
        let (limit, cursor) = page_params(req, &mut f, app::page::DEFAULT_HISTORY_PAGE);
        let (limit, cursor) = f.finish(limit.zip(cursor))?;
        let page = page_request(limit, cursor)?;
        let events = self.backend.history(order.id(), &page).await?;
        let entries: Vec<HistoryEntry> = events.items.iter().map(Into::into).collect();
        let mut body = view::history(&entries);
        if let Some(c) = events.next_cursor {
            body["next_cursor"] = json!(c.as_str());
        }
        Ok(ok_json(200, &body))
    }

    async fn confirm(&self, req: &ApiRequest, caller: &Caller, id: &str) -> Result<ApiResponse> {
        let command = dto::decode::<dto::ConfirmBody>(&req.body)
            .map(|b| Command::Confirm { version: b.version });
        let request = OrderRequest::new(Action::Confirm, command);
        let (resp, order) = self.change_order(req, caller, id, request).await?;
        if order.is_some_and(|o| o.status() == OrderStatus::AwaitingInitialPayment) {
            metrics::count("OrdersConfirmed");
        }
        Ok(resp)
    }
}

/// What creating an order answers: 201, the order, and its `Location`
/// (a replay answers the same, headers included).
fn created_response(order: &Order) -> ApiResponse {
    ok_json(201, &view::order(order)).with_header("location", &format!("/v1/orders/{}", order.id()))
}

/// Creating an order, for the `create` use case.
struct Create<'a> {
    caller: &'a Caller,
    new: NewOrder,
}

impl Respond for Create<'_> {
    fn respond(&self, order: &Order) -> StoredResponse {
        to_stored(&created_response(order))
    }
}

impl Creation for Create<'_> {
    type Error = ApiError;

    fn create(&self, now: Timestamp) -> Result<(Order, Vec<DomainEvent>)> {
        Ok(Order::create(self.caller, self.new.clone(), now)?)
    }

    fn respond_error(&self, error: &ApiError) -> StoredResponse {
        to_stored(&error.to_response())
    }
}
