//! The file indices of a run: every capture a source opens (a file of a files source, each
//! file a followed folder picks up, stdin, an interface) gets its own `u16`, so that a
//! signal's [`Provenance::file`](landfall_model::signal::Provenance) names it across all
//! the sources of the service, whose decoders each see only their own.

use std::sync::Mutex;

const SLOTS: usize = 1 << 16;

/// One registered capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The name shown in provenance: a file's name, `-` for stdin, the interface's name.
    pub name: String,
    /// The source (its position in the specifications) that reads it.
    pub source: usize,
    /// Still being read: its index is not handed out again.
    pub open: bool,
}

#[derive(Debug, Default)]
struct Slots {
    entries: Vec<Option<FileEntry>>,
    next: usize,
    /// Registrations so far.
    registered: u64,
}

/// Index → name of every capture of the run, shared by the sources (who register) and
/// whoever names provenance (who look up). Indices are handed out in order; after 65536
/// captures (a folder rotated every minute for 45 days) they wrap around to the oldest
/// index no longer open, whose entry is then replaced.
///
/// In a cluster of `processes` processes, process `p` hands out only the indices
/// `p + k × processes` ([`FileTable::striped`]), so that an index names one capture across
/// the cluster: a moment may be emitted by another process than the one that read its
/// signal.
#[derive(Debug)]
pub struct FileTable {
    slots: Mutex<Slots>,
    process: usize,
    processes: usize,
}

impl Default for FileTable {
    fn default() -> Self {
        FileTable::striped(0, 1)
    }
}

impl FileTable {
    pub fn new() -> FileTable {
        FileTable::default()
    }

    /// The table of process `process` of `processes` (see the type's docs).
    pub fn striped(process: usize, processes: usize) -> FileTable {
        let processes = processes.clamp(1, SLOTS);
        FileTable {
            slots: Mutex::default(),
            process: process % processes,
            processes,
        }
    }

    /// Local slots of this process.
    fn slots(&self) -> usize {
        SLOTS / self.processes
    }

    fn global(&self, local: usize) -> u16 {
        (local * self.processes + self.process) as u16
    }

    /// The local slot of a global index (none: another process's).
    fn local(&self, index: u16) -> Option<usize> {
        let i = usize::from(index);
        (i % self.processes == self.process).then_some(i / self.processes)
    }

    /// A new index for the capture `name` read by `source`, open until [`FileTable::close`].
    pub fn register(&self, name: &str, source: usize) -> u16 {
        let slots = self.slots();
        let mut s = self.lock();
        let entry = FileEntry {
            name: name.to_string(),
            source,
            open: true,
        };
        let at = if s.entries.len() < slots {
            s.entries.len()
        } else {
            // Wrapped: the next slot not open (any slot when all are).
            let start = s.next;
            (0..slots)
                .map(|k| (start + k) % slots)
                .find(|&i| !s.entries[i].as_ref().is_some_and(|e| e.open))
                .unwrap_or(start)
        };
        if at == s.entries.len() {
            s.entries.push(Some(entry));
        } else {
            s.entries[at] = Some(entry);
        }
        s.next = (at + 1) % slots;
        s.registered += 1;
        drop(s);
        self.global(at)
    }

    /// The capture of `index` is read to its end.
    pub fn close(&self, index: u16) {
        let Some(local) = self.local(index) else {
            return;
        };
        if let Some(Some(e)) = self.lock().entries.get_mut(local) {
            e.open = false;
        }
    }

    /// The name of `index`, if registered.
    pub fn name(&self, index: u16) -> Option<String> {
        self.get(index).map(|e| e.name)
    }

    pub fn get(&self, index: u16) -> Option<FileEntry> {
        let local = self.local(index)?;
        self.lock().entries.get(local).and_then(Clone::clone)
    }

    /// Every registered capture, by index.
    pub fn entries(&self) -> Vec<(u16, FileEntry)> {
        self.lock()
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((self.global(i), e.clone()?)))
            .collect()
    }

    /// How many captures were ever registered (a cheap check for new ones).
    pub fn registered(&self) -> u64 {
        self.lock().registered
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic elsewhere while holding the lock leaves the table usable.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_in_order_then_wrapping_past_open_ones() {
        let t = FileTable::new();
        assert_eq!(t.register("a", 0), 0);
        assert_eq!(t.register("b", 1), 1);
        assert_eq!(t.name(1).as_deref(), Some("b"));
        for i in 2..SLOTS {
            let idx = t.register("x", 0);
            assert_eq!(usize::from(idx), i);
            if i != 3 {
                t.close(idx);
            }
        }
        t.close(1);
        // 0 is still open: wrapping starts at 0, skips it, takes 1 (closed).
        assert_eq!(t.register("c", 2), 1);
        assert_eq!(t.name(1).as_deref(), Some("c"));
        // 2 is closed, 3 is open.
        assert_eq!(t.register("d", 2), 2);
        assert_eq!(t.register("e", 2), 4);
        assert_eq!(t.registered(), SLOTS as u64 + 3);
    }

    #[test]
    fn a_cluster_process_hands_out_its_own_stripe() {
        let t = FileTable::striped(1, 3);
        assert_eq!(t.register("a", 0), 1);
        assert_eq!(t.register("b", 0), 4);
        assert_eq!(t.name(4).as_deref(), Some("b"));
        assert_eq!(t.name(3), None, "another process's index");
        assert_eq!(
            t.entries().iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![1, 4]
        );
    }
}
