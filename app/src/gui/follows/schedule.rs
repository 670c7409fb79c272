//! When each follow is due, as plain arithmetic on the times it is given: no thread, no
//! clock of its own, so every rule is tested by passing times in. A follow is due at the
//! app's start (unless it was checked since), then every interval after its last check;
//! "Check now" makes it due at once; a paused follow, or one the app is checking
//! elsewhere, is not due on schedule.

use deltadrop_core::JobSpec;

use super::model::FollowId;

/// What the scheduler needs to know of a follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub id: FollowId,
    /// The job of one check.
    pub spec: JobSpec,
    pub interval_secs: u64,
    pub paused: bool,
    /// When it was last checked since the app started, if it was.
    pub checked_at: Option<u64>,
    /// The app is checking it itself (the download form's first check): wait for that.
    pub busy_elsewhere: bool,
}

/// When each follow is next due, as the scheduler last worked it out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleReport {
    /// The time the report was made at.
    pub as_of: u64,
    /// Each follow's next check; `None` when it is not checked on schedule.
    pub due: Vec<(FollowId, Option<u64>)>,
    /// The follow being checked.
    pub running: Option<FollowId>,
}

impl ScheduleReport {
    pub fn due_at(&self, id: FollowId) -> Option<u64> {
        self.due
            .iter()
            .find(|(i, _)| *i == id)
            .and_then(|(_, t)| *t)
    }
}

#[derive(Debug)]
struct Entry {
    follow: Scheduled,
    /// When the scheduler last started a check of it.
    started: Option<u64>,
    /// "Check now" was asked and not yet done.
    asked: bool,
}

/// Every follow's schedule.
#[derive(Debug, Default)]
pub struct Schedule {
    entries: Vec<Entry>,
}

impl Schedule {
    /// Takes the follows as they are now; what is known of the ones that stay is kept.
    pub fn set(&mut self, follows: Vec<Scheduled>) {
        let mut old = std::mem::take(&mut self.entries);
        self.entries = follows
            .into_iter()
            .map(|follow| {
                let known = old
                    .iter()
                    .position(|e| e.follow.id == follow.id)
                    .map(|i| old.swap_remove(i));
                Entry {
                    started: known.as_ref().and_then(|e| e.started),
                    asked: known.is_some_and(|e| e.asked),
                    follow,
                }
            })
            .collect();
    }

    /// "Check now": due at once, paused or not.
    pub fn ask(&mut self, id: FollowId) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.follow.id == id) {
            entry.asked = true;
        }
    }

    /// A check of `id` started at `now`.
    pub fn started(&mut self, id: FollowId, now: u64) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.follow.id == id) {
            entry.started = Some(now);
            entry.asked = false;
        }
    }

    /// The follow to check at `now`: the one due longest ago (asked ones first).
    pub fn due(&self, now: u64) -> Option<FollowId> {
        self.entries
            .iter()
            .filter_map(|e| Some((due_at(e)?, e.follow.id)))
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, _)| *at)
            .map(|(_, id)| id)
    }

    /// The earliest time any follow is due.
    pub fn next_due(&self) -> Option<u64> {
        self.entries.iter().filter_map(due_at).min()
    }

    pub fn spec(&self, id: FollowId) -> Option<&JobSpec> {
        self.find(id).map(|e| &e.follow.spec)
    }

    /// Whether a check of `id` may go on: it is still followed and not paused.
    pub fn may_run(&self, id: FollowId) -> bool {
        self.find(id).is_some_and(|e| !e.follow.paused || e.asked)
    }

    pub fn report(&self, now: u64, running: Option<FollowId>) -> ScheduleReport {
        ScheduleReport {
            as_of: now,
            due: self
                .entries
                .iter()
                .map(|e| (e.follow.id, due_at(e)))
                .collect(),
            running,
        }
    }

    fn find(&self, id: FollowId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.follow.id == id)
    }
}

/// When `entry` is due: at once when asked, never while paused or checked elsewhere,
/// else an interval after its last check (at once if not checked since the app started).
fn due_at(entry: &Entry) -> Option<u64> {
    let follow = &entry.follow;
    if follow.busy_elsewhere {
        return None;
    }
    if entry.asked {
        return Some(0);
    }
    if follow.paused {
        return None;
    }
    let last = entry.started.max(follow.checked_at);
    Some(last.map_or(0, |t| t.saturating_add(follow.interval_secs.max(1))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltadrop_core::ControlSource;

    fn follow(id: FollowId, interval_secs: u64) -> Scheduled {
        Scheduled {
            id,
            spec: JobSpec::new(ControlSource::Url(format!("http://h/{id}.zsync"))),
            interval_secs,
            paused: false,
            checked_at: None,
            busy_elsewhere: false,
        }
    }

    #[test]
    fn every_follow_is_due_at_start_then_every_interval() {
        let mut s = Schedule::default();
        s.set(vec![follow(1, 3600), follow(2, 600)]);
        assert_eq!(s.due(1000), Some(1));
        s.started(1, 1000);
        assert_eq!(s.due(1000), Some(2));
        s.started(2, 1010);
        assert_eq!(s.due(1500), None);
        assert_eq!(s.next_due(), Some(1610));
        assert_eq!(s.due(1610), Some(2));
        s.started(2, 1610);
        assert_eq!(s.due(2209), None);
        let report = s.report(2209, None);
        assert_eq!(report.due_at(1), Some(4600), "an hour after its check");
        assert_eq!(report.due_at(2), Some(2210));
        assert_eq!(s.due(4600), Some(2), "the one due longest ago first");
        s.started(2, 4600);
        assert_eq!(s.due(4600), Some(1));
    }

    #[test]
    fn paused_follows_are_skipped_and_check_now_runs_even_those() {
        let mut s = Schedule::default();
        let mut paused = follow(1, 60);
        paused.paused = true;
        s.set(vec![paused.clone(), follow(2, 60)]);
        assert_eq!(s.due(0), Some(2));
        s.started(2, 0);
        assert_eq!(s.due(1_000_000), Some(2), "never the paused one");
        s.started(2, 1_000_000);
        assert_eq!(s.due(1_000_000), None);
        assert_eq!(s.report(1_000_000, None).due_at(1), None);
        s.ask(1);
        assert!(s.may_run(1));
        assert_eq!(s.due(1_000_000), Some(1));
        s.started(1, 1_000_000);
        assert!(!s.may_run(1), "asked once, then paused again");
        assert_eq!(s.due(5_000_000), Some(2));
    }

    #[test]
    fn asked_checks_come_first_and_updates_keep_what_is_known() {
        let mut s = Schedule::default();
        s.set(vec![follow(1, 60), follow(2, 60)]);
        s.started(1, 100);
        s.started(2, 100);
        s.ask(2);
        // The settings changed: the follows come again, with what was known kept.
        let mut two = follow(2, 30);
        two.spec.seeds = vec!["seed".into()];
        s.set(vec![follow(1, 60), two]);
        assert_eq!(
            s.spec(2).unwrap().seeds,
            ["seed".into()] as [std::path::PathBuf; 1]
        );
        assert_eq!(s.due(100), Some(2), "still asked");
        s.started(2, 100);
        assert_eq!(s.next_due(), Some(130), "the new interval");
        // One removed: gone from the schedule, and may not run on.
        s.set(vec![follow(2, 30)]);
        assert!(!s.may_run(1));
        assert_eq!(s.due(10_000), Some(2));
    }

    #[test]
    fn a_check_made_elsewhere_counts_and_a_busy_follow_waits() {
        let mut s = Schedule::default();
        let mut checked = follow(1, 3600);
        checked.checked_at = Some(500);
        let mut busy = follow(2, 3600);
        busy.busy_elsewhere = true;
        s.set(vec![checked.clone(), busy.clone()]);
        s.ask(2);
        assert_eq!(s.due(600), None, "checked at 500, and 2 is busy");
        assert_eq!(s.next_due(), Some(4100));
        busy.busy_elsewhere = false;
        busy.checked_at = Some(700);
        s.set(vec![checked, busy]);
        assert_eq!(s.due(700), Some(2), "asked while busy: done once free");
    }
}
