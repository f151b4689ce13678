//! AWS-endpoint mode: with `AWS_ENDPOINT_URL` set (a moto server, or real
//! AWS) the stack runs on the adapters the functions use — `DynamoStore` on
//! `TABLE_NAME`, `EventBridgeBus` on `EVENT_BUS_NAME` and the SQS payment
//! queue `PAYMENT_QUEUE_NAME` with its dead-letter queue ([`crate::sqs`]) —
//! and creates the table (from `app::table::SCHEMA`, as the template), the
//! bus and the queues if they are missing. Published events are still
//! recorded in process ([`crate::stack::LocalBus`]) for `GET /_local/events`.
//!
//! Configuration honours the environment (`aws_config::defaults`), except
//! that nothing reaches for instance metadata: the region comes from
//! `AWS_REGION`/`AWS_DEFAULT_REGION` or the profile, else `us-east-1`; the
//! credentials from the environment or the profile — or, for an endpoint on
//! the loopback interface with no `AWS_ACCESS_KEY_ID` set, static dummy
//! credentials (`testing`/`testing`) that moto accepts.

use crate::faults::FaultInjector;
use aws_adapters::dynamodb::DynamoStore;
use aws_adapters::eventbridge::{EventBridgeBus, create_bus_if_missing};
use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use http_api::problem::error_chain;

use crate::sqs::{QueueSettings, SqsPayments};

/// Table and bus when `TABLE_NAME` / `EVENT_BUS_NAME` are not set.
pub const DEFAULT_TABLE: &str = "trade-assurance-local";
pub const DEFAULT_BUS: &str = "trade-assurance-local";
/// The region when neither the environment nor the profile names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// What AWS-endpoint mode runs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub endpoint: String,
    pub table: String,
    pub bus: String,
    pub payments: QueueSettings,
}

impl Settings {
    /// `None` unless `AWS_ENDPOINT_URL` is set (and not empty).
    pub fn from_env() -> Option<Settings> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Settings> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let endpoint = set("AWS_ENDPOINT_URL")?.trim().to_owned();
        let payments = QueueSettings::from_lookup(&get, is_loopback(&endpoint));
        Some(Settings {
            table: set("TABLE_NAME").unwrap_or_else(|| DEFAULT_TABLE.to_owned()),
            bus: set("EVENT_BUS_NAME").unwrap_or_else(|| DEFAULT_BUS.to_owned()),
            endpoint,
            payments,
        })
    }
}

/// The connected adapters, and what the banner tells.
#[derive(Debug)]
pub struct Connected {
    pub store: DynamoStore,
    pub bus: EventBridgeBus,
    pub payments: SqsPayments,
    pub region: String,
    /// Where the credentials come from: `static dummy` or `environment/profile`.
    pub credentials: &'static str,
}

/// Is the endpoint's host the loopback interface (`127.x.x.x`, `localhost`, `::1`)?
pub fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Load the configuration, connect the adapters, create the table, the bus
/// and the queues if they are missing.
pub async fn connect(settings: &Settings) -> Result<Connected, String> {
    connect_with(settings, None).await
}

/// The fault injector `FAULT_RATE_PERCENT` asks for (0–100, up to four
/// decimals; unset or 0: none), seeded by `FAULT_SEED` (default 1). Every
/// DynamoDB, SQS and EventBridge call of the stack then risks a throttle, a
/// 5xx, a timeout, a lost response or a transaction conflict, and the SDK's
/// retries back off in milliseconds.
pub fn faults_from_lookup(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<FaultInjector>, String> {
    let set = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(rate) = set("FAULT_RATE_PERCENT") else {
        return Ok(None);
    };
    let ppm = percent_to_ppm(&rate).ok_or_else(|| {
        format!(
            "FAULT_RATE_PERCENT must be a percentage from 0 to 100 (up to 4 decimals), not {rate:?}"
        )
    })?;
    let seed = match set("FAULT_SEED") {
        None => 1,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| format!("FAULT_SEED must be a whole number, not {s:?}"))?,
    };
    Ok((ppm > 0).then(|| FaultInjector::new(ppm, seed)))
}

/// `"20"` → 200,000 parts per million, `"0.5"` → 5,000; at most four
/// decimals, at most 100.
fn percent_to_ppm(s: &str) -> Option<u32> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) || fraction.len() > 4 {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let fraction: u32 = format!("{fraction:0<4}").parse().ok()?;
    let ppm = whole.checked_mul(10_000)?.checked_add(fraction)?;
    (ppm <= 1_000_000).then_some(ppm)
}

/// [`connect`], with every SDK call through `faults` when given (and the
/// SDK's retry backoff in milliseconds).
pub async fn connect_with(
    settings: &Settings,
    faults: Option<&FaultInjector>,
) -> Result<Connected, String> {
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new())
        .or_else(Region::new(DEFAULT_REGION));
    let dummy = is_loopback(&settings.endpoint)
        && std::env::var("AWS_ACCESS_KEY_ID").map_or(true, |v| v.is_empty());
    let (credentials, source) = if dummy {
        let static_dummy = Credentials::new("testing", "testing", None, None, "local-dummy");
        (SharedCredentialsProvider::new(static_dummy), "static dummy")
    } else {
        // The default chain without its instance-metadata and container
        // providers.
        let chain = CredentialsProviderChain::first_try(
            "Environment",
            EnvironmentVariableCredentialsProvider::new(),
        )
        .or_else("Profile", ProfileFileCredentialsProvider::builder().build());
        (SharedCredentialsProvider::new(chain), "environment/profile")
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .endpoint_url(&settings.endpoint);
    if let Some(faults) = faults {
        loader = loader
            .http_client(faults.http_client())
            .retry_config(FaultInjector::quick_retries());
    }
    let config = loader.load().await;
    let region = config
        .region()
        .map_or_else(|| DEFAULT_REGION.to_owned(), ToString::to_string);

    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        settings.table.as_str(),
    );
    let events = aws_sdk_eventbridge::Client::new(&config);
    store.create_table_if_missing().await.map_err(|e| {
        format!(
            "cannot create or describe table {:?} at {}: {}",
            settings.table,
            settings.endpoint,
            error_chain(&e)
        )
    })?;
    create_bus_if_missing(&events, &settings.bus)
        .await
        .map_err(|e| {
            format!(
                "cannot create or describe event bus {:?} at {}: {}",
                settings.bus,
                settings.endpoint,
                error_chain(&e)
            )
        })?;
    let payments = crate::sqs::connect(aws_sdk_sqs::Client::new(&config), &settings.payments)
        .await
        .map_err(|e| format!("payment queue at {}: {e}", settings.endpoint))?;
    Ok(Connected {
        payments,
        bus: EventBridgeBus::new(events, settings.bus.as_str()),
        store,
        region,
        credentials: source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_rates_are_percentages_and_anything_else_is_refused() {
        let env = |rate: &'static str, seed: &'static str| {
            move |name: &str| match name {
                "FAULT_RATE_PERCENT" => Some(rate.to_owned()),
                "FAULT_SEED" => Some(seed.to_owned()),
                _ => None,
            }
        };
        for (rate, ppm) in [
            ("20", 200_000),
            ("0.5", 5_000),
            ("100", 1_000_000),
            ("12.3456", 123_456),
        ] {
            let injector = faults_from_lookup(env(rate, "7"))
                .expect(rate)
                .expect("an injector");
            assert_eq!(injector.rate_ppm(), ppm, "{rate}");
        }
        assert!(faults_from_lookup(env("0", "")).expect("0 %").is_none());
        assert!(faults_from_lookup(|_| None).expect("unset").is_none());
        for bad in ["-1", "101", "1e2", "20%", ".5", "0.00001", "x"] {
            assert!(faults_from_lookup(env(bad, "1")).is_err(), "{bad}");
        }
        assert!(faults_from_lookup(env("20", "seven")).is_err());
    }

    #[test]
    fn loopback_endpoints_are_recognised() {
        for yes in [
            "http://127.0.0.1:5000",
            "http://127.0.0.1:5000/",
            "http://localhost:4566",
            "https://LOCALHOST",
            "http://[::1]:5000",
            "http://127.1.2.3",
            "http://user@127.0.0.1:5000/x",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "https://dynamodb.us-east-1.amazonaws.com",
            "http://10.0.0.5:5000",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn settings_need_an_endpoint_and_default_table_and_bus() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Settings::from_lookup(env(&[])), None);
        assert_eq!(
            Settings::from_lookup(env(&[("AWS_ENDPOINT_URL", " ")])),
            None
        );
        assert_eq!(
            Settings::from_lookup(env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")])),
            Some(Settings {
                endpoint: "http://127.0.0.1:5000".to_owned(),
                table: DEFAULT_TABLE.to_owned(),
                bus: DEFAULT_BUS.to_owned(),
                payments: QueueSettings {
                    queue: crate::sqs::DEFAULT_QUEUE.to_owned(),
                    dlq: format!("{}-dlq", crate::sqs::DEFAULT_QUEUE),
                    wait_seconds: 0,
                },
            })
        );
        assert_eq!(
            Settings::from_lookup(env(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
                ("TABLE_NAME", "t1"),
                ("EVENT_BUS_NAME", "b1"),
                ("PAYMENT_QUEUE_NAME", "q1"),
            ])),
            Some(Settings {
                endpoint: "http://127.0.0.1:5000".to_owned(),
                table: "t1".to_owned(),
                bus: "b1".to_owned(),
                payments: QueueSettings {
                    queue: "q1".to_owned(),
                    dlq: "q1-dlq".to_owned(),
                    wait_seconds: 0,
                },
            })
        );
    }
}
