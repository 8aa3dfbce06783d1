//! Depositary's store: one treaty's ledger in one SQLite file. The only crate that knows
//! SQL.
//!
//! Entries are only ever appended: triggers make UPDATE and DELETE of the `entries` table
//! fail, and every append reads the head, checks, signs and inserts inside one write
//! transaction (`BEGIN IMMEDIATE`), so concurrent appenders queue instead of forking the
//! chain. Beside the entries the store keeps the projection's records (`p_*` tables) and
//! the keys, updated in the same transaction; `verify` rebuilds them from the entries and
//! compares.

#![deny(missing_docs)]

mod facts;

use std::path::{Path, PathBuf};
use std::time::Duration;

use depositary_core::chain::KeyRecord;
use depositary_core::event::{Role, StatementKind};
use depositary_core::stream::{StreamError, verify_stream_from};
use depositary_core::{
    Chain, ChainError, Date, EntryHash, Event, Head, Instant, KeyRing, PartyId, PublicKey,
    SecretKey, Seq, Treaty, VerifiedEntry,
};
use depositary_projection::{
    Act, ApplyError, Facts, MemFacts, RuleError, TreatyInfo, apply, fold, party_about,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

pub use facts::SqlFacts;

/// `PRAGMA application_id` of a Depositary ledger: "DEP1".
pub const APPLICATION_ID: i32 = 0x4445_5031;
/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// What can go wrong with a ledger file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No file at the path.
    #[error(
        "no ledger at {0}: create one with `depositary init` (or give the path with --ledger or DEPOSITARY_LEDGER)"
    )]
    NoLedger(PathBuf),
    /// A file exists where a new ledger was to be created.
    #[error("{0} already exists; a new ledger needs a new file")]
    Exists(PathBuf),
    /// The file is not a Depositary ledger.
    #[error("{path} is not a Depositary ledger: {reason}")]
    NotALedger {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// A ledger written by a newer version.
    #[error(
        "{path} has ledger schema version {found}; this build reads version {SCHEMA_VERSION}: upgrade depositary"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i32,
    },
    /// The system clock is outside the years 1 to 9999.
    #[error("the system clock is unusable (outside the years 1 to 9999)")]
    Clock,
    /// The ledger has no entries yet.
    #[error("the ledger is empty: write entry 0 with `depositary init`")]
    Empty,
    /// An entry does not belong in the chain (authority, time, ...).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// An entry breaks a rule of the treaty.
    #[error("entry {seq}: {rule}")]
    Rule {
        /// The entry.
        seq: Seq,
        /// The rule.
        rule: RuleError,
    },
    /// An event to append breaks a rule of the treaty (nothing was written).
    #[error("refused: {0}")]
    Refused(RuleError),
    /// Appending the event labelled `label` failed.
    #[error("event {label}: {source}")]
    Event {
        /// The label the caller gave it (a line number).
        label: u64,
        /// What went wrong.
        source: Box<StoreError>,
    },
    /// The events to append could not be read (the error names where).
    #[error(transparent)]
    Input(Box<dyn std::error::Error + Send + Sync>),
    /// No event was given.
    #[error("there is no event to append")]
    NothingToAppend,
    /// The file's contents are damaged or were changed outside Depositary.
    #[error("the ledger file is damaged: {0}")]
    Corrupt(String),
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl From<ApplyError<StoreError>> for StoreError {
    fn from(e: ApplyError<StoreError>) -> StoreError {
        match e {
            ApplyError::Rule { seq, rule } => StoreError::Rule { seq, rule },
            ApplyError::Facts(e) => e,
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

/// When an appended entry is recorded.
pub enum RecordTime<'a> {
    /// The clock, read once the write lock is held (so that concurrent appenders' record
    /// times follow their order in the chain). `None` if the clock is unusable.
    Clock(&'a dyn Fn() -> Option<Instant>),
    /// A given instant (for migrating records kept elsewhere, and for fixtures).
    At(Instant),
}

impl RecordTime<'_> {
    fn get(&self) -> Result<Instant, StoreError> {
        match self {
            RecordTime::Clock(now) => now().ok_or(StoreError::Clock),
            RecordTime::At(t) => Ok(*t),
        }
    }
}

/// What an append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The first entry written.
    pub first: Seq,
    /// The new head.
    pub head: Head,
    /// How many entries.
    pub count: u64,
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    type TEXT NOT NULL,
    party TEXT,
    line BLOB NOT NULL
) STRICT;
CREATE TRIGGER entries_append_only_insert BEFORE INSERT ON entries
WHEN NEW.seq <= (SELECT max(seq) FROM entries)
BEGIN SELECT RAISE(ABORT, 'depositary: ledger entries are append-only'); END;
CREATE TRIGGER entries_append_only_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'depositary: ledger entries are append-only'); END;
CREATE TRIGGER entries_append_only_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'depositary: ledger entries are append-only'); END;
CREATE TABLE keys (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    authorized_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE TABLE p_treaty (id INTEGER PRIMARY KEY CHECK (id = 1), info TEXT NOT NULL) STRICT;
CREATE TABLE p_participants (id TEXT PRIMARY KEY, rec TEXT NOT NULL) STRICT;
CREATE TABLE p_amendments (id TEXT PRIMARY KEY, rec TEXT NOT NULL) STRICT;
CREATE TABLE p_statements (seq INTEGER PRIMARY KEY, party TEXT NOT NULL, date TEXT NOT NULL, kind INTEGER NOT NULL) STRICT;
CREATE TABLE p_voided (seq INTEGER PRIMARY KEY, by INTEGER NOT NULL) STRICT;
";

/// The schema's indexes: a new ledger's import drops them and builds them once at the end,
/// which sorts once instead of inserting a million times into a tree in random order.
const INDEXES: &str = "
CREATE INDEX entries_party ON entries (party, seq);
CREATE INDEX p_statements_date ON p_statements (date, party, kind);
";
const DROP_INDEXES: &str = "DROP INDEX entries_party; DROP INDEX p_statements_date;";

/// One ledger file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

/// Removes a ledger file that was being created, with its WAL files.
fn remove_new_file(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

impl Store {
    /// Opens an existing ledger, checking that it is one and that this build reads it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoLedger(path.to_owned()));
        }
        let not_a_ledger = |reason: String| StoreError::NotALedger {
            path: path.to_owned(),
            reason,
        };
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(not_a_ledger("the file is empty".into()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| not_a_ledger(e.to_string()))?;
        configure(&conn).map_err(|e| not_a_ledger(e.to_string()))?;
        let (app, version): (i32, i32) = conn
            .query_row(
                "SELECT * FROM pragma_application_id, pragma_user_version",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| not_a_ledger(format!("not a readable SQLite database ({e})")))?;
        if app != APPLICATION_ID {
            return Err(not_a_ledger(format!(
                "its SQLite application_id is {app:#x}, not Depositary's {APPLICATION_ID:#x}"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_owned(),
                found: version,
            });
        }
        if version < SCHEMA_VERSION {
            return Err(not_a_ledger(format!("unknown schema version {version}")));
        }
        let format: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| not_a_ledger(e.to_string()))?;
        if format.as_deref() != Some("depositary-ledger") {
            return Err(not_a_ledger(
                "its meta table does not name the format".into(),
            ));
        }
        for table in [
            "entries",
            "keys",
            "p_treaty",
            "p_participants",
            "p_amendments",
            "p_statements",
            "p_voided",
        ] {
            let present: bool = conn
                .query_row(
                    "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .map_err(|e| not_a_ledger(e.to_string()))?;
            if !present {
                return Err(not_a_ledger(format!("its table {table} is missing")));
            }
        }
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// Creates an empty ledger file (no entries) at `path`, which must not exist.
    fn create_file(path: &Path) -> Result<Store, StoreError> {
        if path.exists() {
            return Err(StoreError::Exists(path.to_owned()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        let result = (|| -> Result<(), rusqlite::Error> {
            // While it is built under its temporary name the file keeps a rollback journal,
            // which for pages the file did not have before costs nothing (they are not
            // journaled), where WAL would write every page twice; `create_with` turns WAL
            // on once it is filled.
            conn.pragma_update(None, "journal_mode", "DELETE")?;
            configure(&conn)?;
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            conn.execute_batch(SCHEMA)?;
            conn.execute_batch(INDEXES)?;
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('format', 'depositary-ledger'), ('format_version', '1')",
                [],
            )?;
            Ok(())
        })();
        match result {
            Ok(()) => Ok(Store {
                conn,
                path: path.to_owned(),
            }),
            Err(e) => {
                drop(conn);
                remove_new_file(path);
                Err(e.into())
            }
        }
    }

    /// Creates a ledger at `path` whose entry 0 registers `treaty`, signed by `key` (which
    /// becomes the first root key). Nothing is left at `path` on error or crash.
    pub fn init(
        path: &Path,
        treaty: Treaty,
        key: &SecretKey,
        time: RecordTime<'_>,
    ) -> Result<(Store, VerifiedEntry), StoreError> {
        Store::create_with(path, |store| store.write_genesis(treaty, key, time))
    }

    /// Builds a new ledger for `path` under a temporary name beside it and gives it its
    /// name, by a hard link that never replaces a file, only once `fill` has committed. A
    /// crash or an error therefore never leaves a half-made ledger at `path` (at most a
    /// stray `.NAME.new-*` file beside it).
    fn create_with<T, E: From<StoreError>>(
        path: &Path,
        fill: impl FnOnce(&mut Store) -> Result<T, E>,
    ) -> Result<(Store, T), E> {
        if path.exists() {
            return Err(StoreError::Exists(path.to_owned()).into());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = path.with_file_name(format!(".{name}.new-{}-{nanos}", std::process::id()));
        let mut store = Store::create_file(&tmp)?;
        let out = match fill(&mut store) {
            Ok(out) => out,
            Err(e) => {
                drop(store);
                remove_new_file(&tmp);
                return Err(e);
            }
        };
        // From now on the ledger has readers and writers side by side: WAL. The file alone
        // is then the whole ledger (WAL mode lives in its header).
        if let Err(e) = store.conn.pragma_update(None, "journal_mode", "WAL") {
            drop(store);
            remove_new_file(&tmp);
            return Err(StoreError::from(e).into());
        }
        drop(store);
        let published = match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StoreError::Exists(path.to_owned()))
            }
            // A file system without hard links: rename, having checked the name is free.
            Err(_) if !path.exists() => std::fs::rename(&tmp, path).map_err(|e| {
                StoreError::Corrupt(format!(
                    "cannot name the new ledger {}: {e}",
                    path.display()
                ))
            }),
            Err(_) => Err(StoreError::Exists(path.to_owned())),
        };
        remove_new_file(&tmp);
        published?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the new name durable.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok((Store::open(path)?, out))
    }

    fn write_genesis(
        &mut self,
        treaty: Treaty,
        key: &SecretKey,
        time: RecordTime<'_>,
    ) -> Result<VerifiedEntry, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut chain = Chain::new(None);
        let event = Event::TreatyRegistered(depositary_core::event::TreatyRegistered { treaty });
        let v = chain.seal(event, time.get()?, key)?;
        write_verified(&tx, &v, None)?;
        genesis_records(&tx, &v)?;
        write_keys(&tx, chain.keys())?;
        tx.commit()?;
        Ok(v)
    }

    /// Gives this connection 64 MiB of page cache, so that large appends and imports do not
    /// re-read index pages from the file. Readers keep SQLite's small default.
    fn large_cache(&self) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "cache_size", -65536)?;
        Ok(())
    }

    /// The path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last entry, if any.
    pub fn head(&self) -> Result<Option<Head>, StoreError> {
        read_head(&self.conn)
    }

    /// The treaty, once entry 0 is written.
    pub fn treaty(&self) -> Result<TreatyInfo, StoreError> {
        Ok(SqlFacts::load(&self.conn)?.treaty().clone())
    }

    /// The key that signed entry 0.
    pub fn root_key(&self) -> Result<Option<PublicKey>, StoreError> {
        let key: Option<String> = self
            .conn
            .query_row("SELECT key FROM keys WHERE authorized_at = 0", [], |r| {
                r.get(0)
            })
            .optional()?;
        key.map(|k| {
            k.parse()
                .map_err(|e| StoreError::Corrupt(format!("keys: {e}")))
        })
        .transpose()
    }

    /// Appends `events`, all or none, each signed by `key` and checked against the chain
    /// (authority, record time) and the treaty's rules as the ledger stands before it.
    ///
    /// Each event comes with a label of the caller's choosing (a line number), which errors
    /// name. Events are read from the iterator as they are needed, so a million of them are
    /// never all in memory; an error from the iterator stops the append, and nothing is
    /// written. At least one event is needed.
    pub fn append<I, E>(
        &mut self,
        events: I,
        key: &SecretKey,
        time: RecordTime<'_>,
    ) -> Result<Appended, StoreError>
    where
        I: IntoIterator<Item = Result<(u64, Event), E>>,
        I::IntoIter: Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.large_cache()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head = read_head(&tx)?.ok_or(StoreError::Empty)?;
        let mut chain = Chain::resume(head, read_keys(&tx)?);
        let mut facts = SqlFacts::load(&tx)?;
        let recorded_at = time.get()?;
        let first = chain.next_seq()?;
        // Three stages on three threads: one reads (parses) the events, one seals (signs)
        // them in order, and this one checks each against the rules and writes it. Signing
        // is the slow part and depends only on the entry before, so reading, the rules and
        // SQL run beside it. Any error stops all three, and nothing is committed.
        // Entries go across in batches, so that the threads do not wake each other for
        // every entry.
        type Sealed = (u64, Result<(VerifiedEntry, Option<KeyRing>), StoreError>);
        const BATCH: usize = 64;
        let events = events.into_iter();
        let (count, head) = std::thread::scope(|scope| -> Result<(u64, Head), StoreError> {
            let (to_writer, sealed) = std::sync::mpsc::sync_channel::<Vec<Sealed>>(8);
            let (to_sealer, read) =
                std::sync::mpsc::sync_channel::<Vec<Result<(u64, Event), E>>>(8);
            scope.spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                for item in events {
                    let stop = item.is_err();
                    batch.push(item);
                    if stop || batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if to_sealer.send(full).is_err() || stop {
                            return;
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = to_sealer.send(batch);
                }
            });
            let sealer = scope.spawn(move || {
                let mut label = 0;
                let mut batch = Vec::with_capacity(BATCH);
                for item in read.into_iter().flatten() {
                    let result = match item {
                        Ok((l, event)) => {
                            label = l;
                            let keys_change = event.needs_root();
                            chain
                                .seal(event, recorded_at, key)
                                .map(|v| (v, keys_change.then(|| chain.keys().clone())))
                                .map_err(StoreError::from)
                        }
                        Err(e) => Err(StoreError::Input(Box::new(e))),
                    };
                    let stop = result.is_err();
                    batch.push((label, result));
                    if stop || batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if to_writer.send(full).is_err() || stop {
                            return chain.head().copied();
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = to_writer.send(batch);
                }
                chain.head().copied()
            });
            let mut count = 0;
            for (label, result) in sealed.into_iter().flatten() {
                let one = (|| {
                    let (v, keys) = result?;
                    apply(&mut facts, &v).map_err(|e| match e {
                        ApplyError::Rule { rule, .. } => StoreError::Refused(rule),
                        other => StoreError::from(other),
                    })?;
                    write_verified(&tx, &v, Some(&facts))?;
                    if let Some(keys) = keys {
                        write_keys(&tx, &keys)?;
                    }
                    Ok(())
                })();
                one.map_err(|source| match source {
                    // The reader's own error names its place already.
                    StoreError::Input(e) => StoreError::Input(e),
                    source => StoreError::Event {
                        label,
                        source: Box::new(source),
                    },
                })?;
                count += 1;
            }
            let head = sealer
                .join()
                .map_err(|_| StoreError::Corrupt("internal: the signing thread failed".into()))?
                .ok_or(StoreError::Empty)?;
            Ok((count, head))
        })?;
        if count == 0 {
            return Err(StoreError::NothingToAppend);
        }
        facts.flush()?;
        drop(facts);
        tx.commit()?;
        Ok(Appended { first, head, count })
    }

    /// Imports the lines of an export into this ledger, which must be empty or hold a
    /// prefix of the export (same entries, same hashes). Everything is verified before
    /// anything is kept: on error the ledger is as it was.
    pub fn import<I, E>(&mut self, lines: I, threads: usize) -> Result<Appended, ImportError<E>>
    where
        I: IntoIterator<Item = Result<Vec<u8>, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.large_cache().map_err(ImportError::Store)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| ImportError::Store(e.into()))?;
        let mut lines = lines.into_iter();
        let existing = read_head(&tx).map_err(ImportError::Store)?;
        let mut chain = match existing {
            None => Chain::new(None),
            Some(head) => {
                // The export must begin with this ledger's own entries.
                for seq in 0..=head.seq.get() {
                    let line = match lines.next() {
                        Some(Ok(l)) => l,
                        Some(Err(e)) => {
                            return Err(ImportError::Input {
                                line: seq + 1,
                                source: e,
                            });
                        }
                        None => {
                            return Err(ImportError::Diverges {
                                seq,
                                reason: "the export ends before this ledger's head".into(),
                            });
                        }
                    };
                    let stored: Option<String> = tx
                        .query_row(
                            "SELECT hash FROM entries WHERE seq = ?1",
                            [seq as i64],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(|e| ImportError::Store(e.into()))?;
                    let ours = depositary_core::entry::entry_hash(&line).to_hex();
                    if stored.as_deref() != Some(ours.as_str()) {
                        return Err(ImportError::Diverges {
                            seq,
                            reason: "the export's entry differs from this ledger's".into(),
                        });
                    }
                }
                Chain::resume(head, read_keys(&tx).map_err(ImportError::Store)?)
            }
        };
        let first = chain.next_seq().map_err(|e| ImportError::Store(e.into()))?;
        let mut facts: Option<SqlFacts<'_>> = match existing {
            Some(_) => Some(SqlFacts::load(&tx).map_err(ImportError::Store)?),
            None => None,
        };
        let mut count = 0u64;
        let first_line = existing.map_or(1, |h| h.seq.get() + 2);
        let result = verify_stream_from(
            &mut chain,
            lines.map(|r| r.map_err(Wrapped::Input)),
            first_line,
            threads,
            depositary_core::stream::DEFAULT_CHUNK,
            |v| {
                let v = &v;
                match facts.as_mut() {
                    None => {
                        write_verified(&tx, v, None).map_err(Wrapped::Store)?;
                        facts = Some(genesis_records(&tx, v).map_err(Wrapped::Store)?);
                    }
                    Some(f) => {
                        apply(f, v).map_err(|e| Wrapped::Store(e.into()))?;
                        write_verified(&tx, v, Some(f)).map_err(Wrapped::Store)?;
                    }
                }
                count += 1;
                Ok(())
            },
        );
        let head = match result {
            Ok(head) => head,
            Err(StreamError::Empty) if existing.is_some() => existing.ok_or(ImportError::Empty)?,
            Err(e) => return Err(ImportError::from_stream(e)),
        };
        write_keys(&tx, chain.keys()).map_err(ImportError::Store)?;
        if let Some(f) = facts.as_mut() {
            f.flush().map_err(ImportError::Store)?;
        }
        drop(facts);
        tx.commit().map_err(|e| ImportError::Store(e.into()))?;
        Ok(Appended { first, head, count })
    }

    /// Imports a whole export into this new, empty ledger. Verification runs as `verify`
    /// does, folding the records in memory, while a second connection on a thread of its
    /// own inserts the entries (and the live statements, as they come); the other records
    /// and the indexes are written at the end, and everything is committed at once, or
    /// nothing.
    fn import_fresh<I, E>(&mut self, lines: I, threads: usize) -> Result<Appended, ImportError<E>>
    where
        I: IntoIterator<Item = Result<Vec<u8>, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        enum ToWriter {
            Entries(Vec<NewRow>),
            Finish(Box<(MemFacts, KeyRing)>),
        }
        const BATCH: usize = 256;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut writer_conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| ImportError::Store(e.into()))?;
        configure(&writer_conn).map_err(|e| ImportError::Store(e.into()))?;
        writer_conn
            .pragma_update(None, "cache_size", -65536)
            .map_err(|e| ImportError::Store(e.into()))?;
        let mut chain = Chain::new(None);
        std::thread::scope(|scope| {
            let (to_writer, received) = std::sync::mpsc::sync_channel::<ToWriter>(16);
            let writer = scope.spawn(move || -> Result<(), StoreError> {
                let tx = writer_conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute_batch(DROP_INDEXES)?;
                for message in received {
                    match message {
                        ToWriter::Entries(batch) => {
                            for row in &batch {
                                row.write(&tx)?;
                            }
                        }
                        ToWriter::Finish(done) => {
                            let (facts, keys) = *done;
                            SqlFacts::write_records(&tx, &facts)?;
                            write_keys(&tx, &keys)?;
                            tx.execute_batch(INDEXES)?;
                            tx.commit()?;
                            return Ok(());
                        }
                    }
                }
                // The verifier stopped: dropping the transaction rolls everything back.
                Err(StoreError::Corrupt(
                    "the import stopped before its end".into(),
                ))
            });
            let mut facts: Option<MemFacts> = None;
            let mut batch = Vec::with_capacity(BATCH);
            let mut count = 0u64;
            let writer_gone = || {
                Wrapped::Store(StoreError::Corrupt(
                    "internal: the writing thread stopped".into(),
                ))
            };
            let result = verify_stream_from(
                &mut chain,
                lines.into_iter().map(|r| r.map_err(Wrapped::Input)),
                1,
                threads,
                depositary_core::stream::DEFAULT_CHUNK,
                |v| {
                    fold(&mut facts, &v).map_err(|e| match e {
                        ApplyError::Rule { seq, rule } => {
                            Wrapped::Store(StoreError::Rule { seq, rule })
                        }
                        other => Wrapped::Store(StoreError::Corrupt(other.to_string())),
                    })?;
                    batch.push(NewRow::of(v, facts.as_ref()));
                    count += 1;
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        to_writer
                            .send(ToWriter::Entries(full))
                            .map_err(|_| writer_gone())?;
                    }
                    Ok(())
                },
            );
            let finished = result.and_then(|head| {
                let facts = facts.take().ok_or(StreamError::Empty)?;
                let sent = to_writer
                    .send(ToWriter::Entries(std::mem::take(&mut batch)))
                    .and_then(|()| {
                        to_writer.send(ToWriter::Finish(Box::new((facts, chain.keys().clone()))))
                    });
                Ok((head, sent.is_ok()))
            });
            drop(to_writer);
            let written = writer.join();
            match finished {
                Err(e) => Err(ImportError::from_stream(e)),
                Ok((head, _)) => match written {
                    Ok(Ok(())) => Ok(Appended {
                        first: Seq::GENESIS,
                        head,
                        count,
                    }),
                    Ok(Err(e)) => Err(ImportError::Store(e)),
                    Err(_) => Err(ImportError::Store(StoreError::Corrupt(
                        "internal: the writing thread failed".into(),
                    ))),
                },
            }
        })
    }

    /// Creates a ledger at `path` from an export. Nothing is left behind on error.
    pub fn import_new<I, E>(
        path: &Path,
        lines: I,
        threads: usize,
    ) -> Result<(Store, Appended), ImportError<E>>
    where
        I: IntoIterator<Item = Result<Vec<u8>, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        Store::create_with(path, |store| store.import_fresh(lines, threads))
    }

    /// Reads a consistent snapshot of the ledger: everything read through `f` sees the same
    /// entries, whatever appenders do meanwhile.
    pub fn snapshot<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Snapshot<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(StoreError::from)?;
        // The first read fixes the snapshot.
        let head = read_head(&tx)?;
        let out = f(&Snapshot { conn: &tx, head })?;
        tx.finish().map_err(StoreError::from)?;
        Ok(out)
    }
}

/// A read-only view of the ledger at one moment.
pub struct Snapshot<'c> {
    conn: &'c Connection,
    head: Option<Head>,
}

/// One entry as the log lists it.
#[derive(Debug, Clone)]
pub struct LogRow {
    /// The entry.
    pub entry: depositary_core::Entry,
    /// Its hash.
    pub hash: EntryHash,
    /// Whether a correction voided it.
    pub voided_by: Option<Seq>,
}

/// One row of the entries table: the line and the columns the store derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The `seq` column.
    pub seq: i64,
    /// The `hash` column, if it holds a hash.
    pub hash: Option<EntryHash>,
    /// The `recorded_at` column, if it holds an instant.
    pub recorded_at: Option<Instant>,
    /// The `type` column.
    pub event_type: String,
    /// The `party` column.
    pub party: Option<String>,
    /// The line itself.
    pub line: Vec<u8>,
}

/// Pages of rows read in seq order.
pub struct Rows<'c> {
    conn: &'c Connection,
    next: i64,
    end: i64,
    page: std::collections::VecDeque<Row>,
}

impl Iterator for Rows<'_> {
    type Item = Result<Row, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && self.next <= self.end {
            const PAGE: i64 = 4096;
            let result = (|| -> Result<(), rusqlite::Error> {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT seq, hash, recorded_at, type, party, line FROM entries WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                )?;
                let mut rows = stmt.query(params![self.next, self.end, PAGE])?;
                while let Some(row) = rows.next()? {
                    let r = Row {
                        seq: row.get(0)?,
                        hash: row.get_ref(1)?.as_str().ok().and_then(|h| h.parse().ok()),
                        recorded_at: row.get_ref(2)?.as_str().ok().and_then(|t| t.parse().ok()),
                        event_type: row.get(3)?,
                        party: row.get(4)?,
                        line: row.get(5)?,
                    };
                    self.next = r.seq + 1;
                    self.page.push_back(r);
                }
                Ok(())
            })();
            if let Err(e) = result {
                self.next = self.end + 1;
                return Some(Err(e.into()));
            }
            if self.page.is_empty() {
                self.next = self.end + 1;
            }
        }
        self.page.pop_front().map(Ok)
    }
}

impl<'c> Snapshot<'c> {
    /// The head of the snapshot.
    pub fn head(&self) -> Option<Head> {
        self.head
    }

    /// The lines of every entry, in seq order (as the `seq` column orders them).
    pub fn lines(&self) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + 'c {
        self.rows().map(|r| r.map(|row| row.line))
    }

    /// Every row of the entries table, in seq order.
    pub fn rows(&self) -> Rows<'c> {
        Rows {
            conn: self.conn,
            next: 0,
            end: self.head.map_or(-1, |h| h.seq.get() as i64),
            page: Default::default(),
        }
    }

    /// The lines of entries 0 to `last`, in seq order.
    pub fn lines_to(&self, last: Seq) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + 'c {
        let mut rows = self.rows();
        rows.end = rows.end.min(last.get() as i64);
        rows.map(|r| r.map(|row| row.line))
    }

    /// The last entry recorded at or before `t`, if any.
    pub fn last_recorded_by(&self, t: Instant) -> Result<Option<Seq>, StoreError> {
        let seq: Option<i64> = self.conn.query_row(
            "SELECT max(seq) FROM entries WHERE recorded_at <= ?1",
            [t.to_string()],
            |r| r.get(0),
        )?;
        Ok(seq
            .and_then(|s| u64::try_from(s).ok())
            .and_then(|s| Seq::new(s).ok()))
    }

    /// The projection's records as the store keeps them.
    pub fn facts(&self) -> Result<SqlFacts<'c>, StoreError> {
        SqlFacts::load(self.conn)
    }

    /// The keys as the store keeps them.
    pub fn keys(&self) -> Result<KeyRing, StoreError> {
        read_keys(self.conn)
    }

    /// Calls `f` with each entry from `from` on, in order, optionally only those about
    /// `party` (its acts, and corrections of them), with the correction that voided it.
    pub fn log<E: From<StoreError>>(
        &self,
        from: Seq,
        party: Option<&str>,
        mut f: impl FnMut(LogRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.line, e.hash, v.by FROM entries e LEFT JOIN p_voided v ON v.seq = e.seq \
                 WHERE e.seq >= ?1 AND (?2 IS NULL OR e.party = ?2) ORDER BY e.seq",
            )
            .map_err(StoreError::from)?;
        let mut rows = stmt
            .query(params![from.get() as i64, party])
            .map_err(StoreError::from)?;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            let log_row = (|| -> Result<LogRow, StoreError> {
                let line = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
                let entry: depositary_core::Entry = serde_json::from_slice(line)
                    .map_err(|e| StoreError::Corrupt(format!("an entry is unreadable: {e}")))?;
                let hash: String = row.get(1)?;
                let voided_by: Option<i64> = row.get(2)?;
                Ok(LogRow {
                    hash: hash
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("entries.hash: {e}")))?,
                    voided_by: voided_by.map(seq_of).transpose()?,
                    entry,
                })
            })()?;
            f(log_row)?;
        }
        Ok(())
    }
}

fn seq_of(n: i64) -> Result<Seq, StoreError> {
    u64::try_from(n)
        .ok()
        .and_then(|n| Seq::new(n).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("entry number {n} is out of range")))
}

/// Why an import failed. Nothing was kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError<E: std::error::Error + 'static> {
    /// The export could not be read.
    #[error("line {line}: {source}")]
    Input {
        /// One-based line.
        line: u64,
        /// The reader's error.
        source: E,
    },
    /// The export does not verify.
    #[error("the export does not verify: {0}")]
    Invalid(String),
    /// The export does not continue this ledger.
    #[error("entry {seq}: {reason}; an import adds to a ledger only an export that begins with it")]
    Diverges {
        /// The first differing entry.
        seq: u64,
        /// How.
        reason: String,
    },
    /// The export is empty.
    #[error("the export is empty")]
    Empty,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
enum Wrapped<E: std::error::Error + 'static> {
    #[error(transparent)]
    Input(E),
    #[error(transparent)]
    Store(StoreError),
}

impl<E: std::error::Error + Send + Sync + 'static> ImportError<E> {
    fn from_stream(e: StreamError<Wrapped<E>>) -> ImportError<E> {
        match e {
            StreamError::Input {
                line,
                source: Wrapped::Input(source),
            } => ImportError::Input { line, source },
            StreamError::Rejected {
                source: Wrapped::Store(StoreError::Rule { seq, rule }),
                line,
            } => ImportError::Invalid(format!("line {line}: entry {seq}: {rule}")),
            StreamError::Rejected {
                source: Wrapped::Store(s),
                ..
            } => ImportError::Store(s),
            StreamError::Empty => ImportError::Empty,
            other => ImportError::Invalid(other.to_string()),
        }
    }
}

fn read_head(conn: &Connection) -> Result<Option<Head>, StoreError> {
    let row: Option<(i64, String, String)> = conn
        .query_row(
            "SELECT seq, hash, recorded_at FROM entries ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((seq, hash, recorded_at)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str, e: String| StoreError::Corrupt(format!("the head's {what}: {e}"));
    Ok(Some(Head {
        seq: u64::try_from(seq)
            .ok()
            .and_then(|s| Seq::new(s).ok())
            .ok_or_else(|| corrupt("seq", seq.to_string()))?,
        hash: hash
            .parse()
            .map_err(|e: depositary_core::ValueError| corrupt("hash", e.to_string()))?,
        recorded_at: recorded_at
            .parse()
            .map_err(|e: depositary_core::ValueError| corrupt("recorded_at", e.to_string()))?,
    }))
}

fn read_keys(conn: &Connection) -> Result<KeyRing, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT key, name, role, authorized_at, revoked_at FROM keys")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<i64>>(4)?,
        ))
    })?;
    let corrupt = |e: String| StoreError::Corrupt(format!("keys: {e}"));
    let seq = |n: i64| {
        u64::try_from(n)
            .ok()
            .and_then(|n| Seq::new(n).ok())
            .ok_or_else(|| corrupt(format!("seq {n}")))
    };
    let mut records = Vec::new();
    for row in rows {
        let (key, name, role, authorized_at, revoked_at) = row?;
        records.push(KeyRecord {
            key: key
                .parse()
                .map_err(|e: depositary_core::ValueError| corrupt(e.to_string()))?,
            name: name
                .parse()
                .map_err(|e: depositary_core::ValueError| corrupt(e.to_string()))?,
            role: match role.as_str() {
                "root" => Role::Root,
                "registrar" => Role::Registrar,
                other => return Err(corrupt(format!("role {other:?}"))),
            },
            authorized_at: seq(authorized_at)?,
            revoked_at: revoked_at.map(seq).transpose()?,
        });
    }
    Ok(KeyRing::from_records(records))
}

fn write_keys(conn: &Connection, keys: &KeyRing) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO keys (key, name, role, authorized_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in keys.records() {
        stmt.execute(params![
            r.key.to_hex(),
            r.name.as_str(),
            match r.role {
                Role::Root => "root",
                Role::Registrar => "registrar",
            },
            r.authorized_at.get() as i64,
            r.revoked_at.map(|s| s.get() as i64),
        ])?;
    }
    Ok(())
}

/// Writes the projection's records for entry 0.
fn genesis_records<'c>(
    conn: &'c Connection,
    v: &VerifiedEntry,
) -> Result<SqlFacts<'c>, StoreError> {
    match v.event() {
        Event::TreatyRegistered(t) => SqlFacts::create(conn, &t.treaty),
        _ => Err(StoreError::Corrupt(
            "entry 0 is not treaty_registered".into(),
        )),
    }
}

/// Inserts a verified entry. `facts` locates the participant a correction is about.
fn write_verified(
    conn: &Connection,
    v: &VerifiedEntry,
    facts: Option<&SqlFacts<'_>>,
) -> Result<(), StoreError> {
    let party = party_about(v.event(), facts)?;
    insert_entry(conn, v, party.as_ref())
}

/// Inserts an entry's row; `party` is the participant it is about (for a correction, the
/// voided entry's).
fn insert_entry(
    conn: &Connection,
    v: &VerifiedEntry,
    party: Option<&PartyId>,
) -> Result<(), StoreError> {
    insert_row(
        conn,
        v.seq(),
        v.hash(),
        v.recorded_at(),
        v.event().type_name(),
        party,
        v.line(),
    )
}

/// Inserts a row of the entries table.
fn insert_row(
    conn: &Connection,
    seq: Seq,
    hash: EntryHash,
    recorded_at: Instant,
    event_type: &str,
    party: Option<&PartyId>,
    line: &[u8],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO entries (seq, hash, recorded_at, type, party, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    stmt.execute(params![
        seq.get() as i64,
        hash.to_hex(),
        recorded_at.to_string(),
        event_type,
        party.map(|p| p.as_str()),
        line,
    ])?;
    Ok(())
}

/// What the writing thread of a new ledger's import writes for one verified entry: its row,
/// and the change it makes to the list of live statements (the other records are written
/// once, at the end). The line is moved here, not copied.
struct NewRow {
    seq: Seq,
    hash: EntryHash,
    recorded_at: Instant,
    event_type: &'static str,
    party: Option<PartyId>,
    statements: StatementChange,
    line: Vec<u8>,
}

/// How an entry changes the live statements.
enum StatementChange {
    None,
    /// It is a statement.
    Add(PartyId, Date, StatementKind),
    /// It voids the statement at this seq.
    Remove(Seq),
}

impl NewRow {
    /// The row of `v`, which `facts` (folded up to and including `v`) knows.
    fn of(v: VerifiedEntry, facts: Option<&MemFacts>) -> NewRow {
        let Ok(party) = party_about(v.event(), facts);
        let statements = match (v.event(), facts) {
            (Event::Statement(st), _) => StatementChange::Add(st.party.clone(), st.date, st.kind),
            (Event::Correction(c), Some(f)) => match f.act(c.voids) {
                Ok(Some(Act::Statement { .. })) => StatementChange::Remove(c.voids),
                _ => StatementChange::None,
            },
            _ => StatementChange::None,
        };
        NewRow {
            seq: v.seq(),
            hash: v.hash(),
            recorded_at: v.recorded_at(),
            event_type: v.event().type_name(),
            party,
            statements,
            line: v.into_line(),
        }
    }

    fn write(&self, conn: &Connection) -> Result<(), StoreError> {
        insert_row(
            conn,
            self.seq,
            self.hash,
            self.recorded_at,
            self.event_type,
            self.party.as_ref(),
            &self.line,
        )?;
        match &self.statements {
            StatementChange::None => Ok(()),
            StatementChange::Add(party, date, kind) => {
                facts::insert_statement(conn, self.seq, party, *date, *kind)
            }
            StatementChange::Remove(seq) => facts::delete_statement(conn, *seq),
        }
    }
}
