//! The crypto floor: the cryptographic work the broker must do for one alert, timed in-process by
//! calling what the broker calls, so that a change of envelope moves the floor with it:
//! `envelope::verify` on the school's alert (intake), the broker's `Writer::rewrap` for every
//! recipient (unwrapping the content keys once per alert, wrapping them for the recipient) and
//! `Writer::sign` on each delivery (hand-over), `envelope::verify` on every receipt (intake
//! again) and `Writer::sign` on the feedback each receipt causes (acknowledgement). No store, no
//! AMQP: what is left when everything but the cryptography (and the JSON it signs) costs nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use chrono::Utc;
use uuid::Uuid;

use varsel_broker::commit::{HandOver, Writer};
use varsel_protocol::envelope::{self, KeySet};
use varsel_protocol::message::{
    Content, Delivery, DeliveryState, Feedback, Kind, Payload, RecipientRole, SectionLabel,
};

use super::process::thread_cpu_s;
use super::report::Floor;
use super::world::{document, World};
use super::Options;

/// One alert's inputs, made before the clock starts: the school's sealed alert, and per
/// recipient the delivery id and the agency's signed receipt for it.
struct Case {
    alert: String,
    receipts: Vec<(Uuid, String)>,
}

/// Measures the floor over `alerts` alerts on a blocking thread of its own.
pub(super) async fn measure(world: &World, o: &Options, alerts: u64) -> anyhow::Result<Floor> {
    let school = world.client(&world.schools[0], "amqp://unused", o.suite)?;
    let agencies = world
        .agencies
        .iter()
        .map(|a| world.client(a, "amqp://unused", o.suite))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let broker = school.registry.broker().id.clone();
    let keys = Arc::new(
        KeySet::load(&world.dir.join("keys"), &broker).context("loading the broker's keys")?,
    );
    let doc = document()?;
    let now = Utc::now();
    let mut cases = Vec::new();
    for _ in 0..alerts {
        let (payload, alert) = school.seal(&doc, now)?;
        let receipts = agencies
            .iter()
            .map(|a| {
                let delivery = Uuid::now_v7();
                (delivery, a.receipt(delivery, Some(payload.id)).1)
            })
            .collect();
        cases.push(Case { alert, receipts });
    }
    let registry = school.registry;
    let recipients = world.agencies.clone();
    tokio::task::spawn_blocking(move || {
        let writer = Writer::new(broker.clone(), keys);
        let mut steps = [Duration::ZERO; 5];
        let mut lap = |i: usize, t: &mut Instant| {
            let now = Instant::now();
            steps[i] += now - *t;
            *t = now;
        };
        let cpu0 = thread_cpu_s();
        let wall0 = Instant::now();
        for case in &cases {
            let mut t = Instant::now();
            let max = envelope::DEFAULT_MAX_MESSAGE;
            let v = envelope::verify(case.alert.as_bytes(), &registry, now, max)
                .map_err(|r| anyhow!("the floor's alert was refused: {r}"))?;
            let sealed = v
                .payload
                .content
                .sealed()
                .ok_or_else(|| anyhow!("the floor's alert is not sealed"))?;
            lap(0, &mut t);
            // As the broker picks each recipient's key: the suite the school sealed to it with.
            let preferred = sealed.key_view().suite_for(&broker);
            let grant: Vec<SectionLabel> = sealed.sections.iter().map(|s| s.label).collect();
            // As intake has it from verifying the alert.
            let digest = v.digest;
            let mut deliveries = Vec::new();
            for (r, (delivery, _)) in recipients.iter().zip(&case.receipts) {
                let key = registry
                    .sealing_key_for(r, preferred, now)
                    .ok_or_else(|| anyhow!("{r} has no sealing key"))?;
                let h = HandOver {
                    alert: v.payload.id,
                    message: v.payload.id,
                    compact: &v.compact,
                    digest: &digest,
                    sealed,
                    recipient: r,
                    role: RecipientRole::Required,
                    sections: &grant,
                    kind: Kind::Alert,
                    deadlines: None,
                };
                let block = writer
                    .rewrap(&h, &grant, key)
                    .map_err(|e| anyhow!("re-wrapping for {r}: {e}"))?;
                deliveries.push((*delivery, r, block));
            }
            lap(1, &mut t);
            // As the broker dates and references its own messages (hand-over, feedback).
            let sign = |content: Content| {
                let mut p = Payload::new(broker.clone(), content);
                p.sent_at = now;
                p.references = vec![v.payload.id];
                std::hint::black_box(writer.sign(&p));
            };
            for (delivery, r, block) in deliveries {
                sign(Content::Delivery(Delivery {
                    delivery,
                    alert: v.payload.id,
                    recipient: r.clone(),
                    role: RecipientRole::Required,
                    original: v.compact.clone(),
                    wraps: Vec::new(),
                    keys: block.into_iter().collect(),
                    receipt_due: None,
                    ack_due: None,
                }));
            }
            lap(2, &mut t);
            for (_, receipt) in &case.receipts {
                envelope::verify(receipt.as_bytes(), &registry, now, max)
                    .map_err(|r| anyhow!("the floor's receipt was refused: {r}"))?;
            }
            lap(3, &mut t);
            for (r, (delivery, _)) in recipients.iter().zip(&case.receipts) {
                sign(Content::Feedback(Feedback {
                    alert: v.payload.id,
                    delivery: *delivery,
                    recipient: r.clone(),
                    state: DeliveryState::Received,
                    at: now,
                    officer: None,
                    outcome: None,
                    escalation: None,
                    // As the broker's report of a receipt carries the delivery's deadlines.
                    receipt_due: Some(now),
                    ack_due: Some(now),
                }));
            }
            lap(4, &mut t);
        }
        let cpu = thread_cpu_s() - cpu0;
        let wall = wall0.elapsed().as_secs_f64();
        let n = cases.len().max(1) as f64;
        let per = |d: Duration| d.as_secs_f64() * 1e3 / n;
        Ok(Floor {
            alerts: cases.len() as u64,
            recipients: recipients.len(),
            cpu_ms_per_alert: cpu * 1e3 / n,
            wall_ms_per_alert: wall * 1e3 / n,
            verify_alert_ms: per(steps[0]),
            rewrap_ms: per(steps[1]),
            sign_deliveries_ms: per(steps[2]),
            verify_receipts_ms: per(steps[3]),
            sign_feedback_ms: per(steps[4]),
        })
    })
    .await?
}
