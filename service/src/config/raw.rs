//! The configuration file as written: serde structs with `deny_unknown_fields`, every
//! value still text where its syntax is checked later (durations, sizes, addresses), so
//! that one checking pass names the key and the line of any bad value. Types and unknown
//! keys are refused here, by serde, with the key path and the allowed keys.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub input: Vec<RawInput>,
    #[serde(default)]
    pub decode: RawDecode,
    pub zones: Option<RawZones>,
    #[serde(default)]
    pub rules: RawRules,
    #[serde(default)]
    pub runtime: RawRuntime,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub sink: Vec<RawSink>,
    #[serde(default)]
    pub cluster: RawCluster,
    #[serde(default)]
    pub log: RawLog,
    pub partners: Option<RawPartners>,
}

/// `[partners]`: the partner API, the partner stage and delivery.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPartners {
    pub operator_country: String,
    pub event_source: Option<String>,
    pub allow_http_loopback: Option<bool>,
    pub allow_private_sinks: Option<bool>,
    pub max_active_subscriptions: Option<u32>,
    pub request_timeout: Option<String>,
    pub per_sink_concurrency: Option<u32>,
    pub retry_delays: Option<Vec<String>>,
    pub max_attempts: Option<u32>,
    pub aggregate_min_count: Option<u32>,
}

/// One `[[input]]`: the keys of every kind in one table, checked against its `kind`
/// afterwards (so a key of another kind is named as such, not as unknown).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    pub kind: String,
    pub name: Option<String>,
    pub clock_offset: Option<String>,
    // files, folder, stdin: "pcap" (default) or "records"; tcp and unix: records only
    pub format: Option<String>,
    pub mapping: Option<String>,
    // tcp
    pub listen: Option<String>,
    // files
    pub paths: Option<Vec<String>>,
    // folder, unix
    pub path: Option<String>,
    pub pattern: Option<String>,
    pub idle_close: Option<String>,
    // interface
    pub device: Option<String>,
    pub filter: Option<String>,
    pub snaplen: Option<u32>,
    pub buffer: Option<RawBytes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDecode {
    pub diameter_tcp_ports: Option<Vec<u16>>,
    pub mcc: Option<Vec<String>>,
    pub gt_plmn: Option<String>,
    pub answer_tolerance: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZones {
    pub zones: String,
    pub cells: Option<String>,
    pub skip_bad_rows: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    pub reentry_gap: Option<String>,
    pub ttl: Option<String>,
    pub min_dwell: Option<String>,
    pub lateness: Option<String>,
    pub horizon: Option<String>,
    pub batch: Option<String>,
    pub idle_timeout: Option<String>,
    pub wall_clock: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    pub workers: Option<u32>,
    pub data_dir: Option<String>,
    pub snapshot_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
    pub operator_key: Option<String>,
    pub operator_key_file: Option<String>,
}

/// One `[[sink]]`: keys of every kind, checked against its `kind` afterwards.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub kind: String,
    pub path: Option<String>,
    pub rotate_bytes: Option<RawBytes>,
    pub rotate_interval: Option<String>,
    pub keep: Option<u32>,
    pub fsync: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub processes: Option<u32>,
    pub process: Option<u32>,
    pub hostfile: Option<String>,
    pub connect_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub filter: Option<String>,
}

/// A size written as an integer (bytes) or a string with a unit ("64MiB"); kept as text
/// and parsed by [`super::values::byte_size`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBytes(pub String);

impl<'de> Deserialize<'de> for RawBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: an integer count of bytes or a string such as \"64MiB\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawBytes, E> {
                Ok(RawBytes(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawBytes, E> {
                if v < 0 {
                    return Err(E::custom(format!("{v} is negative: a size is at least 0")));
                }
                Ok(RawBytes(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawBytes, E> {
                Ok(RawBytes(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}
