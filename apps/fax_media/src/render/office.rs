//! Converts office documents (Word, Writer, RTF, spreadsheets, presentations) to PDF with LibreOffice.
//!
//! Ports Kazoo's `fax.convert_openoffice_command` (`libreoffice --headless --convert-to pdf`) with its
//! `fax.serialize_openoffice` behaviour: one conversion at a time on this node, each with its own throw-away
//! profile directory (concurrent runs sharing a profile block or fail), a time limit after which the whole process
//! group is killed, and a check for the PDF itself, because LibreOffice exits 0 even when it converted nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::error::MediaError;

/// The name errors use for the external program.
pub const TOOL: &str = "libreoffice";

/// One LibreOffice at a time: each run takes ~200 MB and both cores for a few seconds.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How often a running conversion is checked for completion.
const POLL: Duration = Duration::from_millis(25);

/// The LibreOffice launcher, if one is installed: `soffice` or `libreoffice` on `PATH`, else the usual install path.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["soffice", "libreoffice"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let fallback = Path::new("/usr/lib/libreoffice/program/soffice");
    fallback.is_file().then(|| fallback.to_path_buf())
}

/// Converts `bytes` (a document whose usual file extension is `ext`, such as `docx`) to PDF before `deadline`,
/// with the installed LibreOffice.
pub fn to_pdf(bytes: &[u8], ext: &str, deadline: Instant) -> Result<Vec<u8>, MediaError> {
    to_pdf_with(find().as_deref(), bytes, ext, deadline)
}

/// [`to_pdf`] with a given LibreOffice launcher; `None` (none installed) is a `MissingTool` error.
pub fn to_pdf_with(program: Option<&Path>, bytes: &[u8], ext: &str, deadline: Instant) -> Result<Vec<u8>, MediaError> {
    let program = program.ok_or_else(|| MediaError::MissingTool { tool: TOOL.to_owned() })?;
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let _turn = loop {
        match ONE_AT_A_TIME.try_lock() {
            Ok(guard) => break guard,
            Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Err(MediaError::TimedOut);
                }
                std::thread::sleep(POLL);
            }
        }
    };
    let work = tempfile::Builder::new().prefix("fax-office-").tempdir()?;
    let ext: String = ext.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    let input = work.path().join(format!("document.{}", if ext.is_empty() { "bin" } else { &ext }));
    std::fs::write(&input, bytes)?;
    let out_dir = work.path().join("out");
    let profile = work.path().join("profile");
    let log_path = work.path().join("soffice.log");
    let log = std::fs::File::create(&log_path)?;
    let mut command = Command::new(program);
    command
        .arg("--headless")
        .arg("--norestore")
        .arg("--nologo")
        .arg("--nolockcheck")
        .arg(format!("-env:UserInstallation=file://{}", profile.display()))
        .arg("--convert-to")
        .arg("pdf")
        .arg("--outdir")
        .arg(&out_dir)
        .arg(&input)
        .current_dir(work.path())
        .env("HOME", work.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => MediaError::MissingTool { tool: TOOL.to_owned() },
        _ => MediaError::ToolFailed { tool: TOOL.to_owned(), reason: format!("cannot start: {e}") },
    })?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            warn!(elapsed_ms = started.elapsed().as_millis() as u64, "libreoffice stopped at the time limit");
            return Err(MediaError::TimedOut);
        }
        std::thread::sleep(POLL);
    };
    let output = out_dir.join("document.pdf");
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    debug!(elapsed_ms = started.elapsed().as_millis() as u64, %status, "libreoffice finished");
    match std::fs::read(&output) {
        Ok(pdf) if !pdf.is_empty() && status.success() => Ok(pdf),
        _ => {
            let last = log_text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
            let reason = if last.is_empty() {
                format!("no PDF was produced ({status})")
            } else {
                format!("no PDF was produced ({status}): {last}")
            };
            Err(MediaError::ToolFailed { tool: TOOL.to_owned(), reason })
        }
    }
}

/// Kills a process group by id, with the system `kill` (no unsafe code for `killpg`).
fn kill_group(pid: u32) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{pid}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    #[cfg(not(unix))]
    let _ = pid;
}
