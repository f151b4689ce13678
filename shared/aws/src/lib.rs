//! AWS adapters for the application ports. Each SDK sits behind a feature
//! (`dynamodb`, `sqs`, `eventbridge`) so a function links only what it uses.

#[cfg(feature = "test-support")]
pub mod test_support;
