//! The views and following builds: the tabs and their keys, follows made from the form
//! and from the history, checks at start and on schedule (a manual clock moves time on,
//! so no outcome depends on when the test runs), Pause, Check now, Remove and its
//! dialog, notifications, start at login, and a real follow of builds nginx serves.

use std::time::SystemTime;

use deltadrop::gui::follows::model::reused_text;
use deltadrop::gui::follows::{CheckOutcome, Follow};
use deltadrop::gui::persist::View;
use deltadrop_core::FollowReport;
use egui::{Key, Modifiers};
use egui_kittest::kittest::By;

use super::*;

const URL_A: &str = "http://127.0.0.1:9/a/latest/image.img.zsync";
const URL_B: &str = "http://127.0.0.1:9/b/latest/other.img.zsync";

fn follow(id: u64, url: &str, folder: &Path) -> Follow {
    Follow {
        id,
        url: url.into(),
        folder: folder.to_path_buf(),
        ..Follow::default()
    }
}

/// The app on its Follows view, around `follows`, with `clock`; and its desktop.
fn follows_app(
    follows: Vec<Follow>,
    runner: &FakeRunner,
    clock: &ManualClock,
) -> (Harness<'static, DeltadropApp>, FakeDesktop) {
    let desktop = FakeDesktop::default();
    let mut options = options(GuiArgs::default(), runner, Path::new("/nonexistent"));
    options.clock = Arc::new(clock.clone());
    options.desktop = Arc::new(desktop.clone());
    let persisted = Persisted {
        follows,
        view: View::Follows,
        ..Persisted::default()
    };
    (harness_from(persisted, options), desktop)
}

/// Ends a scripted check as the engine would: a new build (3000 of 4000 bytes reused)
/// or the one already there.
fn finish_check(job: &FakeJob, new_build: bool) {
    let newest = job.spec.output.clone().unwrap().join("image.img");
    job.emit(Event::Finished(Ok(Summary {
        output: Some(newest.clone()),
        plan: Plan {
            total_bytes: 4000,
            local_bytes: 3000,
            ..Plan::default()
        },
        progress: Progress::default(),
        file_hash: None,
        elapsed: Duration::from_secs(2),
        follow: Some(FollowReport {
            new_build,
            newest,
            built: Some("Tue, 01 Dec 2026 03:00:00 +0000".into()),
            kept: Vec::new(),
            removed: Vec::new(),
            control_url: match &job.spec.control {
                ControlSource::Url(url) => url.clone(),
                ControlSource::File(path) => path.display().to_string(),
            },
        }),
    })));
}

fn follow_of(harness: &Harness<'static, DeltadropApp>, id: u64) -> Follow {
    harness
        .state()
        .persisted()
        .follows
        .iter()
        .find(|f| f.id == id)
        .cloned()
        .expect("the follow")
}

/// Steps until the scheduler has reported its schedule at `as_of` with no check running.
fn wait_until_idle_at(harness: &mut Harness<'static, DeltadropApp>, as_of: u64) {
    wait_for(harness, "the scheduler to be idle", |h| {
        h.state().follow_check().is_none()
            && h.state()
                .schedule()
                .is_some_and(|r| r.as_of == as_of && r.running.is_none())
    });
}

#[test]
fn follows_are_checked_at_start_then_on_schedule_and_pause_stops_them() {
    let dir = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let clock = ManualClock::at(T0);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (mut harness, desktop) = follows_app(
        vec![follow(1, URL_A, &a), follow(2, URL_B, &b)],
        &runner,
        &clock,
    );

    // At start both are due: checked one at a time, in order, each a follow job.
    wait_for(&mut harness, "the first check", |_| runner.count() == 1);
    let job = runner.job(0);
    assert_eq!(job.spec.control, ControlSource::Url(URL_A.into()));
    assert_eq!(job.spec.options.mode, Mode::Follow);
    assert_eq!(job.spec.options.keep_builds, 3);
    assert_eq!(job.spec.output.as_deref(), Some(a.as_path()));
    // Its progress shows on its card.
    job.emit(Event::ControlLoaded(target_info(100, 4096)));
    job.emit(Event::Phase(Phase::Fetching));
    job.emit(Event::Progress(Progress {
        local_bytes: 100 * 4096 / 2,
        total_bytes: 100 * 4096,
        ..Progress::default()
    }));
    wait_for(&mut harness, "the check's progress", |h| {
        has_text(h, "Downloading missing blocks: 50%")
    });
    assert!(has_text(&harness, "checking…"));
    assert_eq!(runner.count(), 1, "one check at a time");
    finish_check(&job, true);
    wait_for(&mut harness, "the second check", |_| runner.count() == 2);
    let first = follow_of(&harness, 1);
    assert_eq!(first.last_outcome, Some(CheckOutcome::NewBuild));
    assert_eq!(first.last_check_unix, Some(T0));
    finish_check(&runner.job(1), false);
    wait_until_idle_at(&mut harness, T0);
    assert_eq!(
        follow_of(&harness, 2).last_outcome,
        Some(CheckOutcome::UpToDate)
    );
    assert!(has_text(&harness, &reused_text(3000, 4000)));
    assert!(has_text(&harness, "built 01 Dec 2026 03:00 +0000"));
    assert!(has_text(&harness, "in 1h 00m"), "the next check");
    // A new build is announced with what was reused; nothing new is not.
    let announced = format!("new_build image.img: {}", reused_text(3000, 4000));
    wait_for(&mut harness, "the notification", |_| {
        desktop.calls() == [announced.clone()]
    });

    // Paused: not checked when its hour is up; the other one is.
    harness.get_all_by_label("Pause").next().unwrap().click();
    harness.run();
    assert!(follow_of(&harness, 1).paused);
    assert!(has_text(&harness, "paused (Check now still checks)"));
    clock.advance(3600);
    harness.state().wake_scheduler();
    wait_for(&mut harness, "the hourly check", |_| runner.count() == 3);
    assert_eq!(runner.job(2).spec.control, ControlSource::Url(URL_B.into()));
    finish_check(&runner.job(2), false);
    wait_until_idle_at(&mut harness, T0 + 3600);
    assert_eq!(runner.count(), 3, "the paused follow was not checked");

    // Check now checks it all the same; Resume puts it back on schedule.
    harness
        .get_all_by_label("Check now")
        .next()
        .unwrap()
        .click();
    wait_for(&mut harness, "the asked check", |_| runner.count() == 4);
    assert_eq!(runner.job(3).spec.control, ControlSource::Url(URL_A.into()));
    finish_check(&runner.job(3), false);
    wait_until_idle_at(&mut harness, T0 + 3600);
    harness.get_by_label("Resume").click();
    harness.run();
    assert!(!follow_of(&harness, 1).paused);
    clock.advance(3600);
    harness.state().wake_scheduler();
    wait_for(&mut harness, "both checked again", |_| runner.count() == 5);
}

#[test]
fn a_follow_failing_twice_in_a_row_is_announced_once_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let clock = ManualClock::at(T0);
    let (mut harness, desktop) = follows_app(vec![follow(1, URL_A, dir.path())], &runner, &clock);
    let error = Error::Http {
        url: URL_A.into(),
        problem: "connection refused".into(),
    };
    for attempt in 1..=3 {
        wait_for(&mut harness, "a check", |_| runner.count() == attempt);
        runner
            .job(attempt - 1)
            .emit(Event::Finished(Err(error.clone())));
        wait_until_idle_at(&mut harness, T0);
        if attempt < 3 {
            harness.get_by_label("Check now").click();
        }
    }
    assert_eq!(follow_of(&harness, 1).failures_in_a_row, 3);
    assert!(has_text(&harness, "failed 3 times in a row"));
    assert!(has_text(&harness, &error.to_string()));
    assert!(has_text(&harness, &error.hint()));
    let expected = format!("follow_failing image.img: {error}");
    wait_for(&mut harness, "the notification", |_| {
        !desktop.calls().is_empty()
    });
    assert_eq!(desktop.calls(), [expected], "once, at the second failure");
}

#[test]
fn remove_asks_first_esc_keeps_the_follow_and_the_builds_stay() {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("image.img");
    std::fs::write(&build, b"a build").unwrap();
    let runner = FakeRunner::default();
    let clock = ManualClock::at(T0);
    let mut paused = follow(1, URL_A, dir.path());
    paused.paused = true;
    let (mut harness, _) = follows_app(vec![paused], &runner, &clock);

    harness.get_by_label("Remove").click();
    harness.run();
    assert!(has_text(&harness, "Stop following image.img?"));
    harness.key_press(Key::Escape);
    harness.run();
    assert!(
        !has_text(&harness, "Stop following image.img?"),
        "Esc closed it"
    );
    assert_eq!(
        harness.state().persisted().follows.len(),
        1,
        "and kept the follow"
    );

    harness.get_by_label("Remove").click();
    harness.run();
    harness.get_by_label("Stop following").click();
    harness.run();
    assert!(harness.state().persisted().follows.is_empty());
    assert!(has_text(&harness, "No follows yet."));
    assert_eq!(
        std::fs::read(&build).unwrap(),
        b"a build",
        "files are never deleted"
    );
    assert_eq!(runner.count(), 0, "a paused follow is not checked at start");
}

#[test]
fn the_views_are_reachable_by_keyboard_and_esc_leaves_settings() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    assert_eq!(harness.state().view(), View::Download);
    for (key, view) in [
        (Key::Num2, View::Follows),
        (Key::Num3, View::History),
        (Key::Num4, View::Settings),
        (Key::Num1, View::Download),
    ] {
        harness.key_press_modifiers(Modifiers::COMMAND, key);
        harness.run();
        assert_eq!(harness.state().view(), view, "{key:?}");
    }
    // Tab moves through the tabs; Enter opens the one focused.
    harness.key_press(Key::Tab);
    harness.run();
    harness.key_press(Key::Tab);
    harness.run();
    let focused = harness.get(By::new().predicate(|node| node.is_focused()));
    assert_eq!(focused.accesskit_node().label().as_deref(), Some("Follows"));
    harness.key_press(Key::Enter);
    harness.run();
    assert_eq!(harness.state().view(), View::Follows);

    // Esc leaves Settings for the view it came from, but first leaves a text field.
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Num4);
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Proxy")
        .click();
    harness.run();
    harness.key_press(Key::Escape);
    harness.run();
    assert_eq!(
        harness.state().view(),
        View::Settings,
        "Esc left the text field"
    );
    harness.key_press(Key::Escape);
    harness.run();
    assert_eq!(harness.state().view(), View::Follows);
}

#[test]
fn a_history_entry_can_be_kept_up_to_date_and_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let seed = dir.path().join("old.img");
    let entry = HistoryEntry {
        control: URL_A.into(),
        seeds: vec![seed.clone()],
        output: Some(dir.path().to_path_buf()),
        written: Some(dir.path().join("image.img")),
        ok: true,
        outcome: "verified".into(),
        finished_unix: T0 - 600,
        ..HistoryEntry::default()
    };
    let local = HistoryEntry {
        control: "/tmp/local.img.zsync".into(),
        ..entry.clone()
    };
    let persisted = Persisted {
        history: vec![entry, local],
        view: View::History,
        ..Persisted::default()
    };
    let mut harness = harness_with_persisted(persisted, &runner, dir.path());
    assert!(has_text(&harness, "image.img · 10m 00s ago"));
    let boxes: Vec<_> = harness.get_all_by_label("Keep up to date").collect();
    assert_eq!(boxes.len(), 2);
    assert!(
        boxes[1].accesskit_node().is_disabled(),
        "a local .zsync cannot be followed"
    );
    boxes[0].click();
    harness.run();
    let follows = &harness.state().persisted().follows;
    assert_eq!(follows.len(), 1);
    assert_eq!(follows[0].folder, dir.path());
    assert_eq!(follows[0].seeds, std::slice::from_ref(&seed));
    // A new follow is checked at once, with the entry's seeds.
    wait_for(&mut harness, "its first check", |_| runner.count() == 1);
    let job = runner.job(0);
    assert_eq!(job.spec.options.mode, Mode::Follow);
    assert_eq!(job.spec.seeds, [seed]);
    // Unticked: the follow goes, and its check is cancelled.
    harness
        .get_all_by_label("Keep up to date")
        .next()
        .unwrap()
        .click();
    harness.run();
    assert!(harness.state().persisted().follows.is_empty());
    wait_for(&mut harness, "the check to be cancelled", |_| {
        job.cancelled.load(Ordering::SeqCst)
    });
}

#[test]
fn settings_turn_start_at_login_on_and_minimized_is_understood() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let desktop = FakeDesktop::default();
    let mut opts = options(
        GuiArgs::try_parse_from(["deltadrop", "--minimized"]).unwrap(),
        &runner,
        out.path(),
    );
    opts.desktop = Arc::new(desktop.clone());
    let mut harness = harness_with(opts);
    harness.get_by_label("Settings").click();
    let label = "Start deltadrop at login (minimised)";
    wait_for(&mut harness, "the login item's state", |h| {
        h.query_by_label(label)
            .is_some_and(|b| !b.accesskit_node().is_disabled())
    });
    harness.get_by_label(label).click();
    // Ticked as the desktop now says, after the worker asked it.
    wait_for(&mut harness, "the login item", |h| {
        desktop.calls() == ["set_autostart true"]
            && h.state().view() == View::Settings
            && h.get_by_label(label).accesskit_node().toggled()
                == Some(egui::accesskit::Toggled::True)
    });
}

/// A follow made with "Keep this up to date" in the form: the download is its first
/// check (real engine, nginx, Debian's zsyncmake); a second build published, "Check now"
/// downloads only what changed, with the first build as seed.
#[test]
fn a_follow_from_the_form_downloads_each_build_from_nginx_reusing_the_last() {
    let first = deltadrop_tests::text_bytes(4_000_000, 80);
    let second = deltadrop_tests::edited(&first, 81);
    let www = deltadrop_tests::public_dir();
    let day = |n: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + n * 86_400);
    if !deltadrop_tests::publish_build(www.path(), &first, day(0)) {
        return;
    }
    let Some(server) = deltadrop_tests::nginx(www.path(), None, "") else {
        return;
    };
    let url = server.url("latest/image.img.zsync");
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("builds");
    let desktop = FakeDesktop::default();
    let mut opts = StartOptions::new(GuiArgs::default(), folder.clone());
    opts.access = AccessSetup::with(SecretStore::in_memory(), None);
    opts.probe_clipboard = false;
    opts.desktop = Arc::new(desktop.clone());
    let mut harness = harness_with(opts);

    type_url(&mut harness, &url);
    harness.get_by_label("Keep this up to date").click();
    harness.run();
    harness.get_by_label("Start download").click();
    wait_for(&mut harness, "the first build", |h| {
        h.state().run().is_some_and(|r| !r.is_running())
    });
    if let Some(err) = harness.state().run().unwrap().view.error() {
        panic!("the first check failed: {err} ({})", err.hint());
    }
    assert!(deltadrop_tests::read(&folder.join("image.img")) == first);
    let follow = harness.state().persisted().follows[0].clone();
    assert_eq!(
        (follow.url.as_str(), follow.folder.as_path()),
        (url.as_str(), folder.as_path())
    );
    assert_eq!(follow.last_outcome, Some(CheckOutcome::NewBuild));
    assert!(has_text(&harness, "Done: verified"));

    assert!(deltadrop_tests::publish_build(www.path(), &second, day(1)));
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Num2);
    harness.run();
    harness.get_by_label("Check now").click();
    wait_for(&mut harness, "the second build", |h| {
        let follow = &h.state().persisted().follows[0];
        let reused = follow.last_build.as_ref().and_then(|b| b.reused_bytes);
        let failed = matches!(follow.last_outcome, Some(CheckOutcome::Failed { .. }));
        h.state().follow_check().is_none() && (reused > Some(0) || failed)
    });
    let follow = harness.state().persisted().follows[0].clone();
    if let Some(CheckOutcome::Failed { message, hint }) = &follow.last_outcome {
        panic!("Check now failed: {message} ({hint})");
    }
    assert!(deltadrop_tests::read(&folder.join("image.img")) == second);
    let build = follow.last_build.unwrap();
    let (size, reused) = (build.size.unwrap(), build.reused_bytes.unwrap());
    assert_eq!(size, second.len() as u64);
    assert!(
        reused > size / 2,
        "most of it came from the first build: {reused}"
    );
    assert!(
        has_text(&harness, &reused_text(reused, size)),
        "shows what was reused"
    );
    assert!(has_text(&harness, "new build"));
    // The first build is kept beside it, under a dated name.
    let kept = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("image"))
        .count();
    assert_eq!(kept, 2);
    wait_for(&mut harness, "two notifications", |_| {
        desktop.calls().len() == 2
    });
    assert!(desktop.calls()[1].contains(&reused_text(reused, size)));
}

/// The Follows view with a check running, a paused follow and a failing one.
#[test]
fn snapshot_follows_view() {
    let runner = FakeRunner::default();
    let clock = ManualClock::at(T0);
    let folder = Path::new("/home/me/builds");
    let nightly = Follow {
        last_check_unix: Some(T0),
        last_outcome: Some(CheckOutcome::NewBuild),
        last_build: Some(deltadrop::gui::follows::BuildSeen {
            file: folder.join("image.img"),
            built: Some("Mon, 30 Nov 2026 03:00:00 +0000".into()),
            size: Some(600 << 20),
            reused_bytes: Some(512 << 20),
        }),
        ..follow(
            1,
            "https://builds.example.org/nightly/latest/image.img.zsync",
            folder,
        )
    };
    let firmware = Follow {
        paused: true,
        keep_builds: 2,
        interval_secs: 24 * 3600,
        last_check_unix: Some(T0 - 2 * 86_400),
        last_outcome: Some(CheckOutcome::UpToDate),
        ..follow(
            2,
            "https://example.com/fw/latest/firmware.bin.zsync",
            folder,
        )
    };
    let error = Error::Http {
        url: "https://repo.example.net/repodata/primary.xml.zck".into(),
        problem: "HTTP 404 Not Found".into(),
    };
    let repo = Follow {
        last_check_unix: Some(T0),
        last_outcome: Some(CheckOutcome::Failed {
            message: error.to_string(),
            hint: error.hint().to_string(),
        }),
        failures_in_a_row: 2,
        ..follow(
            3,
            "https://repo.example.net/repodata/primary.xml.zck",
            folder,
        )
    };
    let mut options = options(GuiArgs::default(), &runner, Path::new(SNAP_OUTPUT));
    options.clock = Arc::new(clock.clone());
    let persisted = Persisted {
        follows: vec![nightly, firmware, repo],
        view: View::Follows,
        ..Persisted::default()
    };
    let Some(mut harness) = snapshot_harness_from(persisted, options) else {
        return;
    };
    clock.advance(300);
    harness.state().wake_scheduler();
    wait_until_idle_at(&mut harness, T0 + 300);
    // As a command, not a click: no pointer in the picture.
    harness.state_mut().push_command(Command::CheckFollowNow(1));
    wait_for(&mut harness, "the check", |_| runner.count() == 1);
    let job = runner.job(0);
    let info = target_info(153_600, 4096);
    job.emit(Event::ControlLoaded(info.clone()));
    job.emit(Event::Phase(Phase::Fetching));
    job.emit(Event::Progress(Progress {
        local_bytes: info.length * 85 / 100,
        fetched_bytes: info.length / 20,
        total_bytes: info.length,
        ..Progress::default()
    }));
    wait_for(&mut harness, "its progress", |h| {
        has_text(h, "Downloading missing blocks: 90%")
    });
    check_snapshot(&mut harness, "follows");
}

/// A message about something that failed outside a job (a folder that would not open)
/// shows on whichever view is up, and Dismiss there forgets only the message.
#[test]
fn messages_show_on_every_view_and_dismiss_keeps_the_finished_download() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    let job = start(&mut harness, &runner, "http://127.0.0.1:9/a.zsync");
    job.emit(Event::Finished(Err(Error::Cancelled)));
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Num2);
    let message = "could not open /nowhere with xdg-open: No such file or directory";
    harness
        .state_mut()
        .push_command(Command::ShowMessage(message.into()));
    harness.run();
    assert!(has_text(&harness, message));
    harness.get_by_label("Dismiss").click();
    harness.run();
    assert!(!has_text(&harness, message));
    assert!(
        harness.state().run().is_some(),
        "the download's outcome stays"
    );
}
