//! Writes a plan of documents into an embedded store concurrently, acknowledging each one once it is durable.
//!
//! Drives the crash test of `kz_data::embedded` (`tests/tests/store_crash.rs`), the counterpart of an SMTP
//! intake that answers `250` only after the commit: `store_writer <store-dir> <plan.json>` opens the store,
//! starts every write of the plan at once (a `save`, then a `put_attachment` for entries that have one) and
//! prints each document id on stdout, flushed, as soon as its writes have returned `Ok`. The test kills it with
//! SIGKILL part-way and checks that every id printed is in the store, intact.
//!
//! Plan: `{"db": "...", "docs": [{"doc": {...}, "attachment": {"name", "content_type", "path"}?}]}`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use bytes::Bytes;
use kz_data::embedded::EmbeddedStore;
use kz_data::{Doc, Store};
use serde_json::Value;

struct Entry {
    doc: Doc,
    attachment: Option<(String, String, Bytes)>,
}

fn load_plan(path: &PathBuf) -> anyhow::Result<(String, Vec<Entry>)> {
    let plan: Value = serde_json::from_slice(&std::fs::read(path).context("reading the plan")?)?;
    let db = plan["db"].as_str().context("plan.db")?.to_string();
    let mut entries = Vec::new();
    for item in plan["docs"].as_array().context("plan.docs")? {
        let Some(doc) = item["doc"].as_object() else { bail!("plan entry without doc: {item}") };
        let attachment = match item.get("attachment") {
            Some(att) => {
                let name = att["name"].as_str().context("attachment.name")?.to_string();
                let content_type = att["content_type"].as_str().context("attachment.content_type")?.to_string();
                let data = std::fs::read(att["path"].as_str().context("attachment.path")?)?;
                Some((name, content_type, Bytes::from(data)))
            }
            None => None,
        };
        entries.push(Entry { doc: doc.clone(), attachment });
    }
    Ok((db, entries))
}

async fn write(store: EmbeddedStore, db: String, entry: Entry) -> anyhow::Result<String> {
    let saved = store.save(&db, entry.doc).await?;
    let id = saved["_id"].as_str().context("saved _id")?.to_string();
    if let Some((name, content_type, data)) = entry.attachment {
        let rev = saved["_rev"].as_str().context("saved _rev")?;
        store.put_attachment(&db, &id, &name, &content_type, data, Some(rev)).await?;
    }
    Ok(id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), Some(plan)) = (args.next(), args.next()) else {
        bail!("usage: store_writer <store-dir> <plan.json>");
    };
    let (db, entries) = load_plan(&PathBuf::from(plan))?;
    let store = EmbeddedStore::open(&PathBuf::from(dir))?;
    store.db_create(&db).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for entry in entries {
        tasks.spawn(write(store.clone(), db.clone(), entry));
    }
    let stdout = std::io::stdout();
    while let Some(done) = tasks.join_next().await {
        let id = done??;
        let mut out = stdout.lock();
        writeln!(out, "{id}")?;
        out.flush()?;
    }
    Ok(())
}
