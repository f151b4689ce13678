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

pub mod runtime_api;

#[cfg(test)]
mod consistency;
#[cfg(test)]
mod purity;
#[cfg(test)]
mod readme;
