//! Two brokers on one PostgreSQL database and a real three-node RabbitMQ cluster
//! (`deploy/dev/cluster.sh`, started once for this binary on ports and node names of its own, and
//! stopped by a guard also when the test fails), each broker given the three nodes' URLs in
//! another order. During a burst of alerts from a school (which also knows the three URLs), one
//! fault after the other:
//!
//! - (a) SIGKILL to the node that leads the `varsel.intake` quorum queue;
//! - (b) SIGKILL to the node broker `a` is connected to;
//! - (c) the node broker `b` is connected to stopped for 30 s and started again;
//! - (d) the node broker `a` is connected to cut off from the other two (its Erlang distribution
//!   links closed and refused, see `cluster.sh isolate`): with pause_minority it pauses and
//!   drops its clients, then it is healed and rejoins.
//!
//! After each fault the cluster is brought back to three running nodes, and the run so far ends
//! with the accounting of `tests/faults.rs` ([`varsel_testkit::accounting`]): every accepted
//! alert routed once, every required recipient reached, each delivery processed once by the
//! agency's client, each timer fired once, nothing refused, one valid audit chain. The figures
//! (longest time without an alert routed, reconnects, intake redeliveries) are printed.
//!
//! `VARSEL_CLUSTER_BURST` sets the alerts per fault (40 by default, one every 150 ms, to keep
//! this binary within about three minutes in a debug build on two cores).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use uuid::Uuid;
use varsel_broker::store::{AlertFilter, Store};

use varsel_testkit::accounting::{
    count_alerts, expect, publish_paced, settle_and_check_maybe, wait_for, ROUTING,
};
use varsel_testkit::cluster::{Cluster, NODES};
use varsel_testkit::fleet::{admin_pg, Broker, Database, World};

/// The time between one alert of a burst and the next, so the burst lasts n × 150 ms and the
/// fault, injected a third of the way in, falls into it.
const PACE: Duration = Duration::from_millis(150);
const SCHOOL: &str = "norrkoping-ektorpsskolan";
const SOCIAL: &str = "norrkoping-socialtjansten";
const POLICE: &str = "polisen-region-ost";

fn log(what: impl std::fmt::Display) {
    eprintln!("[cluster] {what}");
}

/// A blocking call (a script, rabbitmqctl) run without holding up the runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> anyhow::Result<T>) -> T {
    tokio::task::block_in_place(f).unwrap_or_else(|e| panic!("{e:#}"))
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    LeaderKilled,
    ConnectedKilled,
    StoppedFor30s,
    MinorityIsolated,
}

/// What one fault cost, for the log and the note.
#[derive(Debug)]
struct Figures {
    fault: Fault,
    node: usize,
    /// The longest time between two alerts of the burst routed one after the other.
    longest_without_intake: Duration,
    /// Alerts the school published whose confirm never came (the connection went away, or
    /// RabbitMQ nacked), of them nacked, and of them routed all the same.
    unconfirmed: usize,
    nacked: usize,
    unconfirmed_routed: usize,
    /// From the fault until both brokers were connected to other nodes than the one hit.
    brokers_moved_after: Duration,
    /// Connections the brokers made again after losing one.
    reconnects: usize,
    /// Input messages RabbitMQ delivered again after a broker had committed them (acknowledged
    /// as duplicates without effect).
    intake_redeliveries: usize,
    /// From the fault until the cluster had three running nodes and intake three online replicas.
    until_whole_again: Duration,
}

/// Waits until both brokers are connected to nodes other than `node`; how long that took.
async fn moved_off(cluster: &Cluster, brokers: [&Broker; 2], node: usize) -> Duration {
    wait_for(
        Duration::from_secs(60),
        &format!("both brokers to be connected to nodes other than node {node}"),
        || async {
            brokers.iter().all(|b| {
                let now = tokio::task::block_in_place(|| connected_now(cluster, b));
                now.is_some_and(|n| n != node)
            })
        },
    )
    .await
}

fn count_in_logs(brokers: &[&Broker], line: &str) -> usize {
    brokers
        .iter()
        .map(|b| b.log_text().matches(line).count())
        .sum()
}

/// The longest gap between alerts `ids` routed one after the other (by their store times).
async fn longest_gap(store: &Store, ids: &[Uuid]) -> Duration {
    let wanted: std::collections::BTreeSet<Uuid> = ids.iter().copied().collect();
    let mut times: Vec<_> = store
        .alerts(&AlertFilter::default())
        .await
        .expect("alerts")
        .into_iter()
        .filter(|a| wanted.contains(&a.id))
        .map(|a| a.created_at)
        .collect();
    times.sort();
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).to_std().unwrap_or_default())
        .max()
        .unwrap_or_default()
}

/// How many of `ids` the store holds as routed alerts.
async fn routed_of(store: &Store, ids: &[Uuid]) -> usize {
    let stored: std::collections::BTreeSet<Uuid> = store
        .alerts(&AlertFilter::default())
        .await
        .expect("alerts")
        .iter()
        .map(|a| a.id)
        .collect();
    ids.iter().filter(|id| stored.contains(id)).count()
}

/// Waits until all three nodes run and `varsel.intake` has three online members again.
async fn whole_again(cluster: &Cluster, vhost: &str) {
    blocking(|| cluster.restore());
    wait_for(
        Duration::from_secs(120),
        "varsel.intake to have three online replicas again",
        || async {
            tokio::task::block_in_place(|| cluster.online_members(vhost, "varsel.intake"))
                .map(|n| n == NODES)
                .unwrap_or(false)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_brokers_ride_out_node_faults_on_a_three_node_cluster() {
    let n: usize = std::env::var("VARSEL_CLUSTER_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let started = Instant::now();
    let cluster = blocking(Cluster::start);
    log(format!("three nodes joined in {:?}", started.elapsed()));
    let vhost = blocking(|| cluster.vhost("cluster"));
    let vname = vhost.name.clone();
    let urls = cluster.urls(&vname);
    let db = Database::create(&admin_pg()).await;
    let world = World::on(
        Path::new(env!("CARGO_BIN_EXE_varsel")),
        Box::new(vhost),
        vname.clone(),
        urls.clone(),
        &db.url,
        None,
        ROUTING,
    );
    // Each broker starts on another node; both know all three.
    let rotated =
        |k: usize| -> Vec<String> { (0..NODES).map(|i| urls[(i + k) % NODES].clone()).collect() };
    let mut a = world.broker_via("a", &rotated(0));
    let mut b = world.broker_via("b", &rotated(1));
    a.wait_ready(Duration::from_secs(60)).await;
    b.wait_ready(Duration::from_secs(60)).await;
    let store = world.store().await;
    assert_eq!(
        blocking(|| cluster.online_members(&vname, "varsel.intake")),
        NODES,
        "varsel.intake is replicated on all three nodes"
    );

    let mut confirmed: BTreeMap<Uuid, Vec<&'static str>> = BTreeMap::new();
    let mut maybe: BTreeMap<Uuid, Vec<&'static str>> = BTreeMap::new();
    let mut table = Vec::new();
    for fault in [
        Fault::LeaderKilled,
        Fault::ConnectedKilled,
        Fault::StoppedFor30s,
        Fault::MinorityIsolated,
    ] {
        let before = count_alerts(&store).await;
        let reconnects_before = count_in_logs(&[&a, &b], "connected to RabbitMQ");
        let duplicates_before = count_in_logs(&[&a, &b], "duplicate of an accepted message");
        let school = world.client(SCHOOL);
        let burst =
            tokio::spawn(
                async move { publish_paced(&school, n, PACE, Duration::from_secs(240)).await },
            );
        wait_for(
            Duration::from_secs(120),
            "a third of the burst to be routed",
            || async { count_alerts(&store).await >= before + n / 3 },
        )
        .await;
        let at = Instant::now();
        let (node, brokers_moved_after) = match fault {
            Fault::LeaderKilled => {
                let leader = blocking(|| cluster.leader(&vname, "varsel.intake"));
                blocking(|| cluster.kill9(leader));
                (leader, moved_off(&cluster, [&a, &b], leader).await)
            }
            Fault::ConnectedKilled => {
                let node = connected(&cluster, &a);
                blocking(|| cluster.kill9(node));
                (node, moved_off(&cluster, [&a, &b], node).await)
            }
            Fault::StoppedFor30s => {
                let node = connected(&cluster, &b);
                blocking(|| cluster.stop_node(node));
                let moved = moved_off(&cluster, [&a, &b], node).await;
                tokio::time::sleep(Duration::from_secs(30).saturating_sub(at.elapsed())).await;
                (node, moved)
            }
            Fault::MinorityIsolated => {
                let node = connected(&cluster, &a);
                let isolated = blocking(|| cluster.isolate(node));
                let moved = moved_off(&cluster, [&a, &b], node).await;
                // The minority stays paused while the burst goes on through the majority.
                tokio::time::sleep(Duration::from_secs(10)).await;
                drop(isolated);
                (node, moved)
            }
        };
        log(format!("{fault:?}: node {node} at {:?}", started.elapsed()));
        let published = burst.await.expect("the school's burst");
        whole_again(&cluster, &vname).await;
        let until_whole_again = at.elapsed();
        assert!(a.alive() && b.alive(), "both brokers stay up");
        for id in &published.confirmed {
            confirmed.insert(*id, vec![SOCIAL, POLICE]);
        }
        maybe.extend(expect(&published.unconfirmed, &[SOCIAL, POLICE]));
        let settled =
            settle_and_check_maybe(&world, &confirmed, &maybe, Duration::from_secs(180)).await;
        let figures = Figures {
            fault,
            node,
            longest_without_intake: longest_gap(&store, &published.confirmed).await,
            unconfirmed: published.unconfirmed.len(),
            nacked: published.nacked,
            unconfirmed_routed: routed_of(&store, &published.unconfirmed).await,
            brokers_moved_after,
            reconnects: count_in_logs(&[&a, &b], "connected to RabbitMQ") - reconnects_before,
            intake_redeliveries: count_in_logs(&[&a, &b], "duplicate of an accepted message")
                - duplicates_before,
            until_whole_again,
        };
        log(format!("{figures:?}; settled so far: {settled:?}"));
        table.push(figures);
    }
    log(format!(
        "{n} alerts per fault, {:?} in all",
        started.elapsed()
    ));
    for f in &table {
        log(format!(
            "| {:?} | node {} | brokers on other nodes after {:.1} s | {:.1} s without an alert routed | {} unconfirmed ({} nacked, {} routed) | {} reconnects | {} intake redeliveries | whole again after {:.1} s |",
            f.fault,
            f.node,
            f.brokers_moved_after.as_secs_f64(),
            f.longest_without_intake.as_secs_f64(),
            f.unconfirmed,
            f.nacked,
            f.unconfirmed_routed,
            f.reconnects,
            f.intake_redeliveries,
            f.until_whole_again.as_secs_f64()
        ));
    }
    a.kill();
    b.kill();
    store.close().await;
}

/// The node broker `broker` is connected to now, if it is connected.
fn connected_now(cluster: &Cluster, broker: &Broker) -> Option<usize> {
    cluster.connected_node(broker.pid()?)
}

/// The node `broker` is connected to; fails the test when it has no connection within 30 s.
fn connected(cluster: &Cluster, broker: &Broker) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(node) = tokio::task::block_in_place(|| connected_now(cluster, broker)) {
            return node;
        }
        assert!(
            Instant::now() < deadline,
            "the broker had no AMQP connection to any node for 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
