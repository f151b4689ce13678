//! A scripted payment-provider API for tests: it answers like a provider
//! that honours idempotency keys (the same key gets the first accepted
//! answer again, without doing anything twice), and can be told to fail
//! the next calls (throttled, down, or refusing).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use app::provider_requests::{PaymentProviders, ProviderAnswer, ProviderError, ProviderRequest};
use domain::payment::NextAction;

#[derive(Debug, Default)]
struct State {
    /// Every call, in order.
    calls: Vec<ProviderRequest>,
    /// What the next calls answer (then: accepted).
    script: VecDeque<ProviderError>,
    /// Accepted requests by idempotency key: what a replay answers.
    accepted: HashMap<String, ProviderAnswer>,
}

/// A provider API that accepts every request unless scripted otherwise.
#[derive(Debug, Clone, Default)]
pub struct ScriptedProviders {
    state: Arc<Mutex<State>>,
}

impl ScriptedProviders {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next call answers `error` (calls after it, as scripted or
    /// accepted).
    pub fn then_fail(&self, error: ProviderError) -> &Self {
        self.lock().script.push_back(error);
        self
    }

    /// Every call made, in order.
    pub fn calls(&self) -> Vec<ProviderRequest> {
        self.lock().calls.clone()
    }

    /// The distinct requests the provider accepted (by idempotency key):
    /// what it actually did.
    pub fn accepted(&self) -> usize {
        self.lock().accepted.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The answer a provider gives an accepted request.
pub fn answer_for(request: &ProviderRequest) -> ProviderAnswer {
    let key = request.idempotency_key();
    let next_action = match request {
        ProviderRequest::Payment { .. } => Some(NextAction::Checkout {
            url: format!("https://checkout.example/{key}"),
        }),
        _ => None,
    };
    ProviderAnswer {
        reference: format!("ref_{key}"),
        next_action,
    }
}

impl PaymentProviders for ScriptedProviders {
    async fn send(&self, request: &ProviderRequest) -> Result<ProviderAnswer, ProviderError> {
        let mut state = self.lock();
        state.calls.push(request.clone());
        if let Some(error) = state.script.pop_front() {
            return Err(error);
        }
        let key = request.idempotency_key();
        let answer = state
            .accepted
            .entry(key)
            .or_insert_with(|| answer_for(request))
            .clone();
        Ok(answer)
    }
}
