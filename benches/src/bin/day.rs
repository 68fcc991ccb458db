//! `ccpulse-day`: writes a realistic day of traffic (see `ccpulse_sim::day`) as JSON
//! lines, or `key<TAB>json` lines with `--keys`, and says on stderr what it holds.
//!
//! `ccpulse-day [--seed 1] [--contacts 200000] [--customers 100000] [--keys]
//! [--survey-batch-minutes 15] [--duplicates-per-thousand 1] [--output FILE]`

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use ccpulse_core::time::MINUTE;
use ccpulse_sim::day::{generate, write, DayConfig};

fn main() -> ExitCode {
    let mut cfg = DayConfig::default();
    let mut keys = false;
    let mut output: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<String, String> { args.next().ok_or(format!("{name} needs a value")) };
        let number = |s: String| -> Result<u64, String> { s.parse().map_err(|_| format!("not a number: {s}")) };
        let parsed: Result<(), String> = (|| {
            match arg.as_str() {
                "--seed" => cfg.seed = number(value("--seed")?)?,
                "--contacts" => cfg.contacts = number(value("--contacts")?)? as usize,
                "--customers" => cfg.customers = number(value("--customers")?)? as usize,
                "--survey-batch-minutes" => {
                    cfg.survey_batch_ms = number(value("--survey-batch-minutes")?)? as i64 * MINUTE
                }
                "--duplicates-per-thousand" => {
                    cfg.duplicates_per_thousand = number(value("--duplicates-per-thousand")?)? as u32
                }
                "--keys" => keys = true,
                "--output" => output = Some(value("--output")?),
                other => return Err(format!("unknown argument {other}")),
            }
            Ok(())
        })();
        if let Err(e) = parsed {
            eprintln!("ccpulse-day: {e}");
            return ExitCode::from(2);
        }
    }
    let (lines, stats) = generate(&cfg);
    let written = match &output {
        Some(path) => std::fs::File::create(path).and_then(|f| {
            let mut w = BufWriter::with_capacity(1 << 20, f);
            write(&lines, keys, &mut w)?;
            w.flush()
        }),
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            write(&lines, keys, &mut w).and_then(|()| w.flush())
        }
    };
    if let Err(e) = written {
        eprintln!("ccpulse-day: cannot write: {e}");
        return ExitCode::FAILURE;
    }
    let bytes: usize = lines.iter().map(|l| l.json.len() + 1).sum();
    eprintln!(
        "{} lines ({} MB as JSON lines), {} contacts, {} customers, {} agent events ({:.1} %), {} surveys, {} duplicates",
        stats.lines,
        bytes / 1_000_000,
        stats.contacts,
        stats.customers,
        stats.agent_events,
        100.0 * stats.agent_events as f64 / stats.lines.max(1) as f64,
        stats.surveys,
        stats.duplicates
    );
    ExitCode::SUCCESS
}
