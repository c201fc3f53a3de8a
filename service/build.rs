//! Build script of `landfall-service`: bundles the operator console (`console/` at the
//! repository's top: package.json and its lock, `build.mjs`, `src/`) into `OUT_DIR/console`
//! for `console::assets` to embed, so the binary serves the pages with nothing fetched at
//! run time.
//!
//! The pinned dependencies are installed with `npm ci` into `OUT_DIR/console-npm` (never
//! into the source tree; again only when the lock file changes), then `console/build.mjs`
//! runs esbuild over `console/src`. Node.js (18 or later) and npm are needed; without them
//! the build stops with a message saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let console = manifest.join("../console");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for f in ["package.json", "package-lock.json", "build.mjs", "src"] {
        println!("cargo::rerun-if-changed={}", console.join(f).display());
    }
    println!("cargo::rerun-if-env-changed=NPM");
    println!("cargo::rerun-if-env-changed=NODE");

    let npm_dir = out.join("console-npm");
    install(&console, &npm_dir);
    let dist = out.join("console");
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let status = Command::new(&node)
        .arg(console.join("build.mjs"))
        .arg("--node-modules")
        .arg(npm_dir.join("node_modules"))
        .arg("--outdir")
        .arg(&dist)
        .current_dir(&console)
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run `{node}`: {e}")));
    if !status.success() {
        fail(&format!(
            "`{node} console/build.mjs` failed ({status}): see its output above"
        ));
    }
    for f in ["index.html", "console.js", "console.css"] {
        if !dist.join(f).is_file() {
            fail(&format!("console/build.mjs did not write {f}"));
        }
    }
}

/// `npm ci` of the console's lock into `dir`, unless the same lock is installed there.
fn install(console: &Path, dir: &Path) {
    let lock = std::fs::read(console.join("package-lock.json"))
        .unwrap_or_else(|e| fail(&format!("console/package-lock.json: {e}")));
    let stamp = dir.join("installed-lock.json");
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) && dir.join("node_modules").is_dir() {
        return;
    }
    std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(console.join(f), dir.join(f))
            .unwrap_or_else(|e| fail(&format!("copying console/{f}: {e}")));
    }
    let npm = std::env::var("NPM").unwrap_or_else(|_| "npm".to_owned());
    // No install scripts: esbuild's binary comes in its platform package, and nothing
    // else needs one.
    let status = Command::new(&npm)
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| {
            fail(&format!(
                "cannot run `{npm}` ({e}). The operator console (console/) is bundled at build time \
                 with Node.js 18+ and npm: install them (Debian: apt-get install nodejs npm), or set \
                 NPM and NODE to their paths"
            ))
        });
    if !status.success() {
        fail(&format!(
            "`{npm} ci` of console/package-lock.json failed ({status}): the npm registry must be \
             reachable the first time (or the packages in npm's cache)"
        ));
    }
    std::fs::write(&stamp, lock).unwrap_or_else(|e| fail(&format!("{}: {e}", stamp.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("landfall-service build: {message}");
    panic!("landfall-service build: {message}");
}
