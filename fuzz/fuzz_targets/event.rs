//! `event`: arbitrary bytes as a hand-written event (a line of an `--events` file).
//!
//! Properties checked on every input:
//! - `input::event_from_json` never panics;
//! - an event it accepts has canonical bytes (`serde_json::to_value`, then
//!   `jcs::to_canonical`), which the canonical checker accepts and which read back (through
//!   `event_from_json` again) as an equal event, whose canonical bytes are the same: reading
//!   and writing events round-trips, whatever spelling the input used.

#![no_main]

use depositary_core::{input, jcs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = input::event_from_json(data) else {
        return;
    };
    let value = serde_json::to_value(&event).expect("an event serializes");
    let bytes = jcs::to_canonical(&value).expect("an accepted event is canonically writable");
    assert!(
        jcs::check_canonical(&bytes).is_ok(),
        "the canonical bytes of an accepted event are not canonical"
    );
    let back = input::event_from_json(&bytes).unwrap_or_else(|e| {
        panic!(
            "the canonical bytes of an accepted event are refused: {e}: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(back, event, "the event changed through its canonical bytes");
    let again =
        jcs::to_canonical(&serde_json::to_value(&back).expect("serializes")).expect("writable");
    assert_eq!(again, bytes, "canonical bytes of the event are not stable");
});
