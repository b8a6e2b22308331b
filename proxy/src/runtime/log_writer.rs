//! Where log lines go: appended to one in-memory buffer, written to stderr by a background
//! thread. A request pays for a lock and a copy, never for a wake-up or a system call:
//! access lines are written when the buffer fills or every `FLUSH_EVERY`, other lines (rare:
//! warnings, errors) wake the writer at once. A channel per line with a thread that wakes
//! for each (`tracing_appender::non_blocking`) cost the admitted path ~30 µs of CPU per
//! request on a busy box (docs/benchmarks.md "Access log cost").
//!
//! When stderr cannot keep up, lines beyond `MAX_PENDING` bytes are dropped (and counted in
//! a line of their own) rather than requests slowed.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long an access line may wait before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Pending bytes that wake the writer before its timer.
const WAKE_AT: usize = 32 * 1024;
/// Pending bytes past which lines are dropped.
const MAX_PENDING: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    dropped: u64,
    /// An urgent line or a full buffer: write before the timer.
    due: bool,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Held while a batch is written, so the one written at exit comes after it.
    writing: Mutex<()>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding this lock leaves only bytes behind: keep logging.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, line: &[u8], urgent: bool) {
        let mut pending = self.lock();
        if pending.lines.len() + line.len() > MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        pending.lines.extend_from_slice(line);
        if (urgent || pending.lines.len() >= WAKE_AT) && !pending.due {
            pending.due = true;
            self.wake.notify_one();
        }
    }
}

/// The `MakeWriter` of the process logger; [`LogFlusher`] (kept for the process' life)
/// writes what it collects.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

/// Writes the remaining lines and stops the writer thread when dropped.
pub struct LogFlusher {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The process logger's buffer, for the write at exit.
static PROCESS: std::sync::OnceLock<Arc<Shared>> = std::sync::OnceLock::new();

/// A logger's writer and the flusher that must live as long as the process logs. The
/// process exits through `std::process::exit` (Pingora's shutdown) without dropping it, so
/// what is pending then is written by an exit handler.
pub fn batched_stderr() -> (BatchedStderr, LogFlusher) {
    let (writer, flusher) = batched(std::io::stderr());
    if PROCESS.set(writer.shared.clone()).is_ok() {
        // SAFETY: registers a plain `extern "C" fn` with no arguments, as atexit requires.
        unsafe {
            libc::atexit(write_pending_at_exit);
        }
    }
    (writer, flusher)
}

extern "C" fn write_pending_at_exit() {
    let Some(shared) = PROCESS.get() else {
        return;
    };
    let mut pending = shared.lock();
    let lines = std::mem::take(&mut pending.lines);
    let _writing = shared
        .writing
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    drop(pending);
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(&lines);
    let _ = stderr.flush();
}

fn batched<W: Write + Send + 'static>(mut out: W) -> (BatchedStderr, LogFlusher) {
    let shared = Arc::new(Shared::default());
    let writer_side = shared.clone();
    let thread = std::thread::Builder::new()
        .name("anteroom-log".into())
        .spawn(move || {
            let mut spare = Vec::new();
            loop {
                // The batch is taken and the write begun under the same lock (then the
                // buffer is free again): the exit handler, which takes the same locks in the
                // same order, writes after this batch.
                let (writing, closing, dropped) = {
                    let pending = writer_side.lock();
                    let (mut pending, _) = writer_side
                        .wake
                        .wait_timeout_while(pending, FLUSH_EVERY, |pending| {
                            !pending.due && !pending.closing
                        })
                        .unwrap_or_else(PoisonError::into_inner);
                    pending.due = false;
                    std::mem::swap(&mut pending.lines, &mut spare);
                    let writing = writer_side
                        .writing
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    (
                        writing,
                        pending.closing,
                        std::mem::take(&mut pending.dropped),
                    )
                };
                // Written outside the lock: requests keep appending meanwhile.
                let _ = out.write_all(&spare);
                if dropped > 0 {
                    let _ = writeln!(out, "log: {dropped} lines dropped (stderr too slow)");
                }
                let _ = out.flush();
                drop(writing);
                spare.clear();
                if closing {
                    return;
                }
            }
        })
        .ok();
    (
        BatchedStderr {
            shared: shared.clone(),
        },
        LogFlusher { shared, thread },
    )
}

impl Drop for LogFlusher {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's writer: the formatter writes the whole line, then it is appended.
pub struct LineWriter<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.append(buf, self.urgent);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter {
            shared: &self.shared,
            urgent: true,
        }
    }
}

impl BatchedStderr {
    /// Append an access line (`logs::access`): written within `FLUSH_EVERY`, not at once.
    pub fn append_access(&self, line: &[u8]) {
        self.shared.append(line, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` the test can read while the writer thread owns it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn written(sink: &Sink) -> String {
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    fn until(sink: &Sink, expected: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if written(sink).contains(expected) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn lines_arrive_whole_and_in_order_and_the_rest_on_drop() {
        let sink = Sink::default();
        let (writer, flusher) = batched(sink.clone());
        for n in 0..1000 {
            let mut line = writer.make_writer();
            line.urgent = n % 100 == 0;
            writeln!(line, "line {n}").unwrap();
        }
        assert!(
            until(&sink, "line 900\n"),
            "an urgent line wakes the writer"
        );
        drop(flusher);
        let text = written(&sink);
        let expected: String = (0..1000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn access_lines_are_written_within_the_flush_period() {
        let sink = Sink::default();
        let (writer, _flusher) = batched(sink.clone());
        writer.append_access(b"GET /tour 200\n");
        assert!(until(&sink, "GET /tour 200\n"));
    }

    #[test]
    fn past_the_bound_lines_are_dropped_and_counted() {
        let shared = Shared::default();
        let big = vec![b'x'; MAX_PENDING - 10];
        shared.append(&big, false);
        shared.append(b"this line does not fit\n", false);
        shared.append(b"fits\n", false);
        let pending = shared.lock();
        assert_eq!(pending.dropped, 1);
        assert!(pending.lines.ends_with(b"fits\n"));
    }
}
