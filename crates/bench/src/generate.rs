//! A synthetic but valid ledger of any length: a treaty with the Hanoi Convention's rules and
//! a registry of 200 synthetic States and one organization, dated from the year 2000; its
//! signatures and instruments, then statements, amendments through their thresholds,
//! corrections, new participants and their accessions, denunciations and registrar key
//! rotations. Every entry is sealed by the chain and checked by the projection as it is made,
//! so the result satisfies every rule.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use anyhow::{Context as _, Result, anyhow};
use chrono::{DateTime, NaiveDate};
use depositary_core::event::{
    AmendmentAccepted, AmendmentAdopted, AmendmentProposed, Correction, Denounced, InstrumentKind,
    KeyAuthorized, KeyRevoked, ParticipantRegistered, Ratified, Role, Signed, Statement,
    StatementKind, TreatyRegistered,
};
use depositary_core::treaty::{ParticipantKind, ParticipantSpec};
use depositary_core::{Chain, Date, Event, Instant, PartyId, SecretKey, Seq, Treaty};
use depositary_projection::{MemFacts, fold};

/// The synthetic treaty: the Hanoi Convention's rules, dates moved to 1999-2001.
pub fn treaty() -> Result<Treaty> {
    let mut participants: Vec<serde_json::Value> = (0..200)
        .map(|i| serde_json::json!({"id": format!("S{i:03}"), "name": format!("Synthetic State {i:03}"), "kind": "state"}))
        .collect();
    let members: Vec<String> = (0..27).map(|i| format!("S{i:03}")).collect();
    participants.push(serde_json::json!({"id": "ORG", "name": "Synthetic Union", "kind": "organization", "members": members}));
    let value = serde_json::json!({
        "id": "SYN-1",
        "title": "Synthetic Convention for benchmarks (the Hanoi Convention's rules, synthetic dates and participants)",
        "adopted": "1999-12-01",
        "depositary": "Synthetic Depositary",
        "rules": {
            "signature": {"opens": "2000-02-01", "closes": "2001-12-31"},
            "entry_into_force": {"threshold": {"at_least": 40}, "organizations": "not_additional", "takes_effect": {"days": 90}, "later_participants": {"days": 30}},
            "amendments": {"proposal_after": {"years": 5}, "threshold": {"more_than": 60}, "organizations": "not_additional", "takes_effect": {"days": 90}},
            "denunciation": {"takes_effect": {"years": 1}},
            "organizations": {"member_first": true}
        },
        "participants": participants
    });
    Ok(depositary_core::input::treaty_from_json(
        value.to_string().as_bytes(),
    )?)
}

/// The root key of every synthetic ledger (a fixed test seed: benchmarks only).
pub fn root_key() -> SecretKey {
    SecretKey::from_seed(&[0xb0; 32])
}

fn registrar_key(n: u32) -> SecretKey {
    let mut seed = [0x5e; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    SecretKey::from_seed(&seed)
}

/// A small deterministic random number generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

struct Part {
    id: PartyId,
    signed: bool,
    instrument: Option<Date>,
    denounced: Option<Date>,
}

struct OpenAmendment {
    id: depositary_core::AmendmentId,
    adopted: bool,
    acceptors: HashSet<usize>,
}

/// Where the generator writes.
pub struct Generated {
    /// A date in the middle of the ledger's valid time.
    pub middle: Date,
}

/// The generator's state.
struct Generator {
    chain: Chain,
    facts: Option<MemFacts>,
    rng: Rng,
    t: i64,
    step: i64,
    root: SecretKey,
    registrar: SecretKey,
    registrar_no: u32,
    parts: Vec<Part>,
    threshold_day: Option<Date>,
    eif: Option<Date>,
    counted: u32,
    open: Option<OpenAmendment>,
    amendments: u32,
    recent_statements: VecDeque<Seq>,
    bootstrap: usize,
    late_ratifications: usize,
    pending_accessions: Vec<usize>,
    registered: u32,
    denounced: u32,
    statements: u64,
    pending: VecDeque<(Event, bool)>,
}

/// The organization's index in `parts`.
const ORG: usize = 200;
const START: i64 = 949_363_200; // 2000-02-01T00:00:00Z
const END: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn date_of(t: i64) -> Result<Date> {
    let dt = DateTime::from_timestamp(t, 0).ok_or_else(|| anyhow!("time {t} out of range"))?;
    Ok(Instant::from_naive_utc(dt.naive_utc())
        .ok_or_else(|| anyhow!("time out of range"))?
        .date())
}

fn instant_of(t: i64) -> Result<Instant> {
    let dt = DateTime::from_timestamp(t, 0).ok_or_else(|| anyhow!("time {t} out of range"))?;
    Instant::from_naive_utc(dt.naive_utc()).ok_or_else(|| anyhow!("time out of range"))
}

fn d(y: i32, m: u32, day: u32) -> Result<Date> {
    NaiveDate::from_ymd_opt(y, m, day)
        .and_then(|_| Date::from_ymd(y, m, day))
        .ok_or_else(|| anyhow!("bad date"))
}

fn label(s: String) -> Result<depositary_core::Label> {
    Ok(s.parse()?)
}

impl Generator {
    fn new(total: u64) -> Result<Generator> {
        Ok(Generator {
            chain: Chain::new(None),
            facts: None,
            rng: Rng(0x00de_9051_7a27),
            t: START,
            step: ((END - START) / total.max(1) as i64).max(0),
            root: root_key(),
            registrar: registrar_key(1),
            registrar_no: 1,
            parts: (0..200)
                .map(|i| {
                    Ok(Part {
                        id: format!("S{i:03}").parse()?,
                        signed: false,
                        instrument: None,
                        denounced: None,
                    })
                })
                .chain(std::iter::once(Ok(Part {
                    id: "ORG".parse()?,
                    signed: false,
                    instrument: None,
                    denounced: None,
                })))
                .collect::<Result<_>>()?,
            threshold_day: None,
            eif: None,
            counted: 0,
            open: None,
            amendments: 0,
            recent_statements: VecDeque::new(),
            bootstrap: 0,
            late_ratifications: 150,
            pending_accessions: Vec::new(),
            registered: 0,
            denounced: 0,
            statements: 0,
            pending: VecDeque::new(),
        })
    }

    fn is_party(&self, i: usize, on: Date) -> bool {
        let p = &self.parts[i];
        let (Some(dep), Some(eif), Some(th)) = (p.instrument, self.eif, self.threshold_day) else {
            return false;
        };
        let from = if dep <= th {
            eif
        } else {
            dep.plus_days(30).map_or(eif, |x| x.max(eif))
        };
        from <= on
            && p.denounced
                .is_none_or(|x| x.plus_months(12).is_some_and(|e| e > on))
    }

    fn deposit(&mut self, i: usize, date: Date) {
        self.parts[i].instrument = Some(date);
        if i != ORG {
            self.counted += 1;
            if self.counted == 40 {
                self.threshold_day = Some(date);
                self.eif = date.plus_days(90);
            }
        }
    }

    /// The next event and whether the root key signs it.
    fn next_event(&mut self, seq: u64) -> Result<(Event, bool)> {
        if let Some(e) = self.pending.pop_front() {
            return Ok(e);
        }
        let r = date_of(self.t)?;
        let closes = d(2001, 12, 31)?;
        if self.bootstrap < 352 {
            let k = self.bootstrap;
            self.bootstrap += 1;
            return Ok(match k {
                0..=200 => {
                    self.parts[k].signed = true;
                    (
                        Event::Signed(Signed {
                            party: self.parts[k].id.clone(),
                            date: r.min(closes),
                            place: Some("Synthetic City".parse()?),
                            reference: Some(label(format!("C.N.{k}.2000.TREATIES-SYN.1"))?),
                        }),
                        false,
                    )
                }
                _ => {
                    let i = if k == 351 { 200 } else { k - 201 };
                    let instrument = match i % 5 {
                        _ if i == 200 => InstrumentKind::Approval,
                        3 => InstrumentKind::Acceptance,
                        4 => InstrumentKind::Approval,
                        _ => InstrumentKind::Ratification,
                    };
                    self.deposit(i, r);
                    (
                        Event::Ratified(Ratified {
                            party: self.parts[i].id.clone(),
                            date: r,
                            instrument,
                            reference: Some(label(format!("C.N.{k}.2000.TREATIES-SYN.1"))?),
                        }),
                        false,
                    )
                }
            });
        }
        if seq.is_multiple_of(25_000) {
            let old = self.registrar.public();
            self.registrar_no += 1;
            let new = registrar_key(self.registrar_no);
            self.pending.push_back((
                Event::KeyRevoked(KeyRevoked {
                    key: old,
                    reason: label(format!("rotation {}", self.registrar_no))?,
                }),
                true,
            ));
            let e = Event::KeyAuthorized(KeyAuthorized {
                key: new.public(),
                name: label(format!("Synthetic registrar {}", self.registrar_no))?,
                role: Role::Registrar,
            });
            self.registrar = new;
            return Ok((e, true));
        }
        let roll = self.rng.below(1000);
        let amendments_open = self
            .eif
            .and_then(|e| e.plus_months(60))
            .is_some_and(|from| r >= from);
        if roll < 30 && !self.recent_statements.is_empty() {
            let k = self.rng.below(self.recent_statements.len());
            if let Some(voids) = self.recent_statements.remove(k) {
                return Ok((
                    Event::Correction(Correction {
                        voids,
                        reason: label(format!("statement {voids} was recorded in error"))?,
                    }),
                    false,
                ));
            }
        }
        if (30..150).contains(&roll)
            && amendments_open
            && let Some(e) = self.amendment_step(r)?
        {
            return Ok((e, false));
        }
        if (150..153).contains(&roll) {
            self.registered += 1;
            let id: PartyId = format!("N{:05}", self.registered).parse()?;
            self.parts.push(Part {
                id: id.clone(),
                signed: false,
                instrument: None,
                denounced: None,
            });
            self.pending_accessions.push(self.parts.len() - 1);
            return Ok((
                Event::ParticipantRegistered(ParticipantRegistered {
                    participant: ParticipantSpec {
                        id,
                        name: label(format!("Synthetic New State {:05}", self.registered))?,
                        kind: ParticipantKind::State,
                        members: None,
                    },
                }),
                false,
            ));
        }
        if (153..163).contains(&roll)
            && let Some(i) = self.pending_accessions.pop()
        {
            self.deposit(i, r);
            return Ok((
                Event::Ratified(Ratified {
                    party: self.parts[i].id.clone(),
                    date: r,
                    instrument: InstrumentKind::Accession,
                    reference: None,
                }),
                false,
            ));
        }
        if (163..173).contains(&roll) && self.late_ratifications < 200 {
            let i = self.late_ratifications;
            self.late_ratifications += 1;
            self.deposit(i, r);
            return Ok((
                Event::Ratified(Ratified {
                    party: self.parts[i].id.clone(),
                    date: r,
                    instrument: InstrumentKind::Ratification,
                    reference: None,
                }),
                false,
            ));
        }
        if roll == 173 && self.denounced < 20 {
            let i = 27 + self.rng.below(173);
            if self.is_party(i, r) && self.parts[i].denounced.is_none() {
                self.parts[i].denounced = Some(r);
                self.denounced += 1;
                return Ok((
                    Event::Denounced(Denounced {
                        party: self.parts[i].id.clone(),
                        date: r,
                        reference: None,
                    }),
                    false,
                ));
            }
        }
        self.statement(seq, r)
    }

    fn statement(&mut self, seq: u64, r: Date) -> Result<(Event, bool)> {
        let i = self.rng.below(self.parts.len());
        let kind = StatementKind::ALL[self.rng.below(5)];
        self.statements += 1;
        self.recent_statements.push_back(Seq::new(seq)?);
        if self.recent_statements.len() > 1000 {
            self.recent_statements.pop_front();
        }
        let p = &self.parts[i];
        Ok((
            Event::Statement(Statement {
                party: p.id.clone(),
                date: r,
                kind,
                text: format!(
                    "Synthetic {} no. {} by {}: the Government designates its central authority under the Convention and gives notice of it.",
                    kind.as_str(),
                    self.statements,
                    p.id
                )
                .parse()?,
                reference: Some(label(format!("C.N.{}.{}.TREATIES-SYN.1", self.statements, 2000 + seq % 26))?),
            }),
            false,
        ))
    }

    fn amendment_step(&mut self, r: Date) -> Result<Option<Event>> {
        match &mut self.open {
            None => {
                for _ in 0..20 {
                    let i = self.rng.below(self.parts.len());
                    if self.is_party(i, r) {
                        self.amendments += 1;
                        let id: depositary_core::AmendmentId =
                            format!("A{}", self.amendments).parse()?;
                        self.open = Some(OpenAmendment {
                            id: id.clone(),
                            adopted: false,
                            acceptors: HashSet::new(),
                        });
                        return Ok(Some(Event::AmendmentProposed(AmendmentProposed {
                            amendment: id,
                            party: self.parts[i].id.clone(),
                            date: r,
                            title: label(format!("Synthetic amendment {}", self.amendments))?,
                            text_hash: None,
                            reference: None,
                        })));
                    }
                }
                Ok(None)
            }
            Some(a) if !a.adopted => {
                a.adopted = true;
                Ok(Some(Event::AmendmentAdopted(AmendmentAdopted {
                    amendment: a.id.clone(),
                    date: r,
                    reference: None,
                })))
            }
            Some(_) => {
                for _ in 0..20 {
                    let i = self.rng.below(self.parts.len());
                    let taken = self.open.as_ref().is_some_and(|a| a.acceptors.contains(&i));
                    if !taken && self.is_party(i, r) {
                        let Some(a) = self.open.as_mut() else {
                            return Ok(None);
                        };
                        a.acceptors.insert(i);
                        let id = a.id.clone();
                        if a.acceptors.len() >= 90 {
                            self.open = None;
                        }
                        return Ok(Some(Event::AmendmentAccepted(AmendmentAccepted {
                            amendment: id,
                            party: self.parts[i].id.clone(),
                            date: r,
                            reference: None,
                        })));
                    }
                }
                // No eligible Party found: leave this amendment where it is.
                self.open = None;
                Ok(None)
            }
        }
    }

    /// Seals the next entry and checks it against the rules.
    fn seal(&mut self, event: Event, by_root: bool) -> Result<depositary_core::VerifiedEntry> {
        let at = instant_of(self.t)?;
        self.t = (self.t + self.step).min(END);
        let key = if by_root { &self.root } else { &self.registrar };
        let v = self.chain.seal(event, at, key)?;
        fold(&mut self.facts, &v)
            .map_err(|e| anyhow!("the generator made an invalid entry: {e}"))?;
        Ok(v)
    }
}

/// Writes a ledger of `n` entries to `export` (JSON Lines) and, if `more` is given, `more_n`
/// further events that continue it to `more` (one event object a line, for `append
/// --events`, all signable by the root key).
pub fn generate(n: u64, export: &Path, more: Option<(&Path, u64)>) -> Result<Generated> {
    let total = n + more.map_or(0, |m| m.1);
    let mut g = Generator::new(total)?;
    let mut out = BufWriter::new(
        File::create(export).with_context(|| format!("cannot create {}", export.display()))?,
    );
    let genesis = g.seal(
        Event::TreatyRegistered(TreatyRegistered { treaty: treaty()? }),
        true,
    )?;
    out.write_all(genesis.line())?;
    out.write_all(b"\n")?;
    let first_registrar = Event::KeyAuthorized(KeyAuthorized {
        key: g.registrar.public(),
        name: "Synthetic registrar 1".parse()?,
        role: Role::Registrar,
    });
    let mut middle = None;
    let mut seq = 1;
    let mut pending = Some(first_registrar);
    while seq < n {
        let (e, root) = match pending.take() {
            Some(e) => (e, true),
            None => g.next_event(seq)?,
        };
        let v = g.seal(e, root)?;
        out.write_all(v.line())?;
        out.write_all(b"\n")?;
        if seq == n / 2 {
            middle = Some(date_of(g.t)?);
        }
        seq += 1;
    }
    out.flush()?;
    if let Some((path, more_n)) = more {
        let mut out = BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        for _ in 0..more_n {
            let (e, _) = g.next_event(seq)?;
            // Sealed and checked like the rest, with the root key (which `append` will use).
            let v = g.seal(e, true)?;
            serde_json::to_writer(&mut out, v.event())?;
            out.write_all(b"\n")?;
            seq += 1;
        }
        out.flush()?;
    }
    Ok(Generated {
        middle: middle.map_or_else(|| date_of(START), Ok)?,
    })
}
