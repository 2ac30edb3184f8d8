//! Runs conversions on a few dedicated background threads that only use the CPU that more urgent work leaves.
//!
//! Kazoo runs each conversion as an external command (`kz_fax_converter`, spec §5.6) at the priority of the
//! node, so a burst of faxes by email slows every SMTP session down while Ghostscript works. Here a node gives
//! its conversions a [`Pool`] of threads (one per core by default) scheduled as background work (Linux's
//! `SCHED_IDLE`): sessions, API calls and the store's writer always go first, and conversions take the rest of the
//! CPU. A lowered `nice` is not enough for that: a nice-19 thread still runs out its time slice (about a
//! millisecond) before a session's thread that has just woken up gets the core back, and an SMTP session wakes up
//! at every command; an idle-class thread gives the core up at once. A conversion's time limit counts from the
//! moment a thread starts it, not from when it was queued.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::convert::{ConvertOptions, Converted, Input, convert};
use crate::error::MediaError;

/// How a pool's threads are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Like every other thread of the process.
    Normal,
    /// Only when no other thread wants the core (`SCHED_IDLE`).
    Background,
}

/// Extra time allowed past a conversion's own limit for it to notice its deadline (one huge page can overrun).
const GRACE: Duration = Duration::from_secs(2);

type Work = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of low-priority conversion threads. Cloning it shares the same threads; they end when the last
/// clone is dropped and the work queued before that is done.
#[derive(Clone)]
pub struct Pool {
    tx: mpsc::Sender<Work>,
    threads: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("threads", &self.threads).finish()
    }
}

impl Pool {
    /// Starts `threads` threads (at least one) named `<name>-<n>`, scheduled at `priority` where the system allows
    /// it (a failure to lower the priority is logged and the thread runs at the normal priority).
    pub fn new(name: &str, threads: usize, priority: Priority) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Work>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new().name(format!("{name}-{n}")).spawn(move || {
                if priority == Priority::Background {
                    to_background();
                }
                loop {
                    // The lock is held only while waiting for the next piece of work, never while doing it.
                    let next = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(work) => work(),
                        Err(_) => return,
                    }
                }
            })?;
        }
        debug!(name, threads, ?priority, "conversion pool started");
        Ok(Pool { tx, threads })
    }

    /// One thread per core, in the background.
    pub fn background(name: &str) -> std::io::Result<Pool> {
        Pool::new(name, std::thread::available_parallelism().map_or(1, |n| n.get()), Priority::Background)
    }

    /// How many threads it has.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Converts `inputs` on one of the pool's threads. Waiting for a free thread does not count against
    /// `opts.timeout`; once started, a conversion that overruns its limit answers `TimedOut` (its thread stops
    /// at its next deadline check).
    pub async fn convert(&self, inputs: Vec<Input>, opts: ConvertOptions) -> Result<Converted, MediaError> {
        let limit = opts.timeout + GRACE;
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel();
        let work: Work = Box::new(move || {
            let _ = started_tx.send(());
            let result = convert(&inputs, &opts);
            let _ = done_tx.send(result);
        });
        if self.tx.send(work).is_err() {
            return Err(MediaError::corrupt("the conversion threads have stopped"));
        }
        if started_rx.await.is_err() {
            return Err(MediaError::corrupt("the conversion threads have stopped"));
        }
        match tokio::time::timeout(limit, done_rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(MediaError::corrupt("the converter stopped")),
            Err(_) => Err(MediaError::TimedOut),
        }
    }
}

/// Moves the calling thread to the background scheduling class (threads it starts, such as a PDF's page
/// renderers, inherit it).
fn to_background() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy) {
        warn!(error = ?e, "conversion thread not moved to the background");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> Input {
        Input::new(body.as_bytes().to_vec()).with_content_type("text/plain").with_filename("note.txt")
    }

    /// The scheduling policy of thread `tid` of this process, from `/proc` (field 41 of `stat`).
    fn policy_of(tid: i32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
        after.split_whitespace().nth(41 - 3).and_then(|v| v.parse().ok()).unwrap_or(-1)
    }

    /// Linux's number for `SCHED_IDLE`.
    const SCHED_IDLE: i32 = 5;

    #[tokio::test]
    async fn converts_on_threads_of_the_background_class() {
        let pool = Pool::new("test-convert", 2, Priority::Background).expect("pool");
        assert_eq!(pool.threads(), 2);
        let converted = pool.convert(vec![text("hello fax\n")], ConvertOptions::default()).await.expect("converted");
        assert_eq!(converted.pages, 1);
        assert!(converted.tiff.starts_with(b"II*\0") || converted.tiff.starts_with(b"MM\0*"));
        // Every thread of the pool carries the pool's name and the lowered priority.
        let mut seen = 0;
        for task in std::fs::read_dir("/proc/self/task").expect("tasks").flatten() {
            let tid: i32 = task.file_name().to_string_lossy().parse().unwrap_or(0);
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim().starts_with("test-convert-") {
                seen += 1;
                assert_eq!(policy_of(tid), SCHED_IDLE, "thread {tid} {comm}");
            }
        }
        assert_eq!(seen, 2);
    }

    #[tokio::test]
    async fn errors_come_back_as_the_converter_gives_them() {
        let pool = Pool::new("test-errpool", 1, Priority::Normal).expect("pool");
        let empty = pool.convert(Vec::new(), ConvertOptions::default()).await;
        assert!(matches!(empty, Err(MediaError::ZeroPages)), "{empty:?}");
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.convert(vec![text(&format!("page {i}\n"))], ConvertOptions::default()).await
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.await.expect("joined").expect("converted").pages, 1);
        }
    }
}
