//! Repository-level tests. Nothing here is linked into a function.

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> std::path::PathBuf {
    // The running test's manifest directory (cargo sets it) rather than the
    // one baked in at compile time: a target directory shared by several
    // clones may hold a build made in another clone.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// The packages under `functions/`, one per Lambda (by folder name, which
/// is also the package name: `src/consistency.rs` checks).
pub fn function_packages() -> std::collections::BTreeSet<String> {
    let dir = repo_root().join("functions");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// The crates a package links when built (`cargo tree -e normal`: no
/// dev- or build-dependencies), by name, the package itself included.
pub fn normal_dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(repo_root())
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The `.rs` files under `dir`, not descending into another package or a
/// build directory.
pub fn rust_sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            // Another package, or build output, is not the domain.
            if path.join("Cargo.toml").exists() || path.ends_with("target") {
                continue;
            }
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

pub mod runtime_api;

#[cfg(test)]
mod consistency;
#[cfg(test)]
mod docs;
#[cfg(test)]
mod purity;
#[cfg(test)]
mod readme;
#[cfg(test)]
mod separation;
#[cfg(test)]
mod toolchain;
