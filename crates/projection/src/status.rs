//! The treaty's status on a date: the numbers of the UN Treaty Collection's status page
//! and one row per participant, as a stable JSON document and as a table.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use depositary_core::{AmendmentId, Date, EntryHash, Instant, Label, PartyId, Seq, TreatyId};
use serde::Serialize;

use crate::count::{EntryIntoForce, tally};
use crate::facts::{Amendment, Facts, Participant, StatementCounts, TreatyInfo};

/// The treaty's status on `as_of`. Field names are a stable interface (`docs/RULES.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The treaty's id.
    pub treaty: TreatyId,
    /// Its title.
    pub title: Label,
    /// The valid-time date the status is for.
    pub as_of: Date,
    /// The record-time instant the ledger was read as of, if not "everything recorded".
    pub known_at: Option<Instant>,
    /// The last entry taken into account.
    pub head: HeadRef,
    /// Participants that signed by `as_of`.
    pub signatories: u64,
    /// Participants with an instrument deposited by `as_of` whose denunciation has not
    /// taken effect.
    pub contracting: u64,
    /// Participants for which the treaty is in force on `as_of`.
    pub parties: u64,
    /// Instruments counted toward entry into force by `as_of`.
    pub instruments_counted: u64,
    /// Entry into force.
    pub entry_into_force: EifStatus,
    /// Amendments proposed by `as_of`.
    pub amendments: Vec<AmendmentStatus>,
    /// Every participant with at least one act by `as_of`, in name order.
    pub participants: Vec<ParticipantStatus>,
}

/// The last entry a status was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeadRef {
    /// Its seq.
    pub seq: Seq,
    /// Its hash.
    pub hash: EntryHash,
}

/// Entry into force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EifStatus {
    /// The smallest count that meets the threshold.
    pub required: u64,
    /// The day of the deposit that met it, if by `as_of`.
    pub threshold_reached_on: Option<Date>,
    /// The day of entry into force, once the threshold is met (it may be after `as_of`).
    pub date: Option<Date>,
    /// Whether the treaty is in force on `as_of`.
    pub in_force: bool,
}

/// An amendment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AmendmentStatus {
    /// Its id.
    pub id: AmendmentId,
    /// Its title.
    pub title: Label,
    /// Who proposed it.
    pub proposed_by: PartyId,
    /// When.
    pub proposed_on: Date,
    /// When it was adopted, if by `as_of`.
    pub adopted_on: Option<Date>,
    /// Acceptances counted by `as_of`.
    pub acceptances_counted: u64,
    /// The smallest count that meets its threshold.
    pub required: u64,
    /// The day of the acceptance that met it, if by `as_of`.
    pub threshold_reached_on: Option<Date>,
    /// The day it enters into force, once the threshold is met.
    pub in_force_on: Option<Date>,
    /// Whether it is in force on `as_of`.
    pub in_force: bool,
}

/// One participant's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantStatus {
    /// Its id.
    pub id: PartyId,
    /// Its name.
    pub name: Label,
    /// Its signature's date.
    pub signed: Option<Date>,
    /// Its instrument.
    pub instrument: Option<InstrumentStatus>,
    /// The day the treaty is (or will be) in force for it.
    pub in_force_from: Option<Date>,
    /// The day its denunciation was received.
    pub denounced: Option<Date>,
    /// The day that denunciation takes effect.
    pub denunciation_effective: Option<Date>,
    /// Amendments it accepted by `as_of`.
    pub amendments_accepted: Vec<AmendmentId>,
    /// Its statements by `as_of`, all kinds.
    pub statements: u32,
    /// Of which reservations.
    pub reservations: u32,
    /// Of which declarations.
    pub declarations: u32,
}

/// An instrument in a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstrumentStatus {
    /// `ratification`, `acceptance`, `approval` or `accession`.
    pub kind: &'static str,
    /// The day of deposit.
    pub deposited: Date,
}

/// What a status is computed from.
pub struct Inputs<'a> {
    /// The treaty.
    pub treaty: &'a TreatyInfo,
    /// Every participant.
    pub participants: &'a [Participant],
    /// Every amendment.
    pub amendments: &'a [Amendment],
    /// Statements dated on or before `as_of`, by participant.
    pub statements: &'a BTreeMap<PartyId, StatementCounts>,
    /// The head read.
    pub head: HeadRef,
    /// The date.
    pub as_of: Date,
    /// The record-time instant, if any.
    pub known_at: Option<Instant>,
}

impl Status {
    /// Reads the records from `facts` and computes the status.
    pub fn from_facts<F: Facts>(
        facts: &F,
        head: HeadRef,
        as_of: Date,
        known_at: Option<Instant>,
    ) -> Result<Status, F::Error> {
        let participants = facts.participants()?;
        let amendments = facts.amendments()?;
        let statements = facts.statement_counts(as_of)?;
        Ok(Status::compute(&Inputs {
            treaty: facts.treaty(),
            participants: &participants,
            amendments: &amendments,
            statements: &statements,
            head,
            as_of,
            known_at,
        }))
    }

    /// Computes the status from the records.
    pub fn compute(i: &Inputs<'_>) -> Status {
        let rules = &i.treaty.rules;
        let d = i.as_of;
        let on = |x: Option<Date>| x.filter(|x| *x <= d);
        let eif = EntryIntoForce::compute(rules, i.participants, d);
        let effective = |p: &Participant| {
            on(p.denounced.map(|x| x.date)).and_then(|x| rules.denunciation.takes_effect.after(x))
        };
        // Who accepted or proposed what by `as_of`, in one pass over the amendments.
        let mut accepted: HashMap<&PartyId, Vec<AmendmentId>> = HashMap::new();
        let mut proposers: std::collections::HashSet<&PartyId> = Default::default();
        for a in i.amendments {
            if a.proposed.date <= d {
                proposers.insert(&a.proposed_by);
            }
            for (party, x) in &a.acceptances {
                if x.date <= d {
                    accepted.entry(party).or_default().push(a.id.clone());
                }
            }
        }
        let mut signatories = 0;
        let mut contracting = 0;
        let mut parties = 0;
        let mut rows = Vec::new();
        for p in i.participants {
            let signed = on(p.signed.map(|s| s.date));
            let instrument = p.instrument.filter(|x| x.date <= d);
            let denunciation_effective = effective(p);
            let gone = denunciation_effective.is_some_and(|e| e <= d);
            let in_force_from = instrument.and_then(|x| eif.in_force_from(rules, x.date));
            signatories += u64::from(signed.is_some());
            contracting += u64::from(instrument.is_some() && !gone);
            parties += u64::from(in_force_from.is_some_and(|f| f <= d) && !gone);
            let counts = i.statements.get(&p.id).copied().unwrap_or_default();
            let mut amendments_accepted = accepted.remove(&p.id).unwrap_or_default();
            amendments_accepted.sort();
            let proposed_any = proposers.contains(&p.id);
            let statements: u32 = counts.iter().sum();
            let denounced = on(p.denounced.map(|x| x.date));
            let acted = signed.is_some()
                || instrument.is_some()
                || denounced.is_some()
                || statements > 0
                || !amendments_accepted.is_empty()
                || proposed_any;
            if acted {
                rows.push(ParticipantStatus {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    signed,
                    instrument: instrument.map(|x| InstrumentStatus {
                        kind: x.kind.as_str(),
                        deposited: x.date,
                    }),
                    in_force_from,
                    denounced,
                    denunciation_effective,
                    amendments_accepted,
                    statements,
                    reservations: counts[0],
                    declarations: counts[1],
                });
            }
        }
        rows.sort_by_cached_key(|r| (sort_key(r.name.as_str()), r.id.clone()));
        let by_id: HashMap<&PartyId, &Participant> =
            i.participants.iter().map(|p| (&p.id, p)).collect();
        let mut amendments: Vec<AmendmentStatus> = i
            .amendments
            .iter()
            .filter(|a| a.proposed.date <= d)
            .map(|a| {
                let r = &rules.amendments;
                let accepted = a
                    .acceptances
                    .iter()
                    .filter_map(|(party, x)| by_id.get(party).map(|p| (*p, x.date)));
                let t = tally(accepted, r.organizations, r.threshold.required(), d);
                let in_force_on = t.reached_on.and_then(|x| r.takes_effect.after(x));
                AmendmentStatus {
                    id: a.id.clone(),
                    title: a.title.clone(),
                    proposed_by: a.proposed_by.clone(),
                    proposed_on: a.proposed.date,
                    adopted_on: on(a.adopted.map(|x| x.date)),
                    acceptances_counted: t.counted,
                    required: t.required,
                    threshold_reached_on: t.reached_on,
                    in_force_on,
                    in_force: in_force_on.is_some_and(|x| x <= d),
                }
            })
            .collect();
        amendments.sort_by(|a, b| {
            a.proposed_on
                .cmp(&b.proposed_on)
                .then_with(|| a.id.cmp(&b.id))
        });
        Status {
            treaty: i.treaty.id.clone(),
            title: i.treaty.title.clone(),
            as_of: d,
            known_at: i.known_at,
            head: i.head,
            signatories,
            contracting,
            parties,
            instruments_counted: eif.tally.counted,
            entry_into_force: EifStatus {
                required: eif.tally.required,
                threshold_reached_on: eif.tally.reached_on,
                date: eif.date,
                in_force: eif.date.is_some_and(|x| x <= d),
            },
            amendments,
            participants: rows,
        }
    }

    /// The status as a table, laid out like the UN Treaty Collection's status page.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let long = |d: Option<Date>| d.map(Date::display_long).unwrap_or_default();
        let _ = writeln!(out, "{} ({})", self.title, self.treaty);
        let known = match self.known_at {
            Some(t) => format!("as recorded by {t}"),
            None => "everything recorded".to_owned(),
        };
        let _ = writeln!(
            out,
            "Status as of {} ({known}; head entry {}, {})",
            self.as_of.display_long(),
            self.head.seq,
            self.head.hash
        );
        let _ = writeln!(
            out,
            "Signatories: {}. Contracting: {}. Parties: {}.",
            self.signatories, self.contracting, self.parties
        );
        let e = &self.entry_into_force;
        let eif = match (e.threshold_reached_on, e.date) {
            (Some(reached), Some(date)) if e.in_force => format!(
                "in force since {} (threshold reached {})",
                date.display_long(),
                reached.display_long()
            ),
            (Some(reached), Some(date)) => format!(
                "on {} (threshold reached {})",
                date.display_long(),
                reached.display_long()
            ),
            _ => format!(
                "not yet; {} more instrument(s) needed",
                e.required.saturating_sub(self.instruments_counted)
            ),
        };
        let _ = writeln!(
            out,
            "Instruments counted toward entry into force: {} of {}. Entry into force: {eif}.",
            self.instruments_counted, e.required
        );
        for a in &self.amendments {
            let state = match (a.threshold_reached_on, a.in_force_on) {
                (Some(_), Some(on)) if a.in_force => {
                    format!("in force since {}", on.display_long())
                }
                (Some(_), Some(on)) => format!("enters into force on {}", on.display_long()),
                _ if a.adopted_on.is_some() => {
                    format!("{} of {} acceptances", a.acceptances_counted, a.required)
                }
                _ => "not adopted".to_owned(),
            };
            let _ = writeln!(
                out,
                "Amendment {} ({}), proposed by {} on {}: {state}.",
                a.id,
                a.title,
                a.proposed_by,
                a.proposed_on.display_long()
            );
        }
        let _ = writeln!(out);
        let headers = [
            "Participant",
            "Signature",
            "Ratification, Acceptance(A), Approval(AA), Accession(a)",
            "Entry into force",
            "Denunciation",
            "Effective",
            "Notes",
        ];
        let rows: Vec<[String; 7]> = self
            .participants
            .iter()
            .map(|p| {
                let instrument = p
                    .instrument
                    .as_ref()
                    .map(|i| format!("{}{}", i.deposited.display_long(), suffix(i.kind)))
                    .unwrap_or_default();
                let mut notes = Vec::new();
                if p.reservations > 0 {
                    notes.push("R");
                }
                if p.declarations > 0 {
                    notes.push("D");
                }
                if p.statements > p.reservations + p.declarations {
                    notes.push("C");
                }
                if !p.amendments_accepted.is_empty() {
                    notes.push("Am");
                }
                [
                    p.name.to_string(),
                    long(p.signed),
                    instrument,
                    long(p.in_force_from),
                    long(p.denounced),
                    long(p.denunciation_effective),
                    notes.join(" "),
                ]
            })
            .collect();
        let mut widths = headers.map(|h| h.chars().count());
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String; 7]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                s.push_str(c);
                if i < 6 {
                    s.extend(std::iter::repeat_n(' ', w - c.chars().count()));
                }
            }
            s.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(&headers.map(str::to_owned)));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r));
        }
        if self.participants.is_empty() {
            let _ = writeln!(out, "(no participant has acted by this date)");
        }
        let _ = writeln!(
            out,
            "\nNotes: R reservation, D declaration, C other statements, Am amendments accepted."
        );
        out
    }
}

fn suffix(kind: &str) -> &'static str {
    match kind {
        "acceptance" => " A",
        "approval" => " AA",
        "accession" => " a",
        _ => "",
    }
}

/// A key that sorts names as a reader expects: letters with diacritics with their base
/// letter ("Côte d'Ivoire" between "Costa Rica" and "Croatia"), case ignored.
fn sort_key(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => {
                'a'
            }
            'ç' | 'Ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
            'ñ' | 'Ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => {
                'o'
            }
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
            'ý' | 'ÿ' | 'Ý' => 'y',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sort_key;

    #[test]
    fn names_sort_as_readers_expect() {
        let mut names = vec![
            "Croatia",
            "Côte d'Ivoire",
            "Costa Rica",
            "Türkiye",
            "Turkmenistan",
            "Tuvalu",
        ];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(
            names,
            [
                "Costa Rica",
                "Côte d'Ivoire",
                "Croatia",
                "Türkiye",
                "Turkmenistan",
                "Tuvalu"
            ]
        );
    }
}
