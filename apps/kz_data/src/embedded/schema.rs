//! Lays out the embedded store's SQLite file and opens its connections.
//!
//! The tables mirror what CouchDB keeps per database (`couch_db`, `couch_mrview`): documents by id with their
//! revision and update sequence, attachments, and one sorted index per view whose rows are (key, doc id, value),
//! the key stored as a [`crate::collation::sort_key`] so SQLite's byte order is CouchDB's collation.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::{StoreError, StoreResult};

/// The file holding every database.
pub const FILE_NAME: &str = "store.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dbs (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    seq  INTEGER NOT NULL DEFAULT 0
);
-- body: the JSON fields other than _id, _rev, _deleted and _attachments; atts: the _attachments stubs or NULL.
-- A rowid table: new documents append to its end instead of splitting pages at random ids.
CREATE TABLE IF NOT EXISTS docs (
    db      INTEGER NOT NULL,
    id      TEXT NOT NULL,
    rev     TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    body    TEXT NOT NULL,
    atts    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS docs_by_id ON docs (db, id);
CREATE INDEX IF NOT EXISTS docs_by_seq ON docs (db, seq);
CREATE TABLE IF NOT EXISTS attachments (
    db           INTEGER NOT NULL,
    doc_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (db, doc_id, name)
);
-- One row per view kept up to date: name is 'design/view', twin the revision of the twin that built its rows.
CREATE TABLE IF NOT EXISTS views (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    db      INTEGER NOT NULL,
    name    TEXT NOT NULL,
    map     TEXT NOT NULL,
    reduce  TEXT,
    twin    INTEGER NOT NULL,
    UNIQUE (db, name)
);
-- n numbers the rows one document emits. A document's rows are found again (to replace them) by re-running its
-- twins on its previous body, which saves an index by doc id on this, the most written table.
CREATE TABLE IF NOT EXISTS view_rows (
    view     INTEGER NOT NULL,
    key      BLOB NOT NULL,
    doc_id   TEXT NOT NULL,
    n        INTEGER NOT NULL,
    key_json TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (view, key, doc_id, n)
) WITHOUT ROWID;
";

/// How long a connection waits on a lock (a checkpoint, a reader opening) before giving up, in milliseconds.
/// Set by pragma: rusqlite's `busy_timeout()` needs SQLite 3.44, newer than the system library.
const BUSY_TIMEOUT_MS: u32 = 10_000;

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

pub fn sql_error(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// Opens the writer's connection: creates the file and tables, WAL journal, fsync at every commit.
pub fn open_writer(dir: &Path) -> StoreResult<Connection> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::Unavailable(format!("cannot create store directory {}: {e}", dir.display())))?;
    let conn = Connection::open(dir.join(FILE_NAME)).map_err(sql_error)?;
    conn.execute_batch(&format!("PRAGMA busy_timeout={BUSY_TIMEOUT_MS};")).map_err(sql_error)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(sql_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!("sqlite refused WAL mode (got {mode})")));
    }
    // Checkpoints run on their own thread (`writer::checkpointer`), off the commit path.
    conn.execute_batch(
        "PRAGMA synchronous=FULL;
         PRAGMA wal_autocheckpoint=0;
         PRAGMA cache_size=-32000;
         PRAGMA temp_store=MEMORY;",
    )
    .map_err(sql_error)?;
    conn.execute_batch(SCHEMA).map_err(sql_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Opens the connection that copies the WAL back into the database file (checkpoints).
pub fn open_checkpointer(dir: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(dir.join(FILE_NAME)).map_err(sql_error)?;
    conn.execute_batch(&format!("PRAGMA busy_timeout={BUSY_TIMEOUT_MS}; PRAGMA synchronous=FULL;"))
        .map_err(sql_error)?;
    Ok(conn)
}

/// Opens a read-only connection for the reader pool.
pub fn open_reader(dir: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(dir.join(FILE_NAME), flags).map_err(sql_error)?;
    conn.execute_batch(&format!("PRAGMA busy_timeout={BUSY_TIMEOUT_MS}; PRAGMA cache_size=-16000;"))
        .map_err(sql_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}
