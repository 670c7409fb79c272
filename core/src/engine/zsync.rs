//! A zsync download: a `.zsync` control file beside the target lists its blocks' sums;
//! seeds are scanned with the rolling sum for any block at any offset; the missing
//! blocks are ranges of the target, or of its gzip-compressed copy (`Z-URL`, `Z-Map2`).

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use url::Url;

use super::pipeline::{Described, Target};
use super::stages::{Stages, parse_url, plain_cost};
use crate::control::ControlFile;
use crate::error::{Error, Result, shown_url};
use crate::estimate::ZsyncTarget;
use crate::event::{BlockSource, Event, Reporter, Summary, TargetInfo};
use crate::fetch::{BlockWriter, PlainTarget, Transport};
use crate::fetch::{GzipTarget, Http, estimate_gzip, parse_z_map};
use crate::format::Format;
use crate::gzip::{ZMap, recompress};
use crate::job::{ControlSource, JobSpec};
use crate::part::{Assembly, is_safe_file_name, part_path, safe_name_from_url};
use crate::scan::{BlockIndex, Scan};

/// The target a control file describes, and where its data comes from.
pub(super) struct Zsync {
    cf: ControlFile,
    urls: Vec<Url>,
    /// The map into the compressed copy, when the data comes gzip-compressed.
    z_map: Option<ZMap>,
}

impl Target for Zsync {
    type Layout = ControlFile;

    /// Reads the control file and decides where the data comes from.
    fn load(stages: &Stages, http: &Http) -> Result<Zsync> {
        let (cf, base, name) = load_control(stages.spec, http)?;
        let (urls, z_map) = data_source(&cf, &name, base.as_ref(), stages.reporter)?;
        Ok(Zsync { cf, urls, z_map })
    }

    /// A build is told by the whole-file hash the control file promises.
    fn describe(bytes: &[u8], source: &str) -> Result<Described> {
        let cf = ControlFile::from_bytes(bytes, source)?;
        Ok(Described {
            identity: cf.file_hash.to_string(),
            named: cf.filename,
            length: cf.length,
            built: cf.mtime,
        })
    }

    fn layout(&self) -> &ControlFile {
        &self.cf
    }

    fn info(&self) -> TargetInfo {
        let cf = &self.cf;
        TargetInfo {
            format: Format::Zsync,
            filename: cf.filename.clone().unwrap_or_default(),
            length: cf.length,
            block_size: cf.block_size,
            block_count: cf.block_count(),
            block_ends: Vec::new(),
            urls: self.urls.iter().map(|u| shown_url(u.as_str())).collect(),
            compressed: self.z_map.is_some(),
            file_hash: Some(cf.file_hash.clone()),
            mtime: cf.mtime.clone(),
        }
    }

    fn estimate_seeds(&self, stages: &Stages, started: Instant) -> Result<Summary> {
        let file_hash = Some(self.cf.file_hash.clone());
        stages.estimate_seeds(&ZsyncTarget::new(&self.cf), file_hash, started)
    }

    fn output_path(&self, spec: &JobSpec) -> Result<PathBuf> {
        output_path(spec, &self.cf, self.urls.first())
    }

    /// Scans what an interrupted run left in the `.part` where it is, then the old
    /// output and the seeds for blocks at any offset.
    fn take_local(
        &self,
        stages: &Stages,
        assembly: &Assembly<ControlFile>,
        output: &Path,
    ) -> Result<()> {
        let part_file = part_path(output);
        let index = BlockIndex::new(assembly.control_file());
        let scan = Scan {
            index: &index,
            assembly,
            reporter: stages.reporter,
            control: stages.control,
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
        stages.each_seed(
            output,
            || assembly.is_complete(),
            |path, source| scan.scan_path(path, source).map(|_| ()),
        )
    }

    fn cost(&self, assembly: &Assembly<ControlFile>, missing: &[Range<u64>]) -> Result<(u64, u64)> {
        match &self.z_map {
            Some(map) => estimate_gzip(map, self.cf.geometry(), missing),
            None => Ok(plain_cost(assembly.layout(), missing)),
        }
    }

    fn fetch(&self, stages: &Stages, http: &Http, assembly: &Assembly<ControlFile>) -> Result<()> {
        let writer = BlockWriter::new(assembly, stages.reporter);
        let transport = Transport::new(
            http,
            self.urls.clone(),
            stages.reporter,
            stages.control,
            &stages.spec.options,
        );
        match &self.z_map {
            Some(map) => transport.run(&GzipTarget::new(&writer, map)),
            None => transport.run(&PlainTarget { writer: &writer }),
        }
    }

    fn mtime(&self) -> Option<&str> {
        self.cf.mtime.as_deref()
    }

    /// Re-creates the `.gz` the target was made from, if asked.
    fn installed(&self, stages: &Stages, output: &Path) -> Result<()> {
        if stages.spec.options.recompress {
            // The target itself is in place and verified; the .gz is an extra.
            let notice = match recompress(output, &self.cf, self.z_map.as_ref()) {
                Ok(done) => done,
                Err(e) => format!("the .gz was not re-created: {e}"),
            };
            stages.reporter.emit(Event::Notice(notice));
        }
        Ok(())
    }
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
        let compressed = parse_z_map(cf).map_err(bad).and_then(|map| {
            let urls = resolve_urls(&cf.z_urls, base, name)?;
            match urls.is_empty() {
                true => Err(not_beside(&cf.z_urls, base)),
                false => Ok((urls, Some(map))),
            }
        });
        match compressed {
            Ok(source) => return Ok(source),
            Err(e) if !plain.is_empty() => reporter.emit(Event::Notice(format!(
                "{e}: using the uncompressed URL instead"
            ))),
            Err(e) => return Err(e),
        }
    }
    match (plain.is_empty(), cf.urls.is_empty()) {
        (false, _) => Ok((plain, None)),
        // Every URL named a local file that is not there.
        (true, false) => Err(not_beside(&cf.urls, base)),
        (true, true) => Err(bad("it names no URL to fetch the target from".into())),
    }
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
            Ok((cf, base_option.or_else(|| file_url(path)), name))
        }
    }
}

/// A local control file's relative URLs name files beside it: the `.zsync` and its
/// target on a share, or copied to a folder together.
fn file_url(path: &Path) -> Option<Url> {
    Url::from_file_path(std::path::absolute(path).ok()?).ok()
}

/// Resolves the control file's URLs (absolute, or relative to where it came from); the
/// control file is `name` in errors. Files are read where they are only for a local
/// control file (a downloaded one never names local files), and only those that are
/// there are kept: [`not_beside`] says what is missing when none is.
fn resolve_urls(urls: &[String], base: Option<&Url>, name: &str) -> Result<Vec<Url>> {
    let mut resolved = Vec::new();
    for u in urls {
        let url = resolve_url(u, base, name)?;
        if url.scheme() != "file" || local_file(&url).is_some() {
            resolved.push(url);
        }
    }
    Ok(resolved)
}

fn resolve_url(u: &str, base: Option<&Url>, name: &str) -> Result<Url> {
    let bad = |problem: String| {
        Error::control(
            Format::Zsync,
            name,
            None,
            format!("its URL \"{u}\" {problem}"),
        )
    };
    let url = match (Url::parse(u), base) {
        (Ok(url), _) => url,
        (Err(url::ParseError::RelativeUrlWithoutBase), Some(base)) => base
            .join(u)
            .map_err(|e| bad(format!("is not valid ({e})")))?,
        // A control file given as bytes with no origin: the caller must say where it
        // came from.
        (Err(url::ParseError::RelativeUrlWithoutBase), None) => {
            return Err(Error::Invalid(format!(
                "the control file's URL \"{u}\" is relative: give the URL the .zsync was downloaded from with -u"
            )));
        }
        (Err(e), _) => return Err(bad(format!("is not valid ({e})"))),
    };
    let local = base.is_some_and(|b| b.scheme() == "file");
    match url.scheme() {
        "http" | "https" => Ok(url),
        "file" if local => Ok(url),
        other => Err(bad(format!(
            "is {other}: only http and https are supported"
        ))),
    }
}

/// The file a `file:` URL names, if it is there.
fn local_file(url: &Url) -> Option<PathBuf> {
    url.to_file_path().ok().filter(|path| path.is_file())
}

/// Why a local control file's target cannot be read: the file its first URL names is
/// not there (a `.zsync` downloaded on its own, whose URLs are relative).
fn not_beside(urls: &[String], base: Option<&Url>) -> Error {
    let (first, place) = match (urls.first(), base) {
        (Some(first), Some(base)) => (first, base.join(first).ok()),
        _ => return Error::Invalid("the control file names no URL".into()),
    };
    let place = place
        .and_then(|url| url.to_file_path().ok())
        .map_or_else(|| first.clone(), |path| path.display().to_string());
    Error::Invalid(format!(
        "the control file's URL \"{first}\" names {place}, which is not there: if the .zsync was downloaded on its own, give the URL it came from (-u, or paste that URL in the app)"
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_local_control_files_urls_name_the_files_beside_it() {
        let share = tempfile::tempdir().unwrap();
        std::fs::write(share.path().join("f.img"), b"target").unwrap();
        let base = file_url(&share.path().join("f.img.zsync")).unwrap();
        let urls = resolve_urls(
            &[
                "f.img".into(),
                "gone.img".into(),
                "http://m.example/f".into(),
            ],
            Some(&base),
            "f.zsync",
        )
        .unwrap();
        assert_eq!(urls.len(), 2, "{urls:?}");
        assert_eq!(local_file(&urls[0]), Some(share.path().join("f.img")));
        assert_eq!(urls[1].as_str(), "http://m.example/f");
        // None there: the message names the place looked at and the way out.
        let error = not_beside(&["gone.img".into()], Some(&base)).to_string();
        let gone = share.path().join("gone.img");
        assert!(error.contains(&gone.display().to_string()), "{error}");
        assert!(error.contains("-u"), "{error}");
    }

    #[test]
    fn a_downloaded_control_file_never_names_local_files() {
        let base = Url::parse("https://h.example/dir/f.zsync").unwrap();
        let error = resolve_urls(&["file:///etc/passwd".into()], Some(&base), "f.zsync")
            .unwrap_err()
            .to_string();
        assert!(error.contains("only http and https"), "{error}");
    }
}
