//! Payments: the buyer paying a stage, the order's payments, and an
//! arbiter settling a flagged payment or refund part. What the providers
//! report arrives by the webhook route ([`crate::webhook`]) and the
//! payment-events consumer.

use app::ports::{Backend, Clock};
use domain::actor::Caller;
use domain::ids::{PaymentId, RefundId};
use domain::order::{Command, PaymentRequest};
use domain::status::Action;
use serde_json::json;

use crate::api::{Api, OrderRequest, Result, View, fresh, ok_json};
use crate::dto;
use crate::problem::ApiError;
use crate::request::{ApiRequest, ApiResponse};
use crate::routes::{self, Params, Route};
use crate::view;

/// The payment routes, each with the function serving it.
pub const ROUTES: &[Route] = &[
    route(
        "GET",
        "/v1/orders/{id}/payments",
        "get-order",
        Endpoint::List,
    ),
    route(
        "POST",
        "/v1/orders/{id}/payments",
        "initiate-payment",
        Endpoint::Pay,
    ),
    route(
        "POST",
        "/v1/orders/{id}/payments/{pid}/resolution",
        "resolve-payment",
        Endpoint::ResolvePayment,
    ),
    route(
        "POST",
        "/v1/orders/{id}/refunds/{rid}/resolution",
        "resolve-payment",
        Endpoint::ResolveRefund,
    ),
];

/// What a payment route asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    List,
    Pay,
    ResolvePayment,
    ResolveRefund,
}

const fn route(
    method: &'static str,
    path: &'static str,
    function: &'static str,
    endpoint: Endpoint,
) -> Route {
    Route::new(method, path, function, routes::Endpoint::Payments(endpoint))
}

impl<B: Backend, C: Clock> Api<B, C> {
    pub(crate) async fn payments(
        &self,
        endpoint: Endpoint,
        req: &ApiRequest,
        caller: &Caller,
        params: &Params<'_>,
    ) -> Result<ApiResponse> {
        let id = params.get("id");
        match endpoint {
            Endpoint::List => {
                let order = self.read_order(req, caller, id).await?;
                let items: Vec<_> = order
                    .payments()
                    .iter()
                    .map(|p| view::order_payment(&order, p))
                    .collect();
                Ok(ok_json(200, &json!({ "items": items })))
            }
            Endpoint::Pay => self.pay(req, caller, id).await,
            Endpoint::ResolvePayment => {
                // A malformed payment id names no payment: 404, like any
                // unknown one.
                let payment =
                    PaymentId::parse(params.get("pid")).map_err(|_| ApiError::NotFound)?;
                let command = dto::decode::<dto::ResolutionBody>(&req.body).map(|b| {
                    Command::ResolvePayment {
                        payment: payment.clone(),
                        resolution: b.resolution,
                    }
                });
                let request = OrderRequest::new(Action::ResolvePayment, command)
                    .answering(200, View::Payment(payment));
                Ok(self.change_order(req, caller, id, request).await?.0)
            }
            Endpoint::ResolveRefund => {
                // A malformed refund id names no refund: 404, like any
                // unknown one.
                let refund = RefundId::parse(params.get("rid")).map_err(|_| ApiError::NotFound)?;
                let command = dto::decode::<dto::RefundResolutionBody>(&req.body).map(|b| {
                    Command::ResolveRefund {
                        refund: refund.clone(),
                        resolution: b.resolution,
                    }
                });
                let request = OrderRequest::new(Action::ResolveRefund, command)
                    .answering(200, View::Refund(refund));
                Ok(self.change_order(req, caller, id, request).await?.0)
            }
        }
    }

    /// The buyer pays a stage (201 with the payment). The credit line (Pay
    /// Later) is read with the order; a wire transfer also reads the
    /// supplier's receiving account (one more read: the supplier is known
    /// only from the order).
    async fn pay(&self, req: &ApiRequest, caller: &Caller, id: &str) -> Result<ApiResponse> {
        let payment = fresh(self.ids.payment_id())?;
        let command = dto::parse_body::<dto::PaymentBody>(&req.body).map(|(stage, method)| {
            Command::Pay(PaymentRequest {
                id: payment,
                stage,
                method,
            })
        });
        let request =
            OrderRequest::new(Action::PayInitial, command).answering(201, View::LastPayment);
        Ok(self.change_order(req, caller, id, request).await?.0)
    }
}
