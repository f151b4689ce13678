//! The local stack: the whole service on one machine, no AWS account.
//!
//! An HTTP server on `127.0.0.1:$PORT` routes exactly like the API Gateway
//! of `infra/template.yaml` (both follow `http_api::routes::ROUTES`) into
//! the same `http_api::Api::handle` every Lambda runs, over the embedded
//! in-memory backend, with an emulated JWT authorizer ([`jwt`]), the
//! webhook route feeding an in-process payment queue whose consumer runs
//! the Lambda's batch handling ([`queue`]), an in-process event bus fed from
//! the outbox ([`stack`]), a ticker and an endpoint firing the schedules
//! at business time into the handler the scheduled Lambda runs
//! ([`schedules`]), time travel, the provider simulator and the other
//! local-only endpoints ([`local`]), and the sandbox provider
//! ([`sandbox`]) that the provider-action step ([`actions`]) asks through
//! the one provider adapter. With `AWS_ENDPOINT_URL` set it
//! runs on the real DynamoDB, SQS and EventBridge adapters instead
//! ([`aws`], `sqs`).

pub mod actions;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod faults;
pub mod gateway;
pub mod jwt;
pub mod local;
pub mod queue;
pub mod sandbox;
pub mod schedules;
pub mod server;
#[cfg(feature = "aws")]
pub mod sqs;
pub mod stack;
