//! The sweep's moto server: tools/moto_server.py started through
//! bench/capacity/moto_lean.py (no whole-table copy per transaction), one
//! request at a time, stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct LeanMoto {
    pub endpoint: String,
    child: Child,
}

fn manifest_dir() -> PathBuf {
    // This package's directory: at run time from cargo, else as built.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|d| d.join("moto_lean.py").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

impl LeanMoto {
    pub fn start() -> Result<LeanMoto, String> {
        let dir = manifest_dir();
        let python = std::env::var_os("TA_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("../../.venv/bin/python"));
        let script = dir.join("moto_lean.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {} {}: {e}", python.display(), script.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout from moto")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let port = lines.find_map(|l| {
                l.ok()
                    .and_then(|l| l.strip_prefix("PORT=").map(str::to_owned))
            });
            let _ = tx.send(port);
            for _ in lines {}
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(port)) => Ok(LeanMoto {
                endpoint: format!("http://127.0.0.1:{port}"),
                child,
            }),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("moto (lean) did not start: {other:?}"))
            }
        }
    }

    /// The server's resident memory in MB (Linux), if known.
    pub fn rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

impl Drop for LeanMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
