//! A source that cannot start is one readable error naming it, before anything runs.

use landfall_sources::{start, FolderSpec, InterfaceSpec, SourceError, SourceSpec, SourcesConfig};

fn error(specs: Vec<SourceSpec>) -> SourceError {
    match start(specs, SourcesConfig::default()) {
        Ok(_) => panic!("started"),
        Err(e) => e,
    }
}

#[test]
fn missing_or_unreadable_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pcap");
    let e = error(vec![SourceSpec::Files(vec![missing.clone()])]).to_string();
    assert!(e.starts_with(&missing.display().to_string()), "{e}");
    assert!(e.contains("cannot open"), "{e}");

    let text = dir.path().join("notes.pcap");
    std::fs::write(&text, "hello, not a capture").unwrap();
    let e = error(vec![SourceSpec::Files(vec![text])]).to_string();
    assert!(
        e.contains("notes.pcap") && e.contains("not a pcap or pcapng"),
        "{e}"
    );

    assert!(matches!(
        error(vec![SourceSpec::Files(vec![])]),
        SourceError::NoFiles
    ));

    let e = error(vec![SourceSpec::Folder(FolderSpec {
        path: dir.path().join("absent"),
        pattern: "*.pcap".into(),
    })])
    .to_string();
    assert!(e.starts_with("folder ") && e.contains("absent"), "{e}");
    assert!(e.contains("No such file or directory"), "{e}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = error(vec![SourceSpec::Folder(FolderSpec {
        path: file,
        pattern: String::new(),
    })])
    .to_string();
    assert!(e.ends_with("a-file: not a folder"), "{e}");

    assert!(matches!(
        error(vec![SourceSpec::Stdin, SourceSpec::Stdin]),
        SourceError::StdinTwice
    ));
}

#[cfg(not(feature = "live"))]
#[test]
fn an_interface_needs_the_live_feature() {
    let e = error(vec![SourceSpec::Interface(InterfaceSpec::new("eth0"))]).to_string();
    assert_eq!(
        e,
        "interface \"eth0\": this landfall was built without live capture (cargo feature `live`)"
    );
}

#[cfg(feature = "live")]
#[test]
fn an_unknown_interface_is_named_with_those_there_are() {
    let e = error(vec![SourceSpec::Interface(InterfaceSpec::new(
        "no-such-if0",
    ))])
    .to_string();
    assert!(
        e.starts_with("unknown interface \"no-such-if0\" (interfaces here: "),
        "{e}"
    );
    assert!(e.contains("lo"), "{e}");
}
