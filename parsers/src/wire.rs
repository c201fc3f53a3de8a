//! Big-endian field reads that never panic, shared by the codecs.

/// The u16 at `at`, or `None` past the end.
pub fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

/// The u32 at `at`, or `None` past the end.
pub fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// The u16 at `at`, or 0 past the end (for views whose length was checked up front).
pub fn be16_or_zero(data: &[u8], at: usize) -> u16 {
    be16(data, at).unwrap_or(0)
}

/// The u32 at `at`, or 0 past the end (for views whose length was checked up front).
pub fn be32_or_zero(data: &[u8], at: usize) -> u32 {
    be32(data, at).unwrap_or(0)
}
