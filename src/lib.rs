//! `depositary`: the command-line tool over the ledger. Glue only: the format lives in
//! `depositary-core`, the rules in `depositary-projection`, SQL in `depositary-store`.
//!
//! The command line is a library function, [`main`], so that the benchmark can run exactly
//! the code the `depositary` binary runs, in processes of its own.

#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod keyfile;
mod lines;

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;
use depositary_core::Instant;

use crate::cli::{Cli, Command};

/// What a command ended with: its exit code.
pub(crate) struct Exit(pub u8);

impl Exit {
    /// Success.
    pub const OK: Exit = Exit(0);
}

/// The ledger path: `--ledger`, else `DEPOSITARY_LEDGER`, else `./depositary.db`.
fn ledger_path(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("DEPOSITARY_LEDGER").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("depositary.db"))
}

/// The system clock, to the second, in UTC.
pub(crate) fn now() -> Option<Instant> {
    Instant::from_naive_utc(chrono::Utc::now().naive_utc())
}

/// How many threads verification uses: every core.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    let ledger = ledger_path(cli.ledger);
    match cli.command {
        Command::Keygen { out } => cmd::keygen(&out),
        Command::Init {
            treaty,
            key,
            recorded_at,
        } => cmd::init(&ledger, &treaty, &key, recorded_at),
        Command::Append(args) => cmd::append(&ledger, args),
        Command::Verify(args) => cmd::verify::run(&ledger, args),
        Command::Export { out } => cmd::export(&ledger, out.as_deref()),
        Command::Import { file } => cmd::import(&ledger, &file),
        Command::Log { from, party } => cmd::log(&ledger, from, party.as_ref()),
        Command::Status(args) => cmd::status(&ledger, args),
        Command::History { party } => cmd::history(&ledger, &party),
        Command::Demo => cmd::demo::run(),
    }
}

/// The messages of an error and its causes, leaving out a cause whose words its
/// predecessor already showed (many errors print their source in their own message).
pub(crate) fn causes(e: &anyhow::Error) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.last().is_none_or(|previous| !previous.contains(&text)) {
            out.push(text);
        }
    }
    out
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Runs the command line with the process's arguments, as the `depositary` binary does.
pub fn main() -> ExitCode {
    main_with(std::env::args_os())
}

/// Runs the command line with `args` (the first being the program's name).
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    match run(cli) {
        Ok(Exit(code)) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let mut err = io::stderr().lock();
            let mut messages = causes(&e).into_iter();
            let _ = writeln!(err, "error: {}", messages.next().unwrap_or_default());
            for cause in messages {
                let _ = writeln!(err, "  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
