//! The projection: the treaty's rules, read from entry 0, applied to verified entries one
//! at a time, and the treaty's status on any date computed from what they leave.
//!
//! It knows no storage: it reads and writes records through the [`Facts`] trait, which
//! [`MemFacts`] implements in memory and the store implements over SQLite. `docs/RULES.md`
//! describes every rule and the status format.

#![deny(missing_docs)]

pub mod apply;
pub mod count;
pub mod facts;
pub mod status;

pub use apply::{ApplyError, Parties, RuleError, apply, fold};
pub use facts::{Act, Facts, MemFacts, Participant, TreatyInfo, party_about};
pub use status::Status;

/// What the unit tests share.
#[cfg(test)]
mod testing {
    use depositary_core::Treaty;
    use depositary_core::input::treaty_from_json;

    /// A small treaty (threshold 2, organizations not additional) with `participants`, the
    /// JSON of its registry's members.
    pub(crate) fn treaty(participants: &str) -> Treaty {
        let json = format!(
            r#"{{"id":"T","title":"T","adopted":"2025-01-06","depositary":"D","rules":{{
            "signature":{{"opens":"2025-01-10","closes":"2025-06-30"}},
            "entry_into_force":{{"threshold":{{"at_least":2}},"organizations":"not_additional",
              "takes_effect":{{"days":30}},"later_participants":{{"days":30}}}},
            "amendments":{{"proposal_after":{{"years":1}},"threshold":{{"more_than":2}},
              "organizations":"not_additional","takes_effect":{{"days":30}}}},
            "denunciation":{{"takes_effect":{{"months":6}}}},"organizations":{{"member_first":false}}}},
            "participants":[{participants}]}}"#
        );
        treaty_from_json(json.as_bytes()).expect("the treaty")
    }
}
