//! Structured JSON logs. Fields never carry a token, a password or a full mail address:
//! the domain types redact themselves in `Debug`, and handlers log only outcomes.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once per container. `RUST_LOG` sets the level (default info).
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// The same subscriber writing elsewhere; the log-hygiene test captures lines with it.
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(writer)
        .try_init();
}
