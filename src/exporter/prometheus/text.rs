//! The text exposition format: its content type, how it writes numbers, and how label values
//! and HELP texts are escaped (for the histograms this crate renders itself, and to correct
//! the escaping of metrics-exporter-prometheus for the series it renders).

use metrics::{Key, Label};

/// The `Content-Type` of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A float as the text format writes it (`+Inf`, `-Inf`, `NaN`).
pub(crate) struct Number(pub(crate) f64);

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            v if v == f64::INFINITY => f.write_str("+Inf"),
            v if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
}

/// A label value escaped for the text format: backslash, double quote and line feed.
pub(crate) fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A HELP text escaped for the text format: backslash and line feed.
pub(crate) fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

/// metrics-exporter-prometheus (0.18) reads a backslash before a backslash, a double quote or a
/// line feed in a label value as an escape already made, and drops it: the values `a\\b` and
/// `a\b` render the same, so one scrape holds duplicate series. Doubling every backslash first
/// makes its escaping come out right. `None` when no label value has a backslash (the usual
/// case: nothing is copied).
pub(crate) fn escaped_backslashes(key: &Key) -> Option<Key> {
    if !key.labels().any(|l| l.value().contains('\\')) {
        return None;
    }
    let labels: Vec<Label> = key
        .labels()
        .map(|l| Label::new(l.key().to_owned(), double_backslashes(l.value())))
        .collect();
    Some(Key::from_parts(key.name().to_owned(), labels))
}

/// `value` with every backslash doubled, for metrics-exporter-prometheus's label escaping.
pub(crate) fn double_backslashes(value: &str) -> String {
    value.replace('\\', "\\\\")
}
