//! The provider-action step: a `PaymentRequested` or `RefundRequested`
//! event from the bus becomes one request to the provider that serves the
//! payment (or took it), and the provider's answer is recorded on the
//! payment or refund part.
//!
//! Per event: one strongly consistent read of the order; if the request is
//! still pending, the provider is asked (with the payment id, or the refund
//! part id and attempt, as its idempotency key) and the answer is committed
//! on the revision read through the one write path — one conditional write.
//! A redelivered event finds the answer recorded and does nothing (one
//! read, no call); a redelivery after a crash between the call and the
//! commit asks again with the same key, and the provider answers the same.
//!
//! A provider that is throttling, failing or unreachable
//! ([`ProviderError::Transient`]) makes the event fail, to be redelivered
//! with backoff (and dead-lettered with an alarm in the end); a refusal
//! ([`ProviderError::Refused`], a 4xx) is final: the payment fails as
//! declined and is flagged, or the refund part is flagged, for an operator
//! (`GET /v1/flags`).

use domain::Order;
use domain::calendar::Timestamp;
use domain::error::OrderError;
use domain::event::{DomainEvent, EventBody};
use domain::ids::{PaymentId, RefundId};
use thiserror::Error;

use crate::error::{ConflictKind, StoreError};
use crate::ports::{LoadRequest, Loaded, OrderStore, SupplierLimits};
use crate::provider_requests::{PaymentProviders, ProviderAnswer, ProviderError, ProviderRequest};
use crate::write::{self, Decide, Outcome, Target, WriteError, Written};

/// What the step did with an event. Every variant acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    /// The provider took the request; its reference is recorded.
    Requested { reference: String },
    /// The provider refused it for good; the payment or part is flagged.
    Refused { status: u16 },
    /// The answer was recorded before (a redelivery), or the request is
    /// no longer wanted (a newer attempt, a part settled or flagged).
    AlreadyDone,
    /// Not an event that asks a provider for anything.
    NotARequest,
}

/// Why an event was not acted on.
#[derive(Debug, Error)]
pub enum ActError {
    /// The provider is unavailable (or not configured): redeliver later.
    #[error("provider: {0}")]
    Provider(#[source] ProviderError),
    /// The store failed or every attempt lost a race: redeliver.
    #[error("store: {0}")]
    Store(#[source] StoreError),
    /// The event names an order, payment or refund part that does not
    /// exist: acknowledged and logged (it cannot become valid).
    #[error("the event names something that does not exist: {0}")]
    Unknown(String),
}

impl ActError {
    /// Whether the message is redelivered (the queue's retries, then its
    /// DLQ with an alarm).
    pub fn redeliver(&self) -> bool {
        !matches!(self, ActError::Unknown(_))
    }
}

impl From<StoreError> for ActError {
    fn from(e: StoreError) -> Self {
        ActError::Store(e)
    }
}

/// What to ask, and how to record the answer.
enum Subject {
    Payment(PaymentId),
    Refund { refund: RefundId, attempt: u32 },
}

impl Subject {
    fn pending(&self, order: &Order) -> Result<bool, OrderError> {
        match self {
            Subject::Payment(p) => order.payment_request_pending(p),
            Subject::Refund { refund, attempt } => order.refund_request_pending(refund, *attempt),
        }
    }

    fn request(&self, order: &Order, event: &DomainEvent) -> Option<ProviderRequest> {
        // `None`: the event and the subject disagree (cannot happen: the
        // subject is read from the event).
        match (&event.body, self) {
            (
                EventBody::PaymentRequested {
                    payment_id,
                    stage,
                    method,
                    provider,
                    amount,
                    ..
                },
                Subject::Payment(_),
            ) => Some(ProviderRequest::Payment {
                provider: *provider,
                order_id: order.id().clone(),
                payment_id: payment_id.clone(),
                buyer_id: order.buyer_id().clone(),
                stage: *stage,
                method: *method,
                // What the provider confirms (the method's fee is the
                // platform's, shown on the payment).
                amount: *amount,
            }),
            (
                EventBody::RefundRequested {
                    refund_id,
                    payment_id,
                    provider,
                    amount,
                    attempt,
                },
                Subject::Refund { .. },
            ) => Some(ProviderRequest::Refund {
                provider: *provider,
                order_id: order.id().clone(),
                payment_id: payment_id.clone(),
                refund_id: refund_id.clone(),
                attempt: *attempt,
                amount: *amount,
                payment_reference: order
                    .payment(payment_id)
                    .and_then(|p| p.provider_reference.clone()),
            }),
            _ => None,
        }
    }
}

/// The answer, recorded on the order.
struct Record<'a> {
    subject: &'a Subject,
    answer: &'a Result<ProviderAnswer, u16>,
}

impl Decide for Record<'_> {
    type Error = OrderError;

    fn decide(
        &self,
        order: &mut Order,
        _loaded: &Loaded,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        match (self.subject, self.answer) {
            (Subject::Payment(p), Ok(a)) => {
                order.record_payment_request(p, &a.reference, a.next_action.clone(), now)
            }
            (Subject::Payment(p), Err(_)) => order.refuse_payment_request(p, now),
            (Subject::Refund { refund, attempt }, Ok(a)) => {
                order.record_refund_request(refund, *attempt, &a.reference, now)
            }
            (Subject::Refund { refund, attempt }, Err(_)) => {
                order.refuse_refund_request(refund, *attempt, now)
            }
        }
    }
}

/// Act on one event from the bus.
pub async fn act<S, P>(
    store: &S,
    providers: &P,
    event: &DomainEvent,
    now: Timestamp,
) -> Result<Acted, ActError>
where
    S: OrderStore + SupplierLimits,
    P: PaymentProviders,
{
    let subject = match &event.body {
        EventBody::PaymentRequested { payment_id, .. } => Subject::Payment(payment_id.clone()),
        EventBody::RefundRequested {
            refund_id, attempt, ..
        } => Subject::Refund {
            refund: refund_id.clone(),
            attempt: *attempt,
        },
        _ => return Ok(Acted::NotARequest),
    };
    let loaded = store
        .load(
            LoadRequest {
                order: &event.order_id,
                idempotency: None,
                limit_of: None,
                credit_of: None,
            },
            now,
        )
        .await?;
    let Some(order) = loaded.order.as_ref() else {
        return Err(ActError::Unknown(format!("order {}", event.order_id)));
    };
    match subject.pending(order) {
        Ok(true) => {}
        Ok(false) => return Ok(Acted::AlreadyDone),
        Err(e) => return Err(ActError::Unknown(e.to_string())),
    }
    let Some(request) = subject.request(order, event) else {
        return Err(ActError::Unknown(
            "the event does not ask for a request".into(),
        ));
    };
    let answer = match providers.send(&request).await {
        Ok(answer) => Ok(answer),
        Err(ProviderError::Refused { status, message }) => {
            tracing::warn!(
                provider = %request.provider(),
                key = request.idempotency_key(),
                status,
                message,
                "the provider refused the request; flagged for an operator"
            );
            Err(status)
        }
        Err(e) => return Err(ActError::Provider(e)),
    };
    let target = Target {
        correlation: event.correlation_id.as_deref(),
        ..Target::order(&event.order_id)
    };
    let record = Record {
        subject: &subject,
        answer: &answer,
    };
    match write::change_from(store, target, now, &record, Some(loaded)).await {
        Ok(Outcome { written, .. }) => Ok(match (written, &answer) {
            (Written::Committed { .. }, Ok(a)) => Acted::Requested {
                reference: a.reference.clone(),
            },
            (Written::Committed { .. }, Err(status)) => Acted::Refused { status: *status },
            _ => Acted::AlreadyDone,
        }),
        Err(WriteError::NotFound) => Err(ActError::Unknown(format!("order {}", event.order_id))),
        Err(WriteError::Refused(e)) => Err(ActError::Unknown(e.to_string())),
        Err(WriteError::Contended(kind)) => Err(StoreError::Conflict(kind).into()),
        Err(WriteError::Store(e)) => Err(e.into()),
        // No idempotency key on this path.
        Err(WriteError::Idempotency(_)) => {
            Err(StoreError::Conflict(ConflictKind::Idempotency).into())
        }
    }
}
