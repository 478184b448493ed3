//! Serde for [`SecretString`] on the wire: the one place a secret is written into a body.

use serde::{Deserialize, Deserializer, Serializer};
use tern_types::SecretString;

pub(crate) fn serialize<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::new)
}

/// The same for an optional secret (`null` when absent).
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => s.serialize_some(secret.expose_secret()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Option::<String>::deserialize(d).map(|v| v.map(SecretString::new))
    }
}

/// A [`tern_types::RunPhase`] as its name (`plan`, `apply`).
pub(crate) mod phase {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use tern_types::RunPhase;

    pub(crate) fn serialize<S: Serializer>(phase: &RunPhase, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(phase.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RunPhase, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(|_| D::Error::custom(format!("{name:?} is not a phase (plan or apply)")))
    }
}
