//! A network interface captured live through libpcap (cargo feature `live`).
//!
//! The capture thread must keep the kernel's ring draining, so it never waits for the
//! decoder: frames are collected in a batch and offered to the decoder's channel without
//! blocking; while the channel is full the batch keeps growing up to
//! `live_buffer_bytes`, and frames beyond that are dropped and counted (landfall drops).
//! The kernel's own drops (its ring full) and the interface's are read from libpcap's
//! statistics every second.

use std::time::{Duration, Instant};

use landfall_parsers::capture::FrameRef;
use landfall_parsers::flow::PacketMeta;
use pcap::{Active, Capture, Device};

use super::Context;
use crate::config::InterfaceSpec;
use crate::error::SourceError;
use crate::file_table::FileTable;
use crate::frames::FrameSender;

/// How long the kernel holds captured packets before handing them over (ms, the block
/// timeout of the TPACKET_V3 ring): the most a frame waits there.
const READ_TIMEOUT_MS: i32 = 20;
/// How long a quiet capture waits for packets before it looks at the stop flag and hands
/// over what it holds (ms).
const POLL_MS: i32 = 20;
/// A batch is offered to the decoder at this many frames (or the batch interval).
const BATCH_FRAMES: usize = 256;

pub(crate) struct Live {
    cap: Capture<Active>,
    name: String,
    index: u16,
}

/// Open `spec`'s interface with its filter: an unknown interface, one that cannot be
/// captured on (permissions) or a filter that does not compile is an error naming it.
pub(crate) fn open_capture(spec: &InterfaceSpec) -> Result<Capture<Active>, SourceError> {
    let name = &spec.name;
    let err = |e: pcap::Error| SourceError::Interface {
        name: name.clone(),
        message: e.to_string(),
    };
    let devices = Device::list().map_err(err)?;
    if !devices.iter().any(|d| &d.name == name) {
        let mut names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        names.sort_unstable();
        return Err(SourceError::UnknownInterface {
            name: name.clone(),
            available: names.join(", "),
        });
    }
    let mut cap = Capture::from_device(name.as_str())
        .map_err(err)?
        .promisc(true)
        .snaplen(i32::try_from(spec.snaplen).unwrap_or(i32::MAX))
        .buffer_size(i32::try_from(spec.buffer_bytes).unwrap_or(i32::MAX))
        .timeout(READ_TIMEOUT_MS)
        .open()
        .and_then(Capture::setnonblock)
        .map_err(err)?;
    cap.filter(spec.filter(), true)
        .map_err(|e| SourceError::BadFilter {
            name: name.clone(),
            filter: spec.filter().to_string(),
            message: e.to_string(),
        })?;
    Ok(cap)
}

/// A packet header's time in µs since the epoch.
#[allow(clippy::unnecessary_cast)] // time_t and suseconds_t are i64 here, not everywhere
fn micros(ts: &pcap::PacketHeader) -> i64 {
    (ts.ts.tv_sec as i64)
        .saturating_mul(1_000_000)
        .saturating_add(ts.ts.tv_usec as i64)
}

/// Wait until the capture has packets to read, at most `ms`.
fn wait_readable(cap: &Capture<Active>, ms: i32) {
    use std::os::fd::AsRawFd;
    let mut fds = [libc::pollfd {
        fd: cap.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd, for the duration of the call. An error (EINTR) just
    // means looking again sooner.
    unsafe {
        libc::poll(fds.as_mut_ptr(), 1, ms);
    }
}

impl Live {
    pub fn open(spec: &InterfaceSpec, id: usize, table: &FileTable) -> Result<Live, SourceError> {
        let cap = open_capture(spec)?;
        Ok(Live {
            cap,
            name: spec.name.clone(),
            index: table.register(&spec.name, id),
        })
    }

    pub fn run(mut self, mut out: FrameSender, cx: &Context) {
        cx.stats.add_file();
        let linktype = u32::try_from(self.cap.get_datalink().0).unwrap_or(0);
        let budget = cx.cfg.live_buffer_bytes.max(1);
        let mut frame = 0u64;
        let mut stats_read = Instant::now();
        while !cx.stop.load(std::sync::atomic::Ordering::Relaxed) {
            match self.cap.next_packet() {
                Ok(p) => {
                    frame += 1;
                    let f = FrameRef {
                        meta: PacketMeta {
                            file: self.index,
                            frame,
                            ts_us: micros(p.header).saturating_add(cx.clock_offset_us),
                        },
                        linktype,
                        data: p.data,
                        orig_len: p.header.len,
                    };
                    if out.held().0 + p.data.len() > budget {
                        cx.stats.add_landfall_drops(1);
                    } else {
                        out.hold(&f);
                    }
                }
                // Nothing ready (non-blocking): wait for the kernel, a while.
                Err(pcap::Error::TimeoutExpired) => {
                    let (_, held) = out.held();
                    if held > 0 && out.try_flush().is_err() {
                        break;
                    }
                    wait_readable(&self.cap, POLL_MS);
                }
                Err(e) => {
                    cx.stats
                        .set_error(format!("interface {:?}: {e}", self.name));
                    break;
                }
            }
            let (_, held) = out.held();
            if (held >= BATCH_FRAMES || (held > 0 && out.due())) && out.try_flush().is_err() {
                break;
            }
            if stats_read.elapsed() >= Duration::from_secs(1) {
                self.read_stats(cx);
                stats_read = Instant::now();
            }
        }
        self.read_stats(cx);
        // Stopping: what is held goes to the decoder (waiting is fine now).
        let _ = out.flush();
        cx.files.close(self.index);
    }

    fn read_stats(&mut self, cx: &Context) {
        if let Ok(s) = self.cap.stats() {
            cx.stats
                .set_kernel_drops(u64::from(s.dropped), u64::from(s.if_dropped));
        }
    }
}
