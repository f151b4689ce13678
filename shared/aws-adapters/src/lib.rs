//! AWS adapters for the application ports. Each SDK sits behind a feature
//! (`dynamodb`, `sqs`, `eventbridge`) so a function links only what it
//! uses. How a Lambda event reaches them is `entry-points`' business.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "providers")]
pub mod providers;
#[cfg(feature = "secretsmanager")]
pub mod secrets;
#[cfg(feature = "sqs")]
pub mod sqs;
pub mod transient;
