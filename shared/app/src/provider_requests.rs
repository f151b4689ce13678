//! What the platform asks of payment providers (outbound): charge a
//! payment by its method, refund a part of one, send a Pay Later
//! credit-line application to the lender. One port,
//! [`PaymentProviders`], with one adapter per provider API (the HTTP
//! adapter in `aws-adapters`, the local stack's sandbox behind the same
//! API).
//!
//! Every request carries an idempotency key the provider de-duplicates on
//! ([`ProviderRequest::idempotency_key`]): a redelivered request never
//! charges or refunds twice. A throttled or failing provider
//! ([`ProviderError::Transient`]) is asked again later; a refusal
//! ([`ProviderError::Refused`], a 4xx) is final and flags the payment or
//! refund part for an operator.

use std::future::Future;

use domain::Usd;
use domain::actor::Provider;
use domain::ids::{ApplicationId, OrderId, PaymentId, RefundId, UserId};
use domain::payment::{MethodKind, NextAction, Stage};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One request to a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderRequest {
    /// Charge (or, for a wire, expect) a payment.
    Payment {
        provider: Provider,
        order_id: OrderId,
        payment_id: PaymentId,
        buyer_id: UserId,
        stage: Stage,
        method: MethodKind,
        /// What the provider is to collect and will confirm: the payment's
        /// amount (the stage, plus an inspection fee on an initial payment
        /// that carries one).
        amount: Usd,
    },
    /// Return part of a payment.
    Refund {
        provider: Provider,
        order_id: OrderId,
        payment_id: PaymentId,
        refund_id: RefundId,
        /// Which request of this part it is (a failed part is asked again).
        attempt: u32,
        amount: Usd,
        /// The provider's reference of the payment refunded, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payment_reference: Option<String>,
    },
    /// A Pay Later credit-line application (to `paylater`).
    CreditLine {
        buyer_id: UserId,
        application_id: ApplicationId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_limit: Option<Usd>,
    },
}

impl ProviderRequest {
    /// The provider asked.
    pub fn provider(&self) -> Provider {
        match self {
            ProviderRequest::Payment { provider, .. }
            | ProviderRequest::Refund { provider, .. } => *provider,
            ProviderRequest::CreditLine { .. } => Provider::Paylater,
        }
    }

    /// The key the provider de-duplicates on: the payment id, the refund
    /// part id and its attempt, `<refund id>:<attempt>` (each attempt is a new request; a
    /// redelivery of one is the same), the application id.
    pub fn idempotency_key(&self) -> String {
        match self {
            ProviderRequest::Payment { payment_id, .. } => payment_id.to_string(),
            ProviderRequest::Refund {
                refund_id, attempt, ..
            } => format!("{refund_id}:{attempt}"),
            ProviderRequest::CreditLine { application_id, .. } => application_id.to_string(),
        }
    }
}

/// What a provider answered to an accepted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAnswer {
    /// The provider's reference of what it will do.
    pub reference: String,
    /// For a payment: the buyer's next step, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<NextAction>,
}

/// Why a provider did not accept a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProviderError {
    /// Throttled, failing (5xx), unreachable or too slow: ask again later.
    #[error("the provider is unavailable: {0}")]
    Transient(String),
    /// The provider refused the request (4xx): final; an operator looks at
    /// it.
    #[error("the provider refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// No endpoint or key is configured for this provider.
    #[error("no API is configured for provider {0}")]
    NotConfigured(Provider),
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient(_))
    }
}

/// The providers' APIs.
pub trait PaymentProviders: Send + Sync {
    fn send(
        &self,
        request: &ProviderRequest,
    ) -> impl Future<Output = Result<ProviderAnswer, ProviderError>> + Send;
}
