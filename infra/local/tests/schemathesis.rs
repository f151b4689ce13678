//! The API answers as its own OpenAPI document says: schemathesis (pinned in
//! tools/requirements.in, installed into .venv by `make test`) generates
//! requests from `/openapi.json` — valid ones and invalid ones — against
//! the local stack, and checks every answer: no 5xx
//! (`not_a_server_error`), a status the operation documents
//! (`status_code_conformance`: each route lists only what it can answer,
//! so a status it does not list fails), the one content type documented
//! for that status (`content_type_conformance`: problem+json for every
//! refusal of a function, `{"message": …}` JSON for the 401 API Gateway's
//! authorizer answers by itself), the documented headers (`Location` on a
//! created order, `Retry-After` on 429 and 503:
//! `response_headers_conformance`), and a body that matches the documented
//! schema (`response_schema_conformance`).
//! `positive_data_acceptance` is not run: requests that the schema allows may
//! still be refused by business rules (a ship-by date in the past, a
//! zero price, the wrong order status). Those refusals are documented as
//! 409 and 422.
//!
//! The stack runs in process (embedded backend) on a free loopback port, with
//! a known JWT secret. Before each run it is seeded: a supplier limit with a
//! receiving account, a draft order, a wire-transfer payment waiting for
//! its money, and a paid, shipped order with an open dispute. Their ids go to
//! schemathesis as a dictionary for the `{id}` and `{pid}` path parameters,
//! so requests reach real orders and not only 404. It runs once with each
//! role's token (buyer, supplier, arbiter) and once with no token. The
//! examples are bounded (`--max-examples`) and the seed is fixed. Only
//! loopback is contacted. If schemathesis is missing, the test fails and
//! does not skip.

use test_kit::figures;

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use local_stack::schedules::TickerConfig;
use serde_json::{Value, json};
use support::{App, local_webhook_secrets, token};

const SECRET: &str = "schemathesis-test-secret";
/// Test cases per operation and phase: enough to cover each operation's
/// schema, small enough that the four runs together stay within a couple of
/// minutes on two cores.
const MAX_EXAMPLES: &str = "10";
const SEED: &str = "20261121";
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

// ---- the stack --------------------------------------------------------------------

/// The embedded stack with the local webhook secret, so the provider
/// simulator can settle payments.
fn spawn_embedded() -> App {
    support::spawn_embedded(SECRET, local_webhook_secrets(), TickerConfig::off())
}

impl App {
    /// The provider simulator: sign a payment event as the provider would
    /// and deliver it through the webhook route to the consumer.
    #[track_caller]
    fn settle(&self, provider: &str, order: &str, payment: &Value) {
        let event = json!({"type": "payment.succeeded", "data": {
            "payment_id": payment["id"], "order_id": order,
            "amount": payment["amount"]["amount"], "currency": "USD",
            "provider_reference": "ch_schemathesis"}});
        let path = format!("/_local/providers/{provider}/events");
        let answer = self.call("POST", &path, None, Some(&event)).expect(202);
        assert_eq!(answer["consumer"], "acknowledged", "{answer}");
    }
}

// ---- the data ---------------------------------------------------------------------

struct Tokens {
    buyer: String,
    supplier: String,
    arbiter: String,
}

fn tokens() -> Tokens {
    Tokens {
        buyer: token(SECRET, "buyer-1", "buyer"),
        supplier: token(SECRET, "sup-1", "supplier"),
        arbiter: token(SECRET, "arb-1", "arbiter"),
    }
}

fn order_body(coverage: &str) -> Value {
    let ship_by = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(60))
        .expect("date");
    json!({"supplier_id": "sup-1",
        "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
        "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
        "ship_by": ship_by.to_string(), "quality_terms": "IP65, 3 year warranty",
        "destination_country": "US", "coverage": coverage,
        "inspection": {"agency": "SGS", "location": "china"}})
}

/// The ids the seeded data answers to.
struct Seeded {
    /// Orders, then the supplier's and the buyer's user ids (`{id}` also names
    /// a supplier).
    ids: Vec<String>,
    payments: Vec<String>,
}

/// A limit with a receiving account for sup-1, and buyer-1's orders with it:
/// a draft, an order that waits for a wire transfer, and an order paid in
/// full and shipped, with an open quality dispute that the supplier has
/// answered with an offer.
fn seed(app: &App, t: &Tokens) -> Seeded {
    app.call(
        "PUT",
        "/v1/suppliers/sup-1/assurance-limit",
        Some(&t.arbiter),
        Some(&json!({"limit": "1000000.00", "receiving_account": {"bank_name": "Bank of China",
            "account_name": "Sup One Ltd", "account_number": "6222020200112233", "swift": "BKCHCNBJ"}})),
    )
    .expect(200);
    let create = |coverage: &str| -> (String, u64) {
        let order = app
            .post("/v1/orders", Some(&t.buyer), &order_body(coverage))
            .expect(201);
        let id = order["id"].as_str().expect("id").to_owned();
        (id, order["version"].as_u64().expect("version"))
    };
    let confirm = |id: &str, version: u64| {
        let path = format!("/v1/orders/{id}/confirm");
        app.post(&path, Some(&t.supplier), &json!({ "version": version }))
            .expect(200);
    };
    let pay = |id: &str, body: Value| -> Value {
        app.post(&format!("/v1/orders/{id}/payments"), Some(&t.buyer), &body)
            .expect(201)
    };

    let (draft, _) = create("pre_shipment");

    let (wired, version) = create("pre_shipment");
    confirm(&wired, version);
    let wire = pay(
        &wired,
        json!({"stage": "initial", "method": "telegraphic_transfer"}),
    );

    let (disputed, version) = create("post_delivery");
    confirm(&disputed, version);
    let initial = pay(
        &disputed,
        json!({"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
    );
    app.settle("card", &disputed, &initial);
    app.post(
        &format!("/v1/orders/{disputed}/shipment"),
        Some(&t.supplier),
        &json!({"carrier": "DHL", "tracking_number": "JD014600006281"}),
    )
    .expect(200);
    let balance = pay(
        &disputed,
        json!({"stage": "balance", "method": "e_checking", "bank_country": "US",
            "account_type": "checking"}),
    );
    app.settle("echeck", &disputed, &balance);
    app.post(
        &format!("/v1/orders/{disputed}/dispute"),
        Some(&t.buyer),
        &json!({"reason": "quality", "requested_refund": "2000.00",
            "description": "40 of 100 panels flicker",
            "evidence": [{"name": "video.mp4", "url": "https://evidence.example/video.mp4",
                "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]}),
    )
    .expect(201);
    let offered = app
        .post(
            &format!("/v1/orders/{disputed}/dispute/responses"),
            Some(&t.supplier),
            &json!({"action": "offer", "refund_amount": "1000.00", "message": "half of it"}),
        )
        .expect(200);
    assert_eq!(offered["status"], "negotiating", "{offered}");

    let id = |v: &Value| v["id"].as_str().expect("payment id").to_owned();
    Seeded {
        ids: vec![
            draft,
            wired,
            disputed,
            "sup-1".to_owned(),
            "buyer-1".to_owned(),
        ],
        payments: vec![id(&wire), id(&initial), id(&balance)],
    }
}

// ---- schemathesis ------------------------------------------------------------------

/// The repository root, from the running test's manifest directory (a
/// shared target directory may hold a build made in another clone).
fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../..")
}

/// The Python that has the pinned tools: `TA_PYTHON`, else the project's venv.
fn python() -> PathBuf {
    std::env::var_os("TA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

/// Fail, never skip, when schemathesis cannot run.
fn require_schemathesis(python: &Path) {
    let version = Command::new(python)
        .args(["-m", "schemathesis.cli", "--version"])
        .stdin(Stdio::null())
        .output();
    match version {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "schemathesis is not installed for {}: {}\nRun `make venv` (or `make test`, which \
             installs tools/requirements.lock into .venv), or set TA_PYTHON to a Python that has it",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "cannot run {}: {e}\nRun `make venv` (or `make test`, which installs \
             tools/requirements.lock into .venv), or set TA_PYTHON to a Python that has schemathesis",
            python.display()
        ),
    }
}

/// The configuration of one run: the seeded ids as the values the `{id}`
/// and `{pid}` path parameters take most of the time.
fn config(seeded: &Seeded) -> String {
    let list = |values: &[String]| {
        values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "[dictionaries.ids]\nvalues = [{}]\n\n[dictionaries.payments]\nvalues = [{}]\n\n\
         [parameters]\n\"path.id\" = {{ dictionary = \"ids\", probability = 0.8 }}\n\
         \"path.pid\" = {{ dictionary = \"payments\", probability = 0.8 }}\n",
        list(&seeded.ids),
        list(&seeded.payments)
    )
}

/// What one run reported.
struct Run {
    label: &'static str,
    passed: bool,
    operations: u64,
    cases: u64,
    output: String,
    elapsed: Duration,
}

/// The number after `prefix` on the first line of `output` that starts
/// with it (after trimming).
fn figure(output: &str, prefix: &str) -> Option<u64> {
    output
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| {
            rest.trim()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
}

/// Run schemathesis against the document once, as the holder of `token`.
fn run(app: &App, python: &Path, label: &'static str, token: Option<&str>) -> Run {
    let seeded = seed(app, &tokens());
    let dir = std::env::temp_dir().join(format!(
        "ta-schemathesis-{}-{}-{label}",
        std::process::id(),
        app.port
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let config_file = dir.join("schemathesis.toml");
    std::fs::write(&config_file, config(&seeded)).expect("write the config");
    let mut command = Command::new(python);
    command
        .current_dir(&dir)
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config_file)
        .args(["--no-color", "run"])
        .arg(format!("http://127.0.0.1:{}/openapi.json", app.port))
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .args(["--workers", "1"])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "30"])
        .args(["--output-truncate", "false"])
        .env("NO_COLOR", "1")
        // Nothing but the stack on loopback.
        .env("NO_PROXY", "*")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .stdin(Stdio::null());
    if let Some(token) = token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let started = Instant::now();
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        label,
        passed: out.status.success(),
        operations: figure(&output, "Tested:").unwrap_or(0),
        cases: figure(&output, "Test cases:")
            .or_else(|| {
                // "Test cases:" then "  N generated, …" on the next line.
                output
                    .lines()
                    .skip_while(|l| l.trim() != "Test cases:")
                    .nth(1)
                    .and_then(|l| figure(l, ""))
            })
            .unwrap_or(0),
        output,
        elapsed,
    }
}

// ---- the test ---------------------------------------------------------------------

#[test]
fn every_answer_to_schemathesis_requests_is_documented_and_none_is_a_server_error() {
    let python = python();
    require_schemathesis(&python);
    let app = spawn_embedded();
    let t = tokens();
    let runs = [
        run(&app, &python, "buyer", Some(&t.buyer)),
        run(&app, &python, "supplier", Some(&t.supplier)),
        run(&app, &python, "arbiter", Some(&t.arbiter)),
        run(&app, &python, "no token", None),
    ];
    let lines: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{}: {} operations, {} cases, {} in {:.1}s",
                r.label,
                r.operations,
                r.cases,
                if r.passed { "passed" } else { "FAILED" },
                r.elapsed.as_secs_f64()
            )
        })
        .collect();
    let total: u64 = runs.iter().map(|r| r.cases).sum();
    figures::record(
        "schemathesis",
        &format!(
            "schemathesis: {total} test cases in all ({})",
            lines.join("; ")
        ),
    );
    let failed: Vec<&Run> = runs.iter().filter(|r| !r.passed).collect();
    assert!(
        failed.is_empty(),
        "{}",
        failed
            .iter()
            .map(|r| format!("==== schemathesis as {} ====\n{}", r.label, r.output))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for r in &runs {
        // Every documented operation was tried, and each run generated cases.
        assert_eq!(
            r.operations as usize,
            http_api::routes::ROUTES.len(),
            "{}",
            r.output
        );
        assert!(r.cases > 0, "{}", r.output);
    }
}
