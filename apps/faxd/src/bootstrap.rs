//! Reads the node's bootstrap configuration file (`rel/faxd.toml`).
//!
//! Plays the part of Kazoo's `config.ini` plus `vm.args`: what a node needs before it can reach the store and the
//! bus. Everything else is read from `system_config` at run time. Parsing is strict: an unknown key or a value of
//! the wrong type is an error naming the key, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole bootstrap file. Every field has a default, so an empty file runs a standalone node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bootstrap {
    /// The node name, used as the section key of node-specific `system_config` values.
    pub node: String,
    /// The zone of this node, used between node and `default` when reading `system_config`.
    pub zone: Option<String>,
    /// Where the embedded store, spools and local mail live (relative to the working directory).
    pub data_dir: PathBuf,
    pub log: LogSection,
    pub store: StoreSection,
    pub bus: BusSection,
    pub admin: AdminSection,
    pub smtp: SmtpSection,
    pub api: ApiSection,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            node: "faxd@localhost".into(),
            zone: None,
            data_dir: PathBuf::from("var"),
            log: LogSection::default(),
            store: StoreSection::default(),
            bus: BusSection::default(),
            admin: AdminSection::default(),
            smtp: SmtpSection::default(),
            api: ApiSection::default(),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `human` (default) or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `faxd=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { format: LogFormat::Human, level: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    pub backend: StoreBackend,
    /// CouchDB's URL, with credentials if needed (`http://user:pass@host:5984`).
    pub url: String,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection { backend: StoreBackend::Embedded, url: "http://127.0.0.1:5984".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    Embedded,
    Couchdb,
}

/// `[bus]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusSection {
    pub backend: BusBackend,
    pub uri: String,
}

impl Default for BusSection {
    fn default() -> Self {
        BusSection { backend: BusBackend::Local, uri: "amqp://guest:guest@127.0.0.1:5672/%2f".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusBackend {
    Local,
    Amqp,
}

/// `[admin]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Where `sup` reaches this node (`GET /health`, `POST /sup`). Keep it on loopback.
    pub listen: SocketAddr,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection { listen: SocketAddr::from(([127, 0, 0, 1], 19100)) }
    }
}

/// `[smtp]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSection {
    /// Where the email-to-fax SMTP server listens (Kazoo's `smtp_port` 19025).
    pub listen: SocketAddr,
    /// The name the server gives in its greeting; defaults to the host part of the node name.
    pub hostname: Option<String>,
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection { listen: SocketAddr::from(([127, 0, 0, 1], 19025)), hostname: None }
    }
}

/// `[api]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Where the REST API listens (Kazoo's crossbar port 8000).
    pub listen: SocketAddr,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection { listen: SocketAddr::from(([127, 0, 0, 1], 8000)) }
    }
}

impl Bootstrap {
    /// The host name used in SMTP greetings: `[smtp] hostname`, else the part of the node name after `@`.
    pub fn smtp_hostname(&self) -> String {
        self.smtp.hostname.clone().unwrap_or_else(|| {
            self.node.rsplit_once('@').map(|(_, h)| h.to_string()).unwrap_or_else(|| self.node.clone())
        })
    }
}

/// A bootstrap file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Bootstrap {
    /// Parses bootstrap TOML; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Bootstrap, BootstrapError> {
        toml::from_str(text).map_err(|e| BootstrapError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
    }

    /// Reads and parses a bootstrap file.
    pub fn load(path: &Path) -> Result<Bootstrap, BootstrapError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| BootstrapError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Bootstrap, BootstrapError> {
        Bootstrap::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let b = parse("").expect("parse");
        assert_eq!(b.node, "faxd@localhost");
        assert_eq!(b.data_dir, PathBuf::from("var"));
        assert_eq!(b.store.backend, StoreBackend::Embedded);
        assert_eq!(b.store.url, "http://127.0.0.1:5984");
        assert_eq!(b.bus.backend, BusBackend::Local);
        assert_eq!(b.bus.uri, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(b.admin.listen.to_string(), "127.0.0.1:19100");
        assert_eq!(b.log.format, LogFormat::Human);
        assert_eq!(b.smtp.listen.to_string(), "127.0.0.1:19025");
        assert_eq!(b.api.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(b.smtp_hostname(), "localhost");
    }

    #[test]
    fn shipped_config_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rel/faxd.toml");
        let b = Bootstrap::load(&path).expect("rel/faxd.toml");
        assert_eq!(b, Bootstrap::default());
    }

    #[test]
    fn cluster_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rel/faxd-cluster.toml");
        let b = Bootstrap::load(&path).expect("rel/faxd-cluster.toml");
        assert_eq!(b.store.backend, StoreBackend::Couchdb);
        assert_eq!(b.bus.backend, BusBackend::Amqp);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = parse("nodee = \"x\"").expect_err("unknown key").to_string();
        assert!(err.contains("nodee"), "{err}");
        let err = parse("[store]\nbackend = \"embedded\"\nurll = \"x\"").expect_err("unknown key").to_string();
        assert!(err.contains("urll"), "{err}");
    }

    #[test]
    fn bad_value_is_an_error_naming_the_key() {
        let err = parse("[store]\nbackend = \"mongo\"").expect_err("bad backend").to_string();
        assert!(err.contains("mongo") && err.contains("backend"), "{err}");
        let err = parse("[admin]\nlisten = \"nowhere\"").expect_err("bad address").to_string();
        assert!(err.contains("listen"), "{err}");
        let err = parse("node = 5").expect_err("bad type").to_string();
        assert!(err.contains("node"), "{err}");
    }
}
