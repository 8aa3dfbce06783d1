//! The rules, applied to one verified entry at a time: each entry is checked against what
//! the ledger already holds and, if it passes, changes the records. `verify` runs the same
//! code over a whole chain, so an entry the store accepted is an entry the auditor accepts.

use depositary_core::event::InstrumentKind;
use depositary_core::treaty::{ParticipantKind, TreatyError};
use depositary_core::{AmendmentId, Date, Event, PartyId, Seq, VerifiedEntry};

use crate::count::EntryIntoForce;
use crate::facts::{
    Act, Amendment, Dated, Deposit, Facts, MemFacts, Participant, TreatyInfo, kind_index,
};
use std::convert::Infallible;

/// Why an entry breaks a rule of the treaty. Each message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// An act by a participant the registry does not hold.
    #[error(
        "{party} is not a participant of the registry (register it first with participant_registered) [rule: registry]"
    )]
    UnknownParticipant {
        /// The participant.
        party: PartyId,
    },
    /// Dated before the treaty was adopted.
    #[error("the act is dated {date}, before the treaty was adopted on {adopted} [rule: adopted]")]
    BeforeAdoption {
        /// The act's date.
        date: Date,
        /// The adoption date.
        adopted: Date,
    },
    /// Dated after the day it is recorded.
    #[error(
        "the act is dated {date}, after the day it is recorded ({recorded}); acts are recorded when they have happened [rule: record time]"
    )]
    AfterRecordTime {
        /// The act's date.
        date: Date,
        /// The record date.
        recorded: Date,
    },
    /// A signature before the signature period.
    #[error(
        "{party} cannot sign on {date}: signature opens on {opens} [rule: rules.signature.opens]"
    )]
    SignatureNotOpen {
        /// The participant.
        party: PartyId,
        /// The date.
        date: Date,
        /// The opening.
        opens: Date,
    },
    /// A signature after the signature period.
    #[error(
        "{party} cannot sign on {date}: signature closed on {closes}; a State that has not signed becomes a party by accession (ratified with instrument accession) [rule: rules.signature.closes]"
    )]
    SignatureClosed {
        /// The participant.
        party: PartyId,
        /// The date.
        date: Date,
        /// The closing.
        closes: Date,
    },
    /// A second signature.
    #[error(
        "{party} already signed on {date} (entry {seq}); void that entry first to record another [rule: one signature]"
    )]
    AlreadySigned {
        /// The participant.
        party: PartyId,
        /// The first signature's date.
        date: Date,
        /// Its entry.
        seq: Seq,
    },
    /// A signature by a participant that acceded.
    #[error("{party} acceded on {date} (entry {seq}) and cannot sign afterwards [rule: accession]")]
    SignatureAfterAccession {
        /// The participant.
        party: PartyId,
        /// The accession's date.
        date: Date,
        /// Its entry.
        seq: Seq,
    },
    /// A second instrument.
    #[error(
        "{party} already deposited an instrument of {kind} on {date} (entry {seq}) [rule: one instrument]"
    )]
    AlreadyDeposited {
        /// The participant.
        party: PartyId,
        /// The first instrument's kind.
        kind: &'static str,
        /// Its date.
        date: Date,
        /// Its entry.
        seq: Seq,
    },
    /// Ratification, acceptance or approval without an earlier signature.
    #[error(
        "{party} has not signed by {date}, so it cannot deposit an instrument of {kind}; a participant that has not signed accedes (instrument accession) [rule: signature before ratification]"
    )]
    NotSigned {
        /// The participant.
        party: PartyId,
        /// The instrument's date.
        date: Date,
        /// The instrument's kind.
        kind: &'static str,
    },
    /// Accession by a signatory.
    #[error(
        "{party} signed on {signed} (entry {seq}); a signatory ratifies, accepts or approves, it does not accede [rule: accession]"
    )]
    AccessionBySignatory {
        /// The participant.
        party: PartyId,
        /// Its signature's date.
        signed: Date,
        /// Its entry.
        seq: Seq,
    },
    /// An organization acting before any of its member States did likewise.
    #[error(
        "{party} is an organization and cannot {act} on {date}: none of its member States has done so by then [rule: rules.organizations.member_first]"
    )]
    OrganizationFirst {
        /// The organization.
        party: PartyId,
        /// What it tried ("sign" or "deposit an instrument").
        act: &'static str,
        /// The date.
        date: Date,
    },
    /// An act only a Party may perform, by a participant for which the treaty is not in
    /// force on that date.
    #[error(
        "{party} is not a Party on {date} (the treaty is not in force for it then), so it cannot {act} [rule: Parties only]"
    )]
    NotAParty {
        /// The participant.
        party: PartyId,
        /// The date.
        date: Date,
        /// What it tried.
        act: &'static str,
    },
    /// An amendment id used twice.
    #[error("amendment {amendment} was already proposed (entry {seq}) [rule: amendment ids]")]
    AmendmentExists {
        /// The id.
        amendment: AmendmentId,
        /// The first proposal.
        seq: Seq,
    },
    /// An act about an amendment never proposed.
    #[error("amendment {amendment} has not been proposed [rule: amendments]")]
    UnknownAmendment {
        /// The id.
        amendment: AmendmentId,
    },
    /// A proposal before amendments may be proposed.
    #[error(
        "amendment {amendment} cannot be proposed on {date}: {why} [rule: rules.amendments.proposal_after]"
    )]
    ProposalTooEarly {
        /// The id.
        amendment: AmendmentId,
        /// The date.
        date: Date,
        /// Since when proposals are possible, or that the treaty is not in force.
        why: String,
    },
    /// An adoption that cannot be.
    #[error("amendment {amendment} cannot be adopted on {date}: {why} [rule: amendments]")]
    Adoption {
        /// The id.
        amendment: AmendmentId,
        /// The date.
        date: Date,
        /// Why.
        why: String,
    },
    /// An acceptance of an amendment not adopted by then.
    #[error(
        "amendment {amendment} was not adopted by {date}, so it cannot be accepted then [rule: amendments]"
    )]
    NotAdopted {
        /// The id.
        amendment: AmendmentId,
        /// The date.
        date: Date,
    },
    /// A second acceptance.
    #[error("{party} already accepted amendment {amendment} (entry {seq}) [rule: one acceptance]")]
    AlreadyAccepted {
        /// The participant.
        party: PartyId,
        /// The amendment.
        amendment: AmendmentId,
        /// The first acceptance.
        seq: Seq,
    },
    /// A second denunciation.
    #[error(
        "{party} already denounced the treaty on {date} (entry {seq}) [rule: one denunciation]"
    )]
    AlreadyDenounced {
        /// The participant.
        party: PartyId,
        /// The first denunciation's date.
        date: Date,
        /// Its entry.
        seq: Seq,
    },
    /// A correction of an entry that does not exist.
    #[error("entry {voids} does not exist, so it cannot be voided [rule: corrections]")]
    NoSuchEntry {
        /// The seq named.
        voids: Seq,
    },
    /// A correction of an entry already voided.
    #[error("entry {voids} is already voided [rule: corrections]")]
    AlreadyVoided {
        /// The seq named.
        voids: Seq,
    },
    /// A correction of an entry that cannot be voided.
    #[error(
        "entry {voids} ({kind}) cannot be voided; keys are changed by key_authorized and key_revoked [rule: corrections]"
    )]
    NotVoidable {
        /// The seq named.
        voids: Seq,
        /// The kind of entry.
        kind: &'static str,
    },
    /// A correction that would leave other acts without their ground.
    #[error(
        "entry {voids} cannot be voided while {dependent} stands; void that first [rule: corrections]"
    )]
    Dependent {
        /// The seq named.
        voids: Seq,
        /// What depends on it.
        dependent: String,
    },
    /// A participant registered twice, or with a bad membership list.
    #[error("{0} [rule: registry]")]
    Registry(String),
    /// A date the rules' arithmetic cannot reach (past the year 9999).
    #[error("a date computed from {0} falls after the year 9999 [rule: dates]")]
    DateOverflow(Date),
}

/// Why an entry could not be applied: it breaks a rule, or the records could not be read
/// or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError<E: std::error::Error + 'static> {
    /// The entry breaks a rule.
    #[error("entry {seq}: {rule}")]
    Rule {
        /// The entry.
        seq: Seq,
        /// The rule broken.
        rule: RuleError,
    },
    /// The records failed.
    #[error("reading or writing the projection: {0}")]
    Facts(#[source] E),
}

impl<E: std::error::Error + 'static> ApplyError<E> {
    /// The rule broken, if that is what went wrong.
    pub fn rule(&self) -> Option<&RuleError> {
        match self {
            ApplyError::Rule { rule, .. } => Some(rule),
            ApplyError::Facts(_) => None,
        }
    }
}

type Outcome<E> = Result<(), ApplyError<E>>;

/// Folds a verified entry into records kept in memory, as an auditor replays a ledger:
/// entry 0 creates them from its treaty, every later entry is applied with [`apply`].
pub fn fold(
    facts: &mut Option<MemFacts>,
    entry: &VerifiedEntry,
) -> Result<(), ApplyError<Infallible>> {
    match (facts.as_mut(), entry.event()) {
        (Some(f), _) => apply(f, entry),
        (None, Event::TreatyRegistered(t)) => {
            *facts = Some(MemFacts::new(&t.treaty));
            Ok(())
        }
        // The chain accepts no other entry 0; say so rather than trust it blindly.
        (None, _) => Err(ApplyError::Rule {
            seq: entry.seq(),
            rule: RuleError::Registry("entry 0 must register the treaty".into()),
        }),
    }
}

/// Applies `entry` (any entry after entry 0) to `facts`, or says which rule it breaks.
/// On error nothing has been written.
pub fn apply<F: Facts>(facts: &mut F, entry: &VerifiedEntry) -> Outcome<F::Error> {
    let seq = entry.seq();
    let fail = |rule: RuleError| ApplyError::Rule { seq, rule };
    let event = entry.event();
    if let Some(date) = event.date() {
        let adopted = facts.treaty().adopted;
        if date < adopted {
            return Err(fail(RuleError::BeforeAdoption { date, adopted }));
        }
        let recorded = entry.recorded_at().date();
        if date > recorded {
            return Err(fail(RuleError::AfterRecordTime { date, recorded }));
        }
    }
    let mut w = Writer { facts, seq };
    w.event(event).map_err(|e| match e {
        Fail::Rule(rule) => fail(rule),
        Fail::Facts(e) => ApplyError::Facts(e),
    })?;
    w.facts
        .record_act(seq, &Act::of(event))
        .map_err(ApplyError::Facts)
}

enum Fail<E> {
    Rule(RuleError),
    Facts(E),
}

impl<E> From<RuleError> for Fail<E> {
    fn from(r: RuleError) -> Self {
        Fail::Rule(r)
    }
}

struct Writer<'a, F> {
    facts: &'a mut F,
    seq: Seq,
}

impl<F: Facts> Writer<'_, F> {
    fn read<T>(&self, r: Result<T, F::Error>) -> Result<T, Fail<F::Error>> {
        r.map_err(Fail::Facts)
    }

    fn participant(&self, id: &PartyId) -> Result<Participant, Fail<F::Error>> {
        self.read(self.facts.participant(id))?
            .ok_or_else(|| Fail::Rule(RuleError::UnknownParticipant { party: id.clone() }))
    }

    fn amendment(&self, id: &AmendmentId) -> Result<Amendment, Fail<F::Error>> {
        self.read(self.facts.amendment(id))?.ok_or_else(|| {
            Fail::Rule(RuleError::UnknownAmendment {
                amendment: id.clone(),
            })
        })
    }

    fn put(&mut self, p: &Participant) -> Result<(), Fail<F::Error>> {
        self.facts.put_participant(p).map_err(Fail::Facts)
    }

    fn put_amendment(&mut self, a: &Amendment) -> Result<(), Fail<F::Error>> {
        self.facts.put_amendment(a).map_err(Fail::Facts)
    }

    fn dated(&self, date: Date) -> Dated {
        Dated {
            date,
            seq: self.seq,
        }
    }

    /// Whether, under `member_first`, some member of `org` has an act (read by `act`) dated
    /// on or before `date`.
    fn some_member_did(
        &self,
        org: &Participant,
        date: Date,
        act: impl Fn(&Participant) -> Option<Date>,
    ) -> Result<bool, Fail<F::Error>> {
        for m in &org.members {
            if let Some(member) = self.read(self.facts.participant(m))?
                && act(&member).is_some_and(|d| d <= date)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn event(&mut self, event: &Event) -> Result<(), Fail<F::Error>> {
        match event {
            Event::TreatyRegistered(_) | Event::KeyAuthorized(_) | Event::KeyRevoked(_) => Ok(()),
            Event::Signed(e) => {
                let mut p = self.participant(&e.party)?;
                let sig = &self.facts.treaty().rules.signature;
                if let Some(first) = p.signed {
                    return Err(RuleError::AlreadySigned {
                        party: p.id,
                        date: first.date,
                        seq: first.seq,
                    }
                    .into());
                }
                if let Some(i) = p.instrument.filter(|i| i.kind == InstrumentKind::Accession) {
                    return Err(RuleError::SignatureAfterAccession {
                        party: p.id,
                        date: i.date,
                        seq: i.seq,
                    }
                    .into());
                }
                if e.date < sig.opens {
                    return Err(RuleError::SignatureNotOpen {
                        party: p.id,
                        date: e.date,
                        opens: sig.opens,
                    }
                    .into());
                }
                if e.date > sig.closes {
                    return Err(RuleError::SignatureClosed {
                        party: p.id,
                        date: e.date,
                        closes: sig.closes,
                    }
                    .into());
                }
                if p.is_organization()
                    && self.facts.treaty().rules.organizations.member_first
                    && !self.some_member_did(&p, e.date, |m| m.signed.map(|s| s.date))?
                {
                    return Err(RuleError::OrganizationFirst {
                        party: p.id,
                        act: "sign",
                        date: e.date,
                    }
                    .into());
                }
                p.signed = Some(self.dated(e.date));
                self.put(&p)
            }
            Event::Ratified(e) => {
                let mut p = self.participant(&e.party)?;
                if let Some(first) = p.instrument {
                    return Err(RuleError::AlreadyDeposited {
                        party: p.id,
                        kind: first.kind.as_str(),
                        date: first.date,
                        seq: first.seq,
                    }
                    .into());
                }
                if e.instrument.needs_signature() {
                    if p.signed.is_none_or(|s| s.date > e.date) {
                        return Err(RuleError::NotSigned {
                            party: p.id,
                            date: e.date,
                            kind: e.instrument.as_str(),
                        }
                        .into());
                    }
                } else if let Some(s) = p.signed {
                    return Err(RuleError::AccessionBySignatory {
                        party: p.id,
                        signed: s.date,
                        seq: s.seq,
                    }
                    .into());
                }
                if p.is_organization()
                    && self.facts.treaty().rules.organizations.member_first
                    && !self.some_member_did(&p, e.date, |m| m.instrument.map(|i| i.date))?
                {
                    return Err(RuleError::OrganizationFirst {
                        party: p.id,
                        act: "deposit an instrument",
                        date: e.date,
                    }
                    .into());
                }
                p.instrument = Some(Deposit {
                    kind: e.instrument,
                    date: e.date,
                    seq: self.seq,
                });
                self.put(&p)
            }
            Event::Denounced(e) => {
                let mut p = self.participant(&e.party)?;
                if let Some(first) = p.denounced {
                    return Err(RuleError::AlreadyDenounced {
                        party: p.id,
                        date: first.date,
                        seq: first.seq,
                    }
                    .into());
                }
                self.require_party(&p, e.date, "denounce the treaty")?;
                p.denounced = Some(self.dated(e.date));
                self.put(&p)
            }
            Event::Statement(e) => {
                let added = self.facts.add_statement(&e.party, e.kind);
                if self.read(added)? {
                    Ok(())
                } else {
                    Err(RuleError::UnknownParticipant {
                        party: e.party.clone(),
                    }
                    .into())
                }
            }
            Event::AmendmentProposed(e) => {
                if let Some(a) = self.read(self.facts.amendment(&e.amendment))? {
                    return Err(RuleError::AmendmentExists {
                        amendment: a.id,
                        seq: a.proposed.seq,
                    }
                    .into());
                }
                let p = self.participant(&e.party)?;
                let earliest = self.earliest_proposal()?;
                match earliest {
                    Some(d) if e.date >= d => {}
                    Some(d) => {
                        return Err(RuleError::ProposalTooEarly {
                            amendment: e.amendment.clone(),
                            date: e.date,
                            why: format!("amendments may be proposed from {d}"),
                        }
                        .into());
                    }
                    None => {
                        return Err(RuleError::ProposalTooEarly {
                            amendment: e.amendment.clone(),
                            date: e.date,
                            why: "the treaty has not entered into force".into(),
                        }
                        .into());
                    }
                }
                self.require_party(&p, e.date, "propose an amendment")?;
                let a = Amendment {
                    id: e.amendment.clone(),
                    title: e.title.clone(),
                    proposed_by: p.id,
                    proposed: self.dated(e.date),
                    adopted: None,
                    acceptances: Default::default(),
                };
                self.put_amendment(&a)
            }
            Event::AmendmentAdopted(e) => {
                let mut a = self.amendment(&e.amendment)?;
                let refuse = |why: String| {
                    Err(Fail::Rule(RuleError::Adoption {
                        amendment: e.amendment.clone(),
                        date: e.date,
                        why,
                    }))
                };
                if let Some(first) = a.adopted {
                    return refuse(format!(
                        "it was already adopted on {} (entry {})",
                        first.date, first.seq
                    ));
                }
                if e.date < a.proposed.date {
                    return refuse(format!("it was proposed only on {}", a.proposed.date));
                }
                a.adopted = Some(self.dated(e.date));
                self.put_amendment(&a)
            }
            Event::AmendmentAccepted(e) => {
                let (adopted, accepted) = self
                    .read(self.facts.adoption_and_acceptance(&e.amendment, &e.party))?
                    .ok_or_else(|| RuleError::UnknownAmendment {
                        amendment: e.amendment.clone(),
                    })?;
                let p = self.participant(&e.party)?;
                if adopted.is_none_or(|d| d.date > e.date) {
                    return Err(RuleError::NotAdopted {
                        amendment: e.amendment.clone(),
                        date: e.date,
                    }
                    .into());
                }
                if let Some(first) = accepted {
                    return Err(RuleError::AlreadyAccepted {
                        party: p.id,
                        amendment: e.amendment.clone(),
                        seq: first.seq,
                    }
                    .into());
                }
                self.require_party(&p, e.date, "accept an amendment")?;
                let d = self.dated(e.date);
                self.facts
                    .add_acceptance(&e.amendment, &p.id, d)
                    .map_err(Fail::Facts)
            }
            Event::ParticipantRegistered(e) => {
                let spec = &e.participant;
                if let Some(existing) = self.read(self.facts.participant(&spec.id))? {
                    return Err(RuleError::Registry(format!(
                        "participant {} is already registered (entry {})",
                        existing.id, existing.registered
                    ))
                    .into());
                }
                let mut states = std::collections::BTreeSet::new();
                for m in spec.members.iter().flatten() {
                    if let Some(member) = self.read(self.facts.participant(m))?
                        && member.kind == ParticipantKind::State
                    {
                        states.insert(m.clone());
                    }
                }
                spec.check_members(|m| states.contains(m))
                    .map_err(|e: TreatyError| RuleError::Registry(e.to_string()))?;
                let p = Participant::registered(spec, self.seq);
                self.put(&p)
            }
            Event::Correction(c) => self.correct(c.voids),
            // A newer event type this build does not know cannot be in a verified entry.
            _ => Ok(()),
        }
    }

    /// Who is a Party when, by every instrument known.
    fn parties(&self) -> Result<Parties<'_>, Fail<F::Error>> {
        let eif = self.read(self.facts.entry_into_force())?;
        Ok(Parties::with(self.facts.treaty(), eif))
    }

    /// The first day a Party may propose an amendment, if the treaty is in force.
    fn earliest_proposal(&self) -> Result<Option<Date>, Fail<F::Error>> {
        Ok(self.parties()?.earliest_proposal())
    }

    fn require_party(
        &self,
        p: &Participant,
        date: Date,
        act: &'static str,
    ) -> Result<(), Fail<F::Error>> {
        if self.parties()?.is_party_on(p, date) {
            Ok(())
        } else {
            Err(RuleError::NotAParty {
                party: p.id.clone(),
                date,
                act,
            }
            .into())
        }
    }

    /// Voids entry `voids`: undoes its act, unless another standing act depends on it.
    /// Every check is made before anything is written.
    fn correct(&mut self, voids: Seq) -> Result<(), Fail<F::Error>> {
        let act = self
            .read(self.facts.act(voids))?
            .ok_or(RuleError::NoSuchEntry { voids })?;
        if let Act::NotVoidable(kind) = act {
            return Err(RuleError::NotVoidable { voids, kind }.into());
        }
        if self.read(self.facts.is_voided(voids))? {
            return Err(RuleError::AlreadyVoided { voids }.into());
        }
        let dependent = |what: String| {
            Fail::Rule(RuleError::Dependent {
                voids,
                dependent: what,
            })
        };
        match &act {
            Act::Signed(party) => {
                let mut p = self.participant(party)?;
                if let Some(i) = p.instrument.filter(|i| i.kind.needs_signature()) {
                    return Err(dependent(format!(
                        "the instrument of {} of {} (entry {})",
                        i.kind.as_str(),
                        p.id,
                        i.seq
                    )));
                }
                p.signed = None;
                let all = self.participants_with(&p)?;
                check_organizations(self.facts.treaty(), &all, &p.id, "signature", |x| {
                    x.signed.map(|s| (s.date, s.seq))
                })
                .map_err(dependent)?;
                self.put(&p)?;
            }
            Act::Ratified(party) => {
                let mut p = self.participant(party)?;
                p.instrument = None;
                let all = self.participants_with(&p)?;
                check_organizations(self.facts.treaty(), &all, &p.id, "instrument", |x| {
                    x.instrument.map(|i| (i.date, i.seq))
                })
                .map_err(dependent)?;
                // The treaty's entry into force may move or vanish: every act that needed a
                // Party must still have had one.
                let amendments = self.read(self.facts.amendments())?;
                Parties::new(self.facts.treaty(), &all)
                    .check_acts(&all, &amendments)
                    .map_err(dependent)?;
                self.put(&p)?;
            }
            Act::Denounced(party) => {
                let mut p = self.participant(party)?;
                p.denounced = None;
                self.put(&p)?;
            }
            Act::Statement { party, kind, .. } => {
                let mut p = self.participant(party)?;
                let n = &mut p.statements[kind_index(*kind)];
                *n = n.saturating_sub(1);
                self.put(&p)?;
            }
            Act::AmendmentProposed(id) => {
                let a = self.amendment(id)?;
                if let Some(adopted) = a.adopted {
                    return Err(dependent(format!(
                        "the adoption of amendment {id} (entry {})",
                        adopted.seq
                    )));
                }
                self.facts.remove_amendment(id).map_err(Fail::Facts)?;
            }
            Act::AmendmentAdopted(id) => {
                let mut a = self.amendment(id)?;
                if let Some((party, d)) = a.acceptances.iter().next() {
                    return Err(dependent(format!(
                        "the acceptance of amendment {id} by {party} (entry {})",
                        d.seq
                    )));
                }
                a.adopted = None;
                self.put_amendment(&a)?;
            }
            Act::AmendmentAccepted(id, party) => {
                let mut a = self.amendment(id)?;
                a.acceptances.remove(party);
                self.put_amendment(&a)?;
            }
            Act::ParticipantRegistered(party) => {
                let p = self.participant(party)?;
                if p.signed.is_some()
                    || p.instrument.is_some()
                    || p.denounced.is_some()
                    || p.statements.iter().any(|n| *n > 0)
                {
                    return Err(dependent(format!("an act of {party}")));
                }
                for a in self.read(self.facts.amendments())? {
                    if a.proposed_by == *party || a.acceptances.contains_key(party) {
                        return Err(dependent(format!(
                            "an act of {party} on amendment {}",
                            a.id
                        )));
                    }
                }
                for o in self.read(self.facts.participants())? {
                    if o.members.contains(party) {
                        return Err(dependent(format!("the membership of {party} in {}", o.id)));
                    }
                }
                self.facts.remove_participant(party).map_err(Fail::Facts)?;
            }
            Act::NotVoidable(_) => {}
        }
        self.facts.void(voids, self.seq, &act).map_err(Fail::Facts)
    }

    /// Every participant, with `changed` in place of its stored record.
    fn participants_with(&self, changed: &Participant) -> Result<Vec<Participant>, Fail<F::Error>> {
        let mut all = self.read(self.facts.participants())?;
        for p in &mut all {
            if p.id == changed.id {
                *p = changed.clone();
            }
        }
        Ok(all)
    }
}

/// Under `member_first`, checks that every organization `member` belongs to still has,
/// for its act (read by `act`), a member that did likewise on or before it.
fn check_organizations(
    treaty: &TreatyInfo,
    all: &[Participant],
    member: &PartyId,
    what: &str,
    act: impl Fn(&Participant) -> Option<(Date, Seq)>,
) -> Result<(), String> {
    if !treaty.rules.organizations.member_first {
        return Ok(());
    }
    for o in all.iter().filter(|o| o.members.contains(member)) {
        let Some((date, seq)) = act(o) else { continue };
        let covered = all
            .iter()
            .filter(|m| o.members.contains(&m.id))
            .any(|m| act(m).is_some_and(|(d, _)| d <= date));
        if !covered {
            return Err(format!(
                "the {what} of {} (entry {seq}), which needs one of its member States' first",
                o.id
            ));
        }
    }
    Ok(())
}

/// Who is a Party when, given every participant's instrument.
pub struct Parties<'a> {
    treaty: &'a TreatyInfo,
    eif: EntryIntoForce,
}

impl<'a> Parties<'a> {
    /// Computes the treaty's entry into force from `all` participants' instruments.
    pub fn new(treaty: &'a TreatyInfo, all: &[Participant]) -> Parties<'a> {
        Parties::with(
            treaty,
            EntryIntoForce::compute(&treaty.rules, all, Date::LAST),
        )
    }

    /// From an entry into force already computed.
    pub fn with(treaty: &'a TreatyInfo, eif: EntryIntoForce) -> Parties<'a> {
        Parties { treaty, eif }
    }

    /// The first day a Party may propose an amendment, if the treaty is in force.
    pub fn earliest_proposal(&self) -> Option<Date> {
        self.eif
            .date
            .and_then(|d| self.treaty.rules.amendments.proposal_after.after(d))
    }

    /// Whether the treaty is in force for `p` on `date`: it deposited an instrument, the
    /// treaty entered into force for it on or before `date`, and no denunciation of it has
    /// taken effect by then.
    pub fn is_party_on(&self, p: &Participant, date: Date) -> bool {
        let rules = &self.treaty.rules;
        let Some(deposit) = p.instrument else {
            return false;
        };
        let Some(from) = self.eif.in_force_from(rules, deposit.date) else {
            return false;
        };
        if from > date {
            return false;
        }
        match p.denounced {
            Some(d) => rules
                .denunciation
                .takes_effect
                .after(d.date)
                .is_none_or(|effective| effective > date),
            None => true,
        }
    }

    /// Checks that every standing act reserved to Parties was made by a Party: each
    /// denunciation, each proposal (and not too early), each acceptance.
    fn check_acts(&self, all: &[Participant], amendments: &[Amendment]) -> Result<(), String> {
        let find = |id: &PartyId| all.iter().find(|p| p.id == *id);
        for p in all {
            if let Some(d) = p.denounced
                && !self.is_party_on(p, d.date)
            {
                return Err(format!("the denunciation by {} (entry {})", p.id, d.seq));
            }
        }
        let earliest = self.earliest_proposal();
        for a in amendments {
            let proposer_ok =
                find(&a.proposed_by).is_some_and(|p| self.is_party_on(p, a.proposed.date));
            if !proposer_ok || earliest.is_none_or(|e| a.proposed.date < e) {
                return Err(format!(
                    "the proposal of amendment {} (entry {})",
                    a.id, a.proposed.seq
                ));
            }
            for (party, d) in &a.acceptances {
                if !find(party).is_some_and(|p| self.is_party_on(p, d.date)) {
                    return Err(format!(
                        "the acceptance of amendment {} by {party} (entry {})",
                        a.id, d.seq
                    ));
                }
            }
        }
        Ok(())
    }
}
