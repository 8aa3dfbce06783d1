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
