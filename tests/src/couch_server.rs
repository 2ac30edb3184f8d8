//! Starts the CouchDB-compatible test server, once per test process.
//!
//! The server is `tests/couchdb/server.js` (express-pouchdb on LevelDB with the fixes CouchDB 3 clients need),
//! a stand-in for Apache CouchDB 3.x, which the production backend targets. It listens on a free port of
//! 127.0.0.1, keeps its data in a per-process directory and exits by itself once this process is gone.
//! `FAXBOX_COUCH_URL` points the tests at a real CouchDB instead.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Set to run the CouchDB tests against a real server (`http://admin:pass@127.0.0.1:5984`).
pub const URL_ENV: &str = "FAXBOX_COUCH_URL";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const DIR_PREFIX: &str = "faxbox-couchdb-";

static URL: OnceLock<String> = OnceLock::new();

/// The URL of the CouchDB server for this test process, starting the test server on first use.
pub async fn couch_url() -> String {
    if let Some(url) = URL.get() {
        return url.clone();
    }
    // Starting takes up to a second of blocking work; keep it off the async worker threads.
    match tokio::task::spawn_blocking(|| URL.get_or_init(start).clone()).await {
        Ok(url) => url,
        Err(e) => panic!("the couchdb test server could not be started: {e}"),
    }
}

fn start() -> String {
    if let Ok(url) = std::env::var(URL_ENV)
        && !url.trim().is_empty()
    {
        return url.trim().trim_end_matches('/').to_string();
    }
    let (child, url) = spawn(&fresh_data_dir(), 0);
    // The server outlives this handle: it watches our pid and leaves with us.
    drop(child);
    url
}

/// A test server of its own, for a test that stops and restarts it; killed when dropped.
#[derive(Debug)]
pub struct CouchTestServer {
    child: Child,
    url: String,
    port: u16,
}

impl CouchTestServer {
    /// Starts a server keeping its data in `dir`, on `port` (0: a free one). Blocks until it listens.
    pub fn start(dir: &Path, port: u16) -> CouchTestServer {
        let (child, url) = spawn(dir, port);
        let port = url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(port);
        CouchTestServer { child, url, port }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server and waits until it is gone (its port and data directory are free again).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CouchTestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `server.js` and waits for its "listening on" line; returns the process and its URL.
fn spawn(data_dir: &Path, port: u16) -> (Child, String) {
    let server_dir = crate::repo_root().join("tests").join("couchdb");
    if !server_dir.join("node_modules").is_dir() {
        panic!("run 'make deps' (npm ci in tests/couchdb)");
    }
    let mut child = Command::new("node")
        .arg(server_dir.join("server.js"))
        .args(["--port", &port.to_string(), "--dir"])
        .arg(data_dir)
        .args(["--parent-pid", &std::process::id().to_string()])
        .current_dir(&server_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node for the couchdb test server (is Node.js installed?): {e}"));
    let Some(stdout) = child.stdout.take() else { panic!("the couchdb test server has no stdout") };

    // Read the "listening on" line on a thread, so a silent server cannot hang the tests.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let found = loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break None,
                Ok(_) => {
                    if let Some(url) = line.trim().strip_prefix("listening on ") {
                        break Some(url.to_string());
                    }
                }
            }
        };
        let _ = tx.send(found);
        // Keep draining, so a later line never meets a closed pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(url)) => (child, url),
        Ok(None) => {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            panic!("the couchdb test server exited before listening ({status}); see its output above")
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the couchdb test server did not start within {START_TIMEOUT:?}")
        }
    }
}

/// A new data directory for this process, after removing those of test processes that are gone.
fn fresh_data_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    // Whether a process lives is read from /proc: elsewhere old directories are left alone.
    let proc_fs = Path::new("/proc/self").exists();
    if let Ok(entries) = std::fs::read_dir(&tmp)
        && proc_fs
    {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tmp.join(format!("{DIR_PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir
}
