//! `depositary-bench`: measures Depositary against the cryptographic limit of its work, on
//! this machine, in one run: verification against Ed25519 batch verification on all cores,
//! appends against Ed25519 signing on one core, and the flatness of single appends and
//! status queries as the ledger grows. See `docs/PERFORMANCE.md`.
//!
//! ```text
//! cargo run --release -p depositary-bench -- --entries 1000000 [--json] [--dir PATH]
//! cargo run --release -p depositary-bench -- --quick
//! cargo run --release -p depositary-bench -- --entries 100000 --verify-only --rounds 9
//! ```

mod generate;
mod measure;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Serialize;

use crate::measure::{ChildRun, Signatures, depositary, median_of, median_run};

/// The size of `--quick`, for CI's build check.
const QUICK: u64 = 2_000;
/// The ledger the single append is compared with.
const SMALL: u64 = 1_000;

#[derive(Debug, Serialize)]
struct Figure {
    name: &'static str,
    value: f64,
    unit: &'static str,
    reference: Option<&'static str>,
    reference_value: Option<f64>,
    ratio: Option<f64>,
    target: &'static str,
    met: Option<bool>,
}

#[derive(Debug, Serialize)]
struct Report {
    /// Whether this build is optimised; without it the figures mean nothing.
    optimized: bool,
    entries: u64,
    threads: usize,
    batch: usize,
    machine: String,
    generated_in_seconds: f64,
    figures: Vec<Figure>,
}

struct Args {
    entries: u64,
    json: bool,
    dir: Option<PathBuf>,
    /// Rounds of each verification against its reference (odd: the median is one of them).
    rounds: usize,
    /// Only `verify` and its peak memory, to compare two builds quickly.
    verify_only: bool,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut out = Args {
        entries: 1_000_000,
        json: false,
        dir: None,
        rounds: 5,
        verify_only: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--entries" => {
                let n = it
                    .next()
                    .ok_or_else(|| anyhow!("--entries needs a number"))?;
                out.entries = n
                    .replace('_', "")
                    .parse()
                    .with_context(|| format!("--entries {n}"))?;
            }
            "--quick" => out.entries = QUICK,
            "--json" => out.json = true,
            "--verify-only" => out.verify_only = true,
            "--rounds" => {
                let r = it
                    .next()
                    .ok_or_else(|| anyhow!("--rounds needs a number"))?;
                out.rounds = r.parse().with_context(|| format!("--rounds {r}"))?;
                if out.rounds.is_multiple_of(2) {
                    bail!("--rounds must be odd (the median is one of the rounds), not {r}");
                }
            }
            "--dir" => {
                out.dir = Some(PathBuf::from(
                    it.next().ok_or_else(|| anyhow!("--dir needs a path"))?,
                ))
            }
            "--help" | "-h" => bail!(
                "usage: depositary-bench [--entries N | --quick] [--json] [--dir PATH] [--rounds R] [--verify-only]\n  --entries N    ledger size (default 1,000,000)\n  --quick        {QUICK} entries, for CI\n  --json         print the figures as JSON\n  --dir PATH     work in PATH (default: a temporary folder)\n  --rounds R     rounds of each verification against its reference, odd (default 5)\n  --verify-only  measure `verify` and its peak memory only"
            ),
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if out.entries < 500 {
        bail!(
            "--entries must be at least 500 (the synthetic treaty's first acts alone take 354 entries)"
        );
    }
    Ok(out)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cpu}, {cores} cores, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn s(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", p.display()))
}

fn rate(n: u64, run: ChildRun) -> f64 {
    n as f64 / run.wall.as_secs_f64()
}

fn run(args: Args) -> Result<Report> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("depositary-bench-")
                .tempdir()?;
            tmp.path().to_owned()
        }
    };
    let n = args.entries;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let batch = depositary_core::stream::DEFAULT_CHUNK;
    eprintln!(
        "generating a valid synthetic ledger of {n} entries and {n} further events in {}",
        dir.display()
    );
    let started = Instant::now();
    let export = dir.join("ledger.jsonl");
    let more = dir.join("more.jsonl");
    let further = (!args.verify_only).then_some((more.as_path(), n));
    let generated = generate::generate(n, &export, further)?;
    let small_export = dir.join("small.jsonl");
    generate::generate(SMALL, &small_export, None)?;
    let generated_in = started.elapsed().as_secs_f64();
    settle_disk();
    let key = dir.join("root.pem");
    if !key.exists() {
        std::fs::write(&key, generate::root_key().to_pkcs8_pem()?.as_bytes())?;
        set_owner_only(&key)?;
    }

    let mut figures = Vec::new();
    eprintln!(
        "reference: Ed25519 batch verification of the same {n} signatures on {threads} threads"
    );
    let sigs = Signatures::of_export(&export)?;
    let signing_sample = sigs.len().min(50_000);
    // On a shared machine a single run can be off by a tenth either way, and the load
    // changes over minutes. So each verification alternates with its reference, five
    // rounds by default, and each figure and its reference are the medians of their runs:
    // both see the same moments of the machine.
    let mut signing_rates = Vec::with_capacity(6);
    if !args.verify_only {
        for _ in 0..3 {
            signing_rates.push(sigs.signing_rate(signing_sample));
        }
    }

    eprintln!("verify (export), alternating with the reference");
    let (batch_rate, verify) = alternate(
        args.rounds,
        || sigs.batch_verify_rate(threads, batch),
        || depositary(&["verify", s(&export)?]),
    )?;
    let verify_rate = rate(n, verify);
    figures.push(ratio_figure(
        "verify",
        verify_rate,
        "entries/s",
        "Ed25519 batch verification, all cores",
        batch_rate,
        0.8,
        ">= 0.8",
    ));
    figures.push(Figure {
        name: "verify_peak_memory",
        value: verify.max_rss_kib as f64 / 1024.0,
        unit: "MiB",
        reference: None,
        reference_value: None,
        ratio: None,
        target: "<= 64 MiB at N = 1,000,000",
        met: (n >= 1_000_000).then_some(verify.max_rss_kib <= 64 * 1024),
    });

    let report = |figures| Report::of(n, threads, batch, generated_in, figures);
    if args.verify_only {
        return Ok(report(figures));
    }

    eprintln!("import (three times)");
    let db = dir.join("ledger.db");
    // An import writes a ledger of about 900 MB at N = 1,000,000, and how much of what the
    // machine wrote before is still being written back changes its time by a fifth: each
    // of three imports starts after `sync`, into a new file, and the median counts.
    let mut imports = Vec::with_capacity(3);
    for _ in 0..3 {
        remove_ledger(&db);
        settle_disk();
        imports.push(depositary(&["--ledger", s(&db)?, "import", s(&export)?])?);
    }
    let import = median_run(imports)?;
    figures.push(ratio_figure(
        "import",
        rate(n, import),
        "entries/s",
        "verify (export), same run",
        verify_rate,
        0.5,
        ">= 0.5",
    ));

    // A copy for the batch appends, before anything else is appended to the ledger (the
    // further events name seqs, for corrections, that follow its head).
    let before_append = dir.join("before-append.db");
    remove_ledger(&before_append);
    std::fs::copy(&db, &before_append)?;
    settle_disk();

    eprintln!("verify (ledger), alternating with the reference");
    let (batch_rate_db, verify_db) = alternate(
        args.rounds,
        || sigs.batch_verify_rate(threads, batch),
        || depositary(&["--ledger", s(&db)?, "verify"]),
    )?;
    figures.push(ratio_figure(
        "verify_db",
        rate(n, verify_db),
        "entries/s",
        "Ed25519 batch verification, all cores",
        batch_rate_db,
        0.7,
        ">= 0.7",
    ));

    eprintln!("status");
    let now = median_of(5, &["--ledger", s(&db)?, "status", "--format", "json"])?;
    figures.push(time_figure(
        "status_now",
        now,
        "< 100 ms at N = 1,000,000",
        0.1,
        n,
    ));
    let middle = generated.middle.to_string();
    let as_of = median_of(
        3,
        &[
            "--ledger",
            s(&db)?,
            "status",
            "--format",
            "json",
            "--as-of",
            &middle,
        ],
    )?;
    figures.push(time_figure(
        "status_as_of",
        as_of,
        "< 2 s at N = 1,000,000",
        2.0,
        n,
    ));

    eprintln!("append one entry (ledger of {n} vs {SMALL} entries)");
    let small_db = dir.join("small.db");
    remove_ledger(&small_db);
    depositary(&["--ledger", s(&small_db)?, "import", s(&small_export)?])?;
    let one = |ledger: &Path| -> Result<ChildRun> {
        let args = [
            "--ledger",
            s(ledger)?,
            "append",
            "--key",
            s(&key)?,
            "statement",
            "--party",
            "S100",
            "--date",
            "2026-01-01",
            "--kind",
            "communication",
            "--text",
            "Benchmark: one more communication.",
        ];
        median_of(7, &args)
    };
    let big = one(&db)?;
    let small = one(&small_db)?;
    figures.push(Figure {
        name: "append_one",
        value: big.wall.as_secs_f64() * 1000.0,
        unit: "ms",
        reference: Some("the same on a ledger of 1,000 entries, same run"),
        reference_value: Some(small.wall.as_secs_f64() * 1000.0),
        ratio: Some(big.wall.as_secs_f64() / small.wall.as_secs_f64()),
        target: "<= 1.5",
        met: Some(big.wall.as_secs_f64() / small.wall.as_secs_f64() <= 1.5),
    });

    // Three batch appends, each into a fresh copy after `sync`, each followed by a measure
    // of signing: the append is the median of the three, signing the median of these
    // three and the three at the start.
    eprintln!("append --events ({n} events), three times, alternating with signing");
    let batch_db = dir.join("batch.db");
    let mut appends = Vec::with_capacity(3);
    for _ in 0..3 {
        remove_ledger(&batch_db);
        std::fs::copy(&before_append, &batch_db)?;
        settle_disk();
        appends.push(depositary(&[
            "--ledger",
            s(&batch_db)?,
            "append",
            "--key",
            s(&key)?,
            "--events",
            s(&more)?,
        ])?);
        signing_rates.push(sigs.signing_rate(signing_sample));
    }
    drop(sigs);
    let appended = median_run(appends)?;
    signing_rates.sort_by(f64::total_cmp);
    let signing_rate = (signing_rates[2] + signing_rates[3]) / 2.0;
    figures.push(ratio_figure(
        "append_batch",
        rate(n, appended),
        "entries/s",
        "Ed25519 signing, one core",
        signing_rate,
        0.6,
        ">= 0.6",
    ));
    remove_ledger(&batch_db);
    remove_ledger(&before_append);

    Ok(report(figures))
}

impl Report {
    fn of(
        entries: u64,
        threads: usize,
        batch: usize,
        generated_in_seconds: f64,
        mut figures: Vec<Figure>,
    ) -> Report {
        if cfg!(debug_assertions) {
            // A debug build's figures say nothing about the product: no target is judged.
            for f in &mut figures {
                f.met = None;
            }
        }
        Report {
            optimized: !cfg!(debug_assertions),
            entries,
            threads,
            batch,
            machine: machine(),
            generated_in_seconds,
            figures,
        }
    }
}

/// `rounds` rounds of `reference` then `run`: the median of each.
fn alternate(
    rounds: usize,
    mut reference: impl FnMut() -> Result<f64>,
    mut run: impl FnMut() -> Result<ChildRun>,
) -> Result<(f64, ChildRun)> {
    let mut references = Vec::with_capacity(rounds);
    let mut runs = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        references.push(reference()?);
        runs.push(run()?);
    }
    references.sort_by(f64::total_cmp);
    Ok((references[references.len() / 2], median_run(runs)?))
}

fn ratio_figure(
    name: &'static str,
    value: f64,
    unit: &'static str,
    reference: &'static str,
    reference_value: f64,
    target: f64,
    target_text: &'static str,
) -> Figure {
    let ratio = value / reference_value;
    Figure {
        name,
        value,
        unit,
        reference: Some(reference),
        reference_value: Some(reference_value),
        ratio: Some(ratio),
        target: target_text,
        met: Some(ratio >= target),
    }
}

fn time_figure(
    name: &'static str,
    run: ChildRun,
    target: &'static str,
    limit_s: f64,
    n: u64,
) -> Figure {
    Figure {
        name,
        value: run.wall.as_secs_f64() * 1000.0,
        unit: "ms",
        reference: None,
        reference_value: None,
        ratio: None,
        target,
        met: (n >= 1_000_000).then_some(run.wall.as_secs_f64() < limit_s),
    }
}

/// Has the system write back what is still waiting to be written (`sync`), so that a
/// measurement does not pay for an earlier step's writes. Without `sync`, nothing is done.
fn settle_disk() {
    let _ = std::process::Command::new("sync").status();
}

fn remove_ledger(p: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
}

fn set_owner_only(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn print_table(r: &Report) {
    if !r.optimized {
        println!(
            "NOTE: built without optimisations (no --release): the figures are not meaningful and no target is judged.\n"
        );
    }
    println!(
        "Depositary benchmark: {} entries, {} ({} verification threads, batches of {})",
        r.entries, r.machine, r.threads, r.batch
    );
    println!(
        "(synthetic ledger generated in {:.1} s; every figure measured in this run)\n",
        r.generated_in_seconds
    );
    println!(
        "{:<20} {:>14} {:<10} {:>9}  {:<10} {:<6} reference",
        "figure", "value", "unit", "ratio", "target", "met"
    );
    for f in &r.figures {
        let ratio = f
            .ratio
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"));
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "n/a",
        };
        let reference = match (f.reference, f.reference_value) {
            (Some(r), Some(v)) => format!("{r}: {v:.1}"),
            _ => String::new(),
        };
        println!(
            "{:<20} {:>14.1} {:<10} {:>9}  {:<10} {:<6} {}",
            f.name, f.value, f.unit, ratio, f.target, met, reference
        );
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--as-depositary") {
        let mut argv = vec!["depositary".to_owned()];
        argv.extend(args.into_iter().skip(1));
        return depositary::main_with(argv);
    }
    if args.first().map(String::as_str) == Some("--watch") {
        return match measure::watch(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("watch: error {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = parse_args(&args).and_then(|a| {
        let json = a.json;
        run(a).map(|r| (r, json))
    });
    match result {
        Ok((report, json)) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print_table(&report);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Args> {
        parse_args(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn rounds_must_be_odd_and_verify_only_is_read() {
        let a = args(&["--entries", "100_000", "--verify-only", "--rounds", "9"]).expect("ok");
        assert_eq!((a.entries, a.rounds, a.verify_only), (100_000, 9, true));
        let d = args(&[]).expect("defaults");
        assert_eq!((d.entries, d.rounds, d.verify_only), (1_000_000, 5, false));
        for bad in ["0", "2", "x"] {
            assert!(args(&["--rounds", bad]).is_err(), "--rounds {bad}");
        }
        assert!(args(&["--rounds"]).is_err());
    }
}
