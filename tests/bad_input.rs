//! Malformed input: every case of the corpus in `fixtures/bad/` (its `manifest.json`, written
//! by `fixtures/bad/make_corpus.py`) is refused cleanly by the real binary.
//!
//! For each case the runner makes a fresh folder holding a real ledger (the 13-entry vector
//! ledger, imported once per test with `depositary import` and copied byte for byte), puts the
//! malformed input there (copied from the corpus, or generated: files of 100 MB, files made
//! from the ledger itself, permission-dependent files), runs the case's command and checks:
//!
//! - the exit code is the one the manifest gives (never 0), and the process was not killed;
//! - the diagnostic says `error` (or, for `verify` finding its input invalid, `INVALID` on
//!   standard output, its verdict) and contains the expected substrings, which name the field,
//!   the line or the problem;
//! - no panic, no Rust backtrace, no allocation failure;
//! - every file of the folder is byte for byte as before (the ledger, the input, the keys),
//!   and no file appeared or vanished, so no half-made ledger or `-wal` was left behind;
//! - `depositary verify` still finds the ledger valid: it found the template valid, so an
//!   unchanged folder needs no second run; after any change it runs again and reports.
//!
//! Why comparing bytes is meaningful: the ledger is in WAL mode, and a WAL is folded into
//! the main file when the last connection closes. `depositary import` has exited before the
//! template's bytes are read, and the runner checks that no `ledger.db-wal` exists then, so
//! the main file holds the whole ledger. A command that wrote anything, even if it then
//! exited, would leave the main file changed (its write was checkpointed on close) or leave a
//! `-wal` file; either shows in the folder's snapshot. Large files (over 16 MiB, only the
//! generated inputs) are compared by length and modification time instead of content.
//!
//! Every command runs with its data segment limited to 512 MiB (`ulimit -d`), so that a reader
//! without a bound fails instead of exhausting the shared machine, and with a 120 s timeout.
//!
//! A case marked `known_bug` in the manifest records a product bug: its failures are printed
//! (run with `--nocapture` to see them) and do not fail the test; once it passes, the test
//! fails until the mark is removed.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use common::{Env, fixtures, set_mode};
use serde_json::Value;

/// One case of the manifest.
#[derive(Debug)]
struct Case {
    name: String,
    kind: String,
    file: Option<String>,
    generate: Option<String>,
    command: Vec<String>,
    expect: String,
    expect_also: Vec<String>,
    expect_any: Vec<String>,
    exit: i32,
    report_on_stdout: bool,
    mode: Option<u32>,
    known_bug: Option<String>,
}

const KINDS: [&str; 6] = ["args", "events", "export", "key", "ledger", "treaty"];

fn corpus() -> PathBuf {
    fixtures().join("bad")
}

fn strings(v: &Value, name: &str, field: &str) -> Vec<String> {
    match v.get(field) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| {
                s.as_str()
                    .unwrap_or_else(|| panic!("case {name}: {field} holds a non-string"))
                    .to_owned()
            })
            .collect(),
        Some(other) => panic!("case {name}: {field} is not an array: {other}"),
    }
}

fn manifest() -> Vec<Case> {
    let path = corpus().join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let cases = value["cases"].as_array().expect("manifest.json has cases");
    let known = [
        "name",
        "kind",
        "file",
        "generate",
        "command",
        "expect",
        "expect_also",
        "expect_any",
        "exit",
        "report",
        "mode",
        "note",
        "known_bug",
    ];
    cases
        .iter()
        .map(|c| {
            let name = c["name"]
                .as_str()
                .expect("every case has a name")
                .to_owned();
            let obj = c
                .as_object()
                .unwrap_or_else(|| panic!("case {name} is not an object"));
            for k in obj.keys() {
                assert!(
                    known.contains(&k.as_str()),
                    "case {name}: unknown member {k}"
                );
            }
            let text = |f: &str| c.get(f).and_then(Value::as_str).map(str::to_owned);
            Case {
                kind: text("kind").unwrap_or_else(|| panic!("case {name} has no kind")),
                file: text("file"),
                generate: text("generate"),
                command: strings(c, &name, "command"),
                expect: text("expect").unwrap_or_else(|| panic!("case {name} has no expect")),
                expect_also: strings(c, &name, "expect_also"),
                expect_any: strings(c, &name, "expect_any"),
                exit: c["exit"]
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or_else(|| panic!("case {name} has no exit code")),
                report_on_stdout: match text("report").as_deref() {
                    None => false,
                    Some("stdout") => true,
                    Some(other) => panic!("case {name}: report {other:?} is not \"stdout\""),
                },
                mode: text("mode").map(|m| {
                    u32::from_str_radix(&m, 8)
                        .unwrap_or_else(|_| panic!("case {name}: mode {m:?} is not octal"))
                }),
                known_bug: text("known_bug"),
                name,
            }
        })
        .collect()
}

/// What one run of the binary did.
struct Outcome {
    /// The exit code, or `None` if a signal ended the process.
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

/// Runs `depositary ARGS` in the folder of `env`, with `DEPOSITARY_LEDGER=ledger.db`, its data
/// segment limited to 512 MiB and a timeout.
fn run(env: &Env, args: &[String]) -> Outcome {
    use std::os::unix::process::ExitStatusExt as _;
    let child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -d 524288 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_depositary"))
        .args(args)
        .current_dir(env.dir.path())
        .env("DEPOSITARY_LEDGER", env.ledger())
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let (output, timed_out) = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => (out.expect("the binary ends"), false),
        Err(_) => {
            // `exec` made the binary the process `pid`.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            (
                rx.recv()
                    .expect("the waiting thread answers")
                    .expect("ends"),
                true,
            )
        }
    };
    Outcome {
        code: output.status.code(),
        signal: output.status.signal(),
        timed_out,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A file's content, or for a large file its length and modification time.
#[derive(Debug, PartialEq, Eq)]
enum Content {
    Bytes(Vec<u8>),
    Large(u64, Option<SystemTime>),
    Directory,
    Other,
}

/// Every file under `dir`, by path relative to it, with its content and permission bits.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Content, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (Content, u32)>) {
        for entry in std::fs::read_dir(dir).expect("list the folder") {
            let entry = entry.expect("a folder entry");
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let rel = path.strip_prefix(root).expect("inside").to_owned();
            let mode = meta.permissions().mode();
            let content = if meta.is_dir() {
                walk(root, &path, out);
                Content::Directory
            } else if !meta.is_file() {
                Content::Other
            } else if meta.len() > 16 << 20 {
                Content::Large(meta.len(), meta.modified().ok())
            } else {
                Content::Bytes(std::fs::read(&path).expect("read a file"))
            };
            out.insert(rel, (content, mode));
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn describe_changes(
    before: &BTreeMap<PathBuf, (Content, u32)>,
    after: &BTreeMap<PathBuf, (Content, u32)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, was) in before {
        match after.get(path) {
            None => out.push(format!("{} vanished", path.display())),
            Some(now) if now != was => out.push(format!("{} changed", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys() {
        if !before.contains_key(path) {
            out.push(format!("{} appeared", path.display()));
        }
    }
    out
}

/// The vector ledger, imported once: its bytes are copied into each case's folder.
struct Template {
    ledger: Vec<u8>,
    export: Vec<u8>,
}

fn template() -> Template {
    let env = Env::new();
    env.import_vectors();
    let mut wal = env.ledger().into_os_string();
    wal.push("-wal");
    assert!(
        !Path::new(&wal).exists(),
        "the ledger's WAL was not folded into it when `import` ended; the byte comparison \
         below would not be meaningful"
    );
    let verify = run(&env, &["verify".to_owned()]);
    assert!(
        verify.code == Some(0) && verify.stdout.contains("13 entries verified"),
        "the template ledger does not verify: {}{}",
        verify.stdout,
        verify.stderr
    );
    let ledger = std::fs::read(env.ledger()).expect("read the template ledger");
    let export = std::fs::read(fixtures().join("vectors/ledger.jsonl")).expect("vectors");
    Template { ledger, export }
}

/// Writes `head`, then `fill` repeated `count` times, then `tail`, without holding them in
/// memory.
fn write_big(path: &Path, head: &[u8], fill: u8, count: usize, tail: &[u8]) {
    let f = std::fs::File::create(path).expect("create a large file");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    w.write_all(head).expect("write");
    let chunk = vec![fill; 1 << 20];
    let mut left = count;
    while left > 0 {
        let n = left.min(chunk.len());
        w.write_all(&chunk[..n]).expect("write");
        left -= n;
    }
    w.write_all(tail).expect("write");
    w.flush().expect("flush");
}

fn sqlite(path: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(path)
        .arg(sql)
        .output()
        .expect("the sqlite3 command-line tool is installed (README: the tests use it)");
    assert!(
        out.status.success(),
        "sqlite3 {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the input of a `generate` case in `env`; returns its path relative to the folder.
fn generate(env: &Env, what: &str, template: &Template) -> String {
    let rel = format!("bad/{what}");
    let path = env.path(&rel);
    let vectors: Vec<&[u8]> = template.export.split(|b| *b == b'\n').collect();
    let mb100 = 100 << 20;
    let ledger_with = |sql: &str| {
        std::fs::write(&path, &template.ledger).expect("copy the ledger");
        sqlite(&path, sql);
    };
    match what {
        "events_100_mb_line" => write_big(
            &path,
            b"{\"type\":\"signed\",\"party\":\"EEE\",\"date\":\"2025-02-01\"}\n{\"type\":\"signed\",\"place\":\"",
            b'x',
            mb100,
            b"\"}\n",
        ),
        "export_line_over_1_mib" | "export_100_mb_line" => {
            // Line 2 is longer than the 1 MiB an export line may hold.
            let size = if what == "export_100_mb_line" {
                mb100
            } else {
                (1 << 20) + 1
            };
            let mut head = vectors[0].to_vec();
            head.extend_from_slice(b"\n{\"event\":\"");
            let mut tail = b"\"}\n".to_vec();
            for line in &vectors[2..] {
                if !line.is_empty() {
                    tail.extend_from_slice(line);
                    tail.push(b'\n');
                }
            }
            write_big(&path, &head, b'x', size, &tail);
        }
        "root_secret_key" => {
            std::fs::copy(fixtures().join("keys/TEST-ONLY-root.secret.pem"), &path)
                .expect("copy the root key");
        }
        "directory" => std::fs::create_dir(&path).expect("mkdir"),
        "key_70_kib" => {
            let key = std::fs::read(fixtures().join("keys/TEST-ONLY-root.secret.pem"))
                .expect("read the root key");
            write_big(&path, &key, b'#', 70 << 10, b"\n");
        }
        "treaty_over_16_mib" => {
            let treaty = std::fs::read(fixtures().join("treaties/test-3-instruments-30-days.json"))
                .expect("read the treaty");
            write_big(&path, &treaty, b' ', (16 << 20) + 1024, b"\n");
        }
        "ledger_truncated_half" => {
            std::fs::write(&path, &template.ledger[..template.ledger.len() / 2])
                .expect("write half a ledger");
        }
        "ledger_user_version_2" => ledger_with("PRAGMA user_version = 2;"),
        "ledger_user_version_0" => ledger_with("PRAGMA user_version = 0;"),
        "ledger_application_id_changed" => ledger_with("PRAGMA application_id = 1234;"),
        "ledger_meta_format_missing" => ledger_with("DELETE FROM meta WHERE key = 'format';"),
        "ledger_meta_format_other" => {
            ledger_with("UPDATE meta SET value = 'another-ledger' WHERE key = 'format';")
        }
        "ledger_meta_table_dropped" => ledger_with("DROP TABLE meta;"),
        "ledger_entries_table_dropped" => ledger_with("DROP TABLE entries;"),
        other => panic!("no generator {other:?} (see `generate` in tests/bad_input.rs)"),
    }
    rel
}

/// Runs one case; returns what went wrong (nothing if it passed).
fn check(case: &Case, template: &Template) -> Vec<String> {
    let env = Env::new();
    std::fs::write(env.ledger(), &template.ledger).expect("install the ledger");
    std::fs::create_dir(env.path("bad")).expect("mkdir bad");
    let input = match (&case.file, &case.generate) {
        (Some(file), None) => {
            let from = corpus().join(file);
            let name = Path::new(file).file_name().expect("a file name");
            let rel = format!("bad/{}", name.to_string_lossy());
            std::fs::copy(&from, env.path(&rel))
                .unwrap_or_else(|e| panic!("case {}: copy {}: {e}", case.name, from.display()));
            Some(rel)
        }
        (None, Some(what)) => Some(generate(&env, what, template)),
        (None, None) => None,
        (Some(_), Some(_)) => panic!("case {}: both file and generate", case.name),
    };
    if let Some(rel) = &input {
        if let Some(mode) = case.mode {
            set_mode(&env.path(rel), mode);
        } else if case.kind == "key" {
            // Git keeps no permission bits: a key is refused for its content only.
            set_mode(&env.path(rel), 0o600);
        }
    }
    let vectors = fixtures().join("vectors/ledger.jsonl");
    let treaty = fixtures().join("treaties/test-3-instruments-30-days.json");
    let args: Vec<String> = case
        .command
        .iter()
        .map(|a| {
            let mut a = a
                .replace("{vectors}", &vectors.to_string_lossy())
                .replace("{treaty}", &treaty.to_string_lossy());
            if a.contains("{file}") {
                let rel = input
                    .as_deref()
                    .unwrap_or_else(|| panic!("case {}: {{file}} without a file", case.name));
                a = a.replace("{file}", rel);
            }
            a
        })
        .collect();

    let before = snapshot(env.dir.path());
    let out = run(&env, &args);
    let after = snapshot(env.dir.path());

    let mut failures = Vec::new();
    if out.timed_out {
        failures.push("did not end within 120 s".to_owned());
    }
    if let Some(sig) = out.signal {
        failures.push(format!("was killed by signal {sig}"));
    }
    match out.code {
        Some(0) => failures.push("exited 0: the bad input was accepted".to_owned()),
        Some(code) if code != case.exit => {
            failures.push(format!("exited {code}, expected {}", case.exit));
        }
        _ => {}
    }
    for bad in [
        "panicked",
        "stack backtrace",
        "RUST_BACKTRACE",
        "out of memory",
        "memory allocation of",
    ] {
        if out.stderr.contains(bad) || out.stdout.contains(bad) {
            failures.push(format!("printed {bad:?}"));
        }
    }
    let diagnostic = if case.report_on_stdout {
        if !out.stdout.contains("INVALID") {
            failures.push("stdout does not say INVALID".to_owned());
        }
        format!("{}\n{}", out.stdout, out.stderr)
    } else {
        if !out.stderr.to_lowercase().contains("error") {
            failures.push("stderr does not say error".to_owned());
        }
        out.stderr.clone()
    };
    // The input's own name must not satisfy an expectation (`null_optional_place.jsonl`
    // names the field it is about): it is masked before matching.
    let mut masked = diagnostic.clone();
    if let Some(rel) = &input {
        let abs = env.path(rel).to_string_lossy().into_owned();
        let base = Path::new(rel)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for name in [abs.as_str(), rel.as_str(), base.as_str()] {
            masked = masked.replace(name, "{file}");
        }
    }
    if std::env::var_os("BAD_INPUT_SHOW").is_some() {
        // BAD_INPUT_SHOW=1 cargo test --test bad_input -- --nocapture: every diagnostic.
        println!("[{}] exit {:?}: {}", case.name, out.code, masked.trim());
    }
    let lower = masked.to_lowercase();
    for want in std::iter::once(&case.expect).chain(&case.expect_also) {
        if !lower.contains(&want.to_lowercase()) {
            failures.push(format!("the message does not contain {want:?}"));
        }
    }
    if !case.expect_any.is_empty()
        && !case
            .expect_any
            .iter()
            .any(|w| lower.contains(&w.to_lowercase()))
    {
        failures.push(format!(
            "the message contains none of {:?}",
            case.expect_any
        ));
    }
    for change in describe_changes(&before, &after) {
        failures.push(format!("the folder changed: {change}"));
    }
    // `verify` found the template valid, and an unchanged folder is the same input: it is
    // run again only when something changed, to say whether the ledger is still valid.
    if before != after {
        let verify = run(&env, &["verify".to_owned()]);
        if verify.code != Some(0) || !verify.stdout.contains("VALID") {
            failures.push(format!(
                "`verify` no longer finds the ledger valid (exit {:?}): {}{}",
                verify.code, verify.stdout, verify.stderr
            ));
        }
    }
    if !failures.is_empty() {
        let shown = |s: &str| -> String {
            let s = s.trim_end();
            if s.len() > 1500 {
                let mut end = 1500;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}… ({} bytes)", &s[..end], s.len())
            } else {
                s.to_owned()
            }
        };
        failures.push(format!(
            "command: depositary {}\n    exit {:?}\n    --- stdout\n    {}\n    --- stderr\n    {}",
            args.iter()
                .map(|a| if a.len() > 80 {
                    format!("<{} bytes>", a.len())
                } else {
                    a.clone()
                })
                .collect::<Vec<_>>()
                .join(" "),
            out.code,
            shown(&out.stdout),
            shown(&out.stderr)
        ));
    }
    failures
}

/// Runs every case of one kind; fails listing every failing case, each by name.
fn run_kind(kind: &str) {
    let template = template();
    let cases: Vec<Case> = manifest().into_iter().filter(|c| c.kind == kind).collect();
    assert!(!cases.is_empty(), "no case of kind {kind}");
    let mut failing = Vec::new();
    let mut fixed = Vec::new();
    let mut known = 0;
    for case in &cases {
        let failures = check(case, &template);
        match (&case.known_bug, failures.is_empty()) {
            (None, true) => {}
            (None, false) => failing.push(format!(
                "case {} ({}):\n  - {}",
                case.name,
                case.kind,
                failures.join("\n  - ")
            )),
            (Some(bug), false) => {
                known += 1;
                println!(
                    "KNOWN BUG, case {} ({}): {bug}\n  - {}",
                    case.name,
                    case.kind,
                    failures.join("\n  - ")
                );
            }
            (Some(bug), true) => fixed.push(format!(
                "case {} now passes: remove its known_bug ({bug}) from fixtures/bad/make_corpus.py and regenerate manifest.json",
                case.name
            )),
        }
    }
    println!(
        "{kind}: {} cases, {} passed, {known} known bugs, {} failing, {} fixed",
        cases.len(),
        cases.len() - known - failing.len() - fixed.len(),
        failing.len(),
        fixed.len()
    );
    assert!(
        failing.is_empty() && fixed.is_empty(),
        "{} of {} {kind} cases failed:\n\n{}\n{}",
        failing.len() + fixed.len(),
        cases.len(),
        failing.join("\n\n"),
        fixed.join("\n")
    );
}

#[test]
fn bad_command_lines_are_refused() {
    run_kind("args");
}

#[test]
fn bad_event_files_are_refused() {
    run_kind("events");
}

#[test]
fn bad_exports_are_refused() {
    run_kind("export");
}

#[test]
fn bad_key_files_are_refused() {
    run_kind("key");
}

#[test]
fn bad_ledger_files_are_refused() {
    run_kind("ledger");
}

#[test]
fn bad_treaty_files_are_refused() {
    run_kind("treaty");
}

#[test]
fn the_corpus_is_complete_and_consistent() {
    let cases = manifest();
    assert!(
        cases.len() >= 100,
        "the corpus has {} cases; at least 100 are required",
        cases.len()
    );
    let mut names = std::collections::BTreeSet::new();
    let mut listed = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(
            names.insert(c.name.clone()),
            "case {} is listed twice",
            c.name
        );
        assert!(
            KINDS.contains(&c.kind.as_str()),
            "case {}: kind {}",
            c.name,
            c.kind
        );
        assert!(!c.command.is_empty(), "case {} has no command", c.name);
        assert!(
            !c.expect.trim().is_empty(),
            "case {} expects nothing",
            c.name
        );
        assert!(
            c.exit == 1 || c.exit == 2,
            "case {}: exit {} (a refusal exits 1 or 2)",
            c.name,
            c.exit
        );
        let uses_file = c.command.iter().any(|a| a.contains("{file}"));
        assert_eq!(
            uses_file,
            c.file.is_some() || c.generate.is_some(),
            "case {}: the command uses {{file}} exactly when the case has an input file",
            c.name
        );
        assert_eq!(
            c.kind == "args",
            c.file.is_none() && c.generate.is_none(),
            "case {}: only command-line cases have no input file",
            c.name
        );
        if let Some(file) = &c.file {
            assert!(
                corpus().join(file).is_file(),
                "case {}: {file} is not a file of fixtures/bad",
                c.name
            );
            listed.insert(PathBuf::from(file));
        }
    }
    for kind in KINDS {
        let n = cases.iter().filter(|c| c.kind == kind).count();
        assert!(n >= 5, "only {n} cases of kind {kind}");
    }
    // Every file of the corpus is some case's input (beside the manifest and its script).
    let mut on_disk = Vec::new();
    for entry in snapshot(&corpus()).into_iter() {
        let (path, (content, _)) = entry;
        if content == Content::Directory {
            continue;
        }
        on_disk.push(path);
    }
    let unlisted: Vec<_> = on_disk
        .iter()
        .filter(|p| {
            !listed.contains(*p)
                && !["manifest.json", "make_corpus.py"].contains(&p.to_string_lossy().as_ref())
        })
        .collect();
    assert!(
        unlisted.is_empty(),
        "files of fixtures/bad that no case of manifest.json uses: {unlisted:?}"
    );
}
