//! Reading a control file in stages: the header lines (each kind of header taken by its
//! own function), the checks that need all of them, then the block table.

use std::io::{BufRead, Read};

use super::{
    ControlFile, HashLengths, MAX_BLOCK_SIZE, MAX_BLOCKS, PREALLOC_BLOCKS, ZSYNC_VERSION,
    compare_versions, parse_hash_lengths, read_line,
};
use crate::blocks::{FileHash, FileHashAlgorithm, MAX_STRONG_LEN, StrongHash};
use crate::error::{Error, Result};
use crate::format::Format;

pub(super) fn parse(reader: &mut dyn BufRead, source_name: &str) -> Result<ControlFile> {
    let err = Errors { source_name };
    let headers = Headers::read(reader, &err)?;
    let checked = headers.check(&err)?;
    let (rsums, strong) = read_block_table(reader, &checked, &err)?;
    let Headers {
        filename,
        z_filename,
        mtime,
        urls,
        z_urls,
        recompress,
        z_map,
        strong_hash,
        ..
    } = headers;
    Ok(ControlFile {
        version: checked.version,
        filename,
        z_filename,
        mtime,
        block_size: checked.block_size,
        length: checked.length,
        hash_lengths: checked.hash_lengths,
        urls,
        z_urls,
        strong_hash,
        file_hash: checked.file_hash,
        recompress,
        z_map,
        rsums,
        strong,
    })
}

/// Makes the errors of one control file, named by where it came from.
struct Errors<'a> {
    source_name: &'a str,
}

impl Errors<'_> {
    fn at(&self, line: usize, problem: impl Into<String>) -> Error {
        Error::control(Format::Zsync, self.source_name, Some(line), problem)
    }

    fn whole(&self, problem: impl Into<String>) -> Error {
        Error::control(Format::Zsync, self.source_name, None, problem)
    }
}

/// The header lines as read, before the checks that need all of them.
#[derive(Default)]
struct Headers {
    version: Option<String>,
    filename: Option<String>,
    z_filename: Option<String>,
    mtime: Option<String>,
    block_size: Option<u32>,
    length: Option<u64>,
    hash_lengths: Option<HashLengths>,
    strong_hash: StrongHash,
    file_hash: Option<FileHash>,
    sha1: Option<FileHash>,
    urls: Vec<String>,
    z_urls: Vec<String>,
    safe: String,
    recompress: Option<String>,
    z_map: Option<Vec<u8>>,
    /// Headers we do not know, with their lines: fatal unless `Safe` names them, and
    /// `Safe` may come later.
    unknown: Vec<(usize, String)>,
}

/// What the checks settle.
struct Checked {
    version: String,
    block_size: u32,
    length: u64,
    hash_lengths: HashLengths,
    file_hash: FileHash,
    blocks: u64,
}

impl Headers {
    /// Reads header lines up to the empty line that ends them.
    fn read(reader: &mut dyn BufRead, err: &Errors) -> Result<Headers> {
        let mut headers = Headers::default();
        let mut line_no = 0;
        loop {
            line_no += 1;
            let raw =
                read_line(reader).map_err(|e| err.at(line_no, format!("read failed: {e}")))?;
            let Some(raw) = raw else {
                return Err(err.at(line_no, "the file ends before the end of the headers"));
            };
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n', ' ']);
            if line.is_empty() {
                return Ok(headers);
            }
            let Some((name, value)) = line.split_once(": ") else {
                let shown: String = line.chars().take(60).collect();
                return Err(err.at(
                    line_no,
                    if line_no == 1 {
                        format!("this is not a zsync control file (it starts with \"{shown}\")")
                    } else {
                        format!("\"{shown}\" is not a \"Name: value\" header")
                    },
                ));
            };
            match headers.take(name, value, reader) {
                Ok(true) => {}
                Ok(false) => headers.unknown.push((line_no, name.to_string())),
                Err(problem) => return Err(err.at(line_no, problem)),
            }
        }
    }

    /// Takes one header line by its kind; false for a header we do not know.
    fn take(&mut self, name: &str, value: &str, reader: &mut dyn BufRead) -> Taken {
        Ok(self.take_version(name, value)?
            || self.take_identity(name, value)?
            || self.take_geometry(name, value)?
            || self.take_hashes(name, value)?
            || self.take_sources(name, value, reader)?)
    }

    /// `zsync` and `Min-Version`: whether we can read this file at all.
    fn take_version(&mut self, name: &str, value: &str) -> Taken {
        match name {
            "zsync" if value == "0.0.4" => {
                Err("zsync 0.0.4 control files are not supported".into())
            }
            "zsync" => {
                self.version = Some(value.to_string());
                Ok(true)
            }
            "Min-Version" if compare_versions(value, ZSYNC_VERSION).is_gt() => Err(format!(
                "needs a zsync {value} compatible client; we read {ZSYNC_VERSION}"
            )),
            "Min-Version" => Ok(true),
            _ => Ok(false),
        }
    }

    /// Names, times and the other descriptive headers, kept as written.
    fn take_identity(&mut self, name: &str, value: &str) -> Taken {
        let slot = match name {
            "Filename" => &mut self.filename,
            "Z-Filename" => &mut self.z_filename,
            "MTime" => &mut self.mtime,
            "Recompress" => &mut self.recompress,
            "Safe" => {
                self.safe = value.to_string();
                return Ok(true);
            }
            _ => return Ok(false),
        };
        *slot = Some(value.to_string());
        Ok(true)
    }

    /// `Blocksize`, `Length` and `Hash-Lengths`: the shape of the block table.
    fn take_geometry(&mut self, name: &str, value: &str) -> Taken {
        match name {
            "Blocksize" => {
                let bs: u32 = value
                    .parse()
                    .map_err(|_| format!("Blocksize \"{value}\" is not a number"))?;
                if !bs.is_power_of_two() || bs > MAX_BLOCK_SIZE {
                    return Err(format!("Blocksize {bs} is not a power of two up to 16 MiB"));
                }
                self.block_size = Some(bs);
            }
            "Length" => {
                let len = value
                    .parse()
                    .map_err(|_| format!("Length \"{value}\" is not a number"))?;
                self.length = Some(len);
            }
            "Hash-Lengths" => self.hash_lengths = Some(parse_hash_lengths(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `Strong-Hash-Algorithm`, `File-Hash` and `SHA-1`: how blocks and the file are checked.
    fn take_hashes(&mut self, name: &str, value: &str) -> Taken {
        match name {
            "Strong-Hash-Algorithm" => {
                self.strong_hash = StrongHash::from_name(value).ok_or_else(|| {
                    format!(
                        "Strong-Hash-Algorithm \"{value}\" is not one we can check ({})",
                        StrongHash::NAMES
                    )
                })?;
            }
            "File-Hash" => {
                self.file_hash =
                    Some(FileHash::parse(value).map_err(|p| format!("File-Hash: {p}"))?);
            }
            "SHA-1" => {
                self.sha1 = Some(
                    FileHash::from_hex(FileHashAlgorithm::Sha1, value)
                        .map_err(|p| format!("SHA-1: {p}"))?,
                );
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `URL`, `Z-URL` and `Z-Map2` (whose raw entries follow its line): where the data
    /// comes from.
    fn take_sources(&mut self, name: &str, value: &str, reader: &mut dyn BufRead) -> Taken {
        match name {
            "URL" => self.urls.push(value.to_string()),
            "Z-URL" => self.z_urls.push(value.to_string()),
            "Z-Map2" => self.z_map = Some(read_z_map(value, reader)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The checks that need every header: required ones present, sizes within bounds,
    /// unknown headers allowed by `Safe`.
    fn check(&self, err: &Errors) -> Result<Checked> {
        if let Some((line, name)) = self
            .unknown
            .iter()
            .find(|(_, name)| !self.safe.contains(name.as_str()))
        {
            return Err(err.at(
                *line,
                format!("unknown header \"{name}\": it needs a newer client"),
            ));
        }
        let version = self
            .version
            .clone()
            .ok_or_else(|| err.at(1, "no \"zsync:\" line: this is not a zsync control file"))?;
        let block_size = self
            .block_size
            .ok_or_else(|| err.whole("no Blocksize header"))?;
        let length = self.length.ok_or_else(|| err.whole("no Length header"))?;
        // A newer file may carry both; File-Hash is the one its maker chose.
        let file_hash = self
            .file_hash
            .clone()
            .or_else(|| self.sha1.clone())
            .ok_or_else(|| err.whole("no SHA-1 or File-Hash header"))?;
        // Without Hash-Lengths, whole digests are stored.
        let hash_lengths = self.hash_lengths.unwrap_or(HashLengths {
            checksum_bytes: self.strong_hash.digest_len() as u8,
            ..HashLengths::default()
        });
        if usize::from(hash_lengths.checksum_bytes) > self.strong_hash.digest_len() {
            return Err(err.whole(format!(
                "Hash-Lengths keeps {} bytes of each block's {}, which has only {}",
                hash_lengths.checksum_bytes,
                self.strong_hash.name(),
                self.strong_hash.digest_len()
            )));
        }
        if self.urls.is_empty() && self.z_urls.is_empty() {
            return Err(err.whole("no URL or Z-URL header: nowhere to fetch the file from"));
        }
        let blocks = length.div_ceil(u64::from(block_size));
        if blocks > MAX_BLOCKS {
            return Err(err.whole(format!("{blocks} blocks is more than this client handles")));
        }
        Ok(Checked {
            version,
            block_size,
            length,
            hash_lengths,
            file_hash,
            blocks,
        })
    }
}

/// Whether a header was one of a kind's (`Ok(false)`: not this kind's), or what is wrong
/// with its value.
type Taken = std::result::Result<bool, String>;

/// The `entries * 4` raw bytes a `Z-Map2: entries` line announces.
fn read_z_map(value: &str, reader: &mut dyn BufRead) -> std::result::Result<Vec<u8>, String> {
    let entries: u64 = value
        .parse()
        .map_err(|_| format!("Z-Map2 \"{value}\" is not a count"))?;
    if entries > MAX_BLOCKS * 4 {
        return Err(format!(
            "Z-Map2 claims {entries} entries, more than any real file has"
        ));
    }
    let mut map = Vec::with_capacity(entries.min(PREALLOC_BLOCKS) as usize * 4);
    let read = Read::take(&mut *reader, entries * 4).read_to_end(&mut map);
    if read.is_err() || map.len() as u64 != entries * 4 {
        return Err(format!("the file ends inside the {entries}-entry Z-Map2"));
    }
    Ok(map)
}

/// The block table: per block, the stored weak sum and strong sum. Grows with the bytes
/// actually read, so a short file claiming a huge table allocates little.
fn read_block_table(
    reader: &mut dyn BufRead,
    checked: &Checked,
    err: &Errors,
) -> Result<(Vec<u32>, Vec<u8>)> {
    let (blocks, hash_lengths) = (checked.blocks, checked.hash_lengths);
    let record = hash_lengths.record_len();
    let reserve = blocks.min(PREALLOC_BLOCKS) as usize;
    let mut rsums = Vec::with_capacity(reserve);
    let mut strong = Vec::with_capacity(reserve * usize::from(hash_lengths.checksum_bytes));
    let mut buf = [0u8; 4 + MAX_STRONG_LEN];
    for block in 0..blocks {
        reader.read_exact(&mut buf[..record]).map_err(|_| {
            err.whole(format!(
                "the block table ends after {block} of {blocks} blocks: the file is truncated"
            ))
        })?;
        let (weak, sum) = buf[..record].split_at(usize::from(hash_lengths.rsum_bytes));
        rsums.push(weak.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)));
        strong.extend_from_slice(sum);
    }
    // zsyncmake -z leaves a few stray bytes after the table: ignored on purpose.
    Ok((rsums, strong))
}
