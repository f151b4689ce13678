//! Business and operational metrics as CloudWatch embedded metric format
//! (EMF): one JSON line on stdout per data point, which CloudWatch Logs
//! turns into a metric in the [`NAMESPACE`] namespace.
//!
//! Every line carries the function's *short* name as its `Function`
//! dimension (`confirm-order`, not the deployed name with its stack prefix
//! and random suffix, so alarms and dashboards can name it), set once by
//! the entry point ([`set_function`]); and a `level`, because Lambda's
//! log-level filtering drops a JSON line without one at any application
//! log level above INFO: the level is the function's configured
//! application log level when that is above INFO (`AWS_LAMBDA_LOG_LEVEL`),
//! so a metric is never filtered out with the logs.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub const NAMESPACE: &str = "TradeAssurance";

static FUNCTION: OnceLock<&'static str> = OnceLock::new();
static LEVEL: OnceLock<&'static str> = OnceLock::new();

/// Name the function every metric of this process is counted for (its
/// package name). The first call wins; without one (the local stack, the
/// tests), no metric line is printed.
pub fn set_function(name: &'static str) {
    let _ = FUNCTION.set(name);
}

/// The `Function` dimension of this process's metrics.
pub fn function() -> &'static str {
    FUNCTION.get().copied().unwrap_or("local")
}

/// The level a metric line carries for an application log level: never
/// below the level Lambda lets through.
pub fn level_for(configured: Option<&str>) -> &'static str {
    match configured.map(str::to_ascii_uppercase).as_deref() {
        Some("WARN") => "WARN",
        Some("ERROR") => "ERROR",
        Some("FATAL") => "FATAL",
        _ => "INFO",
    }
}

fn level() -> &'static str {
    LEVEL.get_or_init(|| level_for(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref()))
}

/// The EMF document for one data point of `metric`, with the `Function`
/// dimension and any further `dimensions` (name, value).
pub fn emf(
    metric: &str,
    unit: &str,
    value: i64,
    dimensions: &[(&str, &str)],
    function: &str,
    level: &str,
    timestamp_ms: u128,
) -> Value {
    let mut names = vec!["Function"];
    names.extend(dimensions.iter().map(|(n, _)| *n));
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": [{"Name": metric, "Unit": unit}],
            }],
        },
        "level": level,
        "Function": function,
        metric: value,
    });
    for (name, value) in dimensions {
        doc[*name] = json!(value);
    }
    doc
}

fn emit(metric: &str, unit: &str, value: i64, dimensions: &[(&str, &str)]) {
    // Only a function counts: the local stack and the tests, which run the
    // same code in process, print no metric lines.
    let Some(function) = FUNCTION.get().copied() else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    println!(
        "{}",
        emf(metric, unit, value, dimensions, function, level(), now)
    );
}

/// One count of `metric` (orders created, refused provider events, …).
pub fn count(metric: &str) {
    emit(metric, "Count", 1, &[]);
}

/// One count of `metric` for one value of a further dimension (each
/// event type, each sweep action, each outcome).
pub fn count_by(metric: &str, dimension: &str, value: &str) {
    add_by(metric, dimension, value, 1);
}

/// `n` counts of `metric` for one value of a further dimension, in one
/// line (nothing for zero).
pub fn add_by(metric: &str, dimension: &str, value: &str, n: i64) {
    if n > 0 {
        emit(metric, "Count", n, &[(dimension, value)]);
    }
}

/// A duration in whole seconds (e.g. the age of the oldest unpublished
/// event).
pub fn seconds(metric: &str, value: i64) {
    emit(metric, "Seconds", value, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_the_metric_it_carries_with_a_level_and_the_short_function_name() {
        let v = emf(
            "OrdersCreated",
            "Count",
            1,
            &[],
            "create-order",
            "INFO",
            1_700_000_000_000,
        );
        assert_eq!(v["OrdersCreated"], 1);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "OrdersCreated"
        );
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"]])
        );
        assert_eq!(v["Function"], "create-order");
        assert_eq!(v["level"], "INFO");
    }

    #[test]
    fn a_further_dimension_is_declared_and_carried() {
        let v = emf(
            "Events",
            "Count",
            1,
            &[("Event", "OrderConfirmed")],
            "confirm-order",
            "INFO",
            0,
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Event"]])
        );
        assert_eq!(v["Event"], "OrderConfirmed");
    }

    #[test]
    fn a_metric_line_is_never_below_the_level_lambda_lets_through() {
        for (configured, level) in [
            (None, "INFO"),
            (Some("TRACE"), "INFO"),
            (Some("DEBUG"), "INFO"),
            (Some("INFO"), "INFO"),
            (Some("WARN"), "WARN"),
            (Some("warn"), "WARN"),
            (Some("ERROR"), "ERROR"),
        ] {
            assert_eq!(level_for(configured), level, "{configured:?}");
        }
    }
}
