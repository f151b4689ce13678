//! The documentation names only what exists: every repository path it
//! quotes (`shared/app/src/write.rs`) and every relative link it makes
//! (`[rules](rules.md)`) must be there, so a file moved or renamed without
//! its docs fails the suite. The walk through the architecture is held to
//! it first of all.

use std::path::{Path, PathBuf};

use crate::repo_root;

/// The documents checked, relative to the repository.
const DOCUMENTS: &[&str] = &[
    "README.md",
    "docs/architecture.md",
    "docs/api.md",
    "docs/rules.md",
    "docs/testing.md",
    "docs/operations.md",
    "docs/quickstart.md",
    "functions/README.md",
    "infra/README.md",
    "events/README.md",
    "RELIABILITY.md",
];

/// Where repository paths start.
const TOP_LEVEL: &[&str] = &[
    "shared/",
    "functions/",
    "infra/",
    "tests/",
    "tools/",
    "events/",
    "bench/",
    "fuzz/",
    "docs/",
];

/// The repository paths quoted in backticks: a path under a top-level
/// folder, without placeholders (`functions/<name>`) or globs, any
/// `:line` suffix dropped.
fn quoted_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            let path = quoted.split([' ', ':', ',', '(', ')']).next()?;
            let wanted = TOP_LEVEL.iter().any(|t| path.starts_with(t))
                && !path.contains(['<', '{', '*', '$', '…']);
            wanted.then(|| path.trim_end_matches(['.', ';']).to_owned())
        })
        .collect()
}

/// The relative targets of markdown links (`](target)`), without anchors;
/// web addresses are not ours to check.
fn linked_paths(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| {
            let target = rest.split(')').next()?.split('#').next()?;
            let ours =
                !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:");
            ours.then(|| target.to_owned())
        })
        .collect()
}

fn missing_in(document: &str) -> (usize, Vec<String>) {
    let root = repo_root();
    let file = root.join(document);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{document}: {e}"));
    let folder: PathBuf = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let quoted = quoted_paths(&text);
    let linked = linked_paths(&text);
    let mut missing = Vec::new();
    for path in &quoted {
        if !root.join(path).exists() {
            missing.push(format!("{document}: `{path}`"));
        }
    }
    for target in &linked {
        if !folder.join(target).exists() {
            missing.push(format!("{document}: link ({target})"));
        }
    }
    (quoted.len() + linked.len(), missing)
}

#[test]
fn every_file_the_architecture_walk_names_exists() {
    let (named, missing) = missing_in("docs/architecture.md");
    assert!(
        named >= 30,
        "the walk names the files it goes through ({named})"
    );
    assert!(
        missing.is_empty(),
        "named but gone:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_path_and_link_in_the_documentation_exists() {
    let mut missing = Vec::new();
    for document in DOCUMENTS {
        missing.extend(missing_in(document).1);
    }
    assert!(
        missing.is_empty(),
        "named but gone:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_documentation_points_at_nothing_outside_the_repository() {
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(repo_root().join(document)).expect("readable");
        assert!(
            !text.contains("../shared") && !text.contains("DESIGN"),
            "{document} refers to a design document the repository does not hold"
        );
    }
}

#[test]
fn paths_are_read_from_quotes_and_links() {
    let text = "see `shared/app/src/write.rs:12`, `functions/<name>`, `make test`, \
                [rules](rules.md#money) and [site](https://example.com).";
    assert_eq!(quoted_paths(text), ["shared/app/src/write.rs"]);
    assert_eq!(linked_paths(text), ["rules.md"]);
}
