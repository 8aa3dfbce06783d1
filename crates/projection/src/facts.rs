//! What the projection knows about a treaty, as records, and the [`Facts`] trait through
//! which it reads and writes them. [`MemFacts`] keeps them in memory (for verification and
//! replays); the store keeps them in SQLite tables, so that one append touches a few rows
//! instead of replaying the history.

use std::collections::BTreeMap;
use std::convert::Infallible;

use depositary_core::event::{InstrumentKind, StatementKind};
use depositary_core::treaty::{ParticipantKind, ParticipantSpec, Rules};
use depositary_core::{AmendmentId, Date, Event, Label, PartyId, Seq, Treaty, TreatyId};

use crate::count::{EntryIntoForce, in_organization};
use serde::{Deserialize, Serialize};

/// The treaty itself: everything of entry 0 but the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreatyInfo {
    /// Its identifier.
    pub id: TreatyId,
    /// Its title.
    pub title: Label,
    /// The day it was adopted.
    pub adopted: Date,
    /// Its depositary.
    pub depositary: Label,
    /// Its rules.
    pub rules: Rules,
}

impl TreatyInfo {
    /// The treaty part of a registered treaty.
    pub fn of(treaty: &Treaty) -> TreatyInfo {
        TreatyInfo {
            id: treaty.id.clone(),
            title: treaty.title.clone(),
            adopted: treaty.adopted,
            depositary: treaty.depositary.clone(),
            rules: treaty.rules.clone(),
        }
    }
}

/// An act with its date and the entry that recorded it. Stored as `[date, seq]`, which is
/// short: an amendment's record holds one per acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(Date, Seq)", into = "(Date, Seq)")]
pub struct Dated {
    /// Valid time.
    pub date: Date,
    /// The entry.
    pub seq: Seq,
}

impl From<(Date, Seq)> for Dated {
    fn from((date, seq): (Date, Seq)) -> Dated {
        Dated { date, seq }
    }
}

impl From<Dated> for (Date, Seq) {
    fn from(d: Dated) -> (Date, Seq) {
        (d.date, d.seq)
    }
}

/// An instrument deposited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    /// Which kind.
    pub kind: InstrumentKind,
    /// The day of deposit.
    pub date: Date,
    /// The entry.
    pub seq: Seq,
}

/// An amendment's adoption, if any, and one participant's acceptance of it, if any.
pub type AdoptionAndAcceptance = (Option<Dated>, Option<Dated>);

/// A live statement: its entry, participant, date and kind.
pub type StatementRecord = (Seq, PartyId, Date, StatementKind);

/// Live statements of a participant, by kind, in the order of [`StatementKind::ALL`].
pub type StatementCounts = [u32; 5];

/// A participant and its standing acts (voided ones removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Its id.
    pub id: PartyId,
    /// Its name.
    pub name: Label,
    /// State or organization.
    pub kind: ParticipantKind,
    /// An organization's member States.
    pub members: Vec<PartyId>,
    /// The entry that registered it (0 for the registry of entry 0).
    pub registered: Seq,
    /// Its signature.
    pub signed: Option<Dated>,
    /// Its instrument.
    pub instrument: Option<Deposit>,
    /// Its denunciation (dated on receipt).
    pub denounced: Option<Dated>,
    /// Its live statements, by kind.
    pub statements: StatementCounts,
}

impl Participant {
    /// A participant with no acts yet.
    pub fn registered(spec: &ParticipantSpec, seq: Seq) -> Participant {
        Participant {
            id: spec.id.clone(),
            name: spec.name.clone(),
            kind: spec.kind,
            members: spec.members.clone().unwrap_or_default(),
            registered: seq,
            signed: None,
            instrument: None,
            denounced: None,
            statements: [0; 5],
        }
    }

    /// Whether it is an organization.
    pub fn is_organization(&self) -> bool {
        self.kind == ParticipantKind::Organization
    }
}

/// An amendment and the acts about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    /// Its id.
    pub id: AmendmentId,
    /// Its title.
    pub title: Label,
    /// Who proposed it.
    pub proposed_by: PartyId,
    /// When, and which entry.
    pub proposed: Dated,
    /// Its adoption, if adopted.
    pub adopted: Option<Dated>,
    /// Acceptances by participant.
    pub acceptances: BTreeMap<PartyId, Dated>,
}

impl Amendment {
    /// Its adoption, if any, and `party`'s acceptance of it, if any.
    pub fn adoption_and_acceptance(&self, party: &PartyId) -> AdoptionAndAcceptance {
        (self.adopted, self.acceptances.get(party).copied())
    }
}

/// What one entry did to the projection, kept so that a correction can undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Act {
    /// A signature.
    Signed(PartyId),
    /// An instrument.
    Ratified(PartyId),
    /// A denunciation.
    Denounced(PartyId),
    /// A statement.
    Statement {
        /// Whose.
        party: PartyId,
        /// Dated.
        date: Date,
        /// What kind.
        kind: StatementKind,
    },
    /// A proposal.
    AmendmentProposed(AmendmentId),
    /// An adoption.
    AmendmentAdopted(AmendmentId),
    /// An acceptance.
    AmendmentAccepted(AmendmentId, PartyId),
    /// A registration.
    ParticipantRegistered(PartyId),
    /// The treaty's registration, a key change or a correction: nothing a correction may undo.
    NotVoidable(&'static str),
}

impl Act {
    /// The participant the act is about, if any.
    pub fn party(&self) -> Option<&PartyId> {
        match self {
            Act::Signed(p)
            | Act::Ratified(p)
            | Act::Denounced(p)
            | Act::ParticipantRegistered(p) => Some(p),
            Act::Statement { party, .. } | Act::AmendmentAccepted(_, party) => Some(party),
            Act::AmendmentProposed(_) | Act::AmendmentAdopted(_) | Act::NotVoidable(_) => None,
        }
    }

    /// What `event` does.
    pub fn of(event: &Event) -> Act {
        match event {
            Event::Signed(e) => Act::Signed(e.party.clone()),
            Event::Ratified(e) => Act::Ratified(e.party.clone()),
            Event::Denounced(e) => Act::Denounced(e.party.clone()),
            Event::Statement(e) => Act::Statement {
                party: e.party.clone(),
                date: e.date,
                kind: e.kind,
            },
            Event::AmendmentProposed(e) => Act::AmendmentProposed(e.amendment.clone()),
            Event::AmendmentAdopted(e) => Act::AmendmentAdopted(e.amendment.clone()),
            Event::AmendmentAccepted(e) => {
                Act::AmendmentAccepted(e.amendment.clone(), e.party.clone())
            }
            Event::ParticipantRegistered(e) => Act::ParticipantRegistered(e.participant.id.clone()),
            other => Act::NotVoidable(other.type_name()),
        }
    }
}

/// Index of a statement kind in [`StatementCounts`].
pub fn kind_index(kind: StatementKind) -> usize {
    StatementKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0)
}

/// The participant an entry is about, as the store's `party` column records it: the event's
/// own or, for a correction, that of the act it voids, looked up in `facts` (absent only for
/// the treaty's registration, which is about no participant).
pub fn party_about<F: Facts>(
    event: &Event,
    facts: Option<&F>,
) -> Result<Option<PartyId>, F::Error> {
    match (event, facts) {
        (Event::Correction(c), Some(f)) => Ok(f.act(c.voids)?.and_then(|a| a.party().cloned())),
        (event, _) => Ok(event.party().cloned()),
    }
}

/// Where the projection's records live. Reads return records by value; writes replace
/// them whole. Implementations make the writes of one entry atomic with the entry.
pub trait Facts {
    /// What can go wrong reading or writing.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The treaty.
    fn treaty(&self) -> &TreatyInfo;
    /// One participant.
    fn participant(&self, id: &PartyId) -> Result<Option<Participant>, Self::Error>;
    /// Every participant, in no particular order.
    fn participants(&self) -> Result<Vec<Participant>, Self::Error>;
    /// One amendment.
    fn amendment(&self, id: &AmendmentId) -> Result<Option<Amendment>, Self::Error>;
    /// Every amendment, in no particular order.
    fn amendments(&self) -> Result<Vec<Amendment>, Self::Error>;
    /// For amendment `id`, if it exists: its adoption, and `party`'s acceptance of it.
    /// (What an acceptance needs to know, without copying every other acceptance.)
    fn adoption_and_acceptance(
        &self,
        id: &AmendmentId,
        party: &PartyId,
    ) -> Result<Option<AdoptionAndAcceptance>, Self::Error> {
        Ok(self
            .amendment(id)?
            .map(|a| a.adoption_and_acceptance(party)))
    }
    /// What entry `seq` did, if that entry exists.
    fn act(&self, seq: Seq) -> Result<Option<Act>, Self::Error>;
    /// Whether entry `seq` was voided by a correction.
    fn is_voided(&self, seq: Seq) -> Result<bool, Self::Error>;
    /// Live statements dated on or before `as_of`, by participant and kind.
    fn statement_counts(
        &self,
        as_of: Date,
    ) -> Result<BTreeMap<PartyId, StatementCounts>, Self::Error>;
    /// Every voided entry with the correction that voided it, in order (for audits).
    fn voided(&self) -> Result<Vec<(Seq, Seq)>, Self::Error>;
    /// Calls `f` with every live statement: entry, participant, date and kind, in entry
    /// order (for audits; a million of them are not gathered in memory).
    fn for_each_statement(&self, f: &mut dyn FnMut(StatementRecord)) -> Result<(), Self::Error>;
    /// The treaty's entry into force by every instrument known, whatever its date.
    /// Implementations cache it; it changes only when an instrument does.
    fn entry_into_force(&self) -> Result<EntryIntoForce, Self::Error> {
        Ok(EntryIntoForce::compute(
            &self.treaty().rules,
            &self.participants()?,
            Date::LAST,
        ))
    }

    /// Stores a participant, new or changed.
    fn put_participant(&mut self, p: &Participant) -> Result<(), Self::Error>;
    /// Stores an amendment, new or changed.
    fn put_amendment(&mut self, a: &Amendment) -> Result<(), Self::Error>;
    /// Records `party`'s acceptance of the existing amendment `id`.
    fn add_acceptance(
        &mut self,
        id: &AmendmentId,
        party: &PartyId,
        d: Dated,
    ) -> Result<(), Self::Error> {
        if let Some(mut a) = self.amendment(id)? {
            a.acceptances.insert(party.clone(), d);
            self.put_amendment(&a)?;
        }
        Ok(())
    }
    /// Counts one more live statement of `kind` by the participant `id`; `false` (nothing
    /// written) when there is no such participant. (What a statement, most entries, needs
    /// to write, without copying the participant's record twice.)
    fn add_statement(&mut self, id: &PartyId, kind: StatementKind) -> Result<bool, Self::Error> {
        let Some(mut p) = self.participant(id)? else {
            return Ok(false);
        };
        p.statements[kind_index(kind)] += 1;
        self.put_participant(&p)?;
        Ok(true)
    }
    /// Removes a participant (its registration was voided).
    fn remove_participant(&mut self, id: &PartyId) -> Result<(), Self::Error>;
    /// Removes an amendment (its proposal was voided).
    fn remove_amendment(&mut self, id: &AmendmentId) -> Result<(), Self::Error>;
    /// Records what entry `seq` did (called for every entry after entry 0, in order).
    fn record_act(&mut self, seq: Seq, act: &Act) -> Result<(), Self::Error>;
    /// Marks entry `seq`, which did `act`, as voided by the correction at `by`.
    fn void(&mut self, seq: Seq, by: Seq, act: &Act) -> Result<(), Self::Error>;
}

/// The projection's records in memory. What each entry did is kept packed in 16 bytes, so
/// that a million entries take 16 MB.
#[derive(Debug, Clone)]
pub struct MemFacts {
    treaty: TreatyInfo,
    participants: BTreeMap<PartyId, Participant>,
    amendments: BTreeMap<AmendmentId, Amendment>,
    /// What entry `i` did; entry 0 is the treaty's registration.
    acts: Vec<Packed>,
    /// Participant ids and amendment ids, numbered for `acts`.
    party_ids: Interner<PartyId>,
    amendment_ids: Interner<AmendmentId>,
    /// Voided entries, each with the correction that voided it.
    voided: std::collections::HashMap<Seq, Seq>,
    eif: std::cell::Cell<Option<EntryIntoForce>>,
}

impl PartialEq for MemFacts {
    fn eq(&self, other: &MemFacts) -> bool {
        self.treaty == other.treaty
            && self.participants == other.participants
            && self.amendments == other.amendments
            && self.voided == other.voided
            && (0..self.acts.len().max(other.acts.len())).all(|i| {
                let seq = Seq::new(i as u64).unwrap_or(Seq::GENESIS);
                matches!((self.act(seq), other.act(seq)), (Ok(a), Ok(b)) if a == b)
            })
    }
}

/// Numbers for values, so that packed records can name them.
#[derive(Debug, Clone)]
struct Interner<T> {
    values: Vec<T>,
    numbers: std::collections::HashMap<T, u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            numbers: std::collections::HashMap::new(),
        }
    }
}

impl<T: Clone + Eq + std::hash::Hash> Interner<T> {
    fn number(&mut self, v: &T) -> u32 {
        if let Some(n) = self.numbers.get(v) {
            return *n;
        }
        let n = self.values.len() as u32;
        self.values.push(v.clone());
        self.numbers.insert(v.clone(), n);
        n
    }

    fn get(&self, n: u32) -> Option<&T> {
        self.values.get(n as usize)
    }
}

/// An [`Act`] in 16 bytes: which act, and the numbers of its participant, amendment, date
/// and statement kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    tag: u8,
    kind: u8,
    party: u32,
    amendment: u32,
    date: i32,
}

const NOT_VOIDABLE: [&str; 4] = [
    "treaty_registered",
    "key_authorized",
    "key_revoked",
    "correction",
];

impl MemFacts {
    /// The records right after entry 0 registered `treaty`.
    pub fn new(treaty: &Treaty) -> MemFacts {
        MemFacts {
            treaty: TreatyInfo::of(treaty),
            participants: treaty
                .participants
                .iter()
                .map(|p| (p.id.clone(), Participant::registered(p, Seq::GENESIS)))
                .collect(),
            amendments: BTreeMap::new(),
            acts: vec![Packed {
                tag: 0,
                kind: 0,
                party: 0,
                amendment: 0,
                date: 0,
            }],
            party_ids: Interner::default(),
            amendment_ids: Interner::default(),
            voided: Default::default(),
            eif: std::cell::Cell::new(None),
        }
    }

    fn pack(&mut self, act: &Act) -> Packed {
        let mut p = Packed {
            tag: 0,
            kind: 0,
            party: 0,
            amendment: 0,
            date: 0,
        };
        match act {
            Act::NotVoidable(name) => {
                p.tag = NOT_VOIDABLE.iter().position(|n| n == name).unwrap_or(0) as u8;
            }
            Act::Signed(party) => (p.tag, p.party) = (10, self.party_ids.number(party)),
            Act::Ratified(party) => (p.tag, p.party) = (11, self.party_ids.number(party)),
            Act::Denounced(party) => (p.tag, p.party) = (12, self.party_ids.number(party)),
            Act::ParticipantRegistered(party) => {
                (p.tag, p.party) = (13, self.party_ids.number(party))
            }
            Act::Statement { party, date, kind } => {
                p.tag = 14;
                p.party = self.party_ids.number(party);
                p.date = date.to_days();
                p.kind = kind_index(*kind) as u8;
            }
            Act::AmendmentProposed(a) => (p.tag, p.amendment) = (20, self.amendment_ids.number(a)),
            Act::AmendmentAdopted(a) => (p.tag, p.amendment) = (21, self.amendment_ids.number(a)),
            Act::AmendmentAccepted(a, party) => {
                p.tag = 22;
                p.amendment = self.amendment_ids.number(a);
                p.party = self.party_ids.number(party);
            }
        }
        p
    }

    fn unpack(&self, p: Packed) -> Option<Act> {
        let party = || self.party_ids.get(p.party).cloned();
        let amendment = || self.amendment_ids.get(p.amendment).cloned();
        Some(match p.tag {
            0..=3 => Act::NotVoidable(NOT_VOIDABLE[usize::from(p.tag)]),
            10 => Act::Signed(party()?),
            11 => Act::Ratified(party()?),
            12 => Act::Denounced(party()?),
            13 => Act::ParticipantRegistered(party()?),
            14 => Act::Statement {
                party: party()?,
                date: Date::from_days(p.date)?,
                kind: *StatementKind::ALL.get(usize::from(p.kind))?,
            },
            20 => Act::AmendmentProposed(amendment()?),
            21 => Act::AmendmentAdopted(amendment()?),
            22 => Act::AmendmentAccepted(amendment()?, party()?),
            _ => return None,
        })
    }
}

fn seq_index(seq: Seq) -> Option<usize> {
    usize::try_from(seq.get()).ok()
}

impl Facts for MemFacts {
    type Error = Infallible;

    fn treaty(&self) -> &TreatyInfo {
        &self.treaty
    }

    fn participant(&self, id: &PartyId) -> Result<Option<Participant>, Infallible> {
        Ok(self.participants.get(id).cloned())
    }

    fn participants(&self) -> Result<Vec<Participant>, Infallible> {
        Ok(self.participants.values().cloned().collect())
    }

    fn amendment(&self, id: &AmendmentId) -> Result<Option<Amendment>, Infallible> {
        Ok(self.amendments.get(id).cloned())
    }

    fn amendments(&self) -> Result<Vec<Amendment>, Infallible> {
        Ok(self.amendments.values().cloned().collect())
    }

    fn adoption_and_acceptance(
        &self,
        id: &AmendmentId,
        party: &PartyId,
    ) -> Result<Option<AdoptionAndAcceptance>, Infallible> {
        Ok(self
            .amendments
            .get(id)
            .map(|a| a.adoption_and_acceptance(party)))
    }

    fn add_acceptance(
        &mut self,
        id: &AmendmentId,
        party: &PartyId,
        d: Dated,
    ) -> Result<(), Infallible> {
        if let Some(a) = self.amendments.get_mut(id) {
            a.acceptances.insert(party.clone(), d);
        }
        Ok(())
    }

    fn add_statement(&mut self, id: &PartyId, kind: StatementKind) -> Result<bool, Infallible> {
        // A statement changes no instrument: the cached entry into force stands.
        Ok(match self.participants.get_mut(id) {
            Some(p) => {
                p.statements[kind_index(kind)] += 1;
                true
            }
            None => false,
        })
    }

    fn act(&self, seq: Seq) -> Result<Option<Act>, Infallible> {
        Ok(seq_index(seq)
            .and_then(|i| self.acts.get(i))
            .and_then(|p| self.unpack(*p)))
    }

    fn is_voided(&self, seq: Seq) -> Result<bool, Infallible> {
        Ok(self.voided.contains_key(&seq))
    }

    fn statement_counts(
        &self,
        as_of: Date,
    ) -> Result<BTreeMap<PartyId, StatementCounts>, Infallible> {
        let mut by_number: std::collections::HashMap<u32, StatementCounts> = Default::default();
        let limit = as_of.to_days();
        for (i, p) in self.acts.iter().enumerate() {
            if p.tag == 14
                && p.date <= limit
                && !self
                    .voided
                    .contains_key(&Seq::new(i as u64).unwrap_or(Seq::GENESIS))
            {
                by_number.entry(p.party).or_default()[usize::from(p.kind)] += 1;
            }
        }
        Ok(by_number
            .into_iter()
            .filter_map(|(n, c)| self.party_ids.get(n).map(|id| (id.clone(), c)))
            .collect())
    }

    fn voided(&self) -> Result<Vec<(Seq, Seq)>, Infallible> {
        let mut all: Vec<(Seq, Seq)> = self.voided.iter().map(|(s, b)| (*s, *b)).collect();
        all.sort();
        Ok(all)
    }

    fn for_each_statement(&self, f: &mut dyn FnMut(StatementRecord)) -> Result<(), Infallible> {
        for (i, p) in self.acts.iter().enumerate() {
            if p.tag != 14 {
                continue;
            }
            let Ok(seq) = Seq::new(i as u64) else {
                continue;
            };
            if self.voided.contains_key(&seq) {
                continue;
            }
            if let Some(Act::Statement { party, date, kind }) = self.unpack(*p) {
                f((seq, party, date, kind));
            }
        }
        Ok(())
    }

    fn entry_into_force(&self) -> Result<EntryIntoForce, Infallible> {
        if let Some(e) = self.eif.get() {
            return Ok(e);
        }
        let e = EntryIntoForce::compute(&self.treaty.rules, self.participants.values(), Date::LAST);
        self.eif.set(Some(e));
        Ok(e)
    }

    fn put_participant(&mut self, p: &Participant) -> Result<(), Infallible> {
        let old = self
            .participants
            .insert(p.id.clone(), p.clone())
            .and_then(|o| o.instrument);
        // The entry into force depends on instruments alone.
        if old != p.instrument {
            let next = match (old, p.instrument, self.eif.get()) {
                (None, Some(new), Some(eif)) => {
                    eif.with_late_deposit(&self.treaty.rules, p, new.date, || {
                        in_organization(self.participants.values(), &p.id)
                    })
                }
                _ => None,
            };
            self.eif.set(next);
        }
        Ok(())
    }

    fn put_amendment(&mut self, a: &Amendment) -> Result<(), Infallible> {
        self.amendments.insert(a.id.clone(), a.clone());
        Ok(())
    }

    fn remove_participant(&mut self, id: &PartyId) -> Result<(), Infallible> {
        self.participants.remove(id);
        self.eif.set(None);
        Ok(())
    }

    fn remove_amendment(&mut self, id: &AmendmentId) -> Result<(), Infallible> {
        self.amendments.remove(id);
        Ok(())
    }

    fn record_act(&mut self, seq: Seq, act: &Act) -> Result<(), Infallible> {
        debug_assert_eq!(
            seq_index(seq),
            Some(self.acts.len()),
            "acts are recorded in order"
        );
        let packed = self.pack(act);
        self.acts.push(packed);
        Ok(())
    }

    fn void(&mut self, seq: Seq, by: Seq, _act: &Act) -> Result<(), Infallible> {
        self.voided.insert(seq, by);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use depositary_core::input::event_from_json;

    use super::*;

    /// A correction is about whoever the act it voids is about; any other entry about its
    /// own participant, if any.
    #[test]
    fn a_correction_is_about_the_voided_acts_participant() {
        let treaty = crate::testing::treaty(
            r#"{"id":"AAA","name":"A","kind":"state"},{"id":"BBB","name":"B","kind":"state"}"#,
        );
        let party = |s: &str| -> PartyId { s.parse().expect("an id") };
        let event = |json: &str| event_from_json(json.as_bytes()).expect("an event");
        let mut facts = MemFacts::new(&treaty);
        let Ok(()) = facts.record_act(Seq::new(1).expect("seq"), &Act::Signed(party("AAA")));

        let correction = event(r#"{"type":"correction","voids":1,"reason":"wrong day"}"#);
        let Ok(about) = party_about(&correction, Some(&facts));
        assert_eq!(about, Some(party("AAA")));
        // Without records (only before the treaty's registration), nothing to look up.
        let Ok(about) = party_about(&correction, None::<&MemFacts>);
        assert_eq!(about, None);
        // A correction of an entry that does not exist (the rules refuse it) is about no one.
        let stray = event(r#"{"type":"correction","voids":7,"reason":"no such entry"}"#);
        let Ok(about) = party_about(&stray, Some(&facts));
        assert_eq!(about, None);

        let signed = event(r#"{"type":"signed","party":"BBB","date":"2025-02-01"}"#);
        let Ok(about) = party_about(&signed, Some(&facts));
        assert_eq!(about, Some(party("BBB")));
    }
}
