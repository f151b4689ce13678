//! Cost per million orders from the counts of a lifecycle and public AWS
//! list prices (us-east-1).

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::lifecycle::{Kind, Lifecycle};

/// A list price and where it comes from.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Price {
    pub what: &'static str,
    /// USD per `per` units: money, so a decimal (written as a string).
    #[serde(serialize_with = "decimal")]
    pub usd: Decimal,
    pub per: f64,
    pub unit: &'static str,
    pub source: &'static str,
}

/// When the prices below were taken from the AWS pricing pages. They are
/// not fetched at run time.
pub const PRICES_AS_OF: &str =
    "2025-06 (AWS list prices, us-east-1; DynamoDB on-demand as cut on 2024-11-01)";

pub const API: Price = Price {
    what: "API Gateway HTTP API request",
    usd: Decimal::from_parts(1, 0, 0, false, 0),
    per: 1e6,
    unit: "requests (first 300 M/month)",
    source: "https://aws.amazon.com/api-gateway/pricing/",
};
pub const LAMBDA_REQ: Price = Price {
    what: "Lambda request",
    usd: Decimal::from_parts(2, 0, 0, false, 1),
    per: 1e6,
    unit: "requests",
    source: "https://aws.amazon.com/lambda/pricing/",
};
pub const LAMBDA_GBS: Price = Price {
    what: "Lambda duration, arm64",
    usd: Decimal::from_parts(133_334, 0, 0, false, 10),
    per: 1.0,
    unit: "GB-second (first 7.5 B GB-s/month)",
    source: "https://aws.amazon.com/lambda/pricing/",
};
pub const RRU: Price = Price {
    what: "DynamoDB on-demand read request unit",
    usd: Decimal::from_parts(125, 0, 0, false, 3),
    per: 1e6,
    unit: "RRU",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const WRU: Price = Price {
    what: "DynamoDB on-demand write request unit",
    usd: Decimal::from_parts(625, 0, 0, false, 3),
    per: 1e6,
    unit: "WRU",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};
pub const SQS: Price = Price {
    what: "SQS standard request (per 64 KB chunk)",
    usd: Decimal::from_parts(4, 0, 0, false, 1),
    per: 1e6,
    unit: "requests",
    source: "https://aws.amazon.com/sqs/pricing/",
};
pub const EVENTS: Price = Price {
    what: "EventBridge custom event (per 64 KB chunk)",
    usd: Decimal::from_parts(1, 0, 0, false, 0),
    per: 1e6,
    unit: "events",
    source: "https://aws.amazon.com/eventbridge/pricing/",
};
pub const SCHEDULER: Price = Price {
    what: "EventBridge Scheduler invocation",
    usd: Decimal::from_parts(1, 0, 0, false, 0),
    per: 1e6,
    unit: "invocations (first 14 M/month free; charged here anyway)",
    source: "https://aws.amazon.com/eventbridge/pricing/",
};

pub const PRICES: [Price; 8] = [
    API, LAMBDA_REQ, LAMBDA_GBS, RRU, WRU, SQS, EVENTS, SCHEDULER,
];

/// Lambda memory (infra/template.yaml Globals.Function.MemorySize).
pub const MEMORY_MB: f64 = 256.0;
/// Billed duration per invocation: a fixed part plus one AWS round trip
/// per call it makes (DynamoDB, SQS, EventBridge). Assumed, not measured
/// here: the in-process handler time (criterion, embedded backend) is well
/// under a millisecond; in-region DynamoDB calls take a few milliseconds.
pub const BASE_MS: f64 = 2.0;
pub const PER_CALL_MS: f64 = 8.0;
/// Volume the fixed monthly costs are spread over.
pub const ORDERS_PER_MONTH: f64 = 1e6;
/// Sweep runs a month (every 5 minutes, 30 days).
pub const SWEEPS_PER_MONTH: f64 = 8640.0;
/// The SQS event source mapping's idle long polls: about 5 pollers, one 20 s
/// ReceiveMessage each at a time (AWS's description of the poller).
pub const IDLE_POLLS_PER_MONTH: f64 = 5.0 * 3.0 * 60.0 * 24.0 * 30.0;

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub item: String,
    /// Units per order.
    pub per_order: f64,
    pub unit: String,
    pub price: String,
    /// USD per million orders, to the cent.
    #[serde(serialize_with = "decimal")]
    pub usd_per_million: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub lifecycle: String,
    pub lines: Vec<Line>,
    #[serde(serialize_with = "decimal")]
    pub total: Decimal,
}

fn ms(calls: usize) -> f64 {
    (BASE_MS + PER_CALL_MS * calls as f64).ceil()
}

fn line(item: &str, per_order: f64, unit: &str, p: Price) -> Line {
    Line {
        item: item.to_owned(),
        per_order,
        unit: unit.to_owned(),
        price: format!("${} per {} {}", p.usd, fmt_per(p.per), p.unit),
        usd_per_million: dollars(per_order * 1e6 / p.per, p.usd),
    }
}

/// `quantity` (units of usage, a measured or assumed count) times a price,
/// in dollars to the cent: the money stays decimal, only the usage is a
/// float (fractional capacity units, GB-seconds).
pub fn dollars(quantity: f64, price: Decimal) -> Decimal {
    let quantity = Decimal::from_f64_retain(quantity).unwrap_or_default();
    (quantity * price).round_dp(2)
}

fn decimal<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_string())
}

/// A price's quantity: `1M` for a million, else as is.
pub fn fmt_per(per: f64) -> String {
    if per >= 1e6 {
        format!("{}M", per / 1e6)
    } else {
        format!("{per}")
    }
}

/// `sweep_rru` / `sweep_calls`: one sweep run with nothing due.
pub fn per_million(l: &Lifecycle, sweep_rru: f64, sweep_calls: usize) -> Cost {
    let http = l.count(Kind::Transition) + l.count(Kind::Read);
    let webhooks = l.count(Kind::Consumer);
    let publishes = l.count(Kind::Publisher);
    let events = l.events();
    let units = l.total();
    // Invocations: one per HTTP request; per webhook the webhook function
    // (verify + SendMessage) and the consumer (batch of one at low
    // concurrency); one publisher per step that wrote history.
    let invocations = (http + 2 * webhooks + publishes) as f64;
    let mut gb_s = 0.0;
    for s in &l.steps {
        let calls = match s.kind {
            Kind::Publisher => s.calls.len() + s.events.div_ceil(10),
            _ => s.calls.len(),
        };
        gb_s += ms(calls) / 1000.0 * MEMORY_MB / 1024.0;
    }
    gb_s += webhooks as f64 * ms(1) / 1000.0 * MEMORY_MB / 1024.0;
    let sweep_gb_s = SWEEPS_PER_MONTH * ms(sweep_calls + 1) / 1000.0 * MEMORY_MB / 1024.0;
    let per = |monthly: f64| monthly / ORDERS_PER_MONTH;
    let lines = vec![
        line(
            &format!("API Gateway: {http} API requests + {webhooks} provider webhooks"),
            (http + webhooks) as f64,
            "requests",
            API,
        ),
        line(
            &format!(
                "Lambda requests: {http} handlers, {webhooks} webhook + {webhooks} consumer, {publishes} publisher"
            ),
            invocations,
            "invocations",
            LAMBDA_REQ,
        ),
        line(
            &format!(
                "Lambda duration: {MEMORY_MB} MB × ({BASE_MS} ms + {PER_CALL_MS} ms per AWS call) per invocation"
            ),
            gb_s,
            "GB-s",
            LAMBDA_GBS,
        ),
        line(
            &format!("DynamoDB reads ({} calls in all)", l.calls()),
            units.rru,
            "RRU",
            RRU,
        ),
        line(
            &format!(
                "DynamoDB writes: table {} + GSI {}",
                units.wru_table, units.wru_gsi
            ),
            units.wru(),
            "WRU",
            WRU,
        ),
        line(
            &format!("SQS: {webhooks} × (send + receive + delete)"),
            (3 * webhooks) as f64,
            "requests",
            SQS,
        ),
        line(
            &format!("EventBridge PutEvents: {events} events (each < 64 KB)"),
            events as f64,
            "events",
            EVENTS,
        ),
        line(
            "Sweep every 5 min: Scheduler invocations, amortised",
            per(SWEEPS_PER_MONTH),
            "invocations",
            SCHEDULER,
        ),
        line(
            "Sweep every 5 min: Lambda requests, amortised",
            per(SWEEPS_PER_MONTH),
            "invocations",
            LAMBDA_REQ,
        ),
        line(
            "Sweep every 5 min: Lambda duration, amortised",
            per(sweep_gb_s),
            "GB-s",
            LAMBDA_GBS,
        ),
        line(
            "Sweep every 5 min: index + outbox queries, amortised",
            per(SWEEPS_PER_MONTH * sweep_rru),
            "RRU",
            RRU,
        ),
        line(
            "SQS idle long polling by the event source mapping, amortised",
            per(IDLE_POLLS_PER_MONTH),
            "requests",
            SQS,
        ),
    ];
    let total = lines.iter().map(|l| l.usd_per_million).sum();
    Cost {
        lifecycle: l.name.clone(),
        lines,
        total,
    }
}
