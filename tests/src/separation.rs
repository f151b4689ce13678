//! Test code stays out of production: what the tests share lives in the
//! `test-kit` crate (`shared/test-kit`), which no function links, and no
//! production crate carries a harness behind a feature.
//!
//! "Production" is what a Lambda links: the crates under `shared/` other
//! than the test kit, and the packages under `functions/`.

use std::path::{Path, PathBuf};

use crate::{function_packages, normal_dependencies, repo_root, rust_sources};

/// Crates that exist for tests (or the local stack) only.
const TEST_ONLY_CRATES: &[&str] = &["test-kit", "tests", "local-stack", "proptest"];

/// Words that make a feature (or a module) a test harness rather than a
/// piece of the product.
const TEST_WORDS: &[&str] = &[
    "test", "contract", "fuzz", "support", "fault", "mock", "fake", "seed", "outage",
];

/// Every production package's folder.
fn production_packages() -> Vec<PathBuf> {
    let root = repo_root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("shared"))
        .expect("shared/ readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file() && !p.ends_with("test-kit"))
        .collect();
    dirs.extend(
        function_packages()
            .into_iter()
            .map(|f| root.join("functions").join(f)),
    );
    dirs.sort();
    dirs
}

/// The feature names a manifest's `[features]` table declares.
fn declared_features(manifest: &str) -> Vec<String> {
    let mut in_features = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once('=')
        {
            names.push(name.trim().to_owned());
        }
    }
    names
}

/// The `feature = "…"` names a source line's `cfg` mentions.
fn cfg_features(line: &str) -> Vec<String> {
    if !line.contains("cfg(") && !line.contains("cfg_attr(") {
        return Vec::new();
    }
    line.split("feature")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start().strip_prefix('=')?.trim_start();
            let rest = rest.strip_prefix('"')?;
            rest.split_once('"').map(|(name, _)| name.to_owned())
        })
        .collect()
}

/// The test word one of `name`'s parts (split at `-` and `_`) starts with.
fn test_word(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    lower
        .split(['-', '_'])
        .find_map(|part| TEST_WORDS.iter().copied().find(|w| part.starts_with(w)))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn no_function_links_the_test_kit_or_any_test_only_crate() {
    let functions = function_packages();
    assert!(functions.len() >= 20, "found the functions: {functions:?}");
    let mut offenders = Vec::new();
    for function in &functions {
        let tree = normal_dependencies(function);
        assert!(
            tree.iter().any(|c| c == function),
            "the tree of {function} lists it: {tree:?}"
        );
        for crate_name in &tree {
            if TEST_ONLY_CRATES.contains(&crate_name.as_str()) {
                offenders.push(format!("{function} links {crate_name}"));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

#[test]
fn production_manifests_declare_no_test_feature_and_no_normal_test_kit_dependency() {
    let mut offenders = Vec::new();
    for dir in production_packages() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        for feature in declared_features(&manifest) {
            if let Some(word) = test_word(&feature) {
                offenders.push(format!("{}: feature `{feature}` ({word})", relative(&dir)));
            }
        }
        let mut section = String::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_owned();
            } else if section != "[dev-dependencies]" && line.starts_with("test-kit") {
                offenders.push(format!("{}: test-kit under {section}", relative(&dir)));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

#[test]
fn production_modules_hold_no_feature_gated_test_harness() {
    let mut offenders = Vec::new();
    let mut sources = 0;
    for dir in production_packages() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        let declared = declared_features(&manifest);
        let mut files = Vec::new();
        rust_sources(&dir.join("src"), &mut files);
        sources += files.len();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable source");
            for (n, line) in text.lines().enumerate() {
                let at = format!("{}:{}", relative(&file), n + 1);
                for feature in cfg_features(line) {
                    if let Some(word) = test_word(&feature) {
                        offenders.push(format!("{at}: feature `{feature}` ({word})"));
                    } else if !declared.contains(&feature) {
                        offenders.push(format!("{at}: feature `{feature}` is not declared"));
                    }
                }
                let trimmed = line.trim_start();
                if let Some(module) = trimmed
                    .strip_prefix("pub mod ")
                    .or_else(|| trimmed.strip_prefix("mod "))
                {
                    let module = module.trim_end_matches(';').trim();
                    // `mod tests` under `#[cfg(test)]` is a unit test: it is
                    // never compiled into a build.
                    // `domain::contract` is the trade terms.
                    if !["tests {", "tests", "contract"].contains(&module)
                        && let Some(word) = test_word(module)
                    {
                        offenders.push(format!("{at}: module `{module}` ({word})"));
                    }
                }
            }
        }
    }
    assert!(sources > 20, "scanned the production sources ({sources})");
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

#[test]
fn the_harness_scanner_sees_a_feature_gate() {
    assert_eq!(
        cfg_features(r#"#[cfg(any(test, feature = "contract-suite"))]"#),
        ["contract-suite"]
    );
    assert_eq!(
        cfg_features(r#"#[cfg(all(feature = "a", feature = "b"))]"#),
        ["a", "b"]
    );
    assert!(cfg_features("let feature = 1;").is_empty());
    assert_eq!(test_word("contract-suite"), Some("contract"));
    assert_eq!(test_word("test_support"), Some("test"));
    assert_eq!(test_word("faults"), Some("fault"));
    assert_eq!(test_word("eventbridge"), None);
    assert_eq!(test_word("default"), None);
}
