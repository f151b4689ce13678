//! A test's figures (cases run, faults injected, …) for RELIABILITY.md:
//! printed, and when `TA_FIGURES_DIR` is set (`make test` sets it) written
//! to `<dir>/<name>.txt`, which `make test` prints after the run.

/// Print `line` and keep it as `<TA_FIGURES_DIR>/<name>.txt`.
pub fn record(name: &str, line: &str) {
    println!("{line}");
    if let Some(dir) = std::env::var_os("TA_FIGURES_DIR") {
        let dir = std::path::PathBuf::from(dir);
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(format!("{name}.txt")), format!("{line}\n")));
        if let Err(e) = written {
            eprintln!("figures: cannot write {name} to {}: {e}", dir.display());
        }
    }
}
