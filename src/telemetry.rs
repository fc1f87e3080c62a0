//! Logging set-up: `RUST_LOG` filtering with a quiet default, plain or JSON lines on stderr.
//!
//! Comment text, e-mail addresses and IP addresses are only ever logged at debug level or below.

use tracing_subscriber::EnvFilter;

/// Filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "warn,saring=info";

/// Install the global subscriber. Call once, first thing in `main`.
pub fn init(json: bool) {
    init_with(json, DEFAULT_FILTER);
}

/// [`init`], with `default_filter` where `RUST_LOG` is unset.
pub fn init_with(json: bool, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour only for a person at a terminal; files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second init (as in tests that run commands in-process) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// An error and its causes as one line, `outer: cause: root cause`: for log fields and for replies that
/// must say why (a refused model file), where `{}` alone would drop the causes.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
