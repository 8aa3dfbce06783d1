//! Events written by people (event files, rules files): any JSON spelling is accepted, but
//! a member named twice is refused rather than silently resolved, as entries would be.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::event::Event;
use crate::jcs::MAX_DEPTH;
use crate::treaty::Treaty;

/// Why a JSON text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Reads one event from a JSON object, refusing repeated members, unknown members and bad
/// values (the message names the field).
pub fn event_from_json(bytes: &[u8]) -> Result<Event, InputError> {
    check_unique_members(bytes)?;
    let event: Event = from_json_with_path(bytes)?;
    event.check().map_err(|e| InputError(e.to_string()))?;
    Ok(event)
}

/// Reads a treaty (a rules file) from JSON, with the same care.
pub fn treaty_from_json(bytes: &[u8]) -> Result<Treaty, InputError> {
    check_unique_members(bytes)?;
    let treaty: Treaty = from_json_with_path(bytes)?;
    treaty.check().map_err(|e| InputError(e.to_string()))?;
    Ok(treaty)
}

/// Reads a value with serde, naming in any error the member that is wrong
/// (`rules.signature.opens: ...`).
pub fn from_json_with_path<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, InputError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = without_position(&inner);
        InputError(if path == "." || path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        })
    })?;
    de.end().map_err(|e| InputError(without_position(&e)))?;
    Ok(value)
}

/// serde_json's message without its " at line L column C" suffix, replaced by the byte
/// position when the input is one line (as entries and event lines are).
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) if e.line() == 1 => format!("{message} (at byte {})", e.column()),
        Some(message) => format!("{message} (at line {} column {})", e.line(), e.column()),
        None => text,
    }
}

/// Fails if any object in the JSON text names a member twice, or nests too deeply; the
/// message names the member where it happened (`treaty.participants[3].id: ...`).
pub fn check_unique_members(bytes: &[u8]) -> Result<(), InputError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_any(Unique {
        depth: 0,
        path: String::new(),
    })
    .and_then(|()| de.end())
    .map_err(|e| InputError(without_position(&e)))
}

struct Unique {
    depth: usize,
    /// Where in the document this value is, as `a.b[2].c`.
    path: String,
}

impl<'de> de::DeserializeSeed<'de> for Unique {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Prefixes an error raised inside a member with the member's path, once.
fn at<E: de::Error>(path: &str, e: E) -> E {
    let text = e.to_string();
    if path.is_empty() || text.starts_with(path) {
        e
    } else {
        E::custom(format_args!("{path}: {text}"))
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.next_depth::<A::Error>()?;
        let mut i = 0;
        loop {
            let path = format!("{}[{i}]", self.path);
            let seed = Unique {
                depth,
                path: path.clone(),
            };
            match seq.next_element_seed(seed) {
                Ok(Some(())) => i += 1,
                Ok(None) => return Ok(()),
                Err(e) => return Err(at(&path, e)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let depth = self.next_depth::<A::Error>()?;
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>().map_err(|e| at(&self.path, e))? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!(
                    "member `{path}` appears twice"
                )));
            }
            let seed = Unique {
                depth,
                path: path.clone(),
            };
            map.next_value_seed(seed).map_err(|e| at(&path, e))?;
        }
        Ok(())
    }
}

impl Unique {
    fn next_depth<E: de::Error>(&self) -> Result<usize, E> {
        if self.depth >= MAX_DEPTH {
            Err(E::custom("nested too deeply"))
        } else {
            Ok(self.depth + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_from_hand_written_json() {
        let e = event_from_json(br#"{ "party": "FRA", "type": "signed", "date": "2025-10-25" }"#)
            .expect("event");
        assert_eq!(e.type_name(), "signed");
        let err = |s: &str| event_from_json(s.as_bytes()).expect_err(s).0;
        assert!(
            err(r#"{"type":"signed","party":"FRA","party":"DEU","date":"2025-10-25"}"#)
                .contains("member `party` appears twice")
        );
        assert!(
            err(r#"{"type":"signed","type":"ratified","party":"FRA","date":"2025-10-25"}"#)
                .contains("appears twice")
        );
        assert!(err(r#"{"type":"signed","party":"FRA"}"#).contains("missing field `date`"));
        assert!(
            err(r#"{"type":"signed","party":"FRA","date":"2025-10-25","colour":"red"}"#)
                .contains("unknown field `colour`")
        );
        assert!(
            err(r#"{"type":"sgned","party":"FRA","date":"2025-10-25"}"#)
                .contains("unknown variant `sgned`")
        );
        assert!(
            err(r#"{"type":"signed","party":"fra","date":"2025-10-25"}"#)
                .contains("participant id")
        );
        assert!(
            err(r#"{"type":"signed","party":"FRA","date":"2025-10-25","place":null}"#)
                .contains("invalid type: null")
        );
        assert!(err(r#"{"type":"correction","voids":1.5,"reason":"x"}"#).contains("invalid type"));
        assert!(
            err(r#"{"type":"correction","voids":99999999999999999999,"reason":"x"}"#).len() > 5
        );
        assert!(
            err(&format!("{}{}", "[".repeat(200), "]".repeat(200))).contains("nested too deeply")
        );
    }
}
