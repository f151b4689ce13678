//! Where every trigger enters, one module each:
//!
//! | trigger | module | function(s) |
//! |---|---|---|
//! | API Gateway HTTP API | [`api_gateway`] | every routed function |
//! | the providers' webhook | [`webhook`] | `payment-webhook` |
//! | SQS, the payment queue | [`payment_queue`] | `process-payment-events` |
//! | DynamoDB stream of the table | [`table_stream`] | `publish-events` |
//! | EventBridge Scheduler | [`schedule`] | `escalate-stale-disputes` |
//! | SQS, the provider-actions queue (fed by a bus rule) | [`provider_queue`] | `request-provider-actions` |
//!
//! Each module turns its event into one call of the API (`http-api`) or of
//! the app (`app`), and with the `lambda` feature runs the function's
//! runtime loop ([`config`]: configuration and clients built once per cold
//! start). A function's `main` is one line: the module's `serve`, naming
//! what it serves. The local stack uses the same modules without `lambda`.

// The consumer future nests deeply (batch → message → consume → store).
#![recursion_limit = "256"]

#[cfg(feature = "api-gateway")]
pub mod api_gateway;
#[cfg(feature = "lambda")]
pub mod config;
#[cfg(feature = "payment-queue")]
pub mod payment_queue;
#[cfg(feature = "provider-queue")]
pub mod provider_queue;
#[cfg(feature = "schedule")]
pub mod schedule;
#[cfg(any(feature = "payment-queue", feature = "provider-queue"))]
pub mod sqs_batch;
#[cfg(feature = "table-stream")]
pub mod table_stream;
#[cfg(all(feature = "webhook", feature = "lambda"))]
pub mod webhook;
