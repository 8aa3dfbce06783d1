//! Concurrency: four processes' worth of appenders write 250 statements each into one
//! ledger at the same time, while readers (`status`, `verify`, `export`) run beside them the
//! whole time.
//!
//! Each writer thread starts its `depositary append` processes one after another: single
//! statements, and `--events` files of 2 to 25 statements. The appenders queue on the
//! store's `BEGIN IMMEDIATE` write transaction. At the end the chain holds exactly
//! 1 + 1000 entries, verifies, and holds each of the 1000 texts exactly once, each writer's
//! in the order it wrote them and each batch's consecutively: no fork, no loss, no
//! duplicate.
//!
//! The readers must never see a torn state: every `verify` reports valid; every export is
//! a prefix of the final export that itself verifies, never shorter than the one before;
//! every `status` parses, names a head that is in the chain, and counts exactly the
//! statements of the entries up to that head.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{Env, Run, SplitMix64};
use serde_json::Value;

const TREATY: &str = "treaties/test-3-instruments-30-days.json";
const WRITERS: usize = 4;
const EVENTS_PER_WRITER: usize = 250;
/// Entry 0 and every statement.
const TOTAL: usize = 1 + WRITERS * EVENTS_PER_WRITER;
const PARTIES: [&str; 5] = ["AAA", "BBB", "CCC", "DDD", "EEE"];
/// How long one process may take (the store's busy timeout is 60 s).
const PROCESS_LIMIT: Duration = Duration::from_secs(120);
const SEED: u64 = 0xC0C0_2024_DE90_0001;

/// Runs `depositary ARGS` in `dir` on `ledger`, its output going through files named after
/// `tag` (so that a large export cannot block on a pipe), and fails if it takes longer than
/// `PROCESS_LIMIT`.
fn run(dir: &Path, ledger: &Path, tag: &str, args: &[&str]) -> Run {
    let out_path = dir.join(format!("{tag}.out"));
    let err_path = dir.join(format!("{tag}.err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_depositary"))
        .current_dir(dir)
        .env("DEPOSITARY_LEDGER", ledger)
        .env_remove("RUST_BACKTRACE")
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("the binary starts");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > PROCESS_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`depositary {args:?}` did not end within {PROCESS_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let read = |p: &PathBuf| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// The JSON on a run's standard output, with the context of who ran it.
fn json_of(run: &Run, who: &str) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{who}: stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        )
    })
}

/// The text of writer `w`'s event `k`.
fn text(w: usize, k: usize) -> String {
    format!("writer {w} event {k}")
}

fn party(w: usize, k: usize) -> &'static str {
    PARTIES[(w + k) % PARTIES.len()]
}

/// One entry of an export.
struct Exported {
    kind: String,
    party: Option<String>,
    text: Option<String>,
    prev: String,
    recorded_at: String,
}

/// Parses an export, checking that it is whole lines with consecutive seqs from 0.
fn parse_export(text: &str, who: &str) -> Vec<Exported> {
    assert!(
        text.ends_with('\n'),
        "{who}: the export does not end with a line feed"
    );
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("{who}: export line {} is not JSON ({e}): {line}", i + 1)
            });
            assert_eq!(v["seq"], i as u64, "{who}: export line {} seq", i + 1);
            Exported {
                kind: v["event"]["type"].as_str().expect("event type").to_owned(),
                party: v["event"]["party"].as_str().map(str::to_owned),
                text: v["event"]["text"].as_str().map(str::to_owned),
                prev: v["prev"].as_str().expect("prev").to_owned(),
                recorded_at: v["recorded_at"].as_str().expect("recorded_at").to_owned(),
            }
        })
        .collect()
}

/// Statements per party among entries 1 to `head` of an export.
fn statements_by_party(entries: &[Exported], head: usize) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for e in &entries[1..=head] {
        assert_eq!(e.kind, "statement");
        *m.entry(e.party.clone().expect("party")).or_insert(0) += 1;
    }
    m
}

/// Statements per party as a status reports them.
fn status_statements(status: &Value) -> BTreeMap<String, u64> {
    status["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter(|p| p["statements"].as_u64().expect("statements") > 0)
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_owned(),
                p["statements"].as_u64().expect("statements"),
            )
        })
        .collect()
}

/// What the readers saw, checked against the final chain at the end.
#[derive(Default)]
struct Seen {
    /// (reader, seq, hash) of heads reported by `status` and `verify`.
    heads: Vec<(&'static str, u64, String)>,
    /// (reader, export text).
    exports: Vec<(&'static str, String)>,
    /// Reads per reader, and how many saw a ledger part-way written.
    reads: usize,
    partial: usize,
}

/// Checks a `verify --format json` of a ledger or an export holding `n` entries (if known).
fn check_verify(run: &Run, who: &str, n: Option<usize>) -> (u64, String) {
    run.ok();
    let report = json_of(run, who);
    assert_eq!(report["valid"], true, "{who}: {report:#}");
    assert_eq!(report["failure"], Value::Null, "{who}: {report:#}");
    let verified = report["entries_verified"]
        .as_u64()
        .expect("entries_verified");
    if let Some(n) = n {
        assert_eq!(verified, n as u64, "{who}: {report:#}");
    }
    assert!(
        (1..=TOTAL as u64).contains(&verified),
        "{who}: {verified} entries"
    );
    assert_eq!(report["head"]["seq"], verified - 1, "{who}: {report:#}");
    (
        verified - 1,
        report["head"]["hash"]
            .as_str()
            .expect("head hash")
            .to_owned(),
    )
}

/// `verify` of the ledger, again and again.
fn verify_reader(dir: &Path, ledger: &Path, done: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let mut last = 0;
    while !done.load(Ordering::SeqCst) {
        let run = run(
            dir,
            ledger,
            "verify-reader",
            &["verify", "--format", "json"],
        );
        let (seq, hash) = check_verify(&run, "verify reader", None);
        assert!(
            seq >= last,
            "verify reader: head went back from {last} to {seq}"
        );
        last = seq;
        seen.reads += 1;
        if 1 < seq + 1 && seq + 1 < TOTAL as u64 {
            seen.partial += 1;
        }
        seen.heads.push(("verify", seq, hash));
    }
    seen
}

/// `export --out FILE`, then `verify FILE`, again and again.
fn export_reader(dir: &Path, ledger: &Path, done: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let mut last = 0;
    while !done.load(Ordering::SeqCst) {
        run(
            dir,
            ledger,
            "export-reader",
            &["export", "--out", "snapshot.jsonl"],
        )
        .ok();
        let text = std::fs::read_to_string(dir.join("snapshot.jsonl")).expect("the export");
        let entries = parse_export(&text, "export reader");
        let n = entries.len();
        assert!(
            (last..=TOTAL).contains(&n),
            "export reader: {n} lines after {last}"
        );
        last = n;
        let run = run(
            dir,
            ledger,
            "export-reader",
            &["verify", "snapshot.jsonl", "--format", "json"],
        );
        check_verify(&run, "verify of an export", Some(n));
        seen.reads += 1;
        if 1 < n && n < TOTAL {
            seen.partial += 1;
        }
        seen.exports.push(("export", text));
    }
    seen
}

/// `status --format json`, then `export` to standard output: the status's head is in the
/// export that follows, and the status counts exactly the statements up to its head.
fn status_reader(dir: &Path, ledger: &Path, done: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let (mut last_seq, mut last_lines) = (0u64, 0usize);
    while !done.load(Ordering::SeqCst) {
        let run_status = run(
            dir,
            ledger,
            "status-reader",
            &["status", "--format", "json"],
        );
        run_status.ok();
        let status = json_of(&run_status, "status reader");
        let seq = status["head"]["seq"].as_u64().expect("head seq");
        let hash = status["head"]["hash"]
            .as_str()
            .expect("head hash")
            .to_owned();
        assert!(
            (last_seq..TOTAL as u64).contains(&seq),
            "status reader: head {seq} after {last_seq}"
        );
        last_seq = seq;

        let run_export = run(dir, ledger, "status-reader", &["export"]);
        run_export.ok();
        let text = run_export.stdout;
        let entries = parse_export(&text, "export after status");
        let n = entries.len();
        assert!(
            (last_lines..=TOTAL).contains(&n) && n > seq as usize,
            "export after status: {n} lines after {last_lines}, status head {seq}"
        );
        last_lines = n;
        // The head the status named is the entry at that seq.
        if let Some(next) = entries.get(seq as usize + 1) {
            assert_eq!(
                next.prev, hash,
                "status head {seq} is not entry {seq} of the export that follows"
            );
        }
        // The status's records are exactly those of the entries up to its head.
        assert_eq!(
            status_statements(&status),
            statements_by_party(&entries, seq as usize),
            "status at head {seq} counts statements other than its entries'"
        );
        seen.reads += 1;
        if 0 < seq && seq + 1 < TOTAL as u64 {
            seen.partial += 1;
        }
        seen.heads.push(("status", seq, hash));
        seen.exports.push(("status reader's export", text));
    }
    seen
}

/// One writer: its 250 statements, in single appends and `--events` files of 2 to 25.
/// Returns the batches it wrote (as ranges of its event numbers).
fn writer(dir: &Path, ledger: &Path, w: usize) -> Vec<std::ops::Range<usize>> {
    let mut rng = SplitMix64(SEED ^ (w as u64).wrapping_mul(0x1234_5678_9ABC_DEF1));
    let tag = format!("writer-{w}");
    let mut batches = Vec::new();
    let mut k = 0;
    while k < EVENTS_PER_WRITER {
        let left = EVENTS_PER_WRITER - k;
        let n = if rng.below(3) == 0 {
            (2 + rng.below(24) as usize).min(left)
        } else {
            1
        };
        let run = if n == 1 {
            let text = text(w, k);
            run(
                dir,
                ledger,
                &tag,
                &[
                    "append",
                    "--key",
                    "root.pem",
                    "statement",
                    "--party",
                    party(w, k),
                    "--date",
                    "2025-02-01",
                    "--kind",
                    "communication",
                    "--text",
                    &text,
                ],
            )
        } else {
            let body: String = (k..k + n)
                .map(|j| {
                    serde_json::json!({
                        "type": "statement",
                        "party": party(w, j),
                        "date": "2025-02-01",
                        "kind": "declaration",
                        "text": text(w, j),
                    })
                    .to_string()
                        + "\n"
                })
                .collect();
            let file = format!("{tag}-batch.jsonl");
            std::fs::write(dir.join(&file), body).expect("write the events file");
            batches.push(k..k + n);
            run(
                dir,
                ledger,
                &tag,
                &["append", "--key", "root.pem", "--events", &file],
            )
        };
        assert_eq!(
            run.code,
            0,
            "writer {w}: append of events {k}..{} failed\n--- stdout\n{}\n--- stderr\n{}",
            k + n,
            run.stdout,
            run.stderr
        );
        run.ok();
        k += n;
    }
    batches
}

#[test]
fn four_concurrent_appenders_with_readers_fork_nothing_lose_nothing_and_tear_nothing() {
    let started = Instant::now();
    let env = Env::new();
    env.init(TREATY, "2025-01-10T09:00:00Z");
    let dir: Arc<PathBuf> = Arc::new(env.dir.path().to_owned());
    let ledger: Arc<PathBuf> = Arc::new(env.ledger());
    let done = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(WRITERS + 3));

    type Reader = fn(&Path, &Path, &AtomicBool) -> Seen;
    let readers: Vec<_> = [
        ("verify", verify_reader as Reader),
        ("export", export_reader as Reader),
        ("status", status_reader as Reader),
    ]
    .into_iter()
    .map(|(name, f)| {
        let (dir, ledger, done, barrier) = (
            Arc::clone(&dir),
            Arc::clone(&ledger),
            Arc::clone(&done),
            Arc::clone(&barrier),
        );
        let handle = std::thread::spawn(move || {
            barrier.wait();
            f(&dir, &ledger, &done)
        });
        (name, handle)
    })
    .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (dir, ledger, barrier) =
                (Arc::clone(&dir), Arc::clone(&ledger), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                writer(&dir, &ledger, w)
            })
        })
        .collect();

    // Join every writer before stopping the readers, so that a failing writer still lets
    // the readers end.
    let written: Vec<_> = writers.into_iter().map(|h| h.join()).collect();
    let write_time = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let seen: Vec<_> = readers
        .into_iter()
        .map(|(name, h)| (name, h.join()))
        .collect();
    let mut batches = Vec::new();
    for r in written {
        match r {
            Ok(b) => batches.push(b),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    let mut seens = Vec::new();
    for (name, r) in seen {
        match r {
            Ok(s) => seens.push((name, s)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    // The final chain: valid, exactly 1 + 1000 entries.
    let run_verify = env.run(&["verify", "--format", "json"]);
    let (head_seq, head_hash) = check_verify(&run_verify, "final verify", Some(TOTAL));
    assert_eq!(head_seq, TOTAL as u64 - 1);
    let final_run = env.run(&["export"]);
    final_run.ok();
    let final_text = final_run.stdout;
    let entries = parse_export(&final_text, "final export");
    assert_eq!(entries.len(), TOTAL);
    assert_eq!(entries[0].kind, "treaty_registered");
    let hash_of = |seq: u64| -> &str {
        match entries.get(seq as usize + 1) {
            Some(next) => &next.prev,
            None => &head_hash,
        }
    };

    // Record times follow the chain's order, although four processes read the clock: each
    // reads it once it holds the write lock.
    for (seq, w) in entries.windows(2).enumerate() {
        assert!(
            w[0].recorded_at <= w[1].recorded_at,
            "entry {} was recorded at {}, before entry {seq}'s {}",
            seq + 1,
            w[1].recorded_at,
            w[0].recorded_at
        );
    }

    // Each of the 1000 texts exactly once.
    let mut seq_of: HashMap<&str, usize> = HashMap::new();
    for (seq, e) in entries.iter().enumerate().skip(1) {
        assert_eq!(e.kind, "statement", "entry {seq}");
        let t = e.text.as_deref().expect("text");
        if let Some(first) = seq_of.insert(t, seq) {
            panic!("{t:?} appears twice: entries {first} and {seq}");
        }
    }
    for w in 0..WRITERS {
        let mut last = 0;
        for k in 0..EVENTS_PER_WRITER {
            let t = text(w, k);
            let seq = *seq_of
                .get(t.as_str())
                .unwrap_or_else(|| panic!("{t:?} was lost"));
            // Each writer's events in the order it appended them.
            assert!(seq > last, "{t:?} (entry {seq}) is before entry {last}");
            last = seq;
            assert_eq!(entries[seq].party.as_deref(), Some(party(w, k)));
        }
        // Each batch in consecutive entries.
        for b in &batches[w] {
            let first = seq_of[text(w, b.start).as_str()];
            for (i, k) in b.clone().enumerate() {
                assert_eq!(
                    seq_of[text(w, k).as_str()],
                    first + i,
                    "writer {w}'s batch {b:?} is not consecutive"
                );
            }
        }
    }
    assert_eq!(seq_of.len(), WRITERS * EVENTS_PER_WRITER);

    // The writers really ran at the same time: their spans of the chain overlap, and the
    // chain passes from one writer to another many times.
    let span = |w: usize| {
        (
            seq_of[text(w, 0).as_str()],
            seq_of[text(w, EVENTS_PER_WRITER - 1).as_str()],
        )
    };
    for a in 0..WRITERS {
        for b in a + 1..WRITERS {
            let ((a0, a1), (b0, b1)) = (span(a), span(b));
            assert!(
                a0 < b1 && b0 < a1,
                "writers {a} ({a0}..={a1}) and {b} ({b0}..={b1}) did not overlap"
            );
        }
    }
    fn writer_of(e: &Exported) -> Option<&str> {
        e.text.as_deref().and_then(|t| t.split(' ').nth(1))
    }
    let switches = entries[1..]
        .windows(2)
        .filter(|w| writer_of(&w[0]) != writer_of(&w[1]))
        .count();

    // What the readers saw was a state the chain really went through.
    for (name, s) in &seens {
        for (who, seq, hash) in &s.heads {
            assert_eq!(
                hash_of(*seq),
                hash,
                "{who} reported head {seq} {hash}, which is not in the final chain"
            );
        }
        for (who, text) in &s.exports {
            assert!(
                final_text.starts_with(text.as_str()),
                "{who} read an export that is not a prefix of the final one"
            );
        }
        println!(
            "{name} reader: {} reads, {} of a ledger part-way written",
            s.reads, s.partial
        );
        assert!(
            s.reads >= 2 && s.partial >= 1,
            "the {name} reader did not run alongside the writers ({} reads, {} partial)",
            s.reads,
            s.partial
        );
    }

    let processes: usize = batches
        .iter()
        .map(|b| EVENTS_PER_WRITER - b.iter().map(|r| r.len()).sum::<usize>() + b.len())
        .sum();
    println!(
        "{WRITERS} writers, {processes} append processes ({} batches), wrote {} entries in \
         {write_time:?}, passing from one writer to another {switches} times; total {:?}",
        batches.iter().map(Vec::len).sum::<usize>(),
        TOTAL - 1,
        started.elapsed()
    );
}
