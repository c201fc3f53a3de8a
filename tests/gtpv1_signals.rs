//! GTPv1-C from the real zeek captures: an accepted Create PDP Context gives a
//! session_start placing the subscriber in the RAI's network (460-06) and country.

mod common;

use std::process::Command;

#[test]
fn accepted_create_pdp_context_places_the_subscriber() {
    let Some(dir) = common::shared_captures() else {
        return;
    };
    for name in [
        "zeek-gtpv1-pdp-ctx-messages.pcapng",
        "zeek-gtpv1-create-pdp-ctx-with-gb.pcap",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_landfall"))
            .args(["replay", "--quiet"])
            .arg(dir.join(name))
            .output()
            .expect("run landfall");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let ms: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let hit = |level: &str, area: &str| {
            ms.iter().any(|m| {
                m["type"] == "arrival"
                    && m["level"] == level
                    && m["area"] == area
                    && m["imsi"] == "460004100000101"
                    && m["msisdn"] == "8615221000101"
                    && m["source"]["proto"] == "gtpv1"
            })
        };
        assert!(
            hit("network", "460-06") && hit("country", "CN"),
            "{name}: {ms:?}"
        );
    }
}
