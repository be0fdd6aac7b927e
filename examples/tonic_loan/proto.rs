//! The `loan.Loan` gRPC service's messages, written by hand with prost's derive (no `.proto`
//! file and no `protoc` at build time). The equivalent `.proto`:
//!
//! ```proto
//! syntax = "proto3";
//! package loan;
//!
//! service Loan {
//!   rpc Predict(Application) returns (Prediction);
//! }
//!
//! message Application {
//!   double applicant_income = 1;
//!   double coapplicant_income = 2;
//!   double loan_amount = 3;
//!   uint32 loan_term_months = 4;
//!   bool credit_history = 5;
//!   uint32 dependents = 6;
//!   string education = 7;      // "graduate" or "not_graduate"
//!   bool self_employed = 8;
//!   string property_area = 9;  // "urban", "semiurban" or "rural"
//! }
//!
//! message Prediction {
//!   string label = 1;          // "approved" or "rejected"
//!   double probability = 2;    // P(approved)
//!   string model_version = 3;
//! }
//! ```
//!
//! Shared by `examples/tonic_loan/main.rs` and `tests/suite/tonic_loan.rs`.

// Each includer uses a different part of this module.
#![allow(dead_code)]

/// The path of the `Predict` method: `/<package>.<service>/<method>`.
pub const PREDICT_PATH: &str = "/loan.Loan/Predict";

/// One loan application; the fields mean what they mean in the JSON API (`docs/model.md`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Application {
    /// Monthly income of the main applicant.
    #[prost(double, tag = "1")]
    pub applicant_income: f64,
    /// Monthly income of the co-applicant (0 when there is none).
    #[prost(double, tag = "2")]
    pub coapplicant_income: f64,
    /// Requested amount, in thousands.
    #[prost(double, tag = "3")]
    pub loan_amount: f64,
    /// Term of the loan in months.
    #[prost(uint32, tag = "4")]
    pub loan_term_months: u32,
    /// Whether the applicant's credit history meets guidelines.
    #[prost(bool, tag = "5")]
    pub credit_history: bool,
    /// Number of dependents.
    #[prost(uint32, tag = "6")]
    pub dependents: u32,
    /// `graduate` or `not_graduate`.
    #[prost(string, tag = "7")]
    pub education: String,
    /// Whether the main applicant is self-employed.
    #[prost(bool, tag = "8")]
    pub self_employed: bool,
    /// `urban`, `semiurban` or `rural`.
    #[prost(string, tag = "9")]
    pub property_area: String,
}

/// The model's answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Prediction {
    /// `approved` or `rejected`.
    #[prost(string, tag = "1")]
    pub label: String,
    /// Estimated probability that the application is approved.
    #[prost(double, tag = "2")]
    pub probability: f64,
    /// The version of the model that answered.
    #[prost(string, tag = "3")]
    pub model_version: String,
}
