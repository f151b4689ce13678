//! The sandbox provider: each payment provider's API (`docs/provider-api.md`)
//! served by the local stack under `/_sandbox/{provider}`, so that the
//! provider-action step ([`crate::actions`]) talks to it through the one
//! HTTP adapter, `aws_adapters::providers::HttpProviders`, exactly as it
//! talks to a real provider:
//!
//! ```text
//! POST /_sandbox/{provider}/v1/payments                  (echeck, card, bank, paylater)
//! POST /_sandbox/{provider}/v1/refunds                   (the provider that took the payment)
//! POST /_sandbox/{provider}/v1/credit-line-applications  (paylater)
//! GET  /_sandbox/{provider}/{checkout|authorize|agreement}/{reference}
//!                                                        the pages next_action links to
//! ```
//!
//! Each request needs `Authorization: Bearer <the provider's key>`
//! (`PROVIDER_KEY_<PROVIDER>`, default `sk_sandbox_<provider>`) and an
//! `Idempotency-Key`. The first request with a key is answered at once,
//! `201 {"reference", "next_action"?}` — a card payment a checkout URL, an
//! e-check an authorization URL, a wire the payment's wire instructions
//! (read from the order), Pay Later a loan agreement URL — and remembered:
//! a request with the same key and body answers the first answer again
//! (`Idempotent-Replayed: true`); the same key with another body is 409,
//! and while the first request with a key is being answered another is
//! 429. A malformed request (a missing or malformed key, a body with
//! fields missing, extra or of the wrong shape) is 400, a wrong API key
//! 401, a request the provider does not serve (another method's payment,
//! not USD) 422; none of these is remembered.
//!
//! As business time passes — the ticker, `POST /_local/clock/advance`,
//! `POST /_local/schedules/run` ([`time_passes`]) — the sandbox confirms
//! what it took, by a Standard Webhooks delivery signed with the
//! provider's webhook secret and posted to the real webhook route (the
//! provider simulator's own path, [`crate::local::deliver`]), from where
//! the payment queue and its consumer take it:
//!
//! * a payment on the earliest day of its arrival window (`payment.succeeded`
//!   for the amount asked); Pay Later first
//!   `loan.agreement_completed` one working day on, then the payment at the
//!   earliest day of the window that agreement starts;
//! * a refund one working day on (`refund.succeeded`);
//! * a credit-line application one working day on, approved for the
//!   `requested_limit` (at most 150,000.00; 150,000.00 without one).
//!
//! Magic amounts ([`Behaviour`]): a payment of an amount ending in `.02` is
//! declined (`payment.failed`, due at once); `.03` is taken and never
//! confirmed (expiry can be tried); the first attempt of a refund of a
//! payment ending in `.04` fails (`refund.failed`; the service asks again,
//! and that attempt succeeds); a credit-line application for an amount
//! ending in `.02` is declined. `POST /_local/providers/outage` makes a
//! provider answer 5xx or 429 to its next requests.
//!
//! `PROVIDER_SANDBOX=manual` keeps the API but confirms nothing (and the
//! step does not run): only hand-posted simulator deliveries move payments.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use app::ports::{Backend, EventBus, LoadRequest};
use chrono::NaiveTime;
use domain::Usd;
use domain::actor::Provider;
use domain::calendar::{Timestamp, add_working_days};
use domain::ids::{ApplicationId, OrderId, PaymentId, RefundId, UserId};
use domain::payment::{MethodKind, NextAction, PAY_LATER_MAX_CREDIT, Stage};
use http_api::request::ApiResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::actions::IDLE_TIMEOUT;
use crate::gateway::{Incoming, not_found};
use crate::local::{self, Delivery};
use crate::queue::{Outcome, StackQueue, fresh_uuid};
use crate::stack::Stack;

/// Where the sandbox serves the providers' API.
pub const PREFIX: &str = "/_sandbox/";
/// `auto` (default) or `manual`.
pub const MODE_VARIABLE: &str = "PROVIDER_SANDBOX";
/// A provider's key when `PROVIDER_KEY_<PROVIDER>` is not set:
/// `sk_sandbox_card`, …
pub const DEFAULT_KEY_PREFIX: &str = "sk_sandbox_";
/// The most requests one outage may cover.
pub const MAX_OUTAGE_REQUESTS: u32 = 1000;
/// The attempts a request's record keeps (the newest): a client replaying
/// one key cannot grow it without bound.
pub const MAX_ATTEMPTS_KEPT: usize = 50;

/// Whether the sandbox and the provider-action step run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The step asks the sandbox; the sandbox confirms as time passes.
    #[default]
    Auto,
    /// Only hand-posted simulator deliveries.
    Manual,
}

impl Mode {
    /// From `PROVIDER_SANDBOX`: unset or empty is `auto`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Mode, String> {
        match get(MODE_VARIABLE).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(Mode::Auto),
            Some(v) if v.is_empty() || v == "auto" => Ok(Mode::Auto),
            Some(v) if v == "manual" => Ok(Mode::Manual),
            Some(v) => Err(format!("{MODE_VARIABLE} must be auto or manual, not {v:?}")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Manual => "manual",
        }
    }
}

/// The sandbox's base URL of `provider` for a stack on `port`.
pub fn base_url(port: u16, provider: Provider) -> String {
    format!("http://127.0.0.1:{port}{PREFIX}{provider}")
}

/// The key each provider's sandbox API accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys([String; 4]);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

fn index(provider: Provider) -> usize {
    match provider {
        Provider::Echeck => 0,
        Provider::Card => 1,
        Provider::Bank => 2,
        Provider::Paylater => 3,
    }
}

impl Keys {
    pub fn of(&self, provider: Provider) -> &str {
        &self.0[index(provider)]
    }
}

impl Default for Keys {
    fn default() -> Self {
        keys_from_lookup(|_| None)
    }
}

/// `PROVIDER_KEY_<PROVIDER>` for each provider, else `sk_sandbox_<provider>`.
pub fn keys_from_lookup(get: impl Fn(&str) -> Option<String>) -> Keys {
    Keys(Provider::ALL.map(|p| {
        get(&aws_adapters::providers::key_variable(p))
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| format!("{DEFAULT_KEY_PREFIX}{p}"))
    }))
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Payment,
    Refund,
    CreditLineApplication,
}

impl Kind {
    fn from_path(resource: &str) -> Option<Kind> {
        match resource {
            "v1/payments" => Some(Kind::Payment),
            "v1/refunds" => Some(Kind::Refund),
            "v1/credit-line-applications" => Some(Kind::CreditLineApplication),
            _ => None,
        }
    }
}

/// What the sandbox does with a request, by its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Confirmed as time passes.
    Confirmed,
    /// `.02`: a payment declined, a credit line declined.
    Declined,
    /// `.03`: a payment taken and never confirmed.
    NeverConfirmed,
    /// The first attempt of a refund of a payment ending in `.04`.
    FailsOnce,
    /// `PROVIDER_SANDBOX=manual`: nothing is confirmed.
    Manual,
}

/// The cents of an amount: `1700.02` → 2.
fn cents(amount: Usd) -> u64 {
    amount.cents() % 100
}

/// One answer, as sent.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// One HTTP request with a key.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// Business time.
    pub at: Timestamp,
    pub status: u16,
    /// Answered from the first answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// A webhook delivery made.
#[derive(Debug, Clone, Serialize)]
pub struct Delivered {
    /// Business time.
    pub at: Timestamp,
    /// What the webhook route answered.
    pub status: u16,
    /// What the payment consumer did with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<Outcome>,
}

/// A webhook the sandbox sends once business time reaches `due`.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub due: Timestamp,
    pub webhook_id: String,
    pub body: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Delivered>,
    /// Why the last delivery did not go through (tried again on the next
    /// pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One idempotency key's request, as `GET /_local/providers/requests`
/// lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// 1, 2, … in order of arrival.
    pub id: usize,
    pub provider: Provider,
    pub kind: Kind,
    pub idempotency_key: String,
    /// Business time of the first request with the key.
    pub received_at: Timestamp,
    /// The first request's body.
    pub request: Value,
    /// The answer every request with the key gets, once one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// Every request with the key (outage answers and conflicts too).
    pub attempts: Vec<Attempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behaviour: Option<Behaviour>,
    /// The webhooks scheduled, in order.
    pub confirmations: Vec<Confirmation>,
}

impl Record {
    /// Keep one more attempt, dropping the oldest beyond
    /// [`MAX_ATTEMPTS_KEPT`].
    fn note(&mut self, attempt: Attempt) {
        if self.attempts.len() >= MAX_ATTEMPTS_KEPT {
            self.attempts.remove(0);
        }
        self.attempts.push(attempt);
    }

    fn reference(&self) -> Option<&str> {
        self.answer.as_ref()?.body.get("reference")?.as_str()
    }

    /// The order, payment, refund or application the record is about.
    fn mentions(&self, id: &str) -> bool {
        [
            "order_id",
            "payment_id",
            "refund_id",
            "application_id",
            "buyer_id",
        ]
        .iter()
        .any(|f| self.request.get(*f).and_then(Value::as_str) == Some(id))
    }
}

/// A provider answering errors for its next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outage {
    pub provider: Provider,
    pub status: u16,
    /// How many requests are still answered `status`.
    pub requests: u32,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<Record>,
    by_key: HashMap<(Provider, String), usize>,
    /// Keys whose first request is being answered.
    in_flight: HashSet<(Provider, String)>,
    outages: HashMap<Provider, Outage>,
}

/// The sandbox's memory; part of the [`Stack`].
#[derive(Debug, Default)]
pub struct Sandbox {
    keys: Mutex<Keys>,
    confirming: AtomicBool,
    state: Mutex<State>,
    /// One confirmation pass at a time.
    passes: tokio::sync::Mutex<()>,
}

impl Sandbox {
    /// A sandbox accepting `keys`; it confirms nothing until
    /// [`Sandbox::set_confirming`].
    pub fn new(keys: Keys) -> Self {
        Sandbox {
            keys: Mutex::new(keys),
            ..Sandbox::default()
        }
    }

    /// The API keys the sandbox takes from now on.
    pub fn set_keys(&self, keys: Keys) {
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    fn accepts(&self, provider: Provider, authorization: Option<&str>) -> bool {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        authorization
            .map(str::trim)
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|key| key.trim() == keys.of(provider))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether requests are confirmed as time passes (`auto`).
    pub fn confirming(&self) -> bool {
        self.confirming.load(Ordering::Acquire)
    }

    pub fn set_confirming(&self, on: bool) {
        self.confirming.store(on, Ordering::Release);
    }

    pub fn mode(&self) -> Mode {
        if self.confirming() {
            Mode::Auto
        } else {
            Mode::Manual
        }
    }

    /// Every request so far, oldest first.
    pub fn records(&self) -> Vec<Record> {
        self.state().records.clone()
    }

    /// The outages still running.
    pub fn outages(&self) -> Vec<Outage> {
        let state = self.state();
        Provider::ALL
            .iter()
            .filter_map(|p| state.outages.get(p).copied())
            .filter(|o| o.requests > 0)
            .collect()
    }

    /// Make `provider` answer `status` to its next `requests` requests
    /// (0: end its outage).
    pub fn set_outage(&self, outage: Outage) {
        let mut state = self.state();
        if outage.requests == 0 {
            state.outages.remove(&outage.provider);
        } else {
            state.outages.insert(outage.provider, outage);
        }
    }

    /// The outage's status for this request, if one is running (counted).
    fn outage_hit(&self, provider: Provider) -> Option<u16> {
        let mut state = self.state();
        let outage = state.outages.get_mut(&provider)?;
        outage.requests = outage.requests.checked_sub(1)?;
        let status = outage.status;
        if outage.requests == 0 {
            state.outages.remove(&provider);
        }
        Some(status)
    }
}

// ---- the API ----------------------------------------------------------------------

fn problem(status: u16, title: &str, detail: &str) -> ApiResponse {
    let body = json!({
        "type": format!("https://sandbox.trade-assurance.dev/problems/{status}"),
        "title": title,
        "status": status,
        "detail": detail,
    });
    ApiResponse {
        status,
        content_type: "application/problem+json".into(),
        body: body.to_string(),
        headers: Vec::new(),
    }
}

/// Answer a request under `/_sandbox/`.
pub async fn respond<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: &Incoming,
) -> ApiResponse {
    let Some(rest) = req.path.strip_prefix(PREFIX) else {
        return not_found();
    };
    let (provider, resource) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(provider) = Provider::parse(provider) else {
        let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        return problem(
            404,
            "Not Found",
            &format!("no such provider; one of {}", known.join(", ")),
        );
    };
    if let Some(kind) = Kind::from_path(resource) {
        return match req.method.as_str() {
            "POST" => ask(stack, req, provider, kind).await,
            _ => local::method_not_allowed("POST"),
        };
    }
    match resource.split_once('/') {
        Some((page @ ("checkout" | "authorize" | "agreement"), reference))
            if matches!(req.method.as_str(), "GET" | "HEAD") =>
        {
            page_of(stack, provider, page, reference)
        }
        _ => problem(
            404,
            "Not Found",
            "the sandbox serves POST v1/payments, v1/refunds and v1/credit-line-applications",
        ),
    }
}

/// The page a `next_action` links to: what the buyer would do there.
fn page_of<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    provider: Provider,
    page: &str,
    reference: &str,
) -> ApiResponse {
    let found = stack
        .sandbox
        .records()
        .into_iter()
        .find(|r| r.provider == provider && r.reference() == Some(reference));
    match found {
        Some(record) => {
            let body = json!({
                "page": page,
                "provider": provider,
                "reference": reference,
                "note": "the sandbox needs nothing done here: it confirms as business time passes",
                "request": record,
            });
            ApiResponse::json(200, body.to_string())
        }
        None => problem(404, "Not Found", "no request has this reference"),
    }
}

/// A payment as the adapter sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentAsk {
    order_id: OrderId,
    payment_id: PaymentId,
    #[allow(dead_code)]
    buyer_id: UserId,
    #[allow(dead_code)]
    stage: Stage,
    method: MethodKind,
    amount: Usd,
    currency: String,
}

/// A refund as the adapter sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundAsk {
    order_id: OrderId,
    payment_id: PaymentId,
    refund_id: RefundId,
    attempt: u32,
    amount: Usd,
    currency: String,
    #[serde(default)]
    #[allow(dead_code)]
    payment_reference: Option<String>,
}

/// A credit-line application as the adapter sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditLineAsk {
    buyer_id: UserId,
    application_id: ApplicationId,
    #[serde(default)]
    requested_limit: Option<Usd>,
}

enum Ask {
    Payment(PaymentAsk),
    Refund(RefundAsk),
    CreditLine(CreditLineAsk),
}

fn parse(kind: Kind, body: &[u8]) -> Result<Ask, String> {
    let parsed = match kind {
        Kind::Payment => serde_json::from_slice(body).map(Ask::Payment),
        Kind::Refund => serde_json::from_slice(body).map(Ask::Refund),
        Kind::CreditLineApplication => serde_json::from_slice(body).map(Ask::CreditLine),
    };
    parsed.map_err(|e| e.to_string())
}

/// Whether `provider` serves what is asked; the refusal if not.
fn check(provider: Provider, ask: &Ask) -> Result<(), String> {
    let currency = match ask {
        Ask::Payment(p) => {
            if p.method.provider() != provider {
                return Err(format!(
                    "{provider} does not take {} payments",
                    serde_json::to_value(p.method)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ));
            }
            Some(&p.currency)
        }
        Ask::Refund(r) => Some(&r.currency),
        Ask::CreditLine(_) if provider != Provider::Paylater => {
            return Err(format!("{provider} takes no credit-line applications"));
        }
        Ask::CreditLine(_) => None,
    };
    match currency {
        Some(c) if c != "USD" => Err(format!("only USD is taken, not {c:?}")),
        _ => Ok(()),
    }
}

fn reference_prefix(provider: Provider, kind: Kind) -> &'static str {
    match (kind, provider) {
        (Kind::Refund, _) => "re",
        (Kind::CreditLineApplication, _) => "cla",
        (Kind::Payment, Provider::Card) => "ch",
        (Kind::Payment, Provider::Echeck) => "ach",
        (Kind::Payment, Provider::Bank) => "tt",
        (Kind::Payment, Provider::Paylater) => "loan",
    }
}

fn fresh_reference(provider: Provider, kind: Kind) -> String {
    let hex: String = fresh_uuid()
        .chars()
        .filter(|c| *c != '-')
        .take(20)
        .collect();
    format!("{}_sbx_{hex}", reference_prefix(provider, kind))
}

fn fresh_webhook_id() -> String {
    format!("msg_sbx_{}", fresh_uuid().replace('-', ""))
}

/// The start of `date`, 00:00 UTC.
fn start_of(date: chrono::NaiveDate) -> Timestamp {
    date.and_time(NaiveTime::MIN).and_utc()
}

/// The start of the working day after `at`'s date.
fn next_working_day(at: Timestamp) -> Timestamp {
    start_of(add_working_days(at.date_naive(), 1))
}

/// The start of the earliest day of `method`'s arrival window from `at`
/// (never before `at`).
fn arrival(method: MethodKind, at: Timestamp) -> Timestamp {
    start_of(method.arrival_window(at).earliest).max(at)
}

fn confirmation(event_type: &'static str, due: Timestamp, data: Value) -> Confirmation {
    Confirmation {
        event_type,
        due,
        webhook_id: fresh_webhook_id(),
        body: json!({"type": event_type, "data": data}),
        delivered: None,
        last_error: None,
    }
}

/// What to answer and what to send later.
struct Plan {
    next_action: Option<NextAction>,
    behaviour: Behaviour,
    confirmations: Vec<Confirmation>,
}

/// The amount of a payment the sandbox was asked for, if it was.
fn payment_asked(state: &State, payment_id: &PaymentId) -> Option<Usd> {
    state
        .records
        .iter()
        .filter(|r| r.kind == Kind::Payment)
        .find(|r| r.request.get("payment_id").and_then(Value::as_str) == Some(payment_id.as_str()))
        .and_then(|r| r.request.get("amount")?.as_str().map(str::to_owned))
        .and_then(|a| Usd::parse(&a).ok())
}

fn plan(
    ask: &Ask,
    reference: &str,
    pages: &str,
    wire: Option<NextAction>,
    payment_amount: Option<Usd>,
    now: Timestamp,
) -> Plan {
    match ask {
        Ask::Payment(p) => {
            let next_action = match p.method {
                MethodKind::CreditCard => Some(NextAction::Checkout {
                    url: format!("{pages}/checkout/{reference}"),
                }),
                MethodKind::ECheck => Some(NextAction::Authorize {
                    url: format!("{pages}/authorize/{reference}"),
                }),
                MethodKind::TelegraphicTransfer => wire,
                MethodKind::PayLater => Some(NextAction::LoanAgreement {
                    url: format!("{pages}/agreement/{reference}"),
                }),
            };
            let ids = json!({"payment_id": p.payment_id, "order_id": p.order_id});
            let (behaviour, confirmations) = match cents(p.amount) {
                2 => {
                    let mut data = ids;
                    data["provider_reference"] = json!(reference);
                    let failed = confirmation("payment.failed", now, data);
                    (Behaviour::Declined, vec![failed])
                }
                3 => (Behaviour::NeverConfirmed, Vec::new()),
                _ => {
                    // The amount asked is the amount confirmed.
                    let mut data = ids.clone();
                    data["amount"] = json!(p.amount);
                    data["currency"] = json!("USD");
                    data["provider_reference"] = json!(reference);
                    let confirmations = if p.method == MethodKind::PayLater {
                        let agreed = next_working_day(now);
                        vec![
                            confirmation("loan.agreement_completed", agreed, ids),
                            confirmation("payment.succeeded", arrival(p.method, agreed), data),
                        ]
                    } else {
                        vec![confirmation(
                            "payment.succeeded",
                            arrival(p.method, now),
                            data,
                        )]
                    };
                    (Behaviour::Confirmed, confirmations)
                }
            };
            Plan {
                next_action,
                behaviour,
                confirmations,
            }
        }
        Ask::Refund(r) => {
            let of_payment = payment_amount.unwrap_or(r.amount);
            let data = json!({"refund_id": r.refund_id, "order_id": r.order_id});
            let (behaviour, confirmation) = if r.attempt <= 1 && cents(of_payment) == 4 {
                (
                    Behaviour::FailsOnce,
                    confirmation("refund.failed", next_working_day(now), data),
                )
            } else {
                let mut data = data;
                data["amount"] = json!(r.amount);
                (
                    Behaviour::Confirmed,
                    confirmation("refund.succeeded", next_working_day(now), data),
                )
            };
            Plan {
                next_action: None,
                behaviour,
                confirmations: vec![confirmation],
            }
        }
        Ask::CreditLine(c) => {
            let ids = json!({"buyer_id": c.buyer_id, "application_id": c.application_id});
            let (behaviour, confirmation) = match c.requested_limit {
                Some(asked) if cents(asked) == 2 => (
                    Behaviour::Declined,
                    confirmation("credit_line.declined", next_working_day(now), ids),
                ),
                asked => {
                    let limit = asked
                        .filter(|a| !a.is_zero())
                        .map_or(PAY_LATER_MAX_CREDIT, |a| a.min(PAY_LATER_MAX_CREDIT));
                    let mut data = ids;
                    data["limit"] = json!(limit);
                    (
                        Behaviour::Confirmed,
                        confirmation("credit_line.approved", next_working_day(now), data),
                    )
                }
            };
            Plan {
                next_action: None,
                behaviour,
                confirmations: vec![confirmation],
            }
        }
    }
}

/// The wire instructions of a payment, as the order holds them.
async fn wire_instructions<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    order_id: &OrderId,
    payment_id: &PaymentId,
) -> Option<NextAction> {
    let request = LoadRequest {
        order: order_id,
        idempotency: None,
        limit_of: None,
        credit_of: None,
    };
    match stack.api.backend.load(request, stack.now()).await {
        Ok(loaded) => loaded
            .order?
            .payment(payment_id)?
            .instructions
            .clone()
            .map(|instructions| NextAction::Wire { instructions }),
        Err(e) => {
            tracing::warn!(error = %e, "the sandbox could not read the wire instructions; answering the reference only");
            None
        }
    }
}

/// The answer of a request the sandbox takes.
fn answer_of(status: u16, answer: &Answer, replayed: bool) -> ApiResponse {
    let response = ApiResponse::json(status, answer.body.to_string());
    if replayed {
        response.with_header("idempotent-replayed", "true")
    } else {
        response
    }
}

/// Remember an attempt with `key` (creating its record if it is the
/// first).
fn note_attempt(
    state: &mut State,
    provider: Provider,
    kind: Kind,
    key: &str,
    body: &[u8],
    attempt: Attempt,
) -> usize {
    let at = attempt.at;
    let index = match state.by_key.get(&(provider, key.to_owned())) {
        Some(&i) => i,
        None => {
            let request = serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
            state.records.push(Record {
                id: state.records.len() + 1,
                provider,
                kind,
                idempotency_key: key.to_owned(),
                received_at: at,
                request,
                answer: None,
                attempts: Vec::new(),
                behaviour: None,
                confirmations: Vec::new(),
            });
            let i = state.records.len() - 1;
            state.by_key.insert((provider, key.to_owned()), i);
            i
        }
    };
    state.records[index].note(attempt);
    index
}

/// Whether `key` is an idempotency key as the contract has them:
/// letters, digits and `-` `_` `.` `@` `:`, 1 to 111 characters.
fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b':'))
}

/// The longest idempotency key taken.
pub const MAX_KEY_LEN: usize = 111;

/// Takes a key out of the in-flight set when the request is done.
struct InFlight<'a> {
    sandbox: &'a Sandbox,
    key: (Provider, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.sandbox.state().in_flight.remove(&self.key);
    }
}

async fn ask<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: &Incoming,
    provider: Provider,
    kind: Kind,
) -> ApiResponse {
    let sandbox = &stack.sandbox;
    if !sandbox.accepts(provider, req.header("authorization")) {
        return problem(
            401,
            "Unauthorized",
            &format!(
                "a missing or wrong API key (Authorization: Bearer, {})",
                aws_adapters::providers::key_variable(provider)
            ),
        );
    }
    let Some(key) = req
        .header("idempotency-key")
        .map(str::trim)
        .filter(|k| valid_key(k))
    else {
        return problem(
            400,
            "Bad Request",
            "an Idempotency-Key header is required: letters, digits and - _ . @ :, at most 111",
        );
    };
    let now = stack.now();
    let attempt = |status: u16, replayed: bool| Attempt {
        at: now,
        status,
        replayed,
    };
    if let Some(status) = sandbox.outage_hit(provider) {
        let mut state = sandbox.state();
        note_attempt(
            &mut state,
            provider,
            kind,
            key,
            &req.body,
            attempt(status, false),
        );
        let title = if status == 429 {
            "Too Many Requests"
        } else {
            "Service Unavailable"
        };
        return problem(status, title, "the sandbox's outage switch is on")
            .with_header("retry-after", "1");
    }
    let sent: Option<Value> = serde_json::from_slice(&req.body).ok();
    let _in_flight = {
        let mut state = sandbox.state();
        if let Some(&i) = state.by_key.get(&(provider, key.to_owned()))
            && let Some(answer) = state.records[i].answer.clone()
        {
            // A key answered before: the same answer, for the same body.
            let record = &mut state.records[i];
            if sent.as_ref() != Some(&record.request) {
                record.note(attempt(409, false));
                return problem(
                    409,
                    "Conflict",
                    "this Idempotency-Key was used with another body",
                );
            }
            record.note(attempt(answer.status, true));
            return answer_of(answer.status, &answer, true);
        }
        if !state.in_flight.insert((provider, key.to_owned())) {
            return problem(
                429,
                "Too Many Requests",
                "a request with this Idempotency-Key is still being processed",
            )
            .with_header("retry-after", "1");
        }
        InFlight {
            sandbox,
            key: (provider, key.to_owned()),
        }
    };
    let ask = match parse(kind, &req.body) {
        Ok(ask) => ask,
        Err(e) => return problem(400, "Bad Request", &e),
    };
    if let Err(refusal) = check(provider, &ask) {
        return problem(422, "Unprocessable Content", &refusal);
    }
    let wire = match &ask {
        Ask::Payment(p) if p.method == MethodKind::TelegraphicTransfer => {
            wire_instructions(stack, &p.order_id, &p.payment_id).await
        }
        _ => None,
    };
    let host = req.header("host").unwrap_or("127.0.0.1");
    let pages = format!("http://{host}{PREFIX}{provider}");
    let reference = fresh_reference(provider, kind);

    let mut state = sandbox.state();
    let payment_amount = match &ask {
        Ask::Refund(r) => payment_asked(&state, &r.payment_id),
        _ => None,
    };
    let plan = plan(&ask, &reference, &pages, wire, payment_amount, now);
    let mut body = json!({ "reference": reference });
    if let Some(next) = &plan.next_action {
        body["next_action"] = json!(next);
    }
    let answer = Answer { status: 201, body };
    let index = note_attempt(
        &mut state,
        provider,
        kind,
        key,
        &req.body,
        attempt(201, false),
    );
    let record = &mut state.records[index];
    record.request = sent.unwrap_or(Value::Null);
    record.answer = Some(answer.clone());
    if sandbox.confirming() {
        record.behaviour = Some(plan.behaviour);
        record.confirmations = plan.confirmations;
    } else {
        record.behaviour = Some(Behaviour::Manual);
    }
    tracing::info!(%provider, ?kind, key, reference, behaviour = ?record.behaviour, "sandbox took a request");
    answer_of(201, &answer, false)
}

// ---- confirmations as business time passes ----------------------------------------------

/// A delivery a pass made, as the local endpoints list it.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub provider: Provider,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub idempotency_key: String,
    pub webhook_id: String,
    /// What the webhook route answered.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<Outcome>,
    /// The order, payment, refund part or application it names.
    pub data: Value,
}

/// A confirmation due now.
struct Due {
    record: usize,
    confirmation: usize,
    provider: Provider,
    key: String,
    event_type: &'static str,
    webhook_id: String,
    body: Value,
    due: Timestamp,
}

impl Sandbox {
    /// Each request's next undelivered confirmation, if due at `now` and
    /// not tried in this pass; soonest first.
    fn due(&self, now: Timestamp, tried: &HashSet<String>) -> Vec<Due> {
        let state = self.state();
        let mut due: Vec<Due> = state
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let (j, c) = r
                    .confirmations
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.delivered.is_none())?;
                (c.due <= now && !tried.contains(&c.webhook_id)).then(|| Due {
                    record: i,
                    confirmation: j,
                    provider: r.provider,
                    key: r.idempotency_key.clone(),
                    event_type: c.event_type,
                    webhook_id: c.webhook_id.clone(),
                    body: c.body.clone(),
                    due: c.due,
                })
            })
            .collect();
        due.sort_by_key(|d| (d.due, d.record));
        due
    }

    fn record_delivery(&self, due: &Due, outcome: Result<Delivered, String>) {
        let mut state = self.state();
        let Some(c) = state
            .records
            .get_mut(due.record)
            .and_then(|r| r.confirmations.get_mut(due.confirmation))
        else {
            return;
        };
        match outcome {
            Ok(delivered) => {
                c.delivered = Some(delivered);
                c.last_error = None;
            }
            Err(e) => c.last_error = Some(e),
        }
    }
}

/// Business time has moved (or the schedules run): wait for the step to
/// be idle, then deliver every confirmation due, in due order, each once
/// the consumer has handled it; again until nothing more is due (a
/// confirmation may cause a request whose confirmation is due too). Does
/// nothing in `manual` mode. What was delivered.
pub async fn time_passes<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
) -> Vec<Sent> {
    let sandbox = &stack.sandbox;
    if !sandbox.confirming() {
        return Vec::new();
    }
    let _pass = sandbox.passes.lock().await;
    let mut tried = HashSet::new();
    let mut sent = Vec::new();
    loop {
        if !stack.actions.wait_idle(IDLE_TIMEOUT).await {
            tracing::warn!("the provider-action step is still busy; delivering what is due anyway");
        }
        let due = sandbox.due(stack.now(), &tried);
        if due.is_empty() {
            return sent;
        }
        for d in due {
            tried.insert(d.webhook_id.clone());
            let body = d.body.to_string();
            let request_id = format!("sandbox-{}", d.webhook_id);
            let outcome = match local::deliver(
                stack,
                d.provider,
                body.as_bytes(),
                &d.webhook_id,
                "application/json",
                &request_id,
            )
            .await
            {
                // Refused for good (4xx) or acknowledged: delivered; a 5xx
                // is tried again on the next pass, as a provider retries.
                Ok(Delivery { answer, consumer }) if answer.status < 500 => {
                    if answer.status != 202 {
                        tracing::warn!(
                            status = answer.status,
                            body = answer.body,
                            "the webhook route refused a sandbox delivery"
                        );
                    }
                    Ok(Delivered {
                        at: stack.now(),
                        status: answer.status,
                        consumer,
                    })
                }
                Ok(Delivery { answer, .. }) => Err(format!(
                    "the webhook route answered {}: {}",
                    answer.status, answer.body
                )),
                Err(problem) => Err(format!("{}: {}", problem.status, problem.body)),
            };
            if let Ok(delivered) = &outcome {
                sent.push(Sent {
                    provider: d.provider,
                    event_type: d.event_type,
                    idempotency_key: d.key.clone(),
                    webhook_id: d.webhook_id.clone(),
                    status: delivered.status,
                    consumer: delivered.consumer,
                    data: d.body.get("data").cloned().unwrap_or(Value::Null),
                });
            } else if let Err(e) = &outcome {
                tracing::warn!(provider = %d.provider, webhook_id = d.webhook_id, error = e, "a sandbox delivery did not go through; tried again on the next pass");
            }
            sandbox.record_delivery(&d, outcome);
        }
    }
}

// ---- the local endpoints ------------------------------------------------------------

/// `GET /_local/providers/requests[?provider=…][&id=…]`: once the step is
/// idle, every request the sandbox took, what it answered and what it
/// confirms when. `id` filters on any id the request names (order,
/// payment, refund part, application, buyer).
pub async fn requests<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: &Incoming,
) -> ApiResponse {
    let settled = stack.actions.wait_idle(IDLE_TIMEOUT).await;
    let query = req.query();
    let value = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let provider = value("provider");
    let id = value("id");
    let items: Vec<Record> = stack
        .sandbox
        .records()
        .into_iter()
        .filter(|r| provider.is_none_or(|p| r.provider.as_str() == p))
        .filter(|r| id.is_none_or(|id| r.mentions(id)))
        .collect();
    let body = json!({
        "mode": stack.sandbox.mode(),
        "pending_actions": stack.actions.pending(),
        "settled": settled,
        "now": stack.now(),
        "outages": stack.sandbox.outages(),
        "items": items,
    });
    ApiResponse::json(200, body.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageBody {
    provider: String,
    status: u16,
    requests: u32,
}

/// `POST /_local/providers/outage {"provider", "status", "requests"}`: the
/// provider answers `status` (429, or 500–599) to its next `requests`
/// requests (0 ends it); `GET` lists the outages running.
pub fn outage<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: &Incoming,
) -> ApiResponse {
    use http_api::problem::{ApiError, FieldError};
    if req.method == "POST" {
        let input: OutageBody = match http_api::dto::decode(&req.body) {
            Ok(input) => input,
            Err(e) => return e.to_response(),
        };
        let Some(provider) = Provider::parse(&input.provider) else {
            return ApiError::bad_request(vec![FieldError::new(
                "provider",
                "one of echeck, card, bank, paylater",
            )])
            .to_response();
        };
        if !(input.status == 429 || (500..=599).contains(&input.status)) {
            return ApiError::bad_request(vec![FieldError::new("status", "429, or 500 to 599")])
                .to_response();
        }
        if input.requests > MAX_OUTAGE_REQUESTS {
            return ApiError::bad_request(vec![FieldError::new(
                "requests",
                format!("0 (end the outage) to {MAX_OUTAGE_REQUESTS}"),
            )])
            .to_response();
        }
        stack.sandbox.set_outage(Outage {
            provider,
            status: input.status,
            requests: input.requests,
        });
        tracing::info!(%provider, status = input.status, requests = input.requests, "sandbox outage switched");
    }
    ApiResponse::json(
        200,
        json!({ "outages": stack.sandbox.outages() }).to_string(),
    )
}

/// `GET /_local/providers/dlq`: what the provider-action step gave up on.
pub fn dead_letters<B: Backend, U: EventBus, Q: StackQueue>(stack: &Stack<B, U, Q>) -> ApiResponse {
    ApiResponse::json(
        200,
        json!({ "items": stack.actions.dead_letters() }).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(y: i32, m: u32, d: u32, h: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("instant")
    }

    fn payment(method: MethodKind, amount: &str) -> Ask {
        Ask::Payment(PaymentAsk {
            order_id: OrderId::parse("ord_1").expect("id"),
            payment_id: PaymentId::parse("pay_1").expect("id"),
            buyer_id: UserId::parse("buyer-1").expect("id"),
            stage: Stage::Initial,
            method,
            amount: Usd::parse(amount).expect("amount"),
            currency: "USD".into(),
        })
    }

    fn types(plan: &Plan) -> Vec<(&'static str, Timestamp)> {
        plan.confirmations
            .iter()
            .map(|c| (c.event_type, c.due))
            .collect()
    }

    #[test]
    fn the_mode_is_auto_unless_manual() {
        let with = |v: &'static str| Mode::from_lookup(move |_| Some(v.to_owned()));
        assert_eq!(Mode::from_lookup(|_| None), Ok(Mode::Auto));
        assert_eq!(with(""), Ok(Mode::Auto));
        assert_eq!(with(" Manual "), Ok(Mode::Manual));
        assert!(with("sometimes").is_err_and(|e| e.contains(MODE_VARIABLE)));
    }

    #[test]
    fn payments_are_confirmed_on_the_earliest_day_of_their_window() {
        // Tuesday 2026-12-08, 10:00.
        let now = at(2026, 12, 8, 10);
        let card = plan(
            &payment(MethodKind::CreditCard, "1700.00"),
            "ch_1",
            "http://h/_sandbox/card",
            None,
            None,
            now,
        );
        assert_eq!(types(&card), [("payment.succeeded", at(2026, 12, 10, 0))]);
        assert_eq!(card.behaviour, Behaviour::Confirmed);
        assert!(
            matches!(&card.next_action, Some(NextAction::Checkout { url }) if url == "http://h/_sandbox/card/checkout/ch_1")
        );
        assert_eq!(card.confirmations[0].body["data"]["amount"], "1700.00");

        // e-Checking: 4 working days.
        let echeck = plan(
            &payment(MethodKind::ECheck, "1500.00"),
            "ach_1",
            "p",
            None,
            None,
            now,
        );
        assert_eq!(types(&echeck), [("payment.succeeded", at(2026, 12, 14, 0))]);
        assert_eq!(echeck.confirmations[0].body["data"]["amount"], "1500.00");
        assert!(matches!(
            echeck.next_action,
            Some(NextAction::Authorize { .. })
        ));

        // A wire without instructions: the reference only.
        let wire = plan(
            &payment(MethodKind::TelegraphicTransfer, "10.00"),
            "tt_1",
            "p",
            None,
            None,
            now,
        );
        assert_eq!(wire.next_action, None);
        assert_eq!(types(&wire), [("payment.succeeded", at(2026, 12, 11, 0))]);

        // Pay Later: the agreement a working day on, the money a working
        // day after that (Friday → Monday).
        let friday = at(2026, 12, 10, 10);
        let later = plan(
            &payment(MethodKind::PayLater, "400.00"),
            "loan_1",
            "p",
            None,
            None,
            friday,
        );
        assert_eq!(
            types(&later),
            [
                ("loan.agreement_completed", at(2026, 12, 11, 0)),
                ("payment.succeeded", at(2026, 12, 14, 0)),
            ]
        );
        assert!(matches!(
            later.next_action,
            Some(NextAction::LoanAgreement { .. })
        ));
    }

    #[test]
    fn magic_amounts_decline_never_answer_and_fail_a_refund_once() {
        let now = at(2026, 12, 8, 10);
        let declined = plan(
            &payment(MethodKind::CreditCard, "1700.02"),
            "ch_1",
            "p",
            None,
            None,
            now,
        );
        assert_eq!(declined.behaviour, Behaviour::Declined);
        assert_eq!(types(&declined), [("payment.failed", now)]);
        let silent = plan(
            &payment(MethodKind::PayLater, "1700.03"),
            "loan_1",
            "p",
            None,
            None,
            now,
        );
        assert_eq!(silent.behaviour, Behaviour::NeverConfirmed);
        assert!(silent.confirmations.is_empty());

        let refund = |attempt: u32, of_payment: &str| {
            let ask = Ask::Refund(RefundAsk {
                order_id: OrderId::parse("ord_1").expect("id"),
                payment_id: PaymentId::parse("pay_1").expect("id"),
                refund_id: RefundId::parse("ref_1").expect("id"),
                attempt,
                amount: Usd::parse("100.00").expect("amount"),
                currency: "USD".into(),
                payment_reference: None,
            });
            plan(&ask, "re_1", "p", None, Usd::parse(of_payment).ok(), now)
        };
        let next_day = at(2026, 12, 9, 0);
        assert_eq!(types(&refund(1, "1700.04")), [("refund.failed", next_day)]);
        assert_eq!(
            types(&refund(2, "1700.04")),
            [("refund.succeeded", next_day)]
        );
        assert_eq!(
            types(&refund(1, "1700.00")),
            [("refund.succeeded", next_day)]
        );
        assert_eq!(
            refund(1, "1700.00").confirmations[0].body["data"]["amount"],
            "100.00"
        );
    }

    #[test]
    fn credit_lines_are_approved_for_what_was_asked_up_to_the_maximum() {
        let now = at(2026, 12, 11, 10);
        let monday = at(2026, 12, 14, 0);
        let apply = |limit: Option<&str>| {
            let ask = Ask::CreditLine(CreditLineAsk {
                buyer_id: UserId::parse("buyer-1").expect("id"),
                application_id: ApplicationId::parse("app_1").expect("id"),
                requested_limit: limit.map(|l| Usd::parse(l).expect("amount")),
            });
            plan(&ask, "cla_1", "p", None, None, now)
        };
        let limit = |p: &Plan| p.confirmations[0].body["data"]["limit"].clone();
        assert_eq!(types(&apply(None)), [("credit_line.approved", monday)]);
        assert_eq!(limit(&apply(None)), "150000.00");
        assert_eq!(limit(&apply(Some("10000.00"))), "10000.00");
        assert_eq!(limit(&apply(Some("900000.00"))), "150000.00");
        let declined = apply(Some("10000.02"));
        assert_eq!(declined.behaviour, Behaviour::Declined);
        assert_eq!(types(&declined), [("credit_line.declined", monday)]);
    }

    #[test]
    fn an_outage_answers_its_status_for_so_many_requests() {
        let sandbox = Sandbox::default();
        sandbox.set_outage(Outage {
            provider: Provider::Card,
            status: 503,
            requests: 2,
        });
        assert_eq!(sandbox.outage_hit(Provider::Echeck), None);
        assert_eq!(sandbox.outage_hit(Provider::Card), Some(503));
        assert_eq!(sandbox.outages()[0].requests, 1);
        assert_eq!(sandbox.outage_hit(Provider::Card), Some(503));
        assert_eq!(sandbox.outage_hit(Provider::Card), None);
        assert!(sandbox.outages().is_empty());
    }

    #[test]
    fn keys_default_per_provider_and_come_from_the_environment() {
        let keys =
            keys_from_lookup(|name| (name == "PROVIDER_KEY_BANK").then(|| " k1 ".to_owned()));
        assert_eq!(keys.of(Provider::Card), "sk_sandbox_card");
        assert_eq!(keys.of(Provider::Bank), "k1");
        assert_eq!(format!("{keys:?}"), "Keys(<redacted>)");
    }
}
