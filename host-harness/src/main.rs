use std::io::IsTerminal;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error,connector_harness=warn".into()))
        .with_target(false)
        // Colour only for a person at a terminal, never into a file or a pipe.
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .init();
    let show_progress = std::io::stderr().is_terminal();
    let code = connector_harness::cli::run(std::env::args_os().collect(), &mut std::io::stdout(), &mut std::io::stderr(), show_progress);
    std::process::exit(code);
}
