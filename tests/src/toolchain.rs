//! The toolchain the repository states is the one its lock file needs: the
//! workspace's `rust-version` is at least every locked dependency's, and the
//! pinned toolchain (`rust-toolchain.toml`) is at least that.

use std::process::Command;

use crate::repo_root;

/// `1.94.1` → `(1, 94, 1)`; a missing patch is 0.
fn version(text: &str) -> (u32, u32, u32) {
    let mut parts = text
        .trim()
        .trim_matches('"')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or_else(|e| panic!("{text}: {e}")));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// A `key = "value"` in the given section of a TOML file.
fn toml_value(file: &str, section: &str, key: &str) -> String {
    let text =
        std::fs::read_to_string(repo_root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            current = line.to_owned();
        } else if current == section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return v.trim().trim_matches('"').to_owned();
        }
    }
    panic!("{file} has no {key} under {section}")
}

/// The highest `rust_version` among the packages cargo resolves from the
/// lock file, with the package that needs it.
fn highest_locked_rust_version() -> ((u32, u32, u32), String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo_root())
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let packages = metadata["packages"].as_array().expect("packages");
    assert!(packages.len() > 100, "the lock file resolves the SDKs");
    packages
        .iter()
        .filter(|p| !p["source"].is_null())
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            Some((version(needs), format!("{} {}", p["name"], p["version"])))
        })
        .max()
        .expect("some dependency states a rust-version")
}

#[test]
fn the_workspace_rust_version_is_what_the_locked_dependencies_need() {
    let stated = version(&toml_value(
        "Cargo.toml",
        "[workspace.package]",
        "rust-version",
    ));
    let (needed, by) = highest_locked_rust_version();
    assert_eq!(
        stated, needed,
        "Cargo.toml says rust-version {stated:?}; the lock file needs {needed:?} ({by})"
    );
}

#[test]
fn the_pinned_toolchain_can_build_the_workspace() {
    let channel = toml_value("rust-toolchain.toml", "[toolchain]", "channel");
    let pinned = version(&channel);
    let stated = version(&toml_value(
        "Cargo.toml",
        "[workspace.package]",
        "rust-version",
    ));
    assert!(
        pinned >= stated,
        "rust-toolchain.toml pins {channel}, below rust-version {stated:?}"
    );
}
