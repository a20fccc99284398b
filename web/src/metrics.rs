//! Prometheus text exposition, hand-rolled: request counters per route and status, latency
//! histograms per query kind, login outcomes; the store's own numbers are added at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    logins: BTreeMap<&'static str, u64>,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Escapes a label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts a served request.
    pub fn request(&self, route: &str, status: u16) {
        let mut inner = self.inner.lock().expect("metrics lock");
        *inner
            .requests
            .entry((route.to_string(), status))
            .or_default() += 1;
    }

    /// Records how long a query of `kind` (`search`, `trace`, `event`, `stats`) took.
    pub fn query(&self, kind: &'static str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut inner = self.inner.lock().expect("metrics lock");
        let histogram = inner.latency.entry(kind).or_default();
        if histogram.counts.is_empty() {
            histogram.counts = vec![0; BUCKETS.len()];
        }
        for (index, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.counts[index] += 1;
            }
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    /// Counts a login attempt (`ok` or `fail`).
    pub fn login(&self, outcome: &'static str) {
        *self
            .inner
            .lock()
            .expect("metrics lock")
            .logins
            .entry(outcome)
            .or_default() += 1;
    }

    /// The exposition of the server's own counters.
    pub fn render(&self, out: &mut String) {
        let inner = self.inner.lock().expect("metrics lock");
        out.push_str(
            "# HELP tokentrail_http_requests_total HTTP requests served, by route and status.\n",
        );
        out.push_str("# TYPE tokentrail_http_requests_total counter\n");
        for ((route, status), count) in &inner.requests {
            let _ = writeln!(
                out,
                "tokentrail_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                label(route)
            );
        }
        out.push_str("# HELP tokentrail_query_duration_seconds Time to answer a query, by kind.\n");
        out.push_str("# TYPE tokentrail_query_duration_seconds histogram\n");
        for (kind, histogram) in &inner.latency {
            for (bound, count) in BUCKETS.iter().zip(&histogram.counts) {
                let _ = writeln!(
                    out,
                    "tokentrail_query_duration_seconds_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "tokentrail_query_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "tokentrail_query_duration_seconds_sum{{kind=\"{kind}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "tokentrail_query_duration_seconds_count{{kind=\"{kind}\"}} {}",
                histogram.count
            );
        }
        out.push_str("# HELP tokentrail_logins_total Login attempts, by outcome.\n");
        out.push_str("# TYPE tokentrail_logins_total counter\n");
        for (outcome, count) in &inner.logins {
            let _ = writeln!(
                out,
                "tokentrail_logins_total{{outcome=\"{outcome}\"}} {count}"
            );
        }
    }
}

/// Writes a gauge with a label per entry.
pub fn gauge(out: &mut String, name: &str, help: &str, label_name: &str, values: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (value_label, value) in values {
        if label_name.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(
                out,
                "{name}{{{label_name}=\"{}\"}} {value}",
                label(value_label)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let metrics = Metrics::default();
        metrics.request("/api/v1/search", 200);
        metrics.query("search", Duration::from_millis(30));
        metrics.query("search", Duration::from_millis(3));
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out
            .contains("tokentrail_http_requests_total{route=\"/api/v1/search\",status=\"200\"} 1"));
        assert!(out
            .contains("tokentrail_query_duration_seconds_bucket{kind=\"search\",le=\"0.005\"} 1"));
        assert!(
            out.contains("tokentrail_query_duration_seconds_bucket{kind=\"search\",le=\"0.05\"} 2")
        );
        assert!(out.contains("tokentrail_query_duration_seconds_count{kind=\"search\"} 2"));
    }
}
