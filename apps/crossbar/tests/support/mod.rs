//! Runs the real router on `127.0.0.1:0` over an embedded store in a temporary directory and the in-process
//! bus, with a master account and its admin logged in, and drives it over HTTP.
//!
//! The store is wrapped so a test can take it down (every call answers `Unavailable`) or refuse writes to one
//! database, to exercise 503 answers and the `faxes` copy rollback.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use crossbar::ApiContext;
use crossbar::accounts::{AdminUser, NewAccount};
use futures::StreamExt;
use futures::stream::BoxStream;
use kz_amqp::local::LocalBus;
use kz_amqp::{Bus, QueueOptions};
use kz_config::Config;
use kz_data::embedded::EmbeddedStore;
use kz_data::{
    Attachment, BulkResult, Change, Changes, Doc, NewAttachment, Store, StoreError, StoreResult, ViewOptions, ViewRow,
};
use md5::Digest;
use serde_json::{Value, json};

pub const NODE: &str = "faxd@crossbar-test";
pub const MASTER_USER: &str = "admin@master.example.com";
pub const MASTER_PASSWORD: &str = "secret";

/// The real embedded store behind a switch that can make it fail; it also records the view queries it answers.
pub struct FaultyStore {
    inner: EmbeddedStore,
    down: AtomicBool,
    refuse_saves_to: Mutex<Option<String>>,
    queries: Mutex<Vec<Query>>,
}

/// A view query as the store saw it: database, view and key.
pub type Query = (String, String, Option<Value>);

impl FaultyStore {
    /// The view queries made since the last call.
    pub fn take_queries(&self) -> Vec<Query> {
        self.queries.lock().map(|mut q| std::mem::take(&mut *q)).unwrap_or_default()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Makes every save into `db` fail as a conflict would (or stops that with `None`).
    pub fn refuse_saves_to(&self, db: Option<&str>) {
        if let Ok(mut r) = self.refuse_saves_to.lock() {
            *r = db.map(String::from);
        }
    }

    /// Saves a document straight into the store (creating its database), bypassing the API.
    pub async fn put_raw(&self, db: &str, doc: Value) {
        self.inner.db_create(db).await.expect("db");
        let Value::Object(doc) = doc else { panic!("not an object") };
        self.inner.save(db, doc).await.expect("raw save");
    }

    fn check(&self) -> StoreResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("store taken down by the test".into()));
        }
        Ok(())
    }

    fn check_save(&self, db: &str) -> StoreResult<()> {
        self.check()?;
        if self.refuse_saves_to.lock().map(|r| r.as_deref() == Some(db)).unwrap_or(false) {
            return Err(StoreError::Conflict(format!("save into {db} refused by the test")));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FaultyStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }
    async fn db_create(&self, db: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.db_create(db).await
    }
    async fn db_delete(&self, db: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.db_delete(db).await
    }
    async fn db_exists(&self, db: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.db_exists(db).await
    }
    async fn db_list(&self) -> StoreResult<Vec<String>> {
        self.check()?;
        self.inner.db_list().await
    }
    async fn get(&self, db: &str, id: &str) -> StoreResult<Doc> {
        self.check()?;
        self.inner.get(db, id).await
    }
    async fn save(&self, db: &str, doc: Doc) -> StoreResult<Doc> {
        self.check_save(db)?;
        self.inner.save(db, doc).await
    }
    async fn delete(&self, db: &str, id: &str, rev: &str) -> StoreResult<String> {
        self.check()?;
        self.inner.delete(db, id, rev).await
    }
    async fn bulk_save(&self, db: &str, docs: Vec<Doc>) -> StoreResult<Vec<BulkResult>> {
        self.check_save(db)?;
        self.inner.bulk_save(db, docs).await
    }
    async fn put_attachment(
        &self,
        db: &str,
        id: &str,
        name: &str,
        content_type: &str,
        data: Bytes,
        rev: Option<&str>,
    ) -> StoreResult<String> {
        self.check_save(db)?;
        self.inner.put_attachment(db, id, name, content_type, data, rev).await
    }
    async fn get_attachment(&self, db: &str, id: &str, name: &str) -> StoreResult<Attachment> {
        self.check()?;
        self.inner.get_attachment(db, id, name).await
    }
    async fn save_with_attachments(&self, db: &str, doc: Doc, attachments: Vec<NewAttachment>) -> StoreResult<Doc> {
        self.check_save(db)?;
        self.inner.save_with_attachments(db, doc, attachments).await
    }
    async fn delete_attachment(&self, db: &str, id: &str, name: &str, rev: &str) -> StoreResult<String> {
        self.check()?;
        self.inner.delete_attachment(db, id, name, rev).await
    }
    async fn query(&self, db: &str, view: &str, opts: &ViewOptions) -> StoreResult<Vec<ViewRow>> {
        self.check()?;
        if let Ok(mut q) = self.queries.lock() {
            q.push((db.to_string(), view.to_string(), opts.key.clone()));
        }
        self.inner.query(db, view, opts).await
    }
    async fn changes(&self, db: &str, since: Option<&str>, limit: Option<usize>) -> StoreResult<Changes> {
        self.check()?;
        self.inner.changes(db, since, limit).await
    }
    async fn changes_live(
        &self,
        db: &str,
        since: Option<&str>,
    ) -> StoreResult<BoxStream<'static, StoreResult<Change>>> {
        self.check()?;
        self.inner.changes_live(db, since).await
    }
}

/// A running API with a master account.
pub struct Harness {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<FaultyStore>,
    pub bus: Arc<LocalBus>,
    pub ctx: Arc<ApiContext>,
    pub master_id: String,
    pub master_token: String,
    _dir: tempfile::TempDir,
}

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub request_id_header: Option<String>,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
}

pub fn md5_hex(text: &str) -> String {
    hex::encode(md5::Md5::digest(text.as_bytes()))
}

pub fn sha1_hex(text: &str) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(text.as_bytes()))
}

/// `shared/` beside the repository.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Serves a router for `ctx` on a fresh loopback port; returns its base URL.
pub async fn serve(ctx: Arc<ApiContext>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let app = crossbar::router(ctx);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = EmbeddedStore::open(dir.path()).expect("embedded store");
        let store = Arc::new(FaultyStore {
            inner,
            down: AtomicBool::new(false),
            refuse_saves_to: Mutex::new(None),
            queries: Mutex::new(Vec::new()),
        });
        kz_data::design::refresh_views(store.as_ref()).await.expect("design docs");
        let bus = Arc::new(LocalBus::new());
        kz_amqp::kapi::declare_exchanges(bus.as_ref()).await.expect("exchanges");
        let config = Config::new(store.clone(), NODE, None);
        let master = crossbar::accounts::create(
            store.as_ref(),
            &config,
            None,
            NewAccount {
                name: "Master".into(),
                realm: "master.example.com".into(),
                admin: Some(AdminUser { username: MASTER_USER.into(), password: MASTER_PASSWORD.into() }),
                ..Default::default()
            },
        )
        .await
        .expect("master account");
        assert!(master.master);
        let ctx = Arc::new(ApiContext { store: store.clone(), bus: bus.clone(), config, node: NODE.to_string() });
        let base = serve(ctx.clone()).await;
        let mut h = Harness {
            base,
            client: reqwest::Client::new(),
            store,
            bus,
            ctx,
            master_id: master.account_id,
            master_token: String::new(),
            _dir: dir,
        };
        h.master_token = h.login_realm(MASTER_USER, MASTER_PASSWORD, "master.example.com").await.expect("master login");
        h
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("X-Auth-Token", token);
        }
        if let Some(body) = body {
            req = req.header("Content-Type", "application/json").body(body.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let request_id_header = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(String::from);
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        Answer { status, body, request_id_header }
    }

    /// As the master admin.
    pub async fn m(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(method, path, Some(&self.master_token), body).await
    }

    /// Logs in with a realm; the token, or `None` when refused.
    pub async fn login_realm(&self, username: &str, password: &str, realm: &str) -> Option<String> {
        let creds = md5_hex(&format!("{}:{password}", username.to_lowercase()));
        let a = self
            .call("PUT", "/v2/user_auth", None, Some(json!({"data": {"credentials": creds, "realm": realm}})))
            .await;
        (a.status == 201).then(|| a.body["auth_token"].as_str().unwrap_or_default().to_string())
    }

    /// Creates a child account of `parent` with `token`; its id.
    pub async fn child_account(&self, token: &str, parent: &str, name: &str, realm: &str) -> String {
        let a = self
            .call(
                "PUT",
                &format!("/v2/accounts/{parent}"),
                Some(token),
                Some(json!({"data": {"name": name, "realm": realm}})),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        a.data()["id"].as_str().expect("account id").to_string()
    }

    /// Creates an admin user in `account` (as the master) and logs in; the token.
    pub async fn account_admin(&self, account: &str, username: &str, realm: &str) -> String {
        let a = self
            .m(
                "PUT",
                &format!("/v2/accounts/{account}/users"),
                Some(json!({"data": {"username": username, "password": "pw", "first_name": "A", "last_name": "B",
                                     "priv_level": "admin"}})),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        self.login_realm(username, "pw", realm).await.expect("account admin login")
    }

    /// A queue bound to every doc-change message on the `configuration` exchange.
    pub async fn conf_events(&self) -> kz_amqp::DeliveryStream {
        let q = self.bus.declare_queue("", QueueOptions::exclusive()).await.expect("queue");
        self.bus.bind(&q, "configuration", "#").await.expect("bind");
        self.bus.consume(&q, 100).await.expect("consume")
    }

    pub fn raw_store(&self) -> &FaultyStore {
        &self.store
    }
}

/// The next messages on `events` until `n` arrived or a second passed, as JSON with their routing keys.
pub async fn next_events(events: &mut kz_amqp::DeliveryStream, n: usize) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(1), events.next()).await {
            Ok(Some(d)) => {
                let key = d.routing_key.clone();
                let body: Value = serde_json::from_slice(&d.message.body).expect("json event");
                let _ = d.ack().await;
                out.push((key, body));
            }
            _ => break,
        }
    }
    out
}

/// Validates `doc` against one of Kazoo's schemas in `shared/kazoo-schemas`; `$ref`s to schemas not shipped
/// there validate anything.
pub fn kazoo_schema_errors(schema_file: &str, doc: &Value) -> Vec<String> {
    struct Blank;
    impl jsonschema::Retrieve for Blank {
        fn retrieve(&self, _uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
            Ok(json!({}))
        }
    }
    let path = shared_dir().join("kazoo-schemas").join(schema_file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("schema json");
    let validator = jsonschema::draft4::options().with_retriever(Blank).build(&schema).expect("schema compiles");
    validator.iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// A stored document as JSON.
pub async fn stored(store: &dyn Store, db: &str, id: &str) -> Value {
    Value::Object(store.get(db, id).await.unwrap_or_else(|e| panic!("{db}/{id}: {e}")))
}
