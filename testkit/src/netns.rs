//! A network namespace with a veth pair, made by a test for live capture and deleted when
//! dropped, whatever happened: the tests send traffic only into namespaces they made.
//! Needs CAP_NET_ADMIN (root); without it [`netns`] fails under CI and reports the test as
//! skipped elsewhere.

use std::os::fd::AsRawFd;
use std::process::Command;

/// Whether CI is set (to anything but empty, `false` or `0`).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Run `ip ARGS`: its error output on failure.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace with a veth pair (veth0, veth1), up, no addresses.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `landfall-TAG-PID`, with its pair.
    pub fn create(tag: &str) -> Result<Netns, String> {
        let name = format!("landfall-{tag}-{}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        let n = ns.name.as_str();
        ip(&[
            "-n", n, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ])?;
        for dev in ["veth0", "veth1"] {
            ip(&["-n", n, "link", "set", dev, "mtu", "9000"])?;
            ip(&["-n", n, "link", "set", dev, "up"])?;
        }
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Move the calling thread (and the threads it starts later) into the namespace.
    pub fn enter(&self) {
        let f = std::fs::File::open(format!("/run/netns/{}", self.name)).expect("the namespace");
        // SAFETY: setns on a valid namespace fd; it affects the calling thread only.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }

    /// A command run inside the namespace (`ip netns exec NAME PROGRAM`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// The namespace, or `None` when this host lets the test make none (reported skipped; a
/// failure under CI).
pub fn netns(tag: &str) -> Option<Netns> {
    match Netns::create(tag) {
        Ok(ns) => Some(ns),
        Err(e) if ci() => panic!("the live test needs CAP_NET_ADMIN (root) under CI: {e}"),
        Err(e) => {
            // Straight to the terminal, past the test harness's capture.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: the live test needs CAP_NET_ADMIN (root): {e}"
            );
            None
        }
    }
}
