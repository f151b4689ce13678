//! Repository-level tests. Nothing here is linked into a function.

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
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
