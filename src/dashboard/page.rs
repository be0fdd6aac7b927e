//! The dashboard's one HTML page, assembled from the files under `assets/dashboard/`: the
//! markup, the stylesheets and the scripts are all inline, so the page needs nothing but the
//! metrics endpoint it polls.

use std::fmt::Write as _;

/// The version of the vendored uPlot (`assets/dashboard/vendor/uplot/`).
pub(crate) const UPLOT_VERSION: &str = "1.6.32";

const UPLOT_JS: &str = include_str!("../../assets/dashboard/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/dashboard/vendor/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../../assets/dashboard/vendor/uplot/LICENSE");
const CSS: &str = include_str!("../../assets/dashboard/dashboard.css");
const BODY: &str = include_str!("../../assets/dashboard/body.html");
const CORE_JS: &str = include_str!("../../assets/dashboard/core.js");
const APP_JS: &str = include_str!("../../assets/dashboard/app.js");

/// The page's inline scripts, in order.
const SCRIPTS: [&str; 3] = [UPLOT_JS, CORE_JS, APP_JS];

/// The page's `Content-Security-Policy`, with the hashes of [`SCRIPTS`].
pub(crate) fn content_security_policy() -> String {
    super::csp::policy(&SCRIPTS)
}

/// What the page's script reads from the `<body>`'s `data-*` attributes.
pub(crate) struct PageConfig<'a> {
    pub metrics_path: &'a str,
    pub refresh_ms: u128,
    pub history_ms: u128,
    pub window_ms: u128,
    pub names: &'a crate::MetricNames,
}

/// The whole page for `config`.
pub(crate) fn render(config: &PageConfig<'_>) -> String {
    let mut page = String::with_capacity(
        UPLOT_JS.len()
            + UPLOT_CSS.len()
            + CSS.len()
            + BODY.len()
            + CORE_JS.len()
            + APP_JS.len()
            + 4096,
    );
    page.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    page.push_str("<title>Inference monitor: live dashboard</title>\n");
    page.push_str("<style>\n");
    page.push_str(UPLOT_CSS);
    page.push_str("\n</style>\n<style>\n");
    page.push_str(CSS);
    page.push_str("</style>\n</head>\n<body");
    let attributes = [
        ("metrics-path", config.metrics_path.to_owned()),
        ("refresh-ms", config.refresh_ms.to_string()),
        ("history-ms", config.history_ms.to_string()),
        ("window-ms", config.window_ms.to_string()),
        ("requests", config.names.requests_total.to_string()),
        ("latency", config.names.request_latency_seconds.to_string()),
        ("predictions", config.names.predictions_total.to_string()),
        ("in-progress", config.names.inprogress_requests.to_string()),
    ];
    for (name, value) in attributes {
        let _ = write!(page, " data-{name}=\"{}\"", escape_attribute(&value));
    }
    page.push_str(">\n");
    page.push_str(BODY);
    let _ = write!(
        page,
        "<!-- uPlot {UPLOT_VERSION}, https://github.com/leeoniya/uPlot\n{} -->\n",
        UPLOT_LICENSE.replace("--", "- -")
    );
    // Exactly the text of `SCRIPTS` between the tags: the policy allows them by their hash.
    for script in SCRIPTS {
        page.push_str("<script>");
        page.push_str(script);
        page.push_str("</script>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// `value` safe inside a double-quoted HTML attribute: the metrics path and names come from
/// configuration, and a `"` or `<` left as it is would end the attribute and start markup.
fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_escaped() {
        assert_eq!(
            escape_attribute(r#"/m"><script>'&"#),
            "/m&quot;&gt;&lt;script&gt;&#39;&amp;"
        );
    }

    #[test]
    fn no_embedded_file_ends_a_script_or_a_style_early() {
        for script in SCRIPTS {
            assert!(!script.to_ascii_lowercase().contains("</script"));
        }
        for style in [UPLOT_CSS, CSS] {
            assert!(!style.to_ascii_lowercase().contains("</style"));
        }
    }

    #[test]
    fn the_page_carries_its_configuration_and_every_asset() {
        let names = crate::MetricNames::with_prefix("llm");
        let page = render(&PageConfig {
            metrics_path: "/internal/metrics",
            refresh_ms: 2000,
            history_ms: 600_000,
            window_ms: 10_000,
            names: &names,
        });
        assert!(page.starts_with("<!doctype html>"));
        for expected in [
            " data-metrics-path=\"/internal/metrics\"",
            " data-refresh-ms=\"2000\"",
            " data-history-ms=\"600000\"",
            " data-window-ms=\"10000\"",
            " data-requests=\"llm_inference_requests_total\"",
            " data-latency=\"llm_inference_request_latency_seconds\"",
            " data-predictions=\"llm_inference_predictions_total\"",
            " data-in-progress=\"llm_inference_inprogress_requests\"",
            "data-testid=\"total-requests\"",
            "uPlot 1.6.32",
        ] {
            assert!(page.contains(expected), "{expected}");
        }
        for asset in [UPLOT_JS, UPLOT_CSS, CSS, BODY, CORE_JS, APP_JS] {
            assert!(page.contains(asset));
        }
        // Each script element holds exactly one of the hashed scripts.
        assert_eq!(page.matches("<script>").count(), 3);
        for script in SCRIPTS {
            assert!(page.contains(&format!("<script>{script}</script>")));
        }
        // Nothing is fetched from anywhere but the metrics endpoint.
        assert!(!page.contains("<script src") && !page.contains("<link"));
    }
}
