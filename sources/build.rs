//! Build script of `landfall-sources`: as the workspace's (`../build.rs`), marks the tests
//! that read `../shared/captures` as ignored where they are absent (`cfg(shared_missing)`),
//! and the live-capture tests, which create a network namespace, as ignored where this
//! user lacks CAP_NET_ADMIN (`cfg(net_admin_missing)`), so that `cargo test` reports them
//! skipped rather than passing silently. Under CI (`CI` set, not `false`/`0`) neither is
//! ignored: there a missing folder or capability fails the tests.

use std::path::PathBuf;

/// CAP_NET_ADMIN's bit in the capability sets (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;

/// Whether this process has CAP_NET_ADMIN in its effective set (Linux; elsewhere no).
fn net_admin() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_missing)");
    println!("cargo::rustc-check-cfg=cfg(net_admin_missing)");
    println!("cargo::rerun-if-env-changed=CI");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest
        .ancestors()
        .find(|a| a.join("Cargo.lock").is_file())
        .unwrap_or(&manifest);
    let captures = root.join("../shared/captures");
    println!("cargo::rerun-if-changed={}", captures.display());
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if !ci && !captures.is_dir() {
        println!("cargo::rustc-cfg=shared_missing");
    }
    if !ci && !net_admin() {
        println!("cargo::rustc-cfg=net_admin_missing");
    }
}
