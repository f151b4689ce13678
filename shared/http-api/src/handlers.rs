//! One function per route: decode → one use case → encode. Checks run in
//! the order 401 → 413 → 404 → 403 → 400 → 409 → 429 → 422.

use app::idempotency::{IdemDecision, IdemKey, IdemRecord, PayloadHash, StoredResponse, decide};
use app::page::{Cursor, PageRequest};
use app::ports::Backend;
use app::ports::{Clock, Listing, LoadRequest, Loaded};
use app::usecases::{self, Creation, IdemRequest, Outcome, Transition, UseCaseError};
use domain::Order;
use domain::actor::{Caller, Role};
use domain::calendar::Timestamp;
use domain::contract::Terms;
use domain::event::{DomainEvent, HistoryEntry};
use domain::ids::{OrderId, UserId};
use domain::order::{Counterparty, NewOrder, ShipmentDetails};
use domain::status::{Action, OrderStatus};
use serde_json::json;

use crate::dto::{self, Fields};
use crate::metrics;
use crate::problem::{ApiError, FieldError};
use crate::request::{ApiRequest, ApiResponse};
use crate::view;

/// Everything a handler needs: the backend (every port) and business time.
pub struct Api<B, C> {
    pub backend: B,
    pub clock: C,
    /// Generates new order ids.
    pub ids: fn() -> String,
    /// The clocks new orders live by (configuration; each order keeps the
    /// clocks it was created with).
    pub clocks: domain::clocks::Clocks,
}

type Result<T> = std::result::Result<T, ApiError>;

fn ok_json(status: u16, v: &serde_json::Value) -> ApiResponse {
    ApiResponse::json(status, v.to_string())
}

fn stored(status: u16, v: &serde_json::Value) -> StoredResponse {
    StoredResponse {
        status,
        content_type: "application/json".into(),
        body: v.to_string(),
        headers: Vec::new(),
    }
}

/// A stored response, answered again with the headers of the first answer.
fn replayed(r: StoredResponse) -> ApiResponse {
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
fn to_stored(r: &ApiResponse) -> StoredResponse {
    StoredResponse {
        status: r.status,
        content_type: r.content_type.clone(),
        body: r.body.clone(),
        headers: r.headers.clone(),
    }
}

/// The query parameters the request's route does not take (400).
fn unknown_query(req: &ApiRequest) -> Vec<FieldError> {
    let allowed = crate::routes::find(&req.method, &req.path).map_or(&[][..], |(r, _)| r.query);
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
fn check_query(req: &ApiRequest) -> Result<()> {
    let errors = unknown_query(req);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(errors))
    }
}

fn order_id(id: &str) -> Result<OrderId> {
    // A malformed id names no order: 404, like any unknown one.
    OrderId::parse(id).map_err(|_| ApiError::NotFound)
}

/// The request's idempotency key, scoped to caller, method and path.
fn idempotency(req: &ApiRequest, caller: &Caller) -> Result<Option<IdemRequest>> {
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

/// `limit` (default 20) and `cursor` of a listing, with their field errors.
fn page_params(req: &ApiRequest, f: &mut Fields) -> (Option<u32>, Option<Option<Cursor>>) {
    let limit = req
        .query("limit")
        .map(|l| {
            f.check(
                "limit",
                l.parse::<u32>().map_err(|_| "must be a whole number"),
            )
        })
        .unwrap_or(Some(app::page::DEFAULT_PAGE));
    let cursor = req
        .query("cursor")
        .map(|c| f.check("cursor", Cursor::parse(c)).map(Some))
        .unwrap_or(Some(None));
    (limit, cursor)
}

/// A state transition driven by closures: who may act, how the body
/// decodes, what the domain does.
struct Step<'a, I, D, A> {
    caller: &'a Caller,
    action: Action,
    body: &'a [u8],
    /// Query parameters the route does not take: 400 after 404 / 403.
    unknown_query: Vec<FieldError>,
    decode: D,
    apply: A,
    status: u16,
    /// The response body for the changed order: the same for the first
    /// answer and for every replay.
    render: &'a (dyn Fn(&Order) -> serde_json::Value + Sync),
    needs_limit: bool,
    /// Read the caller's Pay Later credit line with the order.
    wants_credit: bool,
    _input: std::marker::PhantomData<I>,
}

impl<I, D, A> Transition for Step<'_, I, D, A>
where
    D: Fn(&[u8]) -> Result<I>,
    A: Fn(&mut Order, I, &Loaded, Timestamp) -> Result<Vec<DomainEvent>>,
{
    type Input = I;
    type Error = ApiError;

    fn check(&self, order: &Order) -> Result<I> {
        order.viewer(self.caller)?;
        order.authorize(self.caller, self.action)?;
        if !self.unknown_query.is_empty() {
            return Err(ApiError::bad_request(self.unknown_query.clone()));
        }
        (self.decode)(self.body)
    }

    fn apply(
        &self,
        order: &mut Order,
        input: I,
        loaded: &Loaded,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>> {
        (self.apply)(order, input, loaded, now)
    }

    fn respond(&self, order: &Order) -> StoredResponse {
        stored(self.status, &(self.render)(order))
    }

    fn needs_limit(&self) -> bool {
        self.needs_limit
    }

    fn limit_hint(&self) -> Option<&UserId> {
        (self.needs_limit && self.caller.has(Role::Supplier)).then_some(&self.caller.id)
    }

    fn credit_hint(&self) -> Option<&UserId> {
        self.wants_credit.then_some(&self.caller.id)
    }
}

impl<'a, I, D, A> Step<'a, I, D, A> {
    /// A step answering 200 with the order, reading nothing but the order.
    fn new(caller: &'a Caller, action: Action, body: &'a [u8], decode: D, apply: A) -> Self {
        Step {
            caller,
            action,
            body,
            unknown_query: Vec::new(),
            decode,
            apply,
            status: 200,
            render: &view::order,
            needs_limit: false,
            wants_credit: false,
            _input: std::marker::PhantomData,
        }
    }
}

/// A step whose request has no fields (`{}` or an empty body) and whose
/// command needs only the caller and the time.
#[allow(clippy::type_complexity)]
fn no_body_step<'a>(
    caller: &'a Caller,
    action: Action,
    body: &'a [u8],
    command: impl Fn(&mut Order, Timestamp) -> Result<Vec<DomainEvent>> + 'a,
) -> Step<
    'a,
    (),
    impl Fn(&[u8]) -> Result<()>,
    impl Fn(&mut Order, (), &Loaded, Timestamp) -> Result<Vec<DomainEvent>>,
> {
    Step::new(
        caller,
        action,
        body,
        |b: &[u8]| dto::decode::<dto::EmptyBody>(b).map(|_| ()),
        move |o: &mut Order, (), _: &Loaded, now| command(o, now),
    )
}

impl<B: Backend, C: Clock> Api<B, C> {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn run_step<I, D, A>(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
        mut step: Step<'_, I, D, A>,
    ) -> Result<(ApiResponse, Option<Order>)>
    where
        D: Fn(&[u8]) -> Result<I>,
        A: Fn(&mut Order, I, &Loaded, Timestamp) -> Result<Vec<DomainEvent>>,
    {
        let id = order_id(id)?;
        step.unknown_query = unknown_query(req);
        let idem = idempotency(req, caller)?;
        match usecases::transition(&self.backend, self.now(), &id, idem.as_ref(), &step).await? {
            Outcome::Replayed(r) => Ok((replayed(r), None)),
            Outcome::Done(order) => Ok((ok_json(step.status, &(step.render)(&order)), Some(order))),
        }
    }

    // ---- orders ------------------------------------------------------------

    pub async fn create_order(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        if !caller.has(Role::Buyer) && !caller.has(Role::Supplier) {
            return Err(ApiError::Forbidden(
                "only buyers and suppliers create orders".into(),
            ));
        }
        check_query(req)?;
        let body: dto::TermsBody = dto::decode(&req.body)?;
        let mut f = Fields::default();
        let counterparty = match (&body.supplier_id, &body.buyer_id) {
            (Some(s), None) => dto::user(&mut f, "supplier_id", s).map(Counterparty::Supplier),
            (None, Some(b)) => dto::user(&mut f, "buyer_id", b).map(Counterparty::Buyer),
            _ => {
                f.fail("supplier_id", "give exactly one of supplier_id (a buyer creating) or buyer_id (a supplier drafting)");
                None
            }
        };
        let terms = body.parse(&mut f);
        let (counterparty, draft) = f.finish(counterparty.zip(terms))?;
        let terms = Terms::new(draft).map_err(domain::OrderError::from)?;
        let id = OrderId::parse((self.ids)()).map_err(|e| ApiError::Internal(e.to_string()))?;
        let idem = idempotency(req, caller)?;
        let creation = Create {
            caller,
            new: NewOrder {
                id,
                counterparty,
                terms,
                clocks: self.clocks,
            },
        };
        match usecases::create(&self.backend, self.now(), idem.as_ref(), &creation).await? {
            Outcome::Replayed(r) => Ok(replayed(r)),
            Outcome::Done(order) => {
                metrics::count("OrdersCreated");
                Ok(created_response(&order))
            }
        }
    }

    pub async fn get_order(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
        part: &str,
    ) -> Result<ApiResponse> {
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
        Ok(match part {
            "history" => {
                let mut f = Fields::default();
                let (limit, cursor) = page_params(req, &mut f);
                let limit = limit.map(|l| {
                    if req.query("limit").is_none() {
                        app::page::DEFAULT_HISTORY_PAGE
                    } else {
                        l
                    }
                });
                let (limit, cursor) = f.finish(limit.zip(cursor))?;
                let page = PageRequest::new(Some(limit), cursor)
                    .map_err(|e| ApiError::bad_request(vec![FieldError::new("limit", e)]))?;
                let events = self.backend.history(&id, &page).await?;
                let entries: Vec<HistoryEntry> = events.items.iter().map(Into::into).collect();
                let mut body = view::history(&entries);
                if let Some(c) = events.next_cursor {
                    body["next_cursor"] = json!(c.as_str());
                }
                ok_json(200, &body)
            }
            "payments" => ok_json(
                200,
                &json!({"items": order.payments().iter().map(|p| view::order_payment(&order, p)).collect::<Vec<_>>()}),
            ),
            _ => ok_json(200, &view::order(&order)),
        })
    }

    pub async fn list_orders(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        if !caller.has(Role::Buyer) && !caller.has(Role::Supplier) {
            return Err(ApiError::Forbidden(
                "only buyers and suppliers list their orders".into(),
            ));
        }
        check_query(req)?;
        let mut f = Fields::default();
        let (limit, cursor) = page_params(req, &mut f);
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
        let mut page = PageRequest::new(Some(limit), cursor)
            .map_err(|e| ApiError::bad_request(vec![FieldError::new("limit", e)]))?;
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
                    page = PageRequest {
                        limit,
                        cursor: Some(c.clone()),
                    };
                }
                _ => break,
            }
        }
        let mut body = json!({"items": items});
        if let Some(c) = next {
            body["next_cursor"] = json!(c.as_str());
        }
        Ok(ok_json(200, &body))
    }

    pub async fn amend(&self, req: &ApiRequest, caller: &Caller, id: &str) -> Result<ApiResponse> {
        let step = Step::new(
            caller,
            Action::Amend,
            &req.body,
            |b: &[u8]| {
                let body: dto::TermsBody = dto::decode(b)?;
                let mut f = Fields::default();
                if body.supplier_id.is_some() || body.buyer_id.is_some() {
                    f.fail("supplier_id", "the parties of an order cannot be amended");
                }
                let draft = body.parse(&mut f);
                let draft = f.finish(draft)?;
                Ok(Terms::new(draft).map_err(domain::OrderError::from)?)
            },
            |o: &mut Order, terms: Terms, _: &Loaded, now| Ok(o.amend(caller, terms, now)?),
        );
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    pub async fn confirm(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = Step {
            needs_limit: true,
            ..Step::new(
                caller,
                Action::Confirm,
                &req.body,
                |b: &[u8]| Ok(dto::decode::<dto::ConfirmBody>(b)?.version),
                |o: &mut Order, version: u64, loaded: &Loaded, now| {
                    let supplier = o.supplier_id().clone();
                    let limit = loaded.limit.clone().unwrap_or_else(|| {
                        domain::coverage::AssuranceLimit::new(supplier, domain::Usd::ZERO)
                    });
                    Ok(o.confirm(caller, version, &limit, now)?)
                },
            )
        };
        let (resp, order) = self.run_step(req, caller, id, step).await?;
        if order.is_some_and(|o| o.status() == OrderStatus::AwaitingInitialPayment) {
            metrics::count("OrdersConfirmed");
        }
        Ok(resp)
    }

    pub async fn remind(&self, req: &ApiRequest, caller: &Caller, id: &str) -> Result<ApiResponse> {
        let step = no_body_step(caller, Action::Remind, &req.body, |o: &mut Order, now| {
            Ok(o.remind(caller, now)?)
        });
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    pub async fn cancel(&self, req: &ApiRequest, caller: &Caller, id: &str) -> Result<ApiResponse> {
        let step = no_body_step(caller, Action::Cancel, &req.body, |o: &mut Order, now| {
            Ok(o.cancel(caller, now)?)
        });
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    /// The buyer pays a stage. The credit line (Pay Later) is read with the
    /// order; a wire transfer also reads the supplier's receiving account
    /// (one more read: the supplier is known only from the order).
    pub async fn initiate_payment(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        // Which extra records to read is decided from the method named in
        // the body, leniently: the strict decoding comes after 404 / 403.
        let peek = serde_json::from_slice::<serde_json::Value>(&req.body).unwrap_or_default();
        let named = |field: &str| peek.get(field).and_then(|v| v.as_str()).map(str::to_owned);
        let (method, stage) = (named("method"), named("stage"));
        let action = if stage.as_deref() == Some("balance") {
            Action::PayBalance
        } else {
            Action::PayInitial
        };
        let step = Step {
            status: 201,
            render: &view::last_payment,
            needs_limit: method.as_deref() == Some("telegraphic_transfer"),
            wants_credit: method.as_deref() == Some("pay_later"),
            ..Step::new(
                caller,
                action,
                &req.body,
                dto::parse_body::<dto::PaymentBody>,
                |o: &mut Order, (stage, method), loaded: &Loaded, now| {
                    let id = domain::ids::PaymentId::parse(new_payment_id())
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                    let ctx = domain::payment::PaymentContext {
                        credit_line: loaded.credit.as_ref(),
                        receiving_account: loaded
                            .limit
                            .as_ref()
                            .and_then(|l| l.receiving_account.as_ref()),
                    };
                    Ok(o.initiate_payment(
                        caller,
                        domain::order::PaymentRequest { id, stage, method },
                        ctx,
                        now,
                    )?)
                },
            )
        };
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    /// An arbiter settles a flagged payment: accept it as paid, or refund
    /// it. Answers 200 with the payment.
    pub async fn resolve_payment(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
        payment: &str,
    ) -> Result<ApiResponse> {
        // A malformed payment id names no payment: 404, like any unknown one.
        let payment =
            domain::ids::PaymentId::parse(payment.to_owned()).map_err(|_| ApiError::NotFound)?;
        let render = |o: &Order| {
            o.payment(&payment)
                .map(|p| view::order_payment(o, p))
                .unwrap_or(serde_json::Value::Null)
        };
        let step = Step {
            render: &render,
            ..Step::new(
                caller,
                Action::ResolvePayment,
                &req.body,
                |b: &[u8]| dto::decode::<dto::ResolutionBody>(b).map(|r| r.resolution),
                |o: &mut Order, resolution, _: &Loaded, now| {
                    Ok(o.resolve_payment(caller, &payment, resolution, now)?)
                },
            )
        };
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    pub async fn ship(&self, req: &ApiRequest, caller: &Caller, id: &str) -> Result<ApiResponse> {
        let step = Step::new(
            caller,
            Action::Ship,
            &req.body,
            |b: &[u8]| {
                let body: dto::ShipmentBody = dto::decode(b)?;
                let mut f = Fields::default();
                let carrier = f.check("carrier", domain::text::ShortText::parse(&body.carrier));
                let tracking = f.check(
                    "tracking_number",
                    domain::text::ShortText::parse(&body.tracking_number),
                );
                let shipped_at =
                    dto::optional_instant(&mut f, "shipped_at", body.shipped_at.as_ref());
                f.finish(carrier.zip(tracking).zip(shipped_at).map(
                    |((carrier, tracking_number), shipped_at)| ShipmentDetails {
                        carrier,
                        tracking_number,
                        shipped_at,
                    },
                ))
            },
            |o: &mut Order, details: ShipmentDetails, _: &Loaded, now| {
                Ok(o.ship(caller, details, now)?)
            },
        );
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    pub async fn delivery(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = Step::new(
            caller,
            Action::RecordDelivery,
            &req.body,
            |b: &[u8]| {
                let body: dto::DeliveryBody = dto::decode(b)?;
                let mut f = Fields::default();
                let customs = dto::optional_instant(
                    &mut f,
                    "customs_cleared_at",
                    body.customs_cleared_at.as_ref(),
                );
                let delivered =
                    dto::optional_instant(&mut f, "delivered_at", body.delivered_at.as_ref());
                if body.customs_cleared_at.is_none() && body.delivered_at.is_none() {
                    f.fail(
                        "customs_cleared_at",
                        "give customs_cleared_at or delivered_at",
                    );
                }
                f.finish(customs.zip(delivered))
            },
            |o: &mut Order, (customs, delivered), _: &Loaded, now| {
                Ok(o.record_delivery(caller, customs, delivered, now)?)
            },
        );
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    pub async fn receipt(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = no_body_step(
            caller,
            Action::ConfirmReceipt,
            &req.body,
            |o: &mut Order, now| Ok(o.confirm_receipt(caller, now)?),
        );
        let (resp, order) = self.run_step(req, caller, id, step).await?;
        if order.is_some() {
            metrics::count("OrdersCompleted");
        }
        Ok(resp)
    }

    /// The buyer extends the time to confirm receipt (at most twice).
    pub async fn extend_receipt(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = no_body_step(
            caller,
            Action::ExtendReceipt,
            &req.body,
            |o: &mut Order, now| Ok(o.extend_receipt(caller, now)?),
        );
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    /// An arbiter resolves a flagged refund part: `retry` (a new attempt
    /// with its own provider key) or `settled_outside`. 200 with the part.
    pub async fn resolve_refund(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
        refund: &str,
    ) -> Result<ApiResponse> {
        // A malformed refund id names no refund: 404, like any unknown one.
        let refund =
            domain::ids::RefundId::parse(refund.to_owned()).map_err(|_| ApiError::NotFound)?;
        let render = |o: &Order| {
            o.refunds()
                .iter()
                .find(|r| r.id == refund)
                .map(view::refund_part)
                .unwrap_or(serde_json::Value::Null)
        };
        let step = Step {
            render: &render,
            ..Step::new(
                caller,
                Action::ResolveRefund,
                &req.body,
                |b: &[u8]| dto::decode::<dto::RefundResolutionBody>(b).map(|r| r.resolution),
                |o: &mut Order, resolution, _: &Loaded, now| {
                    Ok(o.resolve_refund(caller, &refund, resolution, now)?)
                },
            )
        };
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    pub async fn feedback(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = Step {
            status: 201,
            render: &view::feedback,
            ..Step::new(
                caller,
                Action::LeaveFeedback,
                &req.body,
                dto::parse_body::<dto::FeedbackBody>,
                |o: &mut Order, (rating, comment), _: &Loaded, now| {
                    Ok(o.leave_feedback(caller, rating, comment, now)?)
                },
            )
        };
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    /// Anyone signed in reads a supplier's feedback: the average and count
    /// over all of it (kept in one record, so the read stays O(page)), and
    /// the feedback itself newest first, a page at a time, naming neither
    /// the orders nor the buyers.
    pub async fn supplier_feedback(
        &self,
        req: &ApiRequest,
        _caller: &Caller,
        supplier: &str,
    ) -> Result<ApiResponse> {
        let supplier = UserId::parse(supplier).map_err(|_| ApiError::NotFound)?;
        check_query(req)?;
        let mut f = Fields::default();
        let (limit, cursor) = page_params(req, &mut f);
        let (limit, cursor) = f.finish(limit.zip(cursor))?;
        let page = PageRequest::new(Some(limit), cursor)
            .map_err(|e| ApiError::bad_request(vec![FieldError::new("limit", e)]))?;
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

    // ---- disputes -------------------------------------------------------------

    /// The buyer opens a dispute (201 with the dispute). Its deadlines come
    /// from the order's clocks (5 and 15 days by default).
    pub async fn open_dispute(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = Step {
            status: 201,
            render: &view::dispute,
            ..Step::new(
                caller,
                Action::OpenDispute,
                &req.body,
                dto::parse_body::<dto::OpenDisputeBody>,
                |o: &mut Order, open, _: &Loaded, now| Ok(o.raise_dispute(caller, open, now)?),
            )
        };
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    /// Either party acts in the dispute: accept, offer (supplier), reject,
    /// comment, with evidence. 200 with the dispute.
    pub async fn respond_dispute(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = Step {
            render: &view::dispute,
            ..Step::new(
                caller,
                Action::RespondDispute,
                &req.body,
                dto::parse_body::<dto::DisputeResponseBody>,
                |o: &mut Order, response, _: &Loaded, now| {
                    Ok(o.respond_dispute(caller, response, now)?)
                },
            )
        };
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    /// The buyer withdraws the dispute; the order continues where it was.
    pub async fn withdraw_dispute(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = Step {
            render: &view::dispute,
            ..no_body_step(
                caller,
                Action::WithdrawDispute,
                &req.body,
                |o: &mut Order, now| Ok(o.withdraw_dispute(caller, now)?),
            )
        };
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    /// The buyer escalates once eligible (422 before, naming the deadlines).
    pub async fn escalate_dispute(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = Step {
            render: &view::dispute,
            ..no_body_step(
                caller,
                Action::EscalateDispute,
                &req.body,
                |o: &mut Order, now| Ok(o.escalate_dispute(caller, now)?),
            )
        };
        Ok(self.run_step(req, caller, id, step).await?.0)
    }

    /// An arbiter decides an escalated dispute.
    pub async fn decide_dispute(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiResponse> {
        let step = Step {
            render: &view::dispute,
            ..Step::new(
                caller,
                Action::DecideDispute,
                &req.body,
                dto::parse_body::<dto::DecisionBody>,
                |o: &mut Order, decision, _: &Loaded, now| {
                    Ok(o.decide_dispute(caller, decision, now)?)
                },
            )
        };
        let (resp, order) = self.run_step(req, caller, id, step).await?;
        if order.is_some() {
            metrics::count("DisputesDecided");
        }
        Ok(resp)
    }

    /// The arbiters' queue: orders whose dispute has `status` (default
    /// `escalated`), oldest first, paginated.
    pub async fn list_disputes(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        use domain::dispute::DisputeStatus;
        if !caller.has(Role::Arbiter) {
            return Err(ApiError::Forbidden("only arbiters list disputes".into()));
        }
        check_query(req)?;
        let mut f = Fields::default();
        let (limit, cursor) = page_params(req, &mut f);
        let status = f.check(
            "status",
            DisputeStatus::parse(req.query("status").unwrap_or("escalated"))
                .ok_or("must be open, negotiating, escalated or resolved"),
        );
        let (limit, (cursor, status)) = f.finish(limit.zip(cursor.zip(status)))?;
        let page = PageRequest::new(Some(limit), cursor)
            .map_err(|e| ApiError::bad_request(vec![FieldError::new("limit", e)]))?;
        let got = self.backend.list(&Listing::Disputes(status), &page).await?;
        let items: Vec<_> = got
            .items
            .iter()
            // The index follows the order's dispute; read-your-writes lag of
            // the index aside, show only what matches now.
            .filter(|o| o.dispute().is_some_and(|d| d.status == status))
            .map(view::dispute_summary)
            .collect();
        let mut body = json!({"items": items});
        if let Some(c) = got.next_cursor {
            body["next_cursor"] = json!(c.as_str());
        }
        Ok(ok_json(200, &body))
    }

    /// Run a POST that changes no order under its `Idempotency-Key`: a lease
    /// first (a duplicate still running gets 409), then the response stored
    /// for replays (server errors are not stored: the lease expires).
    async fn idempotent<F, Fut>(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        run: F,
    ) -> Result<ApiResponse>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<ApiResponse>>,
    {
        check_query(req)?;
        let Some(idem) = idempotency(req, caller)? else {
            return run().await;
        };
        let now = self.now();
        let lease = IdemRecord::in_progress(idem.key.clone(), idem.payload.clone(), now);
        match self.backend.begin(&lease, now).await {
            Ok(()) => {}
            Err(app::error::StoreError::Conflict(app::error::ConflictKind::Idempotency)) => {
                let existing = self.backend.get_record(&idem.key, now).await?;
                return match decide(existing.as_ref(), &idem.payload, now) {
                    IdemDecision::Replay(r) => Ok(replayed(r)),
                    IdemDecision::PayloadMismatch => {
                        Err(UseCaseError::<ApiError>::IdempotencyMismatch.into())
                    }
                    IdemDecision::InProgress | IdemDecision::Proceed => {
                        Err(UseCaseError::<ApiError>::InProgress.into())
                    }
                };
            }
            Err(e) => return Err(e.into()),
        }
        let result = run().await;
        let response = match &result {
            Ok(r) => r.clone(),
            Err(e) => e.to_response(),
        };
        if response.status < 500 {
            let stored = to_stored(&response);
            let record = IdemRecord::complete(idem.key, idem.payload, stored, now);
            self.backend.complete(&record, now).await?;
        } else {
            usecases::release_lease(&self.backend, &idem, now).await;
        }
        result
    }

    // ---- Pay Later credit lines ------------------------------------------------

    /// A buyer applies for a Pay Later credit line: pending until the
    /// lender's webhook approves (with a limit) or declines it.
    pub async fn apply_for_credit(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
        if !caller.has(Role::Buyer) {
            return Err(ApiError::Forbidden(
                "only buyers apply for Pay Later".into(),
            ));
        }
        dto::decode::<dto::EmptyBody>(&req.body)?;
        self.idempotent(req, caller, || async {
            let id = domain::ids::ApplicationId::parse(crate::new_id("app"))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let line = domain::payment::CreditLine::apply(caller.id.clone(), id, self.now());
            match self.backend.apply_for_credit(&line).await {
                Ok(()) => Ok(ok_json(201, &view::credit_line(&line))),
                Err(app::error::StoreError::Conflict(app::error::ConflictKind::AlreadyExists)) => {
                    Err(ApiError::Conflict {
                        code: "credit-line-exists",
                        detail: "you already have a credit line or an application pending".into(),
                    })
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    pub async fn get_credit_line(&self, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse> {
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

    // ---- supplier limits ---------------------------------------------------

    pub async fn put_limit(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        supplier: &str,
    ) -> Result<ApiResponse> {
        if !caller.has(Role::Arbiter) {
            return Err(ApiError::Forbidden(
                "only an arbiter sets assurance limits".into(),
            ));
        }
        let supplier = UserId::parse(supplier).map_err(|_| ApiError::NotFound)?;
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

    pub async fn get_limit(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        supplier: &str,
    ) -> Result<ApiResponse> {
        let supplier = UserId::parse(supplier).map_err(|_| ApiError::NotFound)?;
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
}

/// What creating an order answers: 201, the order, and its `Location`
/// (a replay answers the same, headers included).
fn created_response(order: &Order) -> ApiResponse {
    ok_json(201, &view::order(order)).with_header("location", &format!("/v1/orders/{}", order.id()))
}

/// A fresh payment id, `pay_…` (unguessable, like order ids).
fn new_payment_id() -> String {
    crate::new_id("pay")
}

/// Creating an order, for the `create` use case.
struct Create<'a> {
    caller: &'a Caller,
    new: NewOrder,
}

impl Creation for Create<'_> {
    type Error = ApiError;

    fn create(&self, now: Timestamp) -> Result<(Order, Vec<DomainEvent>)> {
        Ok(Order::create(self.caller, self.new.clone(), now)?)
    }

    fn respond(&self, order: &Order) -> StoredResponse {
        to_stored(&created_response(order))
    }

    fn respond_error(&self, error: &ApiError) -> StoredResponse {
        to_stored(&error.to_response())
    }
}
