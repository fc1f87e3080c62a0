//! The `saring` binary: parse the command line, set up logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = saring::cli::Cli::parse();
    saring::telemetry::init_with(cli.log_json, cli.default_log_filter());
    match saring::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<saring::cli::OutputClosed>().is_some() => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes, outermost first.
            eprintln!("error: {err:#}");
            // EX_CONFIG-style 64 for a configuration the operator must fix, as STYLE asks.
            if err.downcast_ref::<saring::config::Error>().is_some() {
                ExitCode::from(64)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

// mimalloc rather than glibc's malloc: a check allocates and frees many small buffers across tokio's
// threads (HTTP/2 frames, protobuf, Redis replies), and glibc's allocator was a fifth of the server's
// CPU under load; mimalloc took server CPU per check down by about a quarter (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
