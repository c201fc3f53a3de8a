use super::*;
use crate::capture::FrameRef;

/// Counts signals only.
struct Signals(u64);
impl Sink for Signals {
    fn signal(&mut self, _: Signal) {
        self.0 += 1;
    }
}

#[test]
fn frames_outside_the_writable_times_are_counted_not_decoded() {
    let mut d = Decoder::new(DecoderConfig::default());
    let mut sink = Signals(0);
    for (frame, ts_us) in [
        (1, -1),
        (2, LATEST_TIMESTAMP_US + 1),
        (3, i64::MAX),
        (4, i64::MIN),
    ] {
        let f = FrameRef {
            meta: PacketMeta {
                file: 0,
                frame,
                ts_us,
            },
            linktype: 1,
            data: &[0u8; 60],
            orig_len: 60,
        };
        d.push_ref(&f, &mut sink);
    }
    d.finish(&mut sink);
    let e = &d.stats.errors[&(Layer::Capture, "frame timestamp before 1970 or after 8999")];
    assert_eq!(e.count, 4);
    assert_eq!(d.stats.frames, 4);
    assert_eq!(sink.0, 0);
}
