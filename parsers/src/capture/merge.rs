//! Several capture files replayed as one stream in capture-time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{CaptureError, CaptureReader, Frame, FrameRef};

/// The head item of one reader, ordered by (time, file index, frame, reader position).
type Key = (i64, u16, u64, usize);

/// A k-way merge of [`CaptureReader`]s by `(ts_us, file index, frame)`, so the files of
/// several probes replay as if captured by one. Each file's own order is kept, even where
/// its timestamps go backwards. A reader's error comes out where it occurred in that
/// reader's stream (keyed by that reader's last timestamp); that reader then ends.
pub struct MergedCaptures {
    readers: Vec<CaptureReader>,
    heads: Vec<Option<Result<Frame, CaptureError>>>,
    heap: BinaryHeap<Reverse<Key>>,
    /// Last timestamp seen per reader, the position of an error in time.
    last_ts: Vec<i64>,
}

impl MergedCaptures {
    pub fn new(readers: Vec<CaptureReader>) -> Self {
        let n = readers.len();
        let mut m = MergedCaptures {
            readers,
            heads: (0..n).map(|_| None).collect(),
            heap: BinaryHeap::with_capacity(n),
            last_ts: vec![i64::MIN; n],
        };
        for i in 0..n {
            m.advance(i);
        }
        m
    }

    /// Pull the next item of reader `i` into its head slot and the heap.
    fn advance(&mut self, i: usize) {
        let Some(reader) = self.readers.get_mut(i) else {
            return;
        };
        let item = reader.next();
        let key = match &item {
            Some(Ok(f)) => (f.meta.ts_us, f.meta.file, f.meta.frame, i),
            Some(Err(e)) => {
                let ts = self.last_ts.get(i).copied().unwrap_or(i64::MIN);
                (ts, e.file_index, e.frame.unwrap_or(u64::MAX), i)
            }
            None => return,
        };
        if let (Some(Ok(f)), Some(last)) = (&item, self.last_ts.get_mut(i)) {
            *last = f.meta.ts_us;
        }
        if let Some(slot) = self.heads.get_mut(i) {
            *slot = item;
            self.heap.push(Reverse(key));
        }
    }
}

impl MergedCaptures {
    /// Every item, in the iterator's order, to `f`. With one file the frames are lent from
    /// its reader's buffer ([`CaptureReader::next_frame`]) instead of copied.
    pub fn for_each_frame(mut self, mut f: impl FnMut(Result<FrameRef<'_>, &CaptureError>)) {
        if self.readers.len() != 1 {
            for item in self {
                f(item.as_ref().map(Frame::as_frame_ref));
            }
            return;
        }
        // The first item was read ahead (as an owned frame) by `new`.
        let Some(first) = self.heads.get_mut(0).and_then(Option::take) else {
            return;
        };
        f(first.as_ref().map(Frame::as_frame_ref));
        let Some(reader) = self.readers.get_mut(0) else {
            return;
        };
        while let Some(item) = reader.next_frame() {
            match item {
                Ok(frame) => f(Ok(frame)),
                Err(e) => f(Err(&e)),
            }
        }
    }
}

impl Iterator for MergedCaptures {
    type Item = Result<Frame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.readers.len() == 1 {
            // One file: its own order, no heap.
            let item = self.heads.get_mut(0).and_then(Option::take);
            if item.is_some() {
                self.heads[0] = self.readers[0].next();
            }
            return item;
        }
        let Reverse((_, _, _, i)) = self.heap.pop()?;
        let item = self.heads.get_mut(i).and_then(Option::take);
        self.advance(i);
        item
    }
}
