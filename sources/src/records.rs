//! Record sources: signal records (docs/records.md) or a vendor's xDR export through its
//! mapping, from files, a followed folder, standard input, or a TCP or Unix socket of
//! lines. No decoder: a record line is a signal already.
//!
//! ```text
//! producers (threads)                       the source's thread
//!   files: one thread, the file whose        ──Chunk──►  per producer: its watermark
//!          latest record is oldest next                  (latest record − max_delay);
//!   folder: one thread, file after file                  the source's: the minimum over
//!   stdin / reader: one thread                           the producers still open ──►
//!   socket: one thread per connection                    Envelope to the merge
//! ```
//!
//! Each producer reads lines through its own [`LineReader`] (a CSV header is per file or
//! connection) and sends what it read in chunks, before any read that may block, so a
//! quiet stream's records do not wait for more. Records are out of order by up to
//! `max_delay` without being late: a producer's watermark is its latest record's time less
//! `max_delay`, the bound a capture's unanswered request gets, because an export written
//! as transactions end is ordered by their ends but stamped with their requests. The
//! files of a files source are read side by side, so their records are merged by time
//! as capture files are; a folder's files one after another, as rotated.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use landfall_model::Signal;
use landfall_parsers::numbering::e212::E212;
use landfall_parsers::records::mapping::Mapping;
use landfall_parsers::records::{LineReader, RecordStats};

use crate::config::{FolderSpec, FollowConfig};
use crate::decode_loop::wall_us;
use crate::error::SourceError;
use crate::file_table::FileTable;
use crate::follow::FollowReader;
use crate::merge::{Envelope, SourceEvent};
use crate::source::folder::{Folder, Listing};
use crate::source::{display_name, Context};
use crate::stats::{Position, SourceStats};
use crate::watermark::Watermark;

/// Lines a producer reads before handing them on (unless it is about to wait first).
const CHUNK_LINES: usize = 1024;
/// How often a producer waiting on a socket, and the source's thread, look at the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// After a stop, how long the source's thread waits for its producers' last chunks.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Connections a socket source reads at once; more are refused (and counted).
pub const MAX_CONNECTIONS: usize = 64;

/// Where a record source's lines come from.
pub enum RecordInput {
    /// Record files read once, side by side, merged by time.
    Files(Vec<PathBuf>),
    /// A folder an exporter rotates record files into, followed as capture folders are.
    Folder(FolderSpec),
    /// Lines on standard input.
    Stdin,
    /// Lines from any reader (a pipe, a test buffer), named `name` in provenance.
    Reader {
        name: String,
        reader: Box<dyn Read + Send>,
    },
    /// A TCP listener: each connection a stream of lines.
    Tcp(SocketAddr),
    /// A Unix stream socket created at this path (an old socket file there is replaced):
    /// each connection a stream of lines.
    Unix(PathBuf),
}

/// A record source: its input, and the mapping its lines are read through (none: signal
/// records).
pub struct RecordSpec {
    pub input: RecordInput,
    pub mapping: Option<Arc<Mapping>>,
}

impl RecordSpec {
    pub fn describe(&self) -> String {
        let what = match &self.mapping {
            None => "records",
            Some(_) => "mapped records",
        };
        match &self.input {
            RecordInput::Files(p) if p.len() == 1 => format!("{what} file {}", p[0].display()),
            RecordInput::Files(p) => format!("{what}: {} files", p.len()),
            RecordInput::Folder(s) => {
                format!("{what} folder {} ({})", s.path.display(), s.pattern)
            }
            RecordInput::Stdin => format!("{what} on stdin"),
            RecordInput::Reader { name, .. } => format!("{what} stream {name}"),
            RecordInput::Tcp(a) => format!("{what} on tcp {a}"),
            RecordInput::Unix(p) => format!("{what} on unix {}", p.display()),
        }
    }
}

/// A record source checked (files opened, sockets bound) and ready to run.
pub(crate) struct Records {
    input: Opened,
    mapping: Option<Arc<Mapping>>,
}

enum Opened {
    Files(Vec<(PathBuf, u16)>),
    Folder(Listing),
    Stream {
        name: String,
        reader: Box<dyn Read + Send>,
    },
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// What a producer hands the source's thread.
struct Chunk {
    producer: usize,
    signals: Vec<Signal>,
    lines: u64,
    bytes: u64,
    /// The file read and the byte offset after the last line, for the position.
    position: Option<(u16, u64)>,
    records: RecordStats,
    /// A file or stream that could not be read on: the source's last error.
    error: Option<String>,
    /// The producer is done: nothing more from it.
    ended: bool,
}

impl Chunk {
    fn new(producer: usize) -> Chunk {
        Chunk {
            producer,
            signals: Vec::new(),
            lines: 0,
            bytes: 0,
            position: None,
            records: RecordStats::default(),
            error: None,
            ended: false,
        }
    }
}

/// What every producer shares.
#[derive(Clone)]
struct Shared {
    id: usize,
    files: Arc<FileTable>,
    stop: Arc<AtomicBool>,
    e212: Arc<E212>,
    mapping: Option<Arc<Mapping>>,
    clock_offset_us: i64,
    out: SyncSender<Chunk>,
    batch: usize,
}

impl Records {
    /// Check the input: files exist and can be read, the folder is one, the socket binds.
    pub fn open(spec: RecordSpec, id: usize, files: &FileTable) -> Result<Records, SourceError> {
        let input = match spec.input {
            RecordInput::Files(paths) => {
                if paths.is_empty() {
                    return Err(SourceError::NoFiles);
                }
                if paths.len() > usize::from(u16::MAX) + 1 {
                    return Err(SourceError::TooManyFiles);
                }
                let mut opened = Vec::with_capacity(paths.len());
                for p in paths {
                    File::open(&p).map_err(|e| SourceError::Records {
                        what: p.display().to_string(),
                        reason: format!("cannot open: {e}"),
                    })?;
                    let index = files.register(&display_name(&p), id);
                    opened.push((p, index));
                }
                Opened::Files(opened)
            }
            RecordInput::Folder(f) => Opened::Folder(Folder::open(f)?.into_listing()),
            RecordInput::Stdin => Opened::Stream {
                name: "-".to_owned(),
                reader: Box::new(io::stdin()),
            },
            RecordInput::Reader { name, reader } => Opened::Stream { name, reader },
            RecordInput::Tcp(addr) => {
                let l = TcpListener::bind(addr).map_err(|e| SourceError::Records {
                    what: format!("tcp {addr}"),
                    reason: format!("cannot listen: {e}"),
                })?;
                l.set_nonblocking(true).map_err(SourceError::Thread)?;
                Opened::Tcp(l)
            }
            RecordInput::Unix(path) => {
                let bad = |reason: String| SourceError::Records {
                    what: format!("unix {}", path.display()),
                    reason,
                };
                // An old socket left by a previous run is replaced; any other file is not.
                if let Ok(meta) = std::fs::symlink_metadata(&path) {
                    use std::os::unix::fs::FileTypeExt;
                    if !meta.file_type().is_socket() {
                        return Err(bad("exists and is not a socket".to_owned()));
                    }
                    std::fs::remove_file(&path).map_err(|e| bad(format!("cannot replace: {e}")))?;
                }
                let l =
                    UnixListener::bind(&path).map_err(|e| bad(format!("cannot listen: {e}")))?;
                l.set_nonblocking(true).map_err(SourceError::Thread)?;
                Opened::Unix(l, path)
            }
        };
        Ok(Records {
            input,
            mapping: spec.mapping,
        })
    }

    /// Start the producers, then run the source's thread here until every producer has
    /// ended (or the stop), sending to the merge.
    pub fn run(self, out: SyncSender<Envelope>, cx: Context) {
        let Context {
            id,
            files,
            stop,
            stats,
            cfg,
            clock_offset_us,
        } = cx;
        let cfg = &cfg;
        let (tx, rx) = sync_channel(cfg.channel_batches.max(1));
        let shared = Shared {
            id,
            files: files.clone(),
            stop: stop.clone(),
            e212: Arc::new(cfg.decoder.e212.clone()),
            mapping: self.mapping,
            clock_offset_us,
            out: tx,
            batch: cfg.batch_signals.max(1),
        };
        let name = format!("landfall-src{id}-lines");
        let mut producers = Vec::new();
        // Files are read side by side: each holds the watermark from the start, before its
        // first record.
        let expected = match &self.input {
            Opened::Files(paths) => paths.len(),
            _ => 0,
        };
        let started = match self.input {
            Opened::Files(paths) => {
                (0..paths.len()).for_each(|_| stats.add_file());
                spawn(&name, move || read_files(paths, &shared)).map(|t| producers.push(t))
            }
            Opened::Folder(listing) => {
                let (shared, stats, poll) = (shared, stats.clone(), cfg.follow);
                spawn(&name, move || read_folder(listing, &shared, &stats, poll))
                    .map(|t| producers.push(t))
            }
            Opened::Stream { name: n, reader } => {
                stats.add_file();
                // Not joined: it may be blocked reading standard input.
                spawn(&name, move || read_stream(&n, reader, 0, &shared)).map(drop)
            }
            Opened::Tcp(l) => {
                let stats = stats.clone();
                spawn(&name, move || accept(Listener::Tcp(l), &shared, &stats))
                    .map(|t| producers.push(t))
            }
            Opened::Unix(l, path) => {
                let stats = stats.clone();
                spawn(&name, move || {
                    accept(Listener::Unix(l), &shared, &stats);
                    let _ = std::fs::remove_file(path);
                })
                .map(|t| producers.push(t))
            }
        };
        if let Err(e) = started {
            stats.set_error(format!("cannot start a thread: {e}"));
        }
        SourceLoop {
            id,
            rx,
            out,
            stats,
            files,
            stop,
            producers: (0..expected)
                .map(|i| (i, ProducerState::new(cfg.max_delay)))
                .collect(),
            idle_timeout: cfg.idle_timeout,
            max_delay: cfg.max_delay,
            batch_interval: cfg.batch_interval,
            batch_signals: cfg.batch_signals.max(1),
            wall_clock: cfg.advance_with_wall_clock,
            current: None,
        }
        .run();
        for t in producers {
            let _ = t.join();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.to_owned()).spawn(f)
}

/// One producer's line reading: its [`LineReader`], the chunk being filled, the indices
/// of the files its records name.
struct Producer<'a> {
    shared: &'a Shared,
    lines: LineReader,
    own: u16,
    named: HashMap<String, u16>,
    chunk: Chunk,
}

impl<'a> Producer<'a> {
    fn new(shared: &'a Shared, producer: usize, name: &str, own: u16) -> Producer<'a> {
        Producer {
            shared,
            lines: LineReader::new(name, shared.mapping.clone()),
            own,
            named: HashMap::new(),
            chunk: Chunk::new(producer),
        }
    }

    /// One line read (with its end).
    fn line(&mut self, line: &[u8]) -> Result<(), String> {
        let Producer {
            shared,
            lines,
            own,
            named,
            chunk,
        } = self;
        let before = chunk.signals.len();
        let mut index = |f: Option<&str>| match f {
            None => *own,
            Some(name) => *named
                .entry(name.to_owned())
                .or_insert_with(|| shared.files.register(name, shared.id)),
        };
        chunk.lines += 1;
        chunk.bytes += line.len() as u64;
        let read = lines.line(
            line,
            &mut index,
            &shared.e212,
            &mut chunk.signals,
            &mut chunk.records,
        );
        if shared.clock_offset_us != 0 {
            for s in &mut chunk.signals[before..] {
                s.at = s.at.saturating_add(shared.clock_offset_us);
            }
        }
        read.map_err(|e| e.to_string())
    }

    /// Hand on what was read (`ended`: and that nothing more comes). `Err` when the
    /// source's thread is gone.
    fn send(&mut self, position: Option<u64>, ended: bool) -> Result<(), ()> {
        let producer = self.chunk.producer;
        let mut chunk = std::mem::replace(&mut self.chunk, Chunk::new(producer));
        chunk.position = position.map(|p| (self.own, p));
        chunk.ended = ended;
        if ended {
            self.lines.finish(&mut chunk.records);
        }
        self.shared.out.send(chunk).map_err(|_| ())
    }

    fn is_full(&self) -> bool {
        self.chunk.signals.len() >= self.shared.batch || self.chunk.lines >= CHUNK_LINES as u64
    }

    /// The indices this producer registered, closed.
    fn close(&self) {
        self.shared.files.close(self.own);
        for i in self.named.values() {
            self.shared.files.close(*i);
        }
    }
}

/// Files side by side: the open file whose latest record is oldest is read next, a
/// chunk at a time, so the source's watermark (the minimum over its open files) moves
/// on as replay's merge by time would.
fn read_files(paths: Vec<(PathBuf, u16)>, shared: &Shared) {
    struct Open<'a> {
        reader: Option<BufReader<File>>,
        producer: Producer<'a>,
        offset: u64,
        latest: i64,
    }
    let mut open: Vec<Open<'_>> = paths
        .iter()
        .enumerate()
        .map(|(i, (p, index))| {
            let mut producer = Producer::new(shared, i, &display_name(p), *index);
            let reader = match File::open(p) {
                Ok(f) => Some(BufReader::with_capacity(1 << 16, f)),
                Err(e) => {
                    producer.chunk.error = Some(format!("{}: cannot open: {e}", p.display()));
                    None
                }
            };
            Open {
                reader,
                producer,
                offset: 0,
                latest: i64::MIN,
            }
        })
        .collect();
    let mut line = Vec::new();
    while !open.is_empty() {
        if shared.stop.load(Relaxed) {
            break;
        }
        let next = (0..open.len()).min_by_key(|&i| open[i].latest).unwrap_or(0);
        let f = &mut open[next];
        let mut ended = f.reader.is_none();
        while let Some(r) = &mut f.reader {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => {
                    f.offset += n as u64;
                    if let Err(e) = f.producer.line(&line) {
                        f.producer.chunk.error = Some(e);
                        ended = true;
                        break;
                    }
                    if let Some(s) = f.producer.chunk.signals.last() {
                        f.latest = f.latest.max(s.at);
                    }
                    if f.producer.is_full() {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    f.producer.chunk.error = Some(format!("{}: {e}", f.producer.lines.file()));
                    ended = true;
                    break;
                }
            }
        }
        let offset = f.offset;
        if f.producer.send(Some(offset), ended).is_err() {
            return;
        }
        if ended {
            open.swap_remove(next).producer.close();
        }
    }
    // Stopped: the files not read to their end still end.
    for mut f in open {
        let offset = f.offset;
        let _ = f.producer.send(Some(offset), true);
        f.producer.close();
    }
}

/// A followed folder's files, one after another in pickup order, each followed to its
/// end as capture folders are ([`crate::follow`]). One producer: the files continue each
/// other in time.
fn read_folder(listing: Listing, shared: &Shared, stats: &SourceStats, follow: FollowConfig) {
    let dir = listing.dir().to_path_buf();
    let listing = Rc::new(RefCell::new(listing));
    while !shared.stop.load(Relaxed) {
        let next = listing.borrow_mut().take_next();
        let Some(name) = next else {
            std::thread::sleep(follow.poll);
            continue;
        };
        stats.add_file();
        let path = dir.join(&name);
        let mut producer = Producer::new(shared, 0, &name, shared.files.register(&name, shared.id));
        let read = match File::open(&path) {
            Ok(file) => {
                let watch = FolderWatch(listing.clone());
                let reader = FollowReader::new(file, follow, shared.stop.clone(), watch);
                read_lines(&mut producer, reader)
            }
            Err(e) => {
                producer.chunk.error = Some(format!("{}: cannot open: {e}", path.display()));
                Ok(0)
            }
        };
        listing.borrow_mut().done();
        // The file's last lines (and an open CSV row, counted) before the next file.
        producer.lines.finish(&mut producer.chunk.records);
        let sent = read.and_then(|offset| producer.send(Some(offset), false));
        producer.close();
        if sent.is_err() {
            return;
        }
    }
    let mut last = Chunk::new(0);
    last.ended = true;
    let _ = shared.out.send(last);
}

/// The folder as the follower of its current file sees it: a newer file waiting means
/// the current one may be finished.
struct FolderWatch(Rc<RefCell<Listing>>);

impl crate::follow::Folder for FolderWatch {
    fn waiting(&mut self) {
        // Nothing to hand on here: [`read_lines`] hands on what it read before every read
        // that may wait.
    }

    fn rotated(&mut self) -> bool {
        !self.0.borrow_mut().waiting().is_empty()
    }
}

/// Every line of `reader` through `producer`, handing on what was read whenever the next
/// read may wait (its buffer is empty) or a chunk is full; the bytes read. `Err` when the
/// source's thread is gone. A read error, or a CSV header the mapping does not fit, ends
/// the input (the error kept in the chunk).
fn read_lines<R: Read>(producer: &mut Producer<'_>, reader: R) -> Result<u64, ()> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut line = Vec::new();
    let mut offset = 0u64;
    loop {
        if reader.buffer().is_empty() && producer.chunk.lines > 0 {
            producer.send(Some(offset), false)?;
        }
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => {
                // The last line had no end.
                if !line.is_empty() {
                    if let Err(e) = producer.line(&line) {
                        producer.chunk.error = Some(e);
                    }
                }
                return Ok(offset);
            }
            Ok(n) => {
                offset += n as u64;
                if line.last() != Some(&b'\n') {
                    // The end of the input comes next.
                    continue;
                }
                let read = producer.line(&line);
                line.clear();
                if let Err(e) = read {
                    producer.chunk.error = Some(e);
                    return Ok(offset);
                }
                if producer.is_full() {
                    producer.send(Some(offset), false)?;
                }
            }
            // A socket's read timeout: nothing came; the line so far is kept.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if producer.shared.stop.load(Relaxed) {
                    return Ok(offset);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                producer.chunk.error = Some(format!("{}: {e}", producer.lines.file()));
                return Ok(offset);
            }
        }
    }
}

/// Standard input, a reader, or one connection: one producer, to its end.
fn read_stream(name: &str, reader: impl Read, producer: usize, shared: &Shared) {
    let index = shared.files.register(name, shared.id);
    let mut p = Producer::new(shared, producer, name, index);
    if let Ok(offset) = read_lines(&mut p, reader) {
        let _ = p.send(Some(offset), true);
    }
    p.close();
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Accepts connections until the stop, each read by its own producer thread (at most
/// [`MAX_CONNECTIONS`] at once; more are closed at once and counted).
fn accept(listener: Listener, shared: &Shared, stats: &Arc<SourceStats>) {
    let live = Arc::new(AtomicUsize::new(0));
    let mut next = 0usize;
    let mut threads = Vec::new();
    while !shared.stop.load(Relaxed) {
        let accepted: io::Result<(Box<dyn Read + Send>, String)> = match &listener {
            Listener::Tcp(l) => l.accept().and_then(|(s, peer)| {
                prepare_tcp(&s)?;
                Ok((Box::new(s) as Box<dyn Read + Send>, format!("tcp:{peer}")))
            }),
            Listener::Unix(l) => l.accept().and_then(|(s, _)| {
                prepare_unix(&s)?;
                Ok((Box::new(s) as Box<dyn Read + Send>, format!("unix#{next}")))
            }),
        };
        match accepted {
            Ok((stream, name)) => {
                if live.load(Relaxed) >= MAX_CONNECTIONS {
                    stats.add_capture_error(&format!(
                        "{name}: refused, {MAX_CONNECTIONS} connections are being read"
                    ));
                    continue;
                }
                live.fetch_add(1, Relaxed);
                stats.add_file();
                let (shared, live, producer) = (shared.clone(), live.clone(), next);
                next += 1;
                let t = spawn(&format!("landfall-src{}-conn", shared.id), move || {
                    read_stream(&name, stream, producer, &shared);
                    live.fetch_sub(1, Relaxed);
                });
                match t {
                    Ok(t) => threads.push(t),
                    Err(e) => stats.set_error(format!("cannot start a thread: {e}")),
                }
                threads.retain(|t| !t.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(TICK),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                stats.add_capture_error(&format!("accepting a connection: {e}"));
                std::thread::sleep(TICK);
            }
        }
    }
    for t in threads {
        let _ = t.join();
    }
}

fn prepare_tcp(s: &TcpStream) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(TICK))
}

fn prepare_unix(s: &UnixStream) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(TICK))
}

/// The source's thread: producers' chunks in, batches with the source's watermark out.
struct SourceLoop {
    id: usize,
    rx: Receiver<Chunk>,
    out: SyncSender<Envelope>,
    stats: Arc<SourceStats>,
    files: Arc<FileTable>,
    stop: Arc<AtomicBool>,
    /// Each producer's watermark and state.
    producers: HashMap<usize, ProducerState>,
    /// A producer silent this long (wall clock) stops holding the source's watermark,
    /// as a silent source stops holding the merged one.
    idle_timeout: Duration,
    max_delay: Duration,
    batch_interval: Duration,
    batch_signals: usize,
    wall_clock: bool,
    /// The source's watermark as last sent (never goes back).
    current: Option<i64>,
}

/// What the source's thread knows of one producer.
struct ProducerState {
    watermark: Watermark,
    ended: bool,
    /// When it last handed on lines.
    heard: Instant,
}

impl ProducerState {
    fn new(max_delay: Duration) -> ProducerState {
        ProducerState {
            watermark: Watermark::new(max_delay),
            ended: false,
            heard: Instant::now(),
        }
    }
}

/// What is collected between two sends.
#[derive(Default)]
struct Collected {
    signals: Vec<Signal>,
    dirty_since: Option<Instant>,
    last: Option<(i64, Instant)>,
}

impl SourceLoop {
    fn run(mut self) {
        let mut c = Collected::default();
        loop {
            let wait = c
                .dirty_since
                .map_or(TICK, |t| self.batch_interval.saturating_sub(t.elapsed()));
            match self.rx.recv_timeout(wait) {
                Ok(chunk) => self.take(chunk, &mut c),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.stop.load(Relaxed) {
                let until = Instant::now() + STOP_GRACE;
                while let Ok(chunk) = self
                    .rx
                    .recv_timeout(until.saturating_duration_since(Instant::now()))
                {
                    self.take(chunk, &mut c);
                }
                break;
            }
            let due = c.signals.len() >= self.batch_signals
                || c.dirty_since
                    .is_some_and(|t| t.elapsed() >= self.batch_interval);
            if due && self.send(&mut c, false).is_err() {
                return self.stats.set_ended();
            }
        }
        let _ = self.send(&mut c, true);
        self.stats.set_ended();
        let _ = self.out.send(Envelope {
            source: self.id,
            event: SourceEvent::End,
        });
    }

    fn take(&mut self, chunk: Chunk, c: &mut Collected) {
        let wall = if self.wall_clock { wall_us() } else { 0 };
        let max_delay = self.max_delay;
        let p = self
            .producers
            .entry(chunk.producer)
            .or_insert_with(|| ProducerState::new(max_delay));
        for s in &chunk.signals {
            p.watermark.observe(s.at, wall);
        }
        p.ended |= chunk.ended;
        if chunk.lines > 0 {
            p.heard = Instant::now();
        }
        let latest = p.watermark.last_frame();
        self.stats.add_frames(chunk.lines, chunk.bytes);
        self.stats.add_records(chunk.records);
        if let Some(e) = chunk.error {
            self.stats.add_capture_error(&e);
        }
        if let Some((file, offset)) = chunk.position {
            if let Some(name) = self.files.name(file) {
                self.stats.set_position(Position { file: name, offset });
            }
        }
        if chunk.lines > 0 {
            let now = Instant::now();
            c.dirty_since.get_or_insert(now);
            if let Some(last) = latest {
                c.last = Some((last, now));
                self.stats.set_last_frame(last, wall);
            }
        }
        c.signals.extend(chunk.signals);
    }

    /// The source's watermark: the minimum over the producers still open and not silent
    /// for the idle timeout, each its latest record less `max_delay`; where one of them
    /// has no record yet (a file not read yet), where it was. With none open, the highest
    /// of them. Never goes back.
    fn watermark(&mut self, end: bool) -> Option<i64> {
        let hold = i64::try_from(self.max_delay.as_micros()).unwrap_or(i64::MAX);
        let (mut open_min, mut any_max, mut waiting) = (None::<i64>, None::<i64>, false);
        for p in self.producers.values_mut() {
            let w = &mut p.watermark;
            let held = w.last_frame().map(|l| l.saturating_sub(hold));
            let v = w.update(held, None);
            any_max = any_max.max(v);
            if p.ended || end || p.heard.elapsed() >= self.idle_timeout {
                continue;
            }
            match v {
                Some(v) => open_min = Some(open_min.map_or(v, |m| m.min(v))),
                None => waiting = true,
            }
        }
        self.producers.retain(|_, p| !p.ended);
        let w = if waiting { None } else { open_min.or(any_max) };
        if let Some(w) = w {
            self.current = Some(self.current.map_or(w, |c| c.max(w)));
        }
        self.current
    }

    fn send(&mut self, c: &mut Collected, end: bool) -> Result<(), ()> {
        let watermark = self.watermark(end);
        let progressed = c.dirty_since.take().is_some();
        let signals = std::mem::take(&mut c.signals);
        if signals.is_empty() && !progressed && !end {
            return Ok(());
        }
        self.stats.add_signals(signals.len() as u64);
        self.stats.set_watermark(watermark);
        self.out
            .send(Envelope {
                source: self.id,
                event: SourceEvent::Progress {
                    signals,
                    watermark,
                    last_frame: if progressed { c.last } else { None },
                },
            })
            .map_err(|_| ())
    }
}
