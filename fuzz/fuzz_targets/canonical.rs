//! `canonical`: arbitrary bytes through the RFC 8785 checker and writer.
//!
//! Properties checked on every input:
//! - `jcs::check_canonical` never panics;
//! - canonical form is unique: when it accepts, the bytes are JSON, and writing their value
//!   with `jcs::to_canonical` gives back exactly the input;
//! - the writer and the checker agree: for any JSON text serde reads (nesting within
//!   `jcs::MAX_DEPTH`), if `jcs::to_canonical` writes its value, the checker accepts the
//!   output, writing it again changes nothing, and an independent implementation
//!   (`serde_json_canonicalizer`) writes the same bytes.

#![no_main]

use depositary_core::jcs;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The deepest level at which `jcs::check_canonical` meets a value (the top value is at
/// level 0, the elements and member values of a container one level below it).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => items.iter().map(|i| 1 + depth(i)).max().unwrap_or(0),
        Value::Object(map) => map.values().map(|i| 1 + depth(i)).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    if jcs::check_canonical(data).is_ok() {
        let value: Value =
            serde_json::from_slice(data).expect("bytes the checker accepts are JSON");
        let again = jcs::to_canonical(&value).expect("an accepted value is writable");
        assert_eq!(
            again, data,
            "the checker accepted bytes that are not the canonical form of their value"
        );
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(written) = jcs::to_canonical(&value) else {
        return;
    };
    // Values nested deeper than the checker allows are refused, by design; all others are
    // accepted.
    let checked = jcs::check_canonical(&written);
    assert_eq!(
        checked.is_ok(),
        depth(&value) <= jcs::MAX_DEPTH,
        "the checker and the writer disagree on {:?}: {checked:?}",
        String::from_utf8_lossy(&written)
    );
    if checked.is_ok() {
        let reread: Value = serde_json::from_slice(&written).expect("written bytes are JSON");
        assert_eq!(reread, value, "writing changed the value");
        assert_eq!(
            jcs::to_canonical(&reread).expect("rewritable"),
            written,
            "writing is not idempotent"
        );
        let other = serde_json_canonicalizer::to_vec(&value).expect("the other writer writes");
        assert_eq!(
            written, other,
            "jcs::to_canonical and serde_json_canonicalizer disagree"
        );
    }
});
