//! A zchunk download. The `.zck` file's own header lists its chunks, so the file is both
//! the control file and the target: fetch the header, take the chunks older `.zck` files
//! (and an interrupted `.part`) already hold, fetch the rest as ranges of the same file,
//! check every chunk, and the data checksum as the file fills, and write the `.zck`
//! exactly as published.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use url::Url;

use super::pipeline::{Described, Target};
use super::stages::{Stages, parse_url, plain_cost};
use crate::blocks::{FileHash, runs};
use crate::error::{Error, Result, shown_url};
use crate::estimate::ZchunkTarget;
use crate::event::{BlockSource, BlockState, Event, Reporter, Summary, TargetInfo};
use crate::fetch::{BlockWriter, Cuts, FeedPieces, PieceAssembler, ReceiveError, broken};
use crate::fetch::{Http, PlainTarget, Transport};
use crate::format::Format;
use crate::job::{ControlSource, JobSpec};
use crate::part::safe_name_from_url;
use crate::part::{Assembly, Bounds, Ends, Layout, Offer, with_suffix};
use crate::zck::header::{Header, Lead, MAX_LEAD_LEN};
use crate::zck::seed::Seed;
use crate::zck::uncompress::uncompress_file;

/// The largest chunk taken: each is held in memory whole to be checked (zck makes them
/// tens of KiB).
const MAX_CHUNK: u64 = 256 << 20;

/// A `.zck` file as its header describes it: the header is piece 0, each chunk (the
/// dictionary first) one piece after it.
pub(super) struct Zck {
    /// Where it is published: the header and the chunks are ranges of this file.
    url: Url,
    header: Header,
    /// The header exactly as published (it is written into the file as it is).
    header_bytes: Vec<u8>,
    /// Where each piece ends.
    ends: Ends,
    /// The data checksum as a hash of the bytes after the header, when the file has one.
    data_hash: Option<FileHash>,
}

impl Zck {
    /// Reads the header from the start of the file at `url`: the lead first, which says
    /// how long the rest is.
    fn read_header(http: &Http, url: Url) -> Result<Zck> {
        let url = &url;
        let name = shown_url(url.as_str());
        let (mut header_bytes, total) = http.get_bytes(url, 0..MAX_LEAD_LEN as u64)?;
        let lead = Lead::parse(&header_bytes, &name)?;
        let have = header_bytes.len() as u64;
        if have < lead.header_len() {
            let (rest, _) = http.get_bytes(url, have..lead.header_len())?;
            header_bytes.extend(rest);
        }
        let header = Header::parse(&header_bytes, &name)?;
        if lead.detached {
            return Err(Error::Invalid(format!(
                "{name} is a detached zchunk header, without the data to download"
            )));
        }
        if let Some(total) = total.filter(|&t| t != header.file_len()) {
            return Err(Error::BadData {
                url: name,
                problem: format!(
                    "its file is {total} bytes but its zchunk header describes {} bytes",
                    header.file_len()
                ),
            });
        }
        if let Some(chunk) = header.chunks.iter().find(|c| c.comp_len() > MAX_CHUNK) {
            return Err(Error::BadData {
                url: name,
                problem: format!(
                    "its chunk {} is {} bytes, more than the {MAX_CHUNK} a chunk may have here",
                    chunk.number,
                    chunk.comp_len()
                ),
            });
        }
        let header_len = lead.header_len() as usize;
        let ends = std::iter::once(lead.header_len())
            .chain(header.chunks.iter().map(|c| c.range.end))
            .collect();
        let data_hash = header.has_data_checksum().then(|| FileHash {
            algorithm: header.data_checksum.kind().algorithm(),
            digest: header.data_checksum.as_bytes().to_vec(),
        });
        Ok(Zck {
            url: url.clone(),
            header_bytes: header_bytes[..header_len].to_vec(),
            header,
            ends: Ends(ends),
            data_hash,
        })
    }
}

impl Target for Zck {
    type Layout = Zck;

    /// The `.zck` is the build: its lead, which holds the header's checksum, tells it.
    const IDENTIFIED_BY_LEAD: Option<u64> = Some(MAX_LEAD_LEN as u64);

    fn describe(bytes: &[u8], source: &str) -> Result<Described> {
        let lead = Lead::parse(bytes, source)?;
        Ok(Described {
            identity: format!("zchunk header {}", lead.header_checksum),
            named: None,
            // The header, which says, comes with the download.
            length: 0,
            built: None,
        })
    }

    fn load(stages: &Stages, http: &Http) -> Result<Zck> {
        match &stages.spec.control {
            ControlSource::Url(url) => Zck::read_header(http, parse_url(url)?),
            ControlSource::File(path) => Err(local_zck(path)),
        }
    }

    fn layout(&self) -> &Zck {
        self
    }

    fn info(&self) -> TargetInfo {
        let url = &self.url;
        let chunks = self.header.chunks.len() as u64;
        TargetInfo {
            format: Format::Zchunk,
            filename: url
                .path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or_default()
                .to_string(),
            length: self.length(),
            block_size: u32::try_from(self.length() / (chunks + 1)).unwrap_or(u32::MAX),
            block_count: self.piece_count(),
            block_ends: self.ends.0.clone(),
            urls: vec![shown_url(url.as_str())],
            compressed: false,
            file_hash: self.data_hash.clone(),
            mtime: None,
        }
    }

    fn estimate_seeds(&self, stages: &Stages, started: Instant) -> Result<Summary> {
        let header = ZchunkTarget {
            header: &self.header,
            length: self.length(),
        };
        stages.estimate_seeds(&header, self.data_hash.clone(), started)
    }

    fn output_path(&self, spec: &JobSpec) -> Result<PathBuf> {
        output_path(spec, &self.url)
    }

    /// The header, fetched already, then the chunks of the `.part` and of each seed
    /// `.zck`.
    fn take_local(&self, stages: &Stages, assembly: &Assembly<Zck>, output: &Path) -> Result<()> {
        take_header(stages.reporter, self, assembly)?;
        stages.find_pieces(assembly, output, |path, source| {
            copy_from_seed(stages, self, assembly, path, source)
        })
    }

    fn cost(&self, _: &Assembly<Zck>, missing: &[Range<u64>]) -> Result<(u64, u64)> {
        Ok(plain_cost(self, missing))
    }

    /// The missing chunks are ranges of the `.zck` itself.
    fn fetch(&self, stages: &Stages, http: &Http, assembly: &Assembly<Zck>) -> Result<()> {
        let writer = BlockWriter::new(assembly, stages.reporter);
        let urls = vec![self.url.clone()];
        Transport::new(
            http,
            urls,
            stages.reporter,
            stages.control,
            &stages.spec.options,
        )
        .run(&PlainTarget { writer: &writer })
    }

    /// `--uncompress`: the file the `.zck` was made from, beside it.
    fn installed(&self, stages: &Stages, output: &Path) -> Result<()> {
        if stages.spec.options.uncompress {
            uncompress(stages.reporter, output)?;
        }
        Ok(())
    }
}

impl Layout for Zck {
    fn length(&self) -> u64 {
        self.header.file_len().max(self.header_bytes.len() as u64)
    }

    fn bounds(&self) -> impl Bounds + '_ {
        &self.ends
    }

    fn piece_matches(&self, piece: u64, data: &[u8]) -> bool {
        match piece {
            0 => data == self.header_bytes,
            chunk => self.header.chunks[chunk as usize - 1].verify(data),
        }
    }

    fn file_hash(&self) -> Option<(&FileHash, Range<u64>)> {
        let data = self.header_bytes.len() as u64..self.length();
        self.data_hash.as_ref().map(|hash| (hash, data))
    }
}

/// Chunks are cut only at their boundaries and checked one by one.
impl FeedPieces for BlockWriter<'_, Zck> {
    fn cuts(&self) -> Cuts {
        Cuts::At(self.assembly.layout().ends.0.clone())
    }

    fn feed(
        &self,
        url: &Url,
        start: u64,
        body: &mut dyn std::io::Read,
    ) -> Result<(), ReceiveError> {
        PieceAssembler::new(self, url, start).copy_from(body, broken)
    }

    fn why_other_length(&self) -> &'static str {
        "the file changed on the server during the download; run it again"
    }
}

/// Writes the header, fetched already, and takes the pieces without bytes (the
/// dictionary of a file without one): the block map shows them as from the network.
fn take_header(reporter: &Reporter, target: &Zck, assembly: &Assembly<Zck>) -> Result<()> {
    assembly.offer(0, &target.header_bytes)?;
    let mut taken = vec![0];
    for empty in (1..target.piece_count()).filter(|&p| target.piece_range(p).is_empty()) {
        assembly.claim(empty);
        taken.push(empty);
    }
    reporter.add_fetched(target.header_bytes.len() as u64);
    reporter.blocks(runs(taken), BlockState::Fetched, BlockSource::Network);
    Ok(())
}

/// Copies the chunks the target needs from the `.zck` at `path`, each checked against
/// the target's checksum as it is read.
fn copy_from_seed(
    job: &Stages,
    target: &Zck,
    assembly: &Assembly<Zck>,
    path: &Path,
    source: BlockSource,
) -> Result<()> {
    let seed = Seed::open(path)?;
    job.reporter.emit(Event::SeedStarted {
        source,
        path: path.to_path_buf(),
        size: seed.len,
    });
    let mut reader = seed.reader()?;
    let mut found = Vec::new();
    for (wanted, have) in seed.matches(&target.header) {
        let piece = wanted.number as u64 + 1;
        if assembly.is_present(piece) {
            continue;
        }
        job.control.checkpoint()?;
        if let Some(bytes) = seed.read_chunk(&mut reader, have, wanted)?
            && assembly.offer(piece, &bytes)? == Offer::Written
        {
            found.push(piece);
        }
    }
    job.report_found(assembly, source, found);
    Ok(())
}

/// `--uncompress`: the file the `.zck` was made from, beside it without the `.zck`.
fn uncompress(reporter: &Reporter, zck: &Path) -> Result<()> {
    let plain = zck.with_extension("");
    let plain = if plain == zck {
        zck.with_extension("uncompressed")
    } else {
        plain
    };
    // Written beside, then renamed: an existing file is replaced only by a checked one.
    let partial = with_suffix(&plain, ".part");
    let failed = |e: Error| Error::Uncompress {
        output: zck.to_path_buf(),
        message: e.to_string(),
    };
    let written = uncompress_file(zck, &partial).map_err(failed)?;
    std::fs::rename(&partial, &plain).map_err(|e| failed(Error::io("rename", &partial, e)))?;
    reporter.emit(Event::Notice(format!(
        "uncompressed to {} ({written} bytes)",
        plain.display()
    )));
    Ok(())
}

fn local_zck(path: &Path) -> Error {
    Error::Invalid(format!(
        "{} is a local .zck file: give the URL it is published at, and the local file as a seed (-i)",
        path.display()
    ))
}

/// The user's choice, or the file name in the URL in the current directory.
fn output_path(spec: &JobSpec, url: &Url) -> Result<PathBuf> {
    if let Some(out) = &spec.output
        && !out.is_dir()
    {
        return Ok(out.clone());
    }
    let name = safe_name_from_url(url).ok_or_else(|| {
        Error::Invalid("the URL names no usable file name: choose the output file (-o)".into())
    })?;
    Ok(spec.output.clone().unwrap_or_default().join(name))
}
