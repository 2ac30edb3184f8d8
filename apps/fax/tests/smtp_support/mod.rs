//! Sets up the email-to-fax server's world for tests: an embedded store with an account, its owner and faxboxes,
//! an in-process bus capturing notifications, the real faxbox registry, and an SMTP client over an in-memory
//! stream.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fax::registry::Registry;
use fax::smtp::{Limits, SmtpContext};
use futures::StreamExt;
use kz_amqp::kapi::{self, notifications};
use kz_amqp::local::LocalBus;
use kz_amqp::{Bus, DeliveryStream, QueueOptions};
use kz_config::Config;
use kz_core::db;
use kz_data::embedded::EmbeddedStore;
use kz_data::{Doc, Store, ViewOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const ACCOUNT_ID: &str = "acc0000000000000000000000000a001";
pub const RESELLER_ID: &str = "ee50000000000000000000000000e001";
pub const OWNER_ID: &str = "0e0e0000000000000000000000000001";
pub const FAXBOX_ID: &str = "fb000000000000000000000000000001";
pub const QUIET_FAXBOX_ID: &str = "fb000000000000000000000000000002";
/// The generated address of the front-desk faxbox.
pub const FAXBOX_DOMAIN: &str = "a1b2c3d4.fax.test";
/// The generated address of the quiet faxbox (no permission list, no owner, `log_errors: false`).
pub const QUIET_DOMAIN: &str = "0e0e0e0e.fax.test";
pub const SENDER: &str = "alice@sender.test";
pub const HOST: &str = "fax.test";
/// How long a test waits for a reply or a notification.
pub const WAIT: Duration = Duration::from_secs(10);

/// The front-desk faxbox, as stored in the account database.
pub fn faxbox() -> Value {
    json!({
        "_id": FAXBOX_ID,
        "name": "Front desk",
        "caller_name": "Acme Front Desk",
        "caller_id": "+14155550100",
        "fax_header": "Acme Inc",
        "fax_identity": "+1 415 555 0100",
        "fax_timezone": "inherit",
        "retries": 2,
        "owner_id": OWNER_ID,
        "smtp_permission_list": [SENDER, ".*@partner\\.test"],
        "notifications": {"outbound": {"email": {"send_to": ["ops@acme.test", "Alice@Sender.test"]}}},
        "media": {},
        "pvt_type": "faxbox",
        "pvt_account_id": ACCOUNT_ID,
        "pvt_account_db": db::account_db(ACCOUNT_ID),
        "pvt_reseller_id": RESELLER_ID,
        "pvt_smtp_email_address": FAXBOX_DOMAIN,
        "pvt_created": 63_850_000_000i64,
        "pvt_modified": 63_850_000_000i64,
    })
}

fn quiet_faxbox() -> Value {
    json!({
        "_id": QUIET_FAXBOX_ID,
        "name": "Quiet",
        "caller_id": "+14155550199",
        "log_errors": false,
        "pvt_type": "faxbox",
        "pvt_account_id": ACCOUNT_ID,
        "pvt_account_db": db::account_db(ACCOUNT_ID),
        "pvt_smtp_email_address": QUIET_DOMAIN,
    })
}

pub fn obj(v: Value) -> Doc {
    v.as_object().cloned().expect("an object")
}

/// An email fixture of `apps/fax/tests/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `faxes.json` schema of Kazoo, beside the checkout.
pub fn faxes_schema() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kazoo-schemas/faxes.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("faxes schema parses")
}

/// The fax server's world.
pub struct World {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub config: Config,
    pub registry: Registry,
    pub ctx: Arc<SmtpContext>,
    notices: DeliveryStream,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn new() -> World {
        World::with_converter(fax::converter::Converter::background().expect("conversion threads")).await
    }

    /// A world whose server converts jobs with `converter`.
    pub async fn with_converter(converter: fax::converter::Converter) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("embedded store"));
        let account_db = db::account_db(ACCOUNT_ID);
        store.db_create(&account_db).await.expect("account db");
        kz_data::design::refresh_views(store.as_ref()).await.expect("design docs");
        let account = json!({
            "_id": ACCOUNT_ID, "pvt_type": "account", "name": "Acme", "realm": "acme.test",
            "timezone": "America/New_York", "pvt_reseller_id": RESELLER_ID,
        });
        store.save(db::ACCOUNTS, obj(account.clone())).await.expect("account");
        store.save(&account_db, obj(account)).await.expect("account copy");
        let owner = json!({
            "_id": OWNER_ID, "pvt_type": "user", "first_name": "Olga", "last_name": "Owner",
            "email": "owner@acme.test", "timezone": "Europe/Paris",
        });
        store.save(&account_db, obj(owner)).await.expect("owner");
        for faxbox in [faxbox(), quiet_faxbox()] {
            store.save(&account_db, obj(faxbox.clone())).await.expect("faxbox");
            let mut copy = obj(faxbox);
            copy.insert("pvt_account_db".into(), json!(db::FAXES));
            store.save(db::FAXES, copy).await.expect("faxbox copy");
        }

        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
        kapi::declare_exchanges(bus.as_ref()).await.expect("exchanges");
        let queue = bus.declare_queue("", QueueOptions::exclusive()).await.expect("queue");
        bus.bind(&queue, notifications::EXCHANGE, "notifications.fax.outbound_smtp_error").await.expect("bind");
        let notices = bus.consume(&queue, 10).await.expect("consume");

        let config = Config::new(store.clone(), "faxd@test", None);
        let registry = Registry::new(store.clone(), config.clone());
        let ctx = Arc::new(SmtpContext {
            store: store.clone(),
            bus: bus.clone(),
            config: config.clone(),
            lookup: Arc::new(registry.clone()),
            node: "faxd@test".into(),
            hostname: HOST.into(),
            converter,
            facts: Default::default(),
        });
        ctx.converter.start(ctx.clone());
        World { store, bus, config, registry, ctx, notices, _dir: dir }
    }

    /// Sets a key of `system_config/fax` for every node.
    pub async fn set_fax(&self, key: &str, value: Value) {
        self.config.set_default(kz_config::fax::CATEGORY, key, value).await.expect("set config");
        self.config.flush();
    }

    /// A client connected to a fresh session with the default limits.
    pub async fn client(&self) -> Client {
        self.client_with(Limits::default()).await
    }

    /// A client connected to a fresh session, having read the greeting.
    pub async fn client_with(&self, limits: Limits) -> Client {
        let mut client = Client::connect(self.ctx.clone(), limits, CancellationToken::new());
        let greeting = client.reply().await;
        assert_eq!(greeting, format!("220 {HOST} Kazoo Email to Fax Server"));
        client
    }

    /// The jobs of the account in `faxes`, oldest first.
    pub async fn jobs(&self) -> Vec<Doc> {
        let opts = ViewOptions::range(json!([ACCOUNT_ID]), json!([ACCOUNT_ID, {}])).include_docs();
        let rows = self.store.query(db::FAXES, "faxes/list_by_account", &opts).await.expect("jobs");
        rows.into_iter().filter_map(|r| r.doc).collect()
    }

    /// The `fax_smtp_log` documents of the account's current monthly database.
    pub async fn smtp_logs(&self) -> Vec<Doc> {
        let modb = db::modb_at(ACCOUNT_ID, kz_core::time::now_unix());
        match self.store.query(&modb, "faxes/smtp_log", &ViewOptions::default().include_docs()).await {
            Ok(rows) => rows.into_iter().filter_map(|r| r.doc).collect(),
            Err(kz_data::StoreError::DbNotFound(_)) => Vec::new(),
            Err(e) => panic!("smtp logs: {e}"),
        }
    }

    /// The next `outbound_smtp_fax_error` notification, if one comes within `wait`.
    pub async fn notice(&mut self, wait: Duration) -> Option<Value> {
        let delivery = tokio::time::timeout(wait, self.notices.next()).await.ok()??;
        let body: Value = serde_json::from_slice(&delivery.message.body).expect("json notification");
        delivery.ack().await.expect("ack");
        Some(body)
    }
}

/// An SMTP client, on an in-memory stream to one session or on a TCP connection to a server.
pub struct Client {
    reader: BufReader<Box<dyn AsyncRead + Unpin + Send>>,
    writer: Box<dyn AsyncWrite + Unpin + Send>,
    /// The session task, for a client on an in-memory stream.
    pub session: Option<JoinHandle<()>>,
}

impl Client {
    /// Starts a session on an in-memory stream and returns its client end.
    pub fn connect(ctx: Arc<SmtpContext>, limits: Limits, shutdown: CancellationToken) -> Client {
        let (client, server) = tokio::io::duplex(256 * 1024);
        let session = tokio::spawn(async move {
            fax::smtp::serve(server, "test-client", &ctx, &limits, &shutdown).await;
        });
        let (reader, writer) = tokio::io::split(client);
        Client { reader: BufReader::new(Box::new(reader)), writer: Box::new(writer), session: Some(session) }
    }

    /// Connects to a server over TCP (the greeting is not read).
    pub async fn tcp(addr: std::net::SocketAddr) -> Client {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (reader, writer) = stream.into_split();
        Client { reader: BufReader::new(Box::new(reader)), writer: Box::new(writer), session: None }
    }

    /// One reply line without its CRLF; `None` when the server closed the connection.
    pub async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line)).await.expect("a reply in time");
        match n.expect("read") {
            0 => None,
            _ => Some(line.trim_end_matches(['\r', '\n']).to_string()),
        }
    }

    /// A whole reply (several lines joined by `\n` for a multi-line one).
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await.expect("a reply, not the end of the connection");
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Sends bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
        self.writer.flush().await.expect("flush");
    }

    /// Sends bytes; false when the server has closed the connection.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.writer.write_all(bytes).await.is_ok() && self.writer.flush().await.is_ok()
    }

    /// Sends a command line and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends a command and checks the reply.
    pub async fn expect(&mut self, line: &str, want: &str) {
        let got = self.cmd(line).await;
        assert_eq!(got, want, "reply to {line:?}");
    }

    /// EHLO, MAIL FROM and one RCPT each, all expected to be accepted.
    pub async fn envelope(&mut self, from: &str, rcpts: &[&str]) {
        self.expect("EHLO client.test", &ehlo()).await;
        self.expect(&format!("MAIL FROM:<{from}>"), "250 2.1.0 sender Ok").await;
        for rcpt in rcpts {
            self.expect(&format!("RCPT TO:<{rcpt}>"), "250 2.1.5 recipient Ok").await;
        }
    }

    /// Sends DATA and the message (line endings made CRLF, dot-stuffed), and returns the reply to it.
    pub async fn data(&mut self, message: &[u8]) -> String {
        self.expect("DATA", "354 enter mail, end with line containing only '.'").await;
        self.send(&wire_form(message)).await;
        self.reply().await
    }

    /// Whether the server has closed the connection (reads to the end, at most [`WAIT`]).
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(tokio::time::timeout(WAIT, self.reader.read_to_end(&mut rest)).await, Ok(Ok(_)))
    }
}

/// The EHLO answer of the test server with the default size limit.
pub fn ehlo() -> String {
    ehlo_with(10_485_670)
}

pub fn ehlo_with(size: u64) -> String {
    format!("250-{HOST}\n250-SIZE {size}\n250-8BITMIME\n250-PIPELINING\n250 ENHANCEDSTATUSCODES")
}

/// A message as sent after DATA: CRLF line endings, dot-stuffed, ended by `.`.
pub fn wire_form(message: &[u8]) -> Vec<u8> {
    let text = message.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect::<Vec<_>>();
    let mut out = Vec::with_capacity(message.len() + 64);
    let count = if message.ends_with(b"\n") { text.len() - 1 } else { text.len() };
    for line in &text[..count] {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The 32-hex id of a `250 2.0.0 queued as <id>` reply.
pub fn queued_id(reply: &str) -> String {
    let id = reply.strip_prefix("250 2.0.0 queued as ").unwrap_or_else(|| panic!("not queued: {reply}"));
    assert!(kz_core::ids::is_id(id), "{id}");
    id.to_string()
}
