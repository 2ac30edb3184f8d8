//! Parses faxd's command line and runs a node until SIGTERM or SIGINT, then stops every app in order.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::bootstrap::{Bootstrap, LogFormat};
use clap::Parser;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// How long an orderly stop may take before the process exits anyway.
const STOP_DEADLINE: Duration = Duration::from_secs(9);

#[derive(Debug, Parser)]
#[command(name = "faxd", version, about = "Faxbox: a virtual fax machine service")]
struct Args {
    /// Bootstrap configuration file.
    #[arg(long, short, default_value = "rel/faxd.toml", env = "FAXD_CONFIG")]
    config: PathBuf,
    /// Log as JSON lines (overrides the file's [log] format).
    #[arg(long)]
    log_json: bool,
}

fn init_logs(boot: &Bootstrap, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&boot.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json || boot.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// The binary's whole `main`: exits 0 after an orderly stop, 1 when the node fails, 2 on a bad config file.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let boot = match Bootstrap::load(&args.config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("faxd: {e}");
            return ExitCode::from(2);
        }
    };
    init_logs(&boot, args.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faxd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let mut node = match crate::node::start(&boot).await {
            Ok(node) => node,
            Err(e) => {
                error!(error = format!("{e:#}"), "node failed to start");
                eprintln!("faxd: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        tokio::select! {
            signal = wait_for_signal() => {
                info!(signal, "stopping");
                node.stop(STOP_DEADLINE).await;
                ExitCode::SUCCESS
            }
            _ = node.ended() => {
                error!("root supervisor gave up: too many restarts");
                ExitCode::FAILURE
            }
        }
    })
}
