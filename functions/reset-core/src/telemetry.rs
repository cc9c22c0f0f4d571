//! Structured JSON logs. Fields never carry a token, a password or a full mail address:
//! the domain types redact themselves in `Debug`, and handlers log only outcomes.
//!
//! Each line carries its innermost span as `span` (for the HTTP functions the `request` span of
//! `web::serve`: request id, function, route), so every line of a request can be found by its
//! id; the list of outer spans (the Lambda runtime's invoke span) is left out.

use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once per container. `RUST_LOG` sets the level (default info).
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// The same subscriber writing elsewhere, installed for the whole process (first call wins).
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = tracing::subscriber::set_global_default(json_subscriber(writer));
}

/// The functions' log format: one JSON object per line, the current span included.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_writer(writer)
        .finish()
}

/// A writer that keeps what is logged in memory, for the tests that read the log lines.
#[derive(Clone, Default)]
pub struct CapturedLines(Arc<Mutex<Vec<u8>>>);

impl CapturedLines {
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

pub struct CapturedLinesWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLinesWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLines {
    type Writer = CapturedLinesWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CapturedLinesWriter(self.0.clone())
    }
}

/// The log lines of this thread alone, in the functions' format, for tests: the subscriber is
/// the default of this thread only (a `#[tokio::test]` runs what it awaits on its own thread), so
/// lines of tests running in parallel cannot satisfy or spoil its assertions.
pub fn capture_this_thread() -> (CapturedLines, tracing::subscriber::DefaultGuard) {
    // A callsite's interest is cached process-wide by the first thread that hits it; a sibling
    // test's thread without a subscriber would cache "never" and blind this capture
    // (tokio-rs/tracing#3611). A global subscriber of the same level, writing nowhere, gives
    // every thread an interested answer.
    static GLOBAL_SINK: std::sync::Once = std::sync::Once::new();
    GLOBAL_SINK.call_once(|| {
        let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::sink));
    });
    let capture = CapturedLines::default();
    let guard = tracing::subscriber::set_default(json_subscriber(capture.clone()));
    // Callsites first hit before the global one existed may have cached "never": ask again.
    tracing::callsite::rebuild_interest_cache();
    (capture, guard)
}
