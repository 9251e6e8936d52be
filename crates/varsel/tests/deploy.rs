//! The broker configurations inside `deploy/compose` and `deploy/k8s`, which cannot be started
//! on the development machines (no Docker engine, no Kubernetes): each is one the broker
//! accepts, and gives it all three RabbitMQ nodes as `[amqp] urls`, as the cluster tests run it.

use std::path::{Path, PathBuf};

use varsel_broker::config::Config;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the block scalar `varsel.toml: |` in the Kubernetes ConfigMap, unindented.
fn configmap_toml(yaml: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "varsel.toml: |");
    assert!(lines.next().is_some(), "no varsel.toml in the ConfigMap");
    let mut text = String::new();
    for line in lines {
        if line.is_empty() {
            text.push('\n');
            continue;
        }
        let Some(body) = line.strip_prefix("    ") else {
            break;
        };
        text.push_str(body);
        text.push('\n');
    }
    text
}

fn assert_three_nodes(config: &Config, host: impl Fn(usize) -> String) {
    assert_eq!(config.amqp.urls.len(), 3, "{:?}", config.amqp.urls);
    assert!(
        config.heartbeat.is_some(),
        "the deployed brokers check every agency line with heartbeats"
    );
    for (i, url) in config.amqp.urls.iter().enumerate() {
        assert!(url.contains(&host(i)), "node {i}: {url}");
    }
}

#[test]
fn the_compose_brokers_know_all_three_rabbitmq_nodes() {
    let path = repo().join("deploy/compose/varsel.toml");
    let config = Config::from_toml_str(&read(&path), "deploy/compose/varsel.toml", Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_three_nodes(&config, |i| format!("@rabbitmq-{}:5672/", i + 1));
    let compose = read(&repo().join("deploy/compose/compose.yaml"));
    for i in 1..=3 {
        assert!(
            compose.contains(&format!("  rabbitmq-{i}:\n    <<: *rabbitmq")),
            "compose.yaml has no rabbitmq-{i} node"
        );
    }
}

#[test]
fn the_kubernetes_brokers_know_all_three_rabbitmq_nodes() {
    let yaml = read(&repo().join("deploy/k8s/varsel.yaml"));
    let text = configmap_toml(&yaml);
    // The ops token is a file in the pod's Secret; give it one here.
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("ops-token");
    std::fs::write(&token, "a-token-of-thirty-two-characters").unwrap();
    let text = text.replace("/etc/varsel/keys/ops-token", &token.display().to_string());
    let config = Config::from_toml_str(&text, "deploy/k8s/varsel.yaml", dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_three_nodes(&config, |i| format!("@rabbitmq-server-{i}.rabbitmq-nodes."));
    assert!(
        yaml.contains("kind: RabbitmqCluster") && yaml.contains("replicas: 3"),
        "the manifest declares a three-node RabbitMQ cluster"
    );
}
