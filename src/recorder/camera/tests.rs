//! The camera loop's wait for a source to fill: a command that comes during it is held until
//! the frames that had arrived before it are processed.

use std::cell::Cell;
use std::rc::Rc;

use super::*;
use crate::clock::RealClock;
use crate::media::{StreamInfo, Unit};

/// A source whose `buffered` answers are scripted, one per call (false once they run out).
struct Scripted {
    answers: Rc<std::cell::RefCell<std::collections::VecDeque<bool>>>,
    asked: Rc<Cell<u32>>,
    coalesce: Option<Duration>,
}

impl PacketSource for Scripted {
    fn info(&self) -> StreamInfo {
        StreamInfo {
            width: 16,
            height: 16,
            pixel_format: ffmpeg_next::format::Pixel::YUV420P,
            time_base: ffmpeg_next::Rational(1, 90_000),
            frame_rate: ffmpeg_next::Rational(30, 1),
        }
    }
    fn next_unit(&mut self) -> Result<Option<Unit>, Error> {
        Ok(None)
    }
    fn start(&mut self, _: f64, _: &StampText) -> Result<ffmpeg_next::codec::Parameters, Error> {
        Ok(ffmpeg_next::codec::Parameters::new())
    }
    fn process(
        &mut self,
        _: Unit,
        _: u64,
        _: bool,
        _: Option<&StampText>,
        _: &mut Vec<crate::media::EncodedPacket>,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn finish(&mut self, _: &mut Vec<crate::media::EncodedPacket>) -> Result<(), Error> {
        Ok(())
    }
    fn text_track(&self) -> bool {
        true
    }
    fn coalesce(&self) -> Option<Duration> {
        self.coalesce
    }
    fn buffered(&mut self) -> bool {
        self.asked.set(self.asked.get() + 1);
        self.answers.borrow_mut().pop_front().unwrap_or(false)
    }
}

fn source(answers: &[bool], coalesce: Option<Duration>) -> (Scripted, Rc<Cell<u32>>) {
    let asked = Rc::new(Cell::new(0));
    (
        Scripted {
            answers: Rc::new(std::cell::RefCell::new(answers.iter().copied().collect())),
            asked: asked.clone(),
            coalesce,
        },
        asked,
    )
}

fn commands() -> (mpsc::Sender<CameraCommand>, Commands) {
    let (tx, rx) = mpsc::channel();
    (
        tx,
        Commands {
            rx,
            held: Default::default(),
        },
    )
}

fn attach(code: &str) -> CameraCommand {
    CameraCommand::Attach {
        code: code.into(),
        kind: "tracking".into(),
    }
}

fn code_of(c: Option<CameraCommand>) -> Option<String> {
    match c {
        Some(CameraCommand::Attach { code, .. }) => Some(code),
        _ => None,
    }
}

/// A scan during the wait: the two frames already in the socket come before it, the frame
/// after them takes it, and a later command comes after it.
#[test]
fn a_command_during_the_wait_applies_after_the_frames_that_came_before_it() {
    let clock = RealClock::new();
    let (tx, cmds) = commands();
    tx.send(attach("FIRST")).unwrap();
    // Caught up (nothing buffered); after the command, two frames are here, then none.
    let (mut media, _) = source(&[false, true, true, false], Some(Duration::from_secs(60)));
    let mut before = wait_to_coalesce(&clock, &mut media, &cmds, false);
    assert!(before, "the frames in the socket came before the command");
    assert_eq!(cmds.held.borrow().len(), 1);
    before = wait_to_coalesce(&clock, &mut media, &cmds, before);
    assert!(before, "the second frame in the socket too");
    before = wait_to_coalesce(&clock, &mut media, &cmds, before);
    assert!(!before, "the next frame comes after the command");
    tx.send(attach("SECOND")).unwrap();
    assert_eq!(code_of(cmds.try_take()).as_deref(), Some("FIRST"));
    assert_eq!(code_of(cmds.try_take()).as_deref(), Some("SECOND"));
    assert!(cmds.try_take().is_none());
}

/// A command that comes while nothing is in the socket applies at the next frame, and a
/// command held when the camera is lost is taken by the wait while it is down.
#[test]
fn a_command_with_nothing_buffered_applies_at_the_next_frame_and_is_never_lost() {
    let clock = RealClock::new();
    let (tx, cmds) = commands();
    tx.send(attach("NEXT")).unwrap();
    let (mut media, _) = source(&[false, false], Some(Duration::from_secs(60)));
    assert!(!wait_to_coalesce(&clock, &mut media, &cmds, false));
    // Held, not lost: the down camera's wait takes it first.
    tx.send(attach("LATER")).unwrap();
    let got = cmds.recv_timeout(&clock, Duration::from_millis(1)).ok();
    assert_eq!(code_of(got).as_deref(), Some("NEXT"));
    assert_eq!(code_of(cmds.try_take()).as_deref(), Some("LATER"));
}

/// A source read as it comes is never asked, and nothing waits or is held.
#[test]
fn a_source_without_coalescing_is_read_as_it_comes() {
    let clock = RealClock::new();
    let (tx, cmds) = commands();
    tx.send(attach("NOW")).unwrap();
    let (mut media, asked) = source(&[], None);
    assert!(!wait_to_coalesce(&clock, &mut media, &cmds, false));
    assert_eq!(asked.get(), 0);
    assert!(cmds.held.borrow().is_empty());
    assert_eq!(code_of(cmds.try_take()).as_deref(), Some("NOW"));
}
