//! Counting SDK calls: an interceptor that records every operation a client
//! executes (once per operation, before its retry loop: a retried call
//! counts once), so tests
//! can hold a request to its DynamoDB call budget.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Shared between a client's config and the test that reads it.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<Vec<String>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The operations executed so far, in order (e.g. `GetItem`).
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or_default()
    }

    /// Forget what was counted.
    pub fn reset(&self) {
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
    }

    /// The operations executed while `f` ran.
    pub async fn during<F: std::future::Future>(&self, f: F) -> (F::Output, Vec<String>) {
        let before = self.count();
        let out = f.await;
        let calls = self.calls();
        (
            out,
            calls
                .get(before..)
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
        )
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        if let Ok(mut c) = self.calls.lock() {
            c.push(name);
        }
        Ok(())
    }
}
