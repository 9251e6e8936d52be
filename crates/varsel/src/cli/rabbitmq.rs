//! `varsel rabbitmq`: RabbitMQ set-up generated from the registry.

use super::exit::{fail, Failure, EX_SOFTWARE};
use super::load::accounts_of;
use super::out;
use super::RabbitmqCommand;

pub(super) fn run(command: RabbitmqCommand) -> Result<(), Failure> {
    match command {
        RabbitmqCommand::Definitions {
            registry, vhost, ..
        } => {
            let accounts = accounts_of(registry)?;
            let d = varsel_broker::rabbitmq::definitions(&accounts, &vhost);
            out::line(serde_json::to_string_pretty(&d).map_err(|e| fail(EX_SOFTWARE)(e.into()))?)
        }
    }
}
