//! A moto server for tests, started once per test process on a free
//! loopback port and gone when the process exits; and SDK configuration
//! that never reaches for real AWS (a region, dummy credentials, the
//! endpoint).
//!
//! The server runs one request at a time (see `tools/moto_server.py`). If it
//! cannot be started, tests fail with the reason: they never skip.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    pub endpoint: String,
    child: Mutex<Child>,
}

/// The workspace root: the nearest ancestor of the running package's
/// directory holding `Cargo.lock` and `tools/`.
pub fn repo_root() -> PathBuf {
    // The manifest directory of the running test (cargo sets it), not the
    // one baked in at compile time: a target directory shared by several
    // clones may hold a build made in another clone.
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file() && d.join("tools").is_dir())
        .map(std::path::Path::to_path_buf)
        .unwrap_or(start)
}

/// The Python that has moto: `TA_PYTHON`, else the project venv.
fn python() -> PathBuf {
    std::env::var_os("TA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

impl MotoServer {
    /// Start a server and wait (up to 60 s) until it accepts requests.
    pub fn start() -> Result<MotoServer, String> {
        MotoServer::start_script(&repo_root().join("tools/moto_server.py"))
    }

    /// [`MotoServer::start`] with another launcher script that prints
    /// `PORT=<n>` when it serves (e.g. the capacity bench's lean moto).
    pub fn start_script(script: &std::path::Path) -> Result<MotoServer, String> {
        let python = python();
        let log = std::env::temp_dir().join(format!("moto-{}.log", std::process::id()));
        let stderr = std::fs::File::create(&log)
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        let mut child = Command::new(&python)
            .arg(script)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run {} {}: {e}. `make test` installs moto into .venv; \
                     or set TA_PYTHON to a Python with moto[server]",
                    python.display(),
                    script.display()
                )
            })?;
        let stdout = child.stdout.take().ok_or("no stdout from moto server")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let port = lines.find_map(|l| {
                l.ok()
                    .and_then(|l| l.strip_prefix("PORT=").map(str::to_owned))
            });
            let _ = tx.send(port);
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(port)) => Ok(MotoServer {
                endpoint: format!("http://127.0.0.1:{port}"),
                child: Mutex::new(child),
            }),
            other => {
                let _ = child.kill();
                let detail = std::fs::read_to_string(&log).unwrap_or_default();
                Err(format!(
                    "moto server did not start ({other:?}); its log {}:\n{detail}",
                    log.display()
                ))
            }
        }
    }

    /// One server for the whole test process.
    pub fn shared() -> &'static MotoServer {
        static SHARED: OnceLock<MotoServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            MotoServer::start().unwrap_or_else(|e| panic!("moto server could not be started: {e}"))
        })
    }

    /// The server's process id (e.g. to read its memory use).
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().ok().map(|c| c.id())
    }

    /// Stop the server now (it also stops by itself when this process exits).
    pub fn stop(&self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SDK configuration for a local endpoint: region `us-east-1`, static dummy
/// credentials, no instance-metadata lookups.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "static",
        ))
        .load()
        .await
}

/// A DynamoDB store on the shared moto server whose every call is counted,
/// its table created (the counter is reset afterwards).
pub async fn counted_dynamo_store(
    table: &str,
) -> (
    aws_adapters::dynamodb::DynamoStore,
    crate::counting::CallCounter,
) {
    let moto = MotoServer::shared();
    let config = sdk_config(&moto.endpoint).await;
    let counter = crate::counting::CallCounter::new();
    let conf = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(counter.clone())
        .build();
    let store =
        aws_adapters::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), table);
    if let Err(e) = store.create_table_if_missing().await {
        panic!(
            "cannot create table {table} on moto at {}: {e:?}",
            moto.endpoint
        );
    }
    counter.reset();
    (store, counter)
}

/// Write order items as they are — no history, outbox or limit effects —
/// in `BatchWriteItem`s of 25: seeding many orders for a test without a
/// transaction each (moto copies every table on every transaction).
pub async fn seed_orders(
    store: &aws_adapters::dynamodb::DynamoStore,
    orders: &[domain::Order],
) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    for chunk in orders.chunks(25) {
        let mut writes = Vec::new();
        for order in chunk {
            let item = aws_adapters::dynamodb::order_item(order).map_err(|e| format!("{e:?}"))?;
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| e.to_string())?;
            writes.push(WriteRequest::builder().put_request(put).build());
        }
        let mut pending = std::collections::HashMap::from([(store.table().to_owned(), writes)]);
        while !pending.is_empty() {
            let out = store
                .client()
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, w| !w.is_empty());
        }
    }
    Ok(())
}
