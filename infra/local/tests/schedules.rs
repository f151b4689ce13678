//! The schedules on the local stack, over HTTP: `POST /_local/schedules/run`
//! and the ticker fire the sweep the `escalate-stale-disputes` Lambda runs,
//! at business time, so that after `POST /_local/clock/advance` the timers
//! that came due act.
//!
//! Each test starts a stack of its own in process, as the binary wires it
//! (`server::serve_with_ticker`, the payment consumer or poller beside it),
//! on a free loopback port, on a runtime that is shut down when the test's
//! [`App`] is dropped — whether the test passes or panics. The ticker's
//! interval comes from the test's [`TickerConfig`], never the process
//! environment. The embedded backend always; the scenario of an unpaid
//! order also in AWS-endpoint mode on the test process's moto server (the
//! `…_on_moto` test; it fails, never skips, if moto cannot start).

mod support;

use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};
use http_api::webhook::ProviderSecrets;
use local_stack::schedules::{SCHEDULES, TickerConfig, schedule_arn};
use serde_json::{Value, json};
use support::{App, token};

const SECRET: &str = "schedules-test-secret";
/// How long a test waits for the ticker to act.
const TICKER_WAIT: Duration = Duration::from_secs(30);
const DAY: i64 = 24 * 3600;

// ---- the stack --------------------------------------------------------------------

/// The embedded stack (in-memory backend, in-process queue and bus).
fn spawn_embedded(ticker: TickerConfig) -> App {
    support::spawn_embedded(SECRET, ProviderSecrets::default(), ticker)
}

/// AWS-endpoint mode on the shared moto server, with a table, bus and
/// payment queue of its own.
#[cfg(feature = "aws")]
fn spawn_on_moto(ticker: TickerConfig) -> App {
    let (app, _) = support::spawn_on_moto(
        "ta-ls-sched-",
        SECRET,
        ProviderSecrets::default(),
        ticker,
        None,
    );
    app
}

// ---- the stack's answers ---------------------------------------------------------

impl App {
    /// `POST /_local/schedules/run`: its runs, each checked for its shape.
    fn run_schedules(&self) -> Vec<Value> {
        let answer = self.post("/_local/schedules/run", None, &json!({}));
        let body = answer.expect(200);
        let runs = body["runs"].as_array().expect("runs").clone();
        let names: Vec<&str> = runs
            .iter()
            .map(|r| r["schedule"].as_str().expect("schedule"))
            .collect();
        assert_eq!(names, SCHEDULES, "{body}");
        for run in &runs {
            let name = run["schedule"].as_str().expect("schedule");
            assert_eq!(run["schedule_arn"], schedule_arn(name).as_str());
            assert!(
                run["execution_id"]
                    .as_str()
                    .is_some_and(|id| !id.is_empty())
            );
            assert!(run.get("error").is_none(), "a complete run: {run}");
            assert!(run["report"].is_object(), "{run}");
        }
        runs
    }

    /// The one sweep's report of a run (one schedule today).
    fn sweep(&self) -> Value {
        let runs = self.run_schedules();
        assert_eq!(runs.len(), 1);
        runs[0]["report"].clone()
    }

    fn advance(&self, seconds: i64) -> Value {
        self.post(
            "/_local/clock/advance",
            None,
            &json!({ "seconds": seconds }),
        )
        .expect(200)
    }

    fn event_types(&self, order_id: &str) -> Vec<String> {
        let r = self.get(&format!("/_local/events?order_id={order_id}"), None);
        r.expect(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["detail-type"].as_str().expect("detail-type").to_owned())
            .collect()
    }

    fn status_of(&self, token: &str, id: &str) -> String {
        let order = self
            .get(&format!("/v1/orders/{id}"), Some(token))
            .expect(200);
        order["status"].as_str().expect("status").to_owned()
    }
}

// ---- orders -----------------------------------------------------------------------

fn date_in(days: u64) -> NaiveDate {
    Utc::now()
        .date_naive()
        .checked_add_days(Days::new(days))
        .expect("date")
}

struct Parties {
    buyer: String,
    supplier: String,
}

/// The arbiter sets sup-1's assurance limit; the buyer orders; the supplier
/// confirms, reserving coverage: the order awaits its initial payment.
fn confirmed_order(app: &App) -> (Parties, String) {
    let parties = Parties {
        buyer: token(SECRET, "buyer-1", "buyer"),
        supplier: token(SECRET, "sup-1", "supplier"),
    };
    let arbiter = token(SECRET, "arb-1", "arbiter");
    app.call(
        "PUT",
        "/v1/suppliers/sup-1/assurance-limit",
        Some(&arbiter),
        Some(&json!({"limit": "50000.00"})),
    )
    .expect(200);
    let order = app
        .post(
            "/v1/orders",
            Some(&parties.buyer),
            &json!({"supplier_id": "sup-1",
                "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
                "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
                "ship_by": date_in(60).to_string(), "quality_terms": "IP65, 3 year warranty",
                "destination_country": "US", "coverage": "pre_shipment",
                "inspection": {"agency": "SGS", "location": "china"}}),
        )
        .expect(201);
    let id = order["id"].as_str().expect("id").to_owned();
    let version = order["version"].as_u64().expect("version");
    let confirmed = app
        .post(
            &format!("/v1/orders/{id}/confirm"),
            Some(&parties.supplier),
            &json!({ "version": version }),
        )
        .expect(200);
    assert_eq!(
        confirmed["status"], "awaiting_initial_payment",
        "{confirmed}"
    );
    (parties, id)
}

fn count(types: &[String], name: &str) -> usize {
    types.iter().filter(|t| *t == name).count()
}

#[track_caller]
fn assert_nothing_changed(report: &Value) {
    for field in [
        "changed",
        "escalated",
        "overdue_flagged",
        "cancelled",
        "released",
        "failed",
    ] {
        assert_eq!(report[field], 0, "{field} in {report}");
    }
}

// ---- tests ------------------------------------------------------------------------

#[test]
fn schedules_run_on_an_empty_stack_answers_a_report_of_nothing() {
    let app = spawn_embedded(TickerConfig::off());
    let clock = app.get("/_local/clock", None).expect(200);
    let report = app.sweep();
    assert_nothing_changed(&report);
    assert_eq!(report["due"], 0, "{report}");
    assert_eq!(report["retried"], 0, "{report}");
    assert_eq!(report["published"], 0, "{report}");
    // Swept at business time, as the clock told it just before.
    assert!(
        report["now"].as_str() >= clock["now"].as_str(),
        "{report} after {clock}"
    );
    assert_eq!(
        app.get("/_local/events", None).expect(200),
        json!({"items": []})
    );
    // POST only, as every other /_local action.
    let r = app.get("/_local/schedules/run", None);
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.header("allow"), Some("POST"));
}

/// Create and confirm; a sweep now does nothing; 31 days later it cancels
/// the unpaid order and releases its reservation, and what it published is
/// on the bus; a second sweep changes nothing.
fn unpaid_order_is_cancelled_after_the_clock_moves(app: &App) {
    let (parties, id) = confirmed_order(app);
    let report = app.sweep();
    assert_nothing_changed(&report);
    assert_eq!(
        app.status_of(&parties.buyer, &id),
        "awaiting_initial_payment"
    );

    let moved = app.advance(31 * DAY);
    let report = app.sweep();
    assert_eq!(report["cancelled"], 1, "{report}");
    assert_eq!(report["released"], 1, "{report}");
    assert_eq!(report["changed"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["due"].as_u64() >= Some(1), "{report}");
    assert!(
        report["now"].as_str() >= moved["now"].as_str(),
        "swept at the travelled time: {report} after {moved}"
    );
    assert_eq!(app.status_of(&parties.supplier, &id), "cancelled");
    let types = app.event_types(&id);
    assert_eq!(count(&types, "OrderCancelled"), 1, "{types:?}");
    assert_eq!(count(&types, "ReservationReleased"), 1, "{types:?}");
    let reserved = types.iter().position(|t| t == "CoverageReserved");
    let cancelled = types.iter().position(|t| t == "OrderCancelled");
    assert!(reserved < cancelled, "in order: {types:?}");
    let limit = app
        .get(
            "/v1/suppliers/sup-1/assurance-limit",
            Some(&parties.supplier),
        )
        .expect(200);
    assert_eq!(limit["available"]["amount"], "50000.00", "{limit}");

    let again = app.sweep();
    assert_nothing_changed(&again);
    assert_eq!(app.event_types(&id), types, "nothing more published");
}

#[test]
fn an_unpaid_order_is_cancelled_and_released_by_schedules_run_after_31_days() {
    unpaid_order_is_cancelled_after_the_clock_moves(&spawn_embedded(TickerConfig::off()));
}

#[cfg(feature = "aws")]
#[test]
fn an_unpaid_order_is_cancelled_and_released_by_schedules_run_after_31_days_on_moto() {
    unpaid_order_is_cancelled_after_the_clock_moves(&spawn_on_moto(TickerConfig::off()));
}

#[test]
fn the_ticker_sweeps_at_business_time_without_the_endpoint() {
    let app = spawn_embedded(TickerConfig::every(Duration::from_secs(1)));
    let (parties, id) = confirmed_order(&app);
    app.advance(31 * DAY);
    let deadline = Instant::now() + TICKER_WAIT;
    loop {
        if app.status_of(&parties.buyer, &id) == "cancelled" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ticker did not sweep the order within {TICKER_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // What the ticker's sweep published reached the bus.
    let deadline = Instant::now() + TICKER_WAIT;
    let types = loop {
        let types = app.event_types(&id);
        if count(&types, "ReservationReleased") > 0 || Instant::now() > deadline {
            break types;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(count(&types, "OrderCancelled"), 1, "{types:?}");
    assert_eq!(count(&types, "ReservationReleased"), 1, "{types:?}");
}

#[test]
fn concurrent_runs_sweep_each_order_once_and_publish_each_event_once() {
    // The ticker and the endpoint at once, on several orders.
    let app = spawn_embedded(TickerConfig::every(Duration::from_secs(1)));
    let orders: Vec<(Parties, String)> = (0..3).map(|_| confirmed_order(&app)).collect();
    app.advance(31 * DAY);
    let cancelled_by_endpoint: u64 = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| app.sweep()["cancelled"].as_u64().expect("cancelled")))
            .collect();
        runs.into_iter().map(|r| r.join().expect("thread")).sum()
    });
    assert!(cancelled_by_endpoint <= 3, "{cancelled_by_endpoint}");
    // Whoever swept, after one more run every order is swept, once.
    let report = app.sweep();
    assert_eq!(report["changed"], 0, "{report}");
    for (parties, id) in &orders {
        assert_eq!(app.status_of(&parties.buyer, id), "cancelled");
        let types = app.event_types(id);
        assert_eq!(count(&types, "OrderCancelled"), 1, "{id}: {types:?}");
        assert_eq!(count(&types, "ReservationReleased"), 1, "{id}: {types:?}");
    }
    // No event twice on the bus.
    let all = app.get("/_local/events", None).expect(200);
    let mut seen: Vec<String> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["detail"].to_string())
        .collect();
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "{all}");
}
