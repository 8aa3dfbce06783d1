//! End-to-end: the binary, as a user runs it.

mod common;

use common::{Env, json};

#[test]
fn init_append_verify_status_round_trip() {
    let env = Env::new();
    env.init("hanoi/treaty.json", "2025-10-25T18:00:00Z");
    let sigs = common::fixtures().join("hanoi/signatures-2025.jsonl");
    env.run(&[
        "append",
        "--key",
        "root.pem",
        "--events",
        sigs.to_str().expect("path"),
        "--recorded-at",
        "2025-10-26T09:00:00Z",
    ])
    .ok();
    let v = env.run(&["verify", "--trust", "root.pub.pem", "--format", "json"]);
    v.ok();
    let report = json(&v);
    assert_eq!(report["valid"], true);
    assert_eq!(report["entries_verified"], 33);
    let s = env.run(&["status", "--as-of", "2025-10-31", "--format", "json"]);
    s.ok();
    let status = json(&s);
    assert_eq!(status["signatories"], 32);
    assert_eq!(status["participants"][0]["name"], "Algeria");
}
