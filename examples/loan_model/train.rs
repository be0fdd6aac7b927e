//! Offline fitting of the loan model: a deterministic synthetic data set and
//! an L2-regularised logistic regression fitted by Newton's method.
//!
//! Everything here is deterministic: the same `n` and `seed` give the same
//! applications, and [`fit`] runs a fixed number of iterations, so
//! [`FittedModel::to_json_string`] is byte-for-byte reproducible on a given
//! platform. `cargo run --example train_loan_model` uses it to write
//! `coefficients.json`, and `-- --check` to verify the shipped file.

use super::{
    sigmoid, Education, LoanApplication, LoanModel, PropertyArea, FEATURES, MODEL_VERSION,
    NUM_FEATURES,
};

/// Size of the training set: as many applicants as the public "loan
/// prediction" data set has.
pub const DATASET_SIZE: usize = 614;

/// Seed of the training set.
pub const DATASET_SEED: u64 = 614;

/// Seed of the held-out set used to report out-of-sample accuracy.
pub const HOLDOUT_SEED: u64 = 2024;

/// Size of the held-out set.
pub const HOLDOUT_SIZE: usize = 5000;

/// L2 penalty on the standardised weights (the intercept is not penalised).
pub const L2_PENALTY: f64 = 1.0;

/// Newton iterations run by [`fit`]; always all of them, for determinism.
pub const NEWTON_ITERATIONS: usize = 25;

/// `SplitMix64`: a tiny, fast, well-mixed 64-bit generator (Steele, Lea and
/// Flood, 2014). Not cryptographic; used only to make reproducible data.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// A standard normal draw (Box–Muller, one value per two uniforms).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // in (0, 1], so ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Index of the category drawn from cumulative probabilities `cdf`
    /// (the last entry is taken to be 1).
    fn categorical(&mut self, cdf: &[f64]) -> usize {
        let u = self.next_f64();
        cdf.iter()
            .position(|&c| u < c)
            .unwrap_or(cdf.len().saturating_sub(1))
    }
}

/// Loan terms in months and their cumulative probabilities.
const TERMS: [(f64, f64); 7] = [
    (360.0, 0.855),
    (180.0, 0.930),
    (480.0, 0.955),
    (300.0, 0.975),
    (240.0, 0.985),
    (84.0, 0.995),
    (120.0, 1.0),
];

/// Log-odds of approval in the generative process (see
/// [`generate_dataset`]).
fn true_log_odds(app: &LoanApplication) -> f64 {
    let mut z = -2.42;
    if app.credit_history {
        z += 4.15;
    }
    match app.property_area {
        PropertyArea::Semiurban => z += 0.55,
        PropertyArea::Rural => z -= 0.2,
        PropertyArea::Urban => {}
    }
    if app.education == Education::NotGraduate {
        z -= 0.3;
    }
    if app.self_employed {
        z -= 0.1;
    }
    z -= 0.05 * f64::from(app.dependents.min(3));
    z += 0.25 * (app.total_income().max(1.0) / 5500.0).ln();
    z -= 9.0 * (app.payment_to_income() - 0.07);
    z
}

/// Draws one application and whether it was approved.
fn draw(rng: &mut SplitMix64) -> (LoanApplication, bool) {
    let education = if rng.bernoulli(0.78) {
        Education::Graduate
    } else {
        Education::NotGraduate
    };
    let self_employed = rng.bernoulli(0.14);
    let dependents = rng.categorical(&[0.57, 0.74, 0.91, 1.0]) as u32;
    let property_area = [
        PropertyArea::Semiurban,
        PropertyArea::Urban,
        PropertyArea::Rural,
    ][rng.categorical(&[0.38, 0.71, 1.0])];

    let median = match education {
        Education::Graduate => 3900.0,
        Education::NotGraduate => 3300.0,
    } * if self_employed { 1.15 } else { 1.0 };
    let sigma = if self_employed { 0.7 } else { 0.55 };
    let applicant_income = (median * (sigma * rng.normal()).exp())
        .round()
        .clamp(150.0, 81_000.0);
    let coapplicant_income = if rng.bernoulli(0.45) {
        0.0
    } else {
        (1800.0 * (0.65 * rng.normal()).exp())
            .round()
            .clamp(0.0, 42_000.0)
    };

    let cdf: Vec<f64> = TERMS.iter().map(|&(_, c)| c).collect();
    let loan_term_months = TERMS[rng.categorical(&cdf)].0;
    let total_income = applicant_income + coapplicant_income;
    let loan_amount = (130.0 * (total_income / 5500.0).powf(0.45) * (0.4 * rng.normal()).exp())
        .round()
        .clamp(9.0, 700.0);

    let credit_history = rng.bernoulli(match education {
        Education::Graduate => 0.86,
        Education::NotGraduate => 0.79,
    });

    let app = LoanApplication {
        applicant_income,
        coapplicant_income,
        loan_amount,
        loan_term_months,
        credit_history,
        dependents,
        education,
        self_employed,
        property_area,
    };
    let approved = rng.bernoulli(sigmoid(true_log_odds(&app)));
    (app, approved)
}

/// Generates `n` synthetic applications with their outcome (`true` =
/// approved), deterministically from `seed`.
///
/// The process imitates the public "loan prediction" data set (614 rows).
/// Each applicant is drawn independently, in this order:
///
/// 1. education: graduate with probability 0.78;
/// 2. self-employed with probability 0.14;
/// 3. dependents 0, 1, 2, 3+ with probabilities 0.57, 0.17, 0.17, 0.09;
/// 4. property area semiurban, urban, rural with probabilities 0.38, 0.33,
///    0.29;
/// 5. applicant income log-normal with median 3900 (graduates) or 3300,
///    times 1.15 for the self-employed, log-sd 0.55 (0.7 self-employed),
///    rounded and clamped to 150..=81000;
/// 6. co-applicant income 0 with probability 0.45, otherwise log-normal
///    with median 1800 and log-sd 0.65, rounded;
/// 7. term 360 months with probability 0.855, else 180, 480, 300, 240, 84
///    or 120 (0.075, 0.025, 0.02, 0.01, 0.01, 0.005);
/// 8. loan amount (thousands) `130 · (total income / 5500)^0.45 ·
///    exp(0.4 · N(0, 1))`, rounded and clamped to 9..=700;
/// 9. credit history meets guidelines with probability 0.86 (graduates) or
///    0.79;
/// 10. approved with probability `sigmoid(z)`, where `payment_to_income`
///     is the monthly repayment without interest over the total monthly
///     income and
///
/// ```text
/// z = −2.42 + 4.15·credit_history + 0.55·semiurban − 0.2·rural
///     − 0.3·not_graduate − 0.1·self_employed − 0.05·min(dependents, 3)
///     + 0.25·ln(total_income / 5500) − 9·(payment_to_income − 0.07)
/// ```
///
/// About 69% of applications are approved overall, about 80% of those with
/// a good credit history and under 10% of the others, as in the public
/// data set, where credit history is by far the strongest signal.
pub fn generate_dataset(n: usize, seed: u64) -> Vec<(LoanApplication, bool)> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| draw(&mut rng)).collect()
}

/// Quality of a model on a labelled data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Number of examples.
    pub n: usize,
    /// Share of examples whose predicted label is right.
    pub accuracy: f64,
    /// Mean negative log-likelihood of the true labels (natural log).
    pub log_loss: f64,
}

/// `ln(1 + e^z)`, computed without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Accuracy and log-loss from log-odds and labels.
fn metrics_from_log_odds(log_odds: impl Iterator<Item = (f64, bool)>) -> Metrics {
    let (mut n, mut correct, mut loss) = (0usize, 0usize, 0.0);
    for (z, approved) in log_odds {
        n += 1;
        if (sigmoid(z) >= super::DECISION_THRESHOLD) == approved {
            correct += 1;
        }
        // -ln P(label) = softplus(z) - y·z.
        loss += softplus(z) - if approved { z } else { 0.0 };
    }
    let denominator = n.max(1) as f64;
    Metrics {
        n,
        accuracy: correct as f64 / denominator,
        log_loss: loss / denominator,
    }
}

/// Evaluates `model` on labelled data.
pub fn evaluate(model: &LoanModel, data: &[(LoanApplication, bool)]) -> Metrics {
    metrics_from_log_odds(
        data.iter()
            .map(|(app, approved)| (model.log_odds(app), *approved)),
    )
}

/// Share of approved examples in `data`.
pub fn approval_rate(data: &[(LoanApplication, bool)]) -> f64 {
    let approved = data.iter().filter(|(_, approved)| *approved).count();
    approved as f64 / data.len().max(1) as f64
}

/// The result of [`fit`]: standardisation, coefficients and training metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedModel {
    /// Mean of each raw feature on the training set.
    pub means: [f64; NUM_FEATURES],
    /// Population standard deviation of each raw feature (1 if constant).
    pub stds: [f64; NUM_FEATURES],
    /// Weight of each standardised feature (log-odds per standard deviation).
    pub weights: [f64; NUM_FEATURES],
    /// Log-odds of approval at the feature means.
    pub intercept: f64,
    /// Newton iterations run.
    pub iterations: usize,
    /// L2 penalty used.
    pub l2_penalty: f64,
    /// Share of approved examples in the training set.
    pub approval_rate: f64,
    /// Accuracy and log-loss on the training set.
    pub training: Metrics,
}

/// Number of coefficients: the intercept followed by the weights.
const P: usize = NUM_FEATURES + 1;

/// Penalised negative log-likelihood of coefficients `beta` (intercept
/// first) on standardised rows `xs` (each with a leading 1).
fn objective(xs: &[[f64; P]], ys: &[f64], beta: &[f64; P], l2: f64) -> f64 {
    let nll: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, &y)| {
            let z = dot(x, beta);
            softplus(z) - y * z
        })
        .sum();
    let penalty: f64 = beta[1..].iter().map(|b| b * b).sum();
    nll + 0.5 * l2 * penalty
}

fn dot(a: &[f64; P], b: &[f64; P]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting.
/// Returns `None` when `a` is singular.
fn solve(mut a: [[f64; P]; P], mut b: [f64; P]) -> Option<[f64; P]> {
    for col in 0..P {
        let pivot = (col..P).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..P {
            let factor = a[row][col] / a[col][col];
            if factor != 0.0 {
                let pivot_row = a[col];
                for (target, source) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                    *target -= factor * source;
                }
                b[row] -= factor * b[col];
            }
        }
    }
    let mut x = [0.0; P];
    for row in (0..P).rev() {
        let tail: f64 = a[row][row + 1..]
            .iter()
            .zip(&x[row + 1..])
            .map(|(a, x)| a * x)
            .sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

/// Fits an L2-regularised logistic regression on the standardised
/// [`FEATURES`] of `data` (label `true` = approved).
///
/// Features are standardised with the training mean and population standard
/// deviation. The objective is the negative log-likelihood plus
/// `L2_PENALTY / 2 · Σ weight²` (the intercept is not penalised). It is
/// minimised by Newton's method (equivalently, iteratively reweighted least
/// squares) from all-zero coefficients for exactly [`NEWTON_ITERATIONS`]
/// steps, halving a step while it would increase the objective, so that the
/// result is deterministic.
pub fn fit(data: &[(LoanApplication, bool)]) -> FittedModel {
    let raw: Vec<[f64; NUM_FEATURES]> = data.iter().map(|(app, _)| app.features()).collect();
    let ys: Vec<f64> = data
        .iter()
        .map(|&(_, approved)| if approved { 1.0 } else { 0.0 })
        .collect();
    let n = data.len().max(1) as f64;

    let mut means = [0.0; NUM_FEATURES];
    let mut stds = [1.0; NUM_FEATURES];
    for (j, (mean, std)) in means.iter_mut().zip(stds.iter_mut()).enumerate() {
        *mean = raw.iter().map(|x| x[j]).sum::<f64>() / n;
        let variance = raw.iter().map(|x| (x[j] - *mean).powi(2)).sum::<f64>() / n;
        if variance > 0.0 {
            *std = variance.sqrt();
        }
    }

    let xs: Vec<[f64; P]> = raw
        .iter()
        .map(|x| {
            let mut row = [1.0; P];
            for (j, value) in row[1..].iter_mut().enumerate() {
                *value = (x[j] - means[j]) / stds[j];
            }
            row
        })
        .collect();

    let l2 = L2_PENALTY;
    let mut beta = [0.0; P];
    let mut current = objective(&xs, &ys, &beta, l2);
    for _ in 0..NEWTON_ITERATIONS {
        // Gradient and Hessian of the penalised objective.
        let mut gradient = [0.0; P];
        let mut hessian = [[0.0; P]; P];
        for (x, &y) in xs.iter().zip(&ys) {
            let p = sigmoid(dot(x, &beta));
            let w = p * (1.0 - p);
            for (i, (g, h_row)) in gradient.iter_mut().zip(hessian.iter_mut()).enumerate() {
                *g += (p - y) * x[i];
                for (h, xj) in h_row.iter_mut().zip(x) {
                    *h += w * x[i] * xj;
                }
            }
        }
        for i in 1..P {
            gradient[i] += l2 * beta[i];
            hessian[i][i] += l2;
        }

        let Some(step) = solve(hessian, gradient) else {
            break;
        };
        // Damped step: halve while the objective would increase.
        let mut scale = 1.0;
        for _ in 0..30 {
            let mut candidate = beta;
            for (b, s) in candidate.iter_mut().zip(&step) {
                *b -= scale * s;
            }
            let value = objective(&xs, &ys, &candidate, l2);
            if value <= current {
                beta = candidate;
                current = value;
                break;
            }
            scale *= 0.5;
        }
    }

    let mut weights = [0.0; NUM_FEATURES];
    weights.copy_from_slice(&beta[1..]);
    let training = metrics_from_log_odds(
        xs.iter()
            .zip(data)
            .map(|(x, &(_, approved))| (dot(x, &beta), approved)),
    );
    FittedModel {
        means,
        stds,
        weights,
        intercept: beta[0],
        iterations: NEWTON_ITERATIONS,
        l2_penalty: l2,
        approval_rate: approval_rate(data),
        training,
    }
}

/// Formats a number for `coefficients.json`: rounded to 10 significant
/// digits and written in Rust's shortest round-trip decimal form, which is
/// exact and platform-independent. Non-finite values become `null`, which
/// [`LoanModel::from_json_str`] rejects.
fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return "null".to_owned();
    }
    let rounded: f64 = format!("{x:.9e}").parse().unwrap_or(x);
    if rounded == 0.0 {
        "0".to_owned() // also turns -0 into 0
    } else {
        format!("{rounded}")
    }
}

/// How the shipped coefficients are applied, recorded in the file.
const DECISION_RULE: &str =
    "approved when sigmoid(intercept + sum(weight * (x - mean) / std)) >= 0.5";

/// Renders a JSON object whose member values are already rendered, one
/// member a line, for an object that starts `indent` spaces in.
fn render_object(members: &[(&str, String)], indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let lines: Vec<String> = members
        .iter()
        .map(|(key, value)| format!("{pad}{}: {value}", json_string(key)))
        .collect();
    format!("{{\n{}\n{}}}", lines.join(",\n"), " ".repeat(indent))
}

/// Renders a JSON array of already rendered items, one item a line.
fn render_array(items: &[String], indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let lines: Vec<String> = items.iter().map(|item| format!("{pad}{item}")).collect();
    format!("[\n{}\n{}]", lines.join(",\n"), " ".repeat(indent))
}

/// Quotes a string for JSON.
fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

impl FittedModel {
    /// Serialises the model in the `coefficients.json` format, pretty-printed
    /// with a fixed key order and numbers rounded to 10 significant digits,
    /// so that the output is byte-for-byte reproducible. Ends with a newline.
    pub fn to_json_string(&self) -> String {
        let features: Vec<String> = FEATURES
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let members = [
                    ("name", json_string(spec.name)),
                    ("transform", json_string(spec.transform)),
                    ("mean", format_number(self.means[i])),
                    ("std", format_number(self.stds[i])),
                    ("weight", format_number(self.weights[i])),
                ];
                render_object(&members, 4)
            })
            .collect();
        let training = [
            (
                "data",
                json_string("synthetic, from train::generate_dataset; see docs/model.md"),
            ),
            ("n", self.training.n.to_string()),
            ("approval_rate", format_number(self.approval_rate)),
            ("l2_penalty", format_number(self.l2_penalty)),
            ("newton_iterations", self.iterations.to_string()),
            ("accuracy", format_number(self.training.accuracy)),
            ("log_loss", format_number(self.training.log_loss)),
        ];
        let root = [
            ("model", json_string("logistic_regression")),
            ("version", json_string(MODEL_VERSION)),
            ("decision", json_string(DECISION_RULE)),
            ("intercept", format_number(self.intercept)),
            ("features", render_array(&features, 2)),
            ("training", render_object(&training, 2)),
        ];
        render_object(&root, 0) + "\n"
    }

    /// The fitted coefficients as a [`LoanModel`] (unrounded).
    pub fn to_model(&self) -> LoanModel {
        LoanModel::from_parts(self.means, self.stds, self.weights, self.intercept)
    }
}
