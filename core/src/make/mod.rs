//! Writing control files (`deltadrop-cli make`): the same headers (but `MTime`, which is
//! the file's own) and a byte-identical block table as Debian's zsyncmake 0.6.2.
//!
//! Block sums of a chunk are computed in parallel while the whole-file SHA-1 runs beside
//! them, so making a control file is bound by the disk, not by one core.

mod gzip;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::blocks::Rsum;
use crate::blocks::md4x;
use crate::blocks::{FileHashAlgorithm, FileHasher};
use crate::control::{ControlFile, HashLengths, MakeHeader};
use crate::error::{Error, Result};
use crate::part::read_at;

/// Input read per step; a multiple of every block size up to 16 MiB.
const CHUNK: usize = 16 << 20;

/// zsyncmake's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MakeOptions {
    /// `-b`: a power of two; default 2048 below 100,000,000 bytes, 4096 above.
    pub block_size: Option<u32>,
    /// `-u`: URLs of the target (default: its file name, relative).
    pub urls: Vec<String>,
    /// `-f`: the `Filename` header (default: the input's name).
    pub filename: Option<String>,
    /// `-z`: also write `<input name>.gz` beside the control file and describe that
    /// (`Z-URL`, `Z-Map2`), for servers that should hold only the compressed file.
    pub compress: bool,
}

/// zsyncmake's block size choice.
pub fn default_block_size(length: u64) -> u32 {
    if length < 100_000_000 { 2048 } else { 4096 }
}

/// Weak and strong sums of each block of `data`, the last zero-padded to `bs`.
fn block_sums(data: &[u8], bs: usize) -> Vec<(u32, [u8; 16])> {
    let padded;
    let mut blocks: Vec<&[u8]> = data.chunks(bs).collect();
    if let Some(last) = blocks.last_mut()
        && last.len() < bs
    {
        padded = [*last, &vec![0; bs - last.len()]].concat();
        *last = &padded;
    }
    let strong = md4x::strong_sums(&blocks);
    blocks
        .iter()
        .zip(strong)
        .map(|(block, strong)| (Rsum::of_block(block).packed(), strong))
        .collect()
}

/// Computes the control file for `input`.
pub fn make(input: &Path, options: &MakeOptions) -> Result<ControlFile> {
    let file = std::fs::File::open(input).map_err(|e| Error::io("open", input, e))?;
    let meta = file.metadata().map_err(|e| Error::io("read", input, e))?;
    let length = meta.len();
    let block_size = options
        .block_size
        .unwrap_or_else(|| default_block_size(length));
    if !block_size.is_power_of_two() || !(16..=CHUNK as u32).contains(&block_size) {
        return Err(Error::Invalid(format!(
            "block size {block_size} is not a power of two between 16 and 16 MiB"
        )));
    }
    let bs = block_size as usize;
    let mut sha1 = FileHasher::new(FileHashAlgorithm::Sha1);
    let mut rsums = Vec::with_capacity(length.div_ceil(block_size.into()) as usize);
    let mut strong = Vec::with_capacity(rsums.capacity());
    let mut buf = vec![0u8; CHUNK];
    let mut offset = 0;
    loop {
        let got = read_at(&file, &mut buf, offset).map_err(|e| Error::io("read", input, e))?;
        offset += got as u64;
        if got == 0 {
            break;
        }
        let data = &buf[..got];
        let (_, sums): ((), Vec<(u32, [u8; 16])>) = rayon::join(
            || sha1.update(data),
            || {
                data.par_chunks(bs * md4x::LANES)
                    .flat_map_iter(|blocks| block_sums(blocks, bs))
                    .collect()
            },
        );
        for (r, s) in sums {
            rsums.push(r);
            strong.push(s);
        }
        if got < buf.len() {
            break;
        }
    }
    let name = || input.file_name().map(|n| n.to_string_lossy().into_owned());
    let urls = if options.urls.is_empty() {
        name().into_iter().collect()
    } else {
        options.urls.clone()
    };
    let mtime = meta.modified().ok().map(|t| {
        chrono::DateTime::<chrono::Utc>::from(t)
            .format("%a, %d %b %Y %H:%M:%S %z")
            .to_string()
    });
    let header = MakeHeader {
        filename: options.filename.clone().or_else(name),
        mtime,
        block_size,
        length,
        hash_lengths: HashLengths::for_file(length, block_size),
        urls,
        file_hash: sha1.finish(),
    };
    Ok(ControlFile::from_sums(header, &rsums, &strong))
}

/// Makes the control file for `input` and writes it to `output` (default `<input>.zsync`
/// in the current directory, as zsyncmake does). With `compress`, `<input name>.gz` is
/// written beside it first. Returns where the control file went.
pub fn write_control_file(
    input: &Path,
    output: Option<&Path>,
    options: &MakeOptions,
) -> Result<(PathBuf, ControlFile)> {
    let output = match output {
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(suffixed_name(input, ".zsync")),
    };
    let cf = if options.compress {
        make_compressed(input, &output, options)?
    } else {
        make(input, options)?
    };
    let mut bytes = Vec::new();
    cf.write(&mut bytes)
        .map_err(|e| Error::io("write", &output, e))?;
    crate::part::write_atomically(&output, &bytes)?;
    Ok((output, cf))
}

fn suffixed_name(input: &Path, suffix: &str) -> std::ffi::OsString {
    let mut name = input.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    name
}

/// `make -z`: the sums of the uncompressed input and, at the same time, its `.gz` beside
/// `output` with the map into it. As with zsyncmake, the control file names only the
/// compressed URL (`-u` gives it; default: the `.gz`'s name, relative).
fn make_compressed(input: &Path, output: &Path, options: &MakeOptions) -> Result<ControlFile> {
    let gz_name = suffixed_name(input, ".gz");
    let gz = output.with_file_name(&gz_name);
    let file = std::fs::File::open(input).map_err(|e| Error::io("open", input, e))?;
    let meta = file.metadata().map_err(|e| Error::io("read", input, e))?;
    let block_size = options
        .block_size
        .unwrap_or_else(|| default_block_size(meta.len()));
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(0));
    let options = MakeOptions {
        block_size: Some(block_size),
        ..options.clone()
    };
    let (cf, map) = rayon::join(
        || make(input, &options),
        || crate::make::gzip::compress(&file, input, meta.len(), mtime, block_size, &gz),
    );
    let mut cf = cf?;
    cf.z_map = Some(map?);
    cf.z_urls = if options.urls.is_empty() {
        vec![gz_name.to_string_lossy().into_owned()]
    } else {
        options.urls.clone()
    };
    cf.urls.clear();
    Ok(cf)
}
