//! GUI tests: the real app driven through its accessibility tree with egui_kittest, with
//! the engine replaced by a scripted runner (so every state can be reached without a
//! network), plus tests of how the block map is laid out and painted and two against the
//! real engine. The views, the keyboard and following builds are tested in `follows.rs`.
//! The model's unit tests (`BlockMap`, `JobView`, a follow's record and schedule) are in
//! `src/gui/`.

mod access;
mod follows;
mod seed_estimates;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use deltadrop::access::SecretStore;
use deltadrop::gui::access::AccessSetup;
use deltadrop::gui::block_map::{self, MapLayout};
use deltadrop::gui::clock::ManualClock;
use deltadrop::gui::model::{CellMix, human_bytes};
use deltadrop::gui::persist::{HistoryEntry, Persisted, STORAGE_KEY, View};
use deltadrop::gui::platform::Desktop;
use deltadrop::gui::runner::{RunControl, Runner, UiSink};
use deltadrop::gui::{Command, DeltadropApp, GuiArgs, StartOptions};
use deltadrop_core::{
    BlockSource, BlockState, ControlSource, Error, Event, EventSink, Format, Mode, Phase, Plan,
    Progress, Summary, TargetInfo,
};
use deltadrop_tests::target_info;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

// ---------------------------------------------------------------------------------------
// A scripted engine

/// Records every job the app starts and lets the test speak for the engine.
#[derive(Clone, Default)]
struct FakeRunner {
    jobs: Arc<Mutex<Vec<FakeJob>>>,
}

#[derive(Clone)]
struct FakeJob {
    spec: deltadrop_core::JobSpec,
    sink: UiSink,
    paused: Arc<AtomicBool>,
    cancelled: Arc<AtomicBool>,
}

impl FakeJob {
    fn emit(&self, event: Event) {
        self.sink.emit(event);
    }
}

struct FakeControl(FakeJob);

impl RunControl for FakeControl {
    fn cancel(&self) {
        // Like the engine: a cancelled job ends with Finished(Err(Cancelled)).
        if !self.0.cancelled.swap(true, Ordering::SeqCst) {
            self.0.emit(Event::Finished(Err(Error::Cancelled)));
        }
    }
    fn set_paused(&self, paused: bool) {
        self.0.paused.store(paused, Ordering::SeqCst);
    }
}

impl Runner for FakeRunner {
    fn start(&self, spec: deltadrop_core::JobSpec, sink: UiSink) -> Box<dyn RunControl> {
        let job = FakeJob {
            spec,
            sink,
            paused: Arc::default(),
            cancelled: Arc::default(),
        };
        self.jobs.lock().unwrap().push(job.clone());
        Box::new(FakeControl(job))
    }
}

impl FakeRunner {
    fn job(&self, i: usize) -> FakeJob {
        self.jobs.lock().unwrap()[i].clone()
    }
    fn count(&self) -> usize {
        self.jobs.lock().unwrap().len()
    }
}

/// What the app asked of the desktop, instead of asking it.
#[derive(Clone, Default)]
struct FakeDesktop {
    calls: Arc<Mutex<Vec<String>>>,
    autostart: Arc<AtomicBool>,
}

impl FakeDesktop {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

impl Desktop for FakeDesktop {
    fn autostart_enabled(&self) -> bool {
        self.autostart.load(Ordering::SeqCst)
    }
    fn set_autostart(&self, on: bool) -> Result<(), String> {
        self.record(format!("set_autostart {on}"));
        self.autostart.store(on, Ordering::SeqCst);
        Ok(())
    }
    fn new_build(&self, file_name: &str, reused: &str) {
        self.record(format!("new_build {file_name}: {reused}"));
    }
    fn follow_failing(&self, name: &str, error: &str) {
        self.record(format!("follow_failing {name}: {error}"));
    }
}

/// 2026-12-01 03:00 UTC: what the manual clocks of these tests start at.
const T0: u64 = 1_796_094_000;

/// The app with a scripted engine, a clock stopped at [`T0`] and a recorded desktop.
fn options(args: GuiArgs, runner: &FakeRunner, out: &Path) -> StartOptions {
    let mut options = StartOptions::new(args, out.to_path_buf());
    // Nothing is read from, or saved to, this machine's config folder and keyring.
    options.access = AccessSetup::with(SecretStore::in_memory(), None);
    options.runner = Arc::new(runner.clone());
    options.clock = Arc::new(ManualClock::at(T0));
    options.desktop = Arc::new(FakeDesktop::default());
    options.probe_clipboard = false;
    options
}

/// The app with the real engine and clock, and a recorded desktop.
fn real_engine_options(args: GuiArgs, out: &Path) -> StartOptions {
    let mut options = StartOptions::new(args, out.to_path_buf());
    options.access = AccessSetup::with(SecretStore::in_memory(), None);
    options.probe_clipboard = false;
    options.desktop = Arc::new(FakeDesktop::default());
    options
}

/// Clicks Start and waits for the real engine's download to end, which must end well.
fn download_to_the_end(harness: &mut Harness<'static, DeltadropApp>) {
    harness.get_by_label("Start download").click();
    wait_for(harness, "the download", |h| {
        h.state()
            .run()
            .is_some_and(|r| r.spec.options.mode == Mode::Download && !r.is_running())
    });
    let run = harness.state().run().unwrap();
    if let Some(err) = run.view.error() {
        panic!("download failed: {err} ({})", err.hint());
    }
}

fn harness_with(options: StartOptions) -> Harness<'static, DeltadropApp> {
    Harness::builder()
        .with_size([1100.0, 1000.0])
        .with_max_steps(32)
        .build_eframe(move |cc| DeltadropApp::new(cc, options))
}

fn harness(runner: &FakeRunner, out: &Path) -> Harness<'static, DeltadropApp> {
    harness_with(options(GuiArgs::default(), runner, out))
}

/// Steps until `done` holds (workers and jobs report from other threads).
fn wait_for(
    harness: &mut Harness<'static, DeltadropApp>,
    what: &str,
    done: impl Fn(&Harness<'static, DeltadropApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        harness.step();
        if done(harness) {
            harness.run();
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn has_text(harness: &Harness<'_, DeltadropApp>, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}

fn type_url(harness: &mut Harness<'static, DeltadropApp>, url: &str) {
    harness
        .get_by_role_and_label(Role::TextInput, "Download from")
        .click();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Download from")
        .type_text(url);
    harness.run();
}

/// Types `url`, clicks Start and returns the job the app started (its first).
fn start(harness: &mut Harness<'static, DeltadropApp>, runner: &FakeRunner, url: &str) -> FakeJob {
    type_url(harness, url);
    harness.get_by_label("Start download").click();
    harness.run();
    runner.job(0)
}

#[derive(Debug)]
struct TestDrop(PathBuf);

impl egui::DroppedFile for TestDrop {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_files(harness: &mut Harness<'static, DeltadropApp>, paths: &[PathBuf]) {
    for path in paths {
        harness
            .input_mut()
            .dropped_files
            .push(Arc::new(TestDrop(path.clone())));
    }
    harness.run();
}

// ---------------------------------------------------------------------------------------
// Driving the UI

#[test]
fn typed_url_and_check_cost_runs_a_plan_only_job_and_shows_the_cost() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    let url = "http://127.0.0.1:9/files/image-2.img.zsync";
    type_url(&mut harness, url);
    assert_eq!(harness.state().form().control, url);

    harness.get_by_label("Check cost").click();
    harness.run();
    assert_eq!(runner.count(), 1, "Check cost starts one job");
    let job = runner.job(0);
    assert_eq!(job.spec.control, ControlSource::Url(url.into()));
    assert_eq!(job.spec.options.mode, Mode::PlanOnly);
    assert_eq!(job.spec.output.as_deref(), Some(out.path()));

    let info = target_info(1000, 4096);
    let plan = plan_of_300_missing(&info);
    job.emit(Event::Phase(Phase::LoadingControl));
    job.emit(Event::ControlLoaded(info.clone()));
    job.emit(Event::Planned(plan));
    harness.run();
    assert!(has_text(&harness, "What this download costs"));
    let to_fetch = format!(
        "{} in {} ranges ({} blocks)",
        human_bytes(plan.bytes_to_fetch),
        plan.ranges,
        plan.missing_blocks
    );
    assert!(plan.ranges > 1 && plan.missing_blocks > 1, "plural wording");
    assert!(has_text(&harness, &to_fetch), "shows {to_fetch}");
    assert!(has_text(&harness, &human_bytes(plan.local_bytes)));
    // While the plan job runs, a second start is refused.
    harness.get_by_label("Start download").click();
    harness.run();
    assert_eq!(runner.count(), 1);

    // Changing the form marks the cost as out of date.
    job.emit(Event::Finished(Ok(Summary {
        output: None,
        plan,
        progress: Progress::default(),
        file_hash: info.file_hash.clone(),
        elapsed: Duration::from_millis(5),
        follow: None,
    })));
    harness.run();
    assert!(!has_text(&harness, "The form changed since"));
    type_url(&mut harness, "x");
    assert!(has_text(&harness, "The form changed since"));
}

#[test]
fn the_cost_and_the_phases_are_told_in_the_words_of_the_jobs_format() {
    // (control file, its format, what its pieces and its fetches are called)
    let jobs = [
        ("image-2.img.zsync", Format::Zsync, "blocks", "ranges"),
        ("primary.xml.zck", Format::Zchunk, "chunks", "ranges"),
        ("os.img.caibx", Format::Casync, "chunks", "requests"),
    ];
    for (name, format, pieces, fetches) in jobs {
        let out = tempfile::tempdir().unwrap();
        let runner = FakeRunner::default();
        let mut harness = harness(&runner, out.path());
        type_url(&mut harness, &format!("http://127.0.0.1:9/{name}"));
        harness.get_by_label("Check cost").click();
        harness.run();
        let job = runner.job(0);

        job.emit(Event::Phase(Phase::LoadingControl));
        harness.run();
        let extension = name.rsplit('.').next().unwrap();
        let loading = format!("Loading the .{extension} file");
        assert!(has_text(&harness, &loading), "{name}: shows {loading}");

        let info = TargetInfo {
            format,
            filename: name.into(),
            // Pieces of varying size for the chunked formats, as their control files say.
            block_ends: if format == Format::Zsync {
                Vec::new()
            } else {
                (1..=1000).map(|i| i * 4096 - 100).collect()
            },
            ..target_info(1000, 4096)
        };
        let plan = plan_of_300_missing(&info);
        job.emit(Event::ControlLoaded(info));
        job.emit(Event::Planned(plan));
        harness.run();
        let to_fetch = format!(
            "{} in 7 {fetches} (300 {pieces})",
            human_bytes(plan.bytes_to_fetch)
        );
        assert!(has_text(&harness, &to_fetch), "{name}: shows {to_fetch}");
        let target = format!("(1,000 {pieces}");
        assert!(has_text(&harness, &target), "{name}: shows {target}");
        let map = format!("Block map: 1,000 {pieces},");
        assert!(has_text(&harness, &map), "{name}: the map says {map}");
    }
}

#[test]
fn dropped_files_become_seeds_a_dropped_zsync_the_source_and_seeds_can_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let a = dir.path().join("image-1.img");
    let b = dir.path().join("notes.txt");
    let control = dir.path().join("image-2.img.zsync");
    std::fs::write(&a, vec![7u8; 123_456]).unwrap();
    std::fs::write(&b, vec![1u8; 2_000]).unwrap();
    std::fs::write(&control, b"zsync: 0.6.2\n").unwrap();

    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    drop_files(&mut harness, &[a.clone(), control.clone(), b.clone()]);

    let form = harness.state().form();
    assert_eq!(form.control, control.display().to_string());
    assert_eq!(form.seed_paths(), vec![a.clone(), b.clone()]);
    // Sizes come from a worker thread.
    wait_for(&mut harness, "seed sizes", |h| {
        h.state().form().seeds.iter().all(|s| s.size.is_some())
    });
    assert!(has_text(&harness, "image-1.img"));
    assert!(has_text(&harness, &human_bytes(123_456)));
    assert!(has_text(&harness, &human_bytes(2_000)));

    // Dropping the same file again does not add it twice.
    drop_files(&mut harness, std::slice::from_ref(&a));
    assert_eq!(harness.state().form().seeds.len(), 2);

    // Remove the first seed.
    harness.get_all_by_label("Remove").next().unwrap().click();
    harness.run();
    assert_eq!(harness.state().form().seed_paths(), vec![b.clone()]);
    assert!(harness.query_by_label("image-1.img").is_none());

    // The seeds go into the job.
    harness.get_by_label("Start download").click();
    harness.run();
    let job = runner.job(0);
    assert_eq!(job.spec.seeds, vec![b]);
    assert_eq!(job.spec.control, ControlSource::File(control));
    assert_eq!(job.spec.options.mode, Mode::Download);
}

/// What macOS's Finder and Dock do (gui::open_documents): a `.zsync` opened at launch,
/// before the first frame, fills the form; a second one opened from another thread while
/// a download runs and another view shows brings the form back with it, and the running
/// download goes on with the first.
#[test]
fn files_the_desktop_opens_fill_the_form_and_leave_a_running_download_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let first = dir.path().join("image-2.img.zsync");
    let second = dir.path().join("image-3.img.zsync");
    let runner = FakeRunner::default();
    let (inbox, opened) = deltadrop::gui::open_documents::channel();
    inbox.open([first.clone()]);
    let mut options = options(GuiArgs::default(), &runner, out.path());
    options.opened_documents = Some(opened);
    let mut harness = harness_with(options);
    harness.run();
    assert_eq!(harness.state().form().control, first.display().to_string());

    harness.get_by_label("Start download").click();
    harness.run();
    let job = runner.job(0);
    assert_eq!(job.spec.control, ControlSource::File(first.clone()));
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num3);
    harness.run();
    assert_eq!(harness.state().view(), View::History);

    let from_appkit = inbox.clone();
    let second_path = second.clone();
    std::thread::spawn(move || from_appkit.open([second_path]))
        .join()
        .unwrap();
    harness.run();
    assert_eq!(harness.state().view(), View::Download);
    assert_eq!(harness.state().form().control, second.display().to_string());
    assert!(harness.state().is_running(), "the first download goes on");
    assert!(!job.cancelled.load(Ordering::SeqCst));
    assert_eq!(runner.count(), 1);
}

#[test]
fn an_earlier_version_in_the_output_folder_is_suggested() {
    let out = tempfile::tempdir().unwrap();
    let old = out.path().join("image-1.img");
    std::fs::write(&old, vec![0u8; 5000]).unwrap();
    std::fs::write(out.path().join("unrelated.txt"), b"x").unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    type_url(&mut harness, "http://127.0.0.1:9/image-2.img.zsync");
    wait_for(&mut harness, "a suggestion", |h| {
        h.query_by_label("Add as seed").is_some()
    });
    assert!(has_text(
        &harness,
        "Looks like an earlier version: image-1.img"
    ));
    assert!(!has_text(&harness, "unrelated.txt"));
    harness.get_by_label("Add as seed").click();
    harness.run();
    assert_eq!(harness.state().form().seed_paths(), vec![old]);
    assert!(harness.query_by_label("Add as seed").is_none());
}

#[test]
fn the_block_map_fills_from_block_runs_and_hover_tells_offset_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("image-1.img");
    std::fs::write(&seed, b"old").unwrap();
    let runner = FakeRunner::default();
    let mut args = GuiArgs::parse_from(["deltadrop", "http://127.0.0.1:9/image-2.img.zsync"]);
    args.seeds = vec![seed.clone()];
    let mut harness = harness_with(options(args, &runner, dir.path()));
    harness.run();
    assert!(has_text(&harness, "once the .zsync file is loaded"));

    harness.get_by_label("Start download").click();
    harness.run();
    let job = runner.job(0);
    let info = target_info(400, 2048);
    job.emit(Event::ControlLoaded(info.clone()));
    job.emit(Event::Phase(Phase::ScanningSeeds));
    job.emit(Event::SeedStarted {
        source: BlockSource::Seed(0),
        path: seed.clone(),
        size: 3,
    });
    job.emit(Event::Blocks {
        blocks: 0..150,
        state: BlockState::Local,
        source: BlockSource::Seed(0),
    });
    job.emit(Event::SeedFinished {
        source: BlockSource::Seed(0),
        blocks: 150,
        bytes: 150 * 2048,
    });
    job.emit(Event::Phase(Phase::Fetching));
    job.emit(Event::Blocks {
        blocks: 150..250,
        state: BlockState::InFlight,
        source: BlockSource::Network,
    });
    job.emit(Event::Blocks {
        blocks: 150..200,
        state: BlockState::Fetched,
        source: BlockSource::Network,
    });
    job.emit(Event::Blocks {
        blocks: 399..1000, // Past the end: clamped.
        state: BlockState::Failed,
        source: BlockSource::Network,
    });
    harness.run();

    let map = harness.get_by_label_contains("Block map:");
    let label = map.accesskit_node().label().unwrap_or_default();
    assert!(label.contains("400 blocks"), "{label}");
    assert!(label.contains("150 found locally"), "{label}");
    assert!(label.contains("50 downloaded"), "{label}");
    assert!(label.contains("50 downloading"), "{label}");
    assert!(label.contains("1 failed"), "{label}");
    assert!(label.contains("149 not found yet"), "{label}");
    assert!(has_text(&harness, "Found locally 150"), "legend counts");
    // The seed row says what it supplied.
    assert!(has_text(
        &harness,
        &format!("supplied {}", human_bytes(150 * 2048))
    ));

    // Hover the first cell: block 0, from the seed.
    let rect = map.rect();
    harness.hover_at(rect.min + egui::vec2(1.0, 1.0));
    harness.run();
    assert!(
        has_text(&harness, "Block 0 · bytes 0–2,047"),
        "tooltip offset"
    );
    assert!(
        has_text(&harness, "From seed image-1.img"),
        "tooltip source"
    );

    // Hover the last cell: the failed block, from the network.
    let layout = MapLayout::new(400, rect.width(), 1000.0);
    assert_eq!(layout.grouping.blocks_per_cell, 1);
    let last = layout.cell_rect(rect.min, 399);
    harness.hover_at(last.center());
    harness.run();
    assert!(has_text(&harness, "Block 399"), "tooltip of the last block");
    assert!(has_text(&harness, "Failed"));
    assert!(has_text(&harness, "From the network"));

    // A block in flight, and one the engine put back to unknown, have no source yet:
    // their tooltips say so by their state and name none.
    job.emit(Event::Blocks {
        blocks: 240..250,
        state: BlockState::Unknown,
        source: BlockSource::Network,
    });
    harness.run();
    for (block, state) in [(220, "Downloading"), (245, "Not found yet")] {
        harness.hover_at(layout.cell_rect(rect.min, block).center());
        harness.run();
        let heading = format!("Block {block} ·");
        let tooltip = harness.get_by_label_contains(&heading);
        // A label keeps its text in its value.
        let text = tooltip.accesskit_node().value().unwrap_or_default();
        assert!(text.contains(state), "{text}");
        assert!(!text.contains("From"), "{text}");
    }
}

#[test]
fn a_map_of_chunks_of_any_size_hovers_with_each_chunks_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let args = GuiArgs::parse_from(["deltadrop", "http://127.0.0.1:9/primary.xml.zck"]);
    let mut harness = harness_with(options(args, &runner, dir.path()));
    harness.run();
    harness.get_by_label("Start download").click();
    harness.run();
    let job = runner.job(0);
    // A header of 300 bytes, an empty dictionary, then chunks of uneven sizes.
    let ends = vec![300, 300, 5_000, 5_100, 40_000, 41_234];
    let info = TargetInfo {
        format: Format::Zchunk,
        filename: "primary.xml.zck".into(),
        length: 41_234,
        block_count: ends.len() as u64,
        block_ends: ends,
        file_hash: None,
        ..target_info(6, 8192)
    };
    job.emit(Event::ControlLoaded(info));
    job.emit(Event::Blocks {
        blocks: 0..2,
        state: BlockState::Fetched,
        source: BlockSource::Network,
    });
    job.emit(Event::Blocks {
        blocks: 2..6,
        state: BlockState::Local,
        source: BlockSource::OldOutput,
    });
    harness.run();
    let map = harness.get_by_label_contains("Block map:");
    let rect = map.rect();
    let layout = MapLayout::new(6, rect.width(), 1000.0);
    harness.hover_at(layout.cell_rect(rect.min, 4).center());
    harness.run();
    assert!(
        has_text(&harness, "Chunk 4 · bytes 5,100–39,999"),
        "the chunk's own bytes"
    );
}

#[test]
fn pause_resume_and_cancel_reach_the_job_and_cancel_keeps_the_part_file() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    let job = start(
        &mut harness,
        &runner,
        "http://127.0.0.1:9/image-2.img.zsync",
    );
    job.emit(Event::ControlLoaded(target_info(10, 1024)));
    job.emit(Event::Phase(Phase::Fetching));
    harness.run();

    harness.get_by_label("Pause").click();
    harness.run();
    assert!(job.paused.load(Ordering::SeqCst));
    assert!(has_text(&harness, "(paused)"));
    harness.get_by_label("Resume").click();
    harness.run();
    assert!(!job.paused.load(Ordering::SeqCst));

    harness.get_by_label("Cancel").click();
    harness.run();
    assert!(job.cancelled.load(Ordering::SeqCst));
    assert!(has_text(&harness, "Cancelled."));
    assert!(has_text(&harness, &Error::Cancelled.hint()));
    assert!(harness.query_by_label("Pause").is_none());
    // The download is in the history, as cancelled.
    let history = &harness.state().persisted().history;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, "cancelled");
    // Starting again starts a new job (the engine resumes from the .part).
    harness.get_by_label("Resume download").click();
    harness.run();
    assert_eq!(runner.count(), 2);
}

#[test]
fn a_failed_job_shows_the_error_and_what_to_do() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    let job = start(&mut harness, &runner, "https://example.invalid/a.zsync");
    let error = Error::Http {
        url: "https://example.invalid/a.zsync".into(),
        problem: "TLS handshake failed: certificate expired".into(),
    };
    job.emit(Event::Finished(Err(error.clone())));
    harness.run();
    assert!(has_text(&harness, "Download failed"));
    assert!(harness.query_by_label(&error.to_string()).is_some());
    assert!(harness.query_by_label(&error.hint()).is_some());

    // Try again starts the same job again; Dismiss clears the error.
    harness.get_by_label("Try again").click();
    harness.run();
    assert_eq!(runner.count(), 2);
    let verification = Error::Verification {
        expected: "aa".into(),
        actual: "bb".into(),
        part: out.path().join("a.part"),
    };
    runner
        .job(1)
        .emit(Event::Finished(Err(verification.clone())));
    harness.run();
    assert!(harness.query_by_label(&verification.to_string()).is_some());
    assert!(harness.query_by_label(&verification.hint()).is_some());
    harness.get_by_label("Dismiss").click();
    harness.run();
    assert!(!has_text(&harness, "Download failed"));
}

#[test]
fn a_finished_download_offers_the_folder_and_the_sha1() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    let job = start(
        &mut harness,
        &runner,
        "http://127.0.0.1:9/image-2.img.zsync",
    );
    let info = target_info(10, 1024);
    let written = out.path().join(&info.filename);
    job.emit(Event::ControlLoaded(info.clone()));
    job.emit(Event::Finished(Ok(Summary {
        output: Some(written.clone()),
        plan: Plan::default(),
        progress: Progress {
            local_bytes: 6000,
            fetched_bytes: info.length - 6000,
            wire_bytes: 5000,
            requests: 2,
            total_bytes: info.length,
        },
        file_hash: info.file_hash.clone(),
        elapsed: Duration::from_secs(3),
        follow: None,
    })));
    harness.run();
    assert!(has_text(&harness, "Done: verified"));
    assert!(has_text(&harness, &written.display().to_string()));
    assert!(has_text(
        &harness,
        &info.file_hash.clone().unwrap().to_string()
    ));
    assert!(harness.query_by_label("Open folder").is_some());
    harness.get_by_label("Copy SHA-1").click();
    harness.step();
    let copied = harness
        .output()
        .platform_output
        .commands
        .iter()
        .any(|c| matches!(c, egui::OutputCommand::CopyText(t) if Some(t.clone()) == info.file_hash.as_ref().map(|h| h.hex())));
    assert!(copied, "the SHA-1 went to the clipboard");
    let entry = &harness.state().persisted().history[0];
    assert!(entry.ok);
    assert_eq!(
        entry.file_hash.as_deref(),
        info.file_hash.as_ref().map(|h| h.to_string()).as_deref()
    );
    assert_eq!(entry.written.as_ref(), Some(&written));
}

#[test]
fn command_line_prefills_the_form_and_start_begins_at_once() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let args = GuiArgs::try_parse_from([
        "deltadrop",
        "https://example.org/x.iso.zsync",
        "-i",
        "a.iso",
        "-i",
        "b.iso",
        "-o",
        "/tmp/somewhere/x.iso",
        "--start",
    ])
    .unwrap();
    let mut harness = harness_with(options(args, &runner, out.path()));
    harness.run();
    assert_eq!(runner.count(), 1);
    let spec = runner.job(0).spec;
    assert_eq!(
        spec.control,
        ControlSource::Url("https://example.org/x.iso.zsync".into())
    );
    assert_eq!(
        spec.seeds,
        vec![PathBuf::from("a.iso"), PathBuf::from("b.iso")]
    );
    assert_eq!(spec.output, Some(PathBuf::from("/tmp/somewhere/x.iso")));
    assert_eq!(spec.options.mode, Mode::Download);

    // Without --start nothing runs.
    let runner = FakeRunner::default();
    let args = GuiArgs::try_parse_from(["deltadrop", "local.zsync"]).unwrap();
    let mut harness = harness_with(options(args, &runner, out.path()));
    harness.run();
    assert_eq!(runner.count(), 0);
    assert_eq!(harness.state().form().control, "local.zsync");
}

#[test]
fn a_pasted_url_fills_the_form_and_a_clipboard_url_is_offered() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    harness.run();
    harness.event(egui::Event::Paste(
        "  https://example.org/y.img.zsync \n".into(),
    ));
    harness.run();
    assert_eq!(
        harness.state().form().control,
        "https://example.org/y.img.zsync"
    );
    // Text that is not a URL is ignored.
    harness.event(egui::Event::Paste("hello there".into()));
    harness.run();
    assert_eq!(
        harness.state().form().control,
        "https://example.org/y.img.zsync"
    );

    // At start-up the app asks for the clipboard and offers a URL it finds.
    let mut opts = options(GuiArgs::default(), &runner, out.path());
    opts.probe_clipboard = true;
    let mut harness = harness_with(opts);
    harness.event(egui::Event::Paste("https://example.org/z.img.zsync".into()));
    harness.run();
    assert_eq!(harness.state().form().control, "");
    assert!(has_text(
        &harness,
        "The clipboard holds https://example.org/z.img.zsync"
    ));
    harness.get_by_label("Use it").click();
    harness.run();
    assert_eq!(
        harness.state().form().control,
        "https://example.org/z.img.zsync"
    );
}

#[test]
fn settings_and_history_survive_a_restart() {
    #[derive(Default)]
    struct Memory(std::collections::HashMap<String, String>);
    impl eframe::Storage for Memory {
        fn get_string(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set_string(&mut self, key: &str, value: String) {
            self.0.insert(key.into(), value);
        }
        fn remove_string(&mut self, key: &str) {
            self.0.remove(key);
        }
        fn flush(&mut self) {}
    }

    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    harness.get_by_label("Settings").click();
    harness.run();
    harness
        .get_by_label("Keep the replaced file as .zs-old")
        .click();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Proxy")
        .click();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Proxy")
        .type_text("http://proxy.example:3128");
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Trusted CA (PEM file)")
        .click();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Trusted CA (PEM file)")
        .type_text("/etc/builds/ca.pem");
    harness.run();
    harness
        .get_by_label("Also uncompress a .zck download (zchunk)")
        .click();
    harness.run();
    // Back to the form.
    harness.get_by_label("Download").click();
    harness.run();
    let settings = harness.state().persisted().settings.clone();
    assert!(!settings.keep_old);
    assert!(settings.uncompress);
    assert_eq!(settings.proxy, "http://proxy.example:3128");
    assert_eq!(settings.ca_cert, "/etc/builds/ca.pem");

    // The settings reach the job.
    let job = start(&mut harness, &runner, "http://127.0.0.1:9/a.zsync");
    let options = &job.spec.options;
    assert!(!options.keep_old);
    assert!(options.uncompress);
    assert_eq!(options.proxy.as_deref(), Some("http://proxy.example:3128"));
    assert_eq!(options.ca_certs, [PathBuf::from("/etc/builds/ca.pem")]);
    job.emit(Event::Finished(Err(Error::Cancelled)));
    harness.run();

    let mut storage = Memory::default();
    eframe::App::save(harness.state_mut(), &mut storage);
    let saved: Persisted = eframe::get_value(&storage, STORAGE_KEY).unwrap();
    assert_eq!(saved.settings, settings);
    assert_eq!(saved.history.len(), 1);

    // A new app built from that save has them, and the history can refill the form.
    let runner2 = FakeRunner::default();
    let mut harness = harness_with_persisted(saved.clone(), &runner2, out.path());
    assert_eq!(harness.state().persisted(), &saved);
    harness.get_by_label("History").click();
    harness.run();
    harness.get_by_label("Use again").click();
    harness.run();
    assert_eq!(harness.state().form().control, "http://127.0.0.1:9/a.zsync");
}

fn harness_with_persisted(
    persisted: Persisted,
    runner: &FakeRunner,
    out: &Path,
) -> Harness<'static, DeltadropApp> {
    harness_from(persisted, options(GuiArgs::default(), runner, out))
}

/// The app built around a save, as eframe builds it after a restart.
fn harness_from(persisted: Persisted, options: StartOptions) -> Harness<'static, DeltadropApp> {
    Harness::builder()
        .with_size([1100.0, 1000.0])
        .with_max_steps(32)
        .build_eframe(move |cc| {
            let waker = Arc::new(cc.egui_ctx.clone());
            DeltadropApp::with_state(persisted, waker, options)
        })
}

#[test]
fn old_saves_with_missing_fields_still_load() {
    let saved: Persisted = serde_json::from_str(r#"{"history":[{"control":"u"}]}"#).unwrap();
    assert_eq!(saved.settings, Default::default());
    assert_eq!(saved.history[0].control, "u");
    let mut p = Persisted::default();
    for i in 0..30 {
        p.push_history(HistoryEntry {
            control: i.to_string(),
            ..Default::default()
        });
    }
    assert_eq!(p.history.len(), deltadrop::gui::persist::HISTORY_LEN);
    assert_eq!(p.history[0].control, "29", "newest first");
}

/// 200,000 blocks: the map stays a few thousand cells and frames stay cheap.
#[test]
fn a_huge_map_stays_responsive() {
    let out = tempfile::tempdir().unwrap();
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    let job = start(&mut harness, &runner, "http://127.0.0.1:9/big.iso.zsync");
    let blocks = 200_000;
    job.emit(Event::ControlLoaded(target_info(blocks, 4096)));
    job.emit(Event::Phase(Phase::Fetching));
    // Many small runs, as a fetch sends them.
    for start in (0..blocks).step_by(7) {
        let state = if start % 3 == 0 {
            BlockState::Local
        } else {
            BlockState::Fetched
        };
        job.emit(Event::Blocks {
            blocks: start..(start + 5).min(blocks),
            state,
            source: BlockSource::Network,
        });
    }
    harness.run();
    let label = harness
        .get_by_label_contains("Block map:")
        .accesskit_node()
        .label()
        .unwrap_or_default();
    assert!(label.contains("200,000 blocks"), "{label}");
    assert!(has_text(&harness, "deltadrop"), "window still drawn");
    // Frame time is a benchmark's business, not a test's: here only that frames go on.
    for _ in 0..10 {
        harness.step();
    }
    let info = target_info(blocks, 4096);
    job.emit(Event::Progress(Progress {
        local_bytes: info.length / 4,
        fetched_bytes: info.length / 4,
        total_bytes: info.length,
        ..Progress::default()
    }));
    harness.run();
    assert_eq!(
        harness.state().window_title(),
        "50% image-2.img – deltadrop"
    );
}

/// `--frame-log`: one line per frame with its timings, the job's phase and block count
/// and the form's control text.
#[test]
fn the_frame_log_has_a_line_per_frame_with_the_phase() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("frames.tsv");
    let runner = FakeRunner::default();
    let mut args =
        GuiArgs::parse_from(["deltadrop", "http://127.0.0.1:9/big.iso.zsync", "--start"]);
    args.frame_log = Some(log.clone());
    let mut harness = harness_with(options(args, &runner, dir.path()));
    harness.run();
    let job = runner.job(0);
    job.emit(Event::ControlLoaded(target_info(150_000, 4096)));
    job.emit(Event::Phase(Phase::Fetching));
    harness.run();
    drop(harness); // Closes the log.

    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines
        .iter()
        .any(|l: &String| l.contains("\tFetching\t150000"))
    {
        assert!(Instant::now() < deadline, "no Fetching line in {lines:?}");
        std::thread::sleep(Duration::from_millis(10));
        lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
    }
    assert_eq!(lines[0], deltadrop::gui::frame_log::HEADER);
    let first: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(first.len(), 7, "{first:?}");
    assert_eq!(first[1], "-", "no gap before the first frame");
    for line in &lines[1..] {
        assert!(
            line.ends_with("\thttp://127.0.0.1:9/big.iso.zsync"),
            "{line}"
        );
    }
    for line in &lines[2..] {
        let fields: Vec<&str> = line.split('\t').collect();
        for number in [fields[0], fields[1], fields[3]] {
            assert!(number.parse::<f64>().unwrap() >= 0.0, "{line}");
        }
    }
}

/// The engine's threads start below the UI's priority (Linux), and results come back.
#[test]
fn background_work_runs_below_the_ui_priority() {
    use deltadrop::gui::runner::{BACKGROUND_NICE, in_background};
    /// This thread's nice value: field 19 of /proc/thread-self/stat (after the name).
    fn nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }
    assert_eq!(in_background(|| 6 * 7), 42);
    if cfg!(target_os = "linux") {
        let ui = nice();
        let (background, started_there) = in_background(|| {
            let child = std::thread::spawn(nice).join().unwrap();
            (nice(), child)
        });
        assert_eq!(background, (ui + BACKGROUND_NICE).min(19));
        assert_eq!(
            started_there, background,
            "threads started there inherit it"
        );
        assert_eq!(nice(), ui, "the calling thread keeps its priority");
    }
}

// ---------------------------------------------------------------------------------------
// The real engine

/// Against the real engine: a server that is not there gives the engine's error, shown
/// with its hint (whatever the engine's wording, the UI must show exactly that).
#[test]
fn real_engine_failure_is_shown_with_its_hint() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/missing.img.zsync");
    let out = tempfile::tempdir().unwrap();
    let mut harness = harness_with(real_engine_options(GuiArgs::default(), out.path()));
    type_url(&mut harness, &url);
    harness.get_by_label("Start download").click();
    wait_for(&mut harness, "the job to fail", |h| {
        h.state().run().is_some_and(|r| !r.is_running())
    });
    let expected = {
        let spec = harness.state().run().unwrap().spec.clone();
        deltadrop_core::Job::run(&spec, &deltadrop_core::NullSink, &Default::default())
            .expect_err("nothing listens there")
    };
    assert!(has_text(&harness, "Download failed"));
    assert!(
        harness.query_by_label(&expected.to_string()).is_some(),
        "shows {expected}"
    );
    assert!(harness.query_by_label(&expected.hint()).is_some());
}

/// The whole path for real: the --demo set-up (two versions, a .zsync, the engine's
/// range-capable server on loopback), the real engine, the form filled as --demo fills it.
#[test]
fn real_download_from_the_demo_server_fills_the_map_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let demo = deltadrop::gui::demo::prepare_in(dir.path(), 600_000, None).unwrap();
    let args = GuiArgs::try_parse_from([
        "deltadrop".to_string(),
        demo.control.clone(),
        "-i".into(),
        demo.seed.display().to_string(),
        "-o".into(),
        demo.output.display().to_string(),
    ])
    .unwrap();
    let mut harness = harness_with(real_engine_options(args, dir.path()));
    harness.run();

    harness.get_by_label("Check cost").click();
    wait_for(&mut harness, "the plan", |h| {
        h.state().run().is_some_and(|r| !r.is_running())
    });
    let plan = harness.state().run().unwrap().view.plan.expect("a plan");
    assert!(
        plan.local_bytes > 0,
        "the old version covers some: {plan:?}"
    );
    assert!(plan.bytes_to_fetch > 0, "and not all: {plan:?}");
    assert!(has_text(&harness, &human_bytes(plan.bytes_to_fetch)));

    download_to_the_end(&mut harness);
    let run = harness.state().run().unwrap();
    let map = run.view.map.as_ref().unwrap();
    assert!(map.count(BlockState::Local) > 0);
    assert!(map.count(BlockState::Fetched) > 0);
    assert_eq!(map.count(BlockState::Unknown), 0);
    assert_eq!(map.count(BlockState::InFlight), 0);
    let summary = run.view.summary().unwrap().clone();
    let written = summary.output.clone().unwrap();
    assert_eq!(
        std::fs::read(&written).unwrap(),
        std::fs::read(dir.path().join("server/sample-2.bin")).unwrap()
    );
    assert!(has_text(&harness, "Done: verified"));
    assert!(has_text(
        &harness,
        &summary.file_hash.clone().unwrap().to_string()
    ));
    // The file just written is named as such, not as a previous version.
    wait_for(&mut harness, "the file just downloaded", |h| {
        has_text(h, "Just downloaded:")
    });
    assert!(!has_text(&harness, "Previous version found"));
}

// ---------------------------------------------------------------------------------------
// Drawing the block map (the model's own tests are in src/gui/model.rs)

#[test]
fn map_layouts_keep_big_maps_to_a_few_thousand_cells() {
    // Small maps get one block per cell, big ones are grouped within MAX_CELLS.
    for (blocks, width) in [
        (1u64, 300.0),
        (500, 800.0),
        (20_000, 800.0),
        (150_000, 700.0),
        (2_000_000, 400.0),
    ] {
        let layout = MapLayout::new(blocks, width, 260.0);
        assert!(layout.grouping.cells <= block_map::MAX_CELLS, "{blocks}");
        assert!(layout.size().x <= width + 0.5, "{blocks} fits the width");
        assert!(
            layout.grouping.cells * layout.grouping.blocks_per_cell >= blocks,
            "{blocks} all drawn"
        );
        if blocks <= 500 {
            assert_eq!(layout.grouping.blocks_per_cell, 1);
        }
        // Every cell maps back to itself under the pointer.
        let origin = egui::pos2(10.0, 20.0);
        for cell in [0, layout.grouping.cells / 2, layout.grouping.cells - 1] {
            let rect = layout.cell_rect(origin, cell);
            assert_eq!(layout.cell_at(origin, rect.center()), Some(cell));
        }
    }
}

#[test]
fn a_mixed_cell_is_painted_in_proportion_to_its_blocks() {
    let colours = block_map::palette(true);
    let rect = egui::Rect::from_min_size(egui::pos2(0.0, 0.0), egui::vec2(10.0, 10.0));
    let mut mix = CellMix::default();
    mix.counts[BlockState::Local as usize] = 3;
    mix.counts[BlockState::Fetched as usize] = 1;
    let parts = block_map::cell_parts(&mix, rect, &colours);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].1, colours[BlockState::Local as usize]);
    assert!((parts[0].0.height() - 7.5).abs() < 1e-4);
    assert_eq!(parts[1].1, colours[BlockState::Fetched as usize]);
    assert!((parts[1].0.height() - 2.5).abs() < 1e-4);
    assert_eq!(parts[1].0.bottom(), rect.bottom());

    let mut uniform = CellMix::default();
    uniform.counts[BlockState::Failed as usize] = 9;
    assert_eq!(
        block_map::cell_parts(&uniform, rect, &colours),
        vec![(rect, colours[BlockState::Failed as usize])]
    );
    // Every state has its own colour, in both themes.
    for dark in [true, false] {
        let p = block_map::palette(dark);
        for i in 0..5 {
            for j in i + 1..5 {
                assert_ne!(p[i], p[j]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Snapshot images of the main states
//
// The app is rendered with wgpu (Mesa's software renderer on Linux) and compared with the
// PNGs in tests/snapshots/; `UPDATE_SNAPSHOTS=true cargo test -p deltadrop --test gui
// snapshot` rewrites the ones that differ. Everything shown is fixed: a scripted job, an
// output folder that does not exist, seeds with fixed names and sizes, no pointer.

/// A 600 MiB image as zsyncmake cuts it: 4 KiB blocks, 256 to the MiB.
const SNAP_BLOCKS: u64 = 153_600;
const SNAP_URL: &str = "https://downloads.example.org/image-2.img.zsync";
const SNAP_OUTPUT: &str = "/nonexistent/Downloads";

/// A per-pixel tolerance for another Mesa build's rounding and a hundred pixels for odd
/// anti-aliased edges; one more letter in a button label fails about 600 pixels.
fn snapshot_options() -> egui_kittest::SnapshotOptions {
    egui_kittest::SnapshotOptions::new()
        .threshold(1.0)
        .max_failed_pixels(100)
}

/// The renderer that owns the images: Mesa's llvmpipe through EGL (GL backend), which CI
/// has (see .ci/run), also where Vulkan's lavapipe is installed too. Where it cannot be had
/// (no Mesa, or GL goes to a hardware GPU whose pixels differ), the snapshots are skipped
/// with a visible line, or fail under `DELTADROP_REQUIRE_PEERS=1` (as CI runs).
fn wgpu_renderer() -> Option<egui_kittest::wgpu::WgpuTestRenderer> {
    use eframe::egui_wgpu::{RendererOptions, WgpuSetup, wgpu};
    let mut setup = egui_kittest::wgpu::default_wgpu_setup();
    if let WgpuSetup::CreateNew(new) = &mut setup {
        new.instance_descriptor.backends = wgpu::Backends::GL;
    }
    // egui_kittest panics when no adapter is found.
    let created = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        egui_kittest::wgpu::create_render_state(setup, RendererOptions::PREDICTABLE)
    }));
    let problem = match created {
        Ok(state) if state.adapter.get_info().name.contains("llvmpipe") => {
            return Some(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(
                state,
            ));
        }
        Ok(state) => format!(
            "the snapshot images are drawn by Mesa's llvmpipe, this machine's GL is {:?}",
            state.adapter.get_info().name
        ),
        Err(_) => "no wgpu adapter: install Mesa (libegl1 libegl-mesa0 libgl1-mesa-dri)".into(),
    };
    if std::env::var("DELTADROP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{problem} (DELTADROP_REQUIRE_PEERS=1)");
    }
    // Straight to stderr (not eprintln!, which the test harness captures), as `peer()` does.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {problem}");
    None
}

/// The app at the real window's default size, rendering through wgpu.
fn snapshot_harness(args: GuiArgs, runner: &FakeRunner) -> Option<Harness<'static, DeltadropApp>> {
    let options = options(args, runner, Path::new(SNAP_OUTPUT));
    snapshot_harness_from(Persisted::default(), options)
}

/// The same, built around a save.
fn snapshot_harness_from(
    persisted: Persisted,
    options: StartOptions,
) -> Option<Harness<'static, DeltadropApp>> {
    let renderer = wgpu_renderer()?;
    let harness = Harness::builder()
        .with_size([980.0, 760.0])
        .with_max_steps(32)
        .renderer(renderer)
        .build_eframe(move |cc| {
            let waker = Arc::new(cc.egui_ctx.clone());
            DeltadropApp::with_state(persisted, waker, options)
        });
    Some(harness)
}

/// Lets the workers answer (seed sizes, suggestions), then compares with the image.
fn check_snapshot(harness: &mut Harness<'static, DeltadropApp>, name: &str) {
    wait_for(harness, "the workers", |h| {
        let form = h.state().form();
        form.seeds.iter().all(|s| s.size.is_some())
            && (form.control.is_empty() || form.suggestions.is_some())
    });
    if let Err(err) = harness.try_snapshot_options(name, &snapshot_options()) {
        panic!("{err}");
    }
}

/// Two seeds with fixed names and sizes (sparse files: nothing is written).
fn snapshot_seeds(dir: &Path) -> Vec<PathBuf> {
    let seeds = [
        ("image-1.img", 598 * (1 << 20)),
        ("sibling.img", 412 * (1 << 20)),
    ];
    seeds
        .iter()
        .map(|(name, size)| {
            let path = dir.join(name);
            std::fs::File::create(&path)
                .unwrap()
                .set_len(*size)
                .unwrap();
            path
        })
        .collect()
}

fn snapshot_args(seeds: Vec<PathBuf>, start: bool) -> GuiArgs {
    GuiArgs {
        control: Some(SNAP_URL.into()),
        seeds,
        start,
        ..GuiArgs::default()
    }
}

/// Which 1 MiB chunks of the scripted target changed: about a fifth, spread out.
fn snap_changed(chunk: u64) -> bool {
    chunk.wrapping_mul(2_654_435_761) % 97 < 19
}

/// The missing block ranges: in each changed chunk, all but its first 64 blocks.
fn snap_missing() -> Vec<std::ops::Range<u64>> {
    (0..SNAP_BLOCKS / 256)
        .filter(|&c| snap_changed(c))
        .map(|c| c * 256 + 64..(c + 1) * 256)
        .collect()
}

/// The scan: seed 0 holds the unchanged chunks and the start of each changed one, seed 1
/// the next 32 blocks of each changed one. Returns the plan.
fn snap_scan(job: &FakeJob, seeds: &[PathBuf]) -> Plan {
    let info = target_info(SNAP_BLOCKS, 4096);
    job.emit(Event::Phase(Phase::LoadingControl));
    job.emit(Event::ControlLoaded(info.clone()));
    job.emit(Event::Phase(Phase::ScanningSeeds));
    let mut found = [0u64; 2];
    for (i, seed) in seeds.iter().enumerate() {
        let source = BlockSource::Seed(i);
        job.emit(Event::SeedStarted {
            source,
            path: seed.clone(),
            size: std::fs::metadata(seed).unwrap().len(),
        });
        for c in 0..SNAP_BLOCKS / 256 {
            let blocks = match (i, snap_changed(c)) {
                (0, false) => c * 256..(c + 1) * 256,
                (0, true) => c * 256..c * 256 + 32,
                (_, true) => c * 256 + 32..c * 256 + 64,
                (_, false) => continue,
            };
            found[i] += blocks.end - blocks.start;
            job.emit(Event::Blocks {
                blocks,
                state: BlockState::Local,
                source,
            });
        }
        job.emit(Event::SeedFinished {
            source,
            blocks: found[i],
            bytes: found[i] * 4096,
        });
    }
    let missing = snap_missing();
    let missing_blocks: u64 = missing.iter().map(|r| r.end - r.start).sum();
    let plan = Plan {
        total_bytes: info.length,
        local_bytes: info.length - missing_blocks * 4096,
        missing_blocks,
        ranges: missing.len() as u64,
        bytes_to_fetch: missing_blocks * 4096,
    };
    job.emit(Event::Planned(plan));
    plan
}

/// The fetch up to `share` of the missing ranges, the next four in flight.
fn snap_fetch(job: &FakeJob, plan: Plan, share: f64) -> Progress {
    job.emit(Event::Phase(Phase::Fetching));
    let missing = snap_missing();
    let done = (missing.len() as f64 * share) as usize;
    let mut fetched = 0;
    for (i, blocks) in missing.into_iter().enumerate() {
        let state = match i {
            i if i < done => BlockState::Fetched,
            i if i < done + 4 => BlockState::InFlight,
            _ => break,
        };
        if state == BlockState::Fetched {
            fetched += (blocks.end - blocks.start) * 4096;
        }
        job.emit(Event::Blocks {
            blocks,
            state,
            source: BlockSource::Network,
        });
    }
    let progress = Progress {
        local_bytes: plan.local_bytes,
        fetched_bytes: fetched,
        wire_bytes: fetched + fetched / 50,
        requests: (done as u64).div_ceil(16),
        total_bytes: plan.total_bytes,
    };
    job.emit(Event::Progress(progress));
    progress
}

#[test]
fn snapshot_empty_start_form() {
    let runner = FakeRunner::default();
    let Some(mut harness) = snapshot_harness(GuiArgs::default(), &runner) else {
        return;
    };
    harness.run();
    check_snapshot(&mut harness, "start_empty");
}

#[test]
fn snapshot_form_filled_with_its_cost() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = snapshot_seeds(dir.path());
    let runner = FakeRunner::default();
    let Some(mut harness) = snapshot_harness(snapshot_args(seeds.clone(), false), &runner) else {
        return;
    };
    harness.run();
    check_snapshot(&mut harness, "form_filled");

    harness.state_mut().push_command(Command::Plan);
    harness.run();
    let job = runner.job(0);
    let plan = snap_scan(&job, &seeds);
    job.emit(Event::Phase(Phase::Done));
    job.emit(Event::Finished(Ok(Summary {
        output: None,
        plan,
        progress: Progress {
            local_bytes: plan.local_bytes,
            total_bytes: plan.total_bytes,
            ..Progress::default()
        },
        file_hash: target_info(SNAP_BLOCKS, 4096).file_hash,
        elapsed: Duration::from_secs(4),
        follow: None,
    })));
    harness.run();
    assert!(has_text(&harness, "What this download costs"));
    check_snapshot(&mut harness, "form_cost_checked");
}

#[test]
fn snapshot_download_running_done_and_failed() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = snapshot_seeds(dir.path());
    for outcome in ["done", "failed"] {
        let runner = FakeRunner::default();
        let Some(mut harness) = snapshot_harness(snapshot_args(seeds.clone(), true), &runner)
        else {
            return;
        };
        harness.run();
        let job = runner.job(0);
        let plan = snap_scan(&job, &seeds);
        let progress = snap_fetch(&job, plan, 0.45);
        harness.run();
        if outcome == "done" {
            assert!(has_text(&harness, "Pause"));
            check_snapshot(&mut harness, "download_running");
            for blocks in snap_missing() {
                job.emit(Event::Blocks {
                    blocks,
                    state: BlockState::Fetched,
                    source: BlockSource::Network,
                });
            }
            job.emit(Event::Phase(Phase::Verifying));
            job.emit(Event::Phase(Phase::Done));
            job.emit(Event::Finished(Ok(Summary {
                output: Some(Path::new(SNAP_OUTPUT).join("image-2.img")),
                plan,
                progress: Progress {
                    fetched_bytes: plan.bytes_to_fetch,
                    wire_bytes: plan.bytes_to_fetch + plan.bytes_to_fetch / 50,
                    requests: 12,
                    ..progress
                },
                file_hash: target_info(SNAP_BLOCKS, 4096).file_hash,
                elapsed: Duration::from_secs(95),
                follow: None,
            })));
            harness.run();
            assert!(has_text(&harness, "Done: verified"));
            check_snapshot(&mut harness, "download_done");
        } else {
            let in_flight = snap_missing()
                .into_iter()
                .skip((snap_missing().len() as f64 * 0.45) as usize);
            for blocks in in_flight.take(4) {
                job.emit(Event::Blocks {
                    blocks,
                    state: BlockState::Failed,
                    source: BlockSource::Network,
                });
            }
            // As the engine does: a failed job ends without a Done phase.
            job.emit(Event::Finished(Err(Error::Http {
                url: "https://downloads.example.org/image-2.img".into(),
                problem: "connection reset by peer (3 retries)".into(),
            })));
            harness.run();
            assert!(has_text(&harness, "Download failed"));
            check_snapshot(&mut harness, "download_failed");
        }
    }
}

/// The plan the cost panel tests show: 300 of `info`'s 1000 pieces missing, in 7 ranges.
fn plan_of_300_missing(info: &TargetInfo) -> Plan {
    Plan {
        total_bytes: info.length,
        local_bytes: 700 * 4096,
        missing_blocks: 300,
        ranges: 7,
        bytes_to_fetch: 300 * 4096 - 100,
    }
}
