//! End-to-end tests of every command, as a user runs them: keygen, init, append (each
//! event type, --events, every validation rule), export/import, log, history, status,
//! the ledger path, and files that are not ledgers.
//!
//! Ledgers are made from `fixtures/treaties/test-3-instruments-30-days.json` (adopted
//! 2025-01-06; signature 2025-01-10 to 2025-06-30; 3 instruments, in force 30 days later;
//! amendments a year after entry into force, more than 2 acceptances; denunciation 6 months;
//! organizations after a member; participants AAA BBB CCC DDD EEE and UNI = {AAA, BBB, CCC})
//! with explicit record times, so that every date is fixed.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Env, Run, json, set_mode};
use serde_json::Value;

const TREATY: &str = "treaties/test-3-instruments-30-days.json";

fn treaty_path() -> String {
    common::fixtures()
        .join(TREATY)
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

/// `depositary append --key KEY --recorded-at AT ARGS...`
fn append(env: &Env, key: &str, at: &str, args: &[&str]) -> Run {
    let mut all = vec!["append", "--key", key, "--recorded-at", at];
    all.extend_from_slice(args);
    env.run(&all)
}

/// The ledger's export (standard output of `depositary export`).
fn export(env: &Env) -> String {
    let run = env.run(&["export"]);
    run.ok();
    run.stdout
}

/// A ledger of the test treaty whose registrar key is authorized (entries 0 and 1).
fn init_with_registrar(env: &Env) {
    env.init(TREATY, "2025-01-10T09:00:00Z");
    append(
        env,
        "root.pem",
        "2025-01-10T09:05:00Z",
        &[
            "key_authorized",
            "--public-key",
            "registrar.pub.pem",
            "--name",
            "Registrar of the Test Depositary",
            "--role",
            "registrar",
        ],
    )
    .ok();
}

/// Checks that a command was refused: exit 1, `needles` in its error, the ledger's
/// export unchanged.
#[track_caller]
fn assert_refused(env: &Env, before: &str, run: &Run, needles: &[&str]) {
    run.expect_code(1);
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "expected {n:?} in the error:\n{}",
            run.stderr
        );
    }
    assert_eq!(export(env), before, "the ledger changed");
}

/// The hex of the raw Ed25519 public key in a `.pub.pem` file, by OpenSSL (the last 32
/// bytes of the DER SubjectPublicKeyInfo).
fn openssl_public_hex(pub_pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(pub_pem)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 44, "an Ed25519 SubjectPublicKeyInfo");
    out.stdout[12..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

// ---------------------------------------------------------------------------------------
// keygen

#[test]
fn keygen_writes_a_private_secret_key_and_prints_the_public_key() {
    let env = Env::new();
    let run = env.run(&["keygen", "--out", "new.pem"]);
    run.ok();
    let secret = env.path("new.pem");
    let public = env.path("new.pub.pem");
    assert!(secret.is_file() && public.is_file());
    assert_eq!(
        mode(&secret),
        0o600,
        "the secret key is readable by its owner only"
    );
    let printed = run.stdout.trim();
    assert_eq!(printed.len(), 64, "{printed}");
    assert!(
        printed
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "lowercase hex: {printed}"
    );
    // The printed key is the .pub.pem's, as OpenSSL reads it, and the secret key's.
    assert_eq!(printed, openssl_public_hex(&public));
    let pem = std::fs::read_to_string(&secret).expect("read");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let key = depositary_core::SecretKey::from_pkcs8_pem(&pem).expect("a PKCS#8 key");
    assert_eq!(key.public().to_hex(), printed);
    assert!(
        !run.stdout.contains("PRIVATE"),
        "the secret is never printed"
    );
    assert!(
        !run.stderr.contains("PRIVATE"),
        "the secret is never printed"
    );
    // A second key is another key.
    let other = env.run(&["keygen", "--out", "other.pem"]);
    other.ok();
    assert_ne!(other.stdout, run.stdout);
}

#[test]
fn keygen_never_overwrites_a_key() {
    let env = Env::new();
    env.run(&["keygen", "--out", "k.pem"]).ok();
    let secret = std::fs::read(env.path("k.pem")).expect("read");
    let public = std::fs::read(env.path("k.pub.pem")).expect("read");
    let run = env.run(&["keygen", "--out", "k.pem"]);
    run.expect_code(1);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert_eq!(std::fs::read(env.path("k.pem")).expect("read"), secret);
    assert_eq!(std::fs::read(env.path("k.pub.pem")).expect("read"), public);
    // Only the public file is there: refused too, and no secret key is written.
    env.write("lone.pub.pem", "not mine");
    let run = env.run(&["keygen", "--out", "lone.pem"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("lone.pub.pem already exists"),
        "{}",
        run.stderr
    );
    assert!(!env.path("lone.pem").exists());
    assert_eq!(
        std::fs::read_to_string(env.path("lone.pub.pem")).expect("read"),
        "not mine"
    );
    // The test keys installed by the harness are not overwritten either.
    let root = std::fs::read(env.path("root.pem")).expect("read");
    env.run(&["keygen", "--out", "root.pem"]).expect_code(1);
    assert_eq!(std::fs::read(env.path("root.pem")).expect("read"), root);
}

#[test]
fn a_key_made_by_openssl_works_for_init_and_append() {
    let env = Env::new();
    let out = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(env.path("ossl.pem"))
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    set_mode(&env.path("ossl.pem"), 0o600);
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(env.path("ossl.pem"))
        .arg("-out")
        .arg(env.path("ossl.pub.pem"))
        .output()
        .expect("openssl runs");
    assert!(out.status.success());
    let hex = openssl_public_hex(&env.path("ossl.pub.pem"));

    let treaty = treaty_path();
    let run = env.run(&[
        "init",
        "--treaty",
        &treaty,
        "--key",
        "ossl.pem",
        "--recorded-at",
        "2025-01-10T09:00:00Z",
    ]);
    run.ok();
    assert!(
        run.stdout.contains(&hex),
        "init names the root key: {}",
        run.stdout
    );
    append(
        &env,
        "ossl.pem",
        "2025-01-10T10:00:00Z",
        &["signed", "--party", "AAA", "--date", "2025-01-10"],
    )
    .ok();
    let lines: Vec<Value> = export(&env)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|e| e["signer"] == hex.as_str()));
    let v = env.run(&["verify", "--trust", "ossl.pub.pem", "--format", "json"]);
    v.ok();
    assert_eq!(json(&v)["root"], hex.as_str());
    env.run(&["verify", "--trust", &hex]).ok();
}

#[test]
fn a_secret_key_others_can_read_is_refused_and_nothing_is_written() {
    let env = Env::new();
    init_with_registrar(&env);
    let before = export(&env);
    for (name, m) in [
        ("world.pem", 0o644),
        ("group.pem", 0o640),
        ("all.pem", 0o666),
    ] {
        std::fs::copy(env.path("registrar.pem"), env.path(name)).expect("copy");
        set_mode(&env.path(name), m);
        let run = append(
            &env,
            name,
            "2025-01-10T10:00:00Z",
            &["signed", "--party", "AAA", "--date", "2025-01-10"],
        );
        assert_refused(&env, &before, &run, &["chmod 600", name]);
        assert!(run.stderr.contains(&format!("{m:04o}")), "{}", run.stderr);
    }
    // init too: no ledger is created.
    std::fs::copy(env.path("root.pem"), env.path("root-open.pem")).expect("copy");
    set_mode(&env.path("root-open.pem"), 0o644);
    let treaty = treaty_path();
    let run = env.run(&[
        "--ledger",
        "new.db",
        "init",
        "--treaty",
        &treaty,
        "--key",
        "root-open.pem",
    ]);
    run.expect_code(1);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    assert!(!env.path("new.db").exists());
    // Once private, the same key works.
    set_mode(&env.path("world.pem"), 0o600);
    append(
        &env,
        "world.pem",
        "2025-01-10T10:00:00Z",
        &["signed", "--party", "AAA", "--date", "2025-01-10"],
    )
    .ok();
}

#[test]
fn keys_that_are_not_keys_are_refused() {
    let env = Env::new();
    init_with_registrar(&env);
    let before = export(&env);
    env.write(
        "junk.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    set_mode(&env.path("junk.pem"), 0o600);
    let sign = ["signed", "--party", "AAA", "--date", "2025-01-10"];
    let run = append(&env, "junk.pem", "2025-01-10T10:00:00Z", &sign);
    assert_refused(&env, &before, &run, &["junk.pem"]);
    let run = append(&env, "missing.pem", "2025-01-10T10:00:00Z", &sign);
    assert_refused(&env, &before, &run, &["missing.pem"]);
    // A public key file where the secret key is expected.
    set_mode(&env.path("registrar.pub.pem"), 0o600);
    let run = append(&env, "registrar.pub.pem", "2025-01-10T10:00:00Z", &sign);
    assert_refused(&env, &before, &run, &["registrar.pub.pem"]);
}

// ---------------------------------------------------------------------------------------
// init

#[test]
fn init_creates_entry_0_and_refuses_to_run_twice() {
    let env = Env::new();
    let treaty = treaty_path();
    let args = [
        "init",
        "--treaty",
        &treaty,
        "--key",
        "root.pem",
        "--recorded-at",
        "2025-01-10T09:00:00Z",
    ];
    let run = env.run(&args);
    run.ok();
    // The same treaty, key and time as the known-answer vectors: the same entry 0.
    let vectors =
        std::fs::read_to_string(common::fixtures().join("vectors/ledger.jsonl")).expect("read");
    let first = vectors.lines().next().expect("entry 0");
    let before = export(&env);
    assert_eq!(before, format!("{first}\n"));
    let entry0: Value = serde_json::from_str(first).expect("JSON");
    assert!(
        run.stdout
            .contains(entry0["signer"].as_str().expect("signer"))
    );

    let again = env.run(&args);
    assert_refused(&env, &before, &again, &["already exists"]);
    // Even with another treaty file and time.
    let again = env.run(&[
        "init",
        "--treaty",
        &treaty,
        "--key",
        "second-root.pem",
        "--recorded-at",
        "2025-02-01T00:00:00Z",
    ]);
    assert_refused(&env, &before, &again, &["already exists"]);
}

#[test]
fn init_refuses_record_times_in_the_future_or_malformed() {
    let env = Env::new();
    let treaty = treaty_path();
    for (at, needle, code) in [
        ("9999-01-01T00:00:00Z", "in the future", 1),
        ("2025-01-10 09:00:00", "YYYY-MM-DDTHH:MM:SSZ", 2),
        ("2025-01-10T09:00:00+01:00", "YYYY-MM-DDTHH:MM:SSZ", 2),
    ] {
        let run = env.run(&[
            "init",
            "--treaty",
            &treaty,
            "--key",
            "root.pem",
            "--recorded-at",
            at,
        ]);
        run.expect_code(code);
        assert!(run.stderr.contains(needle), "{at}: {}", run.stderr);
        assert!(!env.ledger().exists(), "{at}: no ledger is created");
    }
}

/// Runs `init` with the test treaty changed by `change`; expects a refusal naming
/// `needles`, and no ledger.
#[track_caller]
fn init_bad_treaty(env: &Env, name: &str, text: &str, needles: &[&str]) {
    let path = env.write(name, text);
    let run = env.run(&[
        "--ledger",
        "bad.db",
        "init",
        "--treaty",
        path.to_str().expect("path"),
        "--key",
        "root.pem",
        "--recorded-at",
        "2025-01-10T09:00:00Z",
    ]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(name),
        "{name}: names the file: {}",
        run.stderr
    );
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "{name}: expected {n:?} in:\n{}",
            run.stderr
        );
    }
    assert!(
        !env.path("bad.db").exists(),
        "{name}: no ledger is left behind"
    );
}

/// A change to the test treaty's JSON.
type TreatyChange = Box<dyn Fn(&mut Value)>;

fn treaty_value() -> Value {
    let text = std::fs::read_to_string(common::fixtures().join(TREATY)).expect("read");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn init_refuses_a_bad_treaty_file_naming_the_field() {
    let env = Env::new();
    let cases: Vec<(&str, TreatyChange, Vec<&str>)> = vec![
        (
            "missing-title.json",
            Box::new(|t| {
                t.as_object_mut().expect("object").remove("title");
            }),
            vec!["missing field `title`"],
        ),
        (
            "unknown-member.json",
            Box::new(|t| t["colour"] = Value::from("blue")),
            vec!["unknown field `colour`"],
        ),
        (
            "unknown-rule.json",
            Box::new(|t| t["rules"]["signature"]["reopens"] = Value::from("2025-07-01")),
            vec!["unknown field `reopens`"],
        ),
        (
            "missing-rule.json",
            Box::new(|t| {
                t["rules"]["denunciation"]
                    .as_object_mut()
                    .expect("object")
                    .remove("takes_effect");
            }),
            vec!["missing field `takes_effect`"],
        ),
        (
            "bad-id.json",
            Box::new(|t| t["participants"][0]["id"] = Value::from("aa")),
            vec!["participant id \"aa\""],
        ),
        (
            "unknown-member-state.json",
            Box::new(|t| t["participants"][5]["members"][2] = Value::from("ZZZ")),
            vec!["organization UNI lists member ZZZ"],
        ),
        (
            "duplicate-participant.json",
            Box::new(|t| {
                let p = t["participants"][0].clone();
                t["participants"].as_array_mut().expect("array").push(p);
            }),
            vec!["participant AAA is listed twice"],
        ),
        (
            "opens-after-closes.json",
            Box::new(|t| t["rules"]["signature"]["closes"] = Value::from("2025-01-09")),
            vec!["rules.signature.opens is after rules.signature.closes"],
        ),
        (
            "opens-before-adoption.json",
            Box::new(|t| t["rules"]["signature"]["opens"] = Value::from("2025-01-01")),
            vec!["signature.opens is before the adoption date"],
        ),
        (
            "bad-kind.json",
            Box::new(|t| t["participants"][0]["kind"] = Value::from("nation")),
            vec!["unknown variant `nation`"],
        ),
    ];
    for (name, change, needles) in cases {
        let mut t = treaty_value();
        change(&mut t);
        init_bad_treaty(&env, name, &t.to_string(), &needles);
    }
    // A member named twice (not expressible in a serde_json::Value).
    let text = treaty_value().to_string();
    let twice = text.replacen("{\"adopted\"", "{\"id\":\"X-1\",\"adopted\"", 1);
    assert_ne!(twice, text);
    init_bad_treaty(&env, "twice.json", &twice, &["member `id` appears twice"]);
    init_bad_treaty(&env, "not-json.json", "treaty: yes", &[]);
    init_bad_treaty(&env, "empty.json", "", &[]);
}

#[test]
fn init_names_the_field_of_a_null_or_malformed_value() {
    let env = Env::new();
    // docs/RULES.md: "unknown members, a member named twice and `null` are refused, with
    // the field named."
    let mut t = treaty_value();
    t["adopted"] = Value::Null;
    let path = env.write("null-date.json", t.to_string());
    let run = env.run(&[
        "--ledger",
        "bad.db",
        "init",
        "--treaty",
        path.to_str().expect("path"),
        "--key",
        "root.pem",
    ]);
    run.expect_code(1);
    assert!(!env.path("bad.db").exists());
    // The message names the field.
    assert!(run.stderr.contains("invalid type: null"), "{}", run.stderr);
    assert!(run.stderr.contains("adopted"), "{}", run.stderr);

    let mut t = treaty_value();
    t["rules"]["denunciation"]["takes_effect"] = serde_json::json!({"days": 1, "months": 1});
    let path = env.write("two-units.json", t.to_string());
    let run = env.run(&[
        "--ledger",
        "bad.db",
        "init",
        "--treaty",
        path.to_str().expect("path"),
        "--key",
        "root.pem",
    ]);
    run.expect_code(1);
    assert!(!env.path("bad.db").exists());
    // The message names the field and says what a period is.
    assert!(
        run.stderr
            .contains("rules.denunciation.takes_effect: a period is exactly one of"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------
// append: every event type

#[test]
fn append_records_every_event_type_through_its_subcommand() {
    let env = Env::new();
    init_with_registrar(&env);
    let r = |at: &str, args: &[&str]| {
        let run = append(&env, "registrar.pem", at, args);
        run.ok();
        run.stdout
    };
    env.write("reservation.txt", "Aland reserves\nthe right of article 2.");
    let steps: Vec<(&str, Vec<&str>)> = vec![
        (
            "2025-01-10T10:00:00Z",
            vec![
                "signed",
                "--party",
                "AAA",
                "--date",
                "2025-01-10",
                "--place",
                "Testville",
                "--reference",
                "C.N.1",
            ],
        ),
        (
            "2025-01-11T10:00:00Z",
            vec!["signed", "--party", "BBB", "--date", "2025-01-11"],
        ),
        (
            "2025-01-12T10:00:00Z",
            vec!["signed", "--party", "CCC", "--date", "2025-01-12"],
        ),
        (
            "2025-01-13T10:00:00Z",
            vec!["signed", "--party", "UNI", "--date", "2025-01-13"],
        ),
        (
            "2025-02-01T10:00:00Z",
            vec!["ratified", "--party", "AAA", "--date", "2025-02-01"],
        ),
        (
            "2025-02-02T10:00:00Z",
            vec![
                "ratified",
                "--party",
                "BBB",
                "--date",
                "2025-02-02",
                "--instrument",
                "acceptance",
            ],
        ),
        (
            "2025-02-03T10:00:00Z",
            vec![
                "ratified",
                "--party",
                "CCC",
                "--date",
                "2025-02-03",
                "--instrument",
                "approval",
            ],
        ),
        (
            "2025-02-10T10:00:00Z",
            vec![
                "ratified",
                "--party",
                "EEE",
                "--date",
                "2025-02-04",
                "--instrument",
                "accession",
            ],
        ),
        (
            "2025-02-10T10:00:00Z",
            vec![
                "statement",
                "--party",
                "AAA",
                "--date",
                "2025-02-05",
                "--kind",
                "reservation",
                "--text-file",
                "reservation.txt",
            ],
        ),
        (
            "2025-02-11T10:00:00Z",
            vec![
                "statement",
                "--party",
                "BBB",
                "--date",
                "2025-02-11",
                "--kind",
                "declaration",
                "--text",
                "Borduria declares.",
            ],
        ),
        (
            "2025-02-12T10:00:00Z",
            vec![
                "participant_registered",
                "--id",
                "FFF",
                "--name",
                "Freedonia",
            ],
        ),
        (
            "2025-02-12T10:00:00Z",
            vec![
                "participant_registered",
                "--id",
                "ORG",
                "--name",
                "Other Organization",
                "--kind",
                "organization",
                "--members",
                "DDD,FFF",
            ],
        ),
        (
            "2026-04-01T10:00:00Z",
            vec![
                "amendment_proposed",
                "--amendment",
                "A1",
                "--party",
                "AAA",
                "--date",
                "2026-04-01",
                "--title",
                "First amendment",
            ],
        ),
        (
            "2026-04-02T10:00:00Z",
            vec![
                "amendment_adopted",
                "--amendment",
                "A1",
                "--date",
                "2026-04-02",
            ],
        ),
        (
            "2026-04-03T10:00:00Z",
            vec![
                "amendment_accepted",
                "--amendment",
                "A1",
                "--party",
                "BBB",
                "--date",
                "2026-04-03",
            ],
        ),
        (
            "2026-04-04T10:00:00Z",
            vec!["denounced", "--party", "CCC", "--date", "2026-04-04"],
        ),
        (
            "2026-04-05T10:00:00Z",
            vec!["correction", "--voids", "10", "--reason", "sent in error"],
        ),
    ];
    for (i, (at, args)) in steps.iter().enumerate() {
        let out = r(at, args);
        assert!(
            out.starts_with(&format!("appended entry {} ", i + 2)),
            "{out}"
        );
    }
    // Key changes, by a root key: a new root by hex, then the registrar revoked.
    let second = std::fs::read_to_string(env.path("second-root.pub.pem")).expect("read");
    let second_hex = depositary_core::PublicKey::from_spki_pem(&second)
        .expect("a public key")
        .to_hex();
    append(
        &env,
        "root.pem",
        "2026-04-06T10:00:00Z",
        &[
            "key_authorized",
            "--public-key",
            &second_hex,
            "--name",
            "Deputy",
            "--role",
            "root",
        ],
    )
    .ok();
    append(
        &env,
        "second-root.pem",
        "2026-04-06T10:00:00Z",
        &[
            "key_revoked",
            "--public-key",
            "registrar.pub.pem",
            "--reason",
            "term ended",
        ],
    )
    .ok();

    let entries: Vec<Value> = export(&env)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(entries.len(), 21);
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e["event"]["type"].as_str().expect("type"))
        .collect();
    for t in [
        "treaty_registered",
        "key_authorized",
        "key_revoked",
        "signed",
        "ratified",
        "amendment_proposed",
        "amendment_adopted",
        "amendment_accepted",
        "denounced",
        "statement",
        "correction",
        "participant_registered",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    // What the options became.
    assert_eq!(entries[2]["event"]["place"], "Testville");
    assert_eq!(entries[2]["event"]["reference"], "C.N.1");
    assert_eq!(entries[2]["recorded_at"], "2025-01-10T10:00:00Z");
    assert_eq!(
        entries[6]["event"]["instrument"], "ratification",
        "the default"
    );
    assert_eq!(entries[9]["event"]["instrument"], "accession");
    assert_eq!(
        entries[10]["event"]["text"],
        "Aland reserves\nthe right of article 2."
    );
    assert_eq!(
        entries[13]["event"]["participant"]["members"],
        serde_json::json!(["DDD", "FFF"])
    );
    assert_eq!(entries[18]["event"]["voids"], 10);
    assert_eq!(entries[19]["event"]["key"], second_hex.as_str());
    assert_eq!(entries[19]["event"]["role"], "root");

    let v = env.run(&["verify", "--trust", "root.pub.pem", "--format", "json"]);
    v.ok();
    assert_eq!(json(&v)["entries_verified"], 21);
    // What they add up to.
    let status = |as_of: &str| {
        let run = env.run(&["status", "--as-of", as_of, "--format", "json"]);
        run.ok();
        json(&run)
    };
    let s = status("2026-10-03");
    assert_eq!(s["contracting"], 4);
    assert_eq!(s["parties"], 4);
    assert_eq!(s["entry_into_force"]["threshold_reached_on"], "2025-02-03");
    assert_eq!(s["entry_into_force"]["date"], "2025-03-05");
    let a1 = &s["amendments"][0];
    assert_eq!(a1["id"], "A1");
    assert_eq!(a1["title"], "First amendment");
    assert_eq!(a1["proposed_by"], "AAA");
    assert_eq!(a1["proposed_on"], "2026-04-01");
    assert_eq!(a1["adopted_on"], "2026-04-02");
    assert_eq!(a1["acceptances_counted"], 1);
    assert_eq!(a1["required"], 3, "more than 2");
    assert_eq!(a1["in_force"], false);
    let p = |s: &Value, id: &str| {
        s["participants"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["id"] == id).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(p(&s, "AAA")["statements"], 0, "the reservation was voided");
    assert_eq!(p(&s, "BBB")["declarations"], 1);
    assert_eq!(
        p(&s, "BBB")["amendments_accepted"],
        serde_json::json!(["A1"])
    );
    assert_eq!(p(&s, "CCC")["denounced"], "2026-04-04");
    assert_eq!(
        p(&s, "CCC")["denunciation_effective"],
        "2026-10-04",
        "six months"
    );
    assert_eq!(
        p(&s, "EEE")["in_force_from"],
        "2025-03-06",
        "deposit + 30 days"
    );
    assert_eq!(p(&s, "UNI")["signed"], "2025-01-13");
    assert_eq!(p(&s, "FFF"), Value::Null, "no act, not listed");
    let s = status("2026-10-04");
    assert_eq!(s["contracting"], 3, "the denunciation has taken effect");
    assert_eq!(s["parties"], 3);
    // The registrar is revoked: it signs nothing more.
    let before = export(&env);
    let run = append(
        &env,
        "registrar.pem",
        "2026-04-07T10:00:00Z",
        &["signed", "--party", "DDD", "--date", "2025-03-01"],
    );
    assert_refused(&env, &before, &run, &["which entry 20 revoked"]);
}

#[test]
fn append_keeps_record_times_in_order_and_never_in_the_future() {
    let env = Env::new();
    init_with_registrar(&env);
    append(
        &env,
        "registrar.pem",
        "2025-02-01T10:00:00Z",
        &["signed", "--party", "AAA", "--date", "2025-01-10"],
    )
    .ok();
    let before = export(&env);
    let run = append(
        &env,
        "registrar.pem",
        "2025-02-01T09:59:59Z",
        &["signed", "--party", "BBB", "--date", "2025-01-10"],
    );
    assert_refused(
        &env,
        &before,
        &run,
        &["recorded_at 2025-02-01T09:59:59Z is before the previous entry's 2025-02-01T10:00:00Z"],
    );
    let run = append(
        &env,
        "registrar.pem",
        "9999-12-31T23:59:59Z",
        &["signed", "--party", "BBB", "--date", "2025-01-10"],
    );
    assert_refused(&env, &before, &run, &["in the future"]);
    // The same instant as the head is fine; without --recorded-at the clock is used.
    append(
        &env,
        "registrar.pem",
        "2025-02-01T10:00:00Z",
        &["signed", "--party", "BBB", "--date", "2025-01-10"],
    )
    .ok();
    env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "signed",
        "--party",
        "CCC",
        "--date",
        "2025-01-10",
    ])
    .ok();
    let last: Value =
        serde_json::from_str(export(&env).lines().last().expect("a line")).expect("JSON");
    let at = last["recorded_at"].as_str().expect("recorded_at");
    assert!(at > "2025-02-01T10:00:00Z" && at.ends_with('Z'), "{at}");
}

#[test]
fn append_needs_exactly_one_event_source() {
    let env = Env::new();
    init_with_registrar(&env);
    let before = export(&env);
    let run = env.run(&["append", "--key", "registrar.pem"]);
    assert_refused(&env, &before, &run, &["say what to append"]);
    env.write(
        "one.jsonl",
        "{\"type\":\"signed\",\"party\":\"AAA\",\"date\":\"2025-01-10\"}\n",
    );
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--events",
        "one.jsonl",
        "signed",
        "--party",
        "BBB",
        "--date",
        "2025-01-10",
    ]);
    assert_refused(&env, &before, &run, &["not both"]);
    env.write("none.jsonl", "\n\n");
    let run = env.run(&["append", "--key", "registrar.pem", "--events", "none.jsonl"]);
    assert_refused(&env, &before, &run, &["holds no event"]);
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--events",
        "absent.jsonl",
    ]);
    assert_refused(&env, &before, &run, &["absent.jsonl"]);
}

// ---------------------------------------------------------------------------------------
// append --events: all or nothing

#[test]
fn append_events_is_all_or_nothing() {
    let env = Env::new();
    init_with_registrar(&env);
    let before = export(&env);
    let at = "2025-01-12T00:00:00Z";
    let events = |name: &str, lines: &[&str]| {
        env.write(
            name,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        );
    };
    let good1 = r#"{"type":"signed","party":"AAA","date":"2025-01-10"}"#;
    let good2 = r#"{ "date": "2025-01-11", "party": "BBB", "type": "signed" }"#;

    // The third event breaks a rule: the first two are not kept.
    events(
        "rule.jsonl",
        &[
            good1,
            good2,
            r#"{"type":"signed","party":"AAA","date":"2025-01-11"}"#,
        ],
    );
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        at,
        "--events",
        "rule.jsonl",
    ]);
    assert_refused(
        &env,
        &before,
        &run,
        &[
            "nothing was appended",
            "rule.jsonl line 3:",
            "[rule: one signature]",
        ],
    );

    // The third line is not an event: refused before anything, naming the line.
    events(
        "syntax.jsonl",
        &[
            good1,
            good2,
            r#"{"type":"signed","party":"CCC","date":"2025-02-30"}"#,
        ],
    );
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        at,
        "--events",
        "syntax.jsonl",
    ]);
    assert_refused(&env, &before, &run, &["syntax.jsonl line 3", "2025-02-30"]);
    events("json.jsonl", &[good1, good2, "{\"type\":\"signed\","]);
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        at,
        "--events",
        "json.jsonl",
    ]);
    assert_refused(&env, &before, &run, &["json.jsonl line 3"]);
    events(
        "unknown.jsonl",
        &[
            good1,
            good2,
            r#"{"type":"signed","party":"CCC","date":"2025-01-11","colour":"red"}"#,
        ],
    );
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        at,
        "--events",
        "unknown.jsonl",
    ]);
    assert_refused(
        &env,
        &before,
        &run,
        &["unknown.jsonl line 3", "unknown field `colour`"],
    );
    events(
        "twice.jsonl",
        &[
            good1,
            good2,
            r#"{"type":"signed","party":"CCC","party":"DDD","date":"2025-01-11"}"#,
        ],
    );
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        at,
        "--events",
        "twice.jsonl",
    ]);
    assert_refused(
        &env,
        &before,
        &run,
        &["twice.jsonl line 3", "member `party` appears twice"],
    );
    // A key change inside the batch that the batch's signer may not make.
    events(
        "keys.jsonl",
        &[
            good1,
            good2,
            r#"{"type":"key_revoked","key":"c5c9fbebb2596df51ee4653cd8beb57689eacd7809875c9dc9bd8693c6947e66","reason":"coup"}"#,
        ],
    );
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        at,
        "--events",
        "keys.jsonl",
    ]);
    assert_refused(&env, &before, &run, &["may be signed only by a root key"]);

    // All good: all appended, in order, at the same record time.
    events(
        "good.jsonl",
        &[
            good1,
            "",
            good2,
            r#"{"type":"signed","party":"CCC","date":"2025-01-11"}"#,
        ],
    );
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        at,
        "--events",
        "good.jsonl",
    ]);
    run.ok();
    assert!(
        run.stdout
            .starts_with("appended 3 entries, 2 to 4; head 4 "),
        "{}",
        run.stdout
    );
    let after = export(&env);
    assert!(after.starts_with(&before));
    let added: Vec<Value> = after[before.len()..]
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let parties: Vec<&str> = added
        .iter()
        .map(|e| e["event"]["party"].as_str().expect("party"))
        .collect();
    assert_eq!(parties, ["AAA", "BBB", "CCC"]);
    assert!(added.iter().all(|e| e["recorded_at"] == at));
}

#[test]
fn an_events_file_names_the_field_of_a_null_value() {
    let env = Env::new();
    init_with_registrar(&env);
    let before = export(&env);
    env.write(
        "null.jsonl",
        "{\"type\":\"signed\",\"party\":\"AAA\",\"date\":\"2025-01-10\",\"place\":null}\n",
    );
    let run = env.run(&[
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        "2025-01-12T00:00:00Z",
        "--events",
        "null.jsonl",
    ]);
    assert_refused(&env, &before, &run, &["null.jsonl line 1", "null"]);
    // The message names the field.
    assert!(
        run.stderr.contains("place: invalid type: null"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------
// append: every validation rule

/// Entries 0..=14 of a ledger where every rule can be tried:
/// 2-4 AAA, BBB, CCC sign; 5 EEE accedes; 6-7 AAA, BBB ratify (in force 2025-03-04);
/// 8 CCC declaration, 9 voids it; 10-11 AAA proposes A1 and A2; 12 A2 adopted;
/// 13 AAA accepts A2; 14 BBB denounces.
fn rules_ledger(env: &Env) {
    init_with_registrar(env);
    let steps: [(&str, &[&str]); 13] = [
        (
            "2025-01-10T10:00:00Z",
            &["signed", "--party", "AAA", "--date", "2025-01-10"],
        ),
        (
            "2025-01-11T10:00:00Z",
            &["signed", "--party", "BBB", "--date", "2025-01-11"],
        ),
        (
            "2025-01-12T10:00:00Z",
            &["signed", "--party", "CCC", "--date", "2025-01-12"],
        ),
        (
            "2025-01-14T10:00:00Z",
            &[
                "ratified",
                "--party",
                "EEE",
                "--date",
                "2025-01-14",
                "--instrument",
                "accession",
            ],
        ),
        (
            "2025-02-01T10:00:00Z",
            &["ratified", "--party", "AAA", "--date", "2025-02-01"],
        ),
        (
            "2025-02-02T10:00:00Z",
            &[
                "ratified",
                "--party",
                "BBB",
                "--date",
                "2025-02-02",
                "--instrument",
                "acceptance",
            ],
        ),
        (
            "2025-02-03T10:00:00Z",
            &[
                "statement",
                "--party",
                "CCC",
                "--date",
                "2025-02-03",
                "--kind",
                "declaration",
                "--text",
                "Cascadia declares.",
            ],
        ),
        (
            "2025-02-04T10:00:00Z",
            &["correction", "--voids", "8", "--reason", "wrong party"],
        ),
        (
            "2026-04-01T10:00:00Z",
            &[
                "amendment_proposed",
                "--amendment",
                "A1",
                "--party",
                "AAA",
                "--date",
                "2026-04-01",
                "--title",
                "One",
            ],
        ),
        (
            "2026-04-01T10:01:00Z",
            &[
                "amendment_proposed",
                "--amendment",
                "A2",
                "--party",
                "AAA",
                "--date",
                "2026-04-01",
                "--title",
                "Two",
            ],
        ),
        (
            "2026-04-02T10:00:00Z",
            &[
                "amendment_adopted",
                "--amendment",
                "A2",
                "--date",
                "2026-04-02",
            ],
        ),
        (
            "2026-04-03T10:00:00Z",
            &[
                "amendment_accepted",
                "--amendment",
                "A2",
                "--party",
                "AAA",
                "--date",
                "2026-04-03",
            ],
        ),
        (
            "2026-04-04T10:00:00Z",
            &["denounced", "--party", "BBB", "--date", "2026-04-04"],
        ),
    ];
    for (at, args) in steps {
        append(env, "registrar.pem", at, args).ok();
    }
}

#[test]
fn every_validation_rule_is_enforced_with_its_tag() {
    let env = Env::new();
    rules_ledger(&env);
    let before = export(&env);
    assert_eq!(before.lines().count(), 15);
    let at = "2026-04-05T10:00:00Z";
    let cases: &[(&[&str], &[&str])] = &[
        // Dates.
        (
            &["signed", "--party", "DDD", "--date", "2025-01-05"],
            &["[rule: adopted]", "2025-01-06"],
        ),
        (
            &[
                "statement",
                "--party",
                "AAA",
                "--date",
                "2026-04-06",
                "--kind",
                "declaration",
                "--text",
                "Tomorrow.",
            ],
            &["[rule: record time]"],
        ),
        // The registry.
        (
            &["signed", "--party", "ZZZ", "--date", "2025-01-20"],
            &["ZZZ", "[rule: registry]"],
        ),
        (
            &[
                "participant_registered",
                "--id",
                "AAA",
                "--name",
                "Aland again",
            ],
            &["[rule: registry]"],
        ),
        (
            &[
                "participant_registered",
                "--id",
                "ORG",
                "--name",
                "Org",
                "--kind",
                "organization",
                "--members",
                "UNI",
            ],
            &["[rule: registry]"],
        ),
        (
            &[
                "participant_registered",
                "--id",
                "ORG",
                "--name",
                "Org",
                "--kind",
                "organization",
                "--members",
                "ZZZ",
            ],
            &["[rule: registry]"],
        ),
        // Signatures.
        (
            &["signed", "--party", "DDD", "--date", "2025-01-08"],
            &["[rule: rules.signature.opens]"],
        ),
        (
            &["signed", "--party", "DDD", "--date", "2025-07-01"],
            &["[rule: rules.signature.closes]", "accession"],
        ),
        (
            &["signed", "--party", "AAA", "--date", "2025-01-20"],
            &["[rule: one signature]"],
        ),
        (
            &["signed", "--party", "EEE", "--date", "2025-01-20"],
            &["EEE acceded", "[rule: accession]"],
        ),
        // Instruments.
        (
            &["ratified", "--party", "DDD", "--date", "2025-03-01"],
            &["[rule: signature before ratification]"],
        ),
        (
            &[
                "ratified",
                "--party",
                "CCC",
                "--date",
                "2025-01-11",
                "--instrument",
                "approval",
            ],
            &["[rule: signature before ratification]"],
        ),
        (
            &[
                "ratified",
                "--party",
                "CCC",
                "--date",
                "2025-03-01",
                "--instrument",
                "accession",
            ],
            &["CCC signed", "[rule: accession]"],
        ),
        (
            &["ratified", "--party", "AAA", "--date", "2025-03-01"],
            &["[rule: one instrument]"],
        ),
        (
            &[
                "ratified",
                "--party",
                "UNI",
                "--date",
                "2025-01-20",
                "--instrument",
                "accession",
            ],
            &[
                "UNI is an organization",
                "[rule: rules.organizations.member_first]",
            ],
        ),
        // Denunciations.
        (
            &["denounced", "--party", "DDD", "--date", "2026-04-05"],
            &["DDD is not a Party", "[rule: Parties only]"],
        ),
        (
            &["denounced", "--party", "AAA", "--date", "2025-02-15"],
            &["AAA is not a Party on 2025-02-15", "[rule: Parties only]"],
        ),
        (
            &["denounced", "--party", "BBB", "--date", "2026-04-05"],
            &["[rule: one denunciation]"],
        ),
        // Amendments.
        (
            &[
                "amendment_proposed",
                "--amendment",
                "A3",
                "--party",
                "AAA",
                "--date",
                "2026-01-01",
                "--title",
                "Early",
            ],
            &["[rule: rules.amendments.proposal_after]"],
        ),
        (
            &[
                "amendment_proposed",
                "--amendment",
                "A3",
                "--party",
                "CCC",
                "--date",
                "2026-04-05",
                "--title",
                "Not a Party",
            ],
            &["[rule: Parties only]"],
        ),
        (
            &[
                "amendment_proposed",
                "--amendment",
                "A1",
                "--party",
                "EEE",
                "--date",
                "2026-04-05",
                "--title",
                "Again",
            ],
            &["[rule: amendment ids]"],
        ),
        (
            &[
                "amendment_adopted",
                "--amendment",
                "A9",
                "--date",
                "2026-04-05",
            ],
            &["[rule: amendments]"],
        ),
        (
            &[
                "amendment_adopted",
                "--amendment",
                "A2",
                "--date",
                "2026-04-05",
            ],
            &["[rule: amendments]"],
        ),
        (
            &[
                "amendment_adopted",
                "--amendment",
                "A1",
                "--date",
                "2026-03-31",
            ],
            &["[rule: amendments]"],
        ),
        (
            &[
                "amendment_accepted",
                "--amendment",
                "A1",
                "--party",
                "EEE",
                "--date",
                "2026-04-05",
            ],
            &["amendment A1 was not adopted", "[rule: amendments]"],
        ),
        (
            &[
                "amendment_accepted",
                "--amendment",
                "A9",
                "--party",
                "EEE",
                "--date",
                "2026-04-05",
            ],
            &["[rule: amendments]"],
        ),
        (
            &[
                "amendment_accepted",
                "--amendment",
                "A2",
                "--party",
                "EEE",
                "--date",
                "2026-04-01",
            ],
            &["[rule: amendments]"],
        ),
        (
            &[
                "amendment_accepted",
                "--amendment",
                "A2",
                "--party",
                "AAA",
                "--date",
                "2026-04-05",
            ],
            &["[rule: one acceptance]"],
        ),
        (
            &[
                "amendment_accepted",
                "--amendment",
                "A2",
                "--party",
                "DDD",
                "--date",
                "2026-04-05",
            ],
            &["[rule: Parties only]"],
        ),
        // Corrections.
        (
            &["correction", "--voids", "99", "--reason", "x"],
            &["entry 99 does not exist", "[rule: corrections]"],
        ),
        (
            &["correction", "--voids", "15", "--reason", "x"],
            &["[rule: corrections]"],
        ),
        (
            &["correction", "--voids", "8", "--reason", "x"],
            &["entry 8 is already voided", "[rule: corrections]"],
        ),
        (
            &["correction", "--voids", "9", "--reason", "x"],
            &["[rule: corrections]"],
        ),
        (
            &["correction", "--voids", "0", "--reason", "x"],
            &["[rule: corrections]"],
        ),
        (
            &["correction", "--voids", "1", "--reason", "x"],
            &["[rule: corrections]"],
        ),
        (
            &["correction", "--voids", "2", "--reason", "x"],
            &["entry 2 cannot be voided while", "[rule: corrections]"],
        ),
        (
            &["correction", "--voids", "12", "--reason", "x"],
            &["[rule: corrections]"],
        ),
    ];
    for (args, needles) in cases {
        let run = append(&env, "registrar.pem", at, args);
        let mut all = vec!["nothing was appended", "refused:"];
        all.extend_from_slice(needles);
        assert_refused(&env, &before, &run, &all);
    }
    // Key changes are the chain's: a registrar cannot make them; the last root key
    // cannot be revoked.
    let run = append(
        &env,
        "registrar.pem",
        at,
        &[
            "key_authorized",
            "--public-key",
            "second-root.pub.pem",
            "--name",
            "X",
            "--role",
            "root",
        ],
    );
    assert_refused(
        &env,
        &before,
        &run,
        &["key_authorized may be signed only by a root key"],
    );
    let run = append(
        &env,
        "root.pem",
        at,
        &[
            "key_revoked",
            "--public-key",
            "root.pub.pem",
            "--reason",
            "x",
        ],
    );
    assert_refused(&env, &before, &run, &["is the last root key"]);
    let run = append(
        &env,
        "root.pem",
        at,
        &[
            "key_authorized",
            "--public-key",
            "registrar.pub.pem",
            "--name",
            "X",
            "--role",
            "registrar",
        ],
    );
    assert_refused(&env, &before, &run, &["is already authorized (entry 1)"]);
    let run = append(
        &env,
        "second-root.pem",
        at,
        &["signed", "--party", "DDD", "--date", "2025-03-01"],
    );
    assert_refused(&env, &before, &run, &["a key this ledger never authorized"]);

    // And the acts that are allowed go through, after all those refusals.
    append(
        &env,
        "registrar.pem",
        at,
        &["signed", "--party", "DDD", "--date", "2025-03-01"],
    )
    .ok();
    append(
        &env,
        "registrar.pem",
        at,
        &[
            "amendment_accepted",
            "--amendment",
            "A2",
            "--party",
            "EEE",
            "--date",
            "2026-04-05",
        ],
    )
    .ok();
    append(
        &env,
        "registrar.pem",
        at,
        &[
            "amendment_adopted",
            "--amendment",
            "A1",
            "--date",
            "2026-04-05",
        ],
    )
    .ok();
    env.run(&["verify", "--trust", "root.pub.pem"]).ok();
}

#[test]
fn a_voided_act_can_be_recorded_again_and_dependents_block_corrections() {
    let env = Env::new();
    rules_ledger(&env);
    let at = "2026-04-05T10:00:00Z";
    // Entry 13 (AAA accepts A2) stands: A2's adoption (12) cannot be voided; void the
    // acceptance first, then the adoption, then the proposal.
    let before = export(&env);
    let run = append(
        &env,
        "registrar.pem",
        at,
        &["correction", "--voids", "12", "--reason", "x"],
    );
    assert_refused(
        &env,
        &before,
        &run,
        &["cannot be voided while", "[rule: corrections]"],
    );
    for voids in ["13", "12", "11"] {
        append(
            &env,
            "registrar.pem",
            at,
            &["correction", "--voids", voids, "--reason", "undo"],
        )
        .ok();
    }
    // A2 no longer exists: its id can be proposed again.
    append(
        &env,
        "registrar.pem",
        at,
        &[
            "amendment_proposed",
            "--amendment",
            "A2",
            "--party",
            "AAA",
            "--date",
            "2026-04-05",
            "--title",
            "Two, again",
        ],
    )
    .ok();
    // CCC's voided declaration is recorded again.
    append(
        &env,
        "registrar.pem",
        at,
        &[
            "statement",
            "--party",
            "CCC",
            "--date",
            "2025-02-03",
            "--kind",
            "declaration",
            "--text",
            "Cascadia declares, correctly.",
        ],
    )
    .ok();
    let v = env.run(&["verify", "--format", "json"]);
    v.ok();
    assert_eq!(json(&v)["entries_verified"], 20);
}

// ---------------------------------------------------------------------------------------
// export / import

#[test]
fn export_and_import_round_trip_byte_for_byte() {
    let env = Env::new();
    rules_ledger(&env);
    let original = export(&env);
    let run = env.run(&["export", "--out", "out.jsonl"]);
    run.ok();
    assert!(run.stderr.contains("exported 15 entries"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(env.path("out.jsonl")).expect("read"),
        original
    );
    assert!(original.ends_with('\n') && !original.contains('\r'));

    // Into a new ledger.
    let run = env.run(&["--ledger", "copy.db", "import", "out.jsonl"]);
    run.ok();
    assert!(
        run.stdout
            .starts_with("imported 15 entries into copy.db; head 14 "),
        "{}",
        run.stdout
    );
    let copy = env.run(&["--ledger", "copy.db", "export"]);
    copy.ok();
    assert_eq!(copy.stdout, original);
    env.run(&["--ledger", "copy.db", "verify"]).ok();
    // The copy answers the same questions.
    let s1 = env.run(&["status", "--as-of", "2026-04-05", "--format", "json"]);
    let s2 = env.run(&[
        "--ledger",
        "copy.db",
        "status",
        "--as-of",
        "2026-04-05",
        "--format",
        "json",
    ]);
    assert_eq!(s1.stdout, s2.stdout);

    // Into a ledger holding a prefix: the rest is appended.
    let prefix: String = original.lines().take(6).map(|l| format!("{l}\n")).collect();
    env.write("prefix.jsonl", &prefix);
    env.run(&["--ledger", "grow.db", "import", "prefix.jsonl"])
        .ok();
    let run = env.run(&["--ledger", "grow.db", "import", "out.jsonl"]);
    run.ok();
    assert!(
        run.stdout.starts_with("imported 9 entries into grow.db"),
        "{}",
        run.stdout
    );
    let grown = env.run(&["--ledger", "grow.db", "export"]);
    assert_eq!(grown.stdout, original);
    // Importing what it already holds adds nothing.
    let run = env.run(&["--ledger", "grow.db", "import", "out.jsonl"]);
    run.ok();
    assert!(
        run.stdout.starts_with("imported 0 entries"),
        "{}",
        run.stdout
    );
    // A ledger may then go on from the imported head.
    append(
        &env,
        "registrar.pem",
        "2026-04-05T10:00:00Z",
        &["signed", "--party", "DDD", "--date", "2025-03-01"],
    )
    .ok();
    // An export shorter than the ledger it is imported into is refused, and changes
    // nothing.
    let before = export(&env);
    let run = env.run(&["import", "prefix.jsonl"]);
    assert_refused(
        &env,
        &before,
        &run,
        &["the export ends before this ledger's head"],
    );
}

#[test]
fn importing_a_tampered_or_foreign_export_leaves_nothing_behind() {
    let env = Env::new();
    rules_ledger(&env);
    let original = export(&env);
    // One letter changed in entry 6.
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    assert!(lines[6].contains("\"party\":\"AAA\""));
    lines[6] = lines[6].replacen("\"party\":\"AAA\"", "\"party\":\"AAB\"", 1);
    let tampered: String = lines.iter().map(|l| format!("{l}\n")).collect();
    env.write("tampered.jsonl", &tampered);

    let run = env.run(&["--ledger", "new.db", "import", "tampered.jsonl"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("nothing was imported"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("entry 6: signature does not verify"),
        "{}",
        run.stderr
    );
    let leftovers: Vec<String> = std::fs::read_dir(env.dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("new.db") || n.contains(".partial") || n.contains("new.db"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    // Into a ledger holding a prefix: the prefix is left as it was.
    let prefix: String = original.lines().take(6).map(|l| format!("{l}\n")).collect();
    env.write("prefix.jsonl", &prefix);
    env.run(&["--ledger", "p.db", "import", "prefix.jsonl"])
        .ok();
    let run = env.run(&["--ledger", "p.db", "import", "tampered.jsonl"]);
    run.expect_code(1);
    let p = env.run(&["--ledger", "p.db", "export"]);
    assert_eq!(p.stdout, prefix);

    // An export of another ledger (the known-answer vectors share entries 0 and 1 with
    // it: same treaty, keys and record times).
    let vectors = common::fixtures().join("vectors/ledger.jsonl");
    let run = env.run(&["import", vectors.to_str().expect("path")]);
    assert_refused(
        &env,
        &original,
        &run,
        &["entry 2: the export's entry differs from this ledger's"],
    );
    // An export that is not even JSON Lines, and an empty one.
    env.write("garbage.jsonl", "hello\n");
    let run = env.run(&["--ledger", "g.db", "import", "garbage.jsonl"]);
    run.expect_code(1);
    assert!(!env.path("g.db").exists());
    env.write("empty.jsonl", "");
    let run = env.run(&["--ledger", "e.db", "import", "empty.jsonl"]);
    run.expect_code(1);
    assert!(run.stderr.contains("empty"), "{}", run.stderr);
    assert!(!env.path("e.db").exists());
    // An export whose last line lost its line break.
    env.write("cut.jsonl", original.trim_end_matches('\n'));
    let run = env.run(&["--ledger", "c.db", "import", "cut.jsonl"]);
    run.expect_code(1);
    assert!(run.stderr.contains("no line break"), "{}", run.stderr);
    assert!(!env.path("c.db").exists());
}

// ---------------------------------------------------------------------------------------
// log, history, status

/// The ledger of `append_records_every_event_type…`, shorter: 2-4 AAA BBB CCC sign,
/// 5-7 they ratify, 8 AAA reservation, 9 BBB declaration, 10 voids 8, 11 EEE accedes late.
fn story_ledger(env: &Env) {
    init_with_registrar(env);
    let steps: [(&str, &[&str]); 10] = [
        (
            "2025-01-10T10:00:00Z",
            &[
                "signed",
                "--party",
                "AAA",
                "--date",
                "2025-01-10",
                "--place",
                "Testville",
            ],
        ),
        (
            "2025-01-11T10:00:00Z",
            &["signed", "--party", "BBB", "--date", "2025-01-11"],
        ),
        (
            "2025-01-12T10:00:00Z",
            &["signed", "--party", "CCC", "--date", "2025-01-12"],
        ),
        (
            "2025-02-01T10:00:00Z",
            &["ratified", "--party", "AAA", "--date", "2025-02-01"],
        ),
        (
            "2025-02-02T10:00:00Z",
            &[
                "ratified",
                "--party",
                "BBB",
                "--date",
                "2025-02-02",
                "--instrument",
                "acceptance",
            ],
        ),
        (
            "2025-02-05T10:00:00Z",
            &[
                "ratified",
                "--party",
                "CCC",
                "--date",
                "2025-02-03",
                "--instrument",
                "approval",
            ],
        ),
        (
            "2025-02-06T10:00:00Z",
            &[
                "statement",
                "--party",
                "AAA",
                "--date",
                "2025-02-06",
                "--kind",
                "reservation",
                "--text",
                "Aland reserves.",
            ],
        ),
        (
            "2025-02-07T10:00:00Z",
            &[
                "statement",
                "--party",
                "BBB",
                "--date",
                "2025-02-07",
                "--kind",
                "declaration",
                "--text",
                "Borduria declares.",
            ],
        ),
        (
            "2025-03-01T10:00:00Z",
            &[
                "correction",
                "--voids",
                "8",
                "--reason",
                "the reservation was withdrawn before deposit",
            ],
        ),
        (
            "2025-06-01T10:00:00Z",
            &[
                "ratified",
                "--party",
                "EEE",
                "--date",
                "2025-05-20",
                "--instrument",
                "accession",
            ],
        ),
    ];
    for (at, args) in steps {
        append(env, "registrar.pem", at, args).ok();
    }
}

#[test]
fn log_lists_entries_and_marks_voided_ones() {
    let env = Env::new();
    story_ledger(&env);
    let run = env.run(&["log"]);
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 12, "{}", run.stdout);
    for (i, l) in lines.iter().enumerate() {
        let seq: u64 = l
            .split_whitespace()
            .next()
            .expect("seq")
            .parse()
            .expect("a number");
        assert_eq!(seq, i as u64, "{l}");
    }
    assert!(
        lines[0].contains("treaty_registered") && lines[0].contains("TEST-3"),
        "{}",
        lines[0]
    );
    assert!(
        lines[2].contains("2025-01-10T10:00:00Z")
            && lines[2].contains("AAA on 2025-01-10 at Testville"),
        "{}",
        lines[2]
    );
    assert!(
        lines[11].contains("ratified") && lines[11].contains("EEE accession on 2025-05-20"),
        "{}",
        lines[11]
    );
    // Entry 8 is voided by entry 10; the others are not.
    assert!(lines[8].contains("[VOIDED by entry 10]"), "{}", lines[8]);
    assert_eq!(
        run.stdout.to_lowercase().matches("voided by").count(),
        1,
        "{}",
        run.stdout
    );
    assert!(
        lines[10].contains("correction") && lines[10].contains("voids entry 8"),
        "{}",
        lines[10]
    );

    // --from.
    let from = env.run(&["log", "--from", "10"]);
    from.ok();
    let seqs: Vec<&str> = from
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(seqs, ["10", "11"]);
    // --party: its entries and the corrections of them.
    let party = env.run(&["log", "--party", "AAA"]);
    party.ok();
    let seqs: Vec<&str> = party
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(seqs, ["2", "5", "8", "10"], "{}", party.stdout);
    assert!(
        party
            .stdout
            .lines()
            .nth(2)
            .is_some_and(|l| l.contains("[VOIDED by entry 10]"))
    );
    let none = env.run(&["log", "--party", "DDD"]);
    none.ok();
    assert_eq!(none.stdout, "");
}

#[test]
fn log_shows_a_key_holders_name_as_recorded() {
    let env = Env::new();
    init_with_registrar(&env);
    let run = env.run(&["log"]);
    run.ok();
    let line = run.stdout.lines().nth(1).expect("entry 1");
    assert!(line.contains("key_authorized"), "{line}");
    // Regression: the summary was lowercased as a whole.
    assert!(
        line.contains("as registrar for Registrar of the Test Depositary"),
        "{line}"
    );
}

#[test]
fn history_shows_one_participant_with_both_dates_and_voided_entries() {
    let env = Env::new();
    story_ledger(&env);
    let run = env.run(&["history", "--party", "AAA"]);
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].contains("entry")
            && lines[0].contains("recorded (UTC)")
            && lines[0].contains("valid date"),
        "{}",
        lines[0]
    );
    let rows = &lines[1..];
    let seqs: Vec<&str> = rows
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(seqs, ["2", "5", "8", "10"], "{}", run.stdout);
    // Record time and valid time.
    assert!(
        rows[1].contains("2025-02-01T10:00:00Z") && rows[1].contains("2025-02-01"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains("2025-02-06T10:00:00Z  2025-02-06"),
        "{}",
        rows[2]
    );
    assert!(rows[2].contains("[VOIDED by entry 10]"), "{}", rows[2]);
    assert_eq!(run.stdout.matches("VOIDED").count(), 1, "{}", run.stdout);
    // A correction has no valid date.
    assert!(
        rows[3].contains("correction") && rows[3].contains(" - "),
        "{}",
        rows[3]
    );
    // A late deposit: recorded weeks after its date.
    let eee = env.run(&["history", "--party", "EEE"]);
    eee.ok();
    assert!(
        eee.stdout.contains("2025-06-01T10:00:00Z  2025-05-20"),
        "{}",
        eee.stdout
    );
    // Nobody.
    let ddd = env.run(&["history", "--party", "DDD"]);
    ddd.ok();
    assert!(
        ddd.stdout.contains("(no entry is about DDD)"),
        "{}",
        ddd.stdout
    );
    // Not an id.
    let bad = env.run(&["history", "--party", "aa"]);
    bad.expect_code(2);
    assert!(bad.stderr.contains("aa"), "{}", bad.stderr);
}

#[test]
fn status_json_on_both_clocks() {
    let env = Env::new();
    story_ledger(&env);
    let status = |args: &[&str]| {
        let mut all = vec!["status", "--format", "json"];
        all.extend_from_slice(args);
        let run = env.run(&all);
        run.ok();
        json(&run)
    };
    let exported = export(&env);
    let last_line = exported.lines().last().expect("a line");
    let last: Value = serde_json::from_str(last_line).expect("JSON");
    assert_eq!(last["seq"], 11);
    let head_hash = depositary_core::entry::entry_hash(last_line.as_bytes()).to_hex();

    // Before the threshold: two instruments.
    let s = status(&["--as-of", "2025-02-02"]);
    assert_eq!(s["treaty"], "TEST-3");
    assert_eq!(s["as_of"], "2025-02-02");
    assert_eq!(s["known_at"], Value::Null);
    assert_eq!(s["head"]["seq"], 11);
    assert_eq!(s["head"]["hash"], head_hash.as_str());
    assert_eq!(s["signatories"], 3);
    assert_eq!(s["contracting"], 2);
    assert_eq!(s["parties"], 0);
    assert_eq!(s["instruments_counted"], 2);
    assert_eq!(s["entry_into_force"]["required"], 3);
    assert_eq!(s["entry_into_force"]["threshold_reached_on"], Value::Null);
    assert_eq!(s["entry_into_force"]["in_force"], false);

    // In force (threshold 2025-02-03, plus 30 days); EEE later (2025-05-20 + 30 days).
    let s = status(&["--as-of", "2025-07-01"]);
    assert_eq!(s["signatories"], 3);
    assert_eq!(s["contracting"], 4);
    assert_eq!(s["parties"], 4);
    assert_eq!(s["instruments_counted"], 4);
    assert_eq!(s["entry_into_force"]["threshold_reached_on"], "2025-02-03");
    assert_eq!(s["entry_into_force"]["date"], "2025-03-05");
    assert_eq!(s["entry_into_force"]["in_force"], true);
    let names: Vec<&str> = s["participants"]
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Aland", "Borduria", "Cascadia", "Erewhon"]);
    let p = |id: &str| {
        s["participants"]
            .as_array()
            .expect("array")
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .expect("participant")
    };
    assert_eq!(p("AAA")["signed"], "2025-01-10");
    assert_eq!(
        p("AAA")["instrument"],
        serde_json::json!({"kind": "ratification", "deposited": "2025-02-01"})
    );
    assert_eq!(p("AAA")["in_force_from"], "2025-03-05");
    assert_eq!(p("AAA")["statements"], 0, "the reservation is voided");
    assert_eq!(p("BBB")["instrument"]["kind"], "acceptance");
    assert_eq!(p("BBB")["declarations"], 1);
    assert_eq!(p("CCC")["instrument"]["kind"], "approval");
    assert_eq!(p("EEE")["signed"], Value::Null);
    assert_eq!(p("EEE")["instrument"]["kind"], "accession");
    assert_eq!(p("EEE")["in_force_from"], "2025-06-19");

    // As the ledger stood before the correction was recorded: the reservation counts.
    let s = status(&[
        "--as-of",
        "2025-07-01",
        "--known-at",
        "2025-02-28T00:00:00Z",
    ]);
    assert_eq!(s["known_at"], "2025-02-28T00:00:00Z");
    assert_eq!(s["head"]["seq"], 9);
    assert_eq!(s["contracting"], 3, "EEE's accession was not yet recorded");
    let aaa = s["participants"]
        .as_array()
        .expect("array")
        .iter()
        .find(|p| p["id"] == "AAA")
        .cloned()
        .expect("AAA");
    assert_eq!(aaa["statements"], 1);
    assert_eq!(aaa["reservations"], 1);
    // Before anything was recorded: an error.
    let run = env.run(&["status", "--known-at", "2024-01-01T00:00:00Z"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("nothing had been recorded by 2024-01-01T00:00:00Z"),
        "{}",
        run.stderr
    );
}

#[test]
fn status_table_reads_like_the_treaty_collection() {
    let env = Env::new();
    story_ledger(&env);
    let run = env.run(&["status", "--as-of", "2025-07-01"]);
    run.ok();
    let t = &run.stdout;
    assert!(
        t.contains("Test Convention with other numbers (synthetic, for tests) (TEST-3)"),
        "{t}"
    );
    assert!(t.contains("Status as of 1 Jul 2025"), "{t}");
    assert!(
        t.contains("Signatories: 3. Contracting: 4. Parties: 4."),
        "{t}"
    );
    assert!(t.contains("in force since 5 Mar 2025"), "{t}");
    let row = |name: &str| {
        t.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        row("Aland").contains("10 Jan 2025") && row("Aland").contains("1 Feb 2025"),
        "{t}"
    );
    assert!(
        !row("Aland").trim_end().ends_with('R'),
        "voided reservation: {}",
        row("Aland")
    );
    assert!(
        row("Borduria").contains("2 Feb 2025 A ") && row("Borduria").trim_end().ends_with('D'),
        "{}",
        row("Borduria")
    );
    assert!(
        row("Cascadia").contains("3 Feb 2025 AA"),
        "{}",
        row("Cascadia")
    );
    assert!(
        row("Erewhon").contains("20 May 2025 a") && row("Erewhon").contains("19 Jun 2025"),
        "{}",
        row("Erewhon")
    );
    // The default format is the table; the default date is today.
    let today = env.run(&["status"]);
    today.ok();
    assert!(
        today
            .stdout
            .contains("Signatories: 3. Contracting: 4. Parties: 4."),
        "{}",
        today.stdout
    );
}

#[test]
fn status_lists_participants_by_name_ignoring_case_and_diacritics() {
    let env = Env::new();
    init_with_registrar(&env);
    let at = "2025-01-20T10:00:00Z";
    for (id, name) in [("EIR", "Éire"), ("ZAM", "Zambia"), ("ARU", "aruba")] {
        append(
            &env,
            "registrar.pem",
            at,
            &["participant_registered", "--id", id, "--name", name],
        )
        .ok();
    }
    for id in ["EIR", "ZAM", "ARU", "EEE", "AAA", "BBB"] {
        append(
            &env,
            "registrar.pem",
            at,
            &["signed", "--party", id, "--date", "2025-01-20"],
        )
        .ok();
    }
    let run = env.run(&["status", "--as-of", "2025-01-20", "--format", "json"]);
    run.ok();
    let s = json(&run);
    let names: Vec<&str> = s["participants"]
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["Aland", "aruba", "Borduria", "Éire", "Erewhon", "Zambia"]
    );
    assert_eq!(s["signatories"], 6);
}

// ---------------------------------------------------------------------------------------
// The ledger path

/// Runs the binary in `dir` with `DEPOSITARY_LEDGER` unset, or set to `env_ledger`.
fn run_in(dir: &Path, env_ledger: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_depositary"));
    cmd.current_dir(dir)
        .env_remove("DEPOSITARY_LEDGER")
        .env_remove("RUST_BACKTRACE")
        .args(args)
        .stdin(Stdio::null());
    if let Some(l) = env_ledger {
        cmd.env("DEPOSITARY_LEDGER", l);
    }
    let out = cmd.output().expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_ledger_is_ledger_flag_then_environment_then_depositary_db() {
    let env = Env::new();
    let dir = env.dir.path();
    let treaty = treaty_path();
    let init = |ledger_env: Option<&str>, flag: Option<&str>, at: &str| {
        let mut args = vec![];
        if let Some(f) = flag {
            args.extend(["--ledger", f]);
        }
        args.extend([
            "init",
            "--treaty",
            &treaty,
            "--key",
            "root.pem",
            "--recorded-at",
            at,
        ]);
        run_in(dir, ledger_env, &args).ok();
    };
    // Nothing said: ./depositary.db.
    init(None, None, "2025-01-10T09:00:00Z");
    assert!(env.path("depositary.db").is_file());
    // The environment.
    init(Some("from-env.db"), None, "2025-01-10T09:01:00Z");
    assert!(env.path("from-env.db").is_file());
    // The flag beats the environment (and the flag may come after the subcommand).
    init(
        Some("from-env.db"),
        Some("from-flag.db"),
        "2025-01-10T09:02:00Z",
    );
    assert!(env.path("from-flag.db").is_file());
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".db"))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    // Reading: each resolution reads its own ledger (told apart by entry 0's record time).
    let recorded = |run: Run| -> String {
        run.ok();
        let v: Value =
            serde_json::from_str(run.stdout.lines().next().expect("entry 0")).expect("JSON");
        v["recorded_at"].as_str().expect("recorded_at").to_owned()
    };
    assert_eq!(
        recorded(run_in(dir, None, &["export"])),
        "2025-01-10T09:00:00Z"
    );
    assert_eq!(
        recorded(run_in(dir, Some("from-env.db"), &["export"])),
        "2025-01-10T09:01:00Z"
    );
    assert_eq!(
        recorded(run_in(
            dir,
            Some("from-env.db"),
            &["--ledger", "from-flag.db", "export"]
        )),
        "2025-01-10T09:02:00Z"
    );
    assert_eq!(
        recorded(run_in(
            dir,
            Some("from-env.db"),
            &["export", "--ledger", "from-flag.db"]
        )),
        "2025-01-10T09:02:00Z"
    );
    assert_eq!(
        recorded(run_in(dir, None, &["--ledger", "from-flag.db", "export"])),
        "2025-01-10T09:02:00Z"
    );
    // verify without a path says which file it read.
    let v = run_in(dir, Some("from-env.db"), &["verify", "--format", "json"]);
    v.ok();
    assert_eq!(json(&v)["path"], "from-env.db");
    let v = run_in(dir, None, &["verify", "--format", "json"]);
    v.ok();
    assert_eq!(json(&v)["path"], "depositary.db");
    // A ledger named by the environment that does not exist: an error naming it.
    let run = run_in(dir, Some("nowhere.db"), &["log"]);
    run.expect_code(1);
    assert!(run.stderr.contains("nowhere.db"), "{}", run.stderr);
    assert!(
        !env.path("nowhere.db").exists(),
        "reading never creates a ledger"
    );
}

#[test]
fn commands_on_a_missing_ledger_say_how_to_make_one() {
    let env = Env::new();
    for args in [
        vec!["log"],
        vec!["status"],
        vec!["export"],
        vec!["history", "--party", "AAA"],
        vec![
            "append",
            "--key",
            "root.pem",
            "signed",
            "--party",
            "AAA",
            "--date",
            "2025-01-10",
        ],
    ] {
        let run = env.run(&args);
        run.expect_code(1);
        assert!(
            run.stderr.contains("no ledger at"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("depositary init"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!env.ledger().exists(), "{args:?} created the ledger");
    }
    env.run(&["verify"]).expect_code(2);
}

// ---------------------------------------------------------------------------------------
// Files that are not ledgers

#[test]
fn a_file_that_is_not_a_ledger_is_refused_and_left_alone() {
    let env = Env::new();
    // Random bytes (fixed, so the test is repeatable), an empty file, another program's
    // SQLite database.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    env.write("random.db", &random);
    env.write("empty.db", b"");
    let out = Command::new("sqlite3")
        .arg(env.path("other.db"))
        .arg("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .output()
        .expect("the sqlite3 shell runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let vectors = common::fixtures().join("vectors/ledger.jsonl");
    let vectors = vectors.to_str().expect("path");
    for name in ["random.db", "empty.db", "other.db"] {
        let before = std::fs::read(env.path(name)).expect("read");
        for args in [
            vec!["log"],
            vec!["status"],
            vec!["export"],
            vec!["history", "--party", "AAA"],
            vec![
                "append",
                "--key",
                "registrar.pem",
                "signed",
                "--party",
                "AAA",
                "--date",
                "2025-01-10",
            ],
            vec!["import", vectors],
        ] {
            let mut all = vec!["--ledger", name];
            all.extend_from_slice(&args);
            let run = env.run(&all);
            run.expect_code(1);
            assert!(
                run.stderr
                    .contains(&format!("{name} is not a Depositary ledger")),
                "{name} {args:?}: {}",
                run.stderr
            );
        }
        let treaty = treaty_path();
        let run = env.run(&[
            "--ledger", name, "init", "--treaty", &treaty, "--key", "root.pem",
        ]);
        run.expect_code(1);
        assert!(run.stderr.contains("already exists"), "{}", run.stderr);
        assert_eq!(
            std::fs::read(env.path(name)).expect("read"),
            before,
            "{name} was changed"
        );
        let extra: Vec<String> = std::fs::read_dir(env.dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(name) && n != name)
            .collect();
        assert!(extra.is_empty(), "{name}: files left beside it: {extra:?}");
    }
    // verify: random bytes and an empty file are read as (invalid) exports; a foreign
    // SQLite file is unusable input.
    let v = env.run(&["verify", "random.db", "--format", "json"]);
    v.expect_code(1);
    assert_eq!(json(&v)["failure"]["seq"], 0);
    let v = env.run(&["verify", "empty.db", "--format", "json"]);
    v.expect_code(1);
    assert!(
        json(&v)["failure"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("empty")
    );
    let v = env.run(&["verify", "other.db", "--format", "json"]);
    v.expect_code(2);
    assert!(
        json(&v)["unusable"]
            .as_str()
            .unwrap_or_default()
            .contains("not a Depositary ledger")
    );
    // The other program's data is intact.
    let out = Command::new("sqlite3")
        .arg(env.path("other.db"))
        .arg("SELECT body FROM notes;")
        .output()
        .expect("sqlite3");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "mine");
}

#[test]
fn verify_reads_a_ledger_and_its_export_alike() {
    let env = Env::new();
    env.import_vectors();
    let v = env.run(&["verify", "--format", "json", "--trust", "root.pub.pem"]);
    v.ok();
    let ledger = json(&v);
    assert_eq!(ledger["source"], "ledger");
    env.run(&["export", "--out", "x.jsonl"]).ok();
    let v = env.run(&[
        "verify",
        "x.jsonl",
        "--format",
        "json",
        "--trust",
        "root.pub.pem",
    ]);
    v.ok();
    let exported = json(&v);
    assert_eq!(exported["source"], "export");
    for field in ["valid", "entries_verified", "head", "root", "root_pinned"] {
        assert_eq!(ledger[field], exported[field], "{field}");
    }
    assert_eq!(ledger["entries_verified"], 13);
    // The text report says what it checked and what it did not.
    let t = env.run(&["verify"]);
    t.ok();
    assert!(t.stdout.starts_with("VALID ledger"), "{}", t.stdout);
    assert!(t.stdout.contains("was NOT pinned"), "{}", t.stdout);
    assert!(t.stdout.contains("--expect-head"), "{}", t.stdout);
}
