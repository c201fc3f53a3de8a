//! Zone identifiers: the names operators give their zones, kept inline.

use serde::{Deserialize, Serialize};

/// Why a text cannot be a [`ZoneId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ZoneIdError(pub String);

/// A zone's identifier, as the operator names it in the zone file (`"cdg-t2"`): 1 to
/// [`ZoneId::MAX_LEN`] characters of `A-Z a-z 0-9 - _ . : /`.
///
/// Stored inline (no heap), so that [`crate::moment::Area`] and [`crate::moment::Moment`] stay `Copy`
/// and cheap to move through the dataflow. Ordered, displayed and serialized as the text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZoneId {
    len: u8,
    bytes: [u8; ZoneId::MAX_LEN],
}

impl ZoneId {
    /// The longest identifier accepted.
    pub const MAX_LEN: usize = 23;

    /// `id` as a zone identifier, or why it cannot be one.
    pub fn new(id: &str) -> Result<ZoneId, ZoneIdError> {
        let b = id.as_bytes();
        if b.is_empty() || b.len() > ZoneId::MAX_LEN {
            return Err(ZoneIdError(format!(
                "zone id {id:?}: must be 1 to {} characters",
                ZoneId::MAX_LEN
            )));
        }
        if let Some(c) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_.:/".contains(*c)))
        {
            return Err(ZoneIdError(format!(
                "zone id {id:?}: character {c:?} is not one of A-Z a-z 0-9 - _ . : /"
            )));
        }
        let mut bytes = [0u8; ZoneId::MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Ok(ZoneId {
            len: b.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl Ord for ZoneId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for ZoneId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for ZoneId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for ZoneId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZoneId({:?})", self.as_str())
    }
}

impl Serialize for ZoneId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ZoneId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ZoneId::new(&s).map_err(serde::de::Error::custom)
    }
}
