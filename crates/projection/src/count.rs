//! Thresholds: when enough instruments (or acceptances of an amendment) have been
//! deposited, counting an organization's only where the rules say so.

use std::collections::{BTreeMap, HashMap};

use depositary_core::treaty::{OrganizationCount, Rules};
use depositary_core::{Date, PartyId};

use crate::facts::Participant;

/// How far a count has got by a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Instruments (or acceptances) counted on the date.
    pub counted: u64,
    /// The smallest count that meets the threshold.
    pub required: u64,
    /// The day the count first met the threshold, if it has by the date.
    pub reached_on: Option<Date>,
}

/// Counts `deposits` (participant, date) made on or before `as_of`. Under
/// [`OrganizationCount::NotAdditional`] an organization's deposit counts only on days
/// when none of its member States has deposited, so it never adds to theirs.
pub fn tally<'a>(
    deposits: impl IntoIterator<Item = (&'a Participant, Date)>,
    organizations: OrganizationCount,
    required: u64,
    as_of: Date,
) -> Tally {
    let mut by_date: BTreeMap<Date, Vec<&Participant>> = BTreeMap::new();
    for (p, d) in deposits {
        if d <= as_of {
            by_date.entry(d).or_default().push(p);
        }
    }
    // For NotAdditional: organizations each member belongs to, and per organization
    // whether it deposited and how many of its members have.
    let mut orgs_of: HashMap<&PartyId, Vec<&PartyId>> = HashMap::new();
    let mut org_state: HashMap<&PartyId, (bool, usize)> = HashMap::new();
    let not_additional = organizations == OrganizationCount::NotAdditional;
    if not_additional {
        for ps in by_date.values() {
            for p in ps.iter().filter(|p| p.is_organization()) {
                org_state.insert(&p.id, (false, 0));
                for m in &p.members {
                    orgs_of.entry(m).or_default().push(&p.id);
                }
            }
        }
    }
    let mut plain = 0u64;
    let mut reached_on = None;
    let mut counted = 0u64;
    for (date, ps) in &by_date {
        for p in ps {
            if not_additional && p.is_organization() {
                if let Some(s) = org_state.get_mut(&p.id) {
                    s.0 = true;
                }
            } else {
                plain += 1;
            }
            if not_additional && let Some(orgs) = orgs_of.get(&p.id) {
                for o in orgs {
                    if let Some(s) = org_state.get_mut(o) {
                        s.1 += 1;
                    }
                }
            }
        }
        let orgs_counted = org_state
            .values()
            .filter(|(dep, members)| *dep && *members == 0)
            .count() as u64;
        counted = plain + orgs_counted;
        if reached_on.is_none() && counted >= required {
            reached_on = Some(*date);
        }
    }
    Tally {
        counted,
        required,
        reached_on,
    }
}

/// Whether an organization among `participants` lists `id` among its member States.
pub fn in_organization<'a>(
    participants: impl IntoIterator<Item = &'a Participant>,
    id: &PartyId,
) -> bool {
    participants
        .into_iter()
        .any(|o| o.is_organization() && o.members.contains(id))
}

/// The treaty's entry into force as of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryIntoForce {
    /// The count of instruments.
    pub tally: Tally,
    /// The day the treaty enters (or entered) into force, once the threshold is met.
    pub date: Option<Date>,
}

impl EntryIntoForce {
    /// Computes it from every participant's instrument deposited on or before `as_of`.
    pub fn compute<'a>(
        rules: &Rules,
        participants: impl IntoIterator<Item = &'a Participant>,
        as_of: Date,
    ) -> EntryIntoForce {
        let r = &rules.entry_into_force;
        let deposits = participants
            .into_iter()
            .filter_map(|p| p.instrument.map(|i| (p, i.date)));
        let tally = tally(deposits, r.organizations, r.threshold.required(), as_of);
        EntryIntoForce {
            tally,
            date: tally.reached_on.and_then(|d| r.takes_effect.after(d)),
        }
    }

    /// The entry into force once `p`, which had no instrument, deposits one dated `date`,
    /// when that can be told without counting again: the threshold was met before `date`,
    /// so the day it was met and the date of entry into force stay, and the count grows by
    /// exactly one because the deposit counts on its own (organizations count as
    /// additional, or `p` is a State that no organization lists, as `in_organization`
    /// answers). `None` when everything must be counted again.
    pub fn with_late_deposit(
        self,
        rules: &Rules,
        p: &Participant,
        date: Date,
        in_organization: impl FnOnce() -> bool,
    ) -> Option<EntryIntoForce> {
        let reached = self.tally.reached_on?;
        let alone = match rules.entry_into_force.organizations {
            OrganizationCount::Additional => true,
            OrganizationCount::NotAdditional => !p.is_organization() && !in_organization(),
        };
        (date > reached && alone).then_some(EntryIntoForce {
            tally: Tally {
                counted: self.tally.counted + 1,
                ..self.tally
            },
            ..self
        })
    }

    /// The day the treaty is in force for a participant that deposited on `deposited`:
    /// the treaty's own date for deposits on or before the day the threshold was met,
    /// else the later of that date and the deposit plus the later-participant period.
    pub fn in_force_from(&self, rules: &Rules, deposited: Date) -> Option<Date> {
        let (reached, eif) = (self.tally.reached_on?, self.date?);
        if deposited <= reached {
            return Some(eif);
        }
        let own = rules.entry_into_force.later_participants.after(deposited)?;
        Some(own.max(eif))
    }
}

#[cfg(test)]
mod tests {
    use depositary_core::Seq;

    use super::*;
    use crate::facts::Deposit;

    /// A member State's late deposit stops its organization's counting: the count must be
    /// made again, not grown by one.
    #[test]
    fn a_members_late_deposit_is_counted_again() {
        let treaty = crate::testing::treaty(
            r#"{"id":"AAA","name":"A","kind":"state"},
              {"id":"BBB","name":"B","kind":"state"},
              {"id":"UNI","name":"U","kind":"organization","members":["BBB"]},
              {"id":"CCC","name":"C","kind":"state"}"#,
        );
        let date = |s: &str| -> Date { s.parse().expect("a date") };
        let mut ps: Vec<Participant> = treaty
            .participants
            .iter()
            .map(|p| Participant::registered(p, Seq::GENESIS))
            .collect();
        let deposit = |d: &str| {
            Some(Deposit {
                kind: depositary_core::event::InstrumentKind::Ratification,
                date: date(d),
                seq: Seq::GENESIS,
            })
        };
        ps[0].instrument = deposit("2025-02-01");
        ps[2].instrument = deposit("2025-03-01");
        let rules = &treaty.rules;
        let before = EntryIntoForce::compute(rules, &ps, Date::LAST);
        assert_eq!(before.tally.reached_on, Some(date("2025-03-01")));
        assert_eq!(before.tally.counted, 2);

        // BBB, a member of UNI, deposits after the threshold: UNI no longer counts.
        ps[1].instrument = deposit("2025-04-01");
        let after = EntryIntoForce::compute(rules, &ps, Date::LAST);
        assert_eq!(after.tally.counted, 2);
        let member = before.with_late_deposit(rules, &ps[1], date("2025-04-01"), || {
            in_organization(&ps, &ps[1].id)
        });
        assert_eq!(member, None);

        // CCC, in no organization, depositing late is one more instrument, nothing else.
        ps[3].instrument = deposit("2025-05-01");
        let grown = after.with_late_deposit(rules, &ps[3], date("2025-05-01"), || {
            in_organization(&ps, &ps[3].id)
        });
        let counted = EntryIntoForce::compute(rules, &ps, Date::LAST);
        assert_eq!(counted.tally.counted, 3);
        assert_eq!(grown, Some(counted));
        // A deposit on or before the day the threshold was met is counted again.
        let reached = after.tally.reached_on.expect("met");
        assert_eq!(
            after.with_late_deposit(rules, &ps[3], reached, || false),
            None
        );
    }
}
