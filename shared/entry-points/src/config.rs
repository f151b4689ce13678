//! What a function reads once per cold start: its environment, the SDK
//! configuration, and the clients built from it.

use aws_adapters::dynamodb::DynamoStore;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, SdkConfig};
pub use lambda_runtime::Error;

/// A variable of the function's environment (the template sets them); a
/// missing one fails the cold start, naming it.
pub fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

/// The DynamoDB backend on the table in `TABLE_NAME`.
pub fn store(config: &SdkConfig) -> Result<DynamoStore, Error> {
    let table = env("TABLE_NAME")?;
    Ok(DynamoStore::from_config(config, table))
}

/// The domain event bus in `EVENT_BUS_NAME`.
#[cfg(any(feature = "table-stream", feature = "schedule"))]
pub fn bus(config: &SdkConfig) -> Result<aws_adapters::eventbridge::EventBridgeBus, Error> {
    let bus = env("EVENT_BUS_NAME")?;
    Ok(aws_adapters::eventbridge::EventBridgeBus::from_config(
        config, bus,
    ))
}

/// What the outbox's drains need (the publisher, the sweep): the backend
/// and the bus, from one SDK configuration.
#[cfg(any(feature = "table-stream", feature = "schedule"))]
pub async fn store_and_bus()
-> Result<(DynamoStore, aws_adapters::eventbridge::EventBridgeBus), Error> {
    let config = load().await;
    Ok((store(&config)?, bus(&config)?))
}

/// The lifecycle's clocks: `CLOCK_<NAME>` in days for every clock of
/// [`domain::clocks::SETTINGS`] (e.g. `CLOCK_UNPAID_DAYS`), each
/// defaulting to the product's rule. A value out of its range, or clocks
/// that contradict each other, fail the cold start.
pub fn clocks() -> Result<domain::clocks::Clocks, Error> {
    Ok(domain::clocks::Clocks::from_lookup(|k| {
        std::env::var(k).ok()
    })?)
}

/// `aws_config::load_defaults(BehaviorVersion::latest())`, but with the
/// credentials in the environment (Lambda puts the execution role's there)
/// the environment provider alone: the default chain would answer the same
/// (the environment is its first link), yet building it builds a web-identity
/// STS client (trust store and endpoint partitions parsed) and metadata
/// clients no function calls: ~2 M instructions, ~0.3 ms of cold init.
pub async fn load() -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let loader = if credentials_in_env(|name| std::env::var(name).ok()) {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    };
    loader.load().await
}

/// Both keys set and not blank, as the environment provider requires.
fn credentials_in_env(get: impl Fn(&str) -> Option<String>) -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| get(name).is_some_and(|v| !v.trim().is_empty()))
}

#[cfg(test)]
#[test]
fn only_both_keys_skip_the_default_chain() {
    let with = |id: &'static str, secret: &'static str| {
        move |n: &str| Some(if n == "AWS_ACCESS_KEY_ID" { id } else { secret }.to_owned())
    };
    assert!(credentials_in_env(with("AKIA", "s")));
    assert!(!credentials_in_env(with("AKIA", " ")));
    assert!(!credentials_in_env(with("", "s")));
    assert!(!credentials_in_env(|_: &str| None));
}

/// The string of the Secrets Manager secret the environment variable
/// `variable` names (a name or an ARN), read now; `None` when the variable
/// is unset or empty (the local stack and the tests, which configure from
/// the environment instead). Callers read it once per sandbox, on first
/// use, so a cold start makes no call and a rotation reaches new sandboxes.
#[cfg(any(feature = "webhook", feature = "provider-queue"))]
pub async fn secret_named_by(
    config: &SdkConfig,
    variable: &str,
) -> Option<Result<String, aws_adapters::secrets::SecretFetchError>> {
    let id = std::env::var(variable).ok()?;
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    Some(
        aws_adapters::secrets::Secrets::from_config(config)
            .string(id)
            .await,
    )
}
