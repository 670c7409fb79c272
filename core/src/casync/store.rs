//! The chunk store (`.castr`): one zstd-compressed file per chunk, named after its id.
//!
//! casync keeps chunk `<id>` at `<store>/<first 4 hex digits of id>/<id>.cacnk`
//! (`ca_chunk_id_format_path`, `ca_compressed_chunk_suffix`), and without `--store`
//! looks for the store next to the index, as `default.castr` (`set_default_store`). A
//! store may be a folder or an HTTP(S) URL; either way its files are untrusted:
//! [`unpack_chunk`] decompresses at most the chunk's length (which the index bounds by its
//! maximum chunk size) and checks the bytes against the id before anyone uses them.

use std::io::Read;
use std::path::{Path, PathBuf};

use url::Url;

use zstd::zstd_safe::{self, DCtx, DParameter, InBuffer, OutBuffer};

use super::id::{ChunkDigest, ChunkId};
use super::index::Chunk;
use crate::error::{Error, Result};

/// The store casync uses when none is given: in the index's folder.
pub(crate) const DEFAULT_STORE: &str = "default.castr";
/// The suffix of a compressed chunk file.
pub(crate) const CHUNK_SUFFIX: &str = ".cacnk";
/// How a zstd frame starts.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A chunk store: a URL (`http`/`https`) or a local folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Store {
    /// A store on a web server; the URL always ends with `/`.
    Remote(Url),
    /// A store in a local folder.
    Local(PathBuf),
}

/// The chunk's file inside a store: `abcd/abcd….cacnk`.
pub(crate) fn chunk_file_name(id: &ChunkId) -> String {
    let hex = id.to_hex();
    format!("{}/{hex}{CHUNK_SUFFIX}", &hex[..4])
}

/// `location` as a URL if it is an HTTP(S) one; other strings are paths (`C:\…` too).
fn web_url(location: &str) -> Option<Url> {
    Url::parse(location)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
}

/// The path a `file:` URL names.
fn file_url_path(location: &str) -> Option<PathBuf> {
    let url = Url::parse(location)
        .ok()
        .filter(|url| url.scheme() == "file")?;
    url.to_file_path().ok()
}

impl Store {
    /// The store at `location`, an HTTP(S) or `file:` URL or a folder.
    pub(crate) fn new(location: &str) -> Store {
        if let Some(path) = file_url_path(location) {
            return Store::Local(path);
        }
        match web_url(location) {
            Some(mut url) => {
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Store::Remote(url)
            }
            None => Store::Local(PathBuf::from(location)),
        }
    }

    /// casync's default for the index at `index` (URL or path): `default.castr` beside it.
    pub(crate) fn default_for_index(index: &str) -> Store {
        match web_url(index) {
            Some(url) => Store::Remote(url.join(&format!("{DEFAULT_STORE}/")).expect("relative")),
            None => {
                let path = file_url_path(index).unwrap_or_else(|| PathBuf::from(index));
                let folder = path.parent().unwrap_or(Path::new(""));
                Store::Local(folder.join(DEFAULT_STORE))
            }
        }
    }

    /// Where the store is, as a URL: a folder's as a `file:` URL.
    pub(crate) fn url(&self) -> Result<Url> {
        match self {
            Store::Remote(url) => Ok(url.clone()),
            Store::Local(folder) => file_url(&folder.join("")),
        }
    }

    /// Where the chunk named `id` is, as a URL: in a local store, a `file:` URL, so that
    /// a local store is read through the same transport as a remote one.
    pub(crate) fn chunk_url(&self, id: &ChunkId) -> Result<Url> {
        let name = chunk_file_name(id);
        match self {
            Store::Remote(url) => Ok(url.join(&name).expect("hex and '/'")),
            Store::Local(folder) => file_url(&folder.join(name)),
        }
    }
}

/// The `file:` URL of `path`, made absolute.
fn file_url(path: &Path) -> Result<Url> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io("find", path, e))?;
    Url::from_file_path(&absolute)
        .map_err(|()| Error::Invalid(format!("{} cannot be named by a URL", path.display())))
}

/// The most a chunk of `len` bytes can take compressed: zstd's own bound
/// (`ZSTD_compressBound`) plus room for framing by any writer (casync streams its frames).
fn max_compressed_len(len: u64) -> u64 {
    let bound = len + (len >> 8) + (128u64 << 10).saturating_sub(len) / 2048;
    bound + 4096
}

/// Why a chunk file did not unpack.
#[derive(Debug)]
pub(crate) enum UnpackError {
    /// Reading it failed: for a download, it broke off, and asking again may help.
    Read(std::io::Error),
    /// Its bytes are not the chunk: the store's fault, which asking again would not mend.
    Bad(Error),
}

/// Decompresses a `.cacnk` that should hold `chunk`, read from `file` as it comes, and
/// checks it against the chunk's id; `source` (URL or path) names it in errors. Never
/// produces more than `chunk.len` bytes, however the data claims otherwise, nor reads
/// more than a chunk that long can take compressed.
///
/// Memory is the chunk's length and a few hundred KiB whatever the file holds: the
/// compressed file is never held whole, and zstd decodes straight into the chunk's buffer,
/// where its window then lies, instead of into a window of its own.
pub(crate) fn unpack_chunk(
    file: impl Read,
    chunk: &Chunk,
    digest: ChunkDigest,
    source: &str,
) -> std::result::Result<Vec<u8>, UnpackError> {
    let bad = |problem: String| UnpackError::Bad(bad_data(source, chunk, problem));
    let mut file = file.take(max_compressed_len(chunk.len) + 1);
    let mut input = vec![0; DCtx::in_size()];
    let sniffed = read_at_least(&mut file, &mut input, SNIFF_LEN).map_err(UnpackError::Read)?;
    if !input[..sniffed].starts_with(&ZSTD_MAGIC) {
        return Err(bad(not_zstd(&input[..sniffed])));
    }
    let data = decompress(&mut file, &mut input, sniffed, chunk, source)?;
    if data.len() as u64 != chunk.len {
        return Err(bad(format!(
            "decompresses to {}, not the index's {} bytes",
            data.len(),
            chunk.len
        )));
    }
    let actual = digest.id_of(&data);
    if actual != chunk.id {
        return Err(bad(format!(
            "holds other data (its bytes hash to {actual})"
        )));
    }
    Ok(data)
}

/// Enough of a file's start to tell zstd, xz and gzip apart.
const SNIFF_LEN: usize = 6;

/// Reads into `buf` until it holds at least `want` bytes or the file ends; how many it
/// holds.
fn read_at_least(file: &mut impl Read, buf: &mut [u8], want: usize) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < want {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Why zstd refused a chunk file, in words.
fn zstd_problem(code: zstd_safe::ErrorCode, len: u64) -> String {
    use zstd_safe::zstd_sys::ZSTD_ErrorCode::{
        ZSTD_error_dstSize_tooSmall, ZSTD_error_noForwardProgress_destFull,
    };
    // zstd's error codes are its error numbers negated.
    let is = |error| code == (error as usize).wrapping_neg();
    if is(ZSTD_error_dstSize_tooSmall) || is(ZSTD_error_noForwardProgress_destFull) {
        format!("decompresses to more than the index's {len} bytes")
    } else {
        format!(
            "is not valid zstd data ({})",
            zstd_safe::get_error_name(code)
        )
    }
}

/// The largest window (log2 bytes) a chunk of `len` bytes may ask the decoder for. A
/// frame declares its window: casync's frames (level 3, size not given) declare 2 MiB
/// whatever the chunk, zstd levels up to 19 at most 8 MiB, and a frame that gives its size
/// needs no more than the chunk. The window lies in the chunk's own buffer, so this costs
/// no memory; a frame asking for more than that is not a casync chunk.
fn window_log_max(len: u64) -> u32 {
    let chunk_log = 64 - len.saturating_sub(1).leading_zeros();
    chunk_log.clamp(23, 27)
}

/// Streams `file`, of which `input[..filled]` is read already, through zstd into a
/// buffer of exactly the chunk's length, reading no more than such a chunk can take
/// compressed.
fn decompress(
    file: &mut impl Read,
    input: &mut [u8],
    mut filled: usize,
    chunk: &Chunk,
    source: &str,
) -> std::result::Result<Vec<u8>, UnpackError> {
    let bad = |problem: String| UnpackError::Bad(bad_data(source, chunk, problem));
    let limit = max_compressed_len(chunk.len);
    let mut data = Vec::with_capacity(usize::try_from(chunk.len).expect("a chunk fits in memory"));
    let mut decoder = DCtx::create();
    let settings = [
        DParameter::WindowLogMax(window_log_max(chunk.len)),
        // zstd writes into `data` and nowhere else: no window buffer of its own.
        DParameter::StableOutBuffer(true),
    ];
    for setting in settings {
        decoder
            .set_parameter(setting)
            .expect("zstd takes these parameters");
    }
    let mut output = OutBuffer::around(&mut data);
    let mut compressed_len = 0u64;
    let mut inside_a_frame = false;
    while filled > 0 {
        compressed_len += filled as u64;
        if compressed_len > limit {
            return Err(bad(format!("is larger than {limit} bytes")));
        }
        let mut piece = InBuffer::around(&input[..filled]);
        while piece.pos() < filled {
            let hint = decoder
                .decompress_stream(&mut output, &mut piece)
                .map_err(|code| bad(zstd_problem(code, chunk.len)))?;
            // 0 when a frame just ended; another may follow.
            inside_a_frame = hint != 0;
        }
        filled = read_at_least(file, input, 1).map_err(UnpackError::Read)?;
    }
    if inside_a_frame {
        return Err(bad(
            "is not valid zstd data (it ends in the middle of a frame)".into(),
        ));
    }
    Ok(data)
}

/// [`unpack_chunk`] of a file in memory, which cannot fail to be read.
#[cfg(test)]
pub(crate) fn unpack_in_memory(
    packed: &[u8],
    chunk: &Chunk,
    digest: ChunkDigest,
    source: &str,
) -> Result<Vec<u8>> {
    unpack_chunk(packed, chunk, digest, source).map_err(|e| match e {
        UnpackError::Bad(error) => error,
        UnpackError::Read(e) => unreachable!("reading memory failed: {e}"),
    })
}

/// What a chunk file that is no zstd frame seems to be.
fn not_zstd(data: &[u8]) -> String {
    let what = if data.starts_with(b"\xfd7zXZ\0") {
        "xz"
    } else if data.starts_with(&[0x1f, 0x8b]) {
        "gzip"
    } else {
        return "is not zstd-compressed".into();
    };
    format!("is {what}-compressed; only zstd stores (casync's default) are supported")
}

fn bad_data(source: &str, chunk: &Chunk, problem: String) -> Error {
    Error::BadData {
        url: crate::error::shown_url(source),
        problem: format!("chunk {} {problem}", chunk.id),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::casync::index::Index;
    use crate::casync::write_casync_index;
    use crate::test_data::{download_from_store, noise};

    fn chunk_of(data: &[u8]) -> Chunk {
        Chunk {
            offset: 0,
            len: data.len() as u64,
            id: ChunkDigest::Sha512_256.id_of(data),
        }
    }

    #[test]
    fn chunks_are_where_casync_puts_them() {
        let id = ChunkId([0xab; 32]);
        let name = format!("abab/{}.cacnk", "ab".repeat(32));
        assert_eq!(chunk_file_name(&id), name);
        let remote = Store::new("https://h.example/x/default.castr");
        assert_eq!(
            remote.chunk_url(&id).unwrap().as_str(),
            format!("https://h.example/x/default.castr/{name}")
        );
        assert_eq!(
            Store::default_for_index("https://h.example/x/img.caibx?v=2"),
            Store::new("https://h.example/x/default.castr/")
        );
        assert_eq!(
            Store::default_for_index("dir/img.caibx"),
            Store::Local(PathBuf::from("dir/default.castr"))
        );
        assert_eq!(
            Store::default_for_index("img.caibx"),
            Store::Local(PathBuf::from("default.castr"))
        );
        assert_eq!(Store::new("file:///srv/st"), Store::new("/srv/st"));
        assert_eq!(
            Store::default_for_index("file:///srv/x.caibx"),
            Store::new("/srv/default.castr")
        );
        // A local store is read where it is, through `file:` URLs.
        let folder = tempfile::tempdir().unwrap();
        let local = Store::new(&folder.path().display().to_string());
        let url = local.chunk_url(&id).unwrap();
        assert_eq!(url.scheme(), "file");
        assert_eq!(url.to_file_path().unwrap(), folder.path().join(&name));
    }

    #[test]
    fn a_good_chunk_unpacks() {
        let data = b"hello casync ".repeat(1000);
        let packed = zstd::bulk::compress(&data, 3).unwrap();
        let chunk = chunk_of(&data);
        assert_eq!(
            unpack_in_memory(&packed, &chunk, ChunkDigest::Sha512_256, "s").unwrap(),
            data
        );
    }

    #[test]
    fn bad_chunks_are_refused_with_a_reason() {
        let data = b"hello casync ".repeat(1000);
        let packed = zstd::bulk::compress(&data, 3).unwrap();
        let chunk = chunk_of(&data);
        let err = |packed: &[u8], chunk: &Chunk| {
            unpack_in_memory(
                packed,
                chunk,
                ChunkDigest::Sha512_256,
                "https://u:p@h/s/x.cacnk",
            )
            .unwrap_err()
            .to_string()
        };
        let shorter = Chunk {
            len: chunk.len - 1,
            ..chunk
        };
        assert!(
            err(&packed, &shorter).contains("decompresses to more than the index's 12999 bytes")
        );
        let longer = Chunk {
            len: chunk.len + 1,
            ..chunk
        };
        assert!(err(&packed, &longer).contains("decompresses to 13000, not the index's 13001"));
        let other = Chunk {
            id: ChunkId([0; 32]),
            ..chunk
        };
        assert!(err(&packed, &other).contains("holds other data"));
        assert!(err(&packed[..packed.len() - 3], &chunk).contains("not valid zstd"));
        assert!(err(b"\xfd7zXZ\0....", &chunk).contains("xz-compressed"));
        assert!(err(&data, &chunk).contains("is not zstd-compressed"));
        assert!(err(&data, &chunk).starts_with("https://h/s/x.cacnk sent data"));
    }

    #[test]
    fn local_stores_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (file, index, store) = (
            dir.path().join("blob"),
            dir.path().join("blob.caibx"),
            dir.path().join("store.castr"),
        );
        let data = noise(300_000, 7);
        std::fs::write(&file, &data).unwrap();
        write_casync_index(&file, &index, &store).unwrap();
        let output = |n: u32| dir.path().join(format!("out{n}"));
        assert!(download_from_store(&index, &store, &output(1)).unwrap() == data);

        let table = Index::parse(&std::fs::read(&index).unwrap(), "blob.caibx").unwrap();
        let chunk = table.chunks().nth(1).unwrap();
        let path = store.join(chunk_file_name(&chunk.id));
        let huge = max_compressed_len(chunk.len) as usize;
        std::fs::write(&path, [&ZSTD_MAGIC[..], &vec![0; huge]].concat()).unwrap();
        let err = download_from_store(&index, &store, &output(2)).unwrap_err();
        assert!(err.to_string().contains("is larger than"), "{err}");

        std::fs::remove_file(&path).unwrap();
        let err = download_from_store(&index, &store, &output(3)).unwrap_err();
        let named = format!("could not read {}", path.display());
        assert!(err.to_string().starts_with(&named), "{err}");
    }

    #[test]
    fn a_frame_asking_for_a_huge_window_is_refused() {
        let data = b"small".repeat(10);
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(26).unwrap();
        encoder.write_all(&data).unwrap();
        let packed = encoder.finish().unwrap();
        let err = unpack_in_memory(&packed, &chunk_of(&data), ChunkDigest::Sha512_256, "s");
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("not valid zstd") && err.contains("memory"),
            "{err}"
        );
        assert_eq!(window_log_max(1), 23);
        assert_eq!(window_log_max(16 << 20), 24);
        assert_eq!(window_log_max((16 << 20) + 1), 25);
        assert_eq!(window_log_max(128 << 20), 27);
    }

    #[test]
    fn a_bomb_stops_at_the_chunk_length() {
        let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 3).unwrap();
        let chunk = chunk_of(&[0u8; 100]);
        let err = unpack_in_memory(&bomb, &chunk, ChunkDigest::Sha512_256, "s").unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }

    /// Gives what it holds a few bytes at a time, as a slow server does.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_chunk_is_unpacked_as_it_arrives() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 / 5) as u8).collect();
        // Two frames, one giving its size and one not, as different writers do.
        let mut packed = zstd::bulk::compress(&data[..100_000], 3).unwrap();
        packed.extend(zstd::stream::encode_all(&data[100_000..], 3).unwrap());
        let unpacked = unpack_chunk(
            Trickle(&packed),
            &chunk_of(&data),
            ChunkDigest::Sha512_256,
            "s",
        )
        .unwrap();
        assert!(unpacked == data);
    }

    #[test]
    fn a_download_that_breaks_off_is_a_read_error() {
        let data = b"hello casync ".repeat(10_000);
        let packed = zstd::bulk::compress(&data, 3).unwrap();
        let broken = (&packed[..packed.len() / 2]).chain(Failing);
        let chunk = chunk_of(&data);
        let result = unpack_chunk(broken, &chunk, ChunkDigest::Sha512_256, "s");
        assert!(
            matches!(result, Err(UnpackError::Read(ref e)) if e.to_string() == "reset"),
            "{result:?}"
        );
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            ))
        }
    }

    #[test]
    fn an_endless_stream_stops_at_what_the_chunk_can_take() {
        // A frame header, then empty blocks (three zero bytes each) without end: valid
        // zstd that never finishes.
        let endless = (&ZSTD_MAGIC[..]).chain(std::io::repeat(0));
        let chunk = chunk_of(b"a chunk");
        let result = unpack_chunk(endless, &chunk, ChunkDigest::Sha512_256, "s");
        let Err(UnpackError::Bad(err)) = result else {
            panic!("{result:?}")
        };
        let limit = max_compressed_len(chunk.len);
        assert!(
            err.to_string()
                .contains(&format!("is larger than {limit} bytes")),
            "{err}"
        );
    }
}
