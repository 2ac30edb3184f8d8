//! Parses faxd's command line and runs a node until SIGTERM or SIGINT, then stops every app in order.
//!
//! `faxd convert INPUT... -o OUT.tiff` is the operator's tool for trying a document the way a fax job would
//! convert it (Kazoo's `kz_fax_converter` run by hand), without starting a node.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::bootstrap::{Bootstrap, LogFormat};
use clap::{Parser, Subcommand};
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
    /// What to do; with none, run the node.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert documents into one fax TIFF, as a fax job would, and report pages and time.
    Convert(ConvertArgs),
}

#[derive(Debug, clap::Args)]
struct ConvertArgs {
    /// Documents to convert, in page order (PDF, TIFF, PNG, JPEG, GIF, BMP, WebP, text, office files).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// The fax TIFF to write.
    #[arg(long, short, value_name = "OUT.tiff")]
    output: PathBuf,
    /// Also write the fax as a PDF.
    #[arg(long, value_name = "OUT.pdf")]
    pdf: Option<PathBuf>,
    /// Standard resolution (204x98) instead of fine (204x196).
    #[arg(long)]
    standard: bool,
}

/// `faxd convert`: exits 0 with a one-line summary, or 1 with the reason the documents cannot be faxed.
fn convert(args: ConvertArgs) -> ExitCode {
    // The reason is printed once, below; logs are for RUST_LOG=debug sessions.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
    let mut inputs = Vec::with_capacity(args.inputs.len());
    for path in &args.inputs {
        match std::fs::read(path) {
            Ok(bytes) => inputs.push(
                fax_media::convert::Input::new(bytes)
                    .with_filename(path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())),
            ),
            Err(e) => {
                eprintln!("faxd convert: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let opts = fax_media::convert::ConvertOptions {
        resolution: if args.standard {
            fax_media::page::Resolution::Standard
        } else {
            fax_media::page::Resolution::Fine
        },
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let converted = match fax_media::convert::convert(&inputs, &opts) {
        Ok(c) => c,
        Err(e) => {
            // Name the document at fault: the only one, or the first that fails on its own.
            let culprit = if inputs.len() == 1 {
                Some(0)
            } else {
                inputs.iter().position(|i| fax_media::convert::convert(std::slice::from_ref(i), &opts).is_err())
            };
            match culprit {
                Some(n) => eprintln!("faxd convert: {}: {e}", args.inputs[n].display()),
                None => eprintln!("faxd convert: cannot convert: {e}"),
            }
            return ExitCode::FAILURE;
        }
    };
    let elapsed = started.elapsed();
    let mut outputs = vec![(&args.output, &converted.tiff)];
    if let Some(pdf) = &args.pdf {
        outputs.push((pdf, &converted.pdf));
    }
    for (path, bytes) in outputs {
        if let Err(e) = std::fs::write(path, bytes) {
            eprintln!("faxd convert: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!(
        "{} page{} in {} ms ({} document{}), {} bytes of TIFF written to {}",
        converted.pages,
        if converted.pages == 1 { "" } else { "s" },
        elapsed.as_millis(),
        inputs.len(),
        if inputs.len() == 1 { "" } else { "s" },
        converted.tiff.len(),
        args.output.display()
    );
    ExitCode::SUCCESS
}

fn init_logs(boot: &Bootstrap, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&boot.log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
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

/// The binary's whole `main`: exits 0 after an orderly stop, 1 when the node fails, 2 on a bad config file;
/// `faxd convert` exits 0 or 1.
pub fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Convert(convert_args)) = args.command {
        return convert(convert_args);
    }
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
