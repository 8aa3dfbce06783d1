//! Data-driven scenarios, all SYNTHETIC (`fixtures/scenarios/README.md`).
//!
//! A scenario is a directory `fixtures/scenarios/synthetic-<name>/` holding `scenario.json`:
//!
//! ```json
//! {"description": "... (synthetic) ...",
//!  "treaty": "scenarios/synthetic-....treaty.json",        // relative to fixtures/
//!  "init_recorded_at": "2015-01-05T00:00:00Z",
//!  "steps": [{"recorded_at": "...", "events": "synthetic-1-....jsonl",
//!             "expect_refused": "[rule: ...]"}],             // optional: append must fail
//!  "queries": [{"name": "...", "as_of": "2016-05-29", "known_at": null,
//!               "golden": "expected/synthetic-....json",
//!               "facts": [{"pointer": "/entry_into_force/date", "expected": "2016-08-27",
//!                          "why": "hand arithmetic from docs/RULES.md"}]}]}
//! ```
//!
//! The runner inits the ledger, appends each step's events with its record time (a step
//! with `expect_refused` must be refused with that text and write nothing), verifies the
//! chain (valid, and exactly 1 + the events of the accepted steps), then runs
//! `status --format json --as-of D [--known-at T]` for each query and
//!
//! - compares the whole output with the golden file (`DEPOSITARY_BLESS=1` writes it; a
//!   missing golden is a failure otherwise). Goldens are snapshots of the program's output;
//!   they catch any change, reviewed by hand against the facts;
//! - checks each fact, the independent check: an RFC 6901 JSON pointer into the output (or,
//!   with `"participant": ID`, into that participant's object in `participants`) and the
//!   value worked out by hand from `docs/RULES.md`, with the arithmetic in `why`.
//!   `"absent": true` instead of `expected` asserts that nothing is there (with
//!   `participant`: that the participant is not listed). A fact marked
//!   `"known_bug": "..."` that disagrees is reported as a known discrepancy instead of
//!   failing; one that agrees fails, so that the marker is removed once the bug is fixed.

// The runner's helpers fail the test by panicking, as test functions do.
#![allow(clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Env, json};
use serde::Deserialize;
use serde_json::Value;

/// Every scenario directory, each run by its own test below.
const SCENARIOS: &[&str] = &[
    "synthetic-entry-into-force-eu",
    "synthetic-later-participants",
    "synthetic-denunciation",
    "synthetic-amendment",
    "synthetic-corrections-two-clocks",
    "synthetic-date-edges",
    "synthetic-threshold-day-rules",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    treaty: String,
    init_recorded_at: String,
    steps: Vec<Step>,
    queries: Vec<Query>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    recorded_at: String,
    events: String,
    #[serde(default)]
    expect_refused: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    name: String,
    as_of: Option<String>,
    known_at: Option<String>,
    golden: String,
    facts: Vec<Fact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fact {
    pointer: String,
    #[serde(default)]
    participant: Option<String>,
    /// Present (even as `null`) or not: `Some(Value::Null)` is an expected `null`.
    #[serde(default, deserialize_with = "present")]
    expected: Option<Value>,
    #[serde(default)]
    absent: bool,
    why: String,
    #[serde(default)]
    known_bug: Option<String>,
}

/// Keeps an explicit `null` as `Some(Value::Null)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn scenarios_dir() -> PathBuf {
    common::fixtures().join("scenarios")
}

fn blessing() -> bool {
    std::env::var("DEPOSITARY_BLESS").is_ok_and(|v| v == "1")
}

/// What a scenario run found.
#[derive(Default)]
struct Outcome {
    failures: Vec<String>,
    known: Vec<String>,
    facts_checked: usize,
}

/// Runs one scenario; panics listing every failure.
fn run_scenario(name: &str) {
    let dir = scenarios_dir().join(name);
    let text = std::fs::read_to_string(dir.join("scenario.json"))
        .unwrap_or_else(|e| panic!("{name}/scenario.json: {e}"));
    let sc: Scenario = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}/scenario.json does not parse: {e}"));
    assert!(
        sc.description.to_lowercase().contains("synthetic"),
        "{name}: the description must say the scenario is synthetic"
    );
    assert!(!sc.queries.is_empty(), "{name}: no queries");

    let env = Env::new();
    env.init(&sc.treaty, &sc.init_recorded_at);
    let mut entries = 1_u64;
    for step in &sc.steps {
        assert!(
            step.events.starts_with("synthetic-"),
            "{name}: event file {} must be named synthetic-*",
            step.events
        );
        let file = dir.join(&step.events);
        let lines = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{name}/{}: {e}", step.events))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count() as u64;
        let run = env.run(&[
            "append",
            "--key",
            "root.pem",
            "--events",
            file.to_str().expect("utf-8 path"),
            "--recorded-at",
            &step.recorded_at,
        ]);
        match &step.expect_refused {
            None => {
                run.ok();
                entries += lines;
            }
            Some(rule) => {
                assert_ne!(
                    run.code, 0,
                    "{name}: {} should have been refused with {rule}",
                    step.events
                );
                assert!(
                    run.stderr.contains(rule.as_str()),
                    "{name}: {} refused, but without {rule}:\n{}",
                    step.events,
                    run.stderr
                );
                assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            }
        }
    }

    // The chain verifies, and holds exactly entry 0 and the accepted steps' events.
    let v = env.run(&["verify", "--trust", "root.pub.pem", "--format", "json"]);
    v.ok();
    let report = json(&v);
    assert_eq!(report["valid"], true, "{name}: verify: {report}");
    assert_eq!(
        report["entries_verified"], entries,
        "{name}: entries in the ledger (refused steps must write nothing)"
    );
    assert_eq!(report["head"]["seq"], entries - 1, "{name}: head seq");

    let mut out = Outcome::default();
    let mut goldens = BTreeSet::new();
    for q in &sc.queries {
        check_query(name, &dir, &env, q, &mut out);
        assert!(
            goldens.insert(q.golden.clone()),
            "{name}: golden {} used twice",
            q.golden
        );
    }
    for k in &out.known {
        eprintln!("KNOWN DISCREPANCY {k}");
    }
    eprintln!(
        "{name}: {} queries, {} facts checked, {} known discrepancies",
        sc.queries.len(),
        out.facts_checked,
        out.known.len()
    );
    assert!(
        out.failures.is_empty(),
        "{name}: {} failure(s):\n{}",
        out.failures.len(),
        out.failures.join("\n")
    );
}

fn check_query(name: &str, dir: &Path, env: &Env, q: &Query, out: &mut Outcome) {
    let at = format!("{name}/{}", q.name);
    let Some(as_of) = &q.as_of else {
        out.failures.push(format!(
            "{at}: as_of is required, so that results do not depend on today"
        ));
        return;
    };
    if q.facts.is_empty() {
        out.failures.push(format!("{at}: no facts"));
    }
    let mut args = vec!["status", "--format", "json", "--as-of", as_of.as_str()];
    if let Some(t) = &q.known_at {
        args.extend(["--known-at", t.as_str()]);
    }
    let run = env.run(&args);
    run.ok();
    let status = json(&run);

    // The query's own clocks are echoed.
    if status["as_of"] != as_of.as_str() {
        out.failures
            .push(format!("{at}: as_of echoed as {}", status["as_of"]));
    }
    let known = q.known_at.as_deref().map_or(Value::Null, Value::from);
    if status["known_at"] != known {
        out.failures
            .push(format!("{at}: known_at echoed as {}", status["known_at"]));
    }

    // (a) the golden file.
    let golden = dir.join(&q.golden);
    if blessing() {
        std::fs::create_dir_all(golden.parent().expect("golden folder")).expect("create expected/");
        let text = serde_json::to_string_pretty(&status).expect("serialize") + "\n";
        std::fs::write(&golden, text).expect("write golden");
    } else {
        match std::fs::read_to_string(&golden) {
            Err(e) => out.failures.push(format!(
                "{at}: golden {} missing ({e}); run with DEPOSITARY_BLESS=1 and review it",
                q.golden
            )),
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Err(e) => out
                    .failures
                    .push(format!("{at}: golden {} does not parse: {e}", q.golden)),
                Ok(expected) if expected != status => {
                    let mut diffs = Vec::new();
                    diff("", &expected, &status, &mut diffs);
                    out.failures.push(format!(
                        "{at}: output differs from golden {} (golden -> now):\n  {}",
                        q.golden,
                        diffs.join("\n  ")
                    ));
                }
                Ok(_) => {}
            },
        }
    }

    // (b) the hand-computed facts.
    for f in &q.facts {
        out.facts_checked += 1;
        let what = match &f.participant {
            Some(p) => format!("{at}: participant {p} {}", f.pointer),
            None => format!("{at}: {}", f.pointer),
        };
        if f.why.trim().is_empty() {
            out.failures.push(format!("{what}: a fact needs its why"));
        }
        if f.absent == f.expected.is_some() {
            out.failures
                .push(format!("{what}: give exactly one of expected and absent"));
            continue;
        }
        let base = match &f.participant {
            None => Some(&status),
            Some(id) => status["participants"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["id"] == id.as_str())),
        };
        let actual = base.and_then(|b| b.pointer(&f.pointer));
        let (agrees, shown) = if f.absent {
            let shown = match (&f.participant, base) {
                (Some(_), Some(_)) if f.pointer.is_empty() => {
                    "the participant is listed".to_string()
                }
                _ => actual.map_or("nothing".to_string(), |v| v.to_string()),
            };
            let agrees = match &f.participant {
                Some(_) if f.pointer.is_empty() => base.is_none(),
                _ => actual.is_none(),
            };
            (agrees, shown)
        } else {
            let expected = f.expected.as_ref().expect("checked above");
            (
                actual == Some(expected),
                actual.map_or("nothing".to_string(), |v| v.to_string()),
            )
        };
        let want = f
            .expected
            .as_ref()
            .map_or("nothing".to_string(), |v| v.to_string());
        match (&f.known_bug, agrees) {
            (None, true) => {}
            (None, false) => out.failures.push(format!(
                "{what}: expected {want}, the program says {shown}\n    why: {}",
                f.why
            )),
            (Some(bug), false) => out.known.push(format!(
                "{what}: expected {want}, the program says {shown} ({bug})\n    why: {}",
                f.why
            )),
            (Some(bug), true) => out.failures.push(format!(
                "{what}: marked known_bug ({bug}) but now agrees: remove the marker"
            )),
        }
    }
}

/// The JSON pointers where `a` and `b` differ (at most 20).
fn diff(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if out.len() >= 20 || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff(&p, u, v, out),
                    (u, v) => out.push(format!("{p}: {u:?} -> {v:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff(&format!("{at}/{i}"), u, v, out);
            }
        }
        _ => out.push(format!("{at}: {a} -> {b}")),
    }
}

#[test]
fn synthetic_entry_into_force_eu() {
    run_scenario("synthetic-entry-into-force-eu");
}

#[test]
fn synthetic_later_participants() {
    run_scenario("synthetic-later-participants");
}

#[test]
fn synthetic_denunciation() {
    run_scenario("synthetic-denunciation");
}

#[test]
fn synthetic_amendment() {
    run_scenario("synthetic-amendment");
}

#[test]
fn synthetic_corrections_two_clocks() {
    run_scenario("synthetic-corrections-two-clocks");
}

#[test]
fn synthetic_date_edges() {
    run_scenario("synthetic-date-edges");
}

#[test]
fn synthetic_threshold_day_rules() {
    run_scenario("synthetic-threshold-day-rules");
}

/// Every scenario directory is run by a test above, and every file under
/// `fixtures/scenarios/` says it is synthetic: by its name, or (README, generator,
/// `scenario.json`, goldens) inside the scenario's synthetic-named directory.
#[test]
fn every_scenario_is_run_and_marked_synthetic() {
    let root = scenarios_dir();
    let mut dirs = BTreeSet::new();
    for e in std::fs::read_dir(&root).expect("fixtures/scenarios") {
        let e = e.expect("entry");
        let n = e.file_name().into_string().expect("utf-8 name");
        if e.file_type().expect("type").is_dir() {
            assert!(
                n.starts_with("synthetic-"),
                "scenario directory {n} must be named synthetic-*"
            );
            dirs.insert(n.clone());
            for f in std::fs::read_dir(e.path()).expect("scenario dir") {
                let f = f
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8 name");
                assert!(
                    f.starts_with("synthetic-") || f == "scenario.json" || f == "expected",
                    "{n}/{f} must be named synthetic-*"
                );
            }
            if let Ok(goldens) = std::fs::read_dir(e.path().join("expected")) {
                for g in goldens {
                    let g = g
                        .expect("entry")
                        .file_name()
                        .into_string()
                        .expect("utf-8 name");
                    assert!(
                        g.starts_with("synthetic-"),
                        "{n}/expected/{g} must be named synthetic-*"
                    );
                }
            }
        } else {
            assert!(
                n.starts_with("synthetic-") || n == "README.md" || n == "make_synthetic.py",
                "{n} must be named synthetic-*"
            );
            if n.ends_with(".treaty.json") {
                let t: Value =
                    serde_json::from_str(&std::fs::read_to_string(e.path()).expect("read"))
                        .expect("treaty parses");
                let title = t["title"].as_str().expect("title");
                assert!(
                    title.starts_with("SYNTHETIC TEST TREATY"),
                    "{n}: title must say synthetic"
                );
            }
        }
    }
    let named: BTreeSet<String> = SCENARIOS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        dirs, named,
        "scenario directories and the tests in tests/scenarios.rs"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for s in SCENARIOS {
        assert!(readme.contains(s), "README.md does not list {s}");
    }
}

/// A second treaty with other numbers (`fixtures/treaties/test-3-instruments-30-days.json`:
/// at least 3 instruments, 30 days, later participants 30 days) works without code change.
#[test]
fn test_3_treaty_other_numbers() {
    let env = Env::new();
    env.init(
        "treaties/test-3-instruments-30-days.json",
        "2025-01-06T12:00:00Z",
    );
    let events = env.write(
        "synthetic-test-3.jsonl",
        [
            r#"{"type":"signed","party":"AAA","date":"2025-01-10"}"#,
            r#"{"type":"signed","party":"BBB","date":"2025-01-10"}"#,
            r#"{"type":"signed","party":"CCC","date":"2025-01-10"}"#,
            r#"{"type":"signed","party":"UNI","date":"2025-01-10"}"#,
            r#"{"type":"ratified","party":"AAA","date":"2025-02-01","instrument":"ratification"}"#,
            r#"{"type":"ratified","party":"UNI","date":"2025-02-05","instrument":"approval"}"#,
            r#"{"type":"ratified","party":"BBB","date":"2025-02-10","instrument":"acceptance"}"#,
            r#"{"type":"ratified","party":"CCC","date":"2025-03-03","instrument":"ratification"}"#,
            r#"{"type":"ratified","party":"DDD","date":"2025-05-01","instrument":"accession"}"#,
            "",
        ]
        .join("\n"),
    );
    env.run(&[
        "append",
        "--key",
        "root.pem",
        "--events",
        events.to_str().expect("utf-8 path"),
        "--recorded-at",
        "2025-05-02T09:00:00Z",
    ])
    .ok();
    let status = |as_of: &str| {
        json(
            env.run(&["status", "--format", "json", "--as-of", as_of])
                .ok(),
        )
    };

    // 2025-03-02: AAA and BBB count; UNI's approval (2025-02-05) does not, since its member
    // AAA deposited on 2025-02-01 ("not_additional"): 2 of the 3 required.
    let s = status("2025-03-02");
    assert_eq!(s["entry_into_force"]["required"], 3);
    assert_eq!(s["instruments_counted"], 2);
    assert_eq!(s["contracting"], 3);
    assert_eq!(s["entry_into_force"]["threshold_reached_on"], Value::Null);

    // CCC, the 3rd counted instrument, on 2025-03-03; + 30 days: March 3 + 28 = March 31,
    // + 2 = 2025-04-02.
    let s = status("2025-04-01");
    assert_eq!(s["instruments_counted"], 3);
    assert_eq!(s["entry_into_force"]["threshold_reached_on"], "2025-03-03");
    assert_eq!(s["entry_into_force"]["date"], "2025-04-02");
    assert_eq!(s["entry_into_force"]["in_force"], false);
    assert_eq!(s["parties"], 0);

    let s = status("2025-04-02");
    assert_eq!(s["entry_into_force"]["in_force"], true);
    assert_eq!(
        s["parties"], 4,
        "AAA, BBB, CCC and UNI, all deposited by the threshold day"
    );

    // DDD accedes on 2025-05-01, after the threshold: max(2025-05-01 + 30 = 2025-05-31,
    // 2025-04-02) = 2025-05-31.
    let s = status("2025-05-30");
    let ddd = s["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["id"] == "DDD")
        .expect("DDD listed")
        .clone();
    assert_eq!(ddd["in_force_from"], "2025-05-31");
    assert_eq!(ddd["instrument"]["kind"], "accession");
    assert_eq!(s["contracting"], 5);
    assert_eq!(s["parties"], 4);
    assert_eq!(status("2025-05-31")["parties"], 5);
}
