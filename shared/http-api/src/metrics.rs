//! Business metrics as CloudWatch embedded metric format: one JSON line on
//! stdout per count, which CloudWatch turns into a metric.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

pub const NAMESPACE: &str = "TradeAssurance";

/// The EMF document for one count of `metric` in `function`.
pub fn emf(metric: &str, function: &str, timestamp_ms: u128) -> serde_json::Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
        "Function": function,
        metric: 1,
    })
}

/// Emit one count of `metric` (orders created, confirmed, completed).
pub fn count(metric: &str) {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    println!("{}", emf(metric, &function, now));
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_emf_line_declares_the_metric_it_carries() {
        let v = super::emf("OrdersCreated", "create-order", 1_700_000_000_000);
        assert_eq!(v["OrdersCreated"], 1);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "OrdersCreated"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "TradeAssurance"
        );
        assert_eq!(v["Function"], "create-order");
    }
}
