//! An SDK interceptor that keeps every DynamoDB call's operation name,
//! request body and response body (JSON), attempt by attempt, so capacity
//! units can be computed from the items actually sent and received.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::Value;

/// One attempt of one call.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: String,
    pub request: Value,
    pub status: u16,
    pub response: Value,
}

#[derive(Debug, Clone, Default)]
pub struct Capture {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Capture {
    /// Everything captured since the last take, in the order sent.
    pub fn take(&self) -> Vec<Call> {
        self.calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

/// Which captured call an attempt is (calls may run concurrently).
#[derive(Debug, Clone, Copy)]
struct CallIndex(usize);

impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

fn json(bytes: Option<&[u8]>) -> Value {
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null)
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "CapacityCapture"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let request = json(context.request().body().bytes());
        if let Ok(mut c) = self.calls.lock() {
            cfg.interceptor_state().store_put(CallIndex(c.len()));
            c.push(Call {
                op,
                request,
                status: 0,
                response: Value::Null,
            });
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(CallIndex(i)) = cfg.load::<CallIndex>().copied() else {
            return Ok(());
        };
        let response = context.response();
        let status = response.status().as_u16();
        let body = json(response.body().bytes());
        if let Ok(mut c) = self.calls.lock()
            && let Some(call) = c.get_mut(i)
        {
            call.status = status;
            call.response = body;
        }
        Ok(())
    }
}
