//! Crash safety: `depositary append` processes killed with SIGKILL at random moments never
//! lose an append that reported success, never leave a batch half-written, never duplicate
//! an entry and never leave the ledger locked or unverifiable.
//!
//! The test starts appends one after another (single statements, and sometimes `--events`
//! files of 20 statements, which are all or nothing) on a ledger of the test treaty and
//! kills each after a random delay of 0 to 40 ms, until 200 of them were killed before they
//! exited. Now and then a second append (a "bystander") is started beside the victim and
//! allowed to finish: it must get the write lock even when the victim died holding it.
//!
//! The delays come from a SplitMix64 generator with a fixed seed, printed at the start; set
//! `DEPOSITARY_CRASH_SEED` (decimal or `0x` hex) to replay a run. Where each kill lands in
//! the append still depends on the machine's timing, so a replay reproduces the schedule,
//! not necessarily the failure.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Run, SplitMix64, json};
use serde_json::Value;

const TREATY: &str = "treaties/test-3-instruments-30-days.json";
/// How many appends must be killed before they exit.
const KILLS: usize = 200;
/// A bound on the loop, so that the test ends even if kills never land.
const MAX_ITERATIONS: usize = 4_000;
/// Events in one `--events` file.
const BATCH: usize = 20;
/// The longest delay before a kill.
const MAX_DELAY_US: u64 = 40_000;
/// How long an append that is not killed may take (the store's busy timeout is 60 s).
const PROCESS_LIMIT: Duration = Duration::from_secs(90);
const DEFAULT_SEED: u64 = 0xDE90_517A_C4A5_0001;

/// The seed: `DEPOSITARY_CRASH_SEED` if set (decimal or `0x` hex), else a fixed one.
fn seed() -> u64 {
    match std::env::var("DEPOSITARY_CRASH_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                None => s.replace('_', "").parse(),
            };
            parsed.unwrap_or_else(|e| panic!("DEPOSITARY_CRASH_SEED={s:?} is not a u64: {e}"))
        }
        Err(_) => DEFAULT_SEED,
    }
}

/// A statement event as a line of an `--events` file.
fn statement_line(text: &str) -> String {
    serde_json::json!({
        "type": "statement",
        "party": "AAA",
        "date": "2025-02-01",
        "kind": "communication",
        "text": text,
    })
    .to_string()
}

/// `append` arguments for one statement.
fn single_args(text: &str) -> Vec<String> {
    [
        "append",
        "--key",
        "root.pem",
        "statement",
        "--party",
        "AAA",
        "--date",
        "2025-02-01",
        "--kind",
        "communication",
        "--text",
        text,
    ]
    .map(String::from)
    .to_vec()
}

/// Starts the binary in the test's folder, its output going to files `NAME.out` and
/// `NAME.err` there.
fn spawn(env: &Env, args: &[String], name: &str) -> Child {
    let out = File::create(env.path(&format!("{name}.out"))).expect("create stdout file");
    let err = File::create(env.path(&format!("{name}.err"))).expect("create stderr file");
    Command::new(env!("CARGO_BIN_EXE_depositary"))
        .current_dir(env.dir.path())
        .env("DEPOSITARY_LEDGER", env.ledger())
        .env_remove("RUST_BACKTRACE")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the binary starts")
}

/// Waits for a child at most `limit`; kills it and fails if it takes longer.
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {limit:?}: the ledger is stuck (left locked?)");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The output of a child that ended, read back from its files.
fn finished(env: &Env, name: &str, status: ExitStatus) -> Run {
    let read = |ext: &str| {
        String::from_utf8_lossy(&std::fs::read(env.path(&format!("{name}.{ext}"))).unwrap())
            .into_owned()
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: read("out"),
        stderr: read("err"),
    }
}

/// Runs the binary to its end, within `PROCESS_LIMIT`.
fn run_bounded(env: &Env, args: &[String], name: &str) -> Run {
    let mut child = spawn(env, args, name);
    let status = wait_bounded(&mut child, PROCESS_LIMIT, &format!("`depositary {args:?}`"));
    finished(env, name, status)
}

/// What an append reported on success: the seqs it wrote and the head's hash.
#[derive(Debug, Clone)]
struct Reported {
    first: u64,
    last: u64,
    head_hash: String,
}

/// Parses `appended entry N HASH` or `appended K entries, F to L; head L HASH`.
fn parse_reported(stdout: &str) -> Option<Reported> {
    let line = stdout.lines().next()?;
    if let Some(rest) = line.strip_prefix("appended entry ") {
        let mut it = rest.split(' ');
        let seq: u64 = it.next()?.parse().ok()?;
        let hash = it.next()?.to_owned();
        return Some(Reported {
            first: seq,
            last: seq,
            head_hash: hash,
        });
    }
    let rest = line.strip_prefix("appended ")?;
    let (_, rest) = rest.split_once(" entries, ")?;
    let (range, head) = rest.split_once("; head ")?;
    let (first, last) = range.split_once(" to ")?;
    let (head_seq, hash) = head.split_once(' ')?;
    let last: u64 = last.parse().ok()?;
    if head_seq.parse::<u64>().ok()? != last {
        return None;
    }
    Some(Reported {
        first: first.parse().ok()?,
        last,
        head_hash: hash.to_owned(),
    })
}

/// One attempted append.
#[derive(Debug)]
struct Attempt {
    iteration: usize,
    texts: Vec<String>,
    batch: bool,
    delay_us: u64,
    killed: bool,
    /// Set when the process exited 0 before any kill.
    reported: Option<Reported>,
}

/// One entry of the final export.
struct Exported {
    kind: String,
    text: Option<String>,
    prev: String,
    recorded_at: String,
}

fn parse_export(text: &str) -> Vec<Exported> {
    assert!(
        text.ends_with('\n'),
        "the export does not end with a line feed"
    );
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("export line {} is not JSON ({e}): {line}", i + 1));
            assert_eq!(
                v["seq"],
                i as u64,
                "export line {} has the wrong seq",
                i + 1
            );
            Exported {
                kind: v["event"]["type"].as_str().expect("event type").to_owned(),
                text: v["event"]["text"].as_str().map(str::to_owned),
                prev: v["prev"].as_str().expect("prev").to_owned(),
                recorded_at: v["recorded_at"].as_str().expect("recorded_at").to_owned(),
            }
        })
        .collect()
}

#[test]
fn appends_killed_at_random_moments_lose_nothing_that_succeeded_and_half_write_nothing() {
    let seed = seed();
    println!("crash seed: {seed:#x} (replay with DEPOSITARY_CRASH_SEED={seed:#x})");
    let mut rng = SplitMix64(seed);
    let env = Env::new();
    env.init(TREATY, "2025-01-10T09:00:00Z");
    let started = Instant::now();

    let mut attempts: Vec<Attempt> = Vec::new();
    let mut kills = 0usize;
    let mut iteration = 0usize;
    while kills < KILLS && iteration < MAX_ITERATIONS {
        iteration += 1;
        let i = iteration;
        // One append in five is a batch; half the delays are drawn from the first 20 ms,
        // where most of an append's work happens, half from the whole 40 ms.
        let batch = rng.below(5) == 0;
        let span = if rng.below(2) == 0 {
            MAX_DELAY_US / 2
        } else {
            MAX_DELAY_US
        };
        let delay_us = rng.below(span + 1);
        let bystander = rng.below(10) == 0;

        let (texts, args) = if batch {
            let texts: Vec<String> = (0..BATCH).map(|k| format!("crash {i} batch {k}")).collect();
            let body: String = texts.iter().map(|t| statement_line(t) + "\n").collect();
            env.write("batch.jsonl", body);
            let args = ["append", "--key", "root.pem", "--events", "batch.jsonl"]
                .map(String::from)
                .to_vec();
            (texts, args)
        } else {
            let text = format!("crash {i} single");
            let args = single_args(&text);
            (vec![text], args)
        };

        let mut victim = spawn(&env, &args, "victim");
        let mut other = bystander.then(|| {
            let text = format!("crash {i} bystander");
            (spawn(&env, &single_args(&text), "bystander"), text)
        });
        std::thread::sleep(Duration::from_micros(delay_us));
        if victim.try_wait().expect("try_wait").is_none() {
            // SIGKILL. If the process exited meanwhile, its exit status says so below.
            victim.kill().expect("kill");
        }
        let status = wait_bounded(&mut victim, PROCESS_LIMIT, "a killed append");
        let killed = status.signal() == Some(9);
        let mut attempt = Attempt {
            iteration: i,
            texts,
            batch,
            delay_us,
            killed,
            reported: None,
        };
        if killed {
            kills += 1;
        } else {
            // Not killed: appends run one at a time (or beside a bystander, which waits for
            // the lock), so an append that ended by itself must have succeeded.
            let run = finished(&env, "victim", status);
            run.ok();
            attempt.reported = Some(parse_reported(&run.stdout).unwrap_or_else(|| {
                panic!("unexpected output of a successful append: {}", run.stdout)
            }));
        }
        attempts.push(attempt);

        if let Some((mut child, text)) = other.take() {
            // The bystander must get the lock, whatever happened to the victim.
            let status = wait_bounded(&mut child, PROCESS_LIMIT, "an append beside a killed one");
            let run = finished(&env, "bystander", status);
            run.ok();
            attempts.push(Attempt {
                iteration: i,
                texts: vec![text],
                batch: false,
                delay_us: 0,
                killed: false,
                reported: Some(parse_reported(&run.stdout).unwrap_or_else(|| {
                    panic!("unexpected output of a successful append: {}", run.stdout)
                })),
            });
        }
    }
    let loop_time = started.elapsed();
    assert!(
        kills >= KILLS,
        "only {kills} of {iteration} appends were killed before they exited (seed {seed:#x})"
    );

    // The ledger is not left locked: a fresh append goes through at once.
    let fresh = "after the crashes";
    let t = Instant::now();
    let run = run_bounded(&env, &single_args(fresh), "fresh");
    run.ok();
    let fresh_reported = parse_reported(&run.stdout).expect("the fresh append's report");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the fresh append waited {:?} for the lock",
        t.elapsed()
    );

    // SQLite's own check of the file.
    let out = Command::new("sqlite3")
        .arg(env.ledger())
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("the sqlite3 shell runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "integrity_check: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The chain verifies.
    let run = run_bounded(
        &env,
        &["verify", "--format", "json"].map(String::from),
        "verify",
    );
    run.ok();
    let report = json(&run);
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["failure"], Value::Null, "{report:#}");

    // The export: entry 0, then statements, each text once.
    let run = run_bounded(&env, &["export".to_owned()], "export");
    run.ok();
    let entries = parse_export(&run.stdout);
    assert_eq!(report["entries_verified"], entries.len() as u64);
    assert_eq!(report["head"]["seq"], entries.len() as u64 - 1);
    assert_eq!(entries[0].kind, "treaty_registered");
    let head_hash = report["head"]["hash"]
        .as_str()
        .expect("head hash")
        .to_owned();
    // The hash of each entry, as the next one names it (and the head's, as verify says).
    let hash_of = |seq: u64| -> &str {
        match entries.get(seq as usize + 1) {
            Some(next) => &next.prev,
            None => &head_hash,
        }
    };
    for w in entries.windows(2) {
        assert!(
            w[0].recorded_at <= w[1].recorded_at,
            "record time went back"
        );
    }
    let mut seq_of: HashMap<&str, u64> = HashMap::new();
    for (seq, e) in entries.iter().enumerate().skip(1) {
        assert_eq!(e.kind, "statement", "entry {seq} is not a statement");
        let text = e.text.as_deref().expect("statement text");
        if let Some(first) = seq_of.insert(text, seq as u64) {
            panic!("{text:?} appears twice: entries {first} and {seq} (seed {seed:#x})");
        }
    }
    let statements = entries.len() - 1;
    assert_eq!(entries.len(), 1 + seq_of.len());

    // Every statement present is one that was attempted.
    let mut attempted: HashSet<&str> = attempts
        .iter()
        .flat_map(|a| a.texts.iter().map(String::as_str))
        .collect();
    attempted.insert(fresh);
    for text in seq_of.keys() {
        assert!(attempted.contains(text), "{text:?} was never appended");
    }

    let mut killed_after_commit = 0usize;
    let mut present_events = 0usize;
    for a in &attempts {
        let seqs: Vec<Option<u64>> = a
            .texts
            .iter()
            .map(|t| seq_of.get(t.as_str()).copied())
            .collect();
        let present = seqs.iter().filter(|s| s.is_some()).count();
        present_events += present;
        let context = || {
            format!(
                "iteration {} ({}, kill after {} µs, killed: {}): {a:?} (seed {seed:#x})",
                a.iteration,
                if a.batch { "batch" } else { "single" },
                a.delay_us,
                a.killed
            )
        };
        // All or nothing, and a batch's entries follow each other in order.
        assert!(
            present == 0 || present == a.texts.len(),
            "half-written batch: {present} of {} events present: {}",
            a.texts.len(),
            context()
        );
        if present > 0 {
            let first = seqs[0].expect("present");
            for (k, s) in seqs.iter().enumerate() {
                assert_eq!(
                    *s,
                    Some(first + k as u64),
                    "a batch's entries are not consecutive: {}",
                    context()
                );
            }
        }
        match &a.reported {
            Some(r) => {
                // Durability: success was reported, so the entries are there, where the
                // append said, with the hash it printed.
                assert_eq!(
                    present,
                    a.texts.len(),
                    "an append that reported success was lost: {}",
                    context()
                );
                assert_eq!(seqs[0], Some(r.first), "{}", context());
                assert_eq!(seqs[seqs.len() - 1], Some(r.last), "{}", context());
                assert_eq!(hash_of(r.last), r.head_hash, "{}", context());
            }
            None => {
                assert!(a.killed);
                if present > 0 {
                    killed_after_commit += 1;
                }
            }
        }
    }
    assert_eq!(seq_of.get(fresh), Some(&fresh_reported.last));
    assert_eq!(hash_of(fresh_reported.last), fresh_reported.head_hash);
    assert_eq!(
        present_events + 1,
        statements,
        "entries = 1 + the statements present"
    );

    // The projection agrees: every statement counted for AAA.
    let run = run_bounded(
        &env,
        &["status", "--format", "json"].map(String::from),
        "status",
    );
    run.ok();
    let status = json(&run);
    assert_eq!(status["head"]["seq"], statements as u64);
    assert_eq!(status["head"]["hash"], head_hash.as_str());
    assert_eq!(status["participants"][0]["id"], "AAA");
    assert_eq!(status["participants"][0]["statements"], statements as u64);

    let succeeded = attempts.iter().filter(|a| a.reported.is_some()).count();
    let batches = attempts.iter().filter(|a| a.batch).count();
    let killed_batches = attempts.iter().filter(|a| a.batch && a.killed).count();
    println!(
        "{iteration} iterations in {loop_time:?}: {kills} killed before exiting \
         ({killed_after_commit} of them after their commit, {} before), {killed_batches} of \
         {batches} batches killed, {succeeded} appends reported success; {} entries; \
         total {:?}",
        kills - killed_after_commit,
        entries.len(),
        started.elapsed()
    );
}

/// Removes a ledger file and its SQLite companions.
fn remove_ledger(env: &Env) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(env.path(&format!("ledger.db{suffix}")));
    }
}

/// Waits up to `limit` for a child to exit by itself; its exit status and how long it ran.
fn exit_within(child: &mut Child, limit: Duration) -> Option<(ExitStatus, Duration)> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some((status, start.elapsed()));
        }
        let elapsed = start.elapsed();
        if elapsed >= limit {
            return None;
        }
        std::thread::sleep((limit - elapsed).min(Duration::from_millis(1)));
    }
}

#[test]
fn imports_killed_at_random_moments_are_all_or_nothing() {
    const IMPORT_KILLS: usize = 30;
    const MAX_IMPORTS: usize = 300;
    /// Entries in the export beyond the ledger's own.
    const MORE: usize = 40;
    let seed = seed() ^ 0x1A2B_3C4D;
    println!("import crash seed: {seed:#x} (derived from DEPOSITARY_CRASH_SEED)");
    let mut rng = SplitMix64(seed);
    let env = Env::new();

    // A ledger of entry 0 and 5 statements (the prefix), then 40 more (the full export).
    env.init(TREATY, "2025-01-10T09:00:00Z");
    let lines = |range: std::ops::Range<usize>| -> String {
        range
            .map(|k| statement_line(&format!("import {k}")) + "\n")
            .collect()
    };
    env.write("first.jsonl", lines(0..5));
    env.write("more.jsonl", lines(5..5 + MORE));
    let append = |file: &str| {
        ["append", "--key", "root.pem", "--events", file]
            .map(String::from)
            .to_vec()
    };
    run_bounded(&env, &append("first.jsonl"), "setup").ok();
    let prefix = run_bounded(&env, &["export".to_owned()], "setup");
    prefix.ok();
    let prefix = prefix.stdout;
    run_bounded(&env, &append("more.jsonl"), "setup").ok();
    run_bounded(
        &env,
        &["export", "--out", "full.jsonl"].map(String::from),
        "setup",
    )
    .ok();
    let full = std::fs::read_to_string(env.path("full.jsonl")).expect("the full export");
    assert_eq!(full.lines().count(), 6 + MORE);
    assert!(full.starts_with(&prefix));
    env.write("prefix.jsonl", &prefix);
    let reset = || {
        remove_ledger(&env);
        run_bounded(&env, &["import", "prefix.jsonl"].map(String::from), "reset").ok();
    };
    let import = ["import", "full.jsonl"].map(String::from);

    // How long an import takes here, to spread the kills over it. The span follows the
    // imports that end by themselves, as the machine's load changes.
    reset();
    let t = Instant::now();
    run_bounded(&env, &import, "import").ok();
    let mut span_us = (t.elapsed().as_micros() as u64 * 5 / 4).max(1_000);
    reset();

    let (mut kills, mut after_commit, mut iterations) = (0usize, 0usize, 0usize);
    while kills < IMPORT_KILLS && iterations < MAX_IMPORTS {
        iterations += 1;
        let delay_us = rng.below(span_us + 1);
        let mut child = spawn(&env, &import, "import");
        let killed = match exit_within(&mut child, Duration::from_micros(delay_us)) {
            Some((status, took)) => {
                finished(&env, "import", status).ok();
                let took = took.as_micros() as u64;
                span_us = ((3 * span_us + took * 5 / 4) / 4).max(1_000);
                false
            }
            None => {
                // SIGKILL. If the process exited meanwhile, its exit status says so.
                child.kill().expect("kill");
                let status = wait_bounded(&mut child, PROCESS_LIMIT, "a killed import");
                if status.signal() == Some(9) {
                    true
                } else {
                    finished(&env, "import", status).ok();
                    false
                }
            }
        };
        let context = format!(
            "import {iterations}, kill after {delay_us} µs of ~{span_us}, killed: {killed} \
             (seed {seed:#x})"
        );
        let now = run_bounded(&env, &["export".to_owned()], "export");
        now.ok();
        if now.stdout == full {
            if killed {
                kills += 1;
                after_commit += 1;
                run_bounded(&env, &["verify".to_owned()], "verify").ok();
            }
            reset();
        } else {
            assert!(
                killed,
                "an import that reported success is missing: {context}"
            );
            assert_eq!(
                now.stdout.lines().count(),
                prefix.lines().count(),
                "a killed import left part of the export behind: {context}"
            );
            assert_eq!(now.stdout, prefix, "the ledger changed: {context}");
            // The store's own tables were rolled back with the entries.
            run_bounded(&env, &["verify".to_owned()], "verify").ok();
            kills += 1;
        }
    }
    assert!(
        kills >= IMPORT_KILLS,
        "only {kills} of {iterations} imports were killed before they exited (seed {seed:#x})"
    );
    println!(
        "{iterations} imports of {MORE} entries (last span ~{span_us} µs): {kills} killed \
         before exiting, {after_commit} of them after their commit"
    );
}

/// `init` killed at random moments leaves either no ledger at its path or a whole one (a
/// valid ledger of one entry), never a half-made file that blocks the next `init`.
#[test]
fn init_killed_at_random_moments_leaves_a_whole_ledger_or_none() {
    const INIT_KILLS: usize = 40;
    const MAX_INITS: usize = 400;
    let seed = seed();
    eprintln!("init crash test seed: {seed:#x} (set DEPOSITARY_CRASH_SEED to replay)");
    let mut rng = SplitMix64(seed ^ 0x1417);
    let env = Env::new();
    let treaty = common::fixtures().join(TREATY);
    let args: Vec<String> = [
        "init",
        "--treaty",
        treaty.to_str().expect("path"),
        "--key",
        "root.pem",
        "--recorded-at",
        "2025-01-10T09:00:00Z",
    ]
    .map(String::from)
    .to_vec();
    // How long an init takes here, so that kills land all along it.
    let started = Instant::now();
    env.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .ok();
    let mut span = (started.elapsed().as_micros() as u64).max(1_000) * 3 / 2;
    let (mut killed, mut whole, mut none) = (0, 0, 0);
    for i in 0..MAX_INITS {
        if killed >= INIT_KILLS {
            break;
        }
        remove_ledger(&env);
        let delay = Duration::from_micros(rng.below(span));
        let mut child = spawn(&env, &args, &format!("init-{i}"));
        let status = match exit_within(&mut child, delay) {
            Some((status, _)) => status,
            None => {
                let _ = child.kill();
                child.wait().expect("wait")
            }
        };
        if status.signal() == Some(9) {
            killed += 1;
        } else {
            // It finished first: the machine is quicker than the first run suggested, so
            // aim the kills earlier.
            span = (span * 3 / 4).max(1_000);
        }
        if env.ledger().exists() {
            let v = env.run(&["verify", "--format", "json"]);
            v.expect_code(0);
            assert_eq!(json(&v)["entries_verified"], 1, "iteration {i}");
            whole += 1;
        } else {
            // Nothing there: a new init must work.
            none += 1;
        }
    }
    eprintln!("{killed} inits killed: {whole} left a whole ledger, {none} left none");
    assert!(
        killed >= INIT_KILLS,
        "only {killed} inits were killed before they exited"
    );
    assert!(none > 0, "no kill landed before the ledger was named");
    assert!(whole > 0, "no init got as far as naming its ledger");
    remove_ledger(&env);
    env.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .ok();
}
