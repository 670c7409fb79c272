//! Runs a job from start to end: load the control file, check the `.part`, scan the old
//! output and the seeds, plan, fetch, verify, put the file in place.

use std::collections::HashSet;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use url::Url;

use crate::blocks::{FileHash, Geometry, runs};
use crate::control::ControlFile;
use crate::error::{Error, Result, shown_url};
use crate::estimate::ZsyncTarget;
use crate::event::Reporter;
use crate::event::{BlockSource, BlockState, Event, EventSink, Phase, Plan, Summary, TargetInfo};
use crate::fetch::{BlockWriter, PlainTarget, Transport};
use crate::fetch::{GzipTarget, estimate_gzip, parse_z_map};
use crate::fetch::{Http, HttpConfig};
use crate::format::Format;
use crate::gzip::ZMap;
use crate::gzip::recompress;
use crate::job::{Control, ControlSource, JobSpec, Mode};
use crate::part::{Assembly, Layout, PartFile, canonical, part_path};
use crate::scan::BlockIndex;
use crate::scan::Scan;

pub(crate) fn run(spec: &JobSpec, sink: &dyn EventSink, control: &Control) -> Result<Summary> {
    let started = Instant::now();
    let reporter = Reporter::new(sink);
    let job = Stages::new(spec, &reporter, control);
    reporter.emit(Event::Phase(Phase::LoadingControl));
    let http = Http::new(&HttpConfig::from(&spec.options))?;
    let target = job.load(&http)?;
    control.checkpoint()?;
    if spec.options.mode == Mode::EstimateSeeds {
        let file_hash = Some(target.cf.file_hash.clone());
        return job.estimate_seeds(&ZsyncTarget::new(&target.cf), file_hash, started);
    }
    let output = output_path(spec, &target.cf, target.urls.first())?;
    let assembly = Assembly::new(&target.cf, job.open(target.cf.length, &output)?);
    job.scan(&output, &assembly)?;
    let plan = job.plan(&target, &assembly)?;
    let summary = |output| Summary {
        output,
        plan,
        progress: reporter.snapshot(),
        file_hash: Some(target.cf.file_hash.clone()),
        elapsed: started.elapsed(),
        follow: None,
    };
    if assembly.file().is_none() {
        reporter.emit(Event::Phase(Phase::Done));
        return Ok(summary(None));
    }
    // The hash is the control file's once verified.
    job.fetch_and_verify(&assembly, &plan, || job.fetch(&http, &target, &assembly))?;
    job.install(assembly, &output, target.cf.mtime.as_deref())?;
    job.recompress(&target, &output);
    reporter.emit(Event::Phase(Phase::Done));
    Ok(summary(Some(output)))
}

/// The target a control file describes, and where its data comes from.
struct Target {
    cf: ControlFile,
    geometry: Geometry,
    urls: Vec<Url>,
    /// The map into the compressed copy, when the data comes gzip-compressed.
    z_map: Option<ZMap>,
}

/// What every stage of a job uses.
pub(super) struct Stages<'a> {
    pub spec: &'a JobSpec,
    pub reporter: &'a Reporter<'a>,
    pub control: &'a Control,
}

impl<'a> Stages<'a> {
    pub fn new(spec: &'a JobSpec, reporter: &'a Reporter<'a>, control: &'a Control) -> Self {
        Stages {
            spec,
            reporter,
            control,
        }
    }

    /// Reads the control file and decides where the data comes from.
    fn load(&self, http: &Http) -> Result<Target> {
        let (cf, base, name) = load_control(self.spec, http)?;
        let (urls, z_map) = data_source(&cf, &name, base.as_ref(), self.reporter)?;
        self.reporter.emit(Event::ControlLoaded(TargetInfo {
            format: Format::Zsync,
            filename: cf.filename.clone().unwrap_or_default(),
            length: cf.length,
            block_size: cf.block_size,
            block_count: cf.block_count(),
            block_ends: Vec::new(),
            urls: urls.iter().map(|u| shown_url(u.as_str())).collect(),
            compressed: z_map.is_some(),
            file_hash: Some(cf.file_hash.clone()),
            mtime: cf.mtime.clone(),
        }));
        self.reporter.set_total(cf.length);
        Ok(Target {
            geometry: Geometry::new(cf.block_size, cf.length),
            cf,
            urls,
            z_map,
        })
    }

    /// Opens (or, planning only, does not) the `.part` the target is built in.
    pub fn open(&self, length: u64, output: &Path) -> Result<Option<PartFile>> {
        match self.spec.options.mode {
            // A follow downloads its build through a job of its own, in Download mode.
            Mode::Download | Mode::Follow => {
                if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::io("create the folder", dir, e))?;
                }
                Ok(Some(PartFile::open(output, length)?))
            }
            Mode::PlanOnly | Mode::EstimateSeeds => Ok(None),
        }
    }

    /// Finds what it can of the target locally: first what an interrupted run left in
    /// the `.part`, then the old output, then the seeds, in order.
    fn scan(&self, output: &Path, assembly: &Assembly) -> Result<()> {
        let part_file = part_path(output);
        self.reporter.emit(Event::Phase(Phase::ScanningSeeds));
        let index = BlockIndex::new(assembly.control_file());
        let scan = Scan {
            index: &index,
            assembly,
            reporter: self.reporter,
            control: self.control,
        };
        // Verified blocks an interrupted run left in the .part stay where they are.
        match assembly.file() {
            Some(part) if part.existed() => check_part(&scan, part.file(), part.path())?,
            Some(_) => {}
            None => {
                if let Ok(file) = File::open(&part_file) {
                    check_part(&scan, &file, &part_file)?;
                }
            }
        }
        self.each_seed(
            output,
            || assembly.is_complete(),
            |path, source| scan.scan_path(path, source).map(|_| ()),
        )
    }

    /// Hands the old output, then each seed, in order, to `take`, until `complete` says
    /// nothing is missing; a file named twice (or the `.part` itself) only once. A
    /// problem with a seed skips the seed; one with the `.part` (a full disk) stops the
    /// job: decided by which file failed, not by what was being done.
    pub fn each_seed(
        &self,
        output: &Path,
        complete: impl Fn() -> bool,
        mut take: impl FnMut(&Path, BlockSource) -> Result<()>,
    ) -> Result<()> {
        let mut scanned: HashSet<PathBuf> = [canonical(&part_path(output))].into_iter().collect();
        let mut seeds: Vec<(PathBuf, BlockSource)> = Vec::new();
        if output.is_file() {
            seeds.push((output.to_path_buf(), BlockSource::OldOutput));
        }
        seeds.extend(
            self.spec
                .seeds
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), BlockSource::Seed(i))),
        );
        for (path, source) in seeds {
            self.control.checkpoint()?;
            if complete() {
                break;
            }
            if !scanned.insert(canonical(&path)) {
                continue;
            }
            match take(&path, source) {
                Ok(()) => {}
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) if e.local_path().is_some_and(|failed| failed != path) => return Err(e),
                Err(e) => self.reporter.emit(Event::SeedSkipped {
                    source,
                    path,
                    reason: e.to_string(),
                }),
            }
        }
        self.reporter.progress_now();
        Ok(())
    }

    /// Takes what is already local for a layout whose pieces are found by their own
    /// check, not by a scan: the pieces an interrupted run left in the `.part`, then what
    /// `take` finds in the old output and each seed.
    pub fn find_pieces<L: Layout + ?Sized>(
        &self,
        assembly: &Assembly<L>,
        output: &Path,
        take: impl FnMut(&Path, BlockSource) -> Result<()>,
    ) -> Result<()> {
        self.reporter.emit(Event::Phase(Phase::ScanningSeeds));
        self.keep_part(assembly)?;
        self.each_seed(output, || assembly.is_complete(), take)
    }

    /// Keeps the pieces an interrupted run left in the `.part`, each checked.
    fn keep_part<L: Layout + ?Sized>(&self, assembly: &Assembly<L>) -> Result<()> {
        let Some(part) = assembly.file().filter(|p| p.existed()) else {
            return Ok(());
        };
        self.reporter.emit(Event::SeedStarted {
            source: BlockSource::PartFile,
            path: part.path().to_path_buf(),
            size: assembly.layout().length(),
        });
        let kept = assembly.keep_verified()?;
        self.report_found(assembly, BlockSource::PartFile, kept);
        Ok(())
    }

    /// Reports the pieces `found` (ascending) in `source`, and that it is done.
    pub fn report_found<L: Layout + ?Sized>(
        &self,
        assembly: &Assembly<L>,
        source: BlockSource,
        found: Vec<u64>,
    ) {
        let layout = assembly.layout();
        let bytes: u64 = found
            .iter()
            .map(|&p| layout.piece_range(p))
            .map(|r| r.end - r.start)
            .sum();
        let blocks = found.len() as u64;
        self.reporter.add_local(bytes);
        self.reporter.blocks(runs(found), BlockState::Local, source);
        self.reporter.emit(Event::SeedFinished {
            source,
            blocks,
            bytes,
        });
    }

    /// Says what is left to fetch, and in how many ranges.
    fn plan(&self, target: &Target, assembly: &Assembly) -> Result<Plan> {
        let missing = assembly.missing();
        let cost = match &target.z_map {
            Some(map) => estimate_gzip(map, target.geometry, &missing)?,
            None => plain_cost(assembly.layout(), &missing),
        };
        Ok(self.report_plan(assembly.layout(), &missing, cost))
    }

    /// Reports the plan: what is left to fetch (`cost`: in how many ranges, how many
    /// bytes).
    pub fn report_plan<L: Layout + ?Sized>(
        &self,
        layout: &L,
        missing: &[Range<u64>],
        (ranges, bytes_to_fetch): (u64, u64),
    ) -> Plan {
        let plan = Plan {
            total_bytes: layout.length(),
            local_bytes: self.reporter.snapshot().local_bytes,
            missing_blocks: missing.iter().map(|r| r.end - r.start).sum(),
            ranges,
            bytes_to_fetch,
        };
        self.reporter.emit(Event::Planned(plan));
        plan
    }

    /// Three things at once: fetching what is missing; hashing the `.part` in file order
    /// as it fills; and flushing what the scan wrote to disk, so the final flush is short.
    /// Then checks the file against the hash its layout names, if any; returns its hash.
    pub fn fetch_and_verify<L: Layout + ?Sized>(
        &self,
        assembly: &Assembly<L>,
        plan: &Plan,
        fetch: impl FnOnce() -> Result<()>,
    ) -> Result<FileHash> {
        let part = assembly.file().expect("a download has a .part");
        let gave_up = AtomicBool::new(false);
        let (fetched, hashed, flushed) = std::thread::scope(|s| {
            let flushed = s.spawn(|| part.flush_early());
            let hashed = s.spawn(|| assembly.hash_in_order(&gave_up));
            let fetched = if plan.missing_blocks == 0 {
                Ok(())
            } else {
                fetch()
            };
            if fetched.is_err() || !assembly.is_complete() {
                gave_up.store(true, Ordering::Relaxed);
            }
            let hashed = hashed.join().expect("the hashing thread does not panic");
            (
                fetched,
                hashed,
                flushed.join().expect("the flushing thread does not panic"),
            )
        });
        fetched?;
        self.reporter.emit(Event::Phase(Phase::Verifying));
        flushed?;
        let actual = hashed?.ok_or_else(|| {
            Error::Invalid(
                "fetching ended with blocks still missing; run the download again".into(),
            )
        })?;
        if let Some((expected, _)) = assembly.layout().file_hash()
            && actual != *expected
        {
            return Err(Error::Verification {
                expected: expected.to_string(),
                actual: actual.to_string(),
                part: part.path().to_path_buf(),
            });
        }
        Ok(actual)
    }

    fn fetch(&self, http: &Http, target: &Target, assembly: &Assembly) -> Result<()> {
        self.reporter.emit(Event::Phase(Phase::Fetching));
        let writer = BlockWriter::new(assembly, self.reporter);
        let transport = Transport::new(
            http,
            target.urls.clone(),
            self.reporter,
            self.control,
            &self.spec.options,
        );
        match &target.z_map {
            Some(map) => transport.run(&GzipTarget::new(&writer, map))?,
            None => transport.run(&PlainTarget { writer: &writer })?,
        }
        self.reporter.progress_now();
        Ok(())
    }

    /// Puts the verified file in place, with the modification time the publisher gave.
    pub fn install<L: Layout + ?Sized>(
        &self,
        assembly: Assembly<L>,
        output: &Path,
        mtime: Option<&str>,
    ) -> Result<()> {
        let part = assembly.into_file().expect("a download has a .part");
        self.reporter.emit(Event::Phase(Phase::Finishing));
        part.finish(
            output,
            self.spec.options.keep_old,
            mtime.and_then(parse_mtime),
        )
    }

    /// Re-creates the `.gz` the target was made from, if asked.
    fn recompress(&self, target: &Target, output: &Path) {
        if self.spec.options.recompress {
            // The target itself is in place and verified; the .gz is an extra.
            let notice = match recompress(output, &target.cf, target.z_map.as_ref()) {
                Ok(done) => done,
                Err(e) => format!("the .gz was not re-created: {e}"),
            };
            self.reporter.emit(Event::Notice(notice));
        }
    }
}

/// What fetching the plain file's `missing` pieces costs: ranges and bytes.
pub(crate) fn plain_cost<L: Layout + ?Sized>(layout: &L, missing: &[Range<u64>]) -> (u64, u64) {
    let bytes = missing
        .iter()
        .map(|run| layout.byte_range(run.clone()))
        .map(|r| r.end - r.start)
        .sum();
    (missing.len() as u64, bytes)
}

/// Where the target's data comes from: the plain URLs, or a gzip-compressed copy and the
/// map into it. Like zsync 0.6.2 (`zsync_get_urls`), the compressed copy is preferred
/// whenever the control file offers one with its map: it usually means fewer bytes to
/// fetch. A map that cannot be used falls back to the plain URLs if there are any.
fn data_source(
    cf: &ControlFile,
    name: &str,
    base: Option<&Url>,
    reporter: &Reporter,
) -> Result<(Vec<Url>, Option<ZMap>)> {
    let bad = |problem: String| Error::control(Format::Zsync, name, None, problem);
    let plain = resolve_urls(&cf.urls, base, name)?;
    if cf.is_compressed() {
        match parse_z_map(cf) {
            Ok(map) => return Ok((resolve_urls(&cf.z_urls, base, name)?, Some(map))),
            Err(problem) if !plain.is_empty() => reporter.emit(Event::Notice(format!(
                "{}: using the uncompressed URL instead",
                bad(problem)
            ))),
            Err(problem) => return Err(bad(problem)),
        }
    }
    if plain.is_empty() {
        return Err(bad("it names no URL to fetch the target from".into()));
    }
    Ok((plain, None))
}

fn check_part(scan: &Scan, file: &File, path: &Path) -> Result<()> {
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Ok(());
    }
    scan.reporter.emit(Event::SeedStarted {
        source: BlockSource::PartFile,
        path: path.to_path_buf(),
        size,
    });
    let blocks = scan.check_in_place(file, path)?;
    let geometry = scan.assembly.geometry();
    let bytes = (blocks * u64::from(geometry.block_size)).min(geometry.length);
    scan.reporter.emit(Event::SeedFinished {
        source: BlockSource::PartFile,
        blocks,
        bytes,
    });
    Ok(())
}

/// Reads the control file; returns it, the URL its relative URLs are relative to, and
/// its name for messages.
fn load_control(spec: &JobSpec, http: &Http) -> Result<(ControlFile, Option<Url>, String)> {
    let base_option = match &spec.options.base_url {
        Some(base) => Some(parse_url(base)?),
        None => None,
    };
    match &spec.control {
        ControlSource::Url(url) => {
            let url = parse_url(url)?;
            let (bytes, final_url) =
                http.get_control(&url, spec.options.saved_control.as_deref())?;
            let name = shown_url(final_url.as_str());
            let cf = ControlFile::from_bytes(&bytes, &name)?;
            Ok((cf, Some(base_option.unwrap_or(final_url)), name))
        }
        ControlSource::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
            let name = path.display().to_string();
            let cf = ControlFile::from_bytes(&bytes, &name)?;
            Ok((cf, base_option, name))
        }
    }
}

pub(super) fn parse_url(text: &str) -> Result<Url> {
    let url = Url::parse(text)
        .map_err(|e| Error::Invalid(format!("\"{text}\" is not a valid URL ({e})")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(Error::Invalid(format!(
            "\"{text}\": only http and https URLs are supported, not {other}"
        ))),
    }
}

/// Resolves the control file's URLs (absolute, or relative to where it came from); the
/// control file is `name` in errors.
fn resolve_urls(urls: &[String], base: Option<&Url>, name: &str) -> Result<Vec<Url>> {
    let bad = |u: &str, problem: String| {
        Error::control(
            Format::Zsync,
            name,
            None,
            format!("its URL \"{u}\" {problem}"),
        )
    };
    urls.iter()
        .map(|u| {
            let url = match (Url::parse(u), base) {
                (Ok(url), _) => url,
                (Err(url::ParseError::RelativeUrlWithoutBase), Some(base)) => {
                    base.join(u).map_err(|e| bad(u, format!("is not valid ({e})")))?
                }
                // A local control file: the command line must say where it came from.
                (Err(url::ParseError::RelativeUrlWithoutBase), None) => {
                    return Err(Error::Invalid(format!(
                        "the control file's URL \"{u}\" is relative: give the URL the .zsync was downloaded from with -u"
                    )));
                }
                (Err(e), _) => return Err(bad(u, format!("is not valid ({e})"))),
            };
            match url.scheme() {
                "http" | "https" => Ok(url),
                other => Err(bad(u, format!("is {other}: only http and https are supported"))),
            }
        })
        .collect()
}

/// Where the output goes: the user's choice, or the control file's `Filename` (checked:
/// it comes from the network) in the current directory.
fn output_path(spec: &JobSpec, cf: &ControlFile, url: Option<&Url>) -> Result<PathBuf> {
    if let Some(out) = &spec.output
        && !out.is_dir()
    {
        return Ok(out.clone());
    }
    let from_url = url.and_then(safe_name_from_url);
    let name = cf
        .filename
        .as_deref()
        .filter(|n| is_safe_file_name(n))
        .or(from_url.as_deref())
        .ok_or_else(|| {
            Error::Invalid(
                "the control file names no usable file name: choose the output file (-o)".into(),
            )
        })?;
    let dir = spec.output.clone().unwrap_or_default();
    Ok(dir.join(name))
}

/// The last segment of `url`'s path, if it is a safe file name.
pub(super) fn safe_name_from_url(url: &Url) -> Option<String> {
    let name = url.path_segments()?.next_back()?;
    is_safe_file_name(name).then(|| name.to_string())
}

/// A file name from the network is safe if it cannot leave the output folder or name a
/// device on any platform.
pub fn is_safe_file_name(name: &str) -> bool {
    // Windows' device names, whatever the extension ("con.txt", "COM¹.iso", "nul .x").
    const RESERVED: [&str; 32] = [
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
        "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2",
        "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
    ];
    let stem = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_uppercase();
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.ends_with(['.', ' '])
        && !name.chars().any(|c| {
            c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        })
        && !RESERVED.contains(&stem.as_str())
}

pub(super) fn parse_mtime(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc2822(text)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_the_network_are_checked() {
        for ok in ["image.wic", "a b.iso", "x.tar.gz", "über"] {
            assert!(is_safe_file_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/etc/passwd",
            "a\\b",
            "C:x",
            "con",
            "nul .txt",
            "COM¹.iso",
            "LPT².txt",
            "lpt³",
            "COM³",
            "conout$",
            "image.iso:stream",
            "a\u{7}b",
            "NUL.txt",
            "lpt1",
            "a\nb",
            "trailing.",
            "x ",
        ] {
            assert!(!is_safe_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn urls_resolve_against_the_control_file() {
        let base = Url::parse("https://h.example/dir/f.zsync").unwrap();
        let urls = resolve_urls(
            &[
                "f.img".into(),
                "../other/f.img".into(),
                "http://m.example/f".into(),
            ],
            Some(&base),
            "f.zsync",
        )
        .unwrap();
        let urls: Vec<String> = urls.iter().map(Url::to_string).collect();
        assert_eq!(
            urls,
            [
                "https://h.example/dir/f.img",
                "https://h.example/other/f.img",
                "http://m.example/f"
            ]
        );
        assert!(
            resolve_urls(&["f.img".into()], None, "f.zsync")
                .unwrap_err()
                .to_string()
                .contains("-u")
        );
        // A URL in the control file that cannot be used is the control file's fault.
        let error = resolve_urls(&["ftp://x/y".into()], None, "f.zsync").unwrap_err();
        assert_eq!(
            error.to_string(),
            "control file f.zsync: its URL \"ftp://x/y\" is ftp: only http and https are supported"
        );
        assert!(error.hint().contains("a .zsync file made by zsyncmake"));
    }

    #[test]
    fn mtime_is_read_as_utc() {
        let t = parse_mtime("Sat, 21 Nov 2026 15:45:58 +0000").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_795_275_958
        );
    }
}
