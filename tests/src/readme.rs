//! The README's lifecycle diagram is the transition table: this test fails
//! as soon as one of them changes without the other.

use std::collections::BTreeSet;

use domain::status::mermaid_state_diagram;

use crate::repo_root;

type Edge = (String, String, String);

/// The `a --> b: label` lines of a Mermaid state diagram.
fn edges(diagram: &str) -> BTreeSet<Edge> {
    diagram
        .lines()
        .filter_map(|line| {
            let (from, rest) = line.trim().split_once("-->")?;
            let (to, label) = rest.split_once(':').unwrap_or((rest, ""));
            Some((
                from.trim().to_owned(),
                to.trim().to_owned(),
                label.trim().to_owned(),
            ))
        })
        .collect()
}

/// The body of the README's first ```mermaid block.
fn readme_diagram() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md exists");
    let start = readme
        .find("```mermaid")
        .expect("README.md has a ```mermaid block");
    let body = &readme[start + "```mermaid".len()..];
    let end = body.find("```").expect("the mermaid block is closed");
    body[..end].to_owned()
}

#[test]
fn readme_lifecycle_diagram_matches_the_transition_table() {
    let readme = edges(&readme_diagram());
    let table = edges(&mermaid_state_diagram());
    let missing: Vec<_> = table.difference(&readme).collect();
    let extra: Vec<_> = readme.difference(&table).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README.md's diagram differs from domain::status::TRANSITIONS.\n\
         missing from README: {missing:#?}\nnot in the table: {extra:#?}\n\
         Paste this into README.md:\n{}",
        mermaid_state_diagram()
    );
}

#[test]
fn readme_gives_the_two_setup_commands() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md exists");
    assert!(readme.contains("make run"), "README names `make run`");
    assert!(readme.contains("make test"), "README names `make test`");
}

#[test]
fn edge_parser_reads_labels_and_terminal_edges() {
    let e = edges("stateDiagram-v2\n  [*] --> a: create\n  a --> b: go\n  b --> [*]\n");
    assert_eq!(e.len(), 3);
    assert!(e.contains(&("a".into(), "b".into(), "go".into())));
    assert!(e.contains(&("b".into(), "[*]".into(), String::new())));
}
