//! Property tests (proptest) of the projection, on the test treaty of
//! `fixtures/treaties/test-3-instruments-30-days.json` (5 States and an organization, 3
//! instruments, 30 days, signature from 2025-01-10 to 2025-06-30, member first).
//!
//! Random candidate events (signatures, instruments, statements, denunciations, corrections
//! of statements and of signatures, at random dates and record lags) are sealed and kept
//! when the projection accepts them, as `depositary append` does. Then:
//!
//! - every append the projection accepted, `verify`'s re-application from the entry's line
//!   accepts too, leaving the same records (two `MemFacts` in lockstep);
//! - folding the verified lines into `MemFacts` is deterministic: twice, the same records;
//! - the status on a date D depends only on the acts dated on or before D: it equals the
//!   status on D of a ledger holding only those acts (and the corrections of them), in the
//!   same order, which the projection accepts entry by entry;
//! - signatories never decrease as the date advances;
//! - before the treaty's adoption no participant has done anything.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use depositary_core::event::{
    Correction, Denounced, InstrumentKind, KeyAuthorized, Ratified, Role, Signed, Statement,
    StatementKind, TreatyRegistered,
};
use depositary_core::parallel::parse_and_check;
use depositary_core::{
    Chain, Date, Event, Instant, PartyId, SecretKey, Seq, Treaty, VerifiedEntry,
};
use depositary_projection::count::EntryIntoForce;
use depositary_projection::status::HeadRef;
use depositary_projection::{Facts, MemFacts, Status, apply};
use proptest::prelude::*;
use proptest::sample::Index;

const PARTICIPANTS: [&str; 6] = ["AAA", "BBB", "CCC", "DDD", "EEE", "UNI"];
const KINDS: [InstrumentKind; 4] = [
    InstrumentKind::Ratification,
    InstrumentKind::Acceptance,
    InstrumentKind::Approval,
    InstrumentKind::Accession,
];

fn treaty() -> Treaty {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/treaties/test-3-instruments-30-days.json"
    );
    let bytes = std::fs::read(path).expect("the test treaty");
    depositary_core::input::treaty_from_json(&bytes).expect("treaty")
}

fn date(s: &str) -> Date {
    s.parse().expect("date")
}

fn days_after(d: Date, n: u32) -> Date {
    d.plus_days(n).expect("date")
}

/// `secs` seconds after `t`.
fn later(t: Instant, secs: u64) -> Instant {
    let n = t.naive() + std::time::Duration::from_secs(secs);
    Instant::from_naive_utc(n).expect("instant")
}

fn party(i: &Index) -> PartyId {
    i.get(&PARTICIPANTS).parse().expect("party")
}

/// A candidate event. Dates are offsets in days; what they count from depends on the
/// event and on the records (a ratification counts from the participant's signature).
#[derive(Debug, Clone)]
enum Op {
    Sign {
        party: Index,
        day: u32,
    },
    Deposit {
        party: Index,
        kind: Index,
        proper: bool,
        day: u32,
    },
    Statement {
        party: Index,
        kind: Index,
        day: u32,
    },
    Denounce {
        party: Index,
        day: u32,
    },
    VoidStatement {
        which: Index,
    },
    VoidSignature {
        party: Index,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<Index>(), 0u32..=180).prop_map(|(party, day)| Op::Sign { party, day }),
        6 => (any::<Index>(), any::<Index>(), proptest::bool::weighted(0.8), 0u32..=200)
            .prop_map(|(party, kind, proper, day)| Op::Deposit { party, kind, proper, day }),
        4 => (any::<Index>(), any::<Index>(), 0u32..=500)
            .prop_map(|(party, kind, day)| Op::Statement { party, kind, day }),
        3 => (any::<Index>(), 0u32..=400).prop_map(|(party, day)| Op::Denounce { party, day }),
        2 => any::<Index>().prop_map(|which| Op::VoidStatement { which }),
        1 => any::<Index>().prop_map(|party| Op::VoidSignature { party }),
    ]
}

/// Candidates, each with the record lag (seconds) after the later of the last record time
/// and the start of the act's day.
fn script() -> impl Strategy<Value = Vec<(Op, u64)>> {
    proptest::collection::vec(
        (
            op(),
            prop_oneof![Just(0u64), 0u64..3_600, 0u64..40 * 86_400],
        ),
        0..40,
    )
}

/// A ledger being appended to, as the store does, with `verify`'s replay beside it.
struct Ledger {
    registrar: SecretKey,
    chain: Chain,
    facts: MemFacts,
    /// The auditor's chain and records, fed each accepted entry's line.
    audit_chain: Chain,
    audit_facts: MemFacts,
    lines: Vec<Vec<u8>>,
    /// Every accepted entry's event and record time, in order.
    events: Vec<(Event, Instant)>,
    last: Instant,
}

impl Ledger {
    /// Entry 0 (the treaty) and entry 1 (the registrar's key).
    fn new() -> Ledger {
        let root = SecretKey::from_seed(&[1; 32]);
        let registrar = SecretKey::from_seed(&[2; 32]);
        let treaty = treaty();
        let start: Instant = "2025-01-06T09:00:00Z".parse().expect("instant");
        let mut chain = Chain::new(None);
        let genesis = Event::TreatyRegistered(TreatyRegistered {
            treaty: treaty.clone(),
        });
        let mut lines = vec![
            chain
                .seal(genesis.clone(), start, &root)
                .expect("genesis")
                .line()
                .to_vec(),
        ];
        let grant = Event::KeyAuthorized(KeyAuthorized {
            key: registrar.public(),
            name: "Registrar".parse().expect("label"),
            role: Role::Registrar,
        });
        let granted = chain.seal(grant.clone(), start, &root).expect("registrar");
        lines.push(granted.line().to_vec());
        let mut facts = MemFacts::new(&treaty);
        apply(&mut facts, &granted).expect("a key change");
        let mut audit_chain = Chain::new(Some(root.public()));
        let mut audit_facts = MemFacts::new(&treaty);
        for r in parse_and_check(&lines, 1) {
            let v = audit_chain.accept(r.expect("parse")).expect("accept");
            if v.seq() != Seq::GENESIS {
                apply(&mut audit_facts, &v).expect("a key change");
            }
        }
        Ledger {
            registrar,
            chain,
            facts,
            audit_chain,
            audit_facts,
            lines,
            events: vec![(genesis, start), (grant, start)],
            last: start,
        }
    }

    /// Seals `event` and applies the rules to it, as an append does; keeps it if the
    /// projection accepts it. Then the auditor replays its line, which must be accepted.
    fn append(&mut self, event: Event, at: Instant) -> bool {
        let mut chain = self.chain.clone();
        let Ok(v) = chain.seal(event.clone(), at, &self.registrar) else {
            return false;
        };
        let mut facts = self.facts.clone();
        if apply(&mut facts, &v).is_err() {
            return false;
        }
        self.chain = chain;
        self.facts = facts;
        self.last = at;
        self.lines.push(v.line().to_vec());
        self.events.push((event.clone(), at));

        let signed = parse_and_check(&[v.line().to_vec()], 1)
            .pop()
            .expect("one result")
            .expect("the auditor parses the line");
        let audited = self
            .audit_chain
            .accept(signed)
            .expect("the auditor's chain accepts the entry");
        if let Err(e) = apply(&mut self.audit_facts, &audited) {
            panic!("the projection accepted {event:?}, but verify's replay refuses it: {e}");
        }
        assert!(
            self.audit_facts == self.facts,
            "the auditor's records differ after {event:?}"
        );
        // The cached entry into force (updated without counting again after a late
        // deposit) is what counting every instrument again gives.
        let Ok(cached) = self.facts.entry_into_force();
        let Ok(everyone) = self.facts.participants();
        let counted = EntryIntoForce::compute(&self.facts.treaty().rules, &everyone, Date::LAST);
        assert_eq!(
            cached, counted,
            "the cached entry into force after {event:?}"
        );
        true
    }

    /// Turns a candidate into an event and its record time, reading the records.
    fn candidate(&self, op: &Op, lag: u64) -> Option<(Event, Instant)> {
        let adopted = self.facts.treaty().adopted;
        let at = |d: Date| later(self.last.max(Instant::start_of(d)), lag);
        let event = match op {
            Op::Sign { party: p, day } => Event::Signed(Signed {
                party: party(p),
                date: days_after(adopted, *day),
                place: None,
                reference: None,
            }),
            Op::Deposit {
                party: p,
                kind,
                proper,
                day,
            } => {
                let id = party(p);
                let record = self.facts.participant(&id).ok()??;
                let from = record.signed.map_or(adopted, |s| s.date);
                // Mostly the kind the rules allow (accession without signature), else any.
                let instrument = match (proper, record.signed) {
                    (true, Some(_)) => *kind.get(&KINDS[..3]),
                    (true, None) => InstrumentKind::Accession,
                    (false, _) => *kind.get(&KINDS),
                };
                Event::Ratified(Ratified {
                    party: id,
                    date: days_after(from, *day),
                    instrument,
                    reference: None,
                })
            }
            Op::Statement {
                party: p,
                kind,
                day,
            } => Event::Statement(Statement {
                party: party(p),
                date: days_after(adopted, *day),
                kind: *kind.get(&StatementKind::ALL),
                text: "A statement.\n\tWith a second line.".parse().expect("text"),
                reference: None,
            }),
            Op::Denounce { party: p, day } => {
                // Among the participants that deposited, if any.
                let deposited: Vec<PartyId> = self
                    .facts
                    .participants()
                    .ok()?
                    .into_iter()
                    .filter(|x| x.instrument.is_some())
                    .map(|x| x.id)
                    .collect();
                let id = if deposited.is_empty() {
                    party(p)
                } else {
                    p.get(&deposited).clone()
                };
                let record = self.facts.participant(&id).ok()??;
                let from = record.instrument.map_or(adopted, |i| i.date);
                Event::Denounced(Denounced {
                    party: id,
                    date: days_after(from, *day),
                    reference: None,
                })
            }
            Op::VoidStatement { which } => {
                let mut live = Vec::new();
                self.facts.for_each_statement(&mut |s| live.push(s)).ok()?;
                if live.is_empty() {
                    return None;
                }
                let voids = which.get(&live).0;
                return Some((correction(voids), later(self.last, lag)));
            }
            Op::VoidSignature { party: p } => {
                let voids = self.facts.participant(&party(p)).ok()??.signed?.seq;
                return Some((correction(voids), later(self.last, lag)));
            }
        };
        let d = event.date().expect("an act has a date");
        Some((event, at(d)))
    }
}

fn correction(voids: Seq) -> Event {
    Event::Correction(Correction {
        voids,
        reason: "Wrong entry".parse().expect("reason"),
    })
}

/// Verifies `lines` from scratch and folds them into fresh records, as `verify` does.
fn fold(lines: &[Vec<u8>]) -> MemFacts {
    let mut chain = Chain::new(None);
    let mut facts: Option<MemFacts> = None;
    for r in parse_and_check(lines, 2) {
        let v: VerifiedEntry = chain.accept(r.expect("parse")).expect("chain");
        depositary_projection::fold(&mut facts, &v).expect("a verified ledger's rules");
    }
    facts.expect("a treaty")
}

/// The records of a ledger holding only the acts dated on or before `d` (and the
/// corrections of those), sealed anew in the same order at the same record times; each
/// must be accepted.
fn fold_acts_until(events: &[(Event, Instant)], d: Date) -> MemFacts {
    let root = SecretKey::from_seed(&[1; 32]);
    let registrar = SecretKey::from_seed(&[2; 32]);
    let mut chain = Chain::new(None);
    let mut facts: Option<MemFacts> = None;
    // Old seq -> new seq of the acts kept.
    let mut kept: HashMap<u64, Seq> = HashMap::new();
    for (old, (event, at)) in events.iter().enumerate() {
        let event = match event {
            Event::Correction(c) => match kept.get(&c.voids.get()) {
                Some(new) => correction(*new),
                None => continue,
            },
            e if e.date().is_some_and(|x| x > d) => continue,
            e => e.clone(),
        };
        let key = if event.needs_root() {
            &root
        } else {
            &registrar
        };
        let v = chain.seal(event.clone(), *at, key).expect("seal");
        kept.insert(old as u64, v.seq());
        match (&mut facts, &event) {
            (None, Event::TreatyRegistered(t)) => facts = Some(MemFacts::new(&t.treaty)),
            (Some(f), _) => {
                if let Err(e) = apply(f, &v) {
                    panic!("acts until {d}: {event:?} refused: {e}");
                }
            }
            (None, _) => panic!("entry 0 is the treaty"),
        }
    }
    facts.expect("a treaty")
}

fn status(facts: &MemFacts, d: Date) -> Status {
    let head = HeadRef {
        seq: Seq::GENESIS,
        hash: depositary_core::EntryHash::ZERO,
    };
    Status::from_facts(facts, head, d, None).expect("status")
}

/// Appends the candidates that the projection accepts; returns the ledger.
fn run(script: &[(Op, u64)]) -> Ledger {
    let mut ledger = Ledger::new();
    for (op, lag) in script {
        if let Some((event, at)) = ledger.candidate(op, *lag) {
            ledger.append(event, at);
        }
    }
    ledger
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

proptest! {
    #![proptest_config(config(20))]

    /// Appends are replayed by `verify` in lockstep (in `run`), folding is deterministic,
    /// signatories never decrease with the date, and nothing precedes the adoption.
    #[test]
    fn folding_is_deterministic_and_verify_replays_every_append(
        script in script(),
        steps in proptest::collection::vec(0u32..=60, 1..12),
    ) {
        let ledger = run(&script);

        let once = fold(&ledger.lines);
        let twice = fold(&ledger.lines);
        prop_assert!(once == twice, "two folds of the same lines differ");
        prop_assert!(once == ledger.facts, "the fold differs from the appends' records");

        let adopted = ledger.facts.treaty().adopted;
        for before in [date("0001-01-01"), date("2024-06-30"), date("2025-01-05")] {
            prop_assert!(before < adopted);
            let s = status(&ledger.facts, before);
            prop_assert!(s.participants.is_empty(), "{:?}", s.participants);
            prop_assert_eq!(
                (s.signatories, s.contracting, s.parties, s.instruments_counted),
                (0, 0, 0, 0)
            );
            prop_assert!(s.amendments.is_empty());
            prop_assert_eq!(s.entry_into_force.threshold_reached_on, None);
            prop_assert!(!s.entry_into_force.in_force);
        }

        let mut d = date("2025-01-01");
        let mut previous = 0;
        for step in steps {
            d = days_after(d, step);
            let s = status(&ledger.facts, d);
            prop_assert!(s.signatories >= previous, "signatories fell on {}", d);
            previous = s.signatories;
        }
    }

    /// The status on a date is that of a ledger holding only the acts dated by then: on
    /// the date of one of the acts (where an off-by-one would show) and on any date.
    #[test]
    fn the_status_on_a_date_depends_only_on_the_acts_dated_by_then(
        script in script(),
        act in any::<Index>(),
        day in 0u32..=900,
    ) {
        let ledger = run(&script);
        let dates: Vec<Date> = ledger.events.iter().filter_map(|(e, _)| e.date()).collect();
        let mut on = vec![days_after(date("2024-12-01"), day)];
        if !dates.is_empty() {
            on.push(*act.get(&dates));
        }
        for d in on {
            let all = status(&ledger.facts, d);
            let until = status(&fold_acts_until(&ledger.events, d), d);
            prop_assert_eq!(all, until);
        }
    }
}
