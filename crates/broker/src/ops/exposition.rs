//! Which text format `/metrics` answers in, and the Prometheus text format 0.0.4 itself.
//!
//! `prometheus-client` writes only OpenMetrics text. Prometheus's own linter (`promtool check
//! metrics`) and older scrapers read the Prometheus text format, whose HELP and TYPE lines name
//! a counter's sample (`…_total`) rather than its family and which has no `# UNIT` or `# EOF`.
//! [`prometheus_text`] writes that format from the crate's structured encoding (Prometheus's
//! data model: families, metrics, label pairs, buckets), not by rewriting the OpenMetrics text.

use std::fmt::Write;

use crate::metrics::model::{LabelPair, Metric, MetricFamily, MetricType};

/// The Prometheus text format's `Content-Type`.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4: the default, and for `Accept: text/plain`.
    Prometheus,
    /// OpenMetrics 1.0.0 text, for `Accept: application/openmetrics-text`.
    OpenMetrics,
}

/// Picks the format for an `Accept` header: OpenMetrics only when the client names it (version
/// 1.0.0 or none) with a higher or equal quality than any text/plain or wildcard it also names;
/// otherwise the Prometheus text format, also for headers naming neither (its fallback role).
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Prometheus;
    };
    let (mut openmetrics, mut text) = (0.0_f64, 0.0_f64);
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let (mut q, mut version) = (1.0_f64, None);
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                // A quality that does not parse counts as 0: that range is not wanted.
                "q" => {
                    q = value
                        .parse::<f64>()
                        .ok()
                        .filter(|q| q.is_finite())
                        .unwrap_or(0.0)
                }
                "version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        match media.as_str() {
            "application/openmetrics-text"
                if matches!(version.as_deref(), None | Some("1.0.0")) =>
            {
                openmetrics = openmetrics.max(q)
            }
            "text/plain" if matches!(version.as_deref(), None | Some("0.0.4")) => {
                text = text.max(q)
            }
            "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    if openmetrics > 0.0 && openmetrics >= text {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    }
}

/// The families in the Prometheus text format 0.0.4. Families without a series are left out,
/// as the OpenMetrics encoder leaves them out.
pub fn prometheus_text(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for family in families.iter().filter(|f| !f.metric.is_empty()) {
        let name = &family.name;
        let kind = match family.r#type() {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped | MetricType::GaugeHistogram => "untyped",
        };
        let _ = writeln!(out, "# HELP {name} {}", escape(&family.help, false));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for metric in &family.metric {
            write_metric(&mut out, name, metric);
        }
    }
    out
}

fn write_metric(out: &mut String, name: &str, m: &Metric) {
    if let Some(c) = &m.counter {
        sample(out, name, &m.label, None, c.value);
    } else if let Some(g) = &m.gauge {
        sample(out, name, &m.label, None, g.value);
    } else if let Some(u) = &m.untyped {
        sample(out, name, &m.label, None, u.value);
    } else if let Some(h) = &m.histogram {
        let bucket = format!("{name}_bucket");
        let mut has_inf = false;
        for b in &h.bucket {
            // The client library closes the buckets with +Inf (f64::MAX in native histograms).
            has_inf |= b.upper_bound == f64::INFINITY || b.upper_bound == f64::MAX;
            let le = number(b.upper_bound);
            sample(out, &bucket, &m.label, Some(&le), b.cumulative_count as f64);
        }
        if !has_inf {
            sample(out, &bucket, &m.label, Some("+Inf"), h.sample_count as f64);
        }
        sample(out, &format!("{name}_sum"), &m.label, None, h.sample_sum);
        sample(
            out,
            &format!("{name}_count"),
            &m.label,
            None,
            h.sample_count as f64,
        );
    } else if let Some(s) = &m.summary {
        for q in &s.quantile {
            let labels = [LabelPair {
                name: "quantile".into(),
                value: number(q.quantile),
            }];
            let all: Vec<LabelPair> = m.label.iter().cloned().chain(labels).collect();
            sample(out, name, &all, None, q.value);
        }
        sample(out, &format!("{name}_sum"), &m.label, None, s.sample_sum);
        sample(
            out,
            &format!("{name}_count"),
            &m.label,
            None,
            s.sample_count as f64,
        );
    }
}

fn sample(out: &mut String, name: &str, labels: &[LabelPair], le: Option<&str>, value: f64) {
    out.push_str(name);
    // `le` first, where the OpenMetrics encoder puts it, so a series reads alike in both.
    let le = le.map(|le| ("le", le.to_owned()));
    let pairs = le.into_iter().chain(
        labels
            .iter()
            .map(|l| (l.name.as_str(), escape(&l.value, true))),
    );
    let mut first = true;
    for (key, value) in pairs {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{key}=\"{value}\"");
    }
    if !first {
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

/// Escapes a HELP text (backslash, newline) or a label value (also the double quote).
fn escape(text: &str, quote: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// A sample value or bucket bound: `+Inf`, `-Inf`, `NaN`, and whole numbers with `.0`, as the
/// OpenMetrics encoder writes them, so a bucket's `le` is the same string in both formats.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY || v == f64::MAX {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::model::{Bucket, Counter, Gauge, Histogram};

    #[test]
    fn the_accept_header_picks_the_format() {
        use Format::*;
        for (accept, want) in [
            (None, Prometheus),
            (Some(""), Prometheus),
            (Some("*/*"), Prometheus),
            (Some("text/plain"), Prometheus),
            (Some("text/plain; version=0.0.4"), Prometheus),
            (Some("application/json"), Prometheus),
            (Some("application/openmetrics-text"), OpenMetrics),
            (Some("application/openmetrics-text; version=1.0.0"), OpenMetrics),
            (Some("Application/OpenMetrics-Text;version=\"1.0.0\""), OpenMetrics),
            // What Prometheus 2.42 sends when it scrapes.
            (
                Some("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                OpenMetrics,
            ),
            (Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"), Prometheus),
            (Some("application/openmetrics-text;q=0"), Prometheus),
            (Some("application/openmetrics-text;q=zero"), Prometheus),
            // A version this server does not write.
            (Some("application/openmetrics-text; version=0.0.1"), Prometheus),
        ] {
            assert_eq!(negotiate(accept), want, "{accept:?}");
        }
    }

    fn family(name: &str, kind: MetricType, help: &str, metric: Vec<Metric>) -> MetricFamily {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            r#type: kind as i32,
            metric,
            ..Default::default()
        }
    }

    fn label(name: &str, value: &str) -> LabelPair {
        LabelPair {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn counters_gauges_and_histograms_are_written_in_the_prometheus_text_format() {
        let counter = Metric {
            label: vec![label("reason", "stale")],
            counter: Some(Counter {
                value: 3.0,
                ..Default::default()
            }),
            ..Default::default()
        };
        let gauge = Metric {
            gauge: Some(Gauge { value: 2.5 }),
            ..Default::default()
        };
        let bucket = |ub: f64, n: u64| Bucket {
            upper_bound: ub,
            cumulative_count: n,
            ..Default::default()
        };
        let histogram = Metric {
            label: vec![label("recipient", "polisen")],
            histogram: Some(Histogram {
                sample_count: 3,
                sample_sum: 4048.0,
                bucket: vec![bucket(1.0, 0), bucket(0.5e-3, 1), bucket(f64::INFINITY, 3)],
                ..Default::default()
            }),
            ..Default::default()
        };
        let families = [
            family(
                "varsel_refused_total",
                MetricType::Counter,
                "Refused, by reason",
                vec![counter],
            ),
            family(
                "varsel_outbox_oldest_seconds",
                MetricType::Gauge,
                "Age",
                vec![gauge],
            ),
            family("varsel_empty", MetricType::Gauge, "Nothing yet", vec![]),
            family(
                "varsel_t_seconds",
                MetricType::Histogram,
                "Time",
                vec![histogram],
            ),
        ];
        assert_eq!(
            prometheus_text(&families),
            "# HELP varsel_refused_total Refused, by reason\n\
             # TYPE varsel_refused_total counter\n\
             varsel_refused_total{reason=\"stale\"} 3.0\n\
             # HELP varsel_outbox_oldest_seconds Age\n\
             # TYPE varsel_outbox_oldest_seconds gauge\n\
             varsel_outbox_oldest_seconds 2.5\n\
             # HELP varsel_t_seconds Time\n\
             # TYPE varsel_t_seconds histogram\n\
             varsel_t_seconds_bucket{le=\"1.0\",recipient=\"polisen\"} 0.0\n\
             varsel_t_seconds_bucket{le=\"0.0005\",recipient=\"polisen\"} 1.0\n\
             varsel_t_seconds_bucket{le=\"+Inf\",recipient=\"polisen\"} 3.0\n\
             varsel_t_seconds_sum{recipient=\"polisen\"} 4048.0\n\
             varsel_t_seconds_count{recipient=\"polisen\"} 3.0\n"
        );
    }

    #[test]
    fn a_histogram_without_an_inf_bucket_gets_one_from_its_count() {
        let histogram = Metric {
            histogram: Some(Histogram {
                sample_count: 2,
                sample_sum: 1.5,
                bucket: vec![Bucket {
                    upper_bound: 1.0,
                    cumulative_count: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = prometheus_text(&[family("h", MetricType::Histogram, "h", vec![histogram])]);
        assert!(text.contains("h_bucket{le=\"+Inf\"} 2.0\n"), "{text}");
    }

    #[test]
    fn help_and_label_values_are_escaped() {
        let gauge = Metric {
            label: vec![label("action", "a \"quoted\" back\\slash\nnewline")],
            gauge: Some(Gauge { value: f64::NAN }),
            ..Default::default()
        };
        let text = prometheus_text(&[family(
            "g",
            MetricType::Gauge,
            "two\nlines \\ \"q\"",
            vec![gauge],
        )]);
        assert_eq!(
            text,
            "# HELP g two\\nlines \\\\ \"q\"\n# TYPE g gauge\n\
             g{action=\"a \\\"quoted\\\" back\\\\slash\\nnewline\"} NaN\n"
        );
    }

    #[test]
    fn the_broker_metrics_keep_their_series_in_both_formats() {
        // Every sample of the OpenMetrics text appears in the Prometheus text with the same
        // name, labels and value (timestamps and exemplars aside, which varsel does not use).
        let m = crate::metrics::Metrics::new();
        let polisen = "polisen".parse().unwrap();
        m.observe_time_to_ack(&polisen, std::time::Duration::from_secs(42));
        m.escalation_step("page_ops", varsel_protocol::message::Status::Actual);
        // Counters are integers in OpenMetrics and floats in Prometheus's data model: compare
        // the values as numbers.
        let samples = |text: &str| -> std::collections::BTreeMap<String, f64> {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| {
                    let (series, value) = l.rsplit_once(' ').expect("a sample line");
                    (series.to_owned(), value.parse::<f64>().expect("a number"))
                })
                .collect()
        };
        let openmetrics = samples(&m.render());
        let prometheus = samples(&prometheus_text(&m.families()));
        assert!(openmetrics.len() > 50, "{openmetrics:?}");
        assert_eq!(openmetrics, prometheus);
    }
}
