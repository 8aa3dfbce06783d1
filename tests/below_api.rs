//! Tampering below the API: the ledger file changed with the `sqlite3` tool directly, as
//! anyone holding the file can. The append-only triggers refuse UPDATE and DELETE of
//! entries while they stand; once they are dropped, every change to the entries, the keys
//! or the projection's records is found by `depositary verify`, which names the entry (or
//! the record) and exits 1.
//!
//! Every case starts from the 13-entry vector ledger (`fixtures/vectors/ledger.jsonl`,
//! imported with `depositary import`) and reads `verify --format json`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Env, json};
use serde_json::Value;

/// A fresh folder with the vector ledger as `ledger.db`.
fn ledger() -> Env {
    let env = Env::new();
    env.import_vectors();
    env
}

/// What `sqlite3 FILE SQL` did.
struct Sql {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn sqlite(path: &Path, sql: &str) -> Sql {
    let out = Command::new("sqlite3")
        .arg(path)
        .arg(sql)
        .output()
        .expect("the sqlite3 command-line tool is installed (README: the tests use it)");
    Sql {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `sql`, which must succeed.
#[track_caller]
fn tamper(env: &Env, sql: &str) {
    let r = sqlite(&env.ledger(), sql);
    assert!(r.ok, "sqlite3 {sql:?} failed: {}", r.stderr);
}

/// Drops the append-only triggers, as a forger with the file would first.
fn drop_triggers(env: &Env) {
    tamper(
        env,
        "DROP TRIGGER entries_append_only_update; DROP TRIGGER entries_append_only_delete; \
         DROP TRIGGER IF EXISTS entries_append_only_insert;",
    );
}

/// A change to the text of one entry's line (a BLOB), as SQL.
fn replace_in_line(seq: u64, from: &str, to: &str) -> String {
    assert_eq!(from.len(), to.len(), "a change of the same length");
    format!(
        "UPDATE entries SET line = CAST(replace(CAST(line AS TEXT), '{from}', '{to}') AS BLOB) \
         WHERE seq = {seq} AND instr(CAST(line AS TEXT), '{from}') > 0; \
         SELECT changes();"
    )
}

/// `verify --format json` of the ledger: the exit code and the report.
fn verify(env: &Env) -> (i32, Value) {
    let run = env.run(&["verify", "--format", "json"]);
    assert!(
        !run.stderr.contains("panicked"),
        "verify panicked:\n{}",
        run.stderr
    );
    (run.code, json(&run))
}

/// Expects `verify` to find the ledger invalid at entry `seq` (line `seq + 1` of the
/// entries in order), with `entries_verified` = `seq` before it and `reason` in the message.
#[track_caller]
fn invalid_at(env: &Env, seq: u64, reason: &str) {
    let (code, report) = verify(env);
    assert_eq!(code, 1, "verify exits 1 for an invalid ledger: {report:#}");
    assert_eq!(report["valid"], false, "{report:#}");
    let failure = &report["failure"];
    assert_eq!(failure["seq"], seq, "the failing entry: {report:#}");
    assert_eq!(failure["line"], seq + 1, "the failing line: {report:#}");
    assert_eq!(
        report["entries_verified"], seq,
        "entries before it: {report:#}"
    );
    let text = failure["reason"].as_str().expect("a reason");
    assert!(
        text.contains(reason),
        "the reason {text:?} does not contain {reason:?}"
    );
}

/// Expects `verify` to find every entry valid but a record the store keeps beside them
/// changed: exit 1, no entry named, `what` in the reason.
#[track_caller]
fn cache_invalid(env: &Env, what: &str) {
    let (code, report) = verify(env);
    assert_eq!(code, 1, "verify exits 1 for an invalid ledger: {report:#}");
    assert_eq!(report["valid"], false, "{report:#}");
    assert_eq!(
        report["entries_verified"], 13,
        "every entry verifies: {report:#}"
    );
    let failure = &report["failure"];
    assert_eq!(
        failure["seq"],
        Value::Null,
        "no entry is at fault: {report:#}"
    );
    let text = failure["reason"].as_str().expect("a reason");
    assert!(
        text.contains(what) && text.contains("changed outside Depositary"),
        "the reason {text:?} does not name {what:?} as changed outside Depositary"
    );
}

#[track_caller]
fn valid(env: &Env) {
    let (code, report) = verify(env);
    assert_eq!(code, 0, "verify: {report:#}");
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["entries_verified"], 13, "{report:#}");
}

#[test]
fn update_and_delete_of_entries_fail_while_the_triggers_stand() {
    let env = ledger();
    let before = std::fs::read(env.ledger()).expect("read the ledger");
    for sql in [
        "UPDATE entries SET line = line WHERE seq = 3;",
        "UPDATE entries SET hash = '0000000000000000000000000000000000000000000000000000000000000000' WHERE seq = 12;",
        "UPDATE entries SET party = 'EEE' WHERE seq = 2;",
        "UPDATE entries SET seq = seq + 100 WHERE seq = 12;",
        "UPDATE entries SET recorded_at = '2030-01-01T00:00:00Z';",
        "DELETE FROM entries WHERE seq = 12;",
        "DELETE FROM entries;",
        "INSERT INTO entries (seq, hash, recorded_at, type, party, line) \
         SELECT seq, hash, recorded_at, type, party, line FROM entries WHERE seq = 5 \
         ON CONFLICT (seq) DO UPDATE SET line = X'00';",
    ] {
        let r = sqlite(&env.ledger(), sql);
        assert!(!r.ok, "sqlite3 accepted {sql:?}: {}", r.stdout);
        assert!(
            r.stderr
                .contains("depositary: ledger entries are append-only"),
            "sqlite3 refused {sql:?} without the append-only message: {}",
            r.stderr
        );
    }
    assert_eq!(
        std::fs::read(env.ledger()).expect("read the ledger"),
        before,
        "the refused statements left the ledger file as it was"
    );
    valid(&env);
}

/// Entry 5 with its date moved a day, put in place of entry 5 by INSERT OR REPLACE (whose
/// implicit delete fires no DELETE trigger).
const REPLACE_ENTRY_5: &str = "INSERT OR REPLACE INTO entries (seq, hash, recorded_at, type, party, line) \
     SELECT seq, hash, recorded_at, type, party, \
     CAST(replace(CAST(line AS TEXT), '\"date\":\"2025-03-01\"', '\"date\":\"2025-03-02\"') AS BLOB) \
     FROM entries WHERE seq = 5;";

#[test]
fn insert_or_replace_of_an_entry_fails_while_the_triggers_stand() {
    let env = ledger();
    let before = std::fs::read(env.ledger()).expect("read the ledger");
    for sql in [
        REPLACE_ENTRY_5,
        "REPLACE INTO entries (seq, hash, recorded_at, type, party, line) \
         SELECT seq, hash, recorded_at, type, party, line FROM entries WHERE seq = 12;",
        "INSERT OR REPLACE INTO entries (seq, hash, recorded_at, type, party, line) \
         VALUES (0, 'x', 'y', 'z', NULL, X'00');",
    ] {
        let r = sqlite(&env.ledger(), sql);
        assert!(!r.ok, "sqlite3 accepted {sql:?}: {}", r.stdout);
        assert!(
            r.stderr
                .contains("depositary: ledger entries are append-only"),
            "sqlite3 refused {sql:?} without the append-only message: {}",
            r.stderr
        );
    }
    assert_eq!(
        std::fs::read(env.ledger()).expect("read the ledger"),
        before,
        "the refused statements left the ledger file as it was"
    );
    valid(&env);

    // Without the triggers the entry is replaced in place, and verify finds it.
    drop_triggers(&env);
    tamper(&env, REPLACE_ENTRY_5);
    invalid_at(&env, 5, "signature does not verify");
}

#[test]
fn one_byte_of_a_line_changed_is_found_at_its_entry() {
    for (seq, from, to) in [
        (
            1,
            "Registrar of the Test Depositary",
            "Registrar of the Test Depositarz",
        ),
        (5, "\"date\":\"2025-03-01\"", "\"date\":\"2025-03-02\""),
        (6, "Borduria declares", "Borduria declarez"),
        (12, "\"date\":\"2025-04-02\"", "\"date\":\"2025-04-01\""),
    ] {
        let env = ledger();
        drop_triggers(&env);
        let r = sqlite(&env.ledger(), &replace_in_line(seq, from, to));
        assert!(
            r.ok && r.stdout.trim() == "1",
            "one row changed: {}",
            r.stderr
        );
        invalid_at(&env, seq, "signature does not verify");
    }
}

#[test]
fn a_deleted_entry_is_found() {
    // A row from the middle: the next entry stands where it was.
    let env = ledger();
    drop_triggers(&env);
    tamper(&env, "DELETE FROM entries WHERE seq = 7;");
    invalid_at(&env, 7, "seq is 8, expected 7");

    // Entry 0.
    let env = ledger();
    drop_triggers(&env);
    tamper(&env, "DELETE FROM entries WHERE seq = 0;");
    invalid_at(&env, 0, "seq is 1, expected 0");

    // The last entry: the remaining chain is valid by itself, but the store's records
    // still hold what entry 12 did (BBB's acceptance).
    let env = ledger();
    drop_triggers(&env);
    tamper(&env, "DELETE FROM entries WHERE seq = 12;");
    let (code, report) = verify(&env);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["entries_verified"], 12, "{report:#}");
    let reason = report["failure"]["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("participant BBB") && reason.contains("changed outside Depositary"),
        "{reason}"
    );
}

#[test]
fn two_swapped_lines_are_found() {
    let env = ledger();
    drop_triggers(&env);
    tamper(
        &env,
        "UPDATE entries SET line = (SELECT e.line FROM entries e \
         WHERE e.seq = CASE entries.seq WHEN 3 THEN 4 ELSE 3 END) WHERE seq IN (3, 4);",
    );
    let swapped = sqlite(
        &env.ledger(),
        "SELECT instr(CAST(line AS TEXT), '\"seq\":4,') > 0 FROM entries WHERE seq = 3;",
    );
    assert_eq!(swapped.stdout.trim(), "1", "row 3 now holds entry 4's line");
    invalid_at(&env, 3, "seq is 4, expected 3");
}

#[test]
fn a_changed_column_beside_the_line_is_found() {
    // The head's hash column (what the store reads as the head when it appends).
    let env = ledger();
    drop_triggers(&env);
    tamper(
        &env,
        "UPDATE entries SET hash = '0000000000000000000000000000000000000000000000000000000000000000' WHERE seq = 12;",
    );
    invalid_at(&env, 12, "hash column");

    // Another row's hash column (what import compares an export with).
    let env = ledger();
    drop_triggers(&env);
    tamper(
        &env,
        "UPDATE entries SET hash = '1111111111111111111111111111111111111111111111111111111111111111' WHERE seq = 3;",
    );
    invalid_at(&env, 3, "hash column");

    // The party column (what `history --party` and `log --party` select by).
    let env = ledger();
    drop_triggers(&env);
    tamper(&env, "UPDATE entries SET party = 'EEE' WHERE seq = 2;");
    invalid_at(&env, 2, "party column");

    // The recorded_at column (what `status --known-at` selects by).
    let env = ledger();
    drop_triggers(&env);
    tamper(
        &env,
        "UPDATE entries SET recorded_at = '2030-01-01T00:00:00Z' WHERE seq = 5;",
    );
    invalid_at(&env, 5, "recorded_at column");

    // The type column.
    let env = ledger();
    drop_triggers(&env);
    tamper(&env, "UPDATE entries SET type = 'signed' WHERE seq = 8;");
    invalid_at(&env, 8, "type column");
}

#[test]
fn a_changed_keys_table_is_found() {
    // The registrar made a root key.
    let env = ledger();
    tamper(
        &env,
        "UPDATE keys SET role = 'root' WHERE role = 'registrar'; SELECT changes();",
    );
    cache_invalid(&env, "the keys table");

    // The registrar's revocation erased.
    let env = ledger();
    tamper(
        &env,
        "UPDATE keys SET revoked_at = NULL WHERE revoked_at = 11;",
    );
    cache_invalid(&env, "the keys table");
}

#[test]
fn a_changed_projection_record_is_found() {
    // A participant's record: Aland's signature moved a day.
    let env = ledger();
    tamper(
        &env,
        "UPDATE p_participants SET rec = replace(rec, '\"2025-01-10\"', '\"2025-01-09\"') WHERE id = 'AAA';",
    );
    let status = env.run(&["status", "--as-of", "2025-01-09", "--format", "json"]);
    status.ok();
    assert_eq!(
        json(&status)["signatories"],
        1,
        "status reads the changed record (so verify must catch it)"
    );
    cache_invalid(&env, "cached record of participant AAA");

    // Statements.
    let env = ledger();
    tamper(&env, "DELETE FROM p_statements;");
    cache_invalid(&env, "cached statements");

    // Voided entries.
    let env = ledger();
    tamper(&env, "DELETE FROM p_voided;");
    cache_invalid(&env, "voided");

    // The treaty's rules: three instruments made one.
    let env = ledger();
    tamper(
        &env,
        "UPDATE p_treaty SET info = replace(info, '\"at_least\":3', '\"at_least\":1');",
    );
    cache_invalid(&env, "treaty record");
}

#[test]
fn an_entry_appended_by_hand_is_found() {
    // Entry 12's line copied as entry 13: a new seq, the rest (prev, signature) unchanged.
    let env = ledger();
    let line = sqlite(
        &env.ledger(),
        "SELECT CAST(line AS TEXT) FROM entries WHERE seq = 12;",
    );
    let copied = line.stdout.trim_end().replace("\"seq\":12,", "\"seq\":13,");
    assert!(copied.contains("\"seq\":13,"), "{copied}");
    let hash = depositary_core::entry::entry_hash(copied.as_bytes()).to_hex();
    let hex: String = copied.bytes().map(|b| format!("{b:02x}")).collect();
    tamper(
        &env,
        &format!(
            "INSERT INTO entries (seq, hash, recorded_at, type, party, line) \
             VALUES (13, '{hash}', '2025-04-02T15:00:00Z', 'ratified', 'BBB', X'{hex}');"
        ),
    );
    // Its prev names entry 11 (it was entry 12's), not entry 12.
    invalid_at(&env, 13, "but the entry before hashes to");
}

#[test]
fn a_newer_schema_version_is_refused_by_every_command() {
    let env = ledger();
    tamper(&env, "PRAGMA user_version = 2;");
    let before = std::fs::read(env.ledger()).expect("read the ledger");
    let vectors = common::fixtures().join("vectors/ledger.jsonl");
    let vectors = vectors.to_str().expect("UTF-8 path");
    for args in [
        &["status"][..],
        &["status", "--known-at", "2025-04-01T00:00:00Z"],
        &["log"],
        &["history", "--party", "AAA"],
        &["export"],
        &["import", vectors],
        &[
            "append",
            "--key",
            "root.pem",
            "signed",
            "--party",
            "EEE",
            "--date",
            "2025-02-01",
        ],
    ] {
        let run = env.run(args);
        run.expect_code(1);
        assert!(
            run.stderr.starts_with("error: ")
                && run.stderr.contains("schema version 2")
                && run.stderr.contains("upgrade depositary"),
            "depositary {args:?} does not say clearly that the ledger is newer: {}",
            run.stderr
        );
    }
    let (code, report) = verify(&env);
    assert_eq!(code, 2, "verify cannot read a newer ledger: {report:#}");
    assert_eq!(report["valid"], false);
    let unusable = report["unusable"].as_str().expect("why it is unusable");
    assert!(
        unusable.contains("schema version 2") && unusable.contains("upgrade depositary"),
        "{unusable}"
    );
    assert_eq!(
        std::fs::read(env.ledger()).expect("read the ledger"),
        before,
        "no command changed the newer ledger"
    );
}

#[test]
fn a_new_ledger_is_in_wal_mode_with_its_indexes() {
    // An import builds the file with a rollback journal and without its indexes, then turns
    // WAL on and builds the indexes before the file takes its name; init does the same.
    let imported = ledger();
    let env = Env::new();
    env.init("hanoi/treaty.json", "2025-10-25T09:00:00Z");
    for path in [imported.ledger(), env.ledger()] {
        let mode = sqlite(&path, "PRAGMA journal_mode;");
        assert_eq!(mode.stdout.trim(), "wal", "{}", path.display());
        let indexes = sqlite(
            &path,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name;",
        );
        assert_eq!(
            indexes.stdout.split_whitespace().collect::<Vec<_>>(),
            ["entries_party", "p_statements_date"],
            "{}",
            path.display()
        );
    }
    valid(&imported);
}
