//! Seeds found by content: files in the output folder (and the folders of recent
//! downloads and Settings) are estimated against the target and offered with their
//! share, "image-1203.wic: about 83% of the target"; one click takes them all. Scripted
//! (what is shown, when the estimate is cancelled) and with the real engine.

use super::*;

/// A file of `len` zero bytes (sparse: listing sees its size, nothing reads it).
fn sized_file(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

fn estimate(job: &FakeJob, i: usize, path: &Path, share: f32) {
    job.emit(Event::SeedEstimate {
        source: BlockSource::Seed(i),
        path: path.to_path_buf(),
        bytes: (share * 1e8) as u64,
        fraction_of_target: share,
    });
}

#[test]
fn candidates_are_estimated_and_those_worth_it_offered_biggest_first() {
    let out = tempfile::tempdir().unwrap();
    let mine = tempfile::tempdir().unwrap();
    let (wic, other, tiny) = (
        out.path().join("image-1203.wic"),
        out.path().join("holiday.mkv"),
        out.path().join("notes.txt"),
    );
    let kept = mine.path().join("old-build.img");
    for path in [&wic, &other, &kept] {
        sized_file(path, 2 << 20);
    }
    sized_file(&tiny, 1000);
    let runner = FakeRunner::default();
    let mut persisted = Persisted::default();
    persisted.settings.seed_folders = format!("{}\n", mine.path().display());
    let mut harness = harness_from(persisted, options(GuiArgs::default(), &runner, out.path()));
    type_url(&mut harness, "http://127.0.0.1:9/image-1204.wic.zsync");
    wait_for(&mut harness, "the estimate to start", |_| {
        runner.count() == 1
    });
    let job = runner.job(0);
    assert_eq!(job.spec.options.mode, Mode::EstimateSeeds);
    let mut candidates = job.spec.seeds.clone();
    candidates.sort();
    let mut expected = vec![wic.clone(), other.clone(), kept.clone()];
    expected.sort();
    assert_eq!(
        candidates, expected,
        "big files of both folders, nothing small"
    );
    assert!(has_text(&harness, "Looking for seeds among 3 files"));

    for (i, path) in job.spec.seeds.iter().enumerate() {
        let share = match path {
            p if p == &wic => 0.83,
            p if p == &kept => 0.41,
            _ => 0.02,
        };
        estimate(&job, i, path, share);
    }
    job.emit(Event::Finished(Err(Error::Cancelled)));
    harness.run();
    assert!(!has_text(&harness, "Looking for seeds"));
    let offered: Vec<String> = harness
        .query_all_by_label_contains("% of the target")
        .map(|n| n.accesskit_node().value().unwrap_or_default())
        .collect();
    assert_eq!(
        offered,
        [
            "image-1203.wic: about 83% of the target",
            "old-build.img: about 41% of the target"
        ],
        "below 5% is not offered"
    );

    // One click takes them all, and the download has them.
    harness.get_by_label("Use these seeds").click();
    harness.run();
    assert_eq!(
        harness.state().form().seed_paths(),
        [wic.clone(), kept.clone()]
    );
    assert!(!has_text(&harness, "% of the target"), "taken");
    harness.get_by_label("Start download").click();
    harness.run();
    let download = runner.job(1);
    assert_eq!(download.spec.options.mode, Mode::Download);
    assert_eq!(download.spec.seeds, [wic, kept]);
}

#[test]
fn another_url_or_a_download_cancels_the_estimate() {
    let out = tempfile::tempdir().unwrap();
    let wic = out.path().join("image-1203.wic");
    sized_file(&wic, 2 << 20);
    let runner = FakeRunner::default();
    let mut harness = harness(&runner, out.path());
    type_url(&mut harness, "http://127.0.0.1:9/image-1204.wic.zsync");
    wait_for(&mut harness, "the estimate to start", |_| {
        runner.count() == 1
    });
    let first = runner.job(0);

    // Another URL: the first estimate stops, one for the new URL starts.
    let other = "http://127.0.0.1:9/image-1205.wic.zsync";
    harness
        .state_mut()
        .push_command(Command::SetControl(other.into()));
    wait_for(&mut harness, "the new estimate", |_| runner.count() == 2);
    assert!(first.cancelled.load(Ordering::SeqCst));
    let second = runner.job(1);
    assert_eq!(second.spec.control, ControlSource::Url(other.into()));
    estimate(&second, 0, &wic, 0.5);
    harness.run();
    assert!(has_text(
        &harness,
        "image-1203.wic: about 50% of the target"
    ));

    // A download: the estimate stops and its suggestions go.
    harness.get_by_label("Start download").click();
    harness.run();
    assert!(second.cancelled.load(Ordering::SeqCst));
    assert_eq!(runner.job(2).spec.options.mode, Mode::Download);
    assert!(!has_text(&harness, "% of the target"));
}

/// The real engine: the demo's server publishes a target, the output folder holds its
/// older version under another name and an unrelated file.
#[test]
fn real_engine_estimates_an_older_build_under_another_name_and_the_download_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo = deltadrop::gui::demo::prepare_in(dir.path(), 3_000_000, None).unwrap();
    let out = tempfile::tempdir().unwrap();
    let older = out.path().join("image-1203.wic");
    std::fs::copy(&demo.seed, &older).unwrap();
    std::fs::write(
        out.path().join("unrelated.bin"),
        deltadrop_tests::random_bytes(2_000_000, 5),
    )
    .unwrap();
    let args = GuiArgs::try_parse_from([
        "deltadrop".to_string(),
        demo.control.clone(),
        "-o".into(),
        out.path().display().to_string(),
    ])
    .unwrap();
    let mut harness = harness_with(real_engine_options(args, out.path()));
    wait_for(&mut harness, "the estimates", |h| {
        h.state().seed_estimates().is_some_and(|e| e.finished)
    });
    let found = harness.state().seed_estimates().unwrap().found.clone();
    assert_eq!(found.len(), 2, "{found:?}");
    let share = found
        .iter()
        .find(|e| e.path == older)
        .expect("estimated")
        .share;
    assert!(
        share > 0.3,
        "the older build holds much of the target: {found:?}"
    );
    let label = format!("image-1203.wic: about {:.0}% of the target", share * 100.0);
    assert!(has_text(&harness, &label), "shows {label}");
    assert!(!has_text(&harness, "unrelated.bin"));

    harness.get_by_label("Use these seeds").click();
    harness.run();
    assert_eq!(
        harness.state().form().seed_paths(),
        std::slice::from_ref(&older)
    );
    download_to_the_end(&mut harness);
    let run = harness.state().run().unwrap();
    assert_eq!(run.spec.seeds, [older]);
    let plan = run.view.plan.expect("a plan");
    assert!(plan.local_bytes > 0, "the seed supplied some: {plan:?}");
}
