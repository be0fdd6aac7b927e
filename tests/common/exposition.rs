//! The one Prometheus text-format parser of the tests, and a strict one: every page a test reads
//! (a render, a scrape, what a Pushgateway holds, a pushed body) goes through it, so a malformed
//! page fails the test that reads it, whatever that test checks.
//!
//! It follows the text format, version 0.0.4, and refuses (with the line and the reason):
//!
//! - a text that does not end with a line feed;
//! - a comment other than `# HELP name ...` and `# TYPE name type` (no exporter here writes
//!   other comments), a bad metric name, or an unknown type;
//! - a second `HELP` or `TYPE` for one name, or a `TYPE` after samples of its family;
//! - in `HELP` text, an escape other than `\\` and `\n`;
//! - a sample with a bad metric or label name, an unquoted label value, an escape other than
//!   `\\`, `\"` and `\n` in a label value, a label twice, anything but one space before the
//!   value, a value Prometheus does not accept, or anything after the value (this exporter
//!   writes no timestamps);
//! - the same series (name and label set, in any order) twice.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// One sample of the text exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed `/metrics` page.
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// `# HELP` text per metric name, as written (escapes not undone).
    pub help: BTreeMap<String, String>,
    /// `# TYPE` per metric name.
    pub types: BTreeMap<String, String>,
    /// Each sample's value by its series as written (`name{labels}` in the page's own order).
    written: HashMap<String, f64>,
}

impl Exposition {
    /// Parses the Prometheus text format strictly (see the module): a page it refuses panics
    /// with the reason and the line, so a broken exposition fails the test.
    pub fn parse(text: &str) -> Self {
        Self::try_parse(text).unwrap_or_else(|e| panic!("{e}\nin:\n{text}"))
    }

    /// Parses the Prometheus text format strictly (see the module); the first problem found,
    /// with its line, otherwise.
    pub fn try_parse(text: &str) -> Result<Self, String> {
        if !text.is_empty() && !text.ends_with('\n') {
            return Err("the text does not end with a line feed".into());
        }
        let mut out = Exposition::default();
        // Metric names with samples so far, and every series (name, sorted labels).
        let mut sampled: HashSet<String> = HashSet::new();
        let mut series: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
        // The text ends with a line feed: the last piece of the split is empty.
        for (number, line) in text.split('\n').enumerate() {
            let at = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                out.comment(rest, &sampled).map_err(|why| at(&why))?;
                continue;
            }
            let (sample, written) = parse_sample(line).map_err(|why| at(&why))?;
            let key = (
                sample.name.clone(),
                sample
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            if !series.insert(key) {
                return Err(at("the same series twice"));
            }
            sampled.insert(sample.name.clone());
            out.written.insert(written.to_owned(), sample.value);
            out.samples.push(sample);
        }
        Ok(out)
    }

    /// A `# HELP` or `# TYPE` line (`rest` follows the `#`), given the names sampled so far.
    fn comment(&mut self, rest: &str, sampled: &HashSet<String>) -> Result<(), String> {
        let rest = rest
            .strip_prefix(' ')
            .ok_or("a comment other than HELP and TYPE")?;
        let mut parts = rest.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("HELP"), Some(name), help) => {
                if !metric_name(name) {
                    return Err("bad metric name".into());
                }
                let help = help.unwrap_or("");
                if !escaped_ok(help) {
                    return Err("bad escape in HELP".into());
                }
                if self.help.insert(name.to_owned(), help.to_owned()).is_some() {
                    return Err("a second HELP for one name".into());
                }
                Ok(())
            }
            (Some("TYPE"), Some(name), Some(ty)) => {
                if !metric_name(name) {
                    return Err("bad metric name".into());
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty) {
                    return Err("unknown type".into());
                }
                let family = ["", "_bucket", "_sum", "_count"];
                if family
                    .iter()
                    .any(|suffix| sampled.contains(&format!("{name}{suffix}")))
                {
                    return Err("TYPE after samples of its family".into());
                }
                if self.types.insert(name.to_owned(), ty.to_owned()).is_some() {
                    return Err("a second TYPE for one name".into());
                }
                Ok(())
            }
            _ => Err("a comment other than HELP and TYPE".into()),
        }
    }

    /// The value of the one sample `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<_> = self.matching(name, labels).collect();
        assert!(
            found.len() <= 1,
            "{name} {labels:?} matches {} samples",
            found.len()
        );
        found.first().map(|s| s.value)
    }

    /// The value of the sample written exactly `series` (name and labels, in the page's own
    /// order: `inference_batch_size_sum{model="loan"}`).
    pub fn exact(&self, series: &str) -> Option<f64> {
        self.written.get(series).copied()
    }

    /// `inference_requests_total{model,outcome}`.
    pub fn requests(&self, model: &str, outcome: &str) -> Option<f64> {
        self.value(
            "inference_requests_total",
            &[("model", model), ("outcome", outcome)],
        )
    }

    /// `inference_predictions_total{model,label}`.
    pub fn predictions(&self, model: &str, label: &str) -> Option<f64> {
        self.value(
            "inference_predictions_total",
            &[("model", model), ("label", label)],
        )
    }

    /// The sum over every sample `name` whose labels include all of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// Samples `name` whose labels include all of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The distinct values of label `label` across samples `name`.
    pub fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }
}

/// HELP text uses only the escapes `\\` and `\n`.
fn escaped_ok(help: &str) -> bool {
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
            return false;
        }
    }
    true
}

fn metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// One sample line: the sample, and its series as written (everything before the value).
fn parse_sample(line: &str) -> Result<(Sample, &str), String> {
    let bad = || "bad sample".to_owned();
    // Byte searches: `str::find` with a pattern is slow in a debug build.
    let (name, mut rest) = match line.bytes().position(|b| b == b'{' || b == b' ') {
        Some(i) => line.split_at(i),
        None => return Err(bad()),
    };
    if !metric_name(name) {
        return Err("bad metric name".into());
    }
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.bytes().position(|b| b == b'=').ok_or_else(bad)?;
            let key = &rest[..eq];
            if !label_name(key) {
                return Err("bad label name".into());
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("unquoted label value")?;
            let mut value = String::new();
            loop {
                // Lines are split at line feeds: a raw one cannot be here.
                let at = rest
                    .bytes()
                    .position(|b| b == b'"' || b == b'\\')
                    .ok_or("unterminated label value")?;
                value.push_str(&rest[..at]);
                if rest.as_bytes()[at] == b'"' {
                    rest = &rest[at + 1..];
                    break;
                }
                value.push(match rest.as_bytes().get(at + 1) {
                    Some(b'n') => '\n',
                    Some(b'\\') => '\\',
                    Some(b'"') => '"',
                    _ => return Err("bad escape in a label value".into()),
                });
                rest = &rest[at + 2..];
            }
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err(bad());
            }
        }
    }
    let written = &line[..line.len() - rest.len()];
    let value_text = rest.strip_prefix(' ').ok_or("no space before the value")?;
    // The format allows a timestamp after the value; this exporter writes none, and this parser
    // takes one for garbage.
    let value = value(value_text).ok_or("bad value")?;
    Ok((
        Sample {
            name: name.to_owned(),
            labels,
            value,
        },
        written,
    ))
}
