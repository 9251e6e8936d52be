//! The report as the readable table `varsel bench` prints.

use super::report::{Phase, Report, System};

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) => format!("{v:.digits$}"),
        None => "-".into(),
    }
}

/// One row of the table: label, paced (or saturation), the figure, decimals, the ratio.
type Row<'a> = (&'a str, bool, &'a dyn Fn(&Phase) -> f64, usize, Option<f64>);

/// The report as a readable table.
pub fn table(r: &Report) -> String {
    let s = &r.settings;
    let mut out = format!(
        "varsel bench: {} alerts at saturation, {} paced at {}/s, {} recipients each, {} schools, \
         suite {}, store {}, prefetch {}, alert {} bytes\nmachine: {} CPUs ({}), Linux {}, RabbitMQ {}\n\n",
        s.alerts,
        s.paced_alerts,
        s.rate,
        s.recipients,
        s.schools,
        if s.suite.starts_with("X-WING") { "X-Wing" } else { "X25519" },
        s.store,
        s.prefetch,
        s.alert_bytes,
        r.machine.cpus,
        r.machine.cpu_model,
        r.machine.kernel,
        r.machine.rabbitmq,
    );
    let get = |sys: Option<&System>, paced: bool, f: &dyn Fn(&Phase) -> f64| {
        sys.and_then(|x| {
            if paced {
                x.paced.as_ref()
            } else {
                x.saturation.as_ref()
            }
        })
        .map(f)
    };
    let (rl, vs) = (r.relay.as_ref(), r.varsel.as_ref());
    let rows: Vec<Row> = vec![
        (
            "paced: latency p50 (ms)",
            true,
            &|p| p.latency.p50_ms,
            1,
            r.ratios.paced_p50,
        ),
        (
            "paced: latency p99 (ms)",
            true,
            &|p| p.latency.p99_ms,
            1,
            r.ratios.paced_p99,
        ),
        (
            "paced: latency max (ms)",
            true,
            &|p| p.latency.max_ms,
            1,
            r.ratios.paced_max,
        ),
        (
            "paced: CPU per alert (ms)",
            true,
            &|p| p.cpu_ms_per_alert,
            3,
            None,
        ),
        (
            "saturation: alerts/s",
            false,
            &|p| p.alerts_per_s,
            0,
            r.ratios.saturation_throughput,
        ),
        (
            "saturation: messages/s",
            false,
            &|p| p.messages_per_s,
            0,
            None,
        ),
        (
            "saturation: latency p50 (ms)",
            false,
            &|p| p.latency.p50_ms,
            1,
            r.ratios.saturation_p50,
        ),
        (
            "saturation: latency p99 (ms)",
            false,
            &|p| p.latency.p99_ms,
            1,
            r.ratios.saturation_p99,
        ),
        (
            "saturation: latency max (ms)",
            false,
            &|p| p.latency.max_ms,
            1,
            r.ratios.saturation_max,
        ),
        (
            "saturation: CPU per alert (ms)",
            false,
            &|p| p.cpu_ms_per_alert,
            3,
            r.ratios.cpu_per_alert,
        ),
        (
            "saturation: load generators' CPU (s)",
            false,
            &|p| p.load_cpu_s,
            1,
            None,
        ),
    ];
    out.push_str(&format!(
        "{:<38} {:>12} {:>12} {:>14}\n",
        "figure", "relay", "varsel", "varsel/relay"
    ));
    for (label, paced, f, digits, ratio) in rows {
        out.push_str(&format!(
            "{:<38} {:>12} {:>12} {:>14}\n",
            label,
            num(get(rl, paced, f), digits),
            num(get(vs, paced, f), digits),
            num(ratio, 2)
        ));
    }
    out.push_str(&format!(
        "{:<38} {:>12} {:>12} {:>14}\n",
        "peak memory (MiB)",
        num(rl.map(|x| x.peak_rss_kib as f64 / 1024.0), 1),
        num(vs.map(|x| x.peak_rss_kib as f64 / 1024.0), 1),
        num(r.ratios.peak_memory, 2)
    ));
    if let Some(v) = vs {
        let n = v.rss.len();
        if n > 1 {
            let picks: Vec<String> = (0..=8)
                .map(|k| &v.rss[(n - 1) * k / 8])
                .map(|(t, kib)| format!("{t:.0}s {:.1}", *kib as f64 / 1024.0))
                .collect();
            out.push_str(&format!(
                "varsel broker RSS (MiB) over the run: {}\n",
                picks.join(", ")
            ));
        }
    }
    let mark = |b: Option<bool>| match b {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "-",
    };
    out.push_str(&format!(
        "\ntargets: paced p99 <= 3x relay: {}; saturation alerts/s >= 40% of relay messages/s: {}\n",
        mark(r.targets.paced_p99_within_3x),
        mark(r.targets.saturation_at_least_40pct)
    ));
    for (name, sys) in [("relay", rl), ("varsel", vs)] {
        for p in sys
            .iter()
            .flat_map(|x| x.paced.iter().chain(x.saturation.iter()))
        {
            if !p.complete {
                out.push_str(&format!(
                    "warning: a {name} run did not complete ({} of {} delivered)\n",
                    p.delivered, p.alerts
                ));
            }
        }
    }
    out
}
