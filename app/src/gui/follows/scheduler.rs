//! The thread that checks follows when they are due, one at a time, whether or not the
//! window is drawn: egui draws no frame while the window is minimised, so nothing here
//! waits for one. It keeps a [`Schedule`], sleeps until the next check is due or a
//! message comes, starts checks through the app's [`Runner`] and sends their events to
//! the UI as [`Command::FollowEvent`]s (the UI folds and records them when it next
//! runs, which eframe does while the window is hidden too). The clock is the app's, so
//! tests move time on and [`Scheduler::wake`] it.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use deltadrop_core::Event;

use super::model::FollowId;
use super::schedule::{Schedule, Scheduled};
use crate::gui::clock::Clock;
use crate::gui::command::Command;
use crate::gui::runner::{RunControl, Runner, UiSink, Waker};
use crate::gui::worker::Reporter;

/// The longest the thread sleeps without reading the clock: a computer that slept, or a
/// clock set forward, is noticed within this.
const LONGEST_NAP: Duration = Duration::from_secs(60);

enum Message {
    Follows(Vec<Scheduled>),
    CheckNow(FollowId),
    /// Read the clock again.
    Wake,
    /// The running check of this follow ended.
    Finished(FollowId),
    /// The app is closing.
    Stop,
}

/// The app's handle on the thread; dropping it stops the thread and cancels its check.
pub struct Scheduler {
    tx: Sender<Message>,
}

/// What the thread needs from the app.
pub struct SchedulerParts {
    pub runner: Arc<dyn Runner>,
    pub clock: Arc<dyn Clock>,
    /// Where results go: the UI's command channel.
    pub reporter: Reporter,
    pub waker: Arc<dyn Waker>,
}

impl Scheduler {
    pub fn start(parts: SchedulerParts) -> std::io::Result<Scheduler> {
        let (tx, rx) = channel();
        let thread = Thread {
            schedule: Schedule::default(),
            running: None,
            inbox: tx.clone(),
            parts,
        };
        std::thread::Builder::new()
            .name("deltadrop-follows".into())
            .spawn(move || thread.run(&rx))?;
        Ok(Scheduler { tx })
    }

    /// The follows as they are now (added, removed, paused, settings changed).
    pub fn set_follows(&self, follows: Vec<Scheduled>) {
        let _ = self.tx.send(Message::Follows(follows));
    }

    /// Checks `id` as soon as no other check runs.
    pub fn check_now(&self, id: FollowId) {
        let _ = self.tx.send(Message::CheckNow(id));
    }

    /// Makes the thread read the clock again (a test moved it on).
    pub fn wake(&self) {
        let _ = self.tx.send(Message::Wake);
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // The running check holds the thread's inbox too: say it outright.
        let _ = self.tx.send(Message::Stop);
    }
}

struct Thread {
    schedule: Schedule,
    running: Option<(FollowId, Box<dyn RunControl>)>,
    /// Its own inbox, for the running check to say it ended.
    inbox: Sender<Message>,
    parts: SchedulerParts,
}

impl Thread {
    /// Until the app drops its [`Scheduler`].
    fn run(mut self, rx: &Receiver<Message>) {
        loop {
            let now = self.parts.clock.now_unix();
            if self.running.is_none()
                && let Some(id) = self.schedule.due(now)
            {
                self.start_check(id, now);
            }
            let running = self.running.as_ref().map(|(id, _)| *id);
            let report = self.schedule.report(now, running);
            self.parts.reporter.send(Command::FollowSchedule(report));
            let message = match self.nap(now) {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(nap) => rx.recv_timeout(nap),
            };
            match message {
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(message) => self.take(message),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        if let Some((_, control)) = &self.running {
            control.cancel();
        }
    }

    /// How long to wait for a message: until the next check is due (`None`: for ever).
    fn nap(&self, now: u64) -> Option<Duration> {
        if self.running.is_some() {
            return None; // Its end is a message.
        }
        let due = self.schedule.next_due()?;
        Some(Duration::from_secs(due.saturating_sub(now)).min(LONGEST_NAP))
    }

    fn take(&mut self, message: Message) {
        match message {
            Message::Follows(follows) => {
                self.schedule.set(follows);
                if let Some((id, control)) = &self.running
                    && !self.schedule.may_run(*id)
                {
                    // Removed or paused: stop; its download waits in its .part.
                    control.cancel();
                }
            }
            Message::CheckNow(id) => self.schedule.ask(id),
            Message::Wake | Message::Stop => {}
            Message::Finished(id) => {
                if self.running.as_ref().is_some_and(|(r, _)| *r == id) {
                    self.running = None;
                }
            }
        }
    }

    fn start_check(&mut self, id: FollowId, now: u64) {
        let Some(spec) = self.schedule.spec(id).cloned() else {
            return;
        };
        self.schedule.started(id, now);
        self.parts
            .reporter
            .send(Command::FollowCheckStarted { id, at: now });
        let to_ui = self.parts.reporter.clone();
        let inbox = self.inbox.clone();
        let sink = UiSink::delivering(
            move |event| {
                let finished = matches!(event, Event::Finished(_));
                let delivered = to_ui.deliver(Command::FollowEvent(id, Box::new(event)));
                if finished {
                    let _ = inbox.send(Message::Finished(id));
                }
                delivered
            },
            self.parts.waker.clone(),
        );
        let control = self.parts.runner.start(spec, sink);
        self.running = Some((id, control));
    }
}
