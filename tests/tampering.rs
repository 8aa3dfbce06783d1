//! Tampering: every change a forger could make to an export of the known-answer ledger
//! (`fixtures/vectors/ledger.jsonl`, 13 entries) is caught by `depositary verify`, at the
//! right entry and for the right reason.
//!
//! Each case writes the tampered export into the test's folder, runs
//! `depositary verify FILE --format json` and checks the exit code (1), the failing `seq`
//! (and `line`, when the line is known) and a substring of the reason. Forged entries are
//! made with the test keys through `depositary_core`, exactly as a forger holding those keys
//! would make them: canonical bytes, BLAKE3 links and Ed25519 signatures all correct, so that
//! the only fault left is the one under test.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{Env, Run, json};
use depositary_core::SecretKey;
use depositary_core::entry::{ENTRY_SIG_DOMAIN, entry_hash};
use depositary_core::jcs;
use serde_json::Value;

/// The 13 lines of the known-answer export, without their line breaks.
fn vectors() -> Vec<String> {
    let text = std::fs::read_to_string(common::fixtures().join("vectors/ledger.jsonl"))
        .expect("read the vector ledger");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 13, "the vector ledger has 13 entries");
    lines
}

/// An export's bytes: each line followed by `\n`.
fn export(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).expect("an entry is JSON")
}

fn canon(v: &Value) -> String {
    String::from_utf8(jcs::to_canonical(v).expect("canonical JSON")).expect("UTF-8")
}

/// The entry hash of a line, in hex.
fn hash(line: &str) -> String {
    entry_hash(line.as_bytes()).to_hex()
}

/// The test keys of an `Env`, by name and by public key.
struct Keys {
    by_name: HashMap<String, SecretKey>,
}

impl Keys {
    fn of(env: &Env) -> Keys {
        let mut by_name = HashMap::new();
        for name in ["root", "registrar", "second-root"] {
            by_name.insert(name.to_owned(), read_key(env, &format!("{name}.pem")));
        }
        Keys { by_name }
    }

    fn get(&self, name: &str) -> &SecretKey {
        self.by_name.get(name).expect("a test key")
    }

    /// The secret key whose public half is `signer` (hex).
    fn for_signer(&self, signer: &str) -> &SecretKey {
        self.by_name
            .values()
            .find(|k| k.public().to_hex() == signer)
            .expect("a test key signed this entry")
    }

    fn hex(&self, name: &str) -> String {
        self.get(name).public().to_hex()
    }
}

fn read_key(env: &Env, file: &str) -> SecretKey {
    let pem = std::fs::read_to_string(env.path(file)).expect("read a key file");
    SecretKey::from_pkcs8_pem(&pem).expect("a PKCS#8 Ed25519 key")
}

/// Signs entry `v` with `key`: sets `signer`, computes `sig` over the canonical bytes of
/// the entry without `sig`. Returns the canonical line.
fn sign(mut v: Value, key: &SecretKey) -> String {
    let obj = v.as_object_mut().expect("an entry is an object");
    obj.remove("sig");
    obj.insert("signer".into(), Value::String(key.public().to_hex()));
    let mut message = ENTRY_SIG_DOMAIN.to_vec();
    message.extend_from_slice(&jcs::to_canonical(&v).expect("canonical JSON"));
    let sig = key.sign(&message).to_hex();
    v.as_object_mut()
        .expect("an entry is an object")
        .insert("sig".into(), Value::String(sig));
    canon(&v)
}

/// A new entry at the end of `lines`: `event` recorded at `at`, linked and signed by `key`.
fn forge_next(lines: &[String], event: Value, at: &str, key: &SecretKey) -> String {
    let prev = lines.last().map_or_else(|| "0".repeat(64), |l| hash(l));
    let v = serde_json::json!({
        "event": event,
        "prev": prev,
        "recorded_at": at,
        "seq": lines.len(),
        "v": 1,
    });
    sign(v, key)
}

/// Renumbers, relinks and re-signs (each with its own signer's key) every line from
/// `from` on: what a forger holding every key does after changing the chain.
fn reseal_from(lines: &mut [String], from: usize, keys: &Keys) {
    for i in from..lines.len() {
        let mut v = parse(&lines[i]);
        v["seq"] = Value::from(i as u64);
        v["prev"] = Value::String(if i == 0 {
            "0".repeat(64)
        } else {
            hash(&lines[i - 1])
        });
        let signer = v["signer"].as_str().expect("signer").to_owned();
        lines[i] = sign(v, keys.for_signer(&signer));
    }
}

fn verify(env: &Env, name: &str, bytes: &[u8], extra: &[&str]) -> Run {
    let path = env.write(name, bytes);
    let mut args = vec![
        "verify",
        path.to_str().expect("UTF-8 path"),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

/// What a failing verification is expected to report.
struct Expect<'a> {
    seq: u64,
    /// The one-based line, when the failure is at a line.
    line: Option<u64>,
    reason: &'a str,
    /// The report's `head`: the last entry that verified (`None`: no entry did).
    head: Option<u64>,
}

/// Writes `bytes` as `name`, verifies it (with `extra` arguments) and checks it fails at
/// `expect.seq` with a reason containing `expect.reason`. Returns the report.
#[track_caller]
fn check_bytes(env: &Env, name: &str, bytes: &[u8], extra: &[&str], expect: &Expect) -> Value {
    let run = verify(env, name, bytes, extra);
    run.expect_code(1);
    let report = json(&run);
    let ctx = format!("case {name}: report {report:#}");
    assert_eq!(report["valid"], false, "{ctx}");
    let failure = &report["failure"];
    assert_eq!(failure["seq"], expect.seq, "{ctx}");
    if let Some(line) = expect.line {
        assert_eq!(failure["line"], line, "{ctx}");
    }
    let reason = failure["reason"].as_str().expect("a reason");
    assert!(
        reason.contains(expect.reason),
        "{ctx}\nexpected the reason to contain {:?}",
        expect.reason
    );
    match expect.head {
        Some(h) => assert_eq!(report["head"]["seq"], h, "the last good head ({ctx})"),
        None => assert_eq!(report["head"], Value::Null, "no good head ({ctx})"),
    }
    if expect.line.is_some() {
        assert_eq!(
            report["entries_verified"], expect.seq,
            "every entry before the failing one verified ({ctx})"
        );
    }
    report
}

/// `check_bytes` for an export made of `lines`, failing at entry `seq` on line `seq + 1`.
#[track_caller]
fn check(env: &Env, name: &str, lines: &[String], seq: u64, reason: &str) -> Value {
    check_bytes(
        env,
        name,
        &export(lines),
        &[],
        &Expect {
            seq,
            line: Some(seq + 1),
            reason,
            head: seq.checked_sub(1),
        },
    )
}

#[track_caller]
fn assert_valid(env: &Env, name: &str, lines: &[String], extra: &[&str]) -> Value {
    let run = verify(env, name, &export(lines), extra);
    run.ok();
    let report = json(&run);
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["entries_verified"], lines.len() as u64);
    report
}

const SIG_BAD: &str = "signature does not verify for this entry and its signer";

/// One hex digit changed to the next (`f` wraps to `0`), at character `i` (negative counts
/// from the end).
fn flip_hex(s: &str, i: isize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = if i < 0 { chars.len() as isize + i } else { i } as usize;
    chars[i] = match chars[i] {
        'f' => '0',
        '9' => 'a',
        c => char::from(c as u8 + 1),
    };
    chars.into_iter().collect()
}

#[test]
fn the_vectors_verify_and_the_forger_reproduces_them() {
    let env = Env::new();
    let keys = Keys::of(&env);
    let lines = vectors();
    let report = assert_valid(&env, "vectors.jsonl", &lines, &["--trust", "root.pub.pem"]);
    assert_eq!(report["head"]["seq"], 12);
    assert_eq!(report["head"]["hash"], hash(&lines[12]));
    assert_eq!(report["root"], keys.hex("root"));
    assert_eq!(report["root_pinned"], true);
    // The helpers make exactly the published bytes: canonical form, links, signatures.
    for (i, line) in lines.iter().enumerate() {
        let v = parse(line);
        assert_eq!(&canon(&v), line, "entry {i} is canonical");
        if i > 0 {
            assert_eq!(v["prev"], hash(&lines[i - 1]), "entry {i} links");
        }
        let signer = v["signer"].as_str().expect("signer");
        assert_eq!(
            &sign(v.clone(), keys.for_signer(signer)),
            line,
            "entry {i} re-signs"
        );
    }
    let mut resealed = lines.clone();
    reseal_from(&mut resealed, 0, &keys);
    assert_eq!(
        resealed, lines,
        "resealing an untouched chain changes nothing"
    );
}

/// Changes one field of the envelope of every entry and checks where and why it fails.
#[test]
fn a_change_to_any_envelope_field_of_any_entry_is_caught_at_that_entry() {
    let env = Env::new();
    let lines = vectors();
    for k in 0..lines.len() {
        let seq = k as u64;
        let original = parse(&lines[k]);
        let case = |field: &str, what: &str, value: Value, reason: &str| {
            let mut v = original.clone();
            v[field] = value;
            let mut tampered = lines.clone();
            tampered[k] = canon(&v);
            assert_ne!(tampered[k], lines[k]);
            check(
                &env,
                &format!("{k}-{field}-{what}.jsonl"),
                &tampered,
                seq,
                reason,
            );
        };
        let s = |v: &Value| v.as_str().expect("a string").to_owned();

        // prev: one hex digit.
        let prev = s(&original["prev"]);
        case(
            "prev",
            "digit",
            Value::String(flip_hex(&prev, -1)),
            &format!("entry {k}: prev is {}", flip_hex(&prev, -1)),
        );
        case(
            "prev",
            "nonhex",
            Value::String(format!("g{}", &prev[1..])),
            "not a valid entry: prev: entry hash",
        );

        // sig: a digit of S, a digit of R.
        let sig = s(&original["sig"]);
        case("sig", "s", Value::String(flip_hex(&sig, 70)), SIG_BAD);
        case("sig", "r", Value::String(flip_hex(&sig, 0)), SIG_BAD);
        case(
            "sig",
            "short",
            Value::String(sig[..126].to_owned()),
            "not a valid entry",
        );

        // signer: one hex digit. Entry 0 has no authority to check (unless --trust pins
        // the root), so only its signature fails.
        let signer = s(&original["signer"]);
        let other = flip_hex(&signer, -1);
        if k == 0 {
            case("signer", "digit", Value::String(other.clone()), SIG_BAD);
        } else {
            case(
                "signer",
                "digit",
                Value::String(other.clone()),
                &format!("entry {k}: signed by {other}, a key this ledger never authorized"),
            );
        }

        // seq: the next number, and the previous one.
        case(
            "seq",
            "next",
            Value::from(seq + 1),
            &format!("entry {k}: seq is {}, expected {k}", seq + 1),
        );
        if k > 0 {
            case(
                "seq",
                "previous",
                Value::from(seq - 1),
                &format!("entry {k}: seq is {}, expected {k}", seq - 1),
            );
        }
        case(
            "seq",
            "string",
            Value::String(k.to_string()),
            "not a valid entry",
        );

        // v: another version.
        case(
            "v",
            "2",
            Value::from(2),
            "not a valid entry: v: format version 2 is not supported",
        );
        case(
            "v",
            "0",
            Value::from(0),
            "not a valid entry: v: format version 0",
        );

        // recorded_at: a second later (still in order: only the signature fails), a year
        // earlier (before the previous entry's, except for entry 0), a month that does not
        // exist.
        let at = s(&original["recorded_at"]);
        let later = format!("{}1Z", &at[..at.len() - 2]);
        assert_ne!(later, at);
        case("recorded_at", "later", Value::String(later), SIG_BAD);
        let earlier = at.replacen("2025-", "2024-", 1);
        if k == 0 {
            case("recorded_at", "earlier", Value::String(earlier), SIG_BAD);
        } else {
            case(
                "recorded_at",
                "earlier",
                Value::String(earlier.clone()),
                &format!(
                    "entry {k}: recorded_at {earlier} is before the previous entry's {}",
                    s(&parse(&lines[k - 1])["recorded_at"])
                ),
            );
        }
        let bad_month = format!("{}13{}", &at[..5], &at[7..]);
        case(
            "recorded_at",
            "month13",
            Value::String(bad_month.clone()),
            &format!("not a valid entry: recorded_at: instant \"{bad_month}\" is not a UTC time"),
        );
        case(
            "recorded_at",
            "zone",
            Value::String(at.replace('Z', "+00:00")),
            "is not a UTC time written YYYY-MM-DDTHH:MM:SSZ",
        );

        // event: removed altogether.
        let mut v = original.clone();
        v.as_object_mut().expect("object").remove("event");
        let mut tampered = lines.clone();
        tampered[k] = canon(&v);
        check(
            &env,
            &format!("{k}-no-event.jsonl"),
            &tampered,
            seq,
            "not a valid entry: missing field `event`",
        );
    }
}

/// Every leaf of an event (string, number, boolean), with its JSON pointer.
fn leaves(v: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(x, format!("{path}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{path}/{i}"), out);
            }
        }
        other => out.push((path, other.clone())),
    }
}

/// A plausible one-character change of a leaf: the next hex digit of a hash or key, the
/// next year of a date, the next letter of a name, another value of an enumeration, one
/// more for a number, the other boolean.
fn mutate(pointer: &str, value: &Value) -> Value {
    match value {
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => Value::from(n.as_u64().expect("a count") + 1),
        Value::String(s) => {
            let member = pointer.rsplit('/').next().unwrap_or_default();
            let swapped = match (member, s.as_str()) {
                ("instrument", "ratification") => Some("acceptance"),
                ("instrument", "acceptance") => Some("approval"),
                ("role", "registrar") => Some("root"),
                ("role", "root") => Some("registrar"),
                ("organizations", "not_additional") => Some("additional"),
                ("kind", "declaration") => Some("reservation"),
                _ => None,
            };
            if let Some(x) = swapped {
                return Value::String(x.to_owned());
            }
            let is_hex = s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
            if is_hex {
                return Value::String(flip_hex(s, -1));
            }
            let b = s.as_bytes();
            let is_date = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
            let mut chars: Vec<char> = s.chars().collect();
            let i = if is_date {
                3
            } else {
                chars
                    .iter()
                    .position(char::is_ascii_alphabetic)
                    .or_else(|| chars.iter().position(char::is_ascii_digit))
                    .expect("a letter or digit to change")
            };
            chars[i] = match chars[i] {
                'z' => 'a',
                'Z' => 'A',
                '9' => '0',
                c => char::from(c as u8 + 1),
            };
            Value::String(chars.into_iter().collect())
        }
        other => unreachable!("no leaf of this kind in the vectors: {other}"),
    }
}

/// Why a changed event leaf fails: the signature, unless the change makes the entry
/// malformed (caught when parsing, before the signature).
fn event_reason(pointer: &str) -> &'static str {
    if pointer == "/event/type" {
        return "not a valid entry: event: unknown variant";
    }
    if pointer.starts_with("/event/treaty/participants/") && pointer.ends_with("/kind") {
        return "not a valid entry: event: treaty.participants[";
    }
    match pointer {
        // Ids of member States: the organization now lists a State the registry lacks.
        "/event/treaty/participants/0/id"
        | "/event/treaty/participants/1/id"
        | "/event/treaty/participants/2/id"
        | "/event/treaty/participants/5/members/0"
        | "/event/treaty/participants/5/members/1"
        | "/event/treaty/participants/5/members/2" => {
            "treaty_registered: organization UNI lists member"
        }
        "/event/treaty/adopted" => {
            "treaty_registered: rules.signature.opens is before the adoption date"
        }
        "/event/treaty/rules/signature/opens" => {
            "treaty_registered: rules.signature.opens is after rules.signature.closes"
        }
        _ => SIG_BAD,
    }
}

#[test]
fn a_change_to_any_part_of_any_event_is_caught_at_that_entry() {
    let env = Env::new();
    let lines = vectors();
    let mut cases = 0;
    for (k, line) in lines.iter().enumerate() {
        let original = parse(line);
        let mut found = Vec::new();
        leaves(&original["event"], "/event".to_owned(), &mut found);
        assert!(found.len() >= 2, "entry {k} has an event with content");
        for (pointer, value) in found {
            let mut v = original.clone();
            let changed = mutate(&pointer, &value);
            assert_ne!(changed, value);
            *v.pointer_mut(&pointer).expect("the leaf") = changed;
            let mut tampered = lines.clone();
            tampered[k] = canon(&v);
            let name = format!("{k}{}.jsonl", pointer.replace('/', "-"));
            check(&env, &name, &tampered, k as u64, event_reason(&pointer));
            cases += 1;
        }
    }
    assert!(cases > 80, "{cases} event changes tried");
}

#[test]
fn a_deleted_entry_is_caught_where_it_is_missing() {
    let env = Env::new();
    let lines = vectors();
    for k in 0..12 {
        let mut t = lines.clone();
        t.remove(k);
        check(
            &env,
            &format!("delete-{k}.jsonl"),
            &t,
            k as u64,
            &format!(
                "entry {k}: seq is {}, expected {k} (an entry is missing",
                k + 1
            ),
        );
    }
}

#[test]
fn a_duplicated_entry_is_caught_where_it_repeats() {
    let env = Env::new();
    let lines = vectors();
    for k in 0..13 {
        let mut t = lines.clone();
        t.insert(k + 1, lines[k].clone());
        check(
            &env,
            &format!("duplicate-{k}.jsonl"),
            &t,
            k as u64 + 1,
            &format!("entry {}: seq is {k}, expected {}", k + 1, k + 1),
        );
    }
}

#[test]
fn swapped_adjacent_entries_are_caught_at_the_first() {
    let env = Env::new();
    let lines = vectors();
    for k in 0..12 {
        let mut t = lines.clone();
        t.swap(k, k + 1);
        check(
            &env,
            &format!("swap-{k}.jsonl"),
            &t,
            k as u64,
            &format!("entry {k}: seq is {}, expected {k}", k + 1),
        );
    }
    // Swapped and renumbered (seq fixed, links not): the link breaks.
    let mut t = lines.clone();
    t.swap(5, 6);
    for (i, l) in t.iter_mut().enumerate().skip(5).take(2) {
        let mut v = parse(l);
        v["seq"] = Value::from(i as u64);
        *l = canon(&v);
    }
    check(&env, "swap-renumbered.jsonl", &t, 5, "entry 5: prev is");
}

#[test]
fn an_inserted_forged_entry_is_caught() {
    let env = Env::new();
    let keys = Keys::of(&env);
    let lines = vectors();
    let event = serde_json::json!({"type": "signed", "party": "EEE", "date": "2025-01-13"});

    // Correctly signed by the registrar, linked to entry 4: it is accepted, and the entry
    // that followed no longer fits.
    let forged = forge_next(
        &lines[..5],
        event.clone(),
        "2025-01-13T08:30:00Z",
        keys.get("registrar"),
    );
    let mut t = lines.clone();
    t.insert(5, forged.clone());
    check(
        &env,
        "insert-linked.jsonl",
        &t,
        6,
        "entry 6: seq is 5, expected 6",
    );
    assert_valid(&env, "insert-prefix.jsonl", &t[..6], &[]);

    // Given the next free seq but the wrong link: the link fails.
    let mut v = parse(&forged);
    v["prev"] = Value::String(hash(&lines[2]));
    let mut t = lines.clone();
    t.insert(5, sign(v, keys.get("registrar")));
    check(&env, "insert-unlinked.jsonl", &t, 5, "entry 5: prev is");

    // A forger holding every key renumbers, relinks and re-signs the rest: the chain is
    // valid in itself, and only the pinned head (published by the depositary) betrays it.
    let mut t = lines.clone();
    t.insert(5, forged);
    // The correction (now entry 9) must follow what it voided (now entry 8), or the chain
    // breaks a rule: entry 9 re-signed with the same voids would void the wrong entry.
    let mut c = parse(&t[9]);
    assert_eq!(c["event"]["voids"], 7);
    c["event"]["voids"] = Value::from(8);
    t[9] = canon(&c);
    reseal_from(&mut t, 6, &keys);
    assert_valid(&env, "insert-resealed.jsonl", &t, &[]);
    let real_head = format!("12:{}", hash(&lines[12]));
    let report = check_bytes(
        &env,
        "insert-resealed-pinned.jsonl",
        &export(&t),
        &["--expect-head", &real_head],
        &Expect {
            seq: 13,
            line: None,
            reason: &format!(
                "the chain ends at 13:{}, not at the expected head {real_head}",
                hash(&t[13])
            ),
            head: Some(13),
        },
    );
    assert_eq!(report["expected_head"], real_head);
}

#[test]
fn an_entry_spliced_from_another_ledger_is_caught_by_its_link() {
    let env = Env::new();
    let treaty = common::fixtures().join("treaties/test-3-instruments-30-days.json");
    // The same treaty, keys and events as the vectors' first three entries, recorded an
    // hour earlier.
    env.run(&[
        "--ledger",
        "other.db",
        "init",
        "--treaty",
        treaty.to_str().expect("path"),
        "--key",
        "root.pem",
        "--recorded-at",
        "2025-01-10T08:00:00Z",
    ])
    .ok();
    env.run(&[
        "--ledger",
        "other.db",
        "append",
        "--key",
        "root.pem",
        "--recorded-at",
        "2025-01-10T09:05:00Z",
        "key_authorized",
        "--public-key",
        "registrar.pub.pem",
        "--name",
        "Registrar of the Test Depositary",
        "--role",
        "registrar",
    ])
    .ok();
    env.run(&[
        "--ledger",
        "other.db",
        "append",
        "--key",
        "registrar.pem",
        "--recorded-at",
        "2025-01-10T17:00:00Z",
        "signed",
        "--party",
        "AAA",
        "--date",
        "2025-01-10",
        "--place",
        "Testville",
        "--reference",
        "C.N.1.2025.TREATIES-TEST.3",
    ])
    .ok();
    let other = env.run(&["--ledger", "other.db", "export"]);
    other.ok();
    let other: Vec<String> = other.stdout.lines().map(str::to_owned).collect();
    assert_eq!(other.len(), 3);

    let lines = vectors();
    // The spliced entry says the same, is signed by the same key and its signature is
    // good; only its link (and so its signature bytes) differ.
    let (mine, theirs) = (parse(&lines[2]), parse(&other[2]));
    assert_eq!(mine["event"], theirs["event"]);
    assert_eq!(mine["signer"], theirs["signer"]);
    assert_eq!(mine["recorded_at"], theirs["recorded_at"]);
    assert_ne!(mine["prev"], theirs["prev"]);

    let mut t = lines.clone();
    t[2] = other[2].clone();
    check(
        &env,
        "splice.jsonl",
        &t,
        2,
        &format!(
            "entry 2: prev is {}, but the entry before hashes to {}",
            theirs["prev"].as_str().expect("prev"),
            hash(&lines[1])
        ),
    );
    // The other way round too: the vectors' entry in the other ledger.
    let mut t = other.clone();
    t[2] = lines[2].clone();
    check(&env, "splice-back.jsonl", &t, 2, "entry 2: prev is");
}

#[test]
fn an_entry_signed_by_a_key_the_ledger_never_authorized_is_caught() {
    let env = Env::new();
    let keys = Keys::of(&env);
    env.run(&["keygen", "--out", "intruder.pem"]).ok();
    let intruder = read_key(&env, "intruder.pem");
    let lines = vectors();
    for k in 1..13 {
        let mut t = lines.clone();
        t[k] = sign(parse(&lines[k]), &intruder);
        check(
            &env,
            &format!("intruder-{k}.jsonl"),
            &t,
            k as u64,
            &format!(
                "entry {k}: signed by {}, a key this ledger never authorized",
                intruder.public().to_hex()
            ),
        );
    }
    // Re-signing entry 0 makes the intruder the root of a chain whose next link breaks;
    // pinning the real root catches it at entry 0.
    let mut t = lines.clone();
    t[0] = sign(parse(&lines[0]), &intruder);
    check(&env, "intruder-0.jsonl", &t, 1, "entry 1: prev is");
    check_bytes(
        &env,
        "intruder-0-pinned.jsonl",
        &export(&t),
        &["--trust", "root.pub.pem"],
        &Expect {
            seq: 0,
            line: Some(1),
            reason: &format!(
                "entry 0 is signed by {}, not by the trusted root key {}",
                intruder.public().to_hex(),
                keys.hex("root")
            ),
            head: None,
        },
    );
    // The intruder re-seals the whole chain with itself as every signer: a chain valid in
    // itself, whose root is the intruder; only pinning the real root catches it.
    let mut t = lines.clone();
    for i in 0..t.len() {
        let mut v = parse(&t[i]);
        if i > 0 {
            v["prev"] = Value::String(hash(&t[i - 1]));
        }
        t[i] = sign(v, &intruder);
    }
    let report = assert_valid(&env, "intruder-chain.jsonl", &t, &[]);
    assert_eq!(report["root"], intruder.public().to_hex());
    assert_eq!(report["root_pinned"], false);
    check_bytes(
        &env,
        "intruder-chain-pinned.jsonl",
        &export(&t),
        &["--trust", &keys.hex("root")],
        &Expect {
            seq: 0,
            line: Some(1),
            reason: "not by the trusted root key",
            head: None,
        },
    );
}

/// The vectors followed by an entry 13 made by `key`.
fn with_entry_13(lines: &[String], event: Value, at: &str, key: &SecretKey) -> Vec<String> {
    let mut t = lines.to_vec();
    t.push(forge_next(lines, event, at, key));
    t
}

#[test]
fn an_entry_signed_by_the_revoked_registrar_is_caught() {
    let env = Env::new();
    let keys = Keys::of(&env);
    let lines = vectors();
    let event = serde_json::json!({"type": "signed", "party": "EEE", "date": "2025-04-02"});
    let at = "2025-04-03T09:00:00Z";
    // Signed by a root key still in office, the same entry is valid...
    let t = with_entry_13(&lines, event.clone(), at, keys.get("second-root"));
    assert_valid(&env, "after-revocation-by-root.jsonl", &t, &[]);
    // ...signed by the registrar, revoked by entry 11, it is not.
    let t = with_entry_13(&lines, event, at, keys.get("registrar"));
    check(
        &env,
        "after-revocation-by-registrar.jsonl",
        &t,
        13,
        &format!(
            "entry 13: signed by {}, which entry 11 revoked",
            keys.hex("registrar")
        ),
    );
    // Back-dating its record time does not help: the chain's record times never go back.
    let mut v = parse(&t[13]);
    v["recorded_at"] = Value::String("2025-04-01T08:05:00Z".into());
    let t2 = [&lines[..], &[sign(v, keys.get("registrar"))]].concat();
    check(
        &env,
        "after-revocation-backdated.jsonl",
        &t2,
        13,
        "is before the previous entry's",
    );
}

#[test]
fn key_changes_signed_by_a_registrar_are_caught() {
    let env = Env::new();
    let keys = Keys::of(&env);
    env.run(&["keygen", "--out", "new.pem"]).ok();
    let new = read_key(&env, "new.pem").public().to_hex();
    let lines = vectors();
    let prefix = &lines[..5];
    let at = "2025-01-13T09:00:00Z";
    let cases = [
        (
            "authorize-registrar",
            serde_json::json!({"type": "key_authorized", "key": new, "name": "Accomplice", "role": "registrar"}),
            "key_authorized may be signed only by a root key",
        ),
        (
            "authorize-root",
            serde_json::json!({"type": "key_authorized", "key": new, "name": "Usurper", "role": "root"}),
            "key_authorized may be signed only by a root key",
        ),
        (
            "revoke-root",
            serde_json::json!({"type": "key_revoked", "key": keys.hex("root"), "reason": "coup"}),
            "key_revoked may be signed only by a root key",
        ),
    ];
    for (name, event, reason) in cases {
        let mut t = prefix.to_vec();
        t.push(forge_next(prefix, event.clone(), at, keys.get("registrar")));
        let report = check(&env, &format!("{name}.jsonl"), &t, 5, reason);
        let text = report["failure"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            text.contains(&format!("{} is a registrar key", keys.hex("registrar"))),
            "{text}"
        );
        // Signed by the root key, the same change is accepted.
        let mut t = prefix.to_vec();
        t.push(forge_next(prefix, event, at, keys.get("root")));
        if name != "revoke-root" {
            assert_valid(&env, &format!("{name}-by-root.jsonl"), &t, &[]);
        } else {
            check(
                &env,
                "revoke-last-root.jsonl",
                &t,
                5,
                "is the last root key",
            );
        }
    }
}

#[test]
fn invalid_key_changes_signed_by_a_root_are_caught() {
    let env = Env::new();
    let keys = Keys::of(&env);
    env.run(&["keygen", "--out", "new.pem"]).ok();
    let new = read_key(&env, "new.pem").public().to_hex();
    let lines = vectors();
    let registrar = keys.hex("registrar");
    let at = "2025-04-03T09:00:00Z";
    // Authorizing a key already authorized.
    let mut t = lines[..2].to_vec();
    t.push(forge_next(
        &t,
        serde_json::json!({"type": "key_authorized", "key": registrar, "name": "Again", "role": "registrar"}),
        "2025-01-10T09:06:00Z",
        keys.get("root"),
    ));
    check(
        &env,
        "authorize-twice.jsonl",
        &t,
        2,
        &format!("key {registrar} is already authorized (entry 1)"),
    );
    // Authorizing again a key that was revoked.
    let t = with_entry_13(
        &lines,
        serde_json::json!({"type": "key_authorized", "key": registrar, "name": "Back", "role": "registrar"}),
        at,
        keys.get("second-root"),
    );
    check(
        &env,
        "reauthorize-revoked.jsonl",
        &t,
        13,
        &format!("key {registrar} was revoked by entry 11 and cannot be authorized again"),
    );
    // Revoking a key twice, and one never authorized.
    let t = with_entry_13(
        &lines,
        serde_json::json!({"type": "key_revoked", "key": registrar, "reason": "again"}),
        at,
        keys.get("root"),
    );
    check(
        &env,
        "revoke-twice.jsonl",
        &t,
        13,
        &format!("key {registrar} was already revoked by entry 11"),
    );
    let t = with_entry_13(
        &lines,
        serde_json::json!({"type": "key_revoked", "key": new, "reason": "who?"}),
        at,
        keys.get("root"),
    );
    check(
        &env,
        "revoke-unknown.jsonl",
        &t,
        13,
        &format!("key {new} was never authorized, so it cannot be revoked"),
    );
    // Revoking the first root while the second is in office is fine; then the second is
    // the last one.
    let mut t = with_entry_13(
        &lines,
        serde_json::json!({"type": "key_revoked", "key": keys.hex("root"), "reason": "retired"}),
        at,
        keys.get("second-root"),
    );
    assert_valid(&env, "revoke-first-root.jsonl", &t, &[]);
    t.push(forge_next(
        &t,
        serde_json::json!({"type": "key_revoked", "key": keys.hex("second-root"), "reason": "all gone"}),
        at,
        keys.get("second-root"),
    ));
    check(
        &env,
        "revoke-last-root.jsonl",
        &t,
        14,
        "is the last root key",
    );
}

#[test]
fn a_signature_made_for_another_seq_is_caught() {
    let env = Env::new();
    let lines = vectors();
    for k in 1..13 {
        // Entry k, unchanged but for its seq and link, placed after itself as entry k + 1:
        // the link is right, so only the signature (over seq k and the old prev) is wrong.
        let mut v = parse(&lines[k]);
        v["seq"] = Value::from(k as u64 + 1);
        v["prev"] = Value::String(hash(&lines[k]));
        let mut t = lines[..=k].to_vec();
        t.push(canon(&v));
        check(
            &env,
            &format!("moved-{k}.jsonl"),
            &t,
            k as u64 + 1,
            &format!("entry {}: {SIG_BAD}", k + 1),
        );
    }
    // And an entry's signature moved onto another entry.
    let mut v = parse(&lines[3]);
    v["sig"] = parse(&lines[2])["sig"].clone();
    let mut t = lines.clone();
    t[3] = canon(&v);
    check(&env, "borrowed-sig.jsonl", &t, 3, SIG_BAD);
}

#[test]
fn a_treaty_registration_out_of_place_is_caught() {
    let env = Env::new();
    let keys = Keys::of(&env);
    let lines = vectors();
    let t = with_entry_13(
        &lines,
        parse(&lines[0])["event"].clone(),
        "2025-04-03T09:00:00Z",
        keys.get("root"),
    );
    check(
        &env,
        "second-genesis.jsonl",
        &t,
        13,
        "entry 13: treaty_registered must be entry 0 and only entry 0",
    );
    let first = forge_next(
        &[],
        parse(&lines[1])["event"].clone(),
        "2025-01-10T09:00:00Z",
        keys.get("root"),
    );
    check(
        &env,
        "no-genesis.jsonl",
        &[first],
        0,
        "entry 0: treaty_registered must be entry 0 and only entry 0",
    );
}

#[test]
fn a_correctly_signed_entry_that_breaks_a_treaty_rule_is_caught() {
    let env = Env::new();
    let keys = Keys::of(&env);
    let lines = vectors();
    let root = keys.get("second-root");
    let cases = [
        (
            "closed",
            serde_json::json!({"type": "signed", "party": "EEE", "date": "2025-07-01"}),
            "2025-07-02T09:00:00Z",
            "[rule: rules.signature.closes]",
        ),
        (
            "second-instrument",
            serde_json::json!({"type": "ratified", "party": "BBB", "date": "2025-04-02", "instrument": "ratification"}),
            "2025-04-03T09:00:00Z",
            "[rule: one instrument]",
        ),
        (
            "revoid",
            serde_json::json!({"type": "correction", "voids": 7, "reason": "again"}),
            "2025-04-03T09:00:00Z",
            "entry 7 is already voided [rule: corrections]",
        ),
        (
            "future-act",
            serde_json::json!({"type": "signed", "party": "EEE", "date": "2025-04-04"}),
            "2025-04-03T09:00:00Z",
            "[rule: record time]",
        ),
        (
            "stranger",
            serde_json::json!({"type": "signed", "party": "ZZZ", "date": "2025-04-03"}),
            "2025-04-03T09:00:00Z",
            "[rule: registry]",
        ),
    ];
    for (name, event, at, reason) in cases {
        let t = with_entry_13(&lines, event, at, root);
        check_bytes(
            &env,
            &format!("rule-{name}.jsonl"),
            &export(&t),
            &[],
            &Expect {
                seq: 13,
                line: Some(14),
                reason,
                // Regression: the report named the rejected entry as the last good head.
                head: Some(12),
            },
        );
    }
}

/// Whether two JSON values are equal, numbers compared by value (`1.0` is `1`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| same_value(p, q)))
        }
        _ => a == b,
    }
}

#[test]
fn a_non_canonical_encoding_of_a_valid_entry_is_caught_at_its_line() {
    let env = Env::new();
    let lines = vectors();
    for (k, line) in lines.iter().enumerate() {
        let mut recoded: Vec<(&str, String, &str)> = vec![
            (
                "space-after-colon",
                line.replacen(':', ": ", 1),
                "whitespace outside a string",
            ),
            (
                "space-after-comma",
                line.replacen("\",\"", "\", \"", 1),
                "not canonical JSON",
            ),
            (
                "leading-space",
                format!(" {line}"),
                "at byte 0: whitespace outside a string",
            ),
            (
                "trailing-space",
                format!("{line} "),
                "trailing bytes after the value",
            ),
            (
                "escaped-digit",
                line.replacen("\"recorded_at\":\"2", "\"recorded_at\":\"\\u0032", 1),
                "\\u escape of a character that must appear as itself",
            ),
            (
                "float-seq",
                line.replacen(&format!("\"seq\":{k}"), &format!("\"seq\":{k}.0"), 1),
                "fraction or exponent",
            ),
            (
                "exp-v",
                line.replacen("\"v\":1", "\"v\":1e0", 1),
                "fraction or exponent",
            ),
        ];
        if k < 10 {
            recoded.push((
                "zero-seq",
                line.replacen(&format!("\"seq\":{k}"), &format!("\"seq\":0{k}"), 1),
                "leading zero",
            ));
        }
        // Reordered members: "v" first.
        let v = parse(line);
        let obj = v.as_object().expect("object");
        let mut reordered = String::from("{\"v\":1");
        for (name, value) in obj.iter().filter(|(n, _)| n.as_str() != "v") {
            reordered.push_str(&format!(
                ",{}:{}",
                canon(&Value::String(name.clone())),
                canon(value)
            ));
        }
        reordered.push('}');
        recoded.push(("reordered", reordered, "member names out of order"));
        recoded.push((
            "pretty",
            serde_json::to_string_pretty(&v)
                .expect("json")
                .replace('\n', ""),
            "at byte 1: expected a member name",
        ));
        for (what, text, reason) in recoded {
            assert_ne!(&text, line, "{what}");
            // A leading zero is not even JSON (RFC 8259); the others are the same value.
            if what != "zero-seq" {
                assert!(
                    same_value(&parse(&text), &v),
                    "{what} is the same JSON value"
                );
            }
            let mut t = lines.clone();
            t[k] = text;
            let report = check(&env, &format!("{k}-{what}.jsonl"), &t, k as u64, reason);
            let r = report["failure"]["reason"].as_str().unwrap_or_default();
            assert!(r.contains("not canonical JSON (RFC 8785)"), "{what}: {r}");
        }
        // Uppercase hex in a hash, a key or a signature: the same bytes, spelled otherwise.
        for field in ["prev", "signer", "sig"] {
            let mut u = v.clone();
            u[field] = Value::String(v[field].as_str().expect("hex").to_uppercase());
            if u[field] == v[field] {
                continue;
            }
            let mut t = lines.clone();
            t[k] = canon(&u);
            check(
                &env,
                &format!("{k}-upper-{field}.jsonl"),
                &t,
                k as u64,
                "is not a lowercase hex digit",
            );
        }
    }
    // Escapes in text: the canonical form writes \n and \" and the letters themselves.
    let k = 6;
    assert!(lines[k].contains("\\n\\\"the competent"));
    for (what, from, to, reason) in [
        ("u000a", "\\n", "\\u000a", "where the two-character escape"),
        ("u000A", "\\n", "\\u000A", "\\u escape"),
        (
            "u0022",
            "\\\"",
            "\\u0022",
            "\\u escape of a character that must appear as itself",
        ),
        (
            "u0041",
            "Borduria declares",
            "Bord\\u0075ria declares",
            "\\u escape of a character that must appear as itself",
        ),
    ] {
        let mut t = lines.clone();
        t[k] = lines[k].replacen(from, to, 1);
        assert_eq!(
            parse(&t[k]),
            parse(&lines[k]),
            "{what} is the same JSON value"
        );
        check(&env, &format!("text-{what}.jsonl"), &t, k as u64, reason);
    }
}

#[test]
fn truncation_passes_plain_verify_and_fails_against_the_expected_head() {
    let env = Env::new();
    let lines = vectors();
    let head = format!("12:{}", hash(&lines[12]));
    let report = assert_valid(&env, "full.jsonl", &lines, &["--expect-head", &head]);
    assert_eq!(report["expected_head"], head);
    for keep in [12, 10, 1] {
        let t = &lines[..keep];
        assert_valid(&env, &format!("truncated-{keep}.jsonl"), t, &[]);
        let last = keep as u64 - 1;
        let report = check_bytes(
            &env,
            &format!("truncated-{keep}-pinned.jsonl"),
            &export(t),
            &["--expect-head", &head],
            &Expect {
                seq: last,
                line: None,
                reason: &format!(
                    "the chain ends at {last}:{}, not at the expected head {head} (entries are missing at the end: truncated?)",
                    hash(&t[keep - 1])
                ),
                head: Some(last),
            },
        );
        // Every entry it holds verified; only its end is wrong.
        assert_eq!(report["head"]["seq"], last);
    }
    // Right length, wrong hash: a re-sealed last entry.
    let keys = Keys::of(&env);
    let mut t = lines.clone();
    let mut v = parse(&t[12]);
    v["event"]["date"] = Value::String("2025-04-01".into());
    t[12] = sign(v, keys.get("second-root"));
    assert_valid(&env, "resealed-tail.jsonl", &t, &[]);
    let report = check_bytes(
        &env,
        "resealed-tail-pinned.jsonl",
        &export(&t),
        &["--expect-head", &head],
        &Expect {
            seq: 12,
            line: None,
            reason: "not at the expected head",
            head: Some(12),
        },
    );
    let r = report["failure"]["reason"].as_str().unwrap_or_default();
    assert!(!r.contains("truncated"), "{r}");
    // A malformed --expect-head is unusable input, not an invalid ledger.
    let run = verify(
        &env,
        "full2.jsonl",
        &export(&lines),
        &["--expect-head", "twelve"],
    );
    run.expect_code(2);
}

#[test]
fn a_wrong_trusted_root_fails_at_entry_0() {
    let env = Env::new();
    let keys = Keys::of(&env);
    let lines = vectors();
    let report = assert_valid(
        &env,
        "trusted.jsonl",
        &lines,
        &["--trust", &keys.hex("root")],
    );
    assert_eq!(report["root_pinned"], true);
    for (name, trust) in [
        ("registrar-pem", "registrar.pub.pem".to_owned()),
        ("second-root-hex", keys.hex("second-root")),
    ] {
        let report = check_bytes(
            &env,
            &format!("untrusted-{name}.jsonl"),
            &export(&lines),
            &["--trust", &trust],
            &Expect {
                seq: 0,
                line: Some(1),
                reason: &format!(
                    "entry 0 is signed by {}, not by the trusted root key",
                    keys.hex("root")
                ),
                head: None,
            },
        );
        assert_eq!(report["root_pinned"], true);
    }
    // Not a key at all: unusable input.
    verify(&env, "x.jsonl", &export(&lines), &["--trust", "nonsense"]).expect_code(2);
}

#[test]
fn line_ending_damage_is_caught_at_its_line() {
    let env = Env::new();
    let lines = vectors();
    let full = export(&lines);
    let case = |name: &str, bytes: Vec<u8>, seq: u64, line: u64, reason: &str| {
        check_bytes(
            &env,
            name,
            &bytes,
            &[],
            &Expect {
                seq,
                line: Some(line),
                reason,
                head: seq.checked_sub(1),
            },
        );
    };
    // CRLF throughout: the first line already ends with a stray \r.
    let crlf: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    case(
        "crlf.jsonl",
        crlf,
        0,
        1,
        "the line ends with a carriage return: exports use LF line breaks, not CRLF",
    );
    // Only the last line.
    let mut last_crlf = export(&lines[..12]);
    last_crlf.extend_from_slice(format!("{}\r\n", lines[12]).as_bytes());
    case(
        "last-crlf.jsonl",
        last_crlf,
        12,
        13,
        "the line ends with a carriage return",
    );
    // No line break at the end: the file may have been cut.
    case(
        "no-final-newline.jsonl",
        full[..full.len() - 1].to_vec(),
        12,
        13,
        "the last line has no line break (is the file truncated?)",
    );
    // A line cut in the middle.
    let mut cut = export(&lines[..12]);
    cut.extend_from_slice(&lines[12].as_bytes()[..100]);
    case(
        "cut.jsonl",
        cut.clone(),
        12,
        13,
        "the last line has no line break",
    );
    cut.push(b'\n');
    case("cut-newline.jsonl", cut, 12, 13, "not canonical JSON");
    // Empty lines: at the start, in the middle, at the end.
    let mut t = lines.clone();
    t.insert(0, String::new());
    case(
        "empty-first.jsonl",
        export(&t),
        0,
        1,
        "unexpected end of input",
    );
    let mut t = lines.clone();
    t.insert(5, String::new());
    case(
        "empty-middle.jsonl",
        export(&t),
        5,
        6,
        "unexpected end of input",
    );
    let mut t = lines.clone();
    t.push(String::new());
    case(
        "empty-last.jsonl",
        export(&t),
        13,
        14,
        "unexpected end of input",
    );
    let mut t = lines.clone();
    t.insert(5, "  ".into());
    case(
        "blank-middle.jsonl",
        export(&t),
        5,
        6,
        "whitespace outside a string",
    );
    // A byte-order mark.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&full);
    case("bom.jsonl", bom, 0, 1, "not canonical JSON");
}

/// Runs the sqlite3 command-line shell on `db`.
fn sqlite(db: &std::path::Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 shell runs");
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_ledger_file_changed_behind_depositarys_back_fails_verify() {
    // An entry's bytes edited in the database (after dropping the append-only trigger).
    let env = Env::new();
    env.import_vectors();
    env.run(&["verify"]).ok();
    sqlite(
        &env.ledger(),
        "DROP TRIGGER entries_append_only_update; \
         UPDATE entries SET line = CAST(replace(CAST(line AS TEXT), 'Testville', 'Testvilla') AS BLOB) WHERE seq = 2;",
    );
    let run = env.run(&["verify", "--format", "json"]);
    run.expect_code(1);
    let report = json(&run);
    assert_eq!(report["source"], "ledger");
    assert_eq!(report["failure"]["seq"], 2);
    let reason = report["failure"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(SIG_BAD), "{report:#}");

    // An entry deleted (after dropping the delete trigger).
    let env = Env::new();
    env.import_vectors();
    sqlite(
        &env.ledger(),
        "DROP TRIGGER entries_append_only_delete; DELETE FROM entries WHERE seq = 5;",
    );
    let run = env.run(&["verify", "--format", "json"]);
    run.expect_code(1);
    let report = json(&run);
    assert_eq!(report["failure"]["seq"], 5, "{report:#}");
    let reason = report["failure"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("entry 5: seq is 6, expected 5"),
        "{report:#}"
    );
}

#[test]
fn a_changed_voided_entries_cache_fails_verify() {
    // The projection's record of voided entries changed (entry 7 un-voided): the entries
    // verify, the store's records do not match them. docs/RULES.md: "`verify` rebuilds
    // these records [participants, amendments, statements, voided entries] from the entries
    // and compares them with the store's."
    let env = Env::new();
    env.import_vectors();
    sqlite(&env.ledger(), "DELETE FROM p_voided;");
    let run = env.run(&["verify", "--format", "json"]);
    run.expect_code(1);
    let report = json(&run);
    let reason = report["failure"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("voided entries") && reason.contains("changed outside Depositary"),
        "{report:#}"
    );
}

/// Changing the tables the store derives from the entries (which `status` reads, trusting
/// the store) is not prevented, but `verify` catches it. docs/GUARANTEES.md says so.
#[test]
fn a_changed_treaty_or_statements_cache_fails_verify() {
    // The threshold lowered from 3 to 2 instruments.
    let env = Env::new();
    env.import_vectors();
    sqlite(
        &env.ledger(),
        "UPDATE p_treaty SET info = replace(info, '\"at_least\":3', '\"at_least\":2');",
    );
    let v = env.run(&["verify", "--format", "json"]);
    v.expect_code(1);
    let report = json(&v);
    let reason = report["failure"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("treaty record") && reason.contains("changed outside Depositary"),
        "{report:#}"
    );

    // A statement's date moved far ahead.
    let env = Env::new();
    env.import_vectors();
    sqlite(
        &env.ledger(),
        "UPDATE p_statements SET date = '2099-01-01';",
    );
    let v = env.run(&["verify", "--format", "json"]);
    v.expect_code(1);
    let report = json(&v);
    let reason = report["failure"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("statements") && reason.contains("changed outside Depositary"),
        "{report:#}"
    );
}

#[test]
fn import_refuses_what_verify_refuses_and_leaves_nothing_behind() {
    let env = Env::new();
    let keys = Keys::of(&env);
    let lines = vectors();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let edit = |k: usize, f: &dyn Fn(&mut Value)| {
        let mut t = lines.clone();
        let mut v = parse(&t[k]);
        f(&mut v);
        t[k] = canon(&v);
        export(&t)
    };
    cases.push((
        "event",
        edit(7, &|v| v["event"]["party"] = Value::from("EEE")),
    ));
    cases.push((
        "prev",
        edit(7, &|v| {
            let p = v["prev"].as_str().expect("prev").to_owned();
            v["prev"] = Value::String(flip_hex(&p, 5));
        }),
    ));
    cases.push(("seq", edit(7, &|v| v["seq"] = Value::from(8))));
    let mut t = lines.clone();
    t.remove(7);
    cases.push(("deleted", export(&t)));
    cases.push((
        "revoked",
        export(&with_entry_13(
            &lines,
            serde_json::json!({"type": "signed", "party": "EEE", "date": "2025-04-02"}),
            "2025-04-03T09:00:00Z",
            keys.get("registrar"),
        )),
    ));
    cases.push((
        "rule",
        export(&with_entry_13(
            &lines,
            serde_json::json!({"type": "signed", "party": "EEE", "date": "2025-07-01"}),
            "2025-07-02T09:00:00Z",
            keys.get("second-root"),
        )),
    ));
    let mut t = lines.clone();
    t[7] = lines[7].replacen(':', ": ", 1);
    cases.push(("non-canonical", export(&t)));
    cases.push((
        "crlf",
        lines
            .iter()
            .flat_map(|l| format!("{l}\r\n").into_bytes())
            .collect(),
    ));
    let full = export(&lines);
    cases.push(("no-final-newline", full[..full.len() - 1].to_vec()));
    let mut t = lines.clone();
    t.insert(7, String::new());
    cases.push(("empty-line", export(&t)));

    // A ledger holding the first 5 entries, to be continued.
    env.write("prefix.jsonl", export(&lines[..5]));
    env.run(&["--ledger", "prefix.db", "import", "prefix.jsonl"])
        .ok();
    let prefix = env.run(&["--ledger", "prefix.db", "export"]).stdout;
    for (name, bytes) in cases {
        let file = format!("{name}.jsonl");
        env.write(&file, &bytes);
        let v = env.run(&["verify", &file]);
        v.expect_code(1);
        let db = format!("{name}.db");
        let run = env.run(&["--ledger", &db, "import", &file]);
        run.expect_code(1);
        assert!(
            run.stderr.contains("nothing was imported"),
            "{name}: {}",
            run.stderr
        );
        assert!(!env.path(&db).exists(), "{name}: a ledger was left behind");
        for suffix in ["-wal", "-shm", "-journal"] {
            assert!(
                !env.path(&format!("{db}{suffix}")).exists(),
                "{name}: {db}{suffix} left behind"
            );
        }
        let run = env.run(&["--ledger", "prefix.db", "import", &file]);
        run.expect_code(1);
        let after = env.run(&["--ledger", "prefix.db", "export"]).stdout;
        assert_eq!(after, prefix, "{name}: the ledger changed");
    }
}
