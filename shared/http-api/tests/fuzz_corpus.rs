//! The committed fuzz inputs, replayed on stable through the very
//! harnesses the cargo-fuzz targets run (`test_kit::fuzzing`): the
//! hand-written seeds and regressions (`fuzz/seeds/<target>/`, made by
//! `fuzz/seeds.py`) and the corpus `make fuzz` grew and minimised
//! (`fuzz/corpus/<target>/`) keep passing in `make test`. A missing or
//! empty directory fails, so the replay can never pass by running nothing.
//! The counts are recorded (`test_kit::figures`).

use std::path::PathBuf;

use test_kit::figures;

use test_kit::fuzzing;

/// The files of `fuzz/<kind>/<target>/`, which must exist and not be empty.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    // The running test's manifest directory, not the compile-time one (a
    // shared target directory may hold a build made in another clone).
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let dir = manifest.join("../../fuzz").join(kind).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{}: no {kind} for {target}",
        dir.display()
    );
    files
}

/// Run every seed and corpus input of `target`; a failing one is named.
fn replay(target: &str, harness: fn(&[u8])) {
    let seeds = inputs("seeds", target);
    let corpus = inputs("corpus", target);
    for file in seeds.iter().chain(&corpus) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| harness(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails (reproduce: cd fuzz && cargo +nightly fuzz run {target} {})",
            file.display(),
            file.display()
        );
    }
    figures::record(
        &format!("fuzz-corpus-{target}"),
        &format!(
            "fuzz corpus {target}: {} inputs replayed ({} seeds, {} corpus)",
            seeds.len() + corpus.len(),
            seeds.len(),
            corpus.len()
        ),
    );
}

#[test]
fn every_committed_webhook_input_is_verified_parsed_and_answered_as_the_oracle_says() {
    replay("webhook", fuzzing::webhook);
}

#[test]
fn every_committed_request_body_is_answered_without_5xx_and_with_a_well_formed_problem() {
    replay("request_body", fuzzing::request_body);
}

#[test]
fn every_committed_money_string_parses_as_the_oracle_says_and_round_trips() {
    replay("money", fuzzing::money);
}
