//! Configuration tests: defaults, relative paths, and one readable error per mistake,
//! each naming its key (and line where the file has it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// A folder with a config file written from `text` (and the files tests reference).
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pcap"), b"").unwrap();
        std::fs::create_dir(dir.path().join("probe")).unwrap();
        Dir { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn load(&self, text: &str) -> Result<Config, ConfigError> {
        Config::load(&self.write("landfall.toml", text))
    }

    /// The error of `text`, which must name `key`.
    fn error(&self, text: &str, key: &str) -> ConfigError {
        let e = self.load(text).expect_err(text);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.to_string().contains(key), "{e}");
        e
    }
}

const STDIN: &str = "[[input]]\nkind = \"stdin\"\n";

#[test]
fn only_the_inputs_are_required() {
    let d = Dir::new();
    let c = d.load(STDIN).unwrap();
    assert_eq!(c.inputs.len(), 1);
    assert_eq!(c.inputs[0].name, "stdin");
    assert_eq!(c.rules.ttl, Duration::from_secs(7200));
    assert_eq!(c.rules.reentry_gap, Duration::from_secs(12 * 3600));
    assert_eq!(c.rules.horizon, Duration::from_secs(30 * 86400));
    assert_eq!(c.rules.batch, Duration::from_millis(10));
    assert_eq!(c.rules.lateness_batches(), 100);
    assert_eq!(
        c.rules.rules(),
        landfall_model::moment::Rules {
            horizon_us: 30 * 86_400 * 1_000_000,
            ..landfall_model::moment::Rules::default()
        }
    );
    assert!(c.rules.wall_clock);
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9464");
    assert_eq!(c.http.operator_key, None);
    assert_eq!(c.sinks, vec![SinkSettings::Stdout]);
    assert_eq!(c.runtime.data_dir, d.path("landfall-data"));
    assert_eq!(c.runtime.workers, 1);
    assert_eq!(c.cluster.topology(), Topology::Process);
    assert_eq!(c.decode.diameter_tcp_ports, vec![3868, 3871]);
    let dc = c.decoder_config().unwrap();
    assert_eq!(dc.answer_tolerance_us, 300_000);
    assert!(c.load_zones().unwrap().is_none());
    // Nothing was created by loading.
    assert!(!d.path("landfall-data").exists());
    c.prepare_data_dir().unwrap();
    assert!(d.path("landfall-data").is_dir());
}

#[test]
fn a_full_configuration_loads_with_paths_beside_the_file() {
    let d = Dir::new();
    d.write(
        "zones.toml",
        "[[zone]]\nid = \"z1\"\ntacs = [\"208-01/1\"]\n",
    );
    d.write(
        "cells.csv",
        "radio,mcc,net,area,cell,unit,lon,lat\nLTE,208,1,1,1,0,2.3,48.8\n",
    );
    d.write("gt.txt", "447785 234-15\n");
    d.write("key", "0123456789abcdef0123\n");
    d.write("hosts", "127.0.0.1:2101\n127.0.0.1:2102\n");
    let text = r#"
[[input]]
kind = "files"
name = "probe-a"
paths = ["a.pcap"]
clock_offset = "-5ms"

[[input]]
kind = "folder"
path = "probe"
pattern = "*.pcapng"
idle_close = "10s"

[decode]
diameter_tcp_ports = [3868]
mcc = ["001=2:XX"]
gt_plmn = "gt.txt"
answer_tolerance = "0s"

[zones]
zones = "zones.toml"
cells = "cells.csv"
skip_bad_rows = true

[rules]
reentry_gap = "1h"
ttl = "30m"
min_dwell = "5m"
lateness = "2s"
horizon = "7d"
batch = "1s"
idle_timeout = "500ms"

[runtime]
workers = 2
data_dir = "state"
snapshot_interval = "1m"

[http]
listen = "127.0.0.1:0"
operator_key_file = "key"

[[sink]]
kind = "stdout"

[[sink]]
kind = "file"
path = "out/moments.jsonl"
rotate_bytes = "1MiB"
rotate_interval = "1h"
keep = 3
fsync = true

[cluster]
processes = 2
process = 1
hostfile = "hosts"

[log]
filter = "landfall_service=debug,info"
"#;
    let c = d.load(text).unwrap();
    assert_eq!(c.inputs[0].name, "probe-a");
    assert_eq!(c.inputs[0].clock_offset_us, -5_000);
    assert_eq!(
        c.inputs[0].kind,
        InputKind::Files {
            paths: vec![d.path("a.pcap")]
        }
    );
    assert_eq!(
        c.inputs[1].name,
        format!("folder:{}", d.path("probe").display())
    );
    assert!(c.inputs[1].takes_file("x.pcapng"));
    assert!(!c.inputs[1].takes_file("x.pcap"));
    assert_eq!(c.http.operator_key.as_deref(), Some("0123456789abcdef0123"));
    assert!(
        !format!("{:?}", c.http).contains("0123456789"),
        "the key is not in Debug"
    );
    assert_eq!(c.rules.lateness_batches(), 2);
    assert_eq!(c.runtime.data_dir, d.path("state"));
    assert_eq!(
        c.sinks[1],
        SinkSettings::File(FileSinkSettings {
            path: d.path("out/moments.jsonl"),
            rotate_bytes: Some(1 << 20),
            rotate_interval: Some(Duration::from_secs(3600)),
            keep: 3,
            fsync: true,
        })
    );
    assert_eq!(
        c.cluster.topology(),
        Topology::Cluster {
            process: 1,
            hosts: vec!["127.0.0.1:2101".into(), "127.0.0.1:2102".into()],
            connect_timeout: Some(Duration::from_secs(60)),
        }
    );
    let dc = c.decoder_config().unwrap();
    assert_eq!(dc.diameter_tcp_ports, vec![3868]);
    assert_eq!(dc.gt_plmn.len(), 1);
    let (zones, catalog) = c.load_zones().unwrap().unwrap();
    assert_eq!(zones.len(), 1);
    assert_eq!(catalog.cells.len(), 1);
    let text = c.describe();
    for part in [
        "probe-a: capture files",
        "clock offset -5ms",
        "files matching *.pcapng",
        "re-entry gap 1h, ttl 30m, minimum dwell 5m, horizon 7days",
        "lateness 2s (2 batches)",
        "2 workers",
        "listening on 127.0.0.1:0",
        "operator view on /v1/operator/ with the key of operator_key_file",
        "rotated at 1 MiB or every 1h, 3 old files kept, fsync'd per batch",
        "process 1 of 2 (127.0.0.1:2101, 127.0.0.1:2102)",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
}

#[test]
fn an_unknown_key_names_the_allowed_ones() {
    let d = Dir::new();
    let e = d.error(&format!("{STDIN}[rules]\nttll = \"2h\"\n"), "rules.ttll");
    assert!(e.message.contains("unknown key `ttll`"), "{e}");
    assert!(
        e.message.contains("`ttl`") && e.message.contains("`reentry_gap`"),
        "{e}"
    );
    assert_eq!(e.line_col.map(|l| l.0), Some(4), "{e}");
    let e = d.error(&format!("{STDIN}[rulez]\n"), "rulez");
    assert!(e.message.contains("`rules`"), "{e}");
    let e = d.error(
        "[[input]]\nkind = \"stdin\"\npaht = \"x\"\n",
        "input[0].paht",
    );
    assert!(e.message.contains("`paths`"), "{e}");
}

#[test]
fn a_key_of_another_kind_is_named_as_such() {
    let d = Dir::new();
    let e = d.error(
        "[[input]]\nkind = \"files\"\npaths = [\"a.pcap\"]\npattern = \"*.pcap\"\n",
        "input[0].pattern",
    );
    assert!(e.message.contains("not a key of a \"files\" input"), "{e}");
    assert_eq!(e.line_col, Some((4, 11)), "{e}");
    let e = d.error("[[input]]\nkind = \"tape\"\n", "input[0].kind");
    assert!(
        e.message
            .contains("\"files\", \"folder\", \"stdin\", \"interface\", \"tcp\" or \"unix\""),
        "{e}"
    );
    let e = d.error(
        &format!("{STDIN}[[sink]]\nkind = \"stdout\"\npath = \"x\"\n"),
        "sink[0].path",
    );
    assert!(e.message.contains("not a key of a \"stdout\" sink"), "{e}");
    let e = d.error(
        &format!("{STDIN}[[sink]]\nkind = \"kafka\"\n"),
        "sink[0].kind",
    );
    assert!(e.message.contains("\"stdout\" or \"file\""), "{e}");
}

#[test]
fn a_wrong_type_names_the_key() {
    let d = Dir::new();
    let e = d.error(
        &format!("{STDIN}[runtime]\nworkers = \"two\"\n"),
        "runtime.workers",
    );
    assert!(e.message.contains("invalid type"), "{e}");
    assert_eq!(e.line_col, Some((4, 11)), "{e}");
    d.error(
        &format!("{STDIN}[decode]\ndiameter_tcp_ports = [3868, \"x\"]\n"),
        "decode.diameter_tcp_ports[1]",
    );
    d.error(
        &format!("{STDIN}[decode]\ndiameter_tcp_ports = [70000]\n"),
        "decode.diameter_tcp_ports[0]",
    );
    d.error(
        "[[input]]\nkind = \"files\"\npaths = \"a.pcap\"\n",
        "input[0].paths",
    );
    d.error(&format!("rules = 3\n{STDIN}"), "rules");
}

#[test]
fn a_missing_file_names_the_key_that_references_it() {
    let d = Dir::new();
    let e = d.error(
        "[[input]]\nkind = \"files\"\npaths = [\"a.pcap\", \"b.pcap\"]\n",
        "input[0].paths[1]",
    );
    assert!(e.message.contains("b.pcap does not exist"), "{e}");
    assert_eq!(e.line_col, Some((3, 20)), "{e}");
    let e = d.error(
        "[[input]]\nkind = \"folder\"\npath = \"nowhere\"\n",
        "input[0].path",
    );
    assert!(e.message.contains("does not exist"), "{e}");
    d.error(
        "[[input]]\nkind = \"folder\"\npath = \"a.pcap\"\n",
        "input[0].path",
    );
    let e = d.error(
        &format!("{STDIN}[zones]\nzones = \"zones.toml\"\n"),
        "zones.zones",
    );
    assert!(e.message.contains("zones.toml"), "{e}");
    d.write(
        "zones.toml",
        "[[zone]]\nid = \"z\"\ntacs = [\"208-01/1\"]\n",
    );
    d.error(
        &format!("{STDIN}[zones]\nzones = \"zones.toml\"\ncells = \"cells.csv\"\n"),
        "zones.cells",
    );
    d.error(
        &format!("{STDIN}[decode]\ngt_plmn = \"gt.txt\"\n"),
        "decode.gt_plmn",
    );
    d.error(
        &format!("{STDIN}[http]\noperator_key_file = \"key\"\n"),
        "http.operator_key_file",
    );
    d.error(
        &format!("{STDIN}[cluster]\nprocesses = 2\nhostfile = \"hosts\"\n"),
        "cluster.hostfile",
    );
}

#[test]
fn bad_file_contents_name_the_key() {
    let d = Dir::new();
    d.write(
        "zones.toml",
        "[[zone]]\nid = \"z\"\npolygon = [[1.0, 2.0]]\n",
    );
    let e = d.error(
        &format!("{STDIN}[zones]\nzones = \"zones.toml\"\n"),
        "zones.zones",
    );
    assert!(e.message.contains("polygon needs 3 points"), "{e}");
    d.write("gt.txt", "447785 nowhere\n");
    d.error(
        &format!("{STDIN}[decode]\ngt_plmn = \"gt.txt\"\n"),
        "decode.gt_plmn",
    );
    d.error(
        &format!("{STDIN}[decode]\nmcc = [\"001=2:XX\", \"1=9\"]\n"),
        "decode.mcc[1]",
    );
    d.write("hosts", "127.0.0.1:2101\n127.0.0.1:2101\n");
    let e = d.error(
        &format!("{STDIN}[cluster]\nprocesses = 2\nhostfile = \"hosts\"\n"),
        "cluster.hostfile",
    );
    assert!(
        e.message.contains("repeats the address of process 0"),
        "{e}"
    );
    d.write("hosts", "127.0.0.1:2101\n");
    let e = d.error(
        &format!("{STDIN}[cluster]\nprocesses = 2\nhostfile = \"hosts\"\n"),
        "cluster.hostfile",
    );
    assert!(e.message.contains("lists 1 addresses"), "{e}");
    d.error(
        &format!("{STDIN}[cluster]\nprocesses = 2\n"),
        "cluster.hostfile",
    );
    d.error(
        &format!("{STDIN}[cluster]\nprocesses = 2\nprocess = 2\n"),
        "cluster.process",
    );
    d.write("cells.csv", "LTE,208,1,1,1,0,200.0,48.8\n");
    d.write(
        "zones.toml",
        "[[zone]]\nid = \"z\"\ntacs = [\"208-01/1\"]\n",
    );
    let c = d
        .load(&format!(
            "{STDIN}[zones]\nzones = \"zones.toml\"\ncells = \"cells.csv\"\n"
        ))
        .unwrap();
    let e = c.load_zones().unwrap_err();
    assert_eq!(e.key.as_deref(), Some("zones.cells"));
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn bad_durations_and_values_name_the_key_and_the_range() {
    let d = Dir::new();
    let e = d.error(&format!("{STDIN}[rules]\nttl = \"0s\"\n"), "rules.ttl");
    assert!(
        e.message.contains("out of range: allowed 1s to 366d"),
        "{e}"
    );
    assert_eq!(e.line_col, Some((4, 7)));
    let e = d.error(
        &format!("{STDIN}[rules]\nreentry_gap = \"soon\"\n"),
        "rules.reentry_gap",
    );
    assert!(e.message.contains("not a duration"), "{e}");
    d.error(
        &format!("{STDIN}[rules]\nmin_dwell = \"367d\"\n"),
        "rules.min_dwell",
    );
    d.error(&format!("{STDIN}[rules]\nbatch = \"2m\"\n"), "rules.batch");
    let e = d.error(
        &format!("{STDIN}[rules]\nreentry_gap = \"40d\"\n"),
        "rules.horizon",
    );
    assert!(e.message.contains("shorter than rules.reentry_gap"), "{e}");
    d.error(
        "[[input]]\nkind = \"stdin\"\nclock_offset = \"+2d\"\n",
        "input[0].clock_offset",
    );
    d.error(
        &format!("{STDIN}[http]\nlisten = \"localhost\"\n"),
        "http.listen",
    );
    let e = d.error(
        &format!("{STDIN}[http]\noperator_key = \"short\"\n"),
        "http.operator_key",
    );
    assert!(e.message.contains("at least 16"), "{e}");
    assert!(
        !e.to_string().contains("short\""),
        "the key is not repeated: {e}"
    );
    d.error(
        &format!("{STDIN}[http]\noperator_key = \"0123456789abcdef\"\noperator_key_file = \"k\"\n"),
        "http.operator_key_file",
    );
    d.error(
        &format!("{STDIN}[runtime]\nworkers = 0\n"),
        "runtime.workers",
    );
    d.error(
        &format!(
            "{STDIN}[[sink]]\nkind = \"file\"\npath = \"m.jsonl\"\nrotate_bytes = \"1 parsec\"\n"
        ),
        "sink[0].rotate_bytes",
    );
    d.error(
        &format!(
            "{STDIN}[[sink]]\nkind = \"file\"\npath = \"m.jsonl\"\nrotate_interval = \"0s\"\n"
        ),
        "sink[0].rotate_interval",
    );
    d.error(&format!("{STDIN}[log]\nfilter = \"[[[\"\n"), "log.filter");
    d.error(
        "[[input]]\nkind = \"interface\"\ndevice = \"lo\"\nsnaplen = 10\n",
        "input[0].snaplen",
    );
    d.error(
        "[[input]]\nkind = \"interface\"\ndevice = \"lo\"\nbuffer = \"1KiB\"\n",
        "input[0].buffer",
    );
    d.error(
        "[[input]]\nkind = \"interface\"\ndevice = \"lo\"\nbuffer = -1\n",
        "input[0].buffer",
    );
    d.error(
        "[[input]]\nkind = \"folder\"\npath = \"probe\"\npattern = \"[\"\n",
        "input[0].pattern",
    );
}

#[test]
fn inputs_and_sinks_are_checked_together() {
    let d = Dir::new();
    let e = d.error("", "input");
    assert!(e.message.contains("at least one [[input]]"), "{e}");
    d.error(&format!("{STDIN}{STDIN}"), "input");
    d.error(
        "[[input]]\nkind = \"files\"\npaths = [\"a.pcap\"]\n[[input]]\nkind = \"files\"\npaths = [\"a.pcap\"]\n",
        "input[1].name",
    );
    d.error(
        &format!("{STDIN}[[sink]]\nkind = \"file\"\npath = \"m.jsonl\"\n[[sink]]\nkind = \"file\"\npath = \"m.jsonl\"\n"),
        "sink[1].path",
    );
    d.error("[[input]]\nkind = \"folder\"\n", "input[0]");
    let e = d.error("[[input]]\nname = \"x\"\n", "input[0]");
    assert!(e.message.contains("missing key `kind`"), "{e}");
}

#[test]
fn an_unknown_interface_is_named() {
    if !Path::new("/sys/class/net/lo").exists() {
        return;
    }
    let d = Dir::new();
    let c = d
        .load("[[input]]\nkind = \"interface\"\ndevice = \"lo\"\n")
        .unwrap();
    match &c.inputs[0].kind {
        InputKind::Interface {
            filter,
            snaplen,
            buffer_bytes,
            ..
        } => {
            assert_eq!(filter, defaults::FILTER);
            assert_eq!(*snaplen, 65_535);
            assert_eq!(*buffer_bytes, 64 << 20);
        }
        k => panic!("{k:?}"),
    }
    let e = d.error(
        "[[input]]\nkind = \"interface\"\ndevice = \"nosuch0\"\n",
        "input[0].device",
    );
    assert!(
        e.message.contains("no network interface \"nosuch0\""),
        "{e}"
    );
}

#[test]
fn an_unwritable_data_directory_is_refused() {
    let d = Dir::new();
    // A file in the way of the directory, or the directory itself a file.
    let e = d.error(
        &format!("{STDIN}[runtime]\ndata_dir = \"a.pcap/state\"\n"),
        "runtime.data_dir",
    );
    assert!(e.message.contains("is a file, in the way"), "{e}");
    let e = d.error(
        &format!("{STDIN}[runtime]\ndata_dir = \"a.pcap\"\n"),
        "runtime.data_dir",
    );
    assert!(e.message.contains("is a file, not a folder"), "{e}");
    d.error(
        &format!("{STDIN}[[sink]]\nkind = \"file\"\npath = \"a.pcap/m.jsonl\"\n"),
        "sink[0].path",
    );
    d.error(
        &format!("{STDIN}[[sink]]\nkind = \"file\"\npath = \"probe\"\n"),
        "sink[0].path",
    );
    // A read-only folder (only meaningful when not running as root, who writes anyway).
    let ro = d.path("ro");
    std::fs::create_dir(&ro).unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&ro, perm.clone()).unwrap();
    let root = std::fs::write(ro.join("probe"), b"").is_ok();
    if !root {
        let e = d.error(
            &format!("{STDIN}[runtime]\ndata_dir = \"ro/state\"\n"),
            "runtime.data_dir",
        );
        assert!(e.message.contains("cannot be created"), "{e}");
        d.error(
            &format!("{STDIN}[runtime]\ndata_dir = \"ro\"\n"),
            "runtime.data_dir",
        );
    }
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&ro, perm).unwrap();
}

#[test]
fn a_file_that_is_not_toml_or_not_there_is_one_error() {
    let d = Dir::new();
    let e = d.load("[[input]\nkind = ").unwrap_err();
    assert!(e.message.contains("not valid TOML"), "{e}");
    assert!(e.line_col.is_some(), "{e}");
    let e = Config::load(&d.path("absent.toml")).unwrap_err();
    assert!(
        e.to_string()
            .contains("absent.toml: cannot read the configuration"),
        "{e}"
    );
}

/// The example configuration, `docs/landfall.toml`.
const EXAMPLE: &str = include_str!("../../../docs/landfall.toml");

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/landfall.toml")
}

/// The example with every setting left at its default switched on: lines starting with a
/// single `#` lose it (`##` lines are the explanations).
fn example_uncommented() -> String {
    EXAMPLE
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.starts_with('#') => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The keys serde knows for `T`, from the error `deny_unknown_fields` gives for a key it
/// does not know ("unknown field `x`, expected one of `a`, `b`"): the struct's own list.
fn keys_of<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> BTreeSet<String> {
    let e = toml::from_str::<T>("zz_not_a_key = 0")
        .unwrap_err()
        .message()
        .to_owned();
    let expected = e.split_once("expected").unwrap_or_else(|| panic!("{e}")).1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

use std::collections::BTreeSet;

#[test]
fn the_example_loads_as_it_is() {
    let c = Config::load(&example_path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.inputs.len(), 1);
    assert!(c.describe().contains("scenario: capture files"));
}

#[test]
fn the_example_has_every_key_with_an_explanation() {
    use super::raw::*;
    let text = example_uncommented();
    // Every commented-out setting is valid as far as keys and types go.
    let doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let raw: Result<RawConfig, _> = toml::from_str(&text);
    raw.unwrap_or_else(|e| panic!("the uncommented example: {e}"));
    let sections: Vec<(&str, BTreeSet<String>)> = vec![
        ("input", keys_of::<RawInput>()),
        ("decode", keys_of::<RawDecode>()),
        ("zones", keys_of::<RawZones>()),
        ("rules", keys_of::<RawRules>()),
        ("runtime", keys_of::<RawRuntime>()),
        ("http", keys_of::<RawHttp>()),
        ("sink", keys_of::<RawSink>()),
        ("cluster", keys_of::<RawCluster>()),
        ("log", keys_of::<RawLog>()),
        ("partners", keys_of::<RawPartners>()),
    ];
    // A new section must be added to the list above (and so to the example).
    let top: BTreeSet<String> = sections.iter().map(|(s, _)| s.to_string()).collect();
    assert_eq!(keys_of::<RawConfig>(), top);
    let mut documented: BTreeSet<String> = BTreeSet::new();
    let mut section = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let l = l.trim();
        if l.starts_with('[') {
            section = l.trim_matches(|c| c == '[' || c == ']').to_owned();
        } else if let Some((key, _)) = l.split_once('=').filter(|_| !l.starts_with('#')) {
            if i > 0 && lines[i - 1].trim_start().starts_with("##") {
                documented.insert(format!("{section}.{}", key.trim()));
            }
        }
    }
    for (name, keys) in &sections {
        assert!(!keys.is_empty(), "{name}: {keys:?}");
        let tables: Vec<&toml::Table> = match doc.get(*name) {
            Some(toml::Value::Table(t)) => vec![t],
            Some(toml::Value::Array(a)) => a.iter().filter_map(toml::Value::as_table).collect(),
            _ => panic!("the example has no [{name}]"),
        };
        for key in keys {
            assert!(
                tables.iter().any(|t| t.contains_key(key)),
                "{name}.{key} is not in docs/landfall.toml"
            );
            assert!(
                documented.contains(&format!("{name}.{key}")),
                "{name}.{key} has no ## line just above it"
            );
        }
    }
    // Every input kind and sink kind is shown.
    let kinds = |name: &str| -> BTreeSet<String> {
        doc[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        kinds("input"),
        InputKind::KINDS.iter().map(|k| k.to_string()).collect()
    );
    assert_eq!(
        kinds("sink"),
        SinkSettings::KINDS.iter().map(|k| k.to_string()).collect()
    );
}

#[test]
fn the_examples_commented_values_are_the_defaults() {
    let doc: toml::Table = toml::from_str(&example_uncommented()).unwrap();
    let mut t = toml::Table::new();
    // The sections whose commented values are all defaults, less the keys that name
    // files or show a non-default example.
    for (section, drop) in [
        ("rules", &[][..]),
        ("runtime", &["data_dir"][..]),
        ("decode", &["mcc", "gt_plmn"][..]),
        ("http", &["operator_key", "operator_key_file"][..]),
        ("cluster", &["hostfile"][..]),
        ("log", &[][..]),
    ] {
        let mut s = doc[section].as_table().unwrap().clone();
        for k in drop {
            s.remove(*k);
        }
        t.insert(section.to_owned(), toml::Value::Table(s));
    }
    let inputs = doc["input"].as_array().unwrap();
    let interface = inputs
        .iter()
        .find(|i| i["kind"].as_str() == Some("interface"))
        .unwrap()
        .clone();
    t.insert("input".to_owned(), toml::Value::Array(vec![interface]));
    let file_sink = doc["sink"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"].as_str() == Some("file"))
        .unwrap();
    let path = Path::new("/x/landfall.toml");
    let c = build::build(&toml::to_string(&t).unwrap(), path).unwrap();
    let d = build::build("[[input]]\nkind = \"interface\"\ndevice = \"eth1\"\n", path).unwrap();
    assert_eq!(c.rules, d.rules);
    assert_eq!(c.runtime, d.runtime);
    assert_eq!(c.decode, d.decode);
    assert_eq!(c.http, d.http);
    assert_eq!(c.cluster, d.cluster);
    assert_eq!(c.log, d.log);
    assert_eq!(c.inputs[0].kind, d.inputs[0].kind, "interface defaults");
    assert_eq!(
        file_sink["keep"].as_integer(),
        Some(i64::from(defaults::KEEP))
    );
    assert_eq!(file_sink["fsync"].as_bool(), Some(false));
    let folder = inputs
        .iter()
        .find(|i| i["kind"].as_str() == Some("folder"))
        .unwrap();
    assert_eq!(folder["idle_close"].as_str(), Some("30s"));
    assert_eq!(defaults::IDLE_CLOSE, Duration::from_secs(30));
}

#[test]
fn partners_settings_are_checked_with_their_key() {
    let t = Dir::new();
    let base = "[[input]]\nkind = \"stdin\"\n";
    let c = t
        .load(&format!("{base}[partners]\noperator_country = \"FR\"\n"))
        .unwrap();
    let p = c.partners.unwrap();
    assert_eq!(p.operator_country.as_str(), "FR");
    assert_eq!((p.max_attempts, p.per_sink_concurrency), (8, 8));
    assert_eq!(p.aggregate_min_count, 5);
    assert!(!p.allow_http_loopback);
    for (text, key) in [
        ("operator_country = \"France\"", "partners.operator_country"),
        (
            "operator_country = \"FR\"\nmax_attempts = 0",
            "partners.max_attempts",
        ),
        (
            "operator_country = \"FR\"\nretry_delays = []",
            "partners.retry_delays",
        ),
        (
            "operator_country = \"FR\"\nretry_delays = [\"soon\"]",
            "partners.retry_delays",
        ),
        (
            "operator_country = \"FR\"\nrequest_timeout = \"1us\"",
            "partners.request_timeout",
        ),
        ("operator_country = \"FR\"\nsink = \"x\"", "sink"),
        (
            "operator_country = \"FR\"\naggregate_min_count = 1",
            "partners.aggregate_min_count",
        ),
    ] {
        let e = t.load(&format!("{base}[partners]\n{text}\n")).unwrap_err();
        assert!(e.to_string().contains(key), "{text}: {e}");
    }
}

#[test]
fn record_inputs_read_their_format_and_mapping() {
    let d = Dir::new();
    let mapping = d.write(
        "vendor.toml",
        "format = \"jsonl\"\nproto = \"map\"\n[fields]\nat = \"t\"\nimsi = \"i\"\nkind = \"k\"\n[time]\nformat = \"epoch_ms\"\n",
    );
    let c = d
        .load(&format!(
            "[[input]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:7400\"\n\
         [[input]]\nkind = \"unix\"\npath = \"records.sock\"\nmapping = {mapping:?}\n\
         [[input]]\nkind = \"stdin\"\nformat = \"records\"\n"
        ))
        .unwrap();
    assert_eq!(
        c.inputs[0].kind,
        InputKind::Tcp {
            listen: "127.0.0.1:7400".parse().unwrap()
        }
    );
    assert_eq!(c.inputs[0].format, InputFormat::Records);
    assert_eq!(c.inputs[0].name, "tcp:127.0.0.1:7400");
    assert!(
        matches!(&c.inputs[1].kind, InputKind::Unix { path } if path.ends_with("records.sock"))
    );
    assert!(c.inputs[1].format.mapping().is_some());
    assert_eq!(c.inputs[2].format, InputFormat::Records);
    let described = c.describe();
    assert!(described.contains("through the mapping"), "{described}");
    // Captures stay the default of the others; sockets read records only.
    let e = d.error(
        "[[input]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:7400\"\nformat = \"pcap\"\n",
        "input[0].format",
    );
    assert!(e.message.contains("record lines only"), "{e}");
    let e = d.error(
        "[[input]]\nkind = \"stdin\"\nformat = \"xdr\"\n",
        "input[0].format",
    );
    assert!(e.message.contains("\"pcap\" or \"records\""), "{e}");
    let e = d.error(
        "[[input]]\nkind = \"interface\"\ndevice = \"lo\"\nformat = \"records\"\n",
        "input[0].format",
    );
    assert!(
        e.message.contains("not a key of a \"interface\" input"),
        "{e}"
    );
    // A bad mapping is named with its own key.
    let bad = d.write("bad.toml", "format = \"csv\"\nproto = \"map\"\n[fields]\nat = \"t\"\nimsi = \"i\"\nkind = \"k\"\n[time]\nformat = \"whenever\"\n");
    let e = d.error(
        &format!("[[input]]\nkind = \"stdin\"\nmapping = {bad:?}\n"),
        "input[0].mapping",
    );
    assert!(e.message.contains("time.format"), "{e}");
}
