//! The monitor protocol (berth-monitor's `protocol`): the request line a
//! monitor reads from its socket, the control and exit lines berthd reads
//! back, the resize answer — each line must survive its own writer — and
//! the attach stream's 8-byte frames (berth-api's `stdcopy`) as the
//! daemon and clients decode them, fed in the chunks the input's first
//! byte sets.
#![no_main]

use berth_api::stdcopy::{self, Decoder};
use berth_monitor::protocol::{ExitLine, Reply, Request, parse_resize_answer, resize_answer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    for line in text.lines() {
        if let Some(r) = Request::parse(line) {
            assert_eq!(Request::parse(&r.to_line()), Some(r));
        }
        if let Ok(r) = Reply::parse(line) {
            assert_eq!(Reply::parse(&r.to_line()).ok(), Some(r));
        }
        if let Some(e) = ExitLine::parse(line) {
            assert_eq!(ExitLine::parse(&e.to_line()), Some(e));
        }
        let _ = resize_answer(parse_resize_answer(line));
    }

    // Frames, pushed in chunks as they would arrive from a socket.
    let mut d = Decoder::new();
    let mut frames = Vec::new();
    let step = usize::from(chunk).max(1);
    'feed: for piece in rest.chunks(step) {
        d.push(piece);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    // Re-encoded, the frames decode to themselves (an empty frame carries
    // nothing and is not written).
    frames.retain(|(_, payload)| !payload.is_empty());
    let mut again = Decoder::new();
    for (s, payload) in &frames {
        again.push(&stdcopy::encode(*s, payload));
    }
    for f in &frames {
        assert_eq!(again.next_frame().ok().flatten().as_ref(), Some(f));
    }
    assert_eq!(again.pending(), 0);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let _ = stdcopy::demux(rest, &mut out, &mut err);
});
