//! The loan model shipped with the examples: reproducible coefficients,
//! sensible decisions and strict request validation.

use crate::loan_model;

use loan_model::train::{self, DATASET_SEED, DATASET_SIZE};
use loan_model::{
    Education, FieldError, LoanApplication, LoanModel, PropertyArea, FEATURES, LABELS,
    MODEL_VERSION,
};
use serde_json::{json, Value};

/// The coefficients file as shipped.
const SHIPPED: &str = include_str!("../../examples/loan_model/coefficients.json");

/// Lowest acceptable training accuracy. The fit reaches about 0.83; always
/// answering "approved" scores about 0.68.
const MIN_TRAINING_ACCURACY: f64 = 0.78;

/// Highest acceptable training log-loss (about 0.42 after fitting; a model
/// that knows only the approval rate scores about 0.62).
const MAX_TRAINING_LOG_LOSS: f64 = 0.5;

fn sample() -> Value {
    json!({
        "applicant_income": 5000,
        "coapplicant_income": 1500,
        "loan_amount": 120,
        "loan_term_months": 360,
        "credit_history": true,
        "dependents": 0,
        "education": "graduate",
        "self_employed": false,
        "property_area": "urban"
    })
}

/// The sample with `field` set to `value`.
fn with(field: &str, value: Value) -> Value {
    let mut body = sample();
    body[field] = value;
    body
}

/// The sample without `field`.
fn without(field: &str) -> Value {
    let mut body = sample();
    body.as_object_mut().unwrap().remove(field);
    body
}

fn rejected(body: &Value) -> FieldError {
    match LoanApplication::from_json(body) {
        Ok(app) => panic!("{body} was accepted as {app:?}"),
        Err(err) => err,
    }
}

#[test]
fn shipped_coefficients_equal_a_fresh_fit() {
    let data = train::generate_dataset(DATASET_SIZE, DATASET_SEED);
    let fresh = train::fit(&data).to_json_string();
    assert!(
        fresh == SHIPPED,
        "examples/loan_model/coefficients.json is stale: run \
         `cargo run --example train_loan_model`\n--- fresh fit ---\n{fresh}"
    );
}

#[test]
fn data_generation_and_fit_are_deterministic() {
    let a = train::generate_dataset(50, 7);
    let b = train::generate_dataset(50, 7);
    assert_eq!(a, b);
    assert_ne!(a, train::generate_dataset(50, 8));
    assert_eq!(train::fit(&a), train::fit(&b));
}

#[test]
fn shipped_file_loads_and_matches_this_code() {
    let model = LoanModel::load();
    assert_eq!(model.version(), MODEL_VERSION);
    assert_eq!(model.version(), "logreg-v1");
    let names: Vec<&str> = model.weights().map(|(name, _)| name).collect();
    let expected: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    assert_eq!(names, expected);
}

#[test]
fn corrupt_coefficients_are_rejected_not_misread() {
    assert!(LoanModel::from_json_str("not json").is_err());
    assert!(LoanModel::from_json_str("{}").is_err());
    let wrong_version = SHIPPED.replace("\"logreg-v1\"", "\"logreg-v0\"");
    assert!(LoanModel::from_json_str(&wrong_version)
        .unwrap_err()
        .contains("version"));
    let renamed = SHIPPED.replace("\"credit_history\"", "\"credit\"");
    assert!(LoanModel::from_json_str(&renamed)
        .unwrap_err()
        .contains("credit_history"));
}

#[test]
fn training_accuracy_and_log_loss_meet_their_bounds() {
    let data = train::generate_dataset(DATASET_SIZE, DATASET_SEED);
    let fitted = train::fit(&data);
    assert_eq!(fitted.training.n, DATASET_SIZE);
    assert!(
        fitted.training.accuracy > MIN_TRAINING_ACCURACY,
        "training accuracy {}",
        fitted.training.accuracy
    );
    assert!(
        fitted.training.log_loss < MAX_TRAINING_LOG_LOSS,
        "training log-loss {}",
        fitted.training.log_loss
    );

    // The shipped (rounded) coefficients score the same as the fit.
    let shipped = train::evaluate(&LoanModel::load(), &data);
    assert!((shipped.accuracy - fitted.training.accuracy).abs() < 1e-9);
    assert!((shipped.log_loss - fitted.training.log_loss).abs() < 1e-6);

    // And it generalises to fresh applicants from the same process.
    let holdout = train::generate_dataset(train::HOLDOUT_SIZE, train::HOLDOUT_SEED);
    let held_out = train::evaluate(&LoanModel::load(), &holdout);
    assert!(
        held_out.accuracy > MIN_TRAINING_ACCURACY,
        "held-out accuracy {}",
        held_out.accuracy
    );
}

#[test]
fn synthetic_data_resembles_the_public_data_set() {
    let data = train::generate_dataset(DATASET_SIZE, DATASET_SEED);
    assert_eq!(data.len(), DATASET_SIZE);
    let rate = train::approval_rate(&data);
    assert!((0.64..=0.74).contains(&rate), "approval rate {rate}");
    for (app, _) in &data {
        // Every generated application is a valid request.
        assert_eq!(LoanApplication::from_json(&app.to_json()).as_ref(), Ok(app));
    }
    // Credit history is the strongest signal.
    let model = LoanModel::load();
    let strongest = model
        .weights()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .unwrap();
    assert_eq!(strongest.0, "credit_history");
    assert!(strongest.1 > 0.0);
}

#[test]
fn clearly_good_applicant_is_approved() {
    let app = LoanApplication {
        applicant_income: 9000.0,
        coapplicant_income: 3000.0,
        loan_amount: 100.0,
        loan_term_months: 360.0,
        credit_history: true,
        dependents: 0,
        education: Education::Graduate,
        self_employed: false,
        property_area: PropertyArea::Semiurban,
    };
    let decision = LoanModel::load().predict(&app);
    assert_eq!(decision.label, "approved");
    assert!(
        decision.probability > 0.8 && decision.probability < 1.0,
        "{decision:?}"
    );
}

#[test]
fn clearly_bad_applicant_is_rejected() {
    let app = LoanApplication {
        applicant_income: 2000.0,
        coapplicant_income: 0.0,
        loan_amount: 700.0,
        loan_term_months: 120.0,
        credit_history: false,
        dependents: 3,
        education: Education::NotGraduate,
        self_employed: true,
        property_area: PropertyArea::Rural,
    };
    let decision = LoanModel::load().predict(&app);
    assert_eq!(decision.label, "rejected");
    assert!(
        decision.probability > 0.0 && decision.probability < 0.1,
        "{decision:?}"
    );
}

#[test]
fn sample_request_gets_a_decision_with_a_probability_in_range() {
    let app = LoanApplication::from_json(&sample()).unwrap();
    let decision = LoanModel::load().predict(&app);
    assert!(LABELS.contains(&decision.label));
    assert!(decision.probability > 0.0 && decision.probability < 1.0);
    assert_eq!(
        decision.label == "approved",
        decision.probability >= 0.5,
        "{decision:?}"
    );
    // The sample has a good credit history and a small loan.
    assert_eq!(decision.label, "approved");
}

#[test]
fn extreme_but_valid_requests_are_scored() {
    let model = LoanModel::load();
    let mut app = LoanApplication::from_json(&sample()).unwrap();
    app.applicant_income = 0.0;
    app.coapplicant_income = 0.0;
    app.loan_amount = 1e6;
    app.loan_term_months = 1.0;
    app.dependents = 20;
    let decision = model.predict(&app);
    assert_eq!(decision.label, "rejected");
    assert!((0.0..=1.0).contains(&decision.probability));

    app.applicant_income = 1e9;
    app.coapplicant_income = 1e9;
    app.loan_amount = 1.0;
    app.loan_term_months = 600.0;
    let decision = model.predict(&app);
    assert!((0.0..=1.0).contains(&decision.probability));
}

#[test]
fn sample_request_is_accepted() {
    let app = LoanApplication::from_json(&sample()).unwrap();
    assert_eq!(
        app,
        LoanApplication {
            applicant_income: 5000.0,
            coapplicant_income: 1500.0,
            loan_amount: 120.0,
            loan_term_months: 360.0,
            credit_history: true,
            dependents: 0,
            education: Education::Graduate,
            self_employed: false,
            property_area: PropertyArea::Urban,
        }
    );
}

#[test]
fn to_json_round_trips() {
    let app = LoanApplication::from_json(&sample()).unwrap();
    assert_eq!(app.to_json(), sample());

    let other = LoanApplication {
        applicant_income: 4321.5,
        coapplicant_income: 0.0,
        loan_amount: 0.25,
        loan_term_months: 84.0,
        credit_history: false,
        dependents: 7,
        education: Education::NotGraduate,
        self_employed: true,
        property_area: PropertyArea::Semiurban,
    };
    let body = other.to_json();
    assert_eq!(body["education"], "not_graduate");
    assert_eq!(body["property_area"], "semiurban");
    assert_eq!(LoanApplication::from_json(&body), Ok(other));
    // Through text too, as a client would send it.
    let text = body.to_string();
    let reparsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        LoanApplication::from_json(&reparsed).unwrap().to_json(),
        body
    );
}

#[test]
fn every_missing_field_is_named() {
    for field in loan_model::FIELDS {
        let err = rejected(&without(field));
        assert_eq!(err.field, field);
        assert_eq!(err.message, "is required");
        assert_eq!(err.to_string(), format!("`{field}`: is required"));
    }
}

#[test]
fn numeric_strings_are_rejected() {
    let err = rejected(&with("loan_amount", json!("120")));
    assert_eq!(err.field, "loan_amount");
    assert!(err.message.contains("JSON number"), "{err}");
    assert!(err.message.contains("string"), "{err}");

    let err = rejected(&with("applicant_income", json!("5000")));
    assert_eq!(err.field, "applicant_income");
    let err = rejected(&with("dependents", Value::Null));
    assert_eq!(err.field, "dependents");
    assert!(err.message.contains("null"), "{err}");
}

#[test]
fn booleans_must_be_json_booleans() {
    for bad in [json!(1), json!("true"), Value::Null] {
        let err = rejected(&with("credit_history", bad));
        assert_eq!(err.field, "credit_history");
        assert!(err.message.contains("boolean"), "{err}");
    }
    assert_eq!(
        rejected(&with("self_employed", json!(0))).field,
        "self_employed"
    );
}

#[test]
fn out_of_range_numbers_are_rejected() {
    let cases = [
        ("loan_amount", json!(-5)),
        ("loan_amount", json!(0)),
        ("loan_amount", json!(1e6 + 1.0)),
        ("loan_amount", json!(1e300)),
        ("applicant_income", json!(-1)),
        ("applicant_income", json!(2e9)),
        ("coapplicant_income", json!(-0.5)),
        ("loan_term_months", json!(0)),
        ("loan_term_months", json!(601)),
        ("loan_term_months", json!(360.5)),
        ("dependents", json!(-1)),
        ("dependents", json!(21)),
        ("dependents", json!(1.5)),
    ];
    for (field, value) in cases {
        let err = rejected(&with(field, value.clone()));
        assert_eq!(err.field, field, "{field} = {value}: {err}");
    }
    let err = rejected(&with("loan_amount", json!(-5)));
    assert_eq!(
        err.to_string(),
        "`loan_amount`: must be a finite number greater than 0 and at most 1000000 \
         (thousands), got -5"
    );
}

#[test]
fn boundary_values_are_accepted() {
    let cases = [
        ("applicant_income", json!(0)),
        ("applicant_income", json!(1e9)),
        ("loan_amount", json!(1e6)),
        ("loan_amount", json!(0.001)),
        ("loan_term_months", json!(1)),
        ("loan_term_months", json!(600)),
        ("loan_term_months", json!(360.0)),
        ("dependents", json!(20)),
    ];
    for (field, value) in cases {
        assert!(
            LoanApplication::from_json(&with(field, value.clone())).is_ok(),
            "{field} = {value}"
        );
    }
    // Dependents above 3 are kept as sent; the model treats them as 3.
    let many = LoanApplication::from_json(&with("dependents", json!(7))).unwrap();
    let three = LoanApplication::from_json(&with("dependents", json!(3))).unwrap();
    assert_eq!(many.dependents, 7);
    let model = LoanModel::load();
    assert_eq!(model.predict(&many), model.predict(&three));
}

#[test]
fn unknown_enum_values_list_the_allowed_ones() {
    let err = rejected(&with("education", json!("phd")));
    assert_eq!(err.field, "education");
    assert!(
        err.message.contains("\"graduate\", \"not_graduate\""),
        "{err}"
    );
    assert!(err.message.contains("phd"), "{err}");

    let err = rejected(&with("property_area", json!("Urban")));
    assert_eq!(err.field, "property_area");
    assert!(
        err.message.contains("\"urban\", \"semiurban\", \"rural\""),
        "{err}"
    );

    let err = rejected(&with("property_area", json!(1)));
    assert_eq!(err.field, "property_area");
    assert!(err.message.contains("\"rural\""), "{err}");
}

#[test]
fn non_object_bodies_are_rejected() {
    for body in [
        json!([1, 2]),
        json!("loan"),
        json!(42),
        Value::Null,
        json!(true),
    ] {
        let err = rejected(&body);
        assert_eq!(err.field, "body");
        assert!(err.message.contains("JSON object"), "{err}");
    }
}

#[test]
fn unknown_fields_are_rejected_by_name() {
    let err = rejected(&with("gender", json!("male")));
    assert_eq!(err.field, "body");
    assert!(err.message.contains("unknown field `gender`"), "{err}");

    // A misspelt field is reported as unknown, not the real one as missing.
    let mut body = without("loan_amount");
    body["loan_amt"] = json!(120);
    body["married"] = json!(true);
    let err = rejected(&body);
    assert_eq!(err.field, "body");
    assert!(
        err.message.contains("unknown fields `loan_amt`, `married`"),
        "{err}"
    );
}

#[test]
fn field_error_is_a_std_error() {
    let err: Box<dyn std::error::Error> = Box::new(rejected(&without("education")));
    assert_eq!(err.to_string(), "`education`: is required");
}
