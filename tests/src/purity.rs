//! The domain crate stays pure: no AWS, Lambda, HTTP or async runtime in its
//! dependency tree, no floats, no system clock.

use crate::{normal_dependencies, repo_root, rust_sources};

/// Crate names (or prefixes) that would mean I/O or an async runtime.
const FORBIDDEN: &[&str] = &[
    "aws-",
    "aws_",
    "lambda",
    "http",
    "hyper",
    "reqwest",
    "tokio",
    "async-std",
    "smol",
    "futures",
    "mio",
    "tower",
    "rustls",
    "openssl",
];

fn normal_dependency_tree() -> Vec<String> {
    normal_dependencies("domain")
}

#[test]
fn domain_crate_depends_on_no_aws_lambda_http_or_async_runtime() {
    let tree = normal_dependency_tree();
    assert!(
        tree.iter().any(|c| c == "domain"),
        "tree lists the domain crate: {tree:?}"
    );
    let bad: Vec<_> = tree
        .iter()
        .filter(|c| FORBIDDEN.iter().any(|f| c.starts_with(f) || c.contains(f)))
        .collect();
    assert!(bad.is_empty(), "the domain crate pulls in {bad:?}");
}

/// Words that must not appear in the domain package's code (comments
/// included, so nobody documents a float either): `shared/domain`.
fn words_in_domain(words: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    rust_sources(&repo_root().join("shared").join("domain"), &mut files);
    assert!(!files.is_empty(), "found the domain sources");
    let mut hits = Vec::new();
    for f in files {
        if f.components().any(|c| c.as_os_str() == "target") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let tokens = line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
            for t in tokens {
                if words.contains(&t) {
                    hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    hits
}

#[test]
fn domain_crate_has_no_floats() {
    let hits = words_in_domain(&["f32", "f64"]);
    assert!(
        hits.is_empty(),
        "floats in the domain crate:\n{}",
        hits.join("\n")
    );
}

#[test]
fn domain_crate_never_reads_the_clock() {
    let hits = words_in_domain(&["Utc::now", "Local::now", "SystemTime::now", "Instant::now"]);
    assert!(
        hits.is_empty(),
        "clock reads in the domain crate:\n{}",
        hits.join("\n")
    );
}
