//! Build script of `landfall` and `landfall-parsers`: marks the tests that read the shared
//! captures (`../shared/captures` beside the repository) as ignored when they are absent,
//! so that `cargo test` reports them as skipped rather than passing silently. Under CI
//! (`CI` set, not `false`/`0`) they are never ignored: there a missing directory fails them.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_missing)");
    println!("cargo::rerun-if-env-changed=CI");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // The repository root is the workspace folder holding Cargo.lock.
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
}
