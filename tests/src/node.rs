//! Starts real faxd nodes for whole-system tests and runs the real `sup` against them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The path of a binary of this package, built by cargo before the integration tests that run it (they live in
/// `target/<profile>/deps/`, the binaries one level up).
fn package_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(path.exists(), "{} missing: run the tests with cargo test -p faxbox-tests", path.display());
    path
}

/// The node binary built for this test run.
pub fn faxd_bin() -> PathBuf {
    package_bin("test-faxd")
}

/// The sup binary built for this test run.
pub fn sup_bin() -> PathBuf {
    package_bin("test-sup")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free loopback ports: every listener is held until all are chosen, so the system cannot hand the
/// same port out twice (as it can to one-at-a-time picks).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0").expect("free port")).collect();
    std::array::from_fn(|i| listeners[i].local_addr().map(|a| a.port()).expect("free port"))
}

/// A faxd process with its own data directory and admin port; killed when dropped.
pub struct FaxdNode {
    pub admin_url: String,
    /// The email-to-fax SMTP server's address (`127.0.0.1:PORT`).
    pub smtp_addr: String,
    /// The REST API's base URL (`http://127.0.0.1:PORT`).
    pub api_url: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    child: Option<Child>,
}

impl FaxdNode {
    /// Starts a node whose bootstrap file is the defaults plus `extra` TOML (sections such as `[store]`), and
    /// waits until its admin endpoint answers.
    pub fn start(node_name: &str, extra: &str) -> FaxdNode {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("faxd.toml");
        let base = format!("node = \"{node_name}\"\ndata_dir = \"{}\"\n{extra}\n", dir.path().join("var").display());
        std::fs::write(dir.path().join("faxd.base.toml"), &base).expect("write base config");
        let mut node = FaxdNode {
            admin_url: String::new(),
            smtp_addr: String::new(),
            api_url: String::new(),
            dir,
            config_path,
            child: None,
        };
        node.spawn();
        node
    }

    /// Starts the node again on the same data directory and configuration (on a new admin port), stopping it
    /// first if it runs.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.terminate(Duration::from_secs(10));
        }
        self.spawn();
    }

    fn spawn(&mut self) {
        let [port, smtp, api] = free_ports::<3>();
        let base = std::fs::read_to_string(self.dir.path().join("faxd.base.toml")).expect("base config");
        let sections = format!(
            "\n[admin]\nlisten = \"127.0.0.1:{port}\"\n\n[smtp]\nlisten = \"127.0.0.1:{smtp}\"\n\n[api]\nlisten = \"127.0.0.1:{api}\"\n"
        );
        std::fs::write(&self.config_path, format!("{base}{sections}")).expect("write config");
        self.smtp_addr = format!("127.0.0.1:{smtp}");
        self.api_url = format!("http://127.0.0.1:{api}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("faxd.log"))
            .expect("log file");
        let child = Command::new(faxd_bin())
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn faxd");
        self.admin_url = format!("http://127.0.0.1:{port}");
        self.child = Some(child);
        self.wait_healthy(Duration::from_secs(60));
    }

    fn wait_healthy(&mut self, limit: Duration) {
        let started = Instant::now();
        let addr = self.admin_url.trim_start_matches("http://").to_string();
        while started.elapsed() < limit {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("faxd exited during start with {status}:\n{}", self.log());
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("faxd did not answer within {limit:?}:\n{}", self.log());
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("faxd.log")).unwrap_or_default()
    }

    /// Runs `sup --admin <this node> ARGS...`.
    pub fn sup(&self, args: &[&str]) -> Output {
        sup_at(&self.admin_url, args)
    }

    /// Runs sup and returns its trimmed stdout, failing the test when it exits non-zero.
    pub fn sup_ok(&self, args: &[&str]) -> String {
        let out = self.sup(args);
        assert!(
            out.status.success(),
            "sup {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits (at most a minute) until no job of faxbox `faxbox_id` is still `attaching files`, asking the node with
    /// `sup fax_maintenance faxbox_jobs` as an operator would.
    pub fn wait_for_conversions(&self, faxbox_id: &str) {
        let started = Instant::now();
        loop {
            let out = self.sup_ok(&["--json", "fax_maintenance", "faxbox_jobs", faxbox_id, "attaching files"]);
            let reply: serde_json::Value = serde_json::from_str(&out).expect("sup --json reply");
            if reply["reply"]["rows"].as_array().is_some_and(Vec::is_empty) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "conversions still running: {out}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits for the exit status, at most `limit`.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for FaxdNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `sup --admin URL ARGS...`.
pub fn sup_at(admin_url: &str, args: &[&str]) -> Output {
    Command::new(sup_bin()).arg("--admin").arg(admin_url).args(args).env_remove("FAXD_ADMIN").output().expect("run sup")
}
