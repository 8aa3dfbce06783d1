//! The commands, one function each.

pub mod demo;
pub mod verify;

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write as _};
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use depositary_core::entry::MAX_ENTRY_BYTES;
use depositary_core::event::{
    AmendmentAccepted, AmendmentAdopted, AmendmentProposed, Correction, Denounced, KeyAuthorized,
    KeyRevoked, ParticipantRegistered, Ratified, Signed, Statement,
};
use depositary_core::stream::{DEFAULT_CHUNK, verify_stream};
use depositary_core::treaty::ParticipantSpec;
use depositary_core::{Chain, Date, Event, Instant, PartyId, Seq, Text};
use depositary_projection::status::HeadRef;
use depositary_projection::{MemFacts, Status};
use depositary_store::{RecordTime, Store, StoreError};

use crate::cli::{AppendArgs, EventArgs, StatusArgs, StatusFormat};
use crate::lines::Lines;
use crate::{Exit, keyfile, now, threads};

/// `keygen`.
pub fn keygen(out: &Path) -> Result<Exit> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut())
        .map_err(|e| anyhow!("the system's random number generator failed: {e}"))?;
    let key = depositary_core::SecretKey::from_seed(&seed);
    let public = keyfile::write_pair(out, &key)?;
    let mut o = io::stdout().lock();
    writeln!(o, "{}", key.public())?;
    let mut e = io::stderr().lock();
    writeln!(
        e,
        "wrote secret key {} (mode 0600) and public key {}",
        out.display(),
        public.display()
    )?;
    Ok(Exit::OK)
}

/// The record time of a new entry: the one given (never in the future), else the clock.
fn record_time(given: Option<Instant>) -> Result<RecordTime<'static>> {
    match given {
        None => Ok(RecordTime::Clock(&now)),
        Some(t) => {
            let current = now().ok_or_else(|| anyhow!("the system clock is unusable"))?;
            if t > current {
                bail!("--recorded-at {t} is in the future (the clock says {current})");
            }
            Ok(RecordTime::At(t))
        }
    }
}

/// `init`.
pub fn init(
    ledger: &Path,
    treaty: &Path,
    key: &Path,
    recorded_at: Option<Instant>,
) -> Result<Exit> {
    let bytes = read_limited(treaty, 16 << 20)
        .with_context(|| format!("treaty file {}", treaty.display()))?;
    let treaty_value = depositary_core::input::treaty_from_json(&bytes)
        .with_context(|| format!("treaty file {}", treaty.display()))?;
    let key = keyfile::read_secret(key)?;
    let time = record_time(recorded_at)?;
    let (_, v) = Store::init(ledger, treaty_value, &key, time)
        .with_context(|| format!("cannot create the ledger {}", ledger.display()))?;
    let mut o = io::stdout().lock();
    writeln!(
        o,
        "created {} : entry 0 {} (root key {})",
        ledger.display(),
        v.hash(),
        key.public()
    )?;
    Ok(Exit::OK)
}

fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    crate::lines::read_bounded(path, max).with_context(|| format!("cannot read {}", path.display()))
}

/// `append`.
pub fn append(ledger: &Path, args: AppendArgs) -> Result<Exit> {
    let key = keyfile::read_secret(&args.key)?;
    let time = record_time(args.recorded_at)?;
    let (result, file) = match (args.events, args.event) {
        (Some(file), None) => {
            let events = events_of(&file)?;
            let mut store = Store::open(ledger)?;
            (store.append(events, &key, time), Some(file))
        }
        (None, Some(e)) => {
            let event = event_from_args(e)?;
            let mut store = Store::open(ledger)?;
            let one = std::iter::once(Ok::<_, EventsFileError>((1, event)));
            (store.append(one, &key, time), None)
        }
        (None, None) => bail!(
            "say what to append: an event type (e.g. `append --key K signed --party FRA --date 2025-10-25`) or --events FILE"
        ),
        (Some(_), Some(_)) => bail!("give either an event or --events FILE, not both"),
    };
    let appended = match result {
        Ok(a) => a,
        // Name the event by its line in the file, or not at all when there is one.
        Err(StoreError::Event { label, source }) => {
            let place = file
                .map(|f| format!("{} line {label}: ", f.display()))
                .unwrap_or_default();
            bail!("nothing was appended: {place}{source}");
        }
        Err(StoreError::NothingToAppend) if file.is_some() => {
            bail!("nothing was appended: the events file holds no event")
        }
        Err(e) => return Err(anyhow::Error::from(e).context("nothing was appended")),
    };
    let mut o = io::stdout().lock();
    if appended.count == 1 {
        writeln!(
            o,
            "appended entry {} {}",
            appended.head.seq, appended.head.hash
        )?;
    } else {
        writeln!(
            o,
            "appended {} entries, {} to {}; head {} {}",
            appended.count,
            appended.first,
            appended.head.seq,
            appended.head.seq,
            appended.head.hash
        )?;
    }
    Ok(Exit::OK)
}

/// Why a line of an events file could not be read as an event: the file, the line, and
/// the cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EventsFileError(String);

/// The events of a file, read one by one as they are needed, each labelled with its line
/// number; blank lines are skipped.
fn events_of(
    file: &Path,
) -> Result<impl Iterator<Item = Result<(u64, Event), EventsFileError>> + Send + use<>> {
    let f =
        File::open(file).with_context(|| format!("cannot open events file {}", file.display()))?;
    let name = file.display().to_string();
    Ok(Lines::new(BufReader::new(f), MAX_ENTRY_BYTES, false)
        .enumerate()
        .filter_map(move |(i, line)| {
            let n = i as u64 + 1;
            let at = |e: String| EventsFileError(format!("{name} line {n}: {e}"));
            match line {
                Err(e) => Some(Err(at(e.to_string()))),
                Ok(l) if l.iter().all(u8::is_ascii_whitespace) => None,
                Ok(l) => Some(
                    depositary_core::input::event_from_json(&l)
                        .map(|event| (n, event))
                        .map_err(|e| at(e.to_string())),
                ),
            }
        }))
}

fn event_from_args(e: EventArgs) -> Result<Event> {
    Ok(match e {
        EventArgs::Signed {
            party,
            date,
            place,
            reference,
        } => Event::Signed(Signed {
            party,
            date,
            place,
            reference,
        }),
        EventArgs::Ratified {
            party,
            date,
            instrument,
            reference,
        } => Event::Ratified(Ratified {
            party,
            date,
            instrument: instrument.into(),
            reference,
        }),
        EventArgs::AmendmentProposed {
            amendment,
            party,
            date,
            title,
            text_hash,
            reference,
        } => Event::AmendmentProposed(AmendmentProposed {
            amendment,
            party,
            date,
            title,
            text_hash,
            reference,
        }),
        EventArgs::AmendmentAdopted {
            amendment,
            date,
            reference,
        } => Event::AmendmentAdopted(AmendmentAdopted {
            amendment,
            date,
            reference,
        }),
        EventArgs::AmendmentAccepted {
            amendment,
            party,
            date,
            reference,
        } => Event::AmendmentAccepted(AmendmentAccepted {
            amendment,
            party,
            date,
            reference,
        }),
        EventArgs::Denounced {
            party,
            date,
            reference,
        } => Event::Denounced(Denounced {
            party,
            date,
            reference,
        }),
        EventArgs::Statement {
            party,
            date,
            kind,
            text,
            text_file,
            reference,
        } => {
            let text = match (text, text_file) {
                (Some(t), _) => t,
                (None, Some(f)) => {
                    let bytes = read_limited(&f, Text::MAX_BYTES as u64)?;
                    String::from_utf8(bytes)
                        .map_err(|_| anyhow!("{} is not UTF-8 text", f.display()))?
                }
                (None, None) => bail!("give the statement's text with --text or --text-file"),
            };
            let text: Text = text.parse().context("--text")?;
            Event::Statement(Statement {
                party,
                date,
                kind: kind.into(),
                text,
                reference,
            })
        }
        EventArgs::Correction { voids, reason } => Event::Correction(Correction { voids, reason }),
        EventArgs::ParticipantRegistered {
            id,
            name,
            kind,
            members,
        } => Event::ParticipantRegistered(ParticipantRegistered {
            participant: ParticipantSpec {
                id,
                name,
                kind: kind.into(),
                members: (!members.is_empty()).then_some(members),
            },
        }),
        EventArgs::KeyAuthorized {
            public_key,
            name,
            role,
        } => Event::KeyAuthorized(KeyAuthorized {
            key: keyfile::read_public(&public_key).context("--public-key")?,
            name,
            role: role.into(),
        }),
        EventArgs::KeyRevoked { public_key, reason } => Event::KeyRevoked(KeyRevoked {
            key: keyfile::read_public(&public_key).context("--public-key")?,
            reason,
        }),
    })
}

/// `export`.
pub fn export(ledger: &Path, out: Option<&Path>) -> Result<Exit> {
    let mut store = Store::open(ledger)?;
    match out {
        None => {
            let stdout = io::stdout().lock();
            write_export(&mut store, BufWriter::new(stdout))?;
        }
        Some(path) => {
            let tmp = path.with_file_name(format!(
                ".{}.partial",
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let f =
                File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            let n = write_export(&mut store, BufWriter::new(f)).inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })?;
            fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
            let mut e = io::stderr().lock();
            writeln!(e, "exported {n} entries to {}", path.display())?;
        }
    }
    Ok(Exit::OK)
}

/// Writes the ledger's export to `w` (a consistent snapshot); returns the entries written.
pub(crate) fn write_export<W: io::Write>(store: &mut Store, mut w: W) -> Result<u64> {
    let n = store.snapshot(|snap| -> Result<u64> {
        let mut n = 0u64;
        for line in snap.lines() {
            let line = line?;
            w.write_all(&line)?;
            w.write_all(b"\n")?;
            n += 1;
        }
        Ok(n)
    })?;
    w.flush()?;
    Ok(n)
}

/// `import`.
pub fn import(ledger: &Path, file: &Path) -> Result<Exit> {
    let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let lines = Lines::new(BufReader::new(f), MAX_ENTRY_BYTES, true);
    let appended = if ledger.exists() {
        let mut store = Store::open(ledger)?;
        store
            .import(lines, threads())
            .with_context(|| format!("nothing was imported from {}", file.display()))?
    } else {
        Store::import_new(ledger, lines, threads())
            .with_context(|| format!("nothing was imported from {}", file.display()))?
            .1
    };
    let mut o = io::stdout().lock();
    writeln!(
        o,
        "imported {} entries into {}; head {} {}",
        appended.count,
        ledger.display(),
        appended.head.seq,
        appended.head.hash
    )?;
    Ok(Exit::OK)
}

/// A one-line summary of an event.
pub fn summary(e: &Event) -> String {
    let r = |r: &Option<depositary_core::Label>| {
        r.as_ref().map(|r| format!("; {r}")).unwrap_or_default()
    };
    match e {
        Event::TreatyRegistered(t) => format!(
            "{} ({}), {} participants",
            t.treaty.title,
            t.treaty.id,
            t.treaty.participants.len()
        ),
        Event::KeyAuthorized(k) => {
            let role = match k.role {
                depositary_core::event::Role::Root => "root",
                depositary_core::event::Role::Registrar => "registrar",
            };
            format!("{} as {role} for {}", k.key, k.name)
        }
        Event::KeyRevoked(k) => format!("{}: {}", k.key, k.reason),
        Event::Signed(s) => format!(
            "{} on {}{}{}",
            s.party,
            s.date,
            s.place
                .as_ref()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default(),
            r(&s.reference)
        ),
        Event::Ratified(x) => format!(
            "{} {} on {}{}",
            x.party,
            x.instrument.as_str(),
            x.date,
            r(&x.reference)
        ),
        Event::AmendmentProposed(a) => format!(
            "{} by {} on {}: {}{}",
            a.amendment,
            a.party,
            a.date,
            a.title,
            r(&a.reference)
        ),
        Event::AmendmentAdopted(a) => format!("{} on {}{}", a.amendment, a.date, r(&a.reference)),
        Event::AmendmentAccepted(a) => format!(
            "{} by {} on {}{}",
            a.amendment,
            a.party,
            a.date,
            r(&a.reference)
        ),
        Event::Denounced(d) => format!("{} on {}{}", d.party, d.date, r(&d.reference)),
        Event::Statement(s) => {
            let mut text: String = s.text.as_str().chars().take(60).collect();
            if s.text.as_str().chars().count() > 60 {
                text.push('…');
            }
            format!(
                "{} {} on {}: {}{}",
                s.party,
                s.kind.as_str(),
                s.date,
                text.replace('\n', " "),
                r(&s.reference)
            )
        }
        Event::Correction(c) => format!("voids entry {}: {}", c.voids, c.reason),
        Event::ParticipantRegistered(p) => format!(
            "{} {} ({})",
            p.participant.id,
            p.participant.name,
            p.participant.kind.as_str()
        ),
        _ => String::new(),
    }
}

/// `log`.
pub fn log(ledger: &Path, from: u64, party: Option<&PartyId>) -> Result<Exit> {
    list(ledger, Seq::new(from)?, party, false)
}

/// `history`.
pub fn history(ledger: &Path, party: &PartyId) -> Result<Exit> {
    list(ledger, Seq::GENESIS, Some(party), true)
}

/// Lists entries, streaming: `log`'s layout (with each signer) or `history`'s (with each
/// act's valid date, under a header).
fn list(ledger: &Path, from: Seq, party: Option<&PartyId>, history: bool) -> Result<Exit> {
    let mut store = Store::open(ledger)?;
    let mut o = BufWriter::new(io::stdout().lock());
    if history {
        writeln!(
            o,
            "{:>6}  {:<20}  {:<10}  {:<20}  details",
            "entry", "recorded (UTC)", "valid date", "event"
        )?;
    }
    let mut count = 0u64;
    store.snapshot(|snap| -> Result<()> {
        snap.log(from, party.map(PartyId::as_str), |row| {
            count += 1;
            let e = &row.entry;
            let voided = row
                .voided_by
                .map(|s| format!("  [VOIDED by entry {s}]"))
                .unwrap_or_default();
            let written = if history {
                let valid = e
                    .event
                    .date()
                    .map_or_else(|| "-".to_owned(), |d| d.to_string());
                writeln!(
                    o,
                    "{:>6}  {}  {:<10}  {:<20}  {}{voided}",
                    e.seq.get(),
                    e.recorded_at,
                    valid,
                    e.event.type_name(),
                    summary(&e.event)
                )
            } else {
                writeln!(
                    o,
                    "{:>6}  {}  {:<22}  {}  signer {}…{voided}",
                    e.seq.get(),
                    e.recorded_at,
                    e.event.type_name(),
                    summary(&e.event),
                    &e.signer.to_hex()[..12]
                )
            };
            written.map_err(anyhow::Error::from)
        })?;
        Ok(())
    })?;
    if history
        && count == 0
        && let Some(p) = party
    {
        writeln!(o, "(no entry is about {p})")?;
    }
    o.flush()?;
    Ok(Exit::OK)
}

/// `status`.
pub fn status(ledger: &Path, args: StatusArgs) -> Result<Exit> {
    let today = now()
        .ok_or_else(|| anyhow!("the system clock is unusable"))?
        .date();
    let as_of = args.as_of.unwrap_or(today);
    let mut store = Store::open(ledger)?;
    let status = match args.known_at {
        None => store.snapshot(|snap| -> Result<Status, depositary_store::StoreError> {
            let head = snap.head().ok_or(depositary_store::StoreError::Empty)?;
            let facts = snap.facts()?;
            Status::from_facts(
                &facts,
                HeadRef {
                    seq: head.seq,
                    hash: head.hash,
                },
                as_of,
                None,
            )
        })?,
        Some(t) => replay_known_at(&mut store, t, as_of)?,
    };
    let mut o = BufWriter::new(io::stdout().lock());
    match args.format {
        StatusFormat::Table => write!(o, "{}", status.to_table())?,
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut o, &status)?;
            writeln!(o)?;
        }
    }
    o.flush()?;
    Ok(Exit::OK)
}

/// The status as the ledger stood at instant `t`: the entries recorded by then, verified
/// and folded afresh.
fn replay_known_at(store: &mut Store, t: Instant, as_of: Date) -> Result<Status> {
    store.snapshot(|snap| -> Result<Status> {
        let last = snap
            .last_recorded_by(t)?
            .ok_or_else(|| anyhow!("nothing had been recorded by {t}"))?;
        let lines = snap.lines_to(last).map(|l| l.map_err(verify::Reject::from));
        let (facts, head) = fold(lines)?;
        let Ok(status) = Status::from_facts(&facts, head, as_of, Some(t));
        Ok(status)
    })
}

/// Verifies lines as a chain and folds them into the projection.
pub fn fold<I>(lines: I) -> Result<(MemFacts, HeadRef)>
where
    I: IntoIterator<Item = Result<Vec<u8>, verify::Reject>>,
{
    let mut chain = Chain::new(None);
    let mut facts: Option<MemFacts> = None;
    let head = verify_stream(&mut chain, lines, threads(), DEFAULT_CHUNK, |v| {
        verify::fold_one(&mut facts, &v)
    })
    .map_err(|e| anyhow!("the ledger does not verify: {e}"))?;
    let facts = facts.ok_or_else(|| anyhow!("the ledger holds no treaty"))?;
    Ok((
        facts,
        HeadRef {
            seq: head.seq,
            hash: head.hash,
        },
    ))
}
