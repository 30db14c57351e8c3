//! Structured logs of the job commands: human lines on a terminal, JSON lines
//! otherwise (journald, Kubernetes, log shippers). `BUNKER_LOG` filters (e.g. `debug`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_env("BUNKER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}
