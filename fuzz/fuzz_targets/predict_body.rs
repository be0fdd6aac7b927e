//! Fuzzes `POST /predict`'s validation: the bytes of a request body go through
//! `loan_model::api::predict`, the function every example server hands `/predict` bodies to,
//! and the answer must pass [`check::check_answer`]: a 200 with a label for a valid
//! application, otherwise a 4xx with a JSON `{"error"}` body; never a panic, never a 5xx.
//!
//! `tests/suite/fuzz_corpus.rs` replays the corpus (`fuzz/corpus/predict_body/`) through the same
//! check on stable, as an ordinary test. See `fuzz/README.md` to run the fuzzer.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../examples/loan_model/mod.rs"]
mod loan_model;

#[path = "../check.rs"]
mod check;

static MODEL: LazyLock<loan_model::LoanModel> = LazyLock::new(loan_model::LoanModel::load);

fuzz_target!(|body: &[u8]| {
    if let Err(e) = check::check_body(&MODEL, body) {
        panic!("{e}");
    }
});
