//! A small, transparent loan-approval model shared by the example servers
//! and the tests.
//!
//! * [`LoanApplication`] is one request: [`LoanApplication::from_json`]
//!   validates a JSON body strictly and names the offending field in a
//!   [`FieldError`]; [`LoanApplication::to_json`] is its inverse.
//! * [`LoanModel`] is a logistic regression over ten engineered,
//!   standardised features (see [`FEATURES`]). Its coefficients are fitted
//!   offline by [`train::fit`] on a synthetic data set
//!   ([`train::generate_dataset`]) and shipped in `coefficients.json` next to
//!   this file, which [`LoanModel::load`] embeds at compile time.
//!
//! `docs/model.md` describes the features, the data, the fit and the model's
//! limits. The model is a demonstration workload for the metrics library: it
//! was fitted on synthetic data and must not be used for real lending
//! decisions.
//!
//! Include it with
//! `#[path = "../loan_model/mod.rs"] mod loan_model;` from an example server,
//! or `#[path = "../examples/loan_model/mod.rs"] mod loan_model;` from a test.
//! The model depends only on `serde_json` and std; `server`, the example servers' start-up,
//! and `serving`, how they serve and stop, also on the crate itself, tokio, hyper and
//! hyper-util.

// Every includer uses a different part of this module.
#![allow(dead_code)]

pub mod api;
pub mod server;
pub mod serving;
pub mod train;

use std::fmt;

use serde_json::{Map, Number, Value};

/// Version string of the model family implemented here; the shipped
/// coefficients must carry the same version.
pub const MODEL_VERSION: &str = "logreg-v1";

/// The two labels the model can output, in a fixed order (useful to
/// pre-register per-label metrics).
pub const LABELS: [&str; 2] = ["approved", "rejected"];

/// An application is approved when `P(approved) >= DECISION_THRESHOLD`.
pub const DECISION_THRESHOLD: f64 = 0.5;

/// Number of engineered features the model uses.
pub const NUM_FEATURES: usize = 10;

/// Dependents at or above this value are treated alike by the model
/// ("3 or more").
pub const MAX_MODEL_DEPENDENTS: u32 = 3;

/// Highest accepted income (per month, in currency units).
pub const MAX_INCOME: f64 = 1e9;
/// Highest accepted loan amount (in thousands).
pub const MAX_LOAN_AMOUNT: f64 = 1e6;
/// Longest accepted loan term in months.
pub const MAX_LOAN_TERM_MONTHS: u32 = 600;
/// Highest accepted number of dependents.
pub const MAX_DEPENDENTS: u32 = 20;

/// Name and definition of one engineered feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureSpec {
    /// Stable identifier, also used as the key in `coefficients.json`.
    pub name: &'static str,
    /// Human-readable definition of the transform.
    pub transform: &'static str,
}

/// The engineered features, in the order used by the coefficients.
pub const FEATURES: [FeatureSpec; NUM_FEATURES] = [
    FeatureSpec {
        name: "log_total_income",
        transform: "ln(1 + applicant_income + coapplicant_income)",
    },
    FeatureSpec {
        name: "log_loan_amount",
        transform: "ln(1 + loan_amount)",
    },
    FeatureSpec {
        name: "payment_to_income",
        transform: "ln(1 + (1000 * loan_amount / loan_term_months) / max(total_income, 1))",
    },
    FeatureSpec {
        name: "log_loan_term",
        transform: "ln(loan_term_months)",
    },
    FeatureSpec {
        name: "credit_history",
        transform: "1 if credit_history else 0",
    },
    FeatureSpec {
        name: "dependents",
        transform: "min(dependents, 3)",
    },
    FeatureSpec {
        name: "not_graduate",
        transform: "1 if education == not_graduate else 0",
    },
    FeatureSpec {
        name: "self_employed",
        transform: "1 if self_employed else 0",
    },
    FeatureSpec {
        name: "property_semiurban",
        transform: "1 if property_area == semiurban else 0 (baseline: urban)",
    },
    FeatureSpec {
        name: "property_rural",
        transform: "1 if property_area == rural else 0 (baseline: urban)",
    },
];

/// Highest education level of the main applicant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Education {
    /// JSON `"graduate"`.
    Graduate,
    /// JSON `"not_graduate"`.
    NotGraduate,
}

impl Education {
    /// Every variant, in declaration order.
    pub const ALL: [Education; 2] = [Education::Graduate, Education::NotGraduate];

    /// The JSON spelling of this variant.
    pub fn as_str(self) -> &'static str {
        match self {
            Education::Graduate => "graduate",
            Education::NotGraduate => "not_graduate",
        }
    }
}

/// Where the property bought with the loan lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyArea {
    /// JSON `"urban"`.
    Urban,
    /// JSON `"semiurban"`.
    Semiurban,
    /// JSON `"rural"`.
    Rural,
}

impl PropertyArea {
    /// Every variant, in declaration order.
    pub const ALL: [PropertyArea; 3] = [
        PropertyArea::Urban,
        PropertyArea::Semiurban,
        PropertyArea::Rural,
    ];

    /// The JSON spelling of this variant.
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyArea::Urban => "urban",
            PropertyArea::Semiurban => "semiurban",
            PropertyArea::Rural => "rural",
        }
    }
}

/// One loan application, as accepted by the example servers.
///
/// Incomes are monthly, in currency units; the loan amount is in thousands,
/// following the public "loan prediction" data set this model imitates.
#[derive(Debug, Clone, PartialEq)]
pub struct LoanApplication {
    /// Monthly income of the main applicant, `0..=1e9`.
    pub applicant_income: f64,
    /// Monthly income of the co-applicant (0 when there is none), `0..=1e9`.
    pub coapplicant_income: f64,
    /// Requested amount in thousands, `> 0` and `<= 1e6`.
    pub loan_amount: f64,
    /// Term of the loan in months: a whole number in `1..=600`.
    pub loan_term_months: f64,
    /// Whether the applicant's credit history meets guidelines.
    pub credit_history: bool,
    /// Number of dependents, `0..=20` as given by the client; the model
    /// treats every value of 3 or more as 3 ("3 or more").
    pub dependents: u32,
    /// Education of the main applicant.
    pub education: Education,
    /// Whether the main applicant is self-employed.
    pub self_employed: bool,
    /// Location of the property.
    pub property_area: PropertyArea,
}

/// A validation error that names the offending request field.
///
/// `field` is one of the request's field names, or `"body"` when the problem
/// concerns the body as a whole: the body is not a JSON object, or it holds
/// keys that are not fields (the unknown keys are then listed in `message`,
/// because `field` only holds static names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Name of the offending field, or `"body"`.
    pub field: &'static str,
    /// What is wrong with it, phrased to follow the field name.
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// The request fields, in the order they are validated and serialised.
pub const FIELDS: [&str; 9] = [
    "applicant_income",
    "coapplicant_income",
    "loan_amount",
    "loan_term_months",
    "credit_history",
    "dependents",
    "education",
    "self_employed",
    "property_area",
];

/// Describes the JSON type of `value` for error messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quotes and joins allowed enum spellings: `"a", "b"`.
fn quoted_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Returns the value of a required field.
fn required<'a>(
    body: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a Value, FieldError> {
    body.get(field)
        .ok_or_else(|| FieldError::new(field, "is required"))
}

/// Reads a required JSON number (not a numeric string), finite.
fn number(body: &Map<String, Value>, field: &'static str) -> Result<f64, FieldError> {
    let value = required(body, field)?;
    let number = value.as_f64().ok_or_else(|| {
        FieldError::new(
            field,
            format!("must be a JSON number, got {}", json_type(value)),
        )
    })?;
    if number.is_finite() {
        Ok(number)
    } else {
        Err(FieldError::new(field, "must be a finite number"))
    }
}

/// Reads a required JSON number holding a whole number within `min..=max`.
fn whole_number(
    body: &Map<String, Value>,
    field: &'static str,
    min: u32,
    max: u32,
) -> Result<u32, FieldError> {
    let number = number(body, field)?;
    if number.fract() != 0.0 || number < f64::from(min) || number > f64::from(max) {
        return Err(FieldError::new(
            field,
            format!("must be a whole number from {min} to {max}, got {number}"),
        ));
    }
    // In range and integral, so the conversion is exact.
    Ok(number as u32)
}

/// Reads a required JSON boolean.
fn boolean(body: &Map<String, Value>, field: &'static str) -> Result<bool, FieldError> {
    let value = required(body, field)?;
    value.as_bool().ok_or_else(|| {
        FieldError::new(
            field,
            format!(
                "must be a JSON boolean (true or false), got {}",
                json_type(value)
            ),
        )
    })
}

/// Reads a required JSON string that is one of `variants`' spellings.
fn one_of<T: Copy>(
    body: &Map<String, Value>,
    field: &'static str,
    variants: &[T],
    spell: fn(T) -> &'static str,
) -> Result<T, FieldError> {
    let value = required(body, field)?;
    let spellings: Vec<&str> = variants.iter().map(|&v| spell(v)).collect();
    let allowed = quoted_list(&spellings);
    let Some(text) = value.as_str() else {
        return Err(FieldError::new(
            field,
            format!(
                "must be a string, one of {allowed}; got {}",
                json_type(value)
            ),
        ));
    };
    variants
        .iter()
        .copied()
        .find(|&v| spell(v) == text)
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!(
                    "must be one of {allowed}; got \"{}\"",
                    text.escape_default()
                ),
            )
        })
}

/// Converts a number to JSON, as an integer when it is a whole number that
/// `f64` represents exactly, and as `null` when it is not finite.
fn number_to_json(x: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.fract() == 0.0 && x.abs() <= EXACT {
        // A whole number within 2^53 converts to i64 exactly.
        Value::Number(Number::from(x as i64))
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

impl LoanApplication {
    /// Validates a request body strictly.
    ///
    /// The body must be a JSON object holding exactly the fields of
    /// [`LoanApplication`] (see [`FIELDS`]), each required:
    ///
    /// * numbers must be JSON numbers (a numeric string is rejected) and
    ///   finite; incomes within `0..=1e9`; `loan_amount` greater than 0 and at
    ///   most `1e6`; `loan_term_months` a whole number in `1..=600`;
    ///   `dependents` a whole number in `0..=20` (`360.0` counts as whole);
    /// * `credit_history` and `self_employed` must be JSON booleans;
    /// * `education` is `"graduate"` or `"not_graduate"`, `property_area` is
    ///   `"urban"`, `"semiurban"` or `"rural"`; the message lists them.
    ///
    /// Keys that are not fields are rejected with `field == "body"`, the
    /// unknown keys named in the message. They are checked before the
    /// fields, so a misspelt key is reported as unknown rather than the
    /// intended field as missing.
    pub fn from_json(value: &Value) -> Result<Self, FieldError> {
        let Value::Object(body) = value else {
            return Err(FieldError::new(
                "body",
                format!("must be a JSON object, got {}", json_type(value)),
            ));
        };

        let mut unknown: Vec<&str> = body
            .keys()
            .map(String::as_str)
            .filter(|key| !FIELDS.contains(key))
            .collect();
        if !unknown.is_empty() {
            // Sorted so the message does not depend on the map's ordering.
            unknown.sort_unstable();
            let names = unknown
                .iter()
                .map(|key| format!("`{}`", key.escape_default()))
                .collect::<Vec<_>>()
                .join(", ");
            let noun = if unknown.len() == 1 {
                "field"
            } else {
                "fields"
            };
            return Err(FieldError::new(
                "body",
                format!(
                    "unknown {noun} {names}; allowed fields are {}",
                    FIELDS.join(", ")
                ),
            ));
        }

        let income = |field: &'static str| -> Result<f64, FieldError> {
            let x = number(body, field)?;
            if (0.0..=MAX_INCOME).contains(&x) {
                Ok(x)
            } else {
                Err(FieldError::new(
                    field,
                    format!("must be a number from 0 to 1000000000, got {x}"),
                ))
            }
        };
        let applicant_income = income("applicant_income")?;
        let coapplicant_income = income("coapplicant_income")?;

        let loan_amount = number(body, "loan_amount")?;
        if !(loan_amount > 0.0 && loan_amount <= MAX_LOAN_AMOUNT) {
            return Err(FieldError::new(
                "loan_amount",
                format!(
                    "must be a finite number greater than 0 and at most 1000000 \
                     (thousands), got {loan_amount}"
                ),
            ));
        }

        let loan_term_months = f64::from(whole_number(
            body,
            "loan_term_months",
            1,
            MAX_LOAN_TERM_MONTHS,
        )?);
        let credit_history = boolean(body, "credit_history")?;
        let dependents = whole_number(body, "dependents", 0, MAX_DEPENDENTS)?;
        let education = one_of(body, "education", &Education::ALL, Education::as_str)?;
        let self_employed = boolean(body, "self_employed")?;
        let property_area = one_of(
            body,
            "property_area",
            &PropertyArea::ALL,
            PropertyArea::as_str,
        )?;

        Ok(LoanApplication {
            applicant_income,
            coapplicant_income,
            loan_amount,
            loan_term_months,
            credit_history,
            dependents,
            education,
            self_employed,
            property_area,
        })
    }

    /// Serialises the application as a request body that
    /// [`LoanApplication::from_json`] accepts (for valid applications).
    /// Whole numbers are written as JSON integers.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        let mut put = |key: &str, value: Value| {
            body.insert(key.to_owned(), value);
        };
        put("applicant_income", number_to_json(self.applicant_income));
        put(
            "coapplicant_income",
            number_to_json(self.coapplicant_income),
        );
        put("loan_amount", number_to_json(self.loan_amount));
        put("loan_term_months", number_to_json(self.loan_term_months));
        put("credit_history", Value::Bool(self.credit_history));
        put("dependents", Value::from(self.dependents));
        put("education", Value::from(self.education.as_str()));
        put("self_employed", Value::Bool(self.self_employed));
        put("property_area", Value::from(self.property_area.as_str()));
        Value::Object(body)
    }

    /// Total monthly income of applicant and co-applicant.
    pub fn total_income(&self) -> f64 {
        self.applicant_income + self.coapplicant_income
    }

    /// Monthly repayment (ignoring interest) divided by the total monthly
    /// income, the income floored at 1 so that it never divides by zero.
    pub fn payment_to_income(&self) -> f64 {
        (1000.0 * self.loan_amount / self.loan_term_months) / self.total_income().max(1.0)
    }

    /// The raw (unstandardised) engineered features, in [`FEATURES`] order.
    pub fn features(&self) -> [f64; NUM_FEATURES] {
        let indicator = |b: bool| if b { 1.0 } else { 0.0 };
        [
            self.total_income().ln_1p(),
            self.loan_amount.ln_1p(),
            self.payment_to_income().ln_1p(),
            self.loan_term_months.ln(),
            indicator(self.credit_history),
            f64::from(self.dependents.min(MAX_MODEL_DEPENDENTS)),
            indicator(self.education == Education::NotGraduate),
            indicator(self.self_employed),
            indicator(self.property_area == PropertyArea::Semiurban),
            indicator(self.property_area == PropertyArea::Rural),
        ]
    }
}

/// The model's answer for one application.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// `"approved"` or `"rejected"` (one of [`LABELS`]).
    pub label: &'static str,
    /// Estimated probability that the application is approved, in `0..=1`.
    pub probability: f64,
}

impl Decision {
    /// The probability the model gives its own label: `probability` for `approved`,
    /// `1 - probability` for `rejected`. At least 0.5, since the threshold is 0.5.
    pub fn confidence(&self) -> f64 {
        if self.label == LABELS[0] {
            self.probability
        } else {
            1.0 - self.probability
        }
    }
}

/// Numerically stable logistic function.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// A fitted logistic regression over the standardised [`FEATURES`].
///
/// `P(approved) = sigmoid(intercept + Σ weight_i · (x_i − mean_i) / std_i)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoanModel {
    version: String,
    means: [f64; NUM_FEATURES],
    stds: [f64; NUM_FEATURES],
    weights: [f64; NUM_FEATURES],
    intercept: f64,
}

/// The coefficients shipped with the examples, written by
/// `cargo run --example train_loan_model`.
const SHIPPED_COEFFICIENTS: &str = include_str!("coefficients.json");

impl LoanModel {
    /// Loads the coefficients shipped in `coefficients.json` (embedded at
    /// compile time).
    ///
    /// # Panics
    ///
    /// Only if the shipped file is corrupt, which `tests/suite/loan_model_tests.rs`
    /// guards against.
    pub fn load() -> LoanModel {
        match LoanModel::from_json_str(SHIPPED_COEFFICIENTS) {
            Ok(model) => model,
            Err(err) => panic!("corrupt examples/loan_model/coefficients.json: {err}"),
        }
    }

    /// Parses coefficients in the `coefficients.json` format, checking that
    /// the version and the feature names match this code.
    pub fn from_json_str(text: &str) -> Result<LoanModel, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let version = root
            .get("version")
            .and_then(Value::as_str)
            .ok_or("missing string \"version\"")?;
        if version != MODEL_VERSION {
            return Err(format!(
                "version is \"{version}\", this code implements \"{MODEL_VERSION}\""
            ));
        }
        let finite = |value: Option<&Value>, what: &str| -> Result<f64, String> {
            value
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{what} must be a finite number"))
        };
        let intercept = finite(root.get("intercept"), "\"intercept\"")?;
        let features = root
            .get("features")
            .and_then(Value::as_array)
            .ok_or("missing array \"features\"")?;
        if features.len() != NUM_FEATURES {
            return Err(format!(
                "expected {NUM_FEATURES} features, found {}",
                features.len()
            ));
        }

        let mut model = LoanModel {
            version: version.to_owned(),
            means: [0.0; NUM_FEATURES],
            stds: [0.0; NUM_FEATURES],
            weights: [0.0; NUM_FEATURES],
            intercept,
        };
        for (i, (entry, spec)) in features.iter().zip(FEATURES.iter()).enumerate() {
            let name = entry.get("name").and_then(Value::as_str);
            if name != Some(spec.name) {
                return Err(format!(
                    "feature {i} should be \"{}\", found {name:?}",
                    spec.name
                ));
            }
            let what = |key: &str| format!("\"{key}\" of feature \"{}\"", spec.name);
            model.means[i] = finite(entry.get("mean"), &what("mean"))?;
            model.stds[i] = finite(entry.get("std"), &what("std"))?;
            model.weights[i] = finite(entry.get("weight"), &what("weight"))?;
            if model.stds[i] <= 0.0 {
                return Err(format!("{} must be positive", what("std")));
            }
        }
        Ok(model)
    }

    /// Builds a model from coefficients held in memory (used by
    /// [`train::FittedModel::to_model`]).
    fn from_parts(
        means: [f64; NUM_FEATURES],
        stds: [f64; NUM_FEATURES],
        weights: [f64; NUM_FEATURES],
        intercept: f64,
    ) -> LoanModel {
        LoanModel {
            version: MODEL_VERSION.to_owned(),
            means,
            stds,
            weights,
            intercept,
        }
    }

    /// The log-odds of approval for an application.
    pub fn log_odds(&self, app: &LoanApplication) -> f64 {
        let x = app.features();
        (0..NUM_FEATURES).fold(self.intercept, |z, i| {
            z + self.weights[i] * (x[i] - self.means[i]) / self.stds[i]
        })
    }

    /// Scores an application: approved when `P(approved) >= 0.5`.
    pub fn predict(&self, app: &LoanApplication) -> Decision {
        let probability = sigmoid(self.log_odds(app));
        let label = if probability >= DECISION_THRESHOLD {
            LABELS[0]
        } else {
            LABELS[1]
        };
        Decision { label, probability }
    }

    /// The model's version, e.g. `"logreg-v1"`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Weight of each standardised feature, with its name, in
    /// [`FEATURES`] order.
    pub fn weights(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        FEATURES
            .iter()
            .zip(self.weights.iter())
            .map(|(spec, &w)| (spec.name, w))
    }

    /// The intercept: the log-odds of an applicant at the feature means.
    pub fn intercept(&self) -> f64 {
        self.intercept
    }
}
