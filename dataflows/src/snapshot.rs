//! Snapshots of the streaming runner ([`crate::stream`]): the per-subscriber state of the
//! country/network detector and, with zones, of the zone detector at a batch boundary, and
//! the signals already sent for later batches, so that a restarted run goes on where this
//! one stopped (no arrival announced again for a subscriber already present, no moment of
//! a later batch lost).
//!
//! A snapshot taken at watermark `w` holds the state after every batch before
//! `batch_at(w)` was applied and none after, plus the *pending* signals: those sent at or
//! after `w`'s batch (not yet applied). A run restored from it starts with its input at
//! `w`, each worker keeping the subscribers it owns (by [`crate::detector::route_of_key`],
//! so the worker count may differ), and the pending signals sent again.
//!
//! The zone state ([`ZonePresence`]: current stays, stays waiting for the minimum dwell
//! with the arrival they will give, the zones of dwelling stays within the re-entry gap,
//! the network of the last located signal, the last location time for the horizon) is
//! restored the same way; its dwell timers are not stored but set again from the waiting
//! stays ([`crate::zone_detector::detect_with_zones_shared`]). The zones and the cell
//! catalog are reference data, not state: the restored run is fed them again, at `w`'s
//! batch, before any batch completes. Stays are kept by zone id: a zone that no longer
//! exists in the restored run's catalog places no later signal, so the subscriber's next
//! located signal ends the stay (a departure if it dwelled), as an edit of the catalog
//! while running would.
//!
//! In a cluster every process writes its own workers' share, all at the same boundary
//! ([`crate::stream`]'s cut): `processes` and `workers` say which run took it.
//!
//! On disk (`encode`/`decode`): the magic `LFSNAP04` (earlier versions' `LFSNAP02`,
//! without zone state, and `LFSNAP03`, without the run's shape, are refused as
//! [`SnapshotError::Version`]), the payload's length (u64 LE), the
//! payload (bincode 1, the serde format timely already uses for its exchanges: no new
//! dependency, a fixed little-endian layout), and the first 8 bytes of the payload's
//! SHA-256. A file cut short or altered anywhere is refused ([`SnapshotError`]), never
//! half-read; [`write_atomic`] writes it beside its final name, fsyncs, renames and fsyncs
//! the folder, so a crash at any point leaves either the old file or the new one.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::Path;

use landfall_model::{Signal, TimestampUs};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::detector::Presence;
use crate::zone_detector::ZonePresence;

/// The first bytes of a snapshot file.
pub const MAGIC: &[u8; 8] = b"LFSNAP04";
/// What every version's magic starts with (the last two bytes are the version).
const MAGIC_FAMILY: &[u8; 6] = b"LFSNAP";
/// The first bytes of each record of a journal of signals ([`encode_signals`]).
pub const JOURNAL_MAGIC: &[u8; 8] = b"LFJRNL01";

/// The streaming runner's state at a batch boundary (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamSnapshot {
    /// The watermark the snapshot was taken at: batches before `batch_at(watermark)` are
    /// in `presence`, later ones in `pending`.
    pub watermark: TimestampUs,
    /// The batch width of the run (a restore with another width is refused).
    pub batch_us: i64,
    /// Per-subscriber country/network state by [`crate::imsi_key`], ordered by key.
    pub presence: Vec<(u64, Presence)>,
    /// Per-subscriber zone state by [`crate::imsi_key`], ordered by key (empty for a run
    /// without zones; ignored by a restored run without zones).
    pub zones: Vec<(u64, ZonePresence)>,
    /// Signals sent for the batches from `batch_at(watermark)` on, in the order sent.
    pub pending: Vec<Signal>,
    /// The caller's position in its own log of what it sent (e.g. `serve`'s journal
    /// segment) when the snapshot was taken: what was sent after it is not covered.
    pub log_position: u64,
    /// The run that took it: its processes (1: not a cluster; a cluster's snapshot is
    /// one process's share, restored only by a cluster of the same shape) and workers per
    /// process.
    pub processes: u32,
    pub workers: u32,
}

/// A snapshot that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("not a landfall snapshot (bad magic)")]
    Magic,
    #[error(
        "snapshot format {found} is not this version's {} (written by another landfall version)",
        String::from_utf8_lossy(MAGIC)
    )]
    Version { found: String },
    #[error("snapshot cut short: {have} bytes of {need}")]
    Truncated { have: usize, need: usize },
    #[error("snapshot checksum mismatch")]
    Checksum,
    #[error("snapshot payload: {0}")]
    Payload(String),
}

impl StreamSnapshot {
    /// The file bytes (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let payload = bincode::serialize(self).expect("a snapshot always serializes");
        frame(MAGIC, &payload)
    }

    /// Read a snapshot back; anything short of a whole, intact file is an error.
    pub fn decode(bytes: &[u8]) -> Result<StreamSnapshot, SnapshotError> {
        if bytes.len() >= 8 && bytes[..6] == MAGIC_FAMILY[..] && bytes[..8] != MAGIC[..] {
            return Err(SnapshotError::Version {
                found: String::from_utf8_lossy(&bytes[..8]).into_owned(),
            });
        }
        let payload = unframe(MAGIC, bytes)?;
        bincode::deserialize(payload).map_err(|e| SnapshotError::Payload(e.to_string()))
    }
}

/// One journal record: `signals` framed ([`frame`]) under [`JOURNAL_MAGIC`].
pub fn encode_signals(signals: &[Signal]) -> Vec<u8> {
    let payload = bincode::serialize(signals).expect("signals always serialize");
    frame(JOURNAL_MAGIC, &payload)
}

/// The first journal record of `bytes` and its length in bytes; an error when it is cut
/// short (a write a kill interrupted) or damaged.
pub fn decode_signals(bytes: &[u8]) -> Result<(Vec<Signal>, usize), SnapshotError> {
    let payload = unframe(JOURNAL_MAGIC, bytes)?;
    let signals =
        bincode::deserialize(payload).map_err(|e| SnapshotError::Payload(e.to_string()))?;
    Ok((signals, payload.len() + 24))
}

/// `magic`, the length, `payload`, the checksum.
pub fn frame(magic: &[u8; 8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 24);
    out.extend_from_slice(magic);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&checksum(payload));
    out
}

/// The payload of [`frame`]'s bytes, checked whole.
pub fn unframe<'a>(magic: &[u8; 8], bytes: &'a [u8]) -> Result<&'a [u8], SnapshotError> {
    if bytes.len() < 16 {
        return Err(if bytes.len() >= 8 && &bytes[..8] != magic {
            SnapshotError::Magic
        } else {
            SnapshotError::Truncated {
                have: bytes.len(),
                need: 24,
            }
        });
    }
    if &bytes[..8] != magic {
        return Err(SnapshotError::Magic);
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let need = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(24))
        .unwrap_or(usize::MAX);
    if bytes.len() < need {
        return Err(SnapshotError::Truncated {
            have: bytes.len(),
            need,
        });
    }
    let payload = &bytes[16..need - 8];
    if bytes[need - 8..need] != checksum(payload) {
        return Err(SnapshotError::Checksum);
    }
    Ok(payload)
}

/// The first 8 bytes of the SHA-256 of `bytes`.
pub fn checksum(bytes: &[u8]) -> [u8; 8] {
    let d = Sha256::digest(bytes);
    d[..8].try_into().expect("8 bytes")
}

/// Write `bytes` to `path` so that a crash at any point leaves the old file (or none) or
/// the whole new one: a temporary file beside it, fsync'd, renamed over it, the folder
/// fsync'd.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // The rename itself made durable (folders can be opened and fsync'd on Unix).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use landfall_model::{Imsi, Proto, Provenance, SignalKind};

    fn sample() -> StreamSnapshot {
        let imsi = Imsi::parse("208011234567890").unwrap();
        let signal = Signal {
            at: 1_700_000_000_000_000,
            imsi,
            msisdn: None,
            kind: SignalKind::Attach,
            home: None,
            home_country: None,
            serving: None,
            serving_country: None,
            location: None,
            rat: None,
            source: Provenance {
                file: 1,
                frame: 2,
                proto: Proto::Diameter,
                message: 0,
            },
        };
        // A stay waiting for its minimum dwell, with the arrival it will give.
        let mut zone = ZonePresence::default();
        let rules = crate::Rules {
            min_dwell_us: 60_000_000,
            ..crate::Rules::default()
        };
        let (mut out, mut started) = (Vec::new(), Vec::new());
        let station = [crate::ZoneId::new("station").unwrap()];
        zone.touch(&signal, &rules, &mut out);
        let placement = crate::Placement::In(&station, signal.serving);
        zone.apply(&signal, placement, &rules, &mut out, &mut started);
        assert_eq!((zone.waiting().count(), out.len()), (1, 0));
        StreamSnapshot {
            watermark: 1_700_000_000_000_000,
            batch_us: 1_000_000,
            presence: vec![(crate::imsi_key(&imsi), Presence::default())],
            zones: vec![(crate::imsi_key(&imsi), zone)],
            pending: vec![signal, signal],
            log_position: 3,
            processes: 2,
            workers: 3,
        }
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(StreamSnapshot::decode(&s.encode()), Ok(s));
    }

    #[test]
    fn a_snapshot_of_the_previous_format_is_refused_by_version() {
        // LFSNAP02 (no zone state), LFSNAP03 (no shape): the same frame, another payload.
        for old in ["LFSNAP02", "LFSNAP03"] {
            let mut bytes = sample().encode();
            bytes[..8].copy_from_slice(old.as_bytes());
            let e = StreamSnapshot::decode(&bytes).unwrap_err();
            assert_eq!(e, SnapshotError::Version { found: old.into() });
            assert!(e.to_string().contains(old) && e.to_string().contains("LFSNAP04"));
        }
        assert_eq!(
            StreamSnapshot::decode(b"NOTASNAPSHOT-----------------").unwrap_err(),
            SnapshotError::Magic
        );
    }

    #[test]
    fn every_torn_prefix_and_every_flipped_byte_is_refused() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(
                StreamSnapshot::decode(&bytes[..n]).is_err(),
                "a prefix of {n} bytes was read"
            );
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            assert!(
                StreamSnapshot::decode(&b).is_err(),
                "byte {i} flipped was read"
            );
        }
    }

    #[test]
    fn journal_records_follow_each_other_and_a_torn_one_is_refused() {
        let s = sample();
        let mut bytes = encode_signals(&s.pending);
        let first = bytes.len();
        bytes.extend(encode_signals(&s.pending[..1]));
        let (a, n) = decode_signals(&bytes).unwrap();
        assert_eq!((a, n), (s.pending.clone(), first));
        let (b, m) = decode_signals(&bytes[n..]).unwrap();
        assert_eq!((b.len(), n + m), (1, bytes.len()));
        for cut in n..bytes.len() {
            assert!(decode_signals(&bytes[n..cut]).is_err(), "{cut}");
        }
        assert_eq!(
            decode_signals(&sample().encode()).unwrap_err(),
            SnapshotError::Magic
        );
    }

    proptest::proptest! {
        #[test]
        fn a_key_routes_as_its_imsi(digits in "[0-9]{5,15}") {
            let imsi = Imsi::parse(&digits).unwrap();
            let key = crate::imsi_key(&imsi);
            proptest::prop_assert_eq!(crate::route_of_key(key), crate::imsi_route(&imsi));
        }
    }

    #[test]
    fn write_atomic_replaces_whole() {
        let dir = std::env::temp_dir().join(format!("landfall-snap-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snapshot");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary left");
        fs::remove_dir_all(&dir).unwrap();
    }
}
