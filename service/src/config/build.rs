//! From the file's text to a [`Config`]: TOML parsed, deserialized into the raw structs
//! (types and unknown keys), then every value checked and converted, each error naming
//! its key through the [`Locator`]. The filesystem is not looked at here but to read the
//! small files whose content is part of the configuration (GT table, zones, operator key,
//! hostfile); `fsck` checks the rest.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use landfall_dataflows::zones::{read_catalog, read_zones, Catalog, Zone};
use landfall_parsers::decode::DecoderConfig;
use landfall_parsers::numbering::e164::{GtPlmnTable, E164};
use landfall_parsers::numbering::e212::E212;
use toml::de::DeTable;

use super::error::{ConfigError, Locator};
use super::raw::*;
use super::values::{self, byte_size, clock_offset_us, duration_in, MAX_DURATION};
use super::*;

pub fn build(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let root = DeTable::parse(text).map_err(|e| {
        let loc = e.span().map(|s| error::line_col(text, s.start));
        ConfigError {
            file: path.to_owned(),
            line_col: loc,
            key: None,
            message: format!("not valid TOML: {}", e.message().trim()),
        }
    })?;
    let loc = Locator::new(path, text, root.clone());
    let raw: RawConfig = serde_path_to_error::deserialize(toml::de::Deserializer::from(root))
        .map_err(|e| {
            let key = e.path().to_string();
            let key = (key != ".").then_some(key);
            let inner = e.into_inner();
            loc.at(key, inner.span(), explain(inner.message()))
        })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let b = Builder { loc: &loc, base };
    b.config(raw, path)
}

/// serde's wording, with the TOML vocabulary ("key" rather than "field").
fn explain(message: &str) -> String {
    let m = message.trim();
    if let Some(rest) = m.strip_prefix("unknown field ") {
        let rest = rest
            .replace("expected one of", "allowed keys:")
            .replace(", expected ", ", allowed: ");
        return format!("unknown key {rest}");
    }
    if let Some(rest) = m.strip_prefix("missing field ") {
        return format!("missing key {rest}");
    }
    m.to_owned()
}

struct Builder<'a> {
    loc: &'a Locator<'a>,
    base: PathBuf,
}

type R<T> = Result<T, ConfigError>;

impl Builder<'_> {
    fn err(&self, key: &str, msg: impl Into<String>) -> ConfigError {
        self.loc.error(key, msg)
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    fn dur(
        &self,
        key: &str,
        v: &Option<String>,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> R<Duration> {
        match v {
            None => Ok(default),
            Some(s) => duration_in(s, min, max).map_err(|e| self.err(key, e)),
        }
    }

    fn config(&self, raw: RawConfig, file: &Path) -> R<Config> {
        if raw.input.is_empty() {
            return Err(self.err(
                "input",
                format!(
                    "at least one [[input]] is required (kind = {})",
                    quoted(&InputKind::KINDS)
                ),
            ));
        }
        let inputs = raw
            .input
            .iter()
            .enumerate()
            .map(|(i, r)| self.input(i, r))
            .collect::<R<Vec<_>>>()?;
        if inputs.iter().filter(|i| i.kind == InputKind::Stdin).count() > 1 {
            return Err(self.err("input", "standard input can be read by one input only"));
        }
        let mut names = BTreeSet::new();
        for (i, inp) in inputs.iter().enumerate() {
            if !names.insert(inp.name.as_str()) {
                return Err(self.err(
                    &format!("input[{i}].name"),
                    format!(
                        "{:?} names another input too; give each input its own name",
                        inp.name
                    ),
                ));
            }
        }
        let rules = self.rules(&raw.rules)?;
        let sinks = if raw.sink.is_empty() {
            vec![SinkSettings::Stdout]
        } else {
            raw.sink
                .iter()
                .enumerate()
                .map(|(i, s)| self.sink(i, s))
                .collect::<R<Vec<_>>>()?
        };
        if sinks.iter().filter(|s| **s == SinkSettings::Stdout).count() > 1 {
            return Err(self.err("sink", "standard output can be written by one sink only"));
        }
        let mut files = BTreeSet::new();
        for (i, s) in sinks.iter().enumerate() {
            if let SinkSettings::File(f) = s {
                if !files.insert(&f.path) {
                    return Err(self.err(
                        &format!("sink[{i}].path"),
                        format!("{} is written by another sink too", f.path.display()),
                    ));
                }
            }
        }
        Ok(Config {
            file: file.to_owned(),
            inputs,
            decode: self.decode(&raw.decode)?,
            zones: raw.zones.as_ref().map(|z| self.zones(z)).transpose()?,
            rules,
            runtime: self.runtime(&raw.runtime)?,
            http: self.http(&raw.http)?,
            sinks,
            cluster: self.cluster(&raw.cluster)?,
            log: self.log(&raw.log)?,
            partners: raw
                .partners
                .as_ref()
                .map(|p| self.partners(p))
                .transpose()?,
        })
    }

    fn input(&self, i: usize, r: &RawInput) -> R<Input> {
        let at = |k: &str| format!("input[{i}].{k}");
        let given: Vec<(&str, bool)> = vec![
            ("paths", r.paths.is_some()),
            ("path", r.path.is_some()),
            ("pattern", r.pattern.is_some()),
            ("idle_close", r.idle_close.is_some()),
            ("device", r.device.is_some()),
            ("filter", r.filter.is_some()),
            ("snaplen", r.snaplen.is_some()),
            ("buffer", r.buffer.is_some()),
            ("format", r.format.is_some()),
            ("mapping", r.mapping.is_some()),
            ("listen", r.listen.is_some()),
        ];
        let own: &[&str] = match r.kind.as_str() {
            "files" => &["paths", "format", "mapping"],
            "folder" => &["path", "pattern", "idle_close", "format", "mapping"],
            "stdin" => &["format", "mapping"],
            "interface" => &["device", "filter", "snaplen", "buffer"],
            "tcp" => &["listen", "format", "mapping"],
            "unix" => &["path", "format", "mapping"],
            other => {
                return Err(self.err(
                    &at("kind"),
                    format!(
                        "unknown input kind {other:?}: allowed {}",
                        quoted(&InputKind::KINDS)
                    ),
                ))
            }
        };
        for (key, present) in given {
            if present && !own.contains(&key) {
                let mut keys = vec!["kind", "name", "clock_offset"];
                keys.extend_from_slice(own);
                return Err(self.err(
                    &at(key),
                    format!(
                        "not a key of a {:?} input (its keys: {})",
                        r.kind,
                        keys.join(", ")
                    ),
                ));
            }
        }
        let required = |v: &Option<String>, key: &str| {
            v.clone().ok_or_else(|| {
                self.err(
                    &format!("input[{i}]"),
                    format!("a {:?} input needs {key}", r.kind),
                )
            })
        };
        let kind = match r.kind.as_str() {
            "files" => {
                let paths = r.paths.clone().unwrap_or_default();
                if paths.is_empty() {
                    return Err(self.err(
                        &at("paths"),
                        "a \"files\" input needs at least one path (paths = [\"a.pcap\"])",
                    ));
                }
                InputKind::Files {
                    paths: paths.iter().map(|p| self.path(p)).collect(),
                }
            }
            "folder" => InputKind::Folder {
                path: self.path(&required(&r.path, "path")?),
                pattern: r
                    .pattern
                    .as_deref()
                    .map(|p| {
                        glob::Pattern::new(p).map_err(|e| {
                            self.err(&at("pattern"), format!("{p:?} is not a glob pattern: {e}"))
                        })
                    })
                    .transpose()?,
                idle_close: self.dur(
                    &at("idle_close"),
                    &r.idle_close,
                    defaults::IDLE_CLOSE,
                    Duration::from_millis(100),
                    Duration::from_secs(24 * 3600),
                )?,
            },
            "stdin" => InputKind::Stdin,
            "tcp" => {
                let listen = required(&r.listen, "listen")?;
                InputKind::Tcp {
                    listen: listen.parse().map_err(|_| {
                        self.err(
                            &at("listen"),
                            format!("{listen:?} is not an address and port (\"127.0.0.1:7400\")"),
                        )
                    })?,
                }
            }
            "unix" => InputKind::Unix {
                path: self.path(&required(&r.path, "path")?),
            },
            _ => {
                let device = required(&r.device, "device")?;
                if device.is_empty() || device.contains(char::is_whitespace) {
                    return Err(self.err(
                        &at("device"),
                        format!("{device:?} is not an interface name"),
                    ));
                }
                let snaplen = r.snaplen.unwrap_or(defaults::SNAPLEN);
                if !(256..=262_144).contains(&snaplen) {
                    return Err(self.err(
                        &at("snaplen"),
                        format!("{snaplen} is out of range: allowed 256 to 262144"),
                    ));
                }
                let buffer_bytes = match &r.buffer {
                    None => defaults::BUFFER_BYTES,
                    Some(b) => byte_size(&b.0).map_err(|e| self.err(&at("buffer"), e))?,
                };
                if !(1 << 20..=4 << 30).contains(&buffer_bytes) {
                    return Err(self.err(
                        &at("buffer"),
                        format!(
                            "{:?} is out of range: allowed 1MiB to 4GiB",
                            b_text(&r.buffer)
                        ),
                    ));
                }
                let filter = r
                    .filter
                    .clone()
                    .unwrap_or_else(|| defaults::FILTER.to_owned());
                if filter.trim().is_empty() {
                    return Err(self.err(
                        &at("filter"),
                        "an empty filter would capture everything; leave the key out for the default",
                    ));
                }
                InputKind::Interface {
                    device,
                    filter,
                    snaplen,
                    buffer_bytes,
                }
            }
        };
        let name = match &r.name {
            Some(n) if n.trim().is_empty() || n.len() > 64 || n.chars().any(char::is_control) => {
                return Err(self.err(
                    &at("name"),
                    format!("{n:?}: a name is 1 to 64 printable characters"),
                ))
            }
            Some(n) => n.clone(),
            None => match &kind {
                InputKind::Files { .. } => "files".to_owned(),
                InputKind::Folder { path, .. } => format!("folder:{}", path.display()),
                InputKind::Stdin => defaults::NAME_STDIN.to_owned(),
                InputKind::Interface { device, .. } => format!("interface:{device}"),
                InputKind::Tcp { listen } => format!("tcp:{listen}"),
                InputKind::Unix { path } => format!("unix:{}", path.display()),
            },
        };
        let format = self.input_format(i, r, &kind)?;
        let clock_offset_us = match &r.clock_offset {
            None => 0,
            Some(s) => clock_offset_us(s).map_err(|e| self.err(&at("clock_offset"), e))?,
        };
        Ok(Input {
            name,
            clock_offset_us,
            kind,
            format,
        })
    }

    /// `format` and `mapping`: captures by default; record lines for sockets, for
    /// `format = "records"` and with a mapping (read and checked now: its errors name it).
    fn input_format(&self, i: usize, r: &RawInput, kind: &InputKind) -> R<InputFormat> {
        let at = |k: &str| format!("input[{i}].{k}");
        let sockets = matches!(kind, InputKind::Tcp { .. } | InputKind::Unix { .. });
        let records = match r.format.as_deref() {
            None => sockets || r.mapping.is_some(),
            Some("records") => true,
            Some("pcap") if sockets => {
                return Err(self.err(
                    &at("format"),
                    format!(
                        "a {:?} input reads record lines only (format = \"records\")",
                        r.kind
                    ),
                ))
            }
            Some("pcap") if r.mapping.is_some() => {
                return Err(self.err(
                    &at("mapping"),
                    "a mapping reads records: format = \"records\", or leave format out",
                ))
            }
            Some("pcap") => false,
            Some(other) => {
                return Err(self.err(
                    &at("format"),
                    format!(
                        "unknown format {other:?}: allowed {}",
                        quoted(&InputFormat::NAMES)
                    ),
                ))
            }
        };
        Ok(match (&r.mapping, records) {
            (None, false) => InputFormat::Captures,
            (None, true) => InputFormat::Records,
            (Some(m), _) => {
                let path = self.path(m);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    self.err(
                        &at("mapping"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let mapping = Mapping::parse(&text)
                    .map_err(|e| self.err(&at("mapping"), format!("{}: {e}", path.display())))?;
                InputFormat::Mapped {
                    path,
                    mapping: Arc::new(mapping),
                }
            }
        })
    }

    fn decode(&self, r: &RawDecode) -> R<DecodeSettings> {
        let ports = r
            .diameter_tcp_ports
            .clone()
            .unwrap_or_else(|| defaults::DIAMETER_TCP_PORTS.to_vec());
        if let Some(i) = ports.iter().position(|p| *p == 0) {
            return Err(self.err(
                &format!("decode.diameter_tcp_ports[{i}]"),
                "port 0 is not a port",
            ));
        }
        let mcc = r.mcc.clone().unwrap_or_default();
        let mut e212 = E212::default();
        for (i, spec) in mcc.iter().enumerate() {
            e212 = e212
                .with_override_spec(spec)
                .map_err(|e| self.err(&format!("decode.mcc[{i}]"), e))?;
        }
        let gt_plmn = r.gt_plmn.as_deref().map(|p| self.path(p));
        if let Some(p) = &gt_plmn {
            read_gt_table(p).map_err(|e| self.err("decode.gt_plmn", e))?;
        }
        Ok(DecodeSettings {
            diameter_tcp_ports: ports,
            mcc,
            gt_plmn,
            answer_tolerance: self.dur(
                "decode.answer_tolerance",
                &r.answer_tolerance,
                defaults::ANSWER_TOLERANCE,
                Duration::ZERO,
                Duration::from_secs(3600),
            )?,
        })
    }

    fn zones(&self, r: &RawZones) -> R<ZoneSettings> {
        let zones = self.path(&r.zones);
        read_zone_file(&zones).map_err(|e| self.err("zones.zones", e))?;
        Ok(ZoneSettings {
            zones,
            cells: r.cells.as_deref().map(|p| self.path(p)),
            skip_bad_rows: r.skip_bad_rows.unwrap_or(false),
        })
    }

    fn rules(&self, r: &RawRules) -> R<RuleSettings> {
        let zero = Duration::ZERO;
        let rules = RuleSettings {
            reentry_gap: self.dur(
                "rules.reentry_gap",
                &r.reentry_gap,
                defaults::REENTRY_GAP,
                zero,
                MAX_DURATION,
            )?,
            ttl: self.dur(
                "rules.ttl",
                &r.ttl,
                defaults::TTL,
                Duration::from_secs(1),
                MAX_DURATION,
            )?,
            min_dwell: self.dur(
                "rules.min_dwell",
                &r.min_dwell,
                defaults::MIN_DWELL,
                zero,
                MAX_DURATION,
            )?,
            lateness: self.dur(
                "rules.lateness",
                &r.lateness,
                defaults::LATENESS,
                zero,
                Duration::from_secs(3600),
            )?,
            horizon: self.dur(
                "rules.horizon",
                &r.horizon,
                defaults::HORIZON,
                Duration::from_secs(60),
                MAX_DURATION,
            )?,
            batch: self.dur(
                "rules.batch",
                &r.batch,
                defaults::BATCH,
                Duration::from_micros(100),
                Duration::from_secs(60),
            )?,
            idle_timeout: self.dur(
                "rules.idle_timeout",
                &r.idle_timeout,
                defaults::IDLE_TIMEOUT,
                Duration::from_millis(10),
                Duration::from_secs(3600),
            )?,
            wall_clock: r.wall_clock.unwrap_or(defaults::WALL_CLOCK),
        };
        for (name, d) in [
            ("rules.reentry_gap", rules.reentry_gap),
            ("rules.min_dwell", rules.min_dwell),
        ] {
            if rules.horizon < d {
                return Err(self.err(
                    "rules.horizon",
                    format!(
                        "{} is shorter than {name} ({}): a subscriber's state is forgotten after the horizon of silence, so the rule could not hold; make the horizon at least as long",
                        values::format_duration(rules.horizon),
                        values::format_duration(d)
                    ),
                ));
            }
        }
        Ok(rules)
    }

    fn runtime(&self, r: &RawRuntime) -> R<RuntimeSettings> {
        let workers = r.workers.unwrap_or(defaults::WORKERS);
        if !(1..=256).contains(&workers) {
            return Err(self.err(
                "runtime.workers",
                format!("{workers} is out of range: allowed 1 to 256"),
            ));
        }
        let data_dir = r.data_dir.as_deref().unwrap_or(defaults::DATA_DIR);
        if data_dir.trim().is_empty() {
            return Err(self.err("runtime.data_dir", "an empty path"));
        }
        Ok(RuntimeSettings {
            workers,
            data_dir: self.path(data_dir),
            snapshot_interval: self.dur(
                "runtime.snapshot_interval",
                &r.snapshot_interval,
                defaults::SNAPSHOT_INTERVAL,
                Duration::from_millis(100),
                Duration::from_secs(24 * 3600),
            )?,
        })
    }

    fn http(&self, r: &RawHttp) -> R<HttpSettings> {
        let text = r.listen.as_deref().unwrap_or(defaults::LISTEN);
        let listen: SocketAddr = text.trim().parse().map_err(|_| {
            self.err(
                "http.listen",
                format!("{text:?} is not an IP address and port, e.g. \"127.0.0.1:9464\" or \"[::]:9464\""),
            )
        })?;
        let (key, source) = match (&r.operator_key, &r.operator_key_file) {
            (Some(_), Some(_)) => {
                return Err(self.err(
                    "http.operator_key_file",
                    "give operator_key or operator_key_file, not both",
                ))
            }
            (Some(k), None) => (
                Some((k.clone(), "http.operator_key")),
                Some("operator_key".to_owned()),
            ),
            (None, Some(f)) => {
                let p = self.path(f);
                let k = std::fs::read_to_string(&p).map_err(|e| {
                    self.err(
                        "http.operator_key_file",
                        format!("cannot read {}: {e}", p.display()),
                    )
                })?;
                (
                    Some((k.trim().to_owned(), "http.operator_key_file")),
                    Some(format!("operator_key_file {}", p.display())),
                )
            }
            (None, None) => (None, None),
        };
        let operator_key = match key {
            None => None,
            Some((k, at)) => {
                if k.chars().count() < defaults::MIN_KEY_LEN {
                    return Err(self.err(
                        at,
                        format!(
                            "the operator key is {} characters long; use at least {} (e.g. `openssl rand -hex 32`)",
                            k.chars().count(),
                            defaults::MIN_KEY_LEN
                        ),
                    ));
                }
                if k.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
                {
                    return Err(self.err(
                        at,
                        "the operator key must be printable ASCII without spaces",
                    ));
                }
                Some(k)
            }
        };
        Ok(HttpSettings {
            listen,
            operator_key,
            operator_key_source: source,
        })
    }

    fn sink(&self, i: usize, r: &RawSink) -> R<SinkSettings> {
        let at = |k: &str| format!("sink[{i}].{k}");
        let given = [
            ("path", r.path.is_some()),
            ("rotate_bytes", r.rotate_bytes.is_some()),
            ("rotate_interval", r.rotate_interval.is_some()),
            ("keep", r.keep.is_some()),
            ("fsync", r.fsync.is_some()),
        ];
        match r.kind.as_str() {
            "stdout" => {
                if let Some((key, _)) = given.iter().find(|(_, present)| *present) {
                    return Err(
                        self.err(&at(key), "not a key of a \"stdout\" sink (its keys: kind)")
                    );
                }
                Ok(SinkSettings::Stdout)
            }
            "file" => {
                let path = r
                    .path
                    .as_deref()
                    .ok_or_else(|| self.err(&format!("sink[{i}]"), "a \"file\" sink needs path"))?;
                let rotate_bytes = match &r.rotate_bytes {
                    None => None,
                    Some(b) => {
                        let n = byte_size(&b.0).map_err(|e| self.err(&at("rotate_bytes"), e))?;
                        if n < 4096 {
                            return Err(self.err(
                                &at("rotate_bytes"),
                                format!("{:?} is out of range: at least 4KiB", b.0),
                            ));
                        }
                        Some(n)
                    }
                };
                let rotate_interval = r
                    .rotate_interval
                    .as_ref()
                    .map(|s| {
                        duration_in(s, Duration::from_secs(1), MAX_DURATION)
                            .map_err(|e| self.err(&at("rotate_interval"), e))
                    })
                    .transpose()?;
                let keep = r.keep.unwrap_or(defaults::KEEP);
                if keep > 100_000 {
                    return Err(self.err(
                        &at("keep"),
                        format!("{keep} is out of range: allowed 0 to 100000"),
                    ));
                }
                Ok(SinkSettings::File(FileSinkSettings {
                    path: self.path(path),
                    rotate_bytes,
                    rotate_interval,
                    keep,
                    fsync: r.fsync.unwrap_or(false),
                }))
            }
            other => Err(self.err(
                &at("kind"),
                format!(
                    "unknown sink kind {other:?}: allowed {}",
                    quoted(&SinkSettings::KINDS)
                ),
            )),
        }
    }

    fn cluster(&self, r: &RawCluster) -> R<ClusterSettings> {
        let processes = r.processes.unwrap_or(1);
        if !(1..=1024).contains(&processes) {
            return Err(self.err(
                "cluster.processes",
                format!("{processes} is out of range: allowed 1 to 1024"),
            ));
        }
        let process = r.process.unwrap_or(0);
        if process >= processes {
            return Err(self.err(
                "cluster.process",
                format!("{process} is not below cluster.processes ({processes}); processes are numbered from 0"),
            ));
        }
        let connect_timeout = self.dur(
            "cluster.connect_timeout",
            &r.connect_timeout,
            defaults::CONNECT_TIMEOUT,
            Duration::from_millis(100),
            Duration::from_secs(24 * 3600),
        )?;
        let hostfile = r.hostfile.as_deref().map(|p| self.path(p));
        let hosts = match &hostfile {
            None if processes > 1 => {
                return Err(self.err(
                    "cluster.hostfile",
                    format!(
                    "cluster.processes = {processes} needs a hostfile (one IP:port per process)"
                ),
                ))
            }
            None => Vec::new(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    self.err(
                        "cluster.hostfile",
                        format!("cannot read {}: {e}", p.display()),
                    )
                })?;
                let hosts = landfall_dataflows::runner::parse_hostfile(&text)
                    .map_err(|e| self.err("cluster.hostfile", format!("{}: {e}", p.display())))?;
                if hosts.len() != processes as usize {
                    return Err(self.err(
                        "cluster.hostfile",
                        format!(
                            "{} lists {} addresses for cluster.processes = {processes}",
                            p.display(),
                            hosts.len()
                        ),
                    ));
                }
                hosts
            }
        };
        Ok(ClusterSettings {
            processes,
            process,
            hosts,
            hostfile,
            connect_timeout,
        })
    }

    fn partners(&self, r: &RawPartners) -> R<PartnerSettings> {
        let operator_country =
            landfall_model::Country::new(&r.operator_country).ok_or_else(|| {
                self.err(
                    "partners.operator_country",
                    format!(
                        "{:?} is not a country: an ISO 3166 alpha-2 code such as \"FR\"",
                        r.operator_country
                    ),
                )
            })?;
        let event_source = r
            .event_source
            .clone()
            .unwrap_or_else(|| "urn:landfall".to_owned());
        if event_source.trim().is_empty() {
            return Err(self.err(
                "partners.event_source",
                "empty: the CloudEvent source, a URI such as \"urn:landfall:operator\"",
            ));
        }
        let count = |key: &str, v: Option<u32>, default: u32, max: u32| -> R<u32> {
            let n = v.unwrap_or(default);
            if n == 0 || n > max {
                return Err(self.err(key, format!("{n} is out of range (1 to {max})")));
            }
            Ok(n)
        };
        let retry_delays = match &r.retry_delays {
            None => landfall_delivery::dispatch::DispatchConfig::default().retry_delays,
            Some(v) if v.is_empty() => {
                return Err(self.err("partners.retry_delays", "empty: give at least one delay"))
            }
            Some(v) => v
                .iter()
                .map(|d| {
                    self.dur(
                        "partners.retry_delays",
                        &Some(d.clone()),
                        Duration::ZERO,
                        Duration::ZERO,
                        Duration::from_secs(7 * 86_400),
                    )
                })
                .collect::<R<Vec<Duration>>>()?,
        };
        Ok(PartnerSettings {
            operator_country,
            event_source,
            allow_http_loopback: r.allow_http_loopback.unwrap_or(false),
            allow_private_sinks: r.allow_private_sinks.unwrap_or(false),
            max_active_subscriptions: count(
                "partners.max_active_subscriptions",
                r.max_active_subscriptions,
                1_000,
                1_000_000,
            )?,
            request_timeout: self.dur(
                "partners.request_timeout",
                &r.request_timeout,
                Duration::from_secs(10),
                Duration::from_millis(100),
                Duration::from_secs(300),
            )?,
            per_sink_concurrency: count(
                "partners.per_sink_concurrency",
                r.per_sink_concurrency,
                8,
                1_024,
            )?,
            retry_delays,
            max_attempts: count("partners.max_attempts", r.max_attempts, 8, 100)?,
            aggregate_min_count: match r.aggregate_min_count {
                Some(k) if k < 2 => {
                    return Err(self.err(
                        "partners.aggregate_min_count",
                        format!("{k} would let one subscriber's arrival through: at least 2"),
                    ))
                }
                k => count(
                    "partners.aggregate_min_count",
                    k,
                    defaults::AGGREGATE_MIN_COUNT,
                    1_000_000,
                )?,
            },
        })
    }

    fn log(&self, r: &RawLog) -> R<LogSettings> {
        let filter = r
            .filter
            .clone()
            .unwrap_or_else(|| defaults::LOG_FILTER.to_owned());
        tracing_subscriber::EnvFilter::builder()
            .parse(&filter)
            .map_err(|e| self.err("log.filter", format!("{filter:?} is not a log filter such as \"info\" or \"landfall_service=debug,info\": {e}")))?;
        Ok(LogSettings { filter })
    }
}

fn b_text(b: &Option<RawBytes>) -> String {
    b.as_ref().map(|b| b.0.clone()).unwrap_or_default()
}

/// `"a", "b" or "c"`.
fn quoted(options: &[&str]) -> String {
    let q: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => q.join(""),
    }
}

fn read_gt_table(p: &Path) -> Result<GtPlmnTable, String> {
    let text =
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    GtPlmnTable::parse(&text).map_err(|e| format!("{}: {e}", p.display()))
}

fn read_zone_file(p: &Path) -> Result<Vec<Zone>, String> {
    let text =
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    read_zones(&text).map_err(|e| format!("{}: {e}", p.display()))
}

pub fn decoder_config(cfg: &Config) -> Result<DecoderConfig, ConfigError> {
    let d = &cfg.decode;
    let at = |key: &str, message: String| ConfigError {
        file: cfg.file.clone(),
        line_col: None,
        key: Some(key.to_owned()),
        message,
    };
    let mut e212 = E212::default();
    for (i, spec) in d.mcc.iter().enumerate() {
        e212 = e212
            .with_override_spec(spec)
            .map_err(|e| at(&format!("decode.mcc[{i}]"), e))?;
    }
    let gt_plmn = match &d.gt_plmn {
        Some(p) => read_gt_table(p).map_err(|e| at("decode.gt_plmn", e))?,
        None => GtPlmnTable::default(),
    };
    Ok(DecoderConfig {
        diameter_tcp_ports: d.diameter_tcp_ports.clone(),
        e212,
        e164: E164::default(),
        gt_plmn,
        answer_tolerance_us: values::micros(d.answer_tolerance),
    })
}

pub fn load_zones(cfg: &Config) -> Result<Option<(Vec<Zone>, Catalog)>, ConfigError> {
    let Some(z) = &cfg.zones else {
        return Ok(None);
    };
    let at = |key: &str, message: String| ConfigError {
        file: cfg.file.clone(),
        line_col: None,
        key: Some(key.to_owned()),
        message,
    };
    let zones = read_zone_file(&z.zones).map_err(|e| at("zones.zones", e))?;
    let catalog = match &z.cells {
        None => Catalog::default(),
        Some(p) => {
            let f = std::fs::File::open(p)
                .map_err(|e| at("zones.cells", format!("cannot read {}: {e}", p.display())))?;
            read_catalog(std::io::BufReader::new(f), z.bad_rows())
                .map_err(|e| at("zones.cells", format!("{}: {e}", p.display())))?
        }
    };
    Ok(Some((zones, catalog)))
}
