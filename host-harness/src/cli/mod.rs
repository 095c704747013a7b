//! The `connector-harness` command line: one module per command (each a clap `Args` struct with `execute`),
//! the shared flags in `args`. It lives in the library so tests can run it in-process exactly as the binary
//! does; `main.rs` only wires up real stdio and logging.

mod args;
mod flow;
mod get;
mod inspect;
mod prune;
mod read;
mod serve;
mod status;
mod sync;
mod trigger;
mod validate;
mod write;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::display::one_line;
use crate::interrupt::{Interrupt, Interrupted};
use crate::runtime::Runtime;
use crate::secrets::Redactor;

#[derive(Parser)]
#[command(name = "connector-harness", version, about = "Runs identity-connector WebAssembly components: inspect, validate, sync, query")]
struct Cli {
    /// Where compiled components are cached (default: ~/.cache/connector-harness).
    #[arg(long, global = true, env = "HARNESS_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the component on every run instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Log lines as text or as JSON objects; `auto` is JSON for `serve` when stderr is not a terminal.
    #[arg(long, global = true, env = "HARNESS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Inspect(inspect::InspectCommand),
    Validate(validate::ValidateCommand),
    Sync(sync::SyncCommand),
    Resources(read::ResourcesCommand),
    Grants(read::GrantsCommand),
    Export(read::ExportCommand),
    Diff(read::DiffCommand),
    Get(get::GetCommand),
    Grant(write::GrantCommand),
    Revoke(write::RevokeCommand),
    CreateAccount(write::CreateAccountCommand),
    UpdateAccount(write::UpdateAccountCommand),
    CreateResource(write::CreateResourceCommand),
    Delete(write::DeleteCommand),
    Prune(prune::PruneCommand),
    Serve(serve::ServeCommand),
    Status(status::StatusCommand),
    Trigger(trigger::TriggerCommand),
    Flow(flow::FlowCommand),
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise (for `serve`).
    Auto,
    /// Text lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How the process should log, read from its arguments before logging starts (`main.rs`): the format, and
/// whether it runs the service, which logs each sync (other commands log only warnings).
pub fn logging(args: &[OsString]) -> (LogFormat, bool) {
    match Cli::try_parse_from(args) {
        Ok(cli) => (cli.log_format, matches!(cli.command, Command::Serve(_))),
        Err(_) => (LogFormat::Text, false),
    }
}

/// Whether `args` (the program name first) parse as a command line, without running anything; the parser's
/// message if not. The deployment manifests' arguments are checked with it.
pub fn parse_only(args: &[String]) -> Result<(), String> {
    Cli::try_parse_from(args).map(|_| ()).map_err(|e| e.render().to_string())
}

/// What every command may use: its output streams, the redactor everything printed goes through, and the
/// process's settings.
struct Context<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    redactor: &'a Redactor,
    show_progress: bool,
    interrupt: &'a Interrupt,
    cache_dir: Option<PathBuf>,
    /// `--log-format json`: what a command reports (`status`, `trigger`, an error) is a JSON object per line too.
    json: bool,
}

/// Runs the CLI with `args` (the program name first). Returns the process exit code.
pub fn run(args: Vec<OsString>, out: &mut dyn Write, err: &mut dyn Write, show_progress: bool) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors and go to stdout.
            if e.use_stderr() {
                let _ = write!(err, "{}", e.render());
                return 2;
            }
            let _ = write!(out, "{}", e.render());
            return 0;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let redactor = Redactor::default();
    let interrupt = match &cli.command {
        // Only a sync or the service has something to save when signalled; any other command just dies, as usual.
        Command::Sync(_) | Command::Serve(_) => match runtime.block_on(async { Interrupt::on_signals() }) {
            Ok(interrupt) => interrupt,
            Err(e) => {
                let _ = writeln!(err, "error: cannot listen for signals: {e}");
                return 1;
            }
        },
        _ => Interrupt::default(),
    };
    let json = cli.log_format == LogFormat::Json;
    match runtime.block_on(execute(cli, out, err, &redactor, show_progress, &interrupt, json)) {
        Ok(()) => 0,
        // A reader that stopped reading (`export | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            let message = one_line(&redactor.redact(&format!("{e:#}")));
            let _ = if json {
                let at = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
                writeln!(err, "{}", serde_json::json!({"timestamp": at, "level": "ERROR", "message": message}))
            } else {
                writeln!(err, "error: {message}")
            };
            match (e.downcast_ref::<Interrupted>(), interrupt.signalled()) {
                (Some(interrupted), _) => interrupted.signal.exit_code(),
                (None, Some(signal)) => signal.exit_code(),
                (None, None) => 1,
            }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

async fn execute(cli: Cli, out: &mut dyn Write, err: &mut dyn Write, redactor: &Redactor, show_progress: bool, interrupt: &Interrupt, json: bool) -> Result<()> {
    let cache_dir = if cli.no_cache { None } else { cli.cache_dir.clone().or_else(Runtime::default_cache_dir) };
    let cx = &mut Context { out, err, redactor, show_progress, interrupt, cache_dir, json };
    match cli.command {
        Command::Inspect(command) => command.execute(cx).await,
        Command::Validate(command) => command.execute(cx).await,
        Command::Sync(command) => command.execute(cx).await,
        Command::Resources(command) => command.execute(cx),
        Command::Grants(command) => command.execute(cx),
        Command::Export(command) => command.execute(cx),
        Command::Diff(command) => command.execute(cx),
        Command::Get(command) => command.execute(cx).await,
        Command::Grant(command) => command.execute(cx).await,
        Command::Revoke(command) => command.execute(cx).await,
        Command::CreateAccount(command) => command.execute(cx).await,
        Command::UpdateAccount(command) => command.execute(cx).await,
        Command::CreateResource(command) => command.execute(cx).await,
        Command::Delete(command) => command.execute(cx).await,
        Command::Prune(command) => command.execute(cx),
        Command::Serve(command) => command.execute(cx).await,
        Command::Status(command) => command.execute(cx),
        Command::Trigger(command) => command.execute(cx),
        Command::Flow(command) => command.execute(cx).await,
    }
}
