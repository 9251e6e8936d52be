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
        (
            "saturation: of which agencies (s)",
            false,
            &|p| p.agency_cpu_s,
            2,
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
    let floor = r.floor.as_ref();
    let sat = vs.and_then(|v| v.saturation.as_ref());
    out.push_str(&format!(
        "{:<38} {:>12} {:>12} {:>14}\n",
        "crypto floor: CPU per alert (ms)",
        "-",
        num(floor.map(|f| f.cpu_ms_per_alert), 3),
        "-"
    ));
    out.push_str(&format!(
        "{:<38} {:>12} {:>12} {:>14}\n",
        "queue-bound ceiling: alerts/s",
        num(r.ceiling.as_ref().map(|c| c.alerts_per_s), 0),
        num(sat.map(|p| p.alerts_per_s), 0),
        num(r.targets.saturation_over_ceiling.value, 2)
    ));
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
    if let Some(f) = floor {
        out.push_str(&format!(
            "\ncrypto floor ({} alerts, {} recipients), ms per alert: verify alert {:.3}, \
             re-wrap {:.3}, sign deliveries {:.3}, verify receipts {:.3}, sign feedback {:.3}\n",
            f.alerts,
            f.recipients,
            f.verify_alert_ms,
            f.rewrap_ms,
            f.sign_deliveries_ms,
            f.verify_receipts_ms,
            f.sign_feedback_ms
        ));
    }
    if let Some(c) = &r.ceiling {
        out.push_str(&format!(
            "queue-bound ceiling: relay {:.0} msg/s x 2 queue writes / {} queue writes per alert\n",
            c.relay_messages_per_s, c.queue_writes_per_alert
        ));
    }
    let t = &r.targets;
    out.push_str("\ntargets:\n");
    for (name, target, op) in [
        (
            "broker CPU per alert / crypto floor",
            &t.cpu_per_alert_over_floor,
            "<=",
        ),
        (
            "saturation alerts/s / ceiling",
            &t.saturation_over_ceiling,
            ">=",
        ),
        ("paced p99 / relay paced p99", &t.paced_p99_over_relay, "<="),
        ("broker memory, late / early", &t.memory_growth, "<="),
    ] {
        out.push_str(&format!(
            "  {:<38} {:>8} {op} {:<5} {}\n",
            name,
            num(target.value, 2),
            target.limit,
            if target.met { "met" } else { "NOT met" }
        ));
    }
    for (name, sys) in [("relay", rl), ("varsel", vs)] {
        for p in sys
            .iter()
            .flat_map(|x| x.paced.iter().chain(x.saturation.iter()))
        {
            if p.presealed_age_s > super::presealed::MAX_AGE_S as f64 {
                out.push_str(&format!(
                    "warning: a {name} run outlasted the broker's freshness window ({:.0}s since \
                     its alerts were sealed): the last may have been refused as stale\n",
                    p.presealed_age_s
                ));
            }
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
