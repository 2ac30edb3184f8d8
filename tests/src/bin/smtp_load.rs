//! Drives an SMTP server with concurrent sessions and times each message from the end of its DATA to the answer.
//!
//! The latency half of the SMTP intake benchmark (`tests/bench/smtp.sh`), which measures the port of Kazoo's
//! `fax_smtp` against Postfix; Postfix's own `smtp-source` gives the throughput. Each session does what
//! `smtp-source` does without `-d`: connect, EHLO, MAIL, RCPT, DATA, QUIT, one message per connection. The clock
//! starts once the last byte of the message (the `.` line) is handed to the kernel and stops when the reply to
//! DATA is read, so it covers what the server does before it answers: parse, store, commit.
//!
//! ```text
//! smtp_load send --server 127.0.0.1:PORT --sessions N --messages M --from A --to B --file MSG.eml [--ids OUT]
//!                [--message-ids unique]
//! smtp_load count-jobs --store DIR --faxbox ID [--ids FILE]
//! ```
//!
//! `send` prints one JSON line: counts, wall time, msgs/s and latency percentiles; with `--ids` it writes the id
//! of every accepted message (`250 ... queued as <id>`), one a line. `count-jobs` opens a stopped node's embedded
//! store and counts the fax jobs of a faxbox (`faxes/list_by_faxbox`), and checks that every id of `--ids` is
//! one of them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kz_core::db;
use kz_data::embedded::EmbeddedStore;
use kz_data::{Store, ViewOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The longest wait for any one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Options given as `--name value` pairs.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
        let mut map = HashMap::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else { bail!("unexpected argument {arg:?}") };
            let value = args.next().with_context(|| format!("--{name} needs a value"))?;
            map.insert(name.to_string(), value);
        }
        Ok(Options(map))
    }

    fn get(&self, name: &str) -> anyhow::Result<&str> {
        self.0.get(name).map(String::as_str).with_context(|| format!("--{name} is required"))
    }

    fn number(&self, name: &str) -> anyhow::Result<usize> {
        self.get(name)?.parse().with_context(|| format!("--{name} must be a number"))
    }
}

/// The message as it goes on the wire after DATA: CRLF line ends, leading dots doubled, the `.` line at the end.
fn wire_message(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40 + 8);
    let text = raw.strip_suffix(b"\n").unwrap_or(raw);
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// One reply: its code and its last line.
struct Reply {
    code: u16,
    text: String,
}

/// Reads one reply, multi-line or not.
async fn read_reply(reader: &mut BufReader<OwnedReadHalf>) -> anyhow::Result<Reply> {
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(REPLY_TIMEOUT, reader.read_line(&mut line)).await.context("reply timed out")??;
        if n == 0 {
            bail!("connection closed");
        }
        let trimmed = line.trim_end();
        if trimmed.len() < 3 {
            bail!("malformed reply {trimmed:?}");
        }
        if trimmed.as_bytes().get(3) != Some(&b'-') {
            let code = trimmed[..3].parse().with_context(|| format!("malformed reply {trimmed:?}"))?;
            return Ok(Reply { code, text: trimmed.to_string() });
        }
    }
}

/// The stages of one message, in order; each is timed from its command to its reply.
const STAGES: [&str; 7] = ["connect+greeting", "EHLO", "MAIL", "RCPT", "DATA", "end of DATA", "QUIT"];

/// How long each stage of [`STAGES`] took.
type StageTimes = [Duration; 7];

/// What became of one message.
enum Outcome {
    /// `250` after DATA: the stage times (the latency is `end of DATA`) and the id the server gave, if any.
    Accepted { stages: StageTimes, id: Option<String> },
    /// Refused or failed, with the stage and the reply or error.
    Failed(String),
}

struct Job<'a> {
    server: &'a str,
    from: &'a str,
    to: &'a str,
    message: &'a [u8],
}

/// Sends one message over its own connection.
async fn send_one(job: &Job<'_>) -> Outcome {
    match try_send_one(job).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(format!("error: {e:#}")),
    }
}

async fn command(
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
    line: &[u8],
) -> anyhow::Result<Reply> {
    writer.write_all(line).await?;
    read_reply(reader).await
}

async fn try_send_one(job: &Job<'_>) -> anyhow::Result<Outcome> {
    let mut stages = StageTimes::default();
    let started = Instant::now();
    let stream = TcpStream::connect(job.server).await.context("connect")?;
    stream.set_nodelay(true)?;
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    let greeting = read_reply(&mut reader).await?;
    stages[0] = started.elapsed();
    if greeting.code != 220 {
        return Ok(Outcome::Failed(format!("greeting: {}", greeting.text)));
    }
    let commands: [(Vec<u8>, u16); 4] = [
        (b"EHLO bench.localhost\r\n".to_vec(), 250),
        (format!("MAIL FROM:<{}>\r\n", job.from).into_bytes(), 250),
        (format!("RCPT TO:<{}>\r\n", job.to).into_bytes(), 250),
        (b"DATA\r\n".to_vec(), 354),
    ];
    for (i, (line, expected)) in commands.iter().enumerate() {
        let sent = Instant::now();
        let reply = command(&mut reader, &mut writer, line).await?;
        stages[i + 1] = sent.elapsed();
        if reply.code != *expected {
            let _ = command(&mut reader, &mut writer, b"QUIT\r\n").await;
            return Ok(Outcome::Failed(format!("{}: {}", STAGES[i + 1], reply.text)));
        }
    }
    // The clock starts once the last byte of the message is written.
    writer.write_all(job.message).await?;
    let sent = Instant::now();
    let reply = read_reply(&mut reader).await?;
    stages[5] = sent.elapsed();
    let quit = Instant::now();
    let _ = command(&mut reader, &mut writer, b"QUIT\r\n").await;
    stages[6] = quit.elapsed();
    if reply.code != 250 {
        return Ok(Outcome::Failed(format!("end of DATA: {}", reply.text)));
    }
    let id = reply.text.rsplit_once("queued as ").map(|(_, id)| id.trim().to_string());
    Ok(Outcome::Accepted { stages, id })
}

/// What one session saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    /// The sum of each stage's times over the accepted messages.
    stage_sums: StageTimes,
    ids: Vec<String>,
    failures: BTreeMap<String, usize>,
}

/// The `q`-quantile of sorted latencies, in milliseconds (nearest rank).
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The message as a mail client sends a new one: a Message-ID of its own and a Date of now (replacing the
/// file's `Date` header, if any), in front of its other headers.
fn with_identity(message: &[u8], message_id: &str) -> Vec<u8> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let headers_end = memmem(message, b"\r\n\r\n").map_or(message.len(), |p| p + 2);
    let mut out = format!("Message-ID: {message_id}\r\nDate: {date}\r\n").into_bytes();
    let mut rest = message;
    let mut at = 0;
    while at < headers_end {
        let end = memmem(&rest[at..], b"\r\n").map_or(rest.len(), |p| at + p + 2);
        let line = &rest[at..end];
        let is_date = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"date:");
        if !is_date {
            out.extend_from_slice(line);
        }
        at = end;
    }
    rest = &rest[at..];
    out.extend_from_slice(rest);
    out
}

fn memmem(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A tag that differs from one run to the next (the time in nanoseconds, in hex).
fn ids_run_tag() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos:x}")
}

async fn send(opts: &Options) -> anyhow::Result<()> {
    let server = opts.get("server")?.to_string();
    let sessions = opts.number("sessions")?.max(1);
    let total = opts.number("messages")?;
    let from = opts.get("from")?.to_string();
    let to = opts.get("to")?.to_string();
    let file = opts.get("file")?;
    let raw = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    let message: Arc<[u8]> = wire_message(&raw).into();
    // `--message-ids unique`: every message gets a Message-ID of its own in front of its headers, as real mail
    // has (the server then derives each job's id from it, for its duplicate check).
    let unique_ids = match opts.0.get("message-ids").map(String::as_str) {
        None | Some("none") => false,
        Some("unique") => true,
        Some(other) => bail!("--message-ids must be unique or none, not {other:?}"),
    };
    let run = ids_run_tag();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..sessions {
        let (server, from, to, message, next, run) =
            (server.clone(), from.clone(), to.clone(), message.clone(), next.clone(), run.clone());
        tasks.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let own;
                let message: &[u8] = if unique_ids {
                    own = with_identity(&message, &format!("<{n}.{run}@smtp-load.test>"));
                    &own
                } else {
                    &message
                };
                let job = Job { server: &server, from: &from, to: &to, message };
                match send_one(&job).await {
                    Outcome::Accepted { stages, id } => {
                        tally.latencies.push(stages[5]);
                        for (sum, t) in tally.stage_sums.iter_mut().zip(stages) {
                            *sum += t;
                        }
                        tally.ids.extend(id);
                    }
                    Outcome::Failed(what) => *tally.failures.entry(what).or_default() += 1,
                }
            }
            tally
        });
    }
    let mut all = Tally::default();
    while let Some(done) = tasks.join_next().await {
        let tally = done.context("session task")?;
        all.latencies.extend(tally.latencies);
        for (sum, t) in all.stage_sums.iter_mut().zip(tally.stage_sums) {
            *sum += t;
        }
        all.ids.extend(tally.ids);
        for (what, n) in tally.failures {
            *all.failures.entry(what).or_default() += n;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies.sort();
    if let Ok(path) = opts.get("ids") {
        let mut text = all.ids.join("\n");
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {path}"))?;
    }
    let accepted = all.latencies.len();
    let failed: usize = all.failures.values().sum();
    let mean_ms = |sum: Duration| round3(sum.as_secs_f64() * 1000.0 / accepted.max(1) as f64);
    let stages: serde_json::Map<String, Value> =
        STAGES.iter().zip(all.stage_sums).map(|(name, sum)| (name.to_string(), json!(mean_ms(sum)))).collect();
    let report = json!({
        "server": server,
        "sessions": sessions,
        "messages": total,
        "accepted": accepted,
        "failed": failed,
        "failures": all.failures,
        "elapsed_s": round3(elapsed),
        "msgs_per_s": round3(accepted as f64 / elapsed.max(1e-9)),
        "p50_ms": round3(quantile_ms(&all.latencies, 0.50)),
        "p90_ms": round3(quantile_ms(&all.latencies, 0.90)),
        "p99_ms": round3(quantile_ms(&all.latencies, 0.99)),
        "max_ms": round3(all.latencies.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)),
        "stage_mean_ms": stages,
    });
    println!("{report}");
    Ok(())
}

async fn count_jobs(opts: &Options) -> anyhow::Result<()> {
    let dir = PathBuf::from(opts.get("store")?);
    let faxbox = opts.get("faxbox")?;
    let store = EmbeddedStore::open(&dir).with_context(|| format!("opening the store in {}", dir.display()))?;
    let range = ViewOptions::range(json!([faxbox]), json!([faxbox, {}]));
    let rows = store.query(db::FAXES, "faxes/list_by_faxbox", &range).await?;
    let stored: HashSet<String> = rows.iter().filter_map(|r| r.id.clone()).collect();
    let pending = rows.iter().filter(|r| r.value.get("status") == Some(&Value::from("pending"))).count();
    let mut report = json!({"faxbox_id": faxbox, "jobs": rows.len(), "distinct_ids": stored.len(), "pending": pending});
    if let Ok(path) = opts.get("ids") {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        let ids: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let missing: Vec<&str> = ids.iter().copied().filter(|id| !stored.contains(*id)).collect();
        report["ids_checked"] = json!(ids.len());
        report["ids_missing"] = json!(missing.len());
        report["missing_sample"] = json!(missing.iter().take(5).collect::<Vec<_>>());
    }
    println!("{report}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: smtp_load send --server ADDR --sessions N --messages M --from A --to B --file F [--ids OUT] [--message-ids unique]\n       \
                 smtp_load count-jobs --store DIR --faxbox ID [--ids FILE]";
    let Some(command) = args.next() else { bail!("{usage}") };
    let opts = Options::parse(args)?;
    match command.as_str() {
        "send" => send(&opts).await,
        "count-jobs" => count_jobs(&opts).await,
        _ => bail!("{usage}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_dot_stuffed_and_terminated() {
        assert_eq!(wire_message(b"a\n.b\n..c\nd"), b"a\r\n..b\r\n...c\r\nd\r\n.\r\n");
        assert_eq!(wire_message(b"a\r\n.\r\n"), b"a\r\n..\r\n.\r\n");
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&sorted, 0.5), 50.0);
        assert_eq!(quantile_ms(&sorted, 0.99), 99.0);
        assert_eq!(quantile_ms(&sorted[..1], 0.99), 1.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }
}
