//! RabbitMQ definitions generated from the registry (`varsel rabbitmq definitions`): the virtual
//! host, one user per participant (no password: they log in with their client certificate,
//! EXTERNAL), the topology of [`varsel_transport::amqp`], policies for dead-lettering and the alternate
//! exchange, and least-privilege permissions:
//!
//! | who | configure | write | read |
//! |---|---|---|---|
//! | a participant | nothing | `varsel.in`, routing keys `<kind it may send>.<its id>` only | its own `inbox.<id>` |
//! | the broker | the varsel topology | `varsel.out`, `varsel.dead`, its queues (to bind) | `varsel.intake`, `varsel.unrouted`, `varsel.dead-letters`, the exchanges (to bind) |
//!
//! RabbitMQ itself enforces these, before the broker sees anything; the broker then checks
//! the `user_id` RabbitMQ validated against the message's signer.

use serde_json::{json, Value};

use varsel_protocol::message::{Kind, ParticipantId};
use varsel_protocol::registry::{Registry, Role};
use varsel_transport::amqp;

/// One participant as RabbitMQ sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: ParticipantId,
    pub role: Role,
    /// The RabbitMQ user: the client certificate's common name.
    pub user: String,
}

/// The accounts of every participant in a registry (the user is `amqp_user`, or the id).
pub fn accounts(registry: &Registry) -> Vec<Account> {
    registry
        .participants()
        .iter()
        .map(|p| Account {
            id: p.id.clone(),
            role: p.role,
            user: p.amqp_user.clone().unwrap_or_else(|| p.id.to_string()),
        })
        .collect()
}

/// Escapes a name for use inside a RabbitMQ permission regular expression.
fn re(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Matches nothing: RabbitMQ's way of granting no access.
pub const NOTHING: &str = "^$";

/// The permissions of one account: (configure, write, read).
pub fn permissions(a: &Account) -> (String, String, String) {
    if a.role == Role::Broker {
        let topology = [
            amqp::IN,
            amqp::OUT,
            amqp::INTAKE,
            amqp::DEAD,
            amqp::DEAD_LETTERS,
            amqp::UNROUTED,
        ]
        .map(re)
        .join("|");
        let configure = format!("^(({topology})|inbox\\..+)$");
        let write = format!(
            "^(({})|inbox\\..+)$",
            [
                amqp::OUT,
                amqp::DEAD,
                amqp::INTAKE,
                amqp::DEAD_LETTERS,
                amqp::UNROUTED
            ]
            .map(re)
            .join("|")
        );
        let read = format!("^({topology})$");
        return (configure, write, read);
    }
    let write = if sends(a.role).is_empty() {
        NOTHING.to_owned()
    } else {
        format!("^{}$", re(amqp::IN))
    };
    let read = format!("^{}$", re(&amqp::inbox(&a.id)));
    (NOTHING.to_owned(), write, read)
}

fn sends(role: Role) -> Vec<&'static str> {
    Kind::ALL
        .iter()
        .filter(|k| role.may_send(**k))
        .map(|k| k.code())
        .collect()
}

/// The topic permission on `varsel.in`: the routing keys an account may publish with
/// (`<kind>.<its id>`), for every account but the broker.
pub fn topic_write(a: &Account) -> Option<String> {
    if a.role == Role::Broker {
        return None;
    }
    let kinds = sends(a.role);
    if kinds.is_empty() {
        return Some(NOTHING.to_owned());
    }
    Some(format!("^({})\\.{}$", kinds.join("|"), re(a.id.as_str())))
}

fn quorum(dead_letter_key: Option<&str>) -> Value {
    let mut args = json!({ "x-queue-type": "quorum" });
    if let Some(key) = dead_letter_key {
        args["x-dead-letter-exchange"] = json!(amqp::DEAD);
        args["x-dead-letter-routing-key"] = json!(key);
        args["x-delivery-limit"] = json!(amqp::DELIVERY_LIMIT);
    }
    args
}

/// The definitions document for `vhost`, ready for RabbitMQ's `load_definitions` or
/// `rabbitmqctl import_definitions`. Exchange and queue arguments are exactly those the broker
/// declares, so its own declarations on connect are equivalent and succeed.
pub fn definitions(accounts: &[Account], vhost: &str) -> Value {
    let exchange = |name: &str, kind: &str, args: Value| {
        json!({"name": name, "vhost": vhost, "type": kind, "durable": true,
               "auto_delete": false, "internal": false, "arguments": args})
    };
    let queue = |name: &str, args: Value| {
        json!({"name": name, "vhost": vhost, "durable": true, "auto_delete": false,
               "arguments": args})
    };
    let binding = |source: &str, queue: &str, key: &str| {
        json!({"source": source, "vhost": vhost, "destination": queue,
               "destination_type": "queue", "routing_key": key, "arguments": {}})
    };
    let mut exchanges = vec![
        exchange(amqp::DEAD, "topic", json!({})),
        exchange(amqp::UNROUTED, "fanout", json!({})),
        exchange(amqp::IN, "topic", json!({})),
        exchange(
            amqp::OUT,
            "direct",
            json!({"alternate-exchange": amqp::UNROUTED}),
        ),
    ];
    exchanges.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut queues = vec![
        queue(amqp::DEAD_LETTERS, quorum(None)),
        queue(amqp::UNROUTED, quorum(None)),
        queue(amqp::INTAKE, quorum(Some("intake"))),
    ];
    let mut bindings = vec![
        binding(amqp::DEAD, amqp::DEAD_LETTERS, "#"),
        binding(amqp::UNROUTED, amqp::UNROUTED, ""),
        binding(amqp::IN, amqp::INTAKE, "#"),
    ];
    let mut users = Vec::new();
    let mut perms = Vec::new();
    let mut topic = Vec::new();
    for a in accounts {
        let inbox = amqp::inbox(&a.id);
        queues.push(queue(&inbox, quorum(Some(&inbox))));
        bindings.push(binding(amqp::OUT, &inbox, &inbox));
        users.push(json!({"name": a.user, "password_hash": "",
                          "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}));
        let (configure, write, read) = permissions(a);
        perms.push(
            json!({"user": a.user, "vhost": vhost, "configure": configure,
                          "write": write, "read": read}),
        );
        if let Some(w) = topic_write(a) {
            topic.push(json!({"user": a.user, "vhost": vhost, "exchange": amqp::IN,
                              "write": w, "read": NOTHING}));
        }
    }
    let policies = vec![
        json!({"vhost": vhost, "name": "varsel-dead-lettering",
               "pattern": format!("^({}|inbox\\..+)$", re(amqp::INTAKE)), "apply-to": "queues",
               "priority": 0,
               "definition": {"dead-letter-exchange": amqp::DEAD,
                              "delivery-limit": amqp::DELIVERY_LIMIT}}),
        json!({"vhost": vhost, "name": "varsel-alternate-exchange",
               "pattern": format!("^{}$", re(amqp::OUT)), "apply-to": "exchanges", "priority": 0,
               "definition": {"alternate-exchange": amqp::UNROUTED}}),
    ];
    json!({
        "vhosts": [{"name": vhost}],
        "users": users,
        "permissions": perms,
        "topic_permissions": topic,
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
        "policies": policies,
        "parameters": [],
        "global_parameters": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, role: Role) -> Account {
        Account {
            id: id.parse().unwrap(),
            role,
            user: id.to_owned(),
        }
    }

    fn matches(pattern: &str, name: &str) -> bool {
        // The patterns used here are anchored alternations of escaped literals with `.+`
        // suffixes; check them by expanding the alternatives.
        let body = pattern
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .unwrap();
        if body.is_empty() {
            return name.is_empty();
        }
        let body = body.trim_start_matches('(').trim_end_matches(')');
        body.split('|').any(|alt| {
            let alt = alt.trim_start_matches('(').trim_end_matches(')');
            if let Some(prefix) = alt.strip_suffix(".+") {
                let prefix = prefix.replace("\\.", ".");
                name.starts_with(&prefix) && name.len() > prefix.len()
            } else {
                alt.replace("\\.", ".") == name
            }
        })
    }

    #[test]
    fn a_school_writes_only_to_intake_and_reads_only_its_inbox() {
        let school = account("skola-a", Role::School);
        let (configure, write, read) = permissions(&school);
        assert_eq!(configure, NOTHING);
        assert_eq!(write, "^varsel\\.in$");
        assert_eq!(read, "^inbox\\.skola-a$");
        assert!(!matches(&read, "inbox.skola-b"));
        assert!(!matches(&read, "varsel.intake"));
        assert_eq!(
            topic_write(&school).unwrap(),
            "^(alert|update|cancel|receipt|ack|note)\\.skola-a$"
        );
    }

    #[test]
    fn an_agency_sends_only_receipts_acks_and_notes_and_ops_send_nothing() {
        let agency = account("polisen", Role::Agency);
        assert_eq!(
            topic_write(&agency).unwrap(),
            "^(receipt|ack|note)\\.polisen$"
        );
        let ops = account("drift", Role::Ops);
        let (_, write, _) = permissions(&ops);
        assert_eq!(write, NOTHING);
        assert_eq!(topic_write(&ops).unwrap(), NOTHING);
    }

    #[test]
    fn only_the_broker_reads_intake_and_writes_out() {
        let broker = account("varsel", Role::Broker);
        let (configure, write, read) = permissions(&broker);
        assert!(matches(&read, "varsel.intake"));
        assert!(matches(&write, "varsel.out"));
        assert!(!matches(&write, "varsel.in"));
        assert!(!matches(&read, "inbox.skola-a"));
        assert!(matches(&configure, "inbox.skola-a"));
        assert!(topic_write(&broker).is_none());
        for role in [Role::School, Role::Agency, Role::Ops] {
            let (_, w, r) = permissions(&account("xx", role));
            assert!(!matches(&w, "varsel.out"));
            assert!(!matches(&r, "varsel.intake"));
        }
    }

    #[test]
    fn the_example_definitions_are_those_generated_from_the_example_registry() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let registry = Registry::load(&root.join("deploy/registry.example.toml")).unwrap();
        let generated = definitions(&accounts(&registry), "varsel");
        let file: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("deploy/rabbitmq/definitions.example.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            generated, file,
            "regenerate: varsel rabbitmq definitions --registry deploy/registry.example.toml > deploy/rabbitmq/definitions.example.json"
        );
    }

    #[test]
    fn definitions_carry_users_without_passwords_and_every_inbox() {
        let accounts = [
            account("varsel", Role::Broker),
            account("skola-a", Role::School),
        ];
        let d = definitions(&accounts, "varsel");
        assert_eq!(d["users"].as_array().unwrap().len(), 2);
        assert!(d["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["password_hash"] == ""));
        let queues: Vec<&str> = d["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["name"].as_str().unwrap())
            .collect();
        assert!(queues.contains(&"inbox.skola-a") && queues.contains(&"varsel.intake"));
        assert_eq!(d["topic_permissions"].as_array().unwrap().len(), 1);
        assert_eq!(d["policies"].as_array().unwrap().len(), 2);
    }
}
