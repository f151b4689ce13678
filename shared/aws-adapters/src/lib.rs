//! AWS adapters for the application ports. Each SDK sits behind a feature
//! (`dynamodb`, `sqs`, `eventbridge`; `sqs-events` is the consumer's
//! batch handling without the SQS client, `schedule` the sweep's trigger) so a function links only what it uses.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "schedule")]
pub mod schedule;
#[cfg(feature = "lambda-config")]
pub mod sdk_config;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "sqs-events")]
pub mod sqs_events;
pub mod transient;
