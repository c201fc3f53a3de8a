//! `check_config`: what would run, or one error naming the key.

use landfall_service::check_config;

#[test]
fn the_description_says_what_would_run_with_zones_read() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let cfg = dir.path().join("landfall.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[input]]\nkind = \"files\"\npaths = [{:?}]\n[zones]\nzones = {:?}\ncells = {:?}\n[[sink]]\nkind = \"file\"\npath = \"out/m.jsonl\"\nrotate_bytes = \"64MiB\"\n",
            fixtures.join("roaming-scenario.pcap"),
            fixtures.join("zones.toml"),
            fixtures.join("cells.csv"),
        ),
    )
    .unwrap();
    let text = check_config(&cfg).unwrap_or_else(|e| panic!("{e}"));
    for part in [
        "files: capture files",
        "roaming-scenario.pcap",
        "rules: re-entry gap 12h, ttl 2h, minimum dwell 0s, horizon 30days",
        "http: listening on 127.0.0.1:9464",
        "operator view off",
        "rotated at 64 MiB, 10 old files kept, flushed per batch",
        "zones read: 3 zones (2 circles/polygons), catalog cells",
        "cluster: one process",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    assert!(!dir.path().join("out").exists(), "checking creates nothing");
}

#[test]
fn a_mistake_is_one_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("landfall.toml");
    std::fs::write(
        &cfg,
        "[[input]]\nkind = \"stdin\"\n\n[rules]\nttl = \"-1s\"\n",
    )
    .unwrap();
    let e = check_config(&cfg).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:5:7: rules.ttl: ", cfg.display())),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}
