//! The fuzz corpus, replayed on stable as an ordinary test.
//!
//! Every file of `fuzz/corpus/predict_body/` goes through `/predict`'s validation
//! (`loan_model::api::predict`, the entry point every example server and the fuzz target use)
//! and the fuzz target's own check (`fuzz/check.rs`): a 200 with a label for a valid
//! application, otherwise a 4xx with a JSON `{"error"}` body; never a panic, never a 5xx. A
//! hand-written seed named `<status>-<what>` must answer exactly that status; files the fuzzer
//! adds (named by their hash) get the check alone.

use crate::loan_model;

#[path = "../../fuzz/check.rs"]
mod check;

use std::path::Path;

/// Fewest seeds the corpus must hold.
const MIN_SEEDS: usize = 24;

#[test]
fn every_corpus_file_is_answered_with_a_json_4xx_or_a_prediction() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/predict_body");
    let model = loan_model::LoanModel::load();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_SEEDS,
        "{} files in {}",
        files.len(),
        dir.display()
    );

    let mut failures = Vec::new();
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(path).unwrap();
        let answer = std::panic::catch_unwind(|| check::check_body(&model, &body));
        let answer = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => {
                failures.push(format!("{name}: {why}"));
                continue;
            }
            Err(_) => {
                failures.push(format!("{name}: panicked"));
                continue;
            }
        };
        *by_status.entry(answer.status).or_default() += 1;
        let expected = name
            .split_once('-')
            .and_then(|(status, _)| status.parse::<u16>().ok());
        if let Some(expected) = expected {
            if answer.status != expected {
                failures.push(format!(
                    "{name}: expected {expected}, got {}: {}",
                    answer.status, answer.body
                ));
            }
        }
    }
    eprintln!("{} corpus files, by status: {by_status:?}", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The seeds cover every kind of answer the validation gives.
    for status in [200, 400, 413, 422] {
        assert!(by_status.contains_key(&status), "no seed answered {status}");
    }
}
