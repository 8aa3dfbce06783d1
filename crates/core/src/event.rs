//! The events a ledger records, one per entry, as the format spells them.

use serde::{Deserialize, Deserializer, Serialize};

use crate::treaty::{ParticipantSpec, Treaty};
use crate::types::{AmendmentId, Date, Digest32, Label, PartyId, PublicKey, Seq, Text};

/// For optional fields: absent means `None`, and an explicit `null` is refused, so that
/// each entry has exactly one spelling.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// One event. The `type` member names the variant.
///
/// It is read through a JSON value (see [`Event::from_value`]) rather than serde's
/// internally tagged enums, so that an error inside the event names its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// Entry 0 only: the treaty, its rules and registry.
    TreatyRegistered(TreatyRegistered),
    /// A root key grants a key a role.
    KeyAuthorized(KeyAuthorized),
    /// A root key takes a key's authority away, for good.
    KeyRevoked(KeyRevoked),
    /// A participant signed.
    Signed(Signed),
    /// A participant deposited an instrument of ratification, acceptance, approval or
    /// accession.
    Ratified(Ratified),
    /// A Party proposed an amendment.
    AmendmentProposed(AmendmentProposed),
    /// The Conference of the Parties adopted a proposed amendment.
    AmendmentAdopted(AmendmentAdopted),
    /// A Party deposited its acceptance of an adopted amendment.
    AmendmentAccepted(AmendmentAccepted),
    /// A Party notified its denunciation (dated on the depositary's receipt).
    Denounced(Denounced),
    /// A reservation, declaration, objection, communication or withdrawal.
    Statement(Statement),
    /// Voids an earlier entry, which stays in the chain and is skipped by projections.
    Correction(Correction),
    /// Adds a participant to the registry.
    ParticipantRegistered(ParticipantRegistered),
}

/// `treaty_registered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreatyRegistered {
    /// The treaty.
    pub treaty: Treaty,
}

/// The authority a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May sign every event, including key changes.
    Root,
    /// May sign every event but key changes.
    Registrar,
}

/// `key_authorized`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthorized {
    /// The key granted a role.
    pub key: PublicKey,
    /// Who holds it.
    pub name: Label,
    /// The role.
    pub role: Role,
}

/// `key_revoked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevoked {
    /// The key revoked.
    pub key: PublicKey,
    /// Why.
    pub reason: Label,
}

/// `signed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// Who signed.
    pub party: PartyId,
    /// The day of signature.
    pub date: Date,
    /// Where (`Hanoi`, `New York`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub place: Option<Label>,
    /// The depositary notification (`C.N.196.2025.TREATIES-XVIII.16`) or other source.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<Label>,
}

/// The kind of instrument deposited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstrumentKind {
    /// Ratification (after signature).
    Ratification,
    /// Acceptance (after signature), marked `A`.
    Acceptance,
    /// Approval (after signature), marked `AA`.
    Approval,
    /// Accession (without signature), marked `a`.
    Accession,
}

impl InstrumentKind {
    /// Whether this kind of instrument requires an earlier signature.
    pub fn needs_signature(self) -> bool {
        !matches!(self, InstrumentKind::Accession)
    }

    /// The suffix the UN Treaty Collection writes after the date.
    pub fn suffix(self) -> &'static str {
        match self {
            InstrumentKind::Ratification => "",
            InstrumentKind::Acceptance => " A",
            InstrumentKind::Approval => " AA",
            InstrumentKind::Accession => " a",
        }
    }

    /// The word the format uses.
    pub fn as_str(self) -> &'static str {
        match self {
            InstrumentKind::Ratification => "ratification",
            InstrumentKind::Acceptance => "acceptance",
            InstrumentKind::Approval => "approval",
            InstrumentKind::Accession => "accession",
        }
    }
}

/// `ratified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ratified {
    /// Who deposited.
    pub party: PartyId,
    /// The day of deposit.
    pub date: Date,
    /// Which instrument.
    pub instrument: InstrumentKind,
    /// The depositary notification.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<Label>,
}

/// `amendment_proposed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendmentProposed {
    /// The amendment's identifier, chosen by the registrar.
    pub amendment: AmendmentId,
    /// The proposing Party.
    pub party: PartyId,
    /// The day of the proposal.
    pub date: Date,
    /// Its title.
    pub title: Label,
    /// A 32-byte digest of its text, in hex.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub text_hash: Option<Digest32>,
    /// The depositary notification.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<Label>,
}

/// `amendment_adopted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendmentAdopted {
    /// The amendment.
    pub amendment: AmendmentId,
    /// The day the Conference adopted it.
    pub date: Date,
    /// The depositary notification.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<Label>,
}

/// `amendment_accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendmentAccepted {
    /// The amendment.
    pub amendment: AmendmentId,
    /// The accepting Party.
    pub party: PartyId,
    /// The day of deposit of its acceptance.
    pub date: Date,
    /// The depositary notification.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<Label>,
}

/// `denounced`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denounced {
    /// The denouncing Party.
    pub party: PartyId,
    /// The day the depositary received the notification.
    pub date: Date,
    /// The depositary notification.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<Label>,
}

/// The kind of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// A reservation.
    Reservation,
    /// A declaration.
    Declaration,
    /// An objection to another's reservation or declaration.
    Objection,
    /// Any other communication (a designation of authorities, a territorial application).
    Communication,
    /// A withdrawal of an earlier reservation or declaration.
    Withdrawal,
}

impl StatementKind {
    /// Every kind, in the order status tables list them.
    pub const ALL: [StatementKind; 5] = [
        StatementKind::Reservation,
        StatementKind::Declaration,
        StatementKind::Objection,
        StatementKind::Communication,
        StatementKind::Withdrawal,
    ];

    /// The word the format uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Reservation => "reservation",
            StatementKind::Declaration => "declaration",
            StatementKind::Objection => "objection",
            StatementKind::Communication => "communication",
            StatementKind::Withdrawal => "withdrawal",
        }
    }
}

/// `statement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Who made it.
    pub party: PartyId,
    /// The day it was made (or received).
    pub date: Date,
    /// What kind.
    pub kind: StatementKind,
    /// Its words.
    pub text: Text,
    /// The depositary notification.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<Label>,
}

/// `correction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The entry voided.
    pub voids: Seq,
    /// Why.
    pub reason: Label,
}

/// `participant_registered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantRegistered {
    /// The new participant.
    pub participant: ParticipantSpec,
}

impl Event {
    /// The `type` of the event, as the format writes it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::TreatyRegistered(_) => "treaty_registered",
            Event::KeyAuthorized(_) => "key_authorized",
            Event::KeyRevoked(_) => "key_revoked",
            Event::Signed(_) => "signed",
            Event::Ratified(_) => "ratified",
            Event::AmendmentProposed(_) => "amendment_proposed",
            Event::AmendmentAdopted(_) => "amendment_adopted",
            Event::AmendmentAccepted(_) => "amendment_accepted",
            Event::Denounced(_) => "denounced",
            Event::Statement(_) => "statement",
            Event::Correction(_) => "correction",
            Event::ParticipantRegistered(_) => "participant_registered",
        }
    }

    /// The participant the event is about, if any.
    pub fn party(&self) -> Option<&PartyId> {
        match self {
            Event::Signed(e) => Some(&e.party),
            Event::Ratified(e) => Some(&e.party),
            Event::AmendmentProposed(e) => Some(&e.party),
            Event::AmendmentAccepted(e) => Some(&e.party),
            Event::Denounced(e) => Some(&e.party),
            Event::Statement(e) => Some(&e.party),
            Event::ParticipantRegistered(e) => Some(&e.participant.id),
            Event::TreatyRegistered(_)
            | Event::KeyAuthorized(_)
            | Event::KeyRevoked(_)
            | Event::AmendmentAdopted(_)
            | Event::Correction(_) => None,
        }
    }

    /// The valid-time date of the act, if the event is an act with a date.
    pub fn date(&self) -> Option<Date> {
        match self {
            Event::Signed(e) => Some(e.date),
            Event::Ratified(e) => Some(e.date),
            Event::AmendmentProposed(e) => Some(e.date),
            Event::AmendmentAdopted(e) => Some(e.date),
            Event::AmendmentAccepted(e) => Some(e.date),
            Event::Denounced(e) => Some(e.date),
            Event::Statement(e) => Some(e.date),
            Event::TreatyRegistered(_)
            | Event::KeyAuthorized(_)
            | Event::KeyRevoked(_)
            | Event::Correction(_)
            | Event::ParticipantRegistered(_) => None,
        }
    }

    /// Whether only a root key may sign this event.
    pub fn needs_root(&self) -> bool {
        matches!(
            self,
            Event::TreatyRegistered(_) | Event::KeyAuthorized(_) | Event::KeyRevoked(_)
        )
    }

    /// Checks what the types alone cannot (a treaty's registry and rules).
    pub fn check(&self) -> Result<(), crate::entry::EntryError> {
        if let Event::TreatyRegistered(t) = self {
            t.treaty.check()?;
        }
        Ok(())
    }

    /// Every `type` there is, in the order of the format's table.
    pub const TYPES: [&'static str; 12] = [
        "treaty_registered",
        "key_authorized",
        "key_revoked",
        "signed",
        "ratified",
        "amendment_proposed",
        "amendment_adopted",
        "amendment_accepted",
        "denounced",
        "statement",
        "correction",
        "participant_registered",
    ];

    /// Reads an event from a JSON value: its `type`, then the members of that type, with
    /// any error naming the member (`place: invalid type: null, expected a string`).
    pub fn from_value(value: serde_json::Value) -> Result<Event, String> {
        let serde_json::Value::Object(mut members) = value else {
            return Err("an event is a JSON object".into());
        };
        let type_name = match members.remove("type") {
            Some(serde_json::Value::String(t)) => t,
            Some(_) => return Err("type: not a string".into()),
            None => return Err("missing field `type`".into()),
        };
        let rest = serde_json::Value::Object(members);
        fn read<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    inner.to_string()
                } else {
                    format!("{path}: {inner}")
                }
            })
        }
        Ok(match type_name.as_str() {
            "treaty_registered" => Event::TreatyRegistered(read(rest)?),
            "key_authorized" => Event::KeyAuthorized(read(rest)?),
            "key_revoked" => Event::KeyRevoked(read(rest)?),
            "signed" => Event::Signed(read(rest)?),
            "ratified" => Event::Ratified(read(rest)?),
            "amendment_proposed" => Event::AmendmentProposed(read(rest)?),
            "amendment_adopted" => Event::AmendmentAdopted(read(rest)?),
            "amendment_accepted" => Event::AmendmentAccepted(read(rest)?),
            "denounced" => Event::Denounced(read(rest)?),
            "statement" => Event::Statement(read(rest)?),
            "correction" => Event::Correction(read(rest)?),
            "participant_registered" => Event::ParticipantRegistered(read(rest)?),
            other => {
                return Err(format!(
                    "unknown variant `{other}`, expected one of {}",
                    Event::TYPES.map(|t| format!("`{t}`")).join(", ")
                ));
            }
        })
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Event::from_value(value).map_err(serde::de::Error::custom)
    }
}
