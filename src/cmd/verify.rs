//! `verify`: checks a ledger or an export end to end, offline, and says where and why it
//! breaks. Exit 0 valid, 1 invalid, 2 unusable input.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context as _, Result, anyhow};
use depositary_core::entry::MAX_ENTRY_BYTES;
use depositary_core::stream::{DEFAULT_CHUNK, StreamError, verify_stream};
use depositary_core::{Chain, EntryHash, Head, KeyRing, PublicKey, Seq, VerifiedEntry};
use depositary_projection::facts::Amendment;
use depositary_projection::{Facts, MemFacts, Participant, TreatyInfo, fold, party_about};
use depositary_store::{Row, Store, StoreError};
use serde::Serialize;

use crate::cli::{VerifyArgs, VerifyFormat};
use crate::lines::{LineError, Lines};
use crate::{Exit, keyfile, threads};

/// A reason to stop reading or to reject an entry, as text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Reject(String);

impl From<StoreError> for Reject {
    fn from(e: StoreError) -> Reject {
        Reject(e.to_string())
    }
}

impl From<LineError> for Reject {
    fn from(e: LineError) -> Reject {
        Reject(e.to_string())
    }
}

/// Folds one verified entry into the projection, applying the treaty's rules.
pub fn fold_one(facts: &mut Option<MemFacts>, v: &VerifiedEntry) -> Result<(), Reject> {
    fold(facts, v).map_err(|e| Reject(e.to_string()))
}

#[derive(Debug, Serialize)]
struct HeadJson {
    seq: u64,
    hash: String,
}

impl From<Head> for HeadJson {
    fn from(h: Head) -> HeadJson {
        HeadJson {
            seq: h.seq.get(),
            hash: h.hash.to_hex(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Failure {
    line: Option<u64>,
    seq: Option<u64>,
    reason: String,
}

/// What `verify` found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Whether everything verified.
    pub valid: bool,
    source: &'static str,
    path: String,
    /// How many entries verified (before the failure, if any).
    pub entries_verified: u64,
    head: Option<HeadJson>,
    root: Option<String>,
    root_pinned: bool,
    expected_head: Option<String>,
    failure: Option<Failure>,
}

enum Input {
    Ledger(PathBuf),
    Export(PathBuf),
}

fn classify(path: &Path) -> Result<Input> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 16];
    let mut n = 0;
    while n < magic.len() {
        let k = f.read(&mut magic[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(if &magic[..n] == b"SQLite format 3\0" {
        Input::Ledger(path.to_owned())
    } else {
        Input::Export(path.to_owned())
    })
}

fn parse_expect_head(s: &str) -> Result<(Seq, EntryHash)> {
    let (seq, hash) = s
        .split_once(':')
        .ok_or_else(|| anyhow!("--expect-head {s:?} is not SEQ:HASH"))?;
    let seq: u64 = seq
        .parse()
        .with_context(|| format!("--expect-head: seq {seq:?} is not a number"))?;
    Ok((Seq::new(seq)?, hash.parse().context("--expect-head")?))
}

/// `verify`.
pub fn run(ledger: &Path, args: VerifyArgs) -> Result<Exit> {
    match prepare_and_verify(ledger, &args) {
        Ok(report) => {
            print(&report, args.format)?;
            Ok(Exit(if report.valid { 0 } else { 1 }))
        }
        Err(e) => {
            if args.format == VerifyFormat::Json {
                let mut o = io::stdout().lock();
                serde_json::to_writer(
                    &mut o,
                    &serde_json::json!({"valid": false, "unusable": crate::causes(&e).join(": ")}),
                )?;
                writeln!(o)?;
            }
            let mut err = io::stderr().lock();
            writeln!(
                err,
                "error: cannot verify: {}",
                crate::causes(&e).join(": ")
            )?;
            Ok(Exit(2))
        }
    }
}

fn prepare_and_verify(ledger: &Path, args: &VerifyArgs) -> Result<Report> {
    let trust = args
        .trust
        .as_deref()
        .map(keyfile::read_public)
        .transpose()
        .context("--trust")?;
    let expect = args
        .expect_head
        .as_deref()
        .map(parse_expect_head)
        .transpose()?;
    let input = match &args.path {
        Some(p) => p.as_path(),
        None => ledger,
    };
    check(input, trust, expect)
}

/// Verifies the ledger or export at `path` (told apart by their first bytes).
pub fn check(
    path: &Path,
    trust: Option<PublicKey>,
    expect: Option<(Seq, EntryHash)>,
) -> Result<Report> {
    let input = classify(path)?;
    let mut chain = Chain::new(trust);
    let mut facts: Option<MemFacts> = None;
    let mut count = 0u64;
    let mut last_good: Option<Head> = None;
    let mut accept = |facts: &mut Option<MemFacts>, v: &VerifiedEntry| -> Result<(), Reject> {
        fold_one(facts, v)?;
        count += 1;
        last_good = Some(Head {
            seq: v.seq(),
            hash: v.hash(),
            recorded_at: v.recorded_at(),
        });
        Ok(())
    };
    let (source, path, outcome) = match input {
        Input::Export(path) => {
            let f = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            let lines = Lines::new(BufReader::with_capacity(1 << 20, f), MAX_ENTRY_BYTES, true)
                .map(|l| l.map_err(Reject::from));
            let outcome = verify_stream(&mut chain, lines, threads(), DEFAULT_CHUNK, |v| {
                accept(&mut facts, &v)
            });
            ("export", path, outcome.map_err(Failed::Stream))
        }
        Input::Ledger(path) => {
            let store = Store::open(&path)?;
            let outcome = std::thread::scope(|scope| -> Result<Result<Head, Failed>> {
                // A thread of its own reads the rows in one snapshot, then the records the
                // store derived from them, while this one verifies.
                let (pages_tx, pages) = mpsc::sync_channel::<Vec<Result<Row, StoreError>>>(8);
                let reader = scope.spawn(move || read_ledger(store, pages_tx));
                // The columns the store derived from each line, checked against the entry
                // once it verifies (rows are read ahead of verification, in order).
                let columns = RefCell::new(VecDeque::new());
                let lines = pages.into_iter().flatten().map(|r| {
                    r.map(|mut row| {
                        let line = std::mem::take(&mut row.line);
                        columns.borrow_mut().push_back(row);
                        line
                    })
                    .map_err(Reject::from)
                });
                let outcome = verify_stream(&mut chain, lines, threads(), DEFAULT_CHUNK, |v| {
                    let row = columns.borrow_mut().pop_front();
                    check_columns(row, &v, facts.as_ref())?;
                    accept(&mut facts, &v)
                });
                // The lines are dropped: a reader still sending stops. While it reads the
                // store's records, this thread puts its own in the same form.
                let rebuilt = match (&outcome, &facts) {
                    (Ok(_), Some(f)) => {
                        let Ok(records) = Records::of(f);
                        Some(records)
                    }
                    _ => None,
                };
                let stored = reader
                    .join()
                    .map_err(|_| anyhow!("internal error: the ledger's reader stopped"))?;
                let head = match outcome {
                    Ok(h) => h,
                    Err(e) => return Ok(Err(Failed::Stream(e))),
                };
                let Some((keys, stored)) = stored? else {
                    return Err(anyhow!("internal error: the ledger's reader stopped early"));
                };
                // The store's own records must be what the entries say.
                if keys != *chain.keys() {
                    return Ok(Err(Failed::Cache("the keys table".into())));
                }
                if let Some(what) = rebuilt.and_then(|r| r.differs_from(&stored)) {
                    return Ok(Err(Failed::Cache(what)));
                }
                Ok(Ok(head))
            })?;
            ("ledger", path, outcome)
        }
    };
    let root = chain
        .keys()
        .records()
        .find(|r| r.authorized_at == Seq::GENESIS)
        .map(|r| r.key);
    let mut report = Report {
        valid: false,
        source,
        path: path.display().to_string(),
        entries_verified: count,
        head: last_good.map(HeadJson::from),
        root: root.map(|k| k.to_hex()),
        root_pinned: trust.is_some(),
        expected_head: expect.map(|(s, h)| format!("{s}:{h}")),
        failure: None,
    };
    match outcome {
        Ok(head) => {
            if let Some((seq, hash)) = expect
                && (head.seq != seq || head.hash != hash)
            {
                report.failure = Some(Failure {
                    line: None,
                    seq: Some(head.seq.get()),
                    reason: format!(
                        "the chain ends at {}:{}, not at the expected head {seq}:{hash}{}",
                        head.seq,
                        head.hash,
                        if head.seq < seq {
                            " (entries are missing at the end: truncated?)"
                        } else {
                            ""
                        }
                    ),
                });
            } else {
                report.valid = true;
            }
        }
        Err(Failed::Stream(e)) => {
            report.failure = Some(Failure {
                line: e.line(),
                seq: e.seq(),
                reason: match &e {
                    StreamError::Chain { source, .. } => source.to_string(),
                    StreamError::Entry { source, .. } => source.to_string(),
                    StreamError::Rejected { source, .. } | StreamError::Input { source, .. } => {
                        source.to_string()
                    }
                    other => other.to_string(),
                },
            })
        }
        Err(Failed::Cache(what)) => {
            report.failure = Some(Failure {
                line: None,
                seq: None,
                reason: format!(
                    "the entries verify, but {what} disagree(s) with them: the file was changed outside Depositary"
                ),
            })
        }
    }
    Ok(report)
}

/// A BLAKE3 digest of every live statement, in entry order: two sets of records compared
/// without holding a million statements in memory.
fn statements_digest<F: Facts>(facts: &F) -> Result<[u8; 32], F::Error> {
    const BLOCK: usize = 1 << 16;
    let mut h = blake3::Hasher::new();
    // Fixed-width fields, and the party's id (printable ASCII) ended by a NUL: one reading.
    // Gathered into blocks, which BLAKE3 hashes far faster than a few bytes at a time.
    let mut block = Vec::with_capacity(BLOCK + 64);
    facts.for_each_statement(&mut |(seq, party, date, kind)| {
        block.extend_from_slice(&seq.get().to_le_bytes());
        block.extend_from_slice(party.as_str().as_bytes());
        block.push(0);
        block.extend_from_slice(&date.to_days().to_le_bytes());
        block.extend_from_slice(kind.as_str().as_bytes());
        block.push(b'\n');
        if block.len() >= BLOCK {
            h.update(&block);
            block.clear();
        }
    })?;
    h.update(&block);
    Ok(*h.finalize().as_bytes())
}

/// Checks the columns the store keeps beside a line against the verified entry.
fn check_columns(
    row: Option<Row>,
    v: &VerifiedEntry,
    facts: Option<&MemFacts>,
) -> Result<(), Reject> {
    let Some(row) = row else {
        return Err(Reject("internal: a row's columns went missing".into()));
    };
    let Ok(party) = party_about(v.event(), facts);
    let party = party.as_ref().map(|p| p.as_str());
    let mismatch = |column: &str, stored: String, derived: String| {
        Err(Reject(format!(
            "entry {}: the entries table's {column} column says {stored:?} but the entry gives {derived:?}: the file was changed outside Depositary",
            v.seq()
        )))
    };
    if row.seq != v.seq().get() as i64 {
        return mismatch("seq", row.seq.to_string(), v.seq().to_string());
    }
    if row.hash != Some(v.hash()) {
        let shown = row
            .hash
            .map_or_else(|| "(not a hash)".to_owned(), |h| h.to_hex());
        return mismatch("hash", shown, v.hash().to_hex());
    }
    if row.recorded_at != Some(v.recorded_at()) {
        let shown = row
            .recorded_at
            .map_or_else(|| "(not an instant)".to_owned(), |t| t.to_string());
        return mismatch("recorded_at", shown, v.recorded_at().to_string());
    }
    if row.event_type != v.event().type_name() {
        return mismatch("type", row.event_type, v.event().type_name().into());
    }
    if row.party.as_deref() != party {
        let shown = |p: Option<&str>| p.unwrap_or("(none)").to_owned();
        return mismatch("party", shown(row.party.as_deref()), shown(party));
    }
    Ok(())
}

enum Failed {
    Stream(StreamError<Reject>),
    Cache(String),
}

/// Reads every row of the ledger in one snapshot, in pages sent to `pages`, then the keys
/// and the records the store keeps, from the same snapshot. `None` if the receiver stopped
/// listening first (verification failed).
fn read_ledger(
    mut store: Store,
    pages: mpsc::SyncSender<Vec<Result<Row, StoreError>>>,
) -> Result<Option<(KeyRing, Records)>, StoreError> {
    const PAGE: usize = 1024;
    store.snapshot(|snap| {
        let mut page = Vec::with_capacity(PAGE);
        for row in snap.rows() {
            page.push(row);
            if page.len() == PAGE
                && pages
                    .send(std::mem::replace(&mut page, Vec::with_capacity(PAGE)))
                    .is_err()
            {
                return Ok(None);
            }
        }
        if !page.is_empty() && pages.send(page).is_err() {
            return Ok(None);
        }
        drop(pages);
        Ok(Some((snap.keys()?, Records::of(&snap.facts()?)?)))
    })
}

/// The projection's records in a form two sets of them (rebuilt from the entries, and kept
/// by the store) can be compared in: sorted, statements as a digest.
struct Records {
    participants: Vec<Participant>,
    amendments: Vec<Amendment>,
    treaty: TreatyInfo,
    voided: Vec<(Seq, Seq)>,
    statements: [u8; 32],
}

impl Records {
    fn of<F: Facts>(facts: &F) -> Result<Records, F::Error> {
        let mut participants = facts.participants()?;
        participants.sort_by(|a, b| a.id.cmp(&b.id));
        let mut amendments = facts.amendments()?;
        amendments.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Records {
            participants,
            amendments,
            treaty: facts.treaty().clone(),
            voided: facts.voided()?,
            statements: statements_digest(facts)?,
        })
    }

    /// Names the first record of `self` (rebuilt from the entries) that differs from
    /// `stored`, if any.
    fn differs_from(&self, stored: &Records) -> Option<String> {
        if self.participants != stored.participants {
            return Some(
                self.participants
                    .iter()
                    .zip(&stored.participants)
                    .find(|(a, b)| a != b)
                    .map_or_else(
                        || "the participant records".to_owned(),
                        |(a, _)| format!("the cached record of participant {}", a.id),
                    ),
            );
        }
        if self.amendments != stored.amendments {
            return Some("the cached amendment records".into());
        }
        if self.treaty != stored.treaty {
            return Some("the cached treaty record".into());
        }
        if self.voided != stored.voided {
            return Some("the cached list of voided entries".into());
        }
        if self.statements != stored.statements {
            return Some("the cached statements".into());
        }
        None
    }
}

/// Prints a report as text or JSON.
pub fn print(r: &Report, format: VerifyFormat) -> Result<()> {
    let mut o = io::stdout().lock();
    if format == VerifyFormat::Json {
        serde_json::to_writer_pretty(&mut o, r)?;
        writeln!(o)?;
        return Ok(());
    }
    let head = r
        .head
        .as_ref()
        .map_or_else(|| "none".to_owned(), |h| format!("{}:{}", h.seq, h.hash));
    match &r.failure {
        None => {
            writeln!(
                o,
                "VALID {} {}: {} entries verified (canonical encoding, sequence, hash links, record times, signatures, keys' authority, treaty rules)",
                r.source, r.path, r.entries_verified
            )?;
            writeln!(o, "head {head}")?;
        }
        Some(f) => {
            let at = match (f.seq, f.line) {
                (Some(s), Some(l)) => format!(" at entry {s} (line {l})"),
                (Some(s), None) => format!(" at entry {s}"),
                _ => String::new(),
            };
            writeln!(o, "INVALID {} {}{at}: {}", r.source, r.path, f.reason)?;
            writeln!(
                o,
                "{} entries verified before it; last good head {head}",
                r.entries_verified
            )?;
        }
    }
    match (&r.root, r.root_pinned) {
        (Some(root), true) => writeln!(o, "root key {root} (pinned with --trust)")?,
        (Some(root), false) => writeln!(
            o,
            "root key {root} was NOT pinned: anyone can make a valid chain; pass --trust with the depositary's root public key to check who made this one"
        )?,
        (None, _) => {}
    }
    if r.valid && r.expected_head.is_none() {
        writeln!(
            o,
            "(the tail was not pinned: pass --expect-head SEQ:HASH to detect a truncated chain)"
        )?;
    }
    Ok(())
}
