//! What entry 0 registers: the treaty, its rules as data and its registry of participants.
//!
//! The types here only say what a rules file may contain; what the rules *mean* is the
//! projection crate's business (see `docs/RULES.md`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::types::{Date, Label, PartyId, TreatyId};

/// A treaty as its genesis entry registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Treaty {
    /// Its identifier in the depositary's collection (`XVIII-16`).
    pub id: TreatyId,
    /// Its title.
    pub title: Label,
    /// The date it was adopted; no act may be dated earlier.
    pub adopted: Date,
    /// Who keeps it (`Secretary-General of the United Nations`).
    pub depositary: Label,
    /// The rules the projection applies.
    pub rules: Rules,
    /// The participants known at registration; more may be registered later.
    pub participants: Vec<ParticipantSpec>,
}

/// A State or an organization that may act under the treaty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantSpec {
    /// ISO 3166-1 alpha-3 for a State, a short code for an organization.
    pub id: PartyId,
    /// Its name as the depositary writes it.
    pub name: Label,
    /// State or organization.
    pub kind: ParticipantKind,
    /// For an organization, its member States (at least one); absent for a State.
    #[serde(
        default,
        deserialize_with = "crate::event::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub members: Option<Vec<PartyId>>,
}

/// What kind of participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantKind {
    /// A State.
    State,
    /// A (regional economic integration) organization with member States.
    Organization,
}

impl ParticipantKind {
    /// The word the format uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantKind::State => "state",
            ParticipantKind::Organization => "organization",
        }
    }
}

/// The treaty's rules, as numbers and choices the projection reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// When signature is open.
    pub signature: SignatureRule,
    /// When the treaty enters into force, in general and for each later participant.
    pub entry_into_force: EntryIntoForceRule,
    /// How amendments are proposed and when they enter into force.
    pub amendments: AmendmentRule,
    /// When a denunciation takes effect.
    pub denunciation: DenunciationRule,
    /// What organizations may do.
    pub organizations: OrganizationRule,
}

/// The signature period, both days included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRule {
    /// First day a signature may be dated.
    pub opens: Date,
    /// Last day a signature may be dated; afterwards a State accedes.
    pub closes: Date,
}

/// Entry into force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryIntoForceRule {
    /// How many instruments of ratification, acceptance, approval or accession are needed.
    pub threshold: Threshold,
    /// Whether an organization's instrument counts in addition to its members'.
    pub organizations: OrganizationCount,
    /// From the deposit that meets the threshold to entry into force.
    pub takes_effect: Period,
    /// For a participant depositing later: from its own deposit to entry into force for it
    /// (never earlier than the treaty's own entry into force).
    pub later_participants: Period,
}

/// Amendments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendmentRule {
    /// How long after the treaty's entry into force a Party may first propose one.
    pub proposal_after: Period,
    /// How many Parties must accept an adopted amendment.
    pub threshold: Threshold,
    /// Whether an organization's acceptance counts in addition to its members'.
    pub organizations: OrganizationCount,
    /// From the acceptance that meets the threshold to the amendment's entry into force.
    pub takes_effect: Period,
}

/// Denunciation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenunciationRule {
    /// From the depositary's receipt of the notification to its effect.
    pub takes_effect: Period,
}

/// Organizations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationRule {
    /// An organization may sign, or deposit an instrument, only on or after the day at
    /// least one of its member States has done likewise.
    pub member_first: bool,
}

/// A count to reach, worded as the treaty words it: `{"at_least": N}` or
/// `{"more_than": N}`, exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "ThresholdSpelling")]
pub enum Threshold {
    /// "the fortieth instrument": at least N.
    AtLeast(u32),
    /// "more than 60": at least N + 1.
    MoreThan(u32),
}

impl Threshold {
    /// The smallest count that meets the threshold.
    pub fn required(self) -> u64 {
        match self {
            Threshold::AtLeast(n) => u64::from(n),
            Threshold::MoreThan(n) => u64::from(n) + 1,
        }
    }
}

/// Whether an organization's instrument is counted in addition to its members'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationCount {
    /// "shall not be counted as additional to those deposited by member States": counted
    /// only while none of its member States has deposited one.
    NotAdditional,
    /// Counted like a State's.
    Additional,
}

/// A span of calendar time: `{"days": N}`, `{"months": N}` or `{"years": N}`, exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "PeriodSpelling")]
pub enum Period {
    /// "the ninetieth day after": the date plus N days.
    Days(u32),
    /// The same day N months later, or the month's last day if it has no such day.
    Months(u32),
    /// The same day N years later; 29 February becomes 28 February.
    Years(u32),
}

impl Period {
    /// The date this period after `date`, if it is within the years 1 to 9999.
    pub fn after(self, date: Date) -> Option<Date> {
        match self {
            Period::Days(n) => date.plus_days(n),
            Period::Months(n) => date.plus_months(n),
            Period::Years(n) => n.checked_mul(12).and_then(|m| date.plus_months(m)),
        }
    }

    fn within_bounds(self) -> bool {
        match self {
            Period::Days(n) => n <= 36_600,
            Period::Months(n) => n <= 1_200,
            Period::Years(n) => n <= 100,
        }
    }
}

/// How a threshold is written, before checking that exactly one member is there.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdSpelling {
    #[serde(default)]
    at_least: Option<u32>,
    #[serde(default)]
    more_than: Option<u32>,
}

impl TryFrom<ThresholdSpelling> for Threshold {
    type Error = &'static str;
    fn try_from(s: ThresholdSpelling) -> Result<Threshold, &'static str> {
        match (s.at_least, s.more_than) {
            (Some(n), None) => Ok(Threshold::AtLeast(n)),
            (None, Some(n)) => Ok(Threshold::MoreThan(n)),
            _ => Err("a threshold is exactly one of {\"at_least\": N} or {\"more_than\": N}"),
        }
    }
}

/// How a period is written, before checking that exactly one member is there.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodSpelling {
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    months: Option<u32>,
    #[serde(default)]
    years: Option<u32>,
}

impl TryFrom<PeriodSpelling> for Period {
    type Error = &'static str;
    fn try_from(s: PeriodSpelling) -> Result<Period, &'static str> {
        match (s.days, s.months, s.years) {
            (Some(n), None, None) => Ok(Period::Days(n)),
            (None, Some(n), None) => Ok(Period::Months(n)),
            (None, None, Some(n)) => Ok(Period::Years(n)),
            _ => Err("a period is exactly one of {\"days\": N}, {\"months\": N} or {\"years\": N}"),
        }
    }
}

/// Why a treaty cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreatyError {
    /// Two participants with one id.
    #[error("participant {0} is listed twice")]
    DuplicateParticipant(PartyId),
    /// A member that is not a listed State.
    #[error("organization {org} lists member {member}, which is not a State of the registry")]
    UnknownMember {
        /// The organization.
        org: PartyId,
        /// The member.
        member: PartyId,
    },
    /// An organization without members, a State with members, a repeated member.
    #[error("participant {0}: {1}")]
    Membership(PartyId, &'static str),
    /// Rules that cannot be applied.
    #[error("{0}")]
    Rules(String),
}

impl Treaty {
    /// Checks what the types alone cannot: unique ids, members that exist, and rules
    /// whose numbers make sense.
    pub fn check(&self) -> Result<(), TreatyError> {
        let r = &self.rules;
        if r.signature.opens > r.signature.closes {
            return Err(TreatyError::Rules(
                "rules.signature.opens is after rules.signature.closes".into(),
            ));
        }
        if r.signature.opens < self.adopted {
            return Err(TreatyError::Rules(
                "rules.signature.opens is before the adoption date".into(),
            ));
        }
        for (name, t) in [
            (
                "rules.entry_into_force.threshold",
                r.entry_into_force.threshold,
            ),
            ("rules.amendments.threshold", r.amendments.threshold),
        ] {
            if t.required() == 0 || t.required() > 100_000 {
                return Err(TreatyError::Rules(format!(
                    "{name} requires {}; a threshold must require between 1 and 100,000",
                    t.required()
                )));
            }
        }
        for (name, p) in [
            (
                "rules.entry_into_force.takes_effect",
                r.entry_into_force.takes_effect,
            ),
            (
                "rules.entry_into_force.later_participants",
                r.entry_into_force.later_participants,
            ),
            (
                "rules.amendments.proposal_after",
                r.amendments.proposal_after,
            ),
            ("rules.amendments.takes_effect", r.amendments.takes_effect),
            (
                "rules.denunciation.takes_effect",
                r.denunciation.takes_effect,
            ),
        ] {
            if !p.within_bounds() {
                return Err(TreatyError::Rules(format!(
                    "{name} is too long: a period may be at most 36,600 days, 1,200 months or 100 years"
                )));
            }
        }
        let mut states = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for p in &self.participants {
            if !ids.insert(&p.id) {
                return Err(TreatyError::DuplicateParticipant(p.id.clone()));
            }
            if p.kind == ParticipantKind::State {
                states.insert(&p.id);
            }
        }
        for p in &self.participants {
            p.check_members(|m| states.contains(m))?;
        }
        Ok(())
    }
}

impl ParticipantSpec {
    /// Checks the membership list: an organization has one or more distinct members, each a
    /// State (`is_state`); a State has none.
    pub fn check_members(&self, is_state: impl Fn(&PartyId) -> bool) -> Result<(), TreatyError> {
        match (self.kind, &self.members) {
            (ParticipantKind::State, None) => Ok(()),
            (ParticipantKind::State, Some(_)) => Err(TreatyError::Membership(
                self.id.clone(),
                "a State has no members",
            )),
            (ParticipantKind::Organization, None) => Err(TreatyError::Membership(
                self.id.clone(),
                "an organization lists its member States",
            )),
            (ParticipantKind::Organization, Some(members)) => {
                if members.is_empty() {
                    return Err(TreatyError::Membership(
                        self.id.clone(),
                        "an organization has at least one member State",
                    ));
                }
                let mut seen = BTreeSet::new();
                for m in members {
                    if !seen.insert(m) {
                        return Err(TreatyError::Membership(
                            self.id.clone(),
                            "a member is listed twice",
                        ));
                    }
                    if !is_state(m) {
                        return Err(TreatyError::UnknownMember {
                            org: self.id.clone(),
                            member: m.clone(),
                        });
                    }
                }
                Ok(())
            }
        }
    }
}
