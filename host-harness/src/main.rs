use std::io::IsTerminal;

use connector_harness::cli::{LogFormat, logging};

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let (format, serving) = logging(&args);
    let default_filter = if serving { "warn,connector_harness=info" } else { "error,connector_harness=warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into());
    let terminal = std::io::stderr().is_terminal();
    let logger = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).with_target(false);
    let json = format == LogFormat::Json || (format == LogFormat::Auto && serving && !terminal);
    if json {
        // One JSON object per line, fields at the top level, for a log pipeline; a sync's lines carry its span
        // (`"span":{"name":"sync","tenant":…}`).
        logger.json().flatten_event(true).with_current_span(true).with_span_list(false).init();
    } else if serving {
        // Colour only for a person at a terminal, never into a file or a pipe; a service's lines need their time.
        logger.with_ansi(terminal).init();
    } else {
        logger.with_ansi(terminal).without_time().init();
    }
    let code = connector_harness::cli::run(args, &mut std::io::stdout(), &mut std::io::stderr(), terminal);
    std::process::exit(code);
}
