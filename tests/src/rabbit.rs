//! Finds the RabbitMQ broker the tests run against, and restarts it for the recovery tests.
//!
//! `make test` starts the broker once with `tests/services/rabbitmq.sh start` (node `rabbit@localhost`,
//! loopback only); `FAXBOX_AMQP_URI` points the tests at another broker.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use kz_amqp::amqp::{AmqpBus, AmqpConfig};

/// Set to run the RabbitMQ tests against another broker.
pub const URI_ENV: &str = "FAXBOX_AMQP_URI";

/// The broker `tests/services/rabbitmq.sh` starts.
pub const DEFAULT_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// What a test says when the broker is not there.
pub const NOT_RUNNING: &str =
    "RabbitMQ is not running: run 'bash tests/services/rabbitmq.sh start' (make test does this)";

/// The node name the start script gives the broker.
const NODE: &str = "rabbit@localhost";

/// The broker's URI: `FAXBOX_AMQP_URI`, else the local test broker.
pub fn amqp_uri() -> String {
    std::env::var(URI_ENV).ok().filter(|uri| !uri.is_empty()).unwrap_or_else(|| DEFAULT_URI.to_string())
}

/// Connects to the test broker, failing the test with [`NOT_RUNNING`] when it cannot.
pub async fn require_rabbit() -> AmqpBus {
    let cfg = AmqpConfig { connect_timeout: Duration::from_secs(5), ..AmqpConfig::default() };
    match AmqpBus::connect_with(&amqp_uri(), cfg).await {
        Ok(bus) => bus,
        Err(e) => panic!("{NOT_RUNNING} ({e})"),
    }
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    // rabbitmqctl lives in /usr/sbin, which a non-login PATH may lack.
    let program = ["/usr/sbin/rabbitmqctl", "/usr/lib/rabbitmq/bin/rabbitmqctl"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("rabbitmqctl");
    let output = Command::new(program)
        .arg("-n")
        .arg(NODE)
        .args(args)
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .output()
        .with_context(|| format!("running {program} {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "rabbitmqctl {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Restarts the broker application (`stop_app`, `start_app`, `await_startup`): every client connection is
/// closed, non-durable queues and exchanges vanish, durable queues keep their persistent messages. Blocking.
pub fn restart_rabbit() -> anyhow::Result<()> {
    rabbitmqctl(&["stop_app"])?;
    rabbitmqctl(&["start_app"])?;
    rabbitmqctl(&["await_startup", "--timeout", "60"])
}
