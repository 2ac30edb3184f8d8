//! Runs the embedded store's single writer: one OS thread owning the write connection, with group commit.
//!
//! This plays the part of CouchDB's per-database updater (`couch_db_updater`), which also batches queued
//! updates into one fsync. Every request queued while a commit is in flight joins the next transaction; each
//! request runs under its own savepoint so a failure stays its own, and no request is answered before the
//! transaction holding it is durably committed. View rows are maintained in the same transaction, so a view
//! never lags behind the documents it indexes. After each commit the changes go out on a broadcast channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, oneshot};
use tracing::{error, warn};

use super::doc::{self, Prepared};
use super::schema::sql_error;
use super::views::{self, MapFn, TWINS_REVISION};
use crate::collation;
use crate::{Doc, StoreError, StoreResult};

/// The most requests one transaction takes, to bound its size and the wait of the first of them.
const MAX_BATCH: usize = 1024;

pub type Reply<T> = oneshot::Sender<StoreResult<T>>;

/// A write request. `SaveWithAttachments` writes a document and its new attachments as one request.
pub enum Op {
    DbCreate { db: String, reply: Reply<bool> },
    DbDelete { db: String, reply: Reply<bool> },
    Save { db: String, docs: Vec<StoreResult<Prepared>>, reply: Reply<Vec<StoreResult<Saved>>> },
    Delete { db: String, id: String, rev: String, reply: Reply<String> },
    PutAttachment { db: String, att: NewAttachment, reply: Reply<String> },
    SaveWithAttachments { db: String, doc: Prepared, atts: Vec<NewAttachment>, reply: Reply<Saved> },
    DeleteAttachment { db: String, id: String, name: String, rev: String, reply: Reply<String> },
}

pub struct NewAttachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub data: Bytes,
    /// CouchDB's `md5-<base64>`, computed by the caller.
    pub digest: String,
    pub rev: Option<String>,
}

/// A saved document: its new revision and the document as stored (`_id` and own fields; the caller adds the
/// rest with [`doc::finish`]).
#[derive(Debug)]
pub struct Saved {
    pub rev: String,
    pub doc: Doc,
    pub deleted: bool,
    pub atts: Option<Value>,
}

/// What the writer announces after a commit.
#[derive(Debug, Clone)]
pub enum Event {
    Change { db: i64, seq: i64, id: String, rev: String, deleted: bool },
    DbDeleted { db: i64 },
}

pub type Events = broadcast::Sender<Arc<Vec<Event>>>;

/// Counters for tests and benchmarks: how many requests were written in how many transactions.
#[derive(Debug, Default)]
pub struct Stats {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
}

/// A view kept up to date by the writer.
struct View {
    id: i64,
    name: String,
    map: String,
    reduce: Option<String>,
    twin: MapFn,
}

struct Db {
    id: i64,
    seq: i64,
    views: Vec<View>,
}

/// The writer's picture of the databases, reloaded from SQLite whenever a request is rolled back.
struct State {
    dbs: HashMap<String, Db>,
}

impl State {
    fn load(conn: &Connection) -> rusqlite::Result<State> {
        let mut dbs = HashMap::new();
        let mut ids = HashMap::new();
        let mut stmt = conn.prepare("SELECT id, name, seq FROM dbs")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
        for row in rows {
            let (id, name, seq) = row?;
            ids.insert(id, name.clone());
            dbs.insert(name, Db { id, seq, views: Vec::new() });
        }
        let mut stmt = conn.prepare("SELECT id, db, name, map, reduce, twin FROM views")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        for row in rows {
            let (id, db, name, map, reduce, twin_rev) = row?;
            let (Some(twin), true) = (views::twin_for_source(&map), twin_rev == TWINS_REVISION) else { continue };
            if let Some(db) = ids.get(&db).and_then(|n| dbs.get_mut(n)) {
                db.views.push(View { id, name, map, reduce, twin });
            }
        }
        Ok(State { dbs })
    }
}

/// Brings stored views up to the running twins: views built by an older twin revision are rebuilt, views whose
/// map function has no twin any more are dropped (queries then report them as having no implementation, until
/// the design document is saved again).
fn repair_views(conn: &mut Connection) -> rusqlite::Result<()> {
    let stored: Vec<(i64, i64, String, i64)> = {
        let mut stmt = conn.prepare("SELECT id, db, map, twin FROM views")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?
    };
    let stale: Vec<_> = stored
        .into_iter()
        .map(|(view, db, map, revision)| (view, db, views::twin_for_source(&map), revision))
        .filter(|(_, _, twin, revision)| twin.is_none() || *revision != TWINS_REVISION)
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (view, db, twin, _) in stale {
        tx.execute("DELETE FROM view_rows WHERE view = ?1", [view])?;
        match twin {
            Some(twin) => {
                tx.execute("UPDATE views SET twin = ?1 WHERE id = ?2", [TWINS_REVISION, view])?;
                build_rows(&tx, db, &[(view, twin)])?;
            }
            None => {
                tx.execute("DELETE FROM views WHERE id = ?1", [view])?;
            }
        }
    }
    tx.commit()
}

/// Starts the writer thread on `conn`, and its checkpointer on `checkpoints`; returns the queue feeding the writer.
pub fn spawn(
    mut conn: Connection,
    checkpoints: Connection,
    events: Events,
    stats: Arc<Stats>,
) -> StoreResult<mpsc::Sender<Op>> {
    repair_views(&mut conn).map_err(sql_error)?;
    let state = State::load(&conn).map_err(sql_error)?;
    let thread_error = |e: std::io::Error| StoreError::Unavailable(format!("cannot start the store writer: {e}"));
    let (checkpoint, committed) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("store-checkpointer".into())
        .spawn({
            let stats = stats.clone();
            move || checkpointer(checkpoints, committed, stats)
        })
        .map_err(thread_error)?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || Writer { conn, state, events, stats, checkpoint }.run(rx))
        .map_err(thread_error)?;
    Ok(tx)
}

/// The shortest time between two checkpoints: one checkpoint then copies the pages of many commits, and a page
/// written by several of them only once. Checkpoints also flush the database file, and that flush delays the
/// commits' own flushes of the log on the same disk: under a steady stream of commits, checkpointing every 250 ms
/// instead of every second halved the commits per second (measured with 20 SMTP sessions).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(1000);

/// WAL frames (pages) past which the checkpointer makes the writer wait until the log restarts, so the WAL file
/// stays bounded even if readers kept passive checkpoints from catching up.
const WAL_LIMIT_FRAMES: i64 = 65_536;

/// A WAL file larger than this is cut back to nothing once the commits slow down (it keeps the size of its
/// busiest moment otherwise; while commits are many, reusing the file is cheaper than growing it again).
const WAL_TRUNCATE_BYTES: u64 = 64 << 20;

/// Commits per checkpoint interval below which the store counts as quiet enough to cut the WAL file back.
const QUIET_COMMITS: u64 = 100;

/// Copies committed pages from the WAL into the database file after commits, so that the writer's commits pay
/// only for their own fsync of the WAL; once commits slow down, gives a grown WAL's disk space back. Ends when
/// the writer does.
fn checkpointer(conn: Connection, committed: mpsc::Receiver<()>, stats: Arc<Stats>) {
    let checkpoint = |mode: &str| -> rusqlite::Result<(i64, i64)> {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get::<_, i64>(1)?, r.get(2)?)))
    };
    let wal = conn.path().map(|p| std::path::PathBuf::from(format!("{p}-wal")));
    let wal_bytes = || wal.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
    let mut commits_before = stats.commits.load(Ordering::Relaxed);
    loop {
        // Wakes at the first commit, or now and then to cut back a WAL left large by a burst that has ended.
        match committed.recv_timeout(CHECKPOINT_INTERVAL * 5) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        std::thread::sleep(CHECKPOINT_INTERVAL);
        // Commits signalled meanwhile are covered by this checkpoint.
        while committed.try_recv().is_ok() {}
        let commits = stats.commits.load(Ordering::Relaxed);
        let quiet = commits - commits_before < QUIET_COMMITS;
        commits_before = commits;
        match checkpoint("PASSIVE") {
            Ok((frames, _)) if frames > WAL_LIMIT_FRAMES => {
                if let Err(e) = checkpoint("RESTART") {
                    warn!(error = %e, frames, "store wal restart failed");
                }
            }
            Ok((frames, copied)) if quiet && frames == copied && wal_bytes() > WAL_TRUNCATE_BYTES => {
                if let Err(e) = checkpoint("TRUNCATE") {
                    warn!(error = %e, "store wal truncation failed");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "store checkpoint failed"),
        }
    }
}

struct Writer {
    conn: Connection,
    state: State,
    events: Events,
    stats: Arc<Stats>,
    /// Tells the checkpointer a commit happened.
    checkpoint: mpsc::SyncSender<()>,
}

/// A request done but not yet answered: its reply waits for the commit.
enum Pending {
    Flag(Reply<bool>, StoreResult<bool>),
    Saves(Reply<Vec<StoreResult<Saved>>>, StoreResult<Vec<StoreResult<Saved>>>),
    Rev(Reply<String>, StoreResult<String>),
    Saved(Reply<Saved>, StoreResult<Saved>),
}

impl Pending {
    /// Answers with the result, or with `Unavailable(failure)` when the transaction did not commit.
    fn send(self, failure: Option<&str>) {
        let fail = |msg: &str| StoreError::Unavailable(format!("write not committed: {msg}"));
        // A caller that stopped waiting (its task was cancelled) is not an error.
        match self {
            Pending::Flag(reply, r) => drop(reply.send(failure.map_or(r, |m| Err(fail(m))))),
            Pending::Saves(reply, r) => drop(reply.send(failure.map_or(r, |m| Err(fail(m))))),
            Pending::Rev(reply, r) => drop(reply.send(failure.map_or(r, |m| Err(fail(m))))),
            Pending::Saved(reply, r) => drop(reply.send(failure.map_or(r, |m| Err(fail(m))))),
        }
    }
}

/// The outcome of applying one request: a store-level result, or a failure (of SQLite, or of a stored row that
/// cannot be read) that undoes the request.
type Applied<T> = Result<StoreResult<T>, Fail>;

/// Why a request was rolled back.
#[derive(Debug)]
struct Fail(String);

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Fail {
        Fail(format!("sqlite: {e}"))
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Fail {
        Fail(format!("stored document unreadable: {e}"))
    }
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Op>) {
        while let Ok(first) = rx.recv() {
            let mut batch = Vec::with_capacity(16);
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&mut self, batch: Vec<Op>) {
        let mut pending = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        let state = &mut self.state;
        let mut tx = match self.conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                error!(error = %e, "store write transaction could not start");
                let msg = e.to_string();
                for op in batch {
                    apply_failed(op, &msg);
                }
                return;
            }
        };
        for op in batch {
            let mark = events.len();
            let sp = match tx.savepoint() {
                Ok(sp) => sp,
                Err(e) => {
                    apply_failed(op, &e.to_string());
                    continue;
                }
            };
            let (done, failure) = apply(&sp, state, op, &mut events);
            let failure = match failure {
                None => sp.commit().err().map(|e| e.to_string()),
                Some(e) => {
                    // Dropping the savepoint rolls the request back.
                    drop(sp);
                    Some(e.0)
                }
            };
            match failure {
                None => pending.push(done),
                Some(msg) => {
                    error!(error = %msg, "store write rolled back");
                    events.truncate(mark);
                    done.send(Some(&msg));
                    match State::load(&tx) {
                        Ok(s) => *state = s,
                        Err(e) => error!(error = %e, "store writer could not reload its state"),
                    }
                }
            }
        }
        if let Err(e) = tx.commit() {
            error!(error = %e, "store commit failed");
            let msg = e.to_string();
            for done in pending {
                done.send(Some(&msg));
            }
            match State::load(&self.conn) {
                Ok(s) => self.state = s,
                Err(e) => error!(error = %e, "store writer could not reload its state"),
            }
            return;
        }
        // A full channel means a checkpoint is already due.
        let _ = self.checkpoint.try_send(());
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats.writes.fetch_add(pending.len() as u64, Ordering::Relaxed);
        for done in pending {
            done.send(None);
        }
        if !events.is_empty() && self.events.receiver_count() > 0 {
            // Nobody listening is fine: live feeds catch up from the table when they start.
            drop(self.events.send(Arc::new(coalesce(events))));
        }
    }
}

/// Keeps the last change of each document of a commit, in sequence order.
fn coalesce(events: Vec<Event>) -> Vec<Event> {
    let mut seen = HashSet::new();
    let mut out: Vec<Event> = events
        .into_iter()
        .rev()
        .filter(|e| match e {
            Event::Change { db, id, .. } => seen.insert((*db, id.clone())),
            Event::DbDeleted { .. } => true,
        })
        .collect();
    out.reverse();
    out
}

/// Answers a request that could not even start.
fn apply_failed(op: Op, msg: &str) {
    let pending = match op {
        Op::DbCreate { reply, .. } | Op::DbDelete { reply, .. } => Pending::Flag(reply, Ok(false)),
        Op::Save { reply, .. } => Pending::Saves(reply, Ok(Vec::new())),
        Op::Delete { reply, .. } | Op::PutAttachment { reply, .. } | Op::DeleteAttachment { reply, .. } => {
            Pending::Rev(reply, Ok(String::new()))
        }
        Op::SaveWithAttachments { reply, .. } => {
            Pending::Saved(reply, Err(StoreError::Unavailable("write not started".into())))
        }
    };
    pending.send(Some(msg));
}

/// Applies one request inside its savepoint.
fn apply(conn: &Connection, state: &mut State, op: Op, events: &mut Vec<Event>) -> (Pending, Option<Fail>) {
    fn split<T>(r: Applied<T>) -> (StoreResult<T>, Option<Fail>) {
        match r {
            Ok(r) => (r, None),
            Err(e) => (Err(StoreError::Unavailable(e.0.clone())), Some(e)),
        }
    }
    match op {
        Op::DbCreate { db, reply } => {
            let (r, e) = split(db_create(conn, state, db));
            (Pending::Flag(reply, r), e)
        }
        Op::DbDelete { db, reply } => {
            let (r, e) = split(db_delete(conn, state, &db, events));
            (Pending::Flag(reply, r), e)
        }
        Op::Save { db, docs, reply } => {
            let (r, e) = split(with_db(conn, state, &db, |db| save_all(conn, db, docs, events)));
            (Pending::Saves(reply, r), e)
        }
        Op::Delete { db, id, rev, reply } => {
            let (r, e) = split(with_db(conn, state, &db, |db| delete(conn, db, &id, &rev, events)));
            (Pending::Rev(reply, r), e)
        }
        Op::PutAttachment { db, att, reply } => {
            let (r, e) = split(with_db(conn, state, &db, |db| put_attachment(conn, db, att, events)));
            (Pending::Rev(reply, r), e)
        }
        Op::DeleteAttachment { db, id, name, rev, reply } => {
            let (r, e) = split(with_db(conn, state, &db, |db| delete_attachment(conn, db, &id, &name, &rev, events)));
            (Pending::Rev(reply, r), e)
        }
        Op::SaveWithAttachments { db, doc, atts, reply } => {
            let (r, e) = split(with_db(conn, state, &db, |db| save_with_attachments(conn, db, doc, atts, events)));
            (Pending::Saved(reply, r), e)
        }
    }
}

/// Runs `f` on database `name`, then records its new update sequence.
fn with_db<T>(conn: &Connection, state: &mut State, name: &str, f: impl FnOnce(&mut Db) -> Applied<T>) -> Applied<T> {
    let Some(db) = state.dbs.get_mut(name) else { return Ok(Err(StoreError::DbNotFound(name.to_string()))) };
    let before = db.seq;
    let r = f(db)?;
    if db.seq != before {
        conn.prepare_cached("UPDATE dbs SET seq = ?1 WHERE id = ?2")?.execute([db.seq, db.id])?;
    }
    Ok(r)
}

fn db_create(conn: &Connection, state: &mut State, name: String) -> Applied<bool> {
    if state.dbs.contains_key(&name) {
        return Ok(Ok(false));
    }
    conn.prepare_cached("INSERT INTO dbs (name, seq) VALUES (?1, 0)")?.execute([&name])?;
    let id = conn.last_insert_rowid();
    state.dbs.insert(name, Db { id, seq: 0, views: Vec::new() });
    Ok(Ok(true))
}

fn db_delete(conn: &Connection, state: &mut State, name: &str, events: &mut Vec<Event>) -> Applied<bool> {
    let Some(db) = state.dbs.get(name) else { return Ok(Ok(false)) };
    let id = db.id;
    conn.execute("DELETE FROM view_rows WHERE view IN (SELECT id FROM views WHERE db = ?1)", [id])?;
    conn.execute("DELETE FROM views WHERE db = ?1", [id])?;
    conn.execute("DELETE FROM attachments WHERE db = ?1", [id])?;
    conn.execute("DELETE FROM docs WHERE db = ?1", [id])?;
    conn.execute("DELETE FROM dbs WHERE id = ?1", [id])?;
    state.dbs.remove(name);
    events.push(Event::DbDeleted { db: id });
    Ok(Ok(true))
}

/// A document's current row.
struct Current {
    rev: String,
    deleted: bool,
    atts: Option<String>,
    body: Option<String>,
}

fn current(conn: &Connection, db: i64, id: &str, with_body: bool) -> rusqlite::Result<Option<Current>> {
    if with_body {
        conn.prepare_cached("SELECT rev, deleted, atts, body FROM docs WHERE db = ?1 AND id = ?2")?
            .query_row(params![db, id], |r| {
                Ok(Current { rev: r.get(0)?, deleted: r.get(1)?, atts: r.get(2)?, body: Some(r.get(3)?) })
            })
            .optional()
    } else {
        conn.prepare_cached("SELECT rev, deleted, atts FROM docs WHERE db = ?1 AND id = ?2")?
            .query_row(params![db, id], |r| {
                Ok(Current { rev: r.get(0)?, deleted: r.get(1)?, atts: r.get(2)?, body: None })
            })
            .optional()
    }
}

/// A new row for a document.
struct Row<'a> {
    id: &'a str,
    rev: &'a str,
    deleted: bool,
    body: &'a str,
    atts: Option<&'a str>,
}

/// Stores a document row with the next sequence of `db`, and announces it.
fn put_row(conn: &Connection, db: &mut Db, row: Row<'_>, events: &mut Vec<Event>) -> rusqlite::Result<()> {
    let seq = if doc::is_local(row.id) {
        0
    } else {
        db.seq += 1;
        events.push(Event::Change {
            db: db.id,
            seq: db.seq,
            id: row.id.to_string(),
            rev: row.rev.to_string(),
            deleted: row.deleted,
        });
        db.seq
    };
    conn.prepare_cached(
        "INSERT INTO docs (db, id, rev, deleted, seq, body, atts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (db, id) DO UPDATE SET rev = excluded.rev, deleted = excluded.deleted, seq = excluded.seq,
         body = excluded.body, atts = excluded.atts",
    )?
    .execute(params![db.id, row.id, row.rev, row.deleted, seq, row.body, row.atts])?;
    Ok(())
}

fn conflict(id: &str) -> StoreError {
    StoreError::Conflict(id.to_string())
}

fn save_all(
    conn: &Connection,
    db: &mut Db,
    docs: Vec<StoreResult<Prepared>>,
    events: &mut Vec<Event>,
) -> Applied<Vec<StoreResult<Saved>>> {
    let mut out = Vec::with_capacity(docs.len());
    for p in docs {
        out.push(match p {
            Ok(p) => save(conn, db, p, events)?,
            Err(e) => Err(e),
        });
    }
    Ok(Ok(out))
}

fn save(conn: &Connection, db: &mut Db, p: Prepared, events: &mut Vec<Event>) -> Applied<Saved> {
    let cur = current(conn, db.id, &p.id, needs_old_body(db, &p.id))?;
    let prev = match (&cur, &p.rev) {
        (None, None) => None,
        (Some(c), None) if c.deleted => Some(c.rev.as_str()),
        (Some(c), Some(r)) if *r == c.rev => Some(c.rev.as_str()),
        _ => return Ok(Err(conflict(&p.id))),
    };
    let was_live = cur.as_ref().is_some_and(|c| !c.deleted);
    // A tombstone drops the attachments, an update keeps them (stubs given by the client are ignored).
    let atts = match &cur {
        Some(c) if was_live && !p.deleted => c.atts.clone(),
        _ => None,
    };
    let rev = doc::next_rev(prev, p.deleted, &p.body_md5, atts.as_deref());
    put_row(conn, db, Row { id: &p.id, rev: &rev, deleted: p.deleted, body: &p.body, atts: atts.as_deref() }, events)?;
    if p.deleted && cur.as_ref().is_some_and(|c| c.atts.is_some()) {
        conn.prepare_cached("DELETE FROM attachments WHERE db = ?1 AND doc_id = ?2")?.execute(params![db.id, p.id])?;
    }
    let old = old_doc(&p.id, cur.as_ref().filter(|_| was_live))?;
    reindex(conn, db, &p.id, old.as_ref(), (!p.deleted).then_some(&p.doc))?;
    let atts = match atts {
        Some(a) => Some(serde_json::from_str(&a)?),
        None => None,
    };
    Ok(Ok(Saved { rev, doc: p.doc, deleted: p.deleted, atts }))
}

/// Saves a document and adds its new attachments under one revision. Like [`save`], a stale or missing `_rev`
/// is a conflict decided before anything is written; the request's savepoint undoes it all on a failure.
fn save_with_attachments(
    conn: &Connection,
    db: &mut Db,
    p: Prepared,
    atts: Vec<NewAttachment>,
    events: &mut Vec<Event>,
) -> Applied<Saved> {
    let cur = current(conn, db.id, &p.id, needs_old_body(db, &p.id))?;
    let prev = match (&cur, &p.rev) {
        (None, None) => None,
        (Some(c), None) if c.deleted => Some(c.rev.as_str()),
        (Some(c), Some(r)) if *r == c.rev => Some(c.rev.as_str()),
        _ => return Ok(Err(conflict(&p.id))),
    };
    let was_live = cur.as_ref().is_some_and(|c| !c.deleted);
    // Existing attachments stay (a tombstone has none); the new ones are added or replace those of their name.
    let mut stubs: Map<String, Value> = match cur.as_ref().and_then(|c| c.atts.as_deref()) {
        Some(a) if was_live => serde_json::from_str(a)?,
        _ => Map::new(),
    };
    let generation = prev.and_then(|r| doc::rev_generation(r).ok()).unwrap_or(0) + 1;
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO attachments (db, doc_id, name, content_type, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for att in &atts {
        insert.execute(params![db.id, p.id, att.name, att.content_type, att.data.as_ref()])?;
        stubs
            .insert(att.name.clone(), doc::attachment_stub(&att.content_type, generation, &att.digest, att.data.len()));
    }
    let stubs = (!stubs.is_empty()).then(|| Value::Object(stubs));
    let stubs_text = stubs.as_ref().map(Value::to_string);
    let rev = doc::next_rev(prev, false, &p.body_md5, stubs_text.as_deref());
    put_row(
        conn,
        db,
        Row { id: &p.id, rev: &rev, deleted: false, body: &p.body, atts: stubs_text.as_deref() },
        events,
    )?;
    let old = old_doc(&p.id, cur.as_ref().filter(|_| was_live))?;
    reindex(conn, db, &p.id, old.as_ref(), Some(&p.doc))?;
    Ok(Ok(Saved { rev, doc: p.doc, deleted: false, atts: stubs }))
}

fn delete(conn: &Connection, db: &mut Db, id: &str, rev: &str, events: &mut Vec<Event>) -> Applied<String> {
    // As in CouchDB, a stale rev conflicts even when the document is already deleted.
    let cur = match current(conn, db.id, id, needs_old_body(db, id))? {
        None => return Ok(Err(StoreError::NotFound(id.to_string()))),
        Some(c) if c.rev != rev => return Ok(Err(conflict(id))),
        Some(c) if c.deleted => return Ok(Err(StoreError::NotFound(id.to_string()))),
        Some(c) => c,
    };
    let new_rev = doc::next_rev(Some(&cur.rev), true, &super::digest::md5(b"{}"), None);
    put_row(conn, db, Row { id, rev: &new_rev, deleted: true, body: "{}", atts: None }, events)?;
    if cur.atts.is_some() {
        conn.prepare_cached("DELETE FROM attachments WHERE db = ?1 AND doc_id = ?2")?.execute(params![db.id, id])?;
    }
    let old = old_doc(id, Some(&cur))?;
    reindex(conn, db, id, old.as_ref(), None)?;
    Ok(Ok(new_rev))
}

fn put_attachment(conn: &Connection, db: &mut Db, att: NewAttachment, events: &mut Vec<Event>) -> Applied<String> {
    let cur = current(conn, db.id, &att.id, true)?;
    let (prev, was_live) = match (&cur, &att.rev) {
        (Some(c), Some(r)) if !c.deleted && *r == c.rev => (Some(c.rev.as_str()), true),
        (Some(c), None) if c.deleted => (Some(c.rev.as_str()), false),
        (Some(c), Some(r)) if c.deleted && *r == c.rev => (Some(c.rev.as_str()), false),
        (None, None) => (None, false),
        _ => return Ok(Err(conflict(&att.id))),
    };
    let body = match &cur {
        Some(Current { body: Some(b), .. }) if was_live => b.as_str(),
        _ => "{}",
    };
    let mut stubs: Map<String, Value> = match cur.as_ref().and_then(|c| c.atts.as_deref()) {
        Some(a) if was_live => serde_json::from_str(a)?,
        _ => Map::new(),
    };
    let generation = prev.and_then(|p| doc::rev_generation(p).ok()).unwrap_or(0) + 1;
    stubs.insert(att.name.clone(), doc::attachment_stub(&att.content_type, generation, &att.digest, att.data.len()));
    let stubs = Value::Object(stubs).to_string();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO attachments (db, doc_id, name, content_type, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![db.id, att.id, att.name, att.content_type, att.data.as_ref()])?;
    let rev = doc::next_rev(prev, false, &super::digest::md5(body.as_bytes()), Some(&stubs));
    put_row(conn, db, Row { id: &att.id, rev: &rev, deleted: false, body, atts: Some(&stubs) }, events)?;
    if !was_live {
        // A new document: index its (empty) body. Attachments alone never change a live document's rows.
        let fields = fields_doc(&att.id, body)?;
        reindex(conn, db, &att.id, None, Some(&fields))?;
    }
    Ok(Ok(rev))
}

fn delete_attachment(
    conn: &Connection,
    db: &mut Db,
    id: &str,
    name: &str,
    rev: &str,
    events: &mut Vec<Event>,
) -> Applied<String> {
    let cur = match current(conn, db.id, id, true)? {
        Some(c) if !c.deleted => c,
        _ => return Ok(Err(StoreError::NotFound(id.to_string()))),
    };
    if cur.rev != rev {
        return Ok(Err(conflict(id)));
    }
    let mut stubs: Map<String, Value> = match &cur.atts {
        Some(a) => serde_json::from_str(a)?,
        None => Map::new(),
    };
    if stubs.shift_remove(name).is_none() {
        return Ok(Err(StoreError::NotFound(format!("{id}/{name}"))));
    }
    conn.prepare_cached("DELETE FROM attachments WHERE db = ?1 AND doc_id = ?2 AND name = ?3")?
        .execute(params![db.id, id, name])?;
    let stubs = (!stubs.is_empty()).then(|| Value::Object(stubs).to_string());
    let body = cur.body.as_deref().unwrap_or("{}");
    let new_rev = doc::next_rev(Some(&cur.rev), false, &super::digest::md5(body.as_bytes()), stubs.as_deref());
    put_row(conn, db, Row { id, rev: &new_rev, deleted: false, body, atts: stubs.as_deref() }, events)?;
    Ok(Ok(new_rev))
}

/// `_id` followed by the fields of a stored body: the document as the view twins see it.
fn fields_doc(id: &str, body: &str) -> serde_json::Result<Doc> {
    let fields: Doc = serde_json::from_str(body)?;
    let mut doc = Map::with_capacity(fields.len() + 1);
    doc.insert("_id".into(), Value::String(id.to_string()));
    doc.extend(fields);
    Ok(doc)
}

/// Whether replacing document `id` of `db` needs its previous body: to find the view rows it emitted.
fn needs_old_body(db: &Db, id: &str) -> bool {
    !db.views.is_empty() && !id.starts_with('_')
}

/// The previous revision of a document as the view twins saw it, when its body was read.
fn old_doc(id: &str, cur: Option<&Current>) -> Result<Option<Doc>, Fail> {
    match cur.and_then(|c| c.body.as_deref()) {
        Some(body) => Ok(Some(fields_doc(id, body)?)),
        None => Ok(None),
    }
}

/// Updates what depends on a document after it changed: the view rows it emits, or, for a design document, the
/// views it defines. `old` is the previous live revision (its rows are removed), `new` the live new one.
///
/// The twins are deterministic, so running them on the previous body finds exactly the rows stored for it;
/// views whose rows are unchanged are left alone, which spares the pages they live on.
fn reindex(conn: &Connection, db: &mut Db, id: &str, old: Option<&Doc>, new: Option<&Doc>) -> rusqlite::Result<()> {
    if let Some(design) = id.strip_prefix("_design/") {
        return design_changed(conn, db, design, new);
    }
    if doc::is_local(id) {
        return Ok(());
    }
    for view in &db.views {
        let old_rows = old.map(|d| encode_rows((view.twin)(d))).unwrap_or_default();
        let new_rows = new.map(|d| encode_rows((view.twin)(d))).unwrap_or_default();
        if old_rows == new_rows {
            continue;
        }
        if !old_rows.is_empty() {
            let mut stmt =
                conn.prepare_cached("DELETE FROM view_rows WHERE view = ?1 AND key = ?2 AND doc_id = ?3 AND n = ?4")?;
            for (n, row) in old_rows.iter().enumerate() {
                stmt.execute(params![view.id, row.key, id, n as i64])?;
            }
        }
        insert_rows(conn, view.id, id, &new_rows)?;
    }
    Ok(())
}

/// A view row as stored: the key's sort key, the key and the value as JSON text.
#[derive(PartialEq, Eq)]
struct EncodedRow {
    key: Vec<u8>,
    key_json: String,
    value: String,
}

fn encode_rows(emits: views::Emits) -> Vec<EncodedRow> {
    emits
        .into_iter()
        .map(|(key, value)| EncodedRow {
            key: collation::sort_key(&key),
            key_json: key.to_string(),
            value: value.to_string(),
        })
        .collect()
}

fn insert_rows(conn: &Connection, view: i64, id: &str, rows: &[EncodedRow]) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO view_rows (view, key, doc_id, n, key_json, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (n, row) in rows.iter().enumerate() {
        stmt.execute(params![view, row.key, id, n as i64, row.key_json, row.value])?;
    }
    Ok(())
}

/// Rebuilds the views of design document `design` of `db` after it was saved (`Some`) or deleted (`None`).
/// Views whose map function and twin are unchanged keep their rows.
fn design_changed(conn: &Connection, db: &mut Db, design: &str, live: Option<&Doc>) -> rusqlite::Result<()> {
    let mut wanted: Vec<(String, String, Option<String>)> = Vec::new();
    if let Some(defs) = live.and_then(|d| d.get("views")).and_then(Value::as_object) {
        for (view, def) in defs {
            if let Some(map) = def.get("map").and_then(Value::as_str) {
                let reduce = def.get("reduce").and_then(Value::as_str).map(str::to_string);
                wanted.push((format!("{design}/{view}"), map.to_string(), reduce));
            }
        }
    }
    let prefix = format!("{design}/");
    let mut kept = Vec::with_capacity(db.views.len());
    for view in db.views.drain(..) {
        if !view.name.starts_with(&prefix) {
            kept.push(view);
            continue;
        }
        match wanted.iter().find(|(name, map, _)| *name == view.name && *map == view.map) {
            Some((_, _, reduce)) => {
                if *reduce != view.reduce {
                    conn.prepare_cached("UPDATE views SET reduce = ?1 WHERE id = ?2")?
                        .execute(params![reduce, view.id])?;
                }
                kept.push(View { reduce: reduce.clone(), ..view });
            }
            None => {
                conn.prepare_cached("DELETE FROM view_rows WHERE view = ?1")?.execute([view.id])?;
                conn.prepare_cached("DELETE FROM views WHERE id = ?1")?.execute([view.id])?;
            }
        }
    }
    db.views = kept;
    let mut added = Vec::new();
    for (name, map, reduce) in wanted {
        if db.views.iter().any(|v| v.name == name) {
            continue;
        }
        let Some(twin) = views::twin_for_source(&map) else {
            warn!(view = %name, "view has no embedded implementation; queries of it will fail");
            continue;
        };
        conn.prepare_cached("INSERT INTO views (db, name, map, reduce, twin) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![db.id, name, map, reduce, TWINS_REVISION])?;
        let id = conn.last_insert_rowid();
        added.push((id, twin));
        db.views.push(View { id, name, map, reduce, twin });
    }
    if !added.is_empty() {
        build_rows(conn, db.id, &added)?;
    }
    Ok(())
}

/// Fills new views with the rows of every live document of database `db`.
fn build_rows(conn: &Connection, db: i64, views: &[(i64, MapFn)]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("SELECT id, body FROM docs WHERE db = ?1 AND deleted = 0")?;
    let mut rows = stmt.query([db])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        if id.starts_with('_') {
            continue;
        }
        let body: String = row.get(1)?;
        let doc = match fields_doc(&id, &body) {
            Ok(d) => d,
            Err(e) => {
                warn!(doc_id = %id, error = %e, "stored document unreadable; left out of views");
                continue;
            }
        };
        for (view, twin) in views {
            insert_rows(conn, *view, &id, &encode_rows(twin(&doc)))?;
        }
    }
    Ok(())
}
