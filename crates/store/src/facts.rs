//! The projection's records in SQLite tables (`p_*`), kept current by every append in the
//! same transaction as the entry, so that an append reads a few rows instead of replaying
//! the history. Reads are cached for the life of one [`SqlFacts`] (one transaction).

use std::cell::{Cell, Ref, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use depositary_core::event::StatementKind;
use depositary_core::{AmendmentId, Date, Entry, PartyId, Seq};
use depositary_projection::count::{EntryIntoForce, in_organization};
use depositary_projection::facts::{
    AdoptionAndAcceptance, Amendment, Dated, StatementCounts, StatementRecord, kind_index,
};
use depositary_projection::{Act, Facts, MemFacts, Participant, TreatyInfo};
use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;

/// The projection's records of one ledger, read and written through `conn`. Records read or
/// written are kept in memory for the life of the value (one transaction); changed records
/// are written back by [`SqlFacts::flush`], which the store calls before it commits.
pub struct SqlFacts<'c> {
    conn: &'c Connection,
    treaty: TreatyInfo,
    /// Participants read or written (`None`: known not to exist).
    participants: RefCell<HashMap<PartyId, Option<Participant>>>,
    /// Whether `participants` holds every participant.
    participants_complete: Cell<bool>,
    /// Amendments, once loaded (all at once: there are few).
    amendments: RefCell<Option<BTreeMap<AmendmentId, Amendment>>>,
    dirty_participants: BTreeSet<PartyId>,
    dirty_amendments: BTreeSet<AmendmentId>,
    eif: Cell<Option<EntryIntoForce>>,
}

fn seq_of(n: i64) -> Result<Seq, StoreError> {
    u64::try_from(n)
        .ok()
        .and_then(|n| Seq::new(n).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("entry number {n} is out of range")))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Corrupt(format!("the cached {what} record is unreadable: {e}")))
}

impl<'c> SqlFacts<'c> {
    fn with(conn: &'c Connection, treaty: TreatyInfo) -> SqlFacts<'c> {
        SqlFacts {
            conn,
            treaty,
            participants: RefCell::default(),
            participants_complete: Cell::new(false),
            amendments: RefCell::new(None),
            dirty_participants: BTreeSet::new(),
            dirty_amendments: BTreeSet::new(),
            eif: Cell::new(None),
        }
    }

    /// The records of the ledger behind `conn`.
    pub fn load(conn: &'c Connection) -> Result<SqlFacts<'c>, StoreError> {
        let info: String = conn
            .query_row("SELECT info FROM p_treaty WHERE id = 1", [], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::Corrupt("the ledger has no treaty record".into()))?;
        Ok(SqlFacts::with(conn, from_json("treaty", &info)?))
    }

    /// Writes the records of entry 0: the treaty and its registry.
    pub fn create(
        conn: &'c Connection,
        treaty: &depositary_core::Treaty,
    ) -> Result<SqlFacts<'c>, StoreError> {
        let info = TreatyInfo::of(treaty);
        conn.execute(
            "INSERT INTO p_treaty (id, info) VALUES (1, ?1)",
            [json(&info)?],
        )?;
        let mut facts = SqlFacts::with(conn, info);
        for spec in &treaty.participants {
            facts.put_participant(&Participant::registered(spec, Seq::GENESIS))?;
        }
        facts.participants_complete.set(true);
        facts.flush()?;
        Ok(facts)
    }

    /// Writes the records of `facts` (the records of a whole ledger, kept in memory while
    /// importing it) into the empty projection tables behind `conn`: all but the list of
    /// live statements, which the import writes as it goes (`insert_statement`,
    /// `delete_statement`).
    pub fn write_records(conn: &'c Connection, facts: &MemFacts) -> Result<(), StoreError> {
        let Ok(participants) = facts.participants();
        let Ok(amendments) = facts.amendments();
        let Ok(voided) = facts.voided();
        conn.execute(
            "INSERT INTO p_treaty (id, info) VALUES (1, ?1)",
            [json(facts.treaty())?],
        )?;
        let mut sql = SqlFacts::with(conn, facts.treaty().clone());
        for p in &participants {
            sql.put_participant(p)?;
        }
        for a in &amendments {
            sql.put_amendment(a)?;
        }
        let mut stmt = conn.prepare_cached("INSERT INTO p_voided (seq, by) VALUES (?1, ?2)")?;
        for (seq, by) in voided {
            stmt.execute([seq.get() as i64, by.get() as i64])?;
        }
        sql.flush()
    }

    /// Writes the changed records back.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let participants = self.participants.borrow();
        for id in std::mem::take(&mut self.dirty_participants) {
            match participants.get(&id) {
                Some(Some(p)) => {
                    self.conn
                        .prepare_cached(
                            "INSERT OR REPLACE INTO p_participants (id, rec) VALUES (?1, ?2)",
                        )?
                        .execute(params![id.as_str(), json(p)?])?;
                }
                _ => {
                    self.conn
                        .prepare_cached("DELETE FROM p_participants WHERE id = ?1")?
                        .execute([id.as_str()])?;
                }
            }
        }
        let amendments = self.amendments.borrow();
        for id in std::mem::take(&mut self.dirty_amendments) {
            match amendments.as_ref().and_then(|m| m.get(&id)) {
                Some(a) => {
                    self.conn
                        .prepare_cached(
                            "INSERT OR REPLACE INTO p_amendments (id, rec) VALUES (?1, ?2)",
                        )?
                        .execute(params![id.as_str(), json(a)?])?;
                }
                None => {
                    self.conn
                        .prepare_cached("DELETE FROM p_amendments WHERE id = ?1")?
                        .execute([id.as_str()])?;
                }
            }
        }
        Ok(())
    }

    fn load_all_participants(&self) -> Result<(), StoreError> {
        if self.participants_complete.get() {
            return Ok(());
        }
        let mut stmt = self.conn.prepare_cached("SELECT rec FROM p_participants")?;
        let mut cache = self.participants.borrow_mut();
        for rec in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let p: Participant = from_json("participant", &rec?)?;
            // Records changed in this transaction are newer than the table's.
            cache.entry(p.id.clone()).or_insert(Some(p));
        }
        self.participants_complete.set(true);
        Ok(())
    }

    fn all_amendments(&self) -> Result<Ref<'_, BTreeMap<AmendmentId, Amendment>>, StoreError> {
        if self.amendments.borrow().is_none() {
            let mut stmt = self.conn.prepare_cached("SELECT rec FROM p_amendments")?;
            let mut map = BTreeMap::new();
            for rec in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let a: Amendment = from_json("amendment", &rec?)?;
                map.insert(a.id.clone(), a);
            }
            *self.amendments.borrow_mut() = Some(map);
        }
        Ok(Ref::map(self.amendments.borrow(), |m| match m {
            Some(m) => m,
            None => &EMPTY_AMENDMENTS,
        }))
    }
}

/// What `all_amendments` lends before loading (never, since it loads first).
static EMPTY_AMENDMENTS: BTreeMap<AmendmentId, Amendment> = BTreeMap::new();

impl Facts for SqlFacts<'_> {
    type Error = StoreError;

    fn treaty(&self) -> &TreatyInfo {
        &self.treaty
    }

    fn participant(&self, id: &PartyId) -> Result<Option<Participant>, StoreError> {
        if let Some(known) = self.participants.borrow().get(id) {
            return Ok(known.clone());
        }
        if self.participants_complete.get() {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT rec FROM p_participants WHERE id = ?1")?;
        let rec: Option<String> = stmt.query_row([id.as_str()], |r| r.get(0)).optional()?;
        let p: Option<Participant> = rec.map(|r| from_json("participant", &r)).transpose()?;
        self.participants.borrow_mut().insert(id.clone(), p.clone());
        Ok(p)
    }

    fn participants(&self) -> Result<Vec<Participant>, StoreError> {
        self.load_all_participants()?;
        Ok(self
            .participants
            .borrow()
            .values()
            .flatten()
            .cloned()
            .collect())
    }

    fn voided(&self) -> Result<Vec<(Seq, Seq)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, by FROM p_voided ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| {
            let (seq, by) = r?;
            Ok((seq_of(seq)?, seq_of(by)?))
        })
        .collect()
    }

    fn for_each_statement(&self, f: &mut dyn FnMut(StatementRecord)) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, party, date, kind FROM p_statements ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let corrupt = |e: String| StoreError::Corrupt(format!("p_statements: {e}"));
        while let Some(row) = rows.next()? {
            let kind = row.get::<_, i64>(3)?;
            f((
                seq_of(row.get(0)?)?,
                row.get_ref(1)?
                    .as_str()
                    .map_err(rusqlite::Error::from)?
                    .parse()
                    .map_err(|e: depositary_core::ValueError| corrupt(e.to_string()))?,
                row.get_ref(2)?
                    .as_str()
                    .map_err(rusqlite::Error::from)?
                    .parse()
                    .map_err(|e: depositary_core::ValueError| corrupt(e.to_string()))?,
                *usize::try_from(kind)
                    .ok()
                    .and_then(|k| StatementKind::ALL.get(k))
                    .ok_or_else(|| corrupt(format!("statement kind {kind}")))?,
            ));
        }
        Ok(())
    }

    fn entry_into_force(&self) -> Result<EntryIntoForce, StoreError> {
        if let Some(e) = self.eif.get() {
            return Ok(e);
        }
        self.load_all_participants()?;
        let cache = self.participants.borrow();
        let e = EntryIntoForce::compute(&self.treaty.rules, cache.values().flatten(), Date::LAST);
        self.eif.set(Some(e));
        Ok(e)
    }

    fn amendment(&self, id: &AmendmentId) -> Result<Option<Amendment>, StoreError> {
        Ok(self.all_amendments()?.get(id).cloned())
    }

    fn amendments(&self) -> Result<Vec<Amendment>, StoreError> {
        if self.amendments.borrow().is_some() {
            return Ok(self.all_amendments()?.values().cloned().collect());
        }
        // Not cached yet (a status reads them once): read them straight into the list.
        let mut stmt = self.conn.prepare_cached("SELECT rec FROM p_amendments")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|rec| from_json("amendment", &rec?)).collect()
    }

    fn act(&self, seq: Seq) -> Result<Option<Act>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT line FROM entries WHERE seq = ?1")?;
        let line: Option<Vec<u8>> = stmt
            .query_row([seq.get() as i64], |r| r.get(0))
            .optional()?;
        let Some(line) = line else { return Ok(None) };
        let entry: Entry = serde_json::from_slice(&line)
            .map_err(|e| StoreError::Corrupt(format!("entry {seq} is unreadable: {e}")))?;
        Ok(Some(Act::of(&entry.event)))
    }

    fn is_voided(&self, seq: Seq) -> Result<bool, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM p_voided WHERE seq = ?1")?;
        Ok(stmt.exists([seq.get() as i64])?)
    }

    fn statement_counts(
        &self,
        as_of: Date,
    ) -> Result<BTreeMap<PartyId, StatementCounts>, StoreError> {
        let latest: Option<String> =
            self.conn
                .query_row("SELECT max(date) FROM p_statements", [], |r| r.get(0))?;
        let everything = latest.is_none_or(|l| l.as_str() <= as_of.to_string().as_str());
        let mut out: BTreeMap<PartyId, StatementCounts> = BTreeMap::new();
        if everything {
            // Every live statement is dated on or before `as_of`: the participants' own
            // counts answer without a scan.
            self.load_all_participants()?;
            for p in self.participants.borrow().values().flatten() {
                if p.statements.iter().any(|n| *n > 0) {
                    out.insert(p.id.clone(), p.statements);
                }
            }
            return Ok(out);
        }
        // Counted here rather than by SQL's GROUP BY, which would sort every row; the
        // covering index (date, party, kind) gives the rows on or before `as_of` in order.
        let mut counts: HashMap<String, StatementCounts> = HashMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT party, kind FROM p_statements INDEXED BY p_statements_date WHERE date <= ?1",
        )?;
        let mut rows = stmt.query([as_of.to_string()])?;
        while let Some(row) = rows.next()? {
            let party = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            let kind = row.get::<_, i64>(1)?;
            let slot = usize::try_from(kind)
                .ok()
                .filter(|k| *k < 5)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "p_statements: statement kind {kind} is out of range"
                    ))
                })?;
            match counts.get_mut(party) {
                Some(c) => c[slot] += 1,
                None => {
                    let mut c = StatementCounts::default();
                    c[slot] = 1;
                    counts.insert(party.to_owned(), c);
                }
            }
        }
        for (party, c) in counts {
            let party: PartyId = party.parse().map_err(|e: depositary_core::ValueError| {
                StoreError::Corrupt(format!("p_statements: {e}"))
            })?;
            out.insert(party, c);
        }
        Ok(out)
    }

    fn put_participant(&mut self, p: &Participant) -> Result<(), StoreError> {
        let mut cache = self.participants.borrow_mut();
        let old = cache.insert(p.id.clone(), Some(p.clone()));
        // The entry into force depends on instruments alone; a record not read before may
        // have had one. While it is cached, every participant is (it was computed from all).
        let old = match old {
            Some(Some(o)) => Some(o.instrument),
            Some(None) => Some(None),
            // Not read before: unknown, unless every record was read (a new participant).
            None if self.participants_complete.get() => Some(None),
            None => None,
        };
        if old != Some(p.instrument) {
            let next = match (old, p.instrument, self.eif.get()) {
                (Some(None), Some(new), Some(eif)) => {
                    eif.with_late_deposit(&self.treaty.rules, p, new.date, || {
                        in_organization(cache.values().flatten(), &p.id)
                    })
                }
                _ => None,
            };
            self.eif.set(next);
        }
        self.dirty_participants.insert(p.id.clone());
        Ok(())
    }

    fn put_amendment(&mut self, a: &Amendment) -> Result<(), StoreError> {
        drop(self.all_amendments()?);
        if let Some(map) = self.amendments.borrow_mut().as_mut() {
            map.insert(a.id.clone(), a.clone());
        }
        self.dirty_amendments.insert(a.id.clone());
        Ok(())
    }

    fn adoption_and_acceptance(
        &self,
        id: &AmendmentId,
        party: &PartyId,
    ) -> Result<Option<AdoptionAndAcceptance>, StoreError> {
        Ok(self
            .all_amendments()?
            .get(id)
            .map(|a| a.adoption_and_acceptance(party)))
    }

    fn add_acceptance(
        &mut self,
        id: &AmendmentId,
        party: &PartyId,
        d: Dated,
    ) -> Result<(), StoreError> {
        drop(self.all_amendments()?);
        if let Some(a) = self
            .amendments
            .borrow_mut()
            .as_mut()
            .and_then(|m| m.get_mut(id))
        {
            a.acceptances.insert(party.clone(), d);
            self.dirty_amendments.insert(id.clone());
        }
        Ok(())
    }

    fn add_statement(&mut self, id: &PartyId, kind: StatementKind) -> Result<bool, StoreError> {
        // Read the record into the cache if it is not there, then count in place.
        if !self.participants.borrow().contains_key(id) {
            drop(self.participant(id)?);
        }
        let mut cache = self.participants.borrow_mut();
        let Some(Some(p)) = cache.get_mut(id) else {
            return Ok(false);
        };
        p.statements[kind_index(kind)] += 1;
        // A statement changes no instrument: the cached entry into force stands.
        if !self.dirty_participants.contains(id) {
            self.dirty_participants.insert(id.clone());
        }
        Ok(true)
    }

    fn remove_participant(&mut self, id: &PartyId) -> Result<(), StoreError> {
        self.participants.borrow_mut().insert(id.clone(), None);
        self.eif.set(None);
        self.dirty_participants.insert(id.clone());
        Ok(())
    }

    fn remove_amendment(&mut self, id: &AmendmentId) -> Result<(), StoreError> {
        drop(self.all_amendments()?);
        if let Some(map) = self.amendments.borrow_mut().as_mut() {
            map.remove(id);
        }
        self.dirty_amendments.insert(id.clone());
        Ok(())
    }

    fn record_act(&mut self, seq: Seq, act: &Act) -> Result<(), StoreError> {
        if let Act::Statement { party, date, kind } = act {
            insert_statement(self.conn, seq, party, *date, *kind)?;
        }
        Ok(())
    }

    fn void(&mut self, seq: Seq, by: Seq, act: &Act) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO p_voided (seq, by) VALUES (?1, ?2)")?
            .execute([seq.get() as i64, by.get() as i64])?;
        if let Act::Statement { .. } = act {
            delete_statement(self.conn, seq)?;
        }
        Ok(())
    }
}

/// Lists the statement at `seq` among the live ones.
pub(crate) fn insert_statement(
    conn: &Connection,
    seq: Seq,
    party: &PartyId,
    date: Date,
    kind: StatementKind,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO p_statements (seq, party, date, kind) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        seq.get() as i64,
        party.as_str(),
        date.to_string(),
        kind_index(kind) as i64
    ])?;
    Ok(())
}

/// Strikes the statement at `seq` from the live ones (a correction voided it).
pub(crate) fn delete_statement(conn: &Connection, seq: Seq) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM p_statements WHERE seq = ?1")?
        .execute([seq.get() as i64])?;
    Ok(())
}
