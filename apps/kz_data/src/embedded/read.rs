//! Reads documents, attachments and the changes feed from a read-only connection of the embedded store.
//!
//! These are the read paths of CouchDB's `couch_db` (`open_doc`, `open_attachment`, `changes_since`), run on
//! the reader pool while the writer keeps committing (SQLite's WAL gives each read a consistent snapshot).

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use super::doc;
use super::schema::sql_error;
use crate::{Attachment, Change, Changes, Doc, StoreError, StoreResult};

/// The id and current update sequence of database `name`.
pub fn db_info(conn: &Connection, name: &str) -> StoreResult<(i64, i64)> {
    conn.prepare_cached("SELECT id, seq FROM dbs WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql_error)?
        .ok_or_else(|| StoreError::DbNotFound(name.to_string()))
}

pub fn db_list(conn: &Connection) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT name FROM dbs ORDER BY name").map_err(sql_error)?;
    let names = stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect());
    names.map_err(sql_error)
}

/// A live document of database id `db`, or `None` when it is missing or deleted.
pub fn load_doc(conn: &Connection, db: i64, id: &str) -> StoreResult<Option<Doc>> {
    let row = conn
        .prepare_cached("SELECT rev, body, atts FROM docs WHERE db = ?1 AND id = ?2 AND deleted = 0")
        .and_then(|mut s| {
            s.query_row(params![db, id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
            })
            .optional()
        })
        .map_err(sql_error)?;
    match row {
        Some((rev, body, atts)) => doc::assemble(id, &rev, false, &body, atts.as_deref()).map(Some),
        None => Ok(None),
    }
}

pub fn get(conn: &Connection, db: &str, id: &str) -> StoreResult<Doc> {
    let (db_id, _) = db_info(conn, db)?;
    load_doc(conn, db_id, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

pub fn get_attachment(conn: &Connection, db: &str, id: &str, name: &str) -> StoreResult<Attachment> {
    let (db_id, _) = db_info(conn, db)?;
    let row = conn
        .prepare_cached(
            "SELECT a.content_type, a.data FROM attachments a JOIN docs d ON d.db = a.db AND d.id = a.doc_id
             WHERE a.db = ?1 AND a.doc_id = ?2 AND a.name = ?3 AND d.deleted = 0",
        )
        .and_then(|mut s| {
            s.query_row(params![db_id, id, name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))).optional()
        })
        .map_err(sql_error)?;
    match row {
        Some((content_type, data)) => Ok(Attachment { content_type, data: Bytes::from(data) }),
        None => Err(StoreError::NotFound(format!("{id}/{name}"))),
    }
}

/// Parses a `since` token: an integer sequence (a CouchDB-style `N-opaque` keeps its number), or `now`.
pub fn parse_since(since: Option<&str>, current: i64) -> StoreResult<i64> {
    let Some(s) = since else { return Ok(0) };
    if s == "now" {
        return Ok(current);
    }
    let number = s.split_once('-').map_or(s, |(n, _)| n);
    number.parse::<i64>().map_err(|_| StoreError::Invalid(format!("invalid since sequence: {s:?}")))
}

/// Changes of database id `db` after sequence `since`, oldest first, at most `limit`.
pub fn changes_after(conn: &Connection, db: i64, since: i64, limit: Option<usize>) -> StoreResult<Vec<Change>> {
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let mut stmt = conn
        .prepare_cached("SELECT seq, id, rev, deleted FROM docs WHERE db = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
        .map_err(sql_error)?;
    let rows = stmt
        .query_map(params![db, since, limit], |r| {
            Ok(Change { seq: r.get::<_, i64>(0)?.to_string(), id: r.get(1)?, rev: r.get(2)?, deleted: r.get(3)? })
        })
        .and_then(|rows| rows.collect());
    rows.map_err(sql_error)
}

pub fn changes(conn: &mut Connection, db: &str, since: Option<&str>, limit: Option<usize>) -> StoreResult<Changes> {
    let tx = conn.transaction().map_err(sql_error)?;
    let (db_id, current) = db_info(&tx, db)?;
    let since = parse_since(since, current)?;
    let results = changes_after(&tx, db_id, since, limit)?;
    let last_seq = match (results.last(), limit) {
        (Some(last), Some(limit)) if results.len() >= limit => last.seq.clone(),
        _ => since.max(current).to_string(),
    };
    Ok(Changes { results, last_seq })
}
