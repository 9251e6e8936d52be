//! The `varsel` command line: [`cli`] parses it and runs the subcommands; [`demo`] runs the whole
//! story on a local RabbitMQ; [`bench`] measures varsel against a bare RabbitMQ relay; [`status`]
//! asks a broker's ops API.
#![forbid(unsafe_code)]

pub mod bench;
pub mod cli;
pub mod demo;
pub mod status;
