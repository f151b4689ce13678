//! The sweep's moto server: tools/moto_server.py started through
//! bench/capacity/moto_lean.py (no whole-table copy per transaction), one
//! request at a time, stopped when dropped — `MotoServer` with another
//! launcher script.

use std::path::PathBuf;

use test_kit::moto::MotoServer;

pub struct LeanMoto {
    pub endpoint: String,
    server: MotoServer,
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
        let server = MotoServer::start_script(&manifest_dir().join("moto_lean.py"))
            .map_err(|e| format!("moto (lean): {e}"))?;
        Ok(LeanMoto {
            endpoint: server.endpoint.clone(),
            server,
        })
    }

    /// The server's resident memory in MB (Linux), if known.
    pub fn rss_mb(&self) -> Option<f64> {
        let pid = self.server.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
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
