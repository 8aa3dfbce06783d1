//! The command line: every command, its arguments and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use depositary_core::event::{InstrumentKind, Role, StatementKind};
use depositary_core::treaty::ParticipantKind;
use depositary_core::{AmendmentId, Date, Digest32, Instant, Label, PartyId, Seq};

/// Depositary: a tamper-evident ledger of who signed, ratified, amended and left a treaty.
#[derive(Debug, Parser)]
#[command(name = "depositary", version, about, long_about = None)]
pub struct Cli {
    /// The ledger file [default: $DEPOSITARY_LEDGER, else ./depositary.db]
    #[arg(long, global = true, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate an Ed25519 key pair: PKCS#8 PEM secret key (mode 0600) and .pub.pem.
    Keygen {
        /// Where to write the secret key; the public key goes beside it as NAME.pub.pem.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Create a ledger: entry 0 registers the treaty, signed by the first root key.
    Init {
        /// The treaty file (JSON: id, title, adopted, depositary, rules, participants).
        #[arg(long, value_name = "FILE")]
        treaty: PathBuf,
        /// The root key (PKCS#8 PEM, readable by its owner only).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Record time, instead of the clock (YYYY-MM-DDTHH:MM:SSZ, not in the future).
        #[arg(long, value_name = "INSTANT")]
        recorded_at: Option<Instant>,
    },
    /// Append one event, or all events of a file (all or nothing).
    Append(AppendArgs),
    /// Verify a ledger or an export: every hash, signature, key's authority and rule.
    Verify(VerifyArgs),
    /// Write the ledger as JSON Lines (one canonical entry a line).
    Export {
        /// Where to write [default: standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify an export and add it to the ledger (a new one, or one it continues).
    Import {
        /// The export (JSON Lines).
        file: PathBuf,
    },
    /// List entries readably.
    Log {
        /// From this entry on.
        #[arg(long, value_name = "N", default_value_t = 0)]
        from: u64,
        /// Only entries about this participant (and corrections of them).
        #[arg(long, value_name = "ID")]
        party: Option<PartyId>,
    },
    /// The treaty's status on a date, by what is known now or as recorded by an instant.
    Status(StatusArgs),
    /// Every entry about one participant, voided ones marked, with record and valid dates.
    History {
        /// The participant.
        #[arg(long, value_name = "ID")]
        party: PartyId,
    },
    /// Build a ledger from the real Hanoi signatures with a fresh key in a temporary
    /// folder, verify it and show its status.
    Demo,
}

/// `append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The signing key (PKCS#8 PEM, readable by its owner only).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// Record time, instead of the clock (YYYY-MM-DDTHH:MM:SSZ; not in the future, not
    /// before the ledger's last entry).
    #[arg(long, value_name = "INSTANT", global = true)]
    pub recorded_at: Option<Instant>,
    /// A file of events, one JSON object a line; all are appended or none.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// The event.
    #[command(subcommand)]
    pub event: Option<EventArgs>,
}

/// One event on the command line. Each subcommand is an event type.
#[derive(Debug, Subcommand)]
pub enum EventArgs {
    /// A participant signed.
    #[command(name = "signed")]
    Signed {
        #[arg(long)]
        party: PartyId,
        #[arg(long)]
        date: Date,
        #[arg(long)]
        place: Option<Label>,
        #[arg(long)]
        reference: Option<Label>,
    },
    /// A participant deposited an instrument.
    #[command(name = "ratified")]
    Ratified {
        #[arg(long)]
        party: PartyId,
        #[arg(long)]
        date: Date,
        #[arg(long, value_enum, default_value_t = Instrument::Ratification)]
        instrument: Instrument,
        #[arg(long)]
        reference: Option<Label>,
    },
    /// A Party proposed an amendment.
    #[command(name = "amendment_proposed", alias = "amendment-proposed")]
    AmendmentProposed {
        #[arg(long)]
        amendment: AmendmentId,
        #[arg(long)]
        party: PartyId,
        #[arg(long)]
        date: Date,
        #[arg(long)]
        title: Label,
        #[arg(long)]
        text_hash: Option<Digest32>,
        #[arg(long)]
        reference: Option<Label>,
    },
    /// The Conference adopted an amendment.
    #[command(name = "amendment_adopted", alias = "amendment-adopted")]
    AmendmentAdopted {
        #[arg(long)]
        amendment: AmendmentId,
        #[arg(long)]
        date: Date,
        #[arg(long)]
        reference: Option<Label>,
    },
    /// A Party accepted an amendment.
    #[command(name = "amendment_accepted", alias = "amendment-accepted")]
    AmendmentAccepted {
        #[arg(long)]
        amendment: AmendmentId,
        #[arg(long)]
        party: PartyId,
        #[arg(long)]
        date: Date,
        #[arg(long)]
        reference: Option<Label>,
    },
    /// A Party denounced the treaty (date of receipt).
    #[command(name = "denounced")]
    Denounced {
        #[arg(long)]
        party: PartyId,
        #[arg(long)]
        date: Date,
        #[arg(long)]
        reference: Option<Label>,
    },
    /// A reservation, declaration, objection, communication or withdrawal.
    #[command(name = "statement")]
    Statement {
        #[arg(long)]
        party: PartyId,
        #[arg(long)]
        date: Date,
        #[arg(long, value_enum)]
        kind: Kind,
        /// The text (or use --text-file).
        #[arg(
            long,
            required_unless_present = "text_file",
            conflicts_with = "text_file"
        )]
        text: Option<String>,
        /// A file holding the text.
        #[arg(long, value_name = "FILE")]
        text_file: Option<PathBuf>,
        #[arg(long)]
        reference: Option<Label>,
    },
    /// Void an earlier entry (it stays in the chain; projections skip it).
    #[command(name = "correction")]
    Correction {
        #[arg(long)]
        voids: Seq,
        #[arg(long)]
        reason: Label,
    },
    /// Add a participant to the registry.
    #[command(name = "participant_registered", alias = "participant-registered")]
    ParticipantRegistered {
        #[arg(long)]
        id: PartyId,
        #[arg(long)]
        name: Label,
        #[arg(long, value_enum, default_value_t = PKind::State)]
        kind: PKind,
        /// An organization's member States, comma-separated.
        #[arg(long, value_delimiter = ',')]
        members: Vec<PartyId>,
    },
    /// Authorize a key (root keys only).
    #[command(name = "key_authorized", alias = "key-authorized")]
    KeyAuthorized {
        /// The key: 64 hex digits or a .pub.pem file.
        #[arg(long, value_name = "KEY")]
        public_key: String,
        #[arg(long)]
        name: Label,
        #[arg(long, value_enum)]
        role: KeyRole,
    },
    /// Revoke a key (root keys only).
    #[command(name = "key_revoked", alias = "key-revoked")]
    KeyRevoked {
        /// The key: 64 hex digits or a .pub.pem file.
        #[arg(long, value_name = "KEY")]
        public_key: String,
        #[arg(long)]
        reason: Label,
    },
}

/// Instrument kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Instrument {
    Ratification,
    Acceptance,
    Approval,
    Accession,
}

impl From<Instrument> for InstrumentKind {
    fn from(i: Instrument) -> Self {
        match i {
            Instrument::Ratification => InstrumentKind::Ratification,
            Instrument::Acceptance => InstrumentKind::Acceptance,
            Instrument::Approval => InstrumentKind::Approval,
            Instrument::Accession => InstrumentKind::Accession,
        }
    }
}

/// Statement kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Reservation,
    Declaration,
    Objection,
    Communication,
    Withdrawal,
}

impl From<Kind> for StatementKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Reservation => StatementKind::Reservation,
            Kind::Declaration => StatementKind::Declaration,
            Kind::Objection => StatementKind::Objection,
            Kind::Communication => StatementKind::Communication,
            Kind::Withdrawal => StatementKind::Withdrawal,
        }
    }
}

/// Participant kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PKind {
    State,
    Organization,
}

impl From<PKind> for ParticipantKind {
    fn from(k: PKind) -> Self {
        match k {
            PKind::State => ParticipantKind::State,
            PKind::Organization => ParticipantKind::Organization,
        }
    }
}

/// Key roles.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyRole {
    Root,
    Registrar,
}

impl From<KeyRole> for Role {
    fn from(r: KeyRole) -> Self {
        match r {
            KeyRole::Root => Role::Root,
            KeyRole::Registrar => Role::Registrar,
        }
    }
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A ledger file (SQLite) or an export (JSON Lines) [default: the ledger].
    pub path: Option<PathBuf>,
    /// The trusted root public key: 64 hex digits or a .pub.pem file.
    #[arg(long, value_name = "KEY")]
    pub trust: Option<String>,
    /// The head the chain must end with, as SEQ:HASH (catches truncation).
    #[arg(long, value_name = "SEQ:HASH")]
    pub expect_head: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    pub format: VerifyFormat,
}

/// `verify --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    Text,
    Json,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Valid time: the status on this date [default: today, UTC].
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<Date>,
    /// Record time: only entries recorded up to this instant (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "INSTANT")]
    pub known_at: Option<Instant>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

/// `status --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
