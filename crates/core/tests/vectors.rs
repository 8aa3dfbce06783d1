//! Known-answer vectors: the ledger that `fixtures/vectors/script.jsonl` describes, built
//! with the test keys, must be byte for byte `fixtures/vectors/ledger.jsonl`, with the
//! hashes of `fixtures/vectors/hashes.txt`; OpenSSL (another Ed25519 implementation) must
//! accept its signatures by the steps `docs/FORMAT.md` gives. `DEPOSITARY_BLESS=1`
//! rewrites the expected files after a deliberate format change.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use depositary_core::parallel::parse_and_check;
use depositary_core::{Chain, Event, Instant, SecretKey, VerifiedEntry};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn key(name: &str) -> SecretKey {
    let path = fixtures().join(format!("keys/TEST-ONLY-{name}.secret.pem"));
    let pem = std::fs::read_to_string(&path).expect("test key");
    SecretKey::from_pkcs8_pem(&pem).expect("test key parses")
}

/// Builds the vector ledger from the script.
fn build() -> Vec<VerifiedEntry> {
    let treaty: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("treaties/test-3-instruments-30-days.json"))
            .expect("treaty"),
    )
    .expect("treaty json");
    let script = std::fs::read_to_string(fixtures().join("vectors/script.jsonl")).expect("script");
    let mut chain = Chain::new(None);
    let mut out = Vec::new();
    for line in script.lines() {
        let step: Value = serde_json::from_str(line).expect("script line");
        let signer = key(step["key"].as_str().expect("key"));
        let mut event = step["event"].clone();
        for (_, v) in event.as_object_mut().expect("event object").iter_mut() {
            if let Some(name) = v.as_str().and_then(|s| s.strip_prefix('@')) {
                *v = if name == "treaty" {
                    treaty.clone()
                } else {
                    Value::String(key(name).public().to_hex())
                };
            }
        }
        let event: Event = serde_json::from_value(event).expect("event");
        let at: Instant = step["recorded_at"]
            .as_str()
            .expect("time")
            .parse()
            .expect("instant");
        out.push(chain.seal(event, at, &signer).expect("seal"));
    }
    out
}

fn check_or_bless(path: &Path, actual: &[u8]) {
    if std::env::var_os("DEPOSITARY_BLESS").is_some() {
        std::fs::write(path, actual).expect("bless");
        return;
    }
    let expected = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with DEPOSITARY_BLESS=1 to create)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from what the format produces now",
        path.display()
    );
}

#[test]
fn the_vector_ledger_is_reproduced_byte_for_byte() {
    let entries = build();
    let mut ledger = Vec::new();
    let mut hashes = String::new();
    for e in &entries {
        ledger.extend_from_slice(e.line());
        ledger.push(b'\n');
        hashes.push_str(&format!("{} {}\n", e.seq(), e.hash()));
    }
    check_or_bless(&fixtures().join("vectors/ledger.jsonl"), &ledger);
    check_or_bless(&fixtures().join("vectors/hashes.txt"), hashes.as_bytes());
}

#[test]
fn the_vector_ledger_verifies_with_its_root_pinned() {
    let bytes = std::fs::read(fixtures().join("vectors/ledger.jsonl")).expect("ledger");
    let lines: Vec<Vec<u8>> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let mut chain = Chain::new(Some(key("root").public()));
    for (i, r) in parse_and_check(&lines, 2).into_iter().enumerate() {
        let v = chain.accept(r.expect("parses")).expect("accepted");
        assert_eq!(v.seq().get(), i as u64);
    }
    let expected_head =
        std::fs::read_to_string(fixtures().join("vectors/hashes.txt")).expect("hashes");
    let last = expected_head.lines().last().expect("a line");
    let head = chain.head().expect("head");
    assert_eq!(last, format!("{} {}", head.seq, head.hash));
}

/// The hand check of docs/FORMAT.md, run with the shell and OpenSSL on every entry: the
/// signed message cut out of the line with `sed`, the signer's key turned into PEM, and
/// `openssl pkeyutl -verify -rawin`.
#[test]
fn openssl_verifies_every_vector_signature_by_the_documented_steps() {
    let ledger = fixtures().join("vectors/ledger.jsonl");
    let dir = tempfile::tempdir().expect("tmp");
    let script = r#"
set -eu
n=$(wc -l < "$LEDGER")
for i in $(seq 1 "$n"); do
  sed -n "${i}p" "$LEDGER" | tr -d '\n' > entry.json
  { printf 'depositary:entry-sig:v1\n'; sed 's/,"sig":"[0-9a-f]*"//' entry.json; } > msg.bin
  grep -o '"sig":"[0-9a-f]*"' entry.json | cut -d'"' -f4 | xxd -r -p > sig.bin
  signer=$(grep -o '"signer":"[0-9a-f]*"' entry.json | cut -d'"' -f4)
  { printf '302a300506032b6570032100'; printf '%s' "$signer"; } | xxd -r -p > signer.der
  openssl pkey -pubin -inform DER -in signer.der -out signer.pem
  openssl pkeyutl -verify -pubin -inkey signer.pem -rawin -in msg.bin -sigfile sig.bin > /dev/null
  printf 'ok %s\n' "$i"
done
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("LEDGER", &ledger)
        .current_dir(dir.path())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = std::fs::read_to_string(&ledger)
        .expect("ledger")
        .lines()
        .count();
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), n);
    assert!(n >= 10);

    // And OpenSSL rejects a signature over a message changed by one byte.
    let tampered = r#"
set -eu
sed -n 3p "$LEDGER" | tr -d '\n' > entry.json
{ printf 'depositary:entry-sig:v1\n'; sed 's/,"sig":"[0-9a-f]*"//; s/"AAA"/"AAB"/' entry.json; } > msg.bin
grep -o '"sig":"[0-9a-f]*"' entry.json | cut -d'"' -f4 | xxd -r -p > sig.bin
signer=$(grep -o '"signer":"[0-9a-f]*"' entry.json | cut -d'"' -f4)
{ printf '302a300506032b6570032100'; printf '%s' "$signer"; } | xxd -r -p > signer.der
openssl pkey -pubin -inform DER -in signer.der -out signer.pem
openssl pkeyutl -verify -pubin -inkey signer.pem -rawin -in msg.bin -sigfile sig.bin
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(tampered)
        .env("LEDGER", &ledger)
        .current_dir(dir.path())
        .output()
        .expect("bash runs");
    assert!(!out.status.success(), "OpenSSL accepted a tampered message");
}
