//! `ccpulse`: real-time contact-centre KPIs from Kafka events.

mod access;
mod config_file;
mod demo;
mod import_cmd;
mod intervals;
mod mapped;
mod publisher;
mod replay_cmd;
mod serve;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Real-time contact-centre KPIs from Kafka events.
#[derive(Debug, Parser)]
#[command(name = "ccpulse", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: Kafka in, the HTTP API and /metrics out.
    Serve(serve::ServeArgs),
    /// Run a self-contained demo: in-process Kafka, simulated traffic, the service.
    Demo(demo::DemoArgs),
    /// Produce simulated contact-centre traffic into a Kafka cluster.
    Simulate(simulate::SimulateArgs),
    /// Feed an event file through the engine and print the queues answer of one window.
    Replay(replay_cmd::ReplayArgs),
    /// Issue an access token: prints it once, and the lines that grant it its role.
    Token(access::TokenArgs),
    /// Translate a vendor's events (Asterisk queue_log, Amazon Connect, Twilio
    /// TaskRouter) into contract events: `key<TAB>json` lines on stdout, or into Kafka.
    Import(import_cmd::ImportArgs),
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

fn fail(e: impl std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => match replay_cmd::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e, 2),
        },
        Command::Token(args) => match access::issue(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e, 1),
        },
        Command::Serve(args) => {
            init_logging(cli.log_format);
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail(e, 1),
            };
            let result = rt.block_on(async {
                let resolved = serve::resolve(&args)?;
                serve::serve(resolved, |_| {}).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let code = e.exit_code();
                    fail(e, code)
                }
            }
        }
        Command::Demo(args) => {
            init_logging(cli.log_format);
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail(e, 1),
            };
            match rt.block_on(demo::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e, 1),
            }
        }
        Command::Import(args) => {
            init_logging(cli.log_format);
            match import_cmd::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let code = e.exit_code();
                    fail(e, code)
                }
            }
        }
        Command::Simulate(args) => {
            init_logging(cli.log_format);
            match simulate::run(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e, 1),
            }
        }
    }
}
