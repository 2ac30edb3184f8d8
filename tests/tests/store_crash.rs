//! Kills a process writing to the embedded store with SIGKILL and checks that every acknowledged write survived.
//!
//! The store's promise (DESIGN.md, "Nothing accepted is lost") is that a write returning `Ok` is on disk: this
//! is what lets SMTP intake answer `250` after the commit. `store_writer` runs 1,000 concurrent writes (some
//! with an attachment) and prints each id once acknowledged; the test reads about 300 acknowledgements, kills
//! the writer mid-flight, reopens the store and compares every acknowledged document and attachment with the
//! plan. Three rounds share one store directory, so each also recovers from the previous crash.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use kz_data::embedded::EmbeddedStore;
use kz_data::{Doc, Store};
use serde_json::{Value, json};

const DB: &str = "faxes";
const WRITES: usize = 1_000;
const KILL_AFTER: usize = 300;
const ROUNDS: usize = 3;

/// What one planned document must look like after the crash.
struct Expected {
    doc: Doc,
    attachment: Option<(String, Bytes)>,
}

/// Deterministic bytes of a fake TIFF: different for every document and not compressible to nothing.
fn tiff_bytes(round: usize, i: usize) -> Vec<u8> {
    let len = 2_000 + (i * 37) % 6_000;
    let mut x = (round * 1_000_003 + i) as u32 | 1;
    let mut out = b"II*\0".to_vec();
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push(x as u8);
    }
    out
}

/// Writes the plan of one round and returns what each id must hold.
fn write_plan(dir: &Path, round: usize) -> anyhow::Result<(std::path::PathBuf, HashMap<String, Expected>)> {
    let mut entries = Vec::with_capacity(WRITES);
    let mut expected = HashMap::with_capacity(WRITES);
    for i in 0..WRITES {
        let id = format!("r{round}-job-{i:04}");
        let body = json!({
            "_id": id,
            "pvt_type": "fax",
            "pvt_job_status": "pending",
            "pvt_account_id": format!("{:032x}", i % 17),
            "to_number": format!("+1555{i:07}"),
            "from_name": format!("Sender {i} ☎"),
            "pvt_created": 63_800_000_000_u64 + i as u64,
            "notifications": {"email": {"send_to": [format!("user{i}@example.com")]}},
            "pad": "x".repeat(i % 300),
        });
        let mut entry = json!({"doc": body});
        let attachment = if i % 3 == 0 {
            let data = tiff_bytes(round, i);
            let path = dir.join(format!("plan-{round}-{i}.tiff"));
            std::fs::write(&path, &data)?;
            entry["attachment"] =
                json!({"name": "fax.tiff", "content_type": "image/tiff", "path": path.to_string_lossy()});
            Some(("fax.tiff".to_string(), Bytes::from(data)))
        } else {
            None
        };
        let Value::Object(doc) = body else { anyhow::bail!("plan body is an object") };
        expected.insert(id, Expected { doc, attachment });
        entries.push(entry);
    }
    let path = dir.join(format!("plan-{round}.json"));
    std::fs::write(&path, serde_json::to_vec(&json!({"db": DB, "docs": entries}))?)?;
    Ok((path, expected))
}

/// Runs the writer until `KILL_AFTER` acknowledgements, kills it, and returns every id it acknowledged.
fn run_and_kill(store_dir: &Path, plan: &Path) -> anyhow::Result<(Vec<String>, bool)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store_writer"))
        .arg(store_dir)
        .arg(plan)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = Vec::new();
    while acked.len() < KILL_AFTER {
        match lines.next() {
            Some(line) => acked.push(line?),
            None => anyhow::bail!("the writer stopped after {} acknowledgements", acked.len()),
        }
    }
    let still_running = child.try_wait()?.is_none();
    child.kill()?;
    child.wait()?;
    // Acknowledgements already in the pipe were printed after their commit: they count too.
    for line in lines {
        acked.push(line?);
    }
    Ok((acked, still_running))
}

/// Checks every acknowledged document and attachment, and that the writes caught by the kill left nothing torn:
/// a document that made it in without its acknowledgement is intact too (its attachment may be missing).
async fn verify(store: &EmbeddedStore, acked: &[String], expected: &HashMap<String, Expected>) -> anyhow::Result<()> {
    for id in acked {
        anyhow::ensure!(expected.contains_key(id), "acknowledged an unplanned id {id}");
    }
    for (id, want) in expected {
        let is_acked = acked.contains(id);
        let mut got = match store.get(DB, id).await {
            Ok(doc) => doc,
            Err(e) if is_acked => anyhow::bail!("acknowledged {id} lost: {e}"),
            Err(_) => continue,
        };
        got.shift_remove("_rev");
        let stubs = got.shift_remove("_attachments");
        anyhow::ensure!(got == want.doc, "{id} (acknowledged: {is_acked}) changed:\n got {got:?}\nwant {:?}", want.doc);
        let Some((name, data)) = &want.attachment else { continue };
        let att = match store.get_attachment(DB, id, name).await {
            Ok(att) => att,
            Err(e) if is_acked => anyhow::bail!("acknowledged {id}/{name} lost: {e}"),
            Err(_) => continue,
        };
        anyhow::ensure!(att.content_type == "image/tiff", "{id}/{name} content type {}", att.content_type);
        anyhow::ensure!(att.data == *data, "{id}/{name} bytes differ ({} vs {})", att.data.len(), data.len());
        let length = stubs.as_ref().and_then(|s| s[name.as_str()]["length"].as_u64());
        anyhow::ensure!(length == Some(data.len() as u64), "{id}/{name} stub length {length:?}");
    }
    Ok(())
}

#[test]
fn acknowledged_writes_survive_sigkill() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let store_dir = work.path().join("store");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut all_acked: Vec<(String, usize)> = Vec::new();
    let mut plans = Vec::new();
    let mut killed_mid_flight = 0;
    for round in 0..ROUNDS {
        let (plan, expected) = write_plan(work.path(), round)?;
        let (acked, still_running) = run_and_kill(&store_dir, &plan)?;
        eprintln!("round {round}: {} writes acknowledged before SIGKILL (running: {still_running})", acked.len());
        if still_running && acked.len() < WRITES {
            killed_mid_flight += 1;
        }
        all_acked.extend(acked.into_iter().map(|id| (id, round)));
        plans.push(expected);
        // Reopen after the crash, check every acknowledgement so far (this round's and the earlier ones).
        runtime.block_on(async {
            let store = EmbeddedStore::open(&store_dir)?;
            for (r, expected) in plans.iter().enumerate() {
                let ids: Vec<String> = all_acked.iter().filter(|(_, ar)| *ar == r).map(|(id, _)| id.clone()).collect();
                verify(&store, &ids, expected).await?;
            }
            // The store still takes writes after recovery.
            store.save(DB, serde_json::Map::from_iter([("_id".to_string(), json!(format!("after-{round}")))])).await?;
            anyhow::Ok(())
        })?;
    }
    assert!(all_acked.len() >= ROUNDS * KILL_AFTER);
    assert!(killed_mid_flight > 0, "the writer finished before every kill: the test proved nothing");
    Ok(())
}
