//! Implements the `Store` trait on SQLite: the standalone node's document store.
//!
//! It stands in for CouchDB 3.x (`couch_db`, `couch_mrview`, `couch_changes`) with the same semantics: `_rev`
//! conflicts, tombstones, attachments, views queried by `design/view` and a changes feed. One SQLite file in
//! WAL mode holds every database. All writes go to one writer thread ([`writer`]) that commits whatever is
//! queued in one transaction (group commit, `synchronous=FULL`: a write returns only once it is on disk);
//! reads run on a small pool of read-only connections in `spawn_blocking`. CouchDB's JavaScript views are
//! answered by Rust twins of the map functions in `priv/couchdb` ([`views`]), whose rows the writer maintains
//! in the same transaction as the documents.

pub(crate) mod digest;
mod doc;
mod query;
mod read;
mod schema;
pub mod views;
mod writer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use self::writer::{Event, NewAttachment, Op, Reply, Stats};
use crate::{BulkResult, Change, Changes, Doc, Store, StoreError, StoreResult, ViewOptions, ViewRow};

/// Read-only connections kept open between reads.
const IDLE_READERS: usize = 8;

/// Commits the live changes channel holds for a slow reader before it must catch up from the table.
const EVENT_BUFFER: usize = 1024;

/// The embedded document store. Cheap to clone; every clone shares the same writer and readers.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    writer: mpsc::Sender<Op>,
    readers: Mutex<Vec<Connection>>,
    events: broadcast::Sender<Arc<Vec<Event>>>,
    stats: Arc<Stats>,
}

/// Counters of the writer since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions committed.
    pub commits: u64,
    /// Write requests committed (a bulk save counts once).
    pub writes: u64,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").field("dir", &self.inner.dir).finish()
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store kept in directory `dir`, and starts its writer thread.
    pub fn open(dir: &Path) -> StoreResult<EmbeddedStore> {
        let conn = schema::open_writer(dir)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let stats = Arc::new(Stats::default());
        let checkpoints = schema::open_checkpointer(dir)?;
        let writer = writer::spawn(conn, checkpoints, events.clone(), stats.clone())?;
        let first_reader = schema::open_reader(dir)?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                writer,
                readers: Mutex::new(vec![first_reader]),
                events,
                stats,
            }),
        })
    }

    /// How many writes were committed in how many transactions: group commit makes the second smaller.
    pub fn write_stats(&self) -> WriteStats {
        WriteStats {
            commits: self.inner.stats.commits.load(Ordering::Relaxed),
            writes: self.inner.stats.writes.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` on a read-only connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.with_reader(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("store reader failed: {e}")))?
    }

    /// Queues a write and waits for its commit.
    async fn write<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        self.inner.writer.send(op(reply)).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the store writer has stopped".into())
}

impl Inner {
    fn with_reader<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.readers.lock().map_err(|_| StoreError::Unavailable("reader pool poisoned".into()))?.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => schema::open_reader(&self.dir)?,
        };
        let result = f(&mut conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < IDLE_READERS
        {
            pool.push(conn);
        }
        result
    }
}

fn db_name(db: &str) -> StoreResult<String> {
    doc::db_name(db)
}

#[async_trait]
impl Store for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn db_create(&self, db: &str) -> StoreResult<bool> {
        let db = db_name(db)?;
        self.write(|reply| Op::DbCreate { db, reply }).await
    }

    async fn db_delete(&self, db: &str) -> StoreResult<bool> {
        let db = db_name(db)?;
        self.write(|reply| Op::DbDelete { db, reply }).await
    }

    async fn db_exists(&self, db: &str) -> StoreResult<bool> {
        let db = db_name(db)?;
        self.read(move |c| match read::db_info(c, &db) {
            Ok(_) => Ok(true),
            Err(StoreError::DbNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }

    async fn db_list(&self) -> StoreResult<Vec<String>> {
        self.read(|c| read::db_list(c)).await
    }

    async fn get(&self, db: &str, id: &str) -> StoreResult<Doc> {
        let db = db_name(db)?;
        let id = id.to_string();
        self.read(move |c| read::get(c, &db, &id)).await
    }

    async fn save(&self, db: &str, doc: Doc) -> StoreResult<Doc> {
        let db = db_name(db)?;
        let prepared = doc::prepare(doc)?;
        let saved = self.write(|reply| Op::Save { db, docs: vec![Ok(prepared)], reply }).await?;
        let saved =
            saved.into_iter().next().ok_or_else(|| StoreError::Unavailable("save lost its result".into()))??;
        let mut out = saved.doc;
        let id = out.get("_id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        doc::finish(&mut out, &id, &saved.rev, saved.deleted, saved.atts);
        Ok(out)
    }

    async fn delete(&self, db: &str, id: &str, rev: &str) -> StoreResult<String> {
        let db = db_name(db)?;
        doc::rev_generation(rev)?;
        let (id, rev) = (id.to_string(), rev.to_string());
        self.write(|reply| Op::Delete { db, id, rev, reply }).await
    }

    async fn bulk_save(&self, db: &str, docs: Vec<Doc>) -> StoreResult<Vec<BulkResult>> {
        let db = db_name(db)?;
        let prepared: Vec<StoreResult<doc::Prepared>> = docs.into_iter().map(doc::prepare).collect();
        // Ids of refused documents, for their results (a generated id is never refused).
        let ids: Vec<String> = prepared.iter().map(|p| p.as_ref().map(|p| p.id.clone()).unwrap_or_default()).collect();
        let saved = self.write(|reply| Op::Save { db, docs: prepared, reply }).await?;
        Ok(saved
            .into_iter()
            .zip(ids)
            .map(|(r, id)| match r {
                Ok(s) => BulkResult::Saved { id, rev: s.rev },
                Err(e) => BulkResult::Failed { id, error: e.kind(), reason: e.to_string() },
            })
            .collect())
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
        let db = db_name(db)?;
        doc::check_id(id)?;
        if name.is_empty() || name.starts_with('_') {
            return Err(StoreError::Invalid(format!("attachment name {name:?} must not be empty or start with _")));
        }
        if let Some(rev) = rev {
            doc::rev_generation(rev)?;
        }
        let att = NewAttachment {
            id: id.to_string(),
            name: name.to_string(),
            content_type: content_type.to_string(),
            digest: digest::attachment_digest(&data),
            data,
            rev: rev.map(str::to_string),
        };
        self.write(|reply| Op::PutAttachment { db, att, reply }).await
    }

    async fn save_with_attachments(
        &self,
        db: &str,
        doc: Doc,
        attachments: Vec<crate::NewAttachment>,
    ) -> StoreResult<Doc> {
        let db = db_name(db)?;
        crate::store::check_new_attachments(&attachments)?;
        let prepared = doc::prepare(doc)?;
        if prepared.deleted {
            return Err(StoreError::Invalid("a deleted document cannot take attachments".into()));
        }
        if doc::is_local(&prepared.id) {
            return Err(StoreError::Invalid("local documents cannot have attachments".into()));
        }
        // Digests are computed here, in the caller's task, so the writer thread only stores.
        let atts = attachments
            .into_iter()
            .map(|a| NewAttachment {
                id: prepared.id.clone(),
                digest: digest::attachment_digest(&a.data),
                name: a.name,
                content_type: a.content_type,
                data: a.data,
                rev: None,
            })
            .collect();
        let saved = self.write(|reply| Op::SaveWithAttachments { db, doc: prepared, atts, reply }).await?;
        let mut out = saved.doc;
        let id = out.get("_id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        doc::finish(&mut out, &id, &saved.rev, false, saved.atts);
        Ok(out)
    }

    async fn get_attachment(&self, db: &str, id: &str, name: &str) -> StoreResult<crate::Attachment> {
        let db = db_name(db)?;
        let (id, name) = (id.to_string(), name.to_string());
        self.read(move |c| read::get_attachment(c, &db, &id, &name)).await
    }

    async fn delete_attachment(&self, db: &str, id: &str, name: &str, rev: &str) -> StoreResult<String> {
        let db = db_name(db)?;
        doc::rev_generation(rev)?;
        let (id, name, rev) = (id.to_string(), name.to_string(), rev.to_string());
        self.write(|reply| Op::DeleteAttachment { db, id, name, rev, reply }).await
    }

    async fn query(&self, db: &str, view: &str, opts: &ViewOptions) -> StoreResult<Vec<ViewRow>> {
        let db = db_name(db)?;
        let (view, opts) = (view.to_string(), opts.clone());
        self.read(move |c| query::query(c, &db, &view, &opts)).await
    }

    async fn changes(&self, db: &str, since: Option<&str>, limit: Option<usize>) -> StoreResult<Changes> {
        let db = db_name(db)?;
        let since = since.map(str::to_string);
        self.read(move |c| read::changes(c, &db, since.as_deref(), limit)).await
    }

    async fn changes_live(
        &self,
        db: &str,
        since: Option<&str>,
    ) -> StoreResult<BoxStream<'static, StoreResult<Change>>> {
        let db = db_name(db)?;
        // Subscribe before reading the table so no commit falls between the two.
        let events = self.inner.events.subscribe();
        let since = since.map(str::to_string);
        let (db_id, last, backlog) = self
            .read(move |c| {
                let tx = c.transaction().map_err(schema::sql_error)?;
                let (db_id, current) = read::db_info(&tx, &db)?;
                match since {
                    None => Ok((db_id, current, Vec::new())),
                    Some(s) => {
                        let since = read::parse_since(Some(&s), current)?;
                        let backlog = read::changes_after(&tx, db_id, since, None)?;
                        let last = backlog.last().and_then(|c| c.seq.parse().ok()).unwrap_or(since).max(since);
                        Ok((db_id, last, backlog))
                    }
                }
            })
            .await?;
        let feed = LiveFeed {
            store: self.clone(),
            db: db_id,
            last,
            events,
            buffer: backlog.into_iter().map(Ok).collect(),
            done: false,
        };
        Ok(Box::pin(stream::unfold(feed, |mut feed| async move { feed.next().await.map(|item| (item, feed)) })))
    }
}

/// The state of one live changes feed.
struct LiveFeed {
    store: EmbeddedStore,
    db: i64,
    /// The highest sequence handed out.
    last: i64,
    events: broadcast::Receiver<Arc<Vec<Event>>>,
    buffer: VecDeque<StoreResult<Change>>,
    done: bool,
}

impl LiveFeed {
    async fn next(&mut self) -> Option<StoreResult<Change>> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.events.recv().await {
                Ok(batch) => self.take(&batch),
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await,
                Err(broadcast::error::RecvError::Closed) => {
                    self.buffer.push_back(Err(writer_gone()));
                    self.done = true;
                }
            }
        }
    }

    fn take(&mut self, batch: &[Event]) {
        for event in batch {
            match event {
                Event::Change { db, seq, id, rev, deleted } if *db == self.db && *seq > self.last => {
                    self.last = *seq;
                    self.buffer.push_back(Ok(Change {
                        seq: seq.to_string(),
                        id: id.clone(),
                        rev: rev.clone(),
                        deleted: *deleted,
                    }));
                }
                Event::DbDeleted { db } if *db == self.db => {
                    self.buffer.push_back(Err(StoreError::DbNotFound(format!("database {db} was deleted"))));
                    self.done = true;
                    return;
                }
                _ => {}
            }
        }
    }

    /// After missing broadcasts, reads what was missed from the table.
    async fn catch_up(&mut self) {
        let (db, since) = (self.db, self.last);
        let missed = self
            .store
            .read(move |c| {
                let exists: Option<i64> = c
                    .prepare_cached("SELECT id FROM dbs WHERE id = ?1")
                    .and_then(|mut s| rusqlite::OptionalExtension::optional(s.query_row([db], |r| r.get(0))))
                    .map_err(schema::sql_error)?;
                if exists.is_none() {
                    return Err(StoreError::DbNotFound(format!("database {db} was deleted")));
                }
                read::changes_after(c, db, since, None)
            })
            .await;
        match missed {
            Ok(changes) => {
                for change in changes {
                    if let Ok(seq) = change.seq.parse::<i64>() {
                        self.last = self.last.max(seq);
                    }
                    self.buffer.push_back(Ok(change));
                }
            }
            Err(e) => {
                self.buffer.push_back(Err(e));
                self.done = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
