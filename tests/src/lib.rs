//! Supports the whole-system tests: starts the services they need and finds the project's files.
//!
//! The CouchDB-compatible server is started per test process (`couch_server`); RabbitMQ is started once by
//! `make test` (`tests/services/rabbitmq.sh`) and found through `FAXBOX_AMQP_URI` (`rabbit`).

pub mod couch_server;
pub mod node;
pub mod rabbit;

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The shared reference folder beside the checkout (`../shared`), holding Kazoo's schemas and samples.
pub fn shared_dir() -> PathBuf {
    repo_root().parent().expect("repo has a parent").join("shared")
}
