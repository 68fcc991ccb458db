//! `ccpulse`: real-time contact-centre KPIs from Kafka events.

mod config_file;
mod replay_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Real-time contact-centre KPIs from Kafka events.
#[derive(Debug, Parser)]
#[command(name = "ccpulse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Feed an event file through the engine and print the queues answer of one window.
    Replay(replay_cmd::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => match replay_cmd::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}
