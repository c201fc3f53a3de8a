//! A pcap or pcapng stream: standard input (`tcpdump -U -w - … | landfall serve`) or any
//! reader. Frames are handed on as they arrive: what was read is sent to the decoder
//! before each read that may block, so a quiet link's frames do not wait for more.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

use landfall_parsers::capture::CaptureReader;

use super::{pump, Context};
use crate::file_table::FileTable;
use crate::frames::FrameSender;

pub(crate) struct Stream {
    /// The name of the capture reader (in error messages).
    name: String,
    reader: Box<dyn Read + Send>,
    index: u16,
}

/// Sends what was collected before each read of the inner stream.
struct FlushFirst<R> {
    inner: R,
    out: Rc<RefCell<FrameSender>>,
}

impl<R: Read> Read for FlushFirst<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The decoder is gone: end the stream.
        if self.out.borrow_mut().flush().is_err() {
            return Ok(0);
        }
        self.inner.read(buf)
    }
}

impl Stream {
    /// A stream known as `display` in provenance (stdin: `-`, as replay shows it).
    pub fn new(
        display: &str,
        name: &str,
        reader: Box<dyn Read + Send>,
        id: usize,
        table: &FileTable,
    ) -> Stream {
        Stream {
            name: name.to_string(),
            reader,
            index: table.register(display, id),
        }
    }

    pub fn run(self, out: FrameSender, cx: &Context) {
        cx.stats.add_file();
        let out = Rc::new(RefCell::new(out));
        let input = FlushFirst {
            inner: self.reader,
            out: out.clone(),
        };
        match CaptureReader::from_stream(input, &self.name, self.index) {
            Ok(mut r) => {
                let _ = pump(&mut r, &out, &cx.stop, cx.clock_offset_us);
            }
            Err(e) => {
                let _ = out.borrow_mut().error(e);
            }
        }
        let _ = out.borrow_mut().flush();
        cx.files.close(self.index);
    }
}
