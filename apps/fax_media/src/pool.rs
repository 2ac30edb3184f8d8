//! Runs conversions on a few dedicated background threads that only use the CPU that more urgent work leaves.
//!
//! Kazoo runs each conversion as an external command (`kz_fax_converter`, spec §5.6) at the priority of the
//! node, so a burst of faxes by email slows every SMTP session down while Ghostscript works. Here a node gives
//! its conversions a [`Pool`] of threads (one per core by default) whose scheduling priority is lowered (`nice`
//! 19 on Linux): sessions, API calls and the store's writer always go first, and conversions take the rest of the
//! CPU. A conversion's time limit counts from the moment a thread starts it, not from when it was queued.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::convert::{ConvertOptions, Converted, Input, convert};
use crate::error::MediaError;

/// The nice value of a pool's threads: the lowest priority a process may give itself.
pub const BACKGROUND_NICE: i32 = 19;

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
    /// Starts `threads` threads (at least one) named `<name>-<n>`, each at nice `nice` where the system allows it
    /// (a failure to lower the priority is logged and the thread runs at the normal priority).
    pub fn new(name: &str, threads: usize, nice: i32) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Work>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new().name(format!("{name}-{n}")).spawn(move || {
                lower_priority(nice);
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
        debug!(name, threads, nice, "conversion pool started");
        Ok(Pool { tx, threads })
    }

    /// One thread per core, at [`BACKGROUND_NICE`].
    pub fn background(name: &str) -> std::io::Result<Pool> {
        Pool::new(name, std::thread::available_parallelism().map_or(1, |n| n.get()), BACKGROUND_NICE)
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

/// Lowers the calling thread's scheduling priority to `nice` (Linux keeps a nice value per thread; threads it
/// starts, such as a PDF's page renderers, inherit it).
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        warn!(error = %e, nice, "conversion thread priority not lowered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> Input {
        Input::new(body.as_bytes().to_vec()).with_content_type("text/plain").with_filename("note.txt")
    }

    /// The nice value of thread `tid` of this process, from `/proc` (field 19 of `stat`).
    fn nice_of(tid: i32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
        after.split_whitespace().nth(16).and_then(|v| v.parse().ok()).unwrap_or(i32::MIN)
    }

    #[tokio::test]
    async fn converts_on_threads_that_run_at_the_background_priority() {
        let pool = Pool::new("test-convert", 2, BACKGROUND_NICE).expect("pool");
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
                assert_eq!(nice_of(tid), BACKGROUND_NICE, "thread {tid} {comm}");
            }
        }
        assert_eq!(seen, 2);
    }

    #[tokio::test]
    async fn errors_come_back_as_the_converter_gives_them() {
        let pool = Pool::new("test-errpool", 1, 0).expect("pool");
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
