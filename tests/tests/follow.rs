//! Following a build end to end: a publisher puts build after build at one "latest" URL
//! (nginx, or servers that misbehave), the engine's follow checks it, downloads only what
//! changed with the kept builds as seeds, and keeps the newest few.

use std::path::Path;
use std::time::{Duration, SystemTime};

use deltadrop_core::{ControlSource, Error, Event, FollowReport, JobSpec, Mode, Summary};
use deltadrop_tests::*;

/// A series of builds: each the one before with edits, as daily builds are.
fn builds(count: usize) -> Vec<Vec<u8>> {
    let mut builds = vec![text_bytes(4_000_000, 70)];
    for i in 1..count {
        let next = edited(&builds[i - 1], 70 + i as u64);
        builds.push(next);
    }
    builds
}

fn follow_spec(url: String, folder: &Path, keep: usize) -> JobSpec {
    let mut spec = JobSpec::new(ControlSource::Url(url));
    spec.output = Some(folder.to_path_buf());
    spec.options.mode = Mode::Follow;
    spec.options.keep_builds = keep;
    spec
}

/// One check; its summary's follow report, and the summary.
fn check(url: &str, folder: &Path, keep: usize) -> (FollowReport, Summary) {
    let (result, _) = run_job(follow_spec(url.to_string(), folder, keep));
    let summary = result.unwrap_or_else(|e| panic!("the check failed: {e} ({})", e.hint()));
    (summary.follow.clone().expect("a follow report"), summary)
}

/// The files in `folder`, sorted, without the follow's own state.
fn files(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".deltadrop-follow")
        .collect();
    names.sort();
    names
}

/// `count` builds, the first published at `latest/` on nginx, and a home for the folder
/// that follows it.
struct Followed {
    builds: Vec<Vec<u8>>,
    www: TempDir,
    server: Server,
    url: String,
    home: TempDir,
    folder: std::path::PathBuf,
}

impl Followed {
    fn on_nginx(count: usize) -> Option<Followed> {
        let builds = builds(count);
        let www = public_dir();
        if !publish_build(www.path(), &builds[0], day(0)) {
            return None;
        }
        let server = nginx(www.path(), None, "")?;
        let url = server.url("latest/image.img.zsync");
        let home = tempfile::tempdir().unwrap();
        let folder = home.path().join("builds");
        Some(Followed {
            builds,
            www,
            server,
            url,
            home,
            folder,
        })
    }

    /// Publishes build `n` (0-based), made on day `n`.
    fn publish(&self, n: usize) {
        assert!(publish_build(
            self.www.path(),
            &self.builds[n],
            day(n as u64)
        ));
    }

    fn check(&self, keep: usize) -> (FollowReport, Summary) {
        check(&self.url, &self.folder, keep)
    }
}

fn day(n: u64) -> SystemTime {
    // 2026-12-01 03:00 UTC, and the days after.
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_094_000 + n * 86_400)
}

#[test]
fn three_builds_are_followed_keeping_two_each_costing_what_zsync_would() {
    let (Some(f), Some(zsync)) = (Followed::on_nginx(3), peer("zsync")) else {
        return;
    };
    let (builds, server, url, home, folder) = (&f.builds, &f.server, &f.url, &f.home, &f.folder);

    // Build 1: nothing to reuse.
    let (report, _) = f.check(2);
    assert!(report.new_build);
    assert_eq!(report.newest, folder.join("image.img"));
    assert!(read(&folder.join("image.img")) == builds[0]);
    assert_eq!(files(folder), ["image.img"]);

    // Nothing new: one request, answered 304 without a body.
    let before = server.access_log().len();
    let (report, summary) = f.check(2);
    assert!(!report.new_build);
    assert_eq!(summary.progress.requests, 0, "no data requests");
    let log = server.access_log();
    assert_eq!(
        log[before..],
        ["GET /latest/image.img.zsync HTTP/1.1 304 0".to_string()],
        "a check with nothing new costs one request and no body"
    );

    // Builds 2 and 3: each costs about what zsync takes with the build before as seed.
    for (i, build) in builds.iter().enumerate().skip(1) {
        f.publish(i);
        let previous = home.path().join(format!("previous-{i}"));
        std::fs::write(&previous, &builds[i - 1]).unwrap();
        let before = server.requests_by("deltadrop/", "latest/image.img").1;
        let (report, summary) = f.check(2);
        let ours = server.requests_by("deltadrop/", "latest/image.img").1 - before;
        assert!(report.new_build);
        assert!(read(&folder.join("image.img")) == *build, "build {}", i + 1);
        assert!(summary.plan.local_bytes > 3_000_000, "{:?}", summary.plan);

        let zsync_out = home.path().join(format!("zsync-{i}"));
        let before = server.requests_by("zsync/", "latest/image.img").1;
        let status = std::process::Command::new(&zsync)
            .args(["-q", "-i"])
            .arg(&previous)
            .arg("-o")
            .arg(&zsync_out)
            .arg(url)
            .current_dir(home.path())
            .status()
            .unwrap();
        assert!(status.success());
        let theirs = server.requests_by("zsync/", "latest/image.img").1 - before;
        println!(
            "build {}: deltadrop fetched {ours} bytes, zsync {theirs}",
            i + 1
        );
        assert!(
            ours * 10 <= theirs * 11,
            "build {}: {ours} bytes against zsync's {theirs}",
            i + 1
        );
    }
    // The two newest builds, verified: the newest under its own name, the one before
    // with its date.
    assert_eq!(files(folder), ["image.20261202-0300.img", "image.img"]);
    assert!(read(&folder.join("image.20261202-0300.img")) == builds[1]);
    assert!(read(&folder.join("image.img")) == builds[2]);
}

#[test]
fn a_server_without_validators_costs_one_request_when_nothing_is_new() {
    let builds = builds(1);
    let www = public_dir();
    if !publish_build(www.path(), &builds[0], day(0)) {
        return;
    }
    // Honest, but without ETag or Last-Modified: a 200 every time.
    let server = misbehaving(www.path(), Misbehaviour::Honest);
    let url = server.url("latest/image.img.zsync");
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("builds");
    assert!(check(&url, &folder, 3).0.new_build);
    let before = server.requests();
    let (report, _) = check(&url, &folder, 3);
    assert!(!report.new_build, "the build's hash says it is the same");
    assert_eq!(server.requests() - before, 1);
}

#[test]
fn a_build_replaced_during_the_download_gives_the_newer_build_whole() {
    let builds = builds(3);
    let www = public_dir();
    let next = www.path().join("next");
    if !publish_build(www.path(), &builds[1], day(1)) || !publish_build(&next, &builds[2], day(2)) {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("builds");
    std::fs::create_dir_all(&folder).unwrap();
    // The follow has build 1; the check reads build 2's control file, and from then on
    // the server has build 3.
    let seed = home.path().join("build-1");
    std::fs::write(&seed, &builds[0]).unwrap();
    let server = misbehaving(
        www.path(),
        Misbehaviour::SwitchFolder {
            requests: 1,
            folder: "next",
        },
    );
    let mut spec = follow_spec(server.url("latest/image.img.zsync"), &folder, 2);
    spec.seeds = vec![seed];
    let (result, events) = run_job(spec);
    let summary = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        read(&folder.join("image.img")) == builds[2],
        "the newer build, not a mix"
    );
    assert!(summary.follow.unwrap().new_build);
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Notice(n) if n.contains("a newer build was published during the download"))),
        "{events:?}"
    );
}

#[test]
fn kept_builds_someone_changed_are_neither_seeds_nor_removed() {
    let Some(f) = Followed::on_nginx(4) else {
        return;
    };
    let (builds, folder) = (&f.builds, &f.folder);
    f.check(2);
    // Build 2 made with a clock far ahead: its MTime is in 2100.
    let future = SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800);
    assert!(publish_build(f.www.path(), &builds[1], future));
    f.check(2);
    let kept = folder.join("image.20261201-0300.img");
    assert_eq!(files(folder), ["image.20261201-0300.img", "image.img"]);

    // Someone edits the kept build 1: it is theirs now.
    std::fs::write(&kept, b"my notes").unwrap();
    f.publish(2);
    let (report, _) = f.check(2);
    assert!(report.removed.is_empty(), "{:?}", report.removed);
    assert_eq!(text(&read(&kept)), "my notes", "{:?}", files(folder));
    assert!(read(&folder.join("image.img")) == builds[2]);
    // Build 2 kept with its (future) date; the edited file stays, untouched.
    assert_eq!(
        files(folder),
        [
            "image.20261201-0300.img",
            "image.21000101-0000.img",
            "image.img"
        ]
    );

    // The next build removes the follow's own old build, never the user's file.
    f.publish(3);
    let (report, _) = f.check(2);
    assert_eq!(report.removed, [folder.join("image.21000101-0000.img")]);
    assert_eq!(text(&read(&kept)), "my notes");
}

#[test]
fn a_deleted_folder_is_made_again_and_a_second_follow_of_a_folder_waits_its_turn() {
    let Some(f) = Followed::on_nginx(1) else {
        return;
    };
    let folder = &f.folder;
    f.check(2);
    std::fs::remove_dir_all(folder).unwrap();
    let (report, _) = f.check(2);
    assert!(report.new_build, "the build is downloaded again");
    assert!(read(&folder.join("image.img")) == f.builds[0]);

    // Another follow holds the folder (its lock file, held open).
    let lock = std::fs::File::options()
        .write(true)
        .open(folder.join(".deltadrop-follow/lock"))
        .unwrap();
    lock.lock().unwrap();
    let (result, _) = run_job(follow_spec(f.url.clone(), folder, 2));
    let error = result.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("another deltadrop is already updating"),
        "{error}"
    );
}

#[test]
fn a_disk_too_small_for_the_build_is_said_before_downloading() {
    let Some(f) = Followed::on_nginx(1) else {
        return;
    };
    let Some(disk) = SmallDisk::mount(1_000_000) else {
        return;
    };
    let folder = disk.path().join("builds");
    let server = &f.server;
    let before = server.requests_for("latest/image.img").0;
    let (result, _) = run_job(follow_spec(f.url.clone(), &folder, 2));
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Io {
                kind: std::io::ErrorKind::StorageFull,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("more are needed"), "{error}");
    assert_eq!(
        server.requests_for("latest/image.img").0,
        before,
        "nothing was fetched"
    );
}

/// Follows a build in another format: `publish(www, content)` puts the build's control
/// file at `latest/NAME` (and whatever it needs beside it); three checks of two builds,
/// the second build with the first as its seed, then nothing new.
fn follow_format(name: &str, target: &str, publish: impl Fn(&Path, &[u8]) -> bool) {
    let builds = builds(2);
    let www = public_dir();
    let latest = www.path().join("latest");
    std::fs::create_dir_all(&latest).unwrap();
    if !publish(&latest, &builds[0]) {
        return;
    }
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let url = server.url(&format!("latest/{name}"));
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("builds");
    let (report, _) = check(&url, &folder, 2);
    assert!(report.new_build);
    assert_eq!(report.newest, folder.join(target));
    let first = read(&folder.join(target));

    assert!(publish(&latest, &builds[1]));
    let (report, summary) = check(&url, &folder, 2);
    assert!(report.new_build, "{name}: the second build is new");
    assert!(
        summary.plan.local_bytes > summary.plan.total_bytes / 2,
        "{name}: the first build is the seed: {:?}",
        summary.plan
    );
    assert_eq!(report.kept.len(), 1);
    assert!(
        read(&report.kept[0]) == first,
        "{name}: the first build is kept"
    );

    let (report, summary) = check(&url, &folder, 2);
    assert!(!report.new_build, "{name}: nothing new");
    assert_eq!(summary.progress.requests, 0);
}

#[test]
fn a_zchunk_build_is_followed() {
    follow_format("data.txt.zck", "data.txt.zck", |dir, content| {
        zck(dir, "data.txt", content, &[]).is_some()
    });
}

#[test]
fn a_casync_build_is_followed() {
    follow_format("image.img.caibx", "image.img", |dir, content| {
        casync_make(dir, "image.img", content, &[]).is_some()
    });
}

#[test]
fn builds_in_numbered_folders_are_followed_through_the_listing() {
    let builds = builds(2);
    let www = public_dir();
    let numbered = |n: u64| www.path().join(format!("nightly/{n}"));
    if !publish_build(&numbered(999), &builds[0], day(0)) {
        return;
    }
    let Some(server) = nginx(www.path(), None, "autoindex on;") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("builds");
    let mut spec = follow_spec(server.url("nightly/"), &folder, 2);
    spec.options.listing_pattern = Some("*/latest/image.img.zsync".into());
    let check = |spec: &JobSpec| {
        let (result, events) = run_job(spec.clone());
        let summary = result.unwrap_or_else(|e| panic!("{e}"));
        (summary.follow.unwrap(), events)
    };
    let (report, _) = check(&spec);
    assert!(report.new_build);
    assert!(
        report
            .control_url
            .ends_with("/nightly/999/latest/image.img.zsync")
    );

    // Build 1000 is complete; build 1001 is still being uploaded (no control file yet).
    assert!(publish_build(&numbered(1000), &builds[1], day(1)));
    std::fs::create_dir_all(numbered(1001).join("latest")).unwrap();
    let (report, events) = check(&spec);
    assert!(report.new_build);
    assert!(
        report
            .control_url
            .ends_with("/nightly/1000/latest/image.img.zsync")
    );
    assert!(read(&folder.join("image.img")) == builds[1]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Notice(n) if n.contains("1001/"))),
        "the build passed over is named"
    );
    let (report, _) = check(&spec);
    assert!(!report.new_build);
}
