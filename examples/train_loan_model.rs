//! Fits the loan-approval model served by the example servers.
//!
//! ```text
//! cargo run --example train_loan_model             # refit, write the file
//! cargo run --example train_loan_model -- --check  # verify the shipped file
//! ```
//!
//! It generates the synthetic training set (`train::DATASET_SIZE` = 614
//! applicants from `train::DATASET_SEED` = 614), fits an L2-regularised
//! logistic regression by Newton's method, prints the data set summary,
//! training and held-out accuracy and log-loss and the coefficients, and
//! writes `examples/loan_model/coefficients.json`.
//!
//! With `--check` it writes nothing: it compares the freshly fitted JSON with
//! the shipped file and exits with status 1 when they differ (status 2 on a
//! usage error). Both the data and the fit are deterministic, so the check
//! passes on any run of the same code on the same platform.
//!
//! See `docs/model.md` for what the model is and what it is not.

#[path = "loan_model/mod.rs"]
mod loan_model;

use std::path::Path;
use std::process::ExitCode;

use loan_model::train::{self, FittedModel};
use loan_model::FEATURES;

/// Where the shipped coefficients live, relative to the crate root.
const COEFFICIENTS_PATH: &str = "examples/loan_model/coefficients.json";

const USAGE: &str = "usage: cargo run --example train_loan_model [-- --check]";

fn main() -> ExitCode {
    let mut check = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                println!("Refits the loan model and writes {COEFFICIENTS_PATH};");
                println!("with --check, compares a fresh fit with that file instead.");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument `{other}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let data = train::generate_dataset(train::DATASET_SIZE, train::DATASET_SEED);
    let fitted = train::fit(&data);
    let json = fitted.to_json_string();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(COEFFICIENTS_PATH);

    if check {
        return match std::fs::read_to_string(&path) {
            Ok(shipped) if shipped == json => {
                println!("{COEFFICIENTS_PATH} matches a fresh fit");
                ExitCode::SUCCESS
            }
            Ok(shipped) => {
                eprintln!("{COEFFICIENTS_PATH} differs from a fresh fit");
                report_first_difference(&shipped, &json);
                eprintln!("run `cargo run --example train_loan_model` to refit");
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!("cannot read {}: {err}", path.display());
                ExitCode::FAILURE
            }
        };
    }

    print_report(&data, &fitted);
    if let Err(err) = std::fs::write(&path, &json) {
        eprintln!("cannot write {}: {err}", path.display());
        return ExitCode::FAILURE;
    }
    println!("\nwrote {COEFFICIENTS_PATH}");
    ExitCode::SUCCESS
}

/// Prints the first line where the shipped and fresh JSON differ.
fn report_first_difference(shipped: &str, fresh: &str) {
    let mut shipped_lines = shipped.lines();
    let mut fresh_lines = fresh.lines();
    for line in 1.. {
        match (shipped_lines.next(), fresh_lines.next()) {
            (None, None) => {
                eprintln!("(the files differ only in line endings)");
                return;
            }
            (a, b) if a == b => {}
            (a, b) => {
                eprintln!("first difference at line {line}:");
                eprintln!("  shipped: {}", a.unwrap_or("<end of file>"));
                eprintln!("  fresh:   {}", b.unwrap_or("<end of file>"));
                return;
            }
        }
    }
}

/// Prints the data set summary, the metrics and the coefficients.
fn print_report(data: &[(loan_model::LoanApplication, bool)], fitted: &FittedModel) {
    let rate = train::approval_rate(data);
    let with_history: Vec<_> = data
        .iter()
        .filter(|(app, _)| app.credit_history)
        .cloned()
        .collect();
    let without_history: Vec<_> = data
        .iter()
        .filter(|(app, _)| !app.credit_history)
        .cloned()
        .collect();
    let rule_correct = data
        .iter()
        .filter(|(app, approved)| app.credit_history == *approved)
        .count();

    println!(
        "data: {} synthetic applications (seed {})",
        data.len(),
        train::DATASET_SEED
    );
    println!("  approved:                      {:.1}%", 100.0 * rate);
    println!(
        "  approved | credit history:     {:.1}% of {}",
        100.0 * train::approval_rate(&with_history),
        with_history.len()
    );
    println!(
        "  approved | no credit history:  {:.1}% of {}",
        100.0 * train::approval_rate(&without_history),
        without_history.len()
    );

    println!(
        "\nfit: logistic regression, L2 penalty {}, {} Newton iterations",
        fitted.l2_penalty, fitted.iterations
    );
    println!(
        "  training accuracy:  {:.4}   log-loss: {:.4}",
        fitted.training.accuracy, fitted.training.log_loss
    );
    let holdout = train::generate_dataset(train::HOLDOUT_SIZE, train::HOLDOUT_SEED);
    let held_out = train::evaluate(&fitted.to_model(), &holdout);
    println!(
        "  held-out accuracy:  {:.4}   log-loss: {:.4}   ({} fresh applications, seed {})",
        held_out.accuracy,
        held_out.log_loss,
        held_out.n,
        train::HOLDOUT_SEED
    );
    println!(
        "  baselines on the training set: always \"approved\" {:.4}, \
         \"approved iff credit history\" {:.4}",
        rate.max(1.0 - rate),
        rule_correct as f64 / data.len().max(1) as f64
    );

    println!("\ncoefficients (weights are log-odds per standard deviation of the feature):");
    println!(
        "  {:<20} {:>12} {:>12} {:>10} {:>10}",
        "feature", "mean", "std", "weight", "odds x"
    );
    for (i, spec) in FEATURES.iter().enumerate() {
        println!(
            "  {:<20} {:>12.4} {:>12.4} {:>10.4} {:>10.3}",
            spec.name,
            fitted.means[i],
            fitted.stds[i],
            fitted.weights[i],
            fitted.weights[i].exp()
        );
    }
    println!(
        "  {:<20} {:>12} {:>12} {:>10.4} {:>10.3}",
        "(intercept)",
        "",
        "",
        fitted.intercept,
        fitted.intercept.exp()
    );
}
