//! `entry`: arbitrary bytes as one line of an export.
//!
//! Properties checked on every input:
//! - `ParsedEntry::parse` never panics;
//! - the fast reader (`decode::decode_entry`) is a pure optimisation: whenever it answers
//!   `Some(entry)`, the general path (`jcs::check_canonical`, then serde, then
//!   `Event::check`) accepts the same bytes and reads exactly the same entry, and
//!   `ParsedEntry::parse` accepts them too;
//! - an entry is its canonical bytes: whatever `ParsedEntry::parse` accepts re-encodes
//!   (`serde_json::to_value`, then `jcs::to_canonical`) to exactly the input, keeps the
//!   input as its line, hashes it, and signs over exactly the canonical bytes of the entry
//!   without `sig` (the message `docs/FORMAT.md` section 5 defines).

#![no_main]

use depositary_core::entry::{ENTRY_SIG_DOMAIN, UnsignedEntry, Version, entry_hash};
use depositary_core::{Entry, ParsedEntry, decode, jcs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = decode::decode_entry(data);
    if let Some(e) = &fast {
        assert!(
            jcs::check_canonical(data).is_ok(),
            "the fast reader accepted bytes the canonical check refuses"
        );
        let slow: Entry = serde_json::from_slice(data)
            .expect("the fast reader accepted bytes serde does not read as an entry");
        assert_eq!(&slow, e, "the fast reader and serde read different entries");
        assert!(
            e.event.check().is_ok(),
            "the fast reader accepted an event that fails its check"
        );
    }
    let parsed = ParsedEntry::parse(data);
    match parsed {
        Ok(p) => {
            if let Some(e) = &fast {
                assert_eq!(p.entry(), e, "parse and the fast reader disagree");
            }
            let value = serde_json::to_value(p.entry()).expect("an entry serializes");
            let again = jcs::to_canonical(&value).expect("an entry is canonically writable");
            assert_eq!(
                again, data,
                "an accepted entry is not its own canonical form"
            );
            assert_eq!(p.line(), data);
            assert_eq!(p.hash(), entry_hash(data));
            let e = p.entry();
            let unsigned = UnsignedEntry {
                event: e.event.clone(),
                prev: e.prev,
                recorded_at: e.recorded_at,
                seq: e.seq,
                signer: e.signer,
                v: Version,
            }
            .canonical()
            .expect("the unsigned entry is writable");
            let mut message = ENTRY_SIG_DOMAIN.to_vec();
            message.extend_from_slice(&unsigned);
            assert_eq!(
                p.signed_message(),
                message,
                "the signed message is not the entry without its sig member"
            );
        }
        Err(_) => assert!(
            fast.is_none(),
            "the fast reader accepted what ParsedEntry::parse refuses"
        ),
    }
});
