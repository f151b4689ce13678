//! A client generated from the API's own OpenAPI document works: the pinned
//! `openapi-python-client` (tools/requirements.in, installed into .venv by
//! `make test`) generates a Python client from the local stack's
//! `/openapi.json`, and a driver (`support/generated_client.py`) uses it
//! as any client would: it creates an order (201, parsed as the `Order`
//! model, its `Location` header naming it), reads it back (200, the same
//! id), reads an unknown order (404, parsed as the `Problem` model), is
//! refused by a business rule (a card payment over US$20,000: 422, parsed
//! as `Problem`) and calls without a token (401, API Gateway's own answer,
//! parsed as `GatewayMessage`). The generator must generate every
//! operation without a warning.
//!
//! The stack runs in process (embedded backend) on a free loopback port;
//! only loopback is contacted. The generated client lives in a temporary
//! directory, removed when the test ends, pass or fail. If the generator
//! is missing, the test fails and does not skip.

use test_kit::figures;

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use local_stack::schedules::TickerConfig;
use support::{App, local_webhook_secrets, token};

const SECRET: &str = "generated-client-test-secret";

/// The repository root, from the running test's manifest directory.
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

/// `openapi-python-client`, installed beside that Python; fail, never
/// skip, when it cannot run.
fn generator(python: &Path) -> PathBuf {
    let generator = python.with_file_name("openapi-python-client");
    let version = Command::new(&generator)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match version {
        Ok(out) if out.status.success() => generator,
        Ok(out) => panic!(
            "{} does not run: {}\nRun `make venv` (or `make test`, which installs \
             tools/requirements.lock into .venv), or set TA_PYTHON to a Python whose bin \
             directory has it",
            generator.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "cannot run {}: {e}\nRun `make venv` (or `make test`, which installs \
             tools/requirements.lock into .venv), or set TA_PYTHON to a Python whose bin \
             directory has openapi-python-client",
            generator.display()
        ),
    }
}

/// A scratch directory, removed when dropped (also when the test panics).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `command` with nothing but loopback reachable and no colour.
fn offline(command: &mut Command) -> &mut Command {
    command
        .env("NO_COLOR", "1")
        .env("NO_PROXY", "*")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The generator's configuration: a package named `ta_client`, no
/// formatting hooks (nothing to format for a test).
const CONFIG: &str =
    "project_name_override: ta-client\npackage_name_override: ta_client\npost_hooks: []\n";

#[test]
fn a_client_generated_from_the_document_creates_reads_and_parses_every_refusal() {
    let python = python();
    let generator = generator(&python);
    let app: App = support::spawn_embedded(SECRET, local_webhook_secrets(), TickerConfig::off());
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "ta-generated-client-{}-{}",
        std::process::id(),
        app.port
    )));
    std::fs::create_dir_all(&scratch.0).expect("a scratch directory");

    // The document as the stack serves it.
    let document = app.get("/openapi.json", None);
    assert_eq!(document.status, 200, "{}", document.body);
    let spec = scratch.0.join("openapi.json");
    std::fs::write(&spec, &document.body).expect("write the document");
    let config = scratch.0.join("config.yaml");
    std::fs::write(&config, CONFIG).expect("write the configuration");

    // Generate.
    let client = scratch.0.join("client");
    let started = Instant::now();
    let generated = offline(Command::new(&generator).current_dir(&scratch.0))
        .args(["generate", "--meta", "none", "--path"])
        .arg(&spec)
        .arg("--output-path")
        .arg(client.join("ta_client"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", generator.display()));
    let generating = started.elapsed();
    let output = text(&generated);
    assert!(generated.status.success(), "generation failed:\n{output}");
    // A warning means an operation or a model left out of the client.
    assert!(
        !output.to_ascii_lowercase().contains("warning"),
        "the generator warned:\n{output}"
    );
    let modules = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "py"))
                    .filter(|e| e.file_name() != "__init__.py")
                    .count()
            })
            .unwrap_or(0)
    };
    let models = modules(&client.join("ta_client/models"));
    let api = std::fs::read_dir(client.join("ta_client/api"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| modules(&e.path()))
                .sum::<usize>()
        })
        .unwrap_or(0);
    let documented = serde_json::from_str::<serde_json::Value>(&document.body)
        .ok()
        .and_then(|d| {
            d["paths"].as_object().map(|p| {
                p.values()
                    .filter_map(|i| i.as_object())
                    .map(|i| i.len())
                    .sum::<usize>()
            })
        })
        .unwrap_or(0);
    assert_eq!(api, documented, "every operation generated:\n{output}");

    // Drive it.
    let driver = repo_root().join("infra/local/tests/support/generated_client.py");
    let started = Instant::now();
    let driven = offline(Command::new(&python).current_dir(&scratch.0))
        .arg(&driver)
        .env("PYTHONPATH", &client)
        .env("TA_BASE_URL", format!("http://127.0.0.1:{}", app.port))
        .env("TA_BUYER_TOKEN", token(SECRET, "buyer-1", "buyer"))
        .env("TA_SUPPLIER_TOKEN", token(SECRET, "sup-1", "supplier"))
        .env("TA_ARBITER_TOKEN", token(SECRET, "arb-1", "arbiter"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let driving = started.elapsed();
    let output = text(&driven);
    assert!(
        driven.status.success(),
        "the generated client failed:\n{output}"
    );
    let steps = output.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(steps >= 5, "{output}");
    print!("{output}");
    figures::record(
        "generated_client",
        &format!(
            "generated client: {models} models, {api} operations generated in {:.1}s; \
             {steps} checks driven against the stack in {:.1}s",
            secs(generating),
            secs(driving)
        ),
    );
    drop(scratch);
    drop(app);
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
