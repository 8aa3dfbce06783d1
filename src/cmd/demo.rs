//! `demo`: the whole tool on built-in data, in a temporary folder: a fresh root key, a
//! ledger of the Hanoi Convention holding the real signatures of 25 October 2025,
//! verification of the ledger and of its export, and the status today.

use std::io::{self, Write as _};

use anyhow::{Context as _, Result, anyhow, bail};
use depositary_core::input::{event_from_json, treaty_from_json};
use depositary_core::{Event, SecretKey};
use depositary_projection::Status;
use depositary_projection::status::HeadRef;
use depositary_store::{RecordTime, Store, StoreError};

use crate::cli::VerifyFormat;
use crate::cmd::verify;
use crate::{Exit, keyfile, now};

/// The Hanoi Convention's registration: rules and registry (fixtures/hanoi/treaty.json).
const TREATY: &str = include_str!("../../fixtures/hanoi/treaty.json");
/// The signatures of 25 October 2025, with their sources (fixtures/hanoi/signatures-2025.jsonl).
const SIGNATURES: &str = include_str!("../../fixtures/hanoi/signatures-2025.jsonl");

/// `demo`.
pub fn run() -> Result<Exit> {
    let dir = tempfile::Builder::new()
        .prefix("depositary-demo-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let mut o = io::stdout().lock();
    writeln!(
        o,
        "Depositary demo: the Hanoi Convention (XVIII-16) from the real signatures of 25 October 2025"
    )?;
    writeln!(
        o,
        "working in {} (removed at the end)\n",
        dir.path().display()
    )?;

    let key_path = dir.path().join("root.pem");
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut())
        .map_err(|e| anyhow!("the system's random number generator failed: {e}"))?;
    let key = SecretKey::from_seed(&seed);
    keyfile::write_pair(&key_path, &key)?;
    writeln!(
        o,
        "1. generated a fresh Ed25519 root key {} (secret key written with mode 0600)",
        key.public()
    )?;

    let treaty = treaty_from_json(TREATY.as_bytes()).context("the built-in treaty")?;
    let participants = treaty.participants.len();
    let ledger = dir.path().join("hanoi.db");
    let (mut store, genesis) = Store::init(&ledger, treaty, &key, RecordTime::Clock(&now))?;
    writeln!(
        o,
        "2. created the ledger: entry 0 registers the treaty, its rules and {participants} participants ({})",
        genesis.hash()
    )?;

    let events: Vec<Event> = SIGNATURES
        .lines()
        .enumerate()
        .map(|(i, l)| {
            event_from_json(l.as_bytes())
                .with_context(|| format!("built-in signatures, line {}", i + 1))
        })
        .collect::<Result<_>>()?;
    let labelled = events
        .into_iter()
        .zip(1..)
        .map(|(e, n)| Ok::<_, std::convert::Infallible>((n, e)));
    let appended = store.append(labelled, &key, RecordTime::Clock(&now))?;
    writeln!(
        o,
        "3. appended {} signatures, each signed and hash-linked, each citing its source",
        appended.count
    )?;

    let report = verify::check(
        &ledger,
        Some(key.public()),
        Some((appended.head.seq, appended.head.hash)),
    )?;
    if !report.valid {
        verify::print(&report, VerifyFormat::Text)?;
        bail!("the demo ledger does not verify");
    }
    writeln!(
        o,
        "4. verified the ledger with the root key and the head pinned: {} entries VALID",
        report.entries_verified
    )?;

    let export = dir.path().join("hanoi.jsonl");
    crate::cmd::write_export(
        &mut store,
        std::io::BufWriter::new(std::fs::File::create(&export)?),
    )?;
    let report = verify::check(
        &export,
        Some(key.public()),
        Some((appended.head.seq, appended.head.hash)),
    )?;
    if !report.valid {
        verify::print(&report, VerifyFormat::Text)?;
        bail!("the demo export does not verify");
    }
    writeln!(
        o,
        "5. exported it as JSON Lines and verified the export offline: {} entries VALID; head {}:{}\n",
        report.entries_verified, appended.head.seq, appended.head.hash
    )?;

    let today = now()
        .ok_or_else(|| anyhow!("the system clock is unusable"))?
        .date();
    let status = store.snapshot(|snap| -> Result<Status, StoreError> {
        let facts = snap.facts()?;
        Status::from_facts(
            &facts,
            HeadRef {
                seq: appended.head.seq,
                hash: appended.head.hash,
            },
            today,
            None,
        )
    })?;
    writeln!(
        o,
        "6. the status today, as the UN Treaty Collection lays it out:\n"
    )?;
    write!(o, "{}", status.to_table())?;
    drop(store);
    dir.close().context("cannot remove the temporary folder")?;
    Ok(Exit::OK)
}
