//! The chunk store (`.castr`): one zstd-compressed file per chunk, named after its id.
//!
//! casync keeps chunk `<id>` at `<store>/<first 4 hex digits of id>/<id>.cacnk`
//! (`ca_chunk_id_format_path`, `ca_compressed_chunk_suffix`), and without `--store`
//! looks for the store next to the index, as `default.castr` (`set_default_store`). A
//! store may be a folder or an HTTP(S) URL; either way its files are untrusted:
//! [`unpack_chunk`] decompresses at most the chunk's length (which the index bounds by its
//! maximum chunk size) and checks the bytes against the id before anyone uses them.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use url::Url;

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

/// Where one chunk file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkLocation {
    /// On a web server.
    Url(Url),
    /// In a local folder.
    Path(PathBuf),
}

impl fmt::Display for ChunkLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkLocation::Url(url) => f.write_str(&crate::error::shown_url(url.as_str())),
            ChunkLocation::Path(path) => write!(f, "{}", path.display()),
        }
    }
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

    /// Where the chunk named `id` is in this store.
    pub(crate) fn locate(&self, id: &ChunkId) -> ChunkLocation {
        let name = chunk_file_name(id);
        match self {
            Store::Remote(url) => ChunkLocation::Url(url.join(&name).expect("hex and '/'")),
            Store::Local(folder) => ChunkLocation::Path(folder.join(name)),
        }
    }

    /// Reads, unpacks and checks `chunk` from a local store; `None` for a remote one.
    pub(crate) fn read_local(&self, chunk: &Chunk, digest: ChunkDigest) -> Option<Result<Vec<u8>>> {
        let ChunkLocation::Path(path) = self.locate(&chunk.id) else {
            return None;
        };
        Some(read_chunk_file(&path, chunk, digest))
    }
}

fn read_chunk_file(path: &Path, chunk: &Chunk, digest: ChunkDigest) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let limit = max_compressed_len(chunk.len);
    let mut compressed = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut compressed)
        .map_err(|e| Error::io("read", path, e))?;
    let source = path.display().to_string();
    if compressed.len() as u64 > limit {
        return Err(bad_data(
            &source,
            chunk,
            format!("is larger than {limit} bytes"),
        ));
    }
    unpack_chunk(&compressed, chunk, digest, &source)
}

/// The most a chunk of `len` bytes can take compressed: zstd's own bound
/// (`ZSTD_compressBound`) plus room for framing by any writer (casync streams its frames).
pub(crate) fn max_compressed_len(len: u64) -> u64 {
    let bound = len + (len >> 8) + (128u64 << 10).saturating_sub(len) / 2048;
    bound + 4096
}

/// Decompresses a `.cacnk` that should hold `chunk` and checks it against the chunk's
/// id; `source` (URL or path) names it in errors. Never produces more than `chunk.len`
/// bytes, however the data claims otherwise.
pub(crate) fn unpack_chunk(
    compressed: &[u8],
    chunk: &Chunk,
    digest: ChunkDigest,
    source: &str,
) -> Result<Vec<u8>> {
    let bad = |problem: String| bad_data(source, chunk, problem);
    if !compressed.starts_with(&ZSTD_MAGIC) {
        return Err(bad(not_zstd(compressed)));
    }
    let data = decompress(compressed, chunk.len)
        .map_err(|e| bad(format!("is not valid zstd data ({e})")))?;
    if data.len() as u64 != chunk.len {
        let size = if data.len() as u64 > chunk.len {
            "more than".to_string()
        } else {
            format!("{}, not", data.len())
        };
        return Err(bad(format!(
            "decompresses to {size} the index's {} bytes",
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

/// The largest window (log2 bytes) a chunk of `len` bytes may ask the decoder for. A
/// frame declares its window and the decoder allocates it: casync's frames (level 3, size
/// not given) declare 2 MiB whatever the chunk, zstd levels up to 19 at most 8 MiB, and a
/// frame that gives its size needs no more than the chunk. Without this cap a hostile
/// chunk file of a few bytes could make us allocate 128 MiB (zstd's default limit).
fn window_log_max(len: u64) -> u32 {
    let chunk_log = 64 - len.saturating_sub(1).leading_zeros();
    chunk_log.clamp(23, 27)
}

/// Up to `len + 1` bytes of the zstd stream's output (one more shows it is too long);
/// memory grows with the output, not with any size the frame claims.
fn decompress(compressed: &[u8], len: u64) -> std::io::Result<Vec<u8>> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(compressed)?;
    decoder.window_log_max(window_log_max(len))?;
    let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
    decoder.take(len + 1).read_to_end(&mut out)?;
    Ok(out)
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
            remote.locate(&id).to_string(),
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
        assert_eq!(
            Store::new("/srv/st").locate(&id),
            ChunkLocation::Path(PathBuf::from("/srv/st").join(&name))
        );
    }

    #[test]
    fn a_good_chunk_unpacks() {
        let data = b"hello casync ".repeat(1000);
        let packed = zstd::bulk::compress(&data, 3).unwrap();
        let chunk = chunk_of(&data);
        assert_eq!(
            unpack_chunk(&packed, &chunk, ChunkDigest::Sha512_256, "s").unwrap(),
            data
        );
    }

    #[test]
    fn bad_chunks_are_refused_with_a_reason() {
        let data = b"hello casync ".repeat(1000);
        let packed = zstd::bulk::compress(&data, 3).unwrap();
        let chunk = chunk_of(&data);
        let err = |packed: &[u8], chunk: &Chunk| {
            unpack_chunk(
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
        let store = Store::new(&dir.path().display().to_string());
        let data = b"a chunk".repeat(300);
        let chunk = chunk_of(&data);
        let ChunkLocation::Path(path) = store.locate(&chunk.id) else {
            panic!("a folder is a local store")
        };
        let digest = ChunkDigest::Sha512_256;
        let missing = store.read_local(&chunk, digest).unwrap().unwrap_err();
        assert!(
            missing.to_string().starts_with("could not open "),
            "{missing}"
        );
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, zstd::bulk::compress(&data, 3).unwrap()).unwrap();
        assert_eq!(store.read_local(&chunk, digest).unwrap().unwrap(), data);
        let huge = max_compressed_len(chunk.len) + 1;
        std::fs::write(&path, vec![0x28; huge as usize]).unwrap();
        let err = store.read_local(&chunk, digest).unwrap().unwrap_err();
        assert!(err.to_string().contains("is larger than"), "{err}");
        assert!(
            Store::new("https://h/s")
                .read_local(&chunk, digest)
                .is_none()
        );
    }

    #[test]
    fn a_frame_asking_for_a_huge_window_is_refused() {
        let data = b"small".repeat(10);
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(26).unwrap();
        encoder.write_all(&data).unwrap();
        let packed = encoder.finish().unwrap();
        let err = unpack_chunk(&packed, &chunk_of(&data), ChunkDigest::Sha512_256, "s");
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
        let err = unpack_chunk(&bomb, &chunk, ChunkDigest::Sha512_256, "s").unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }
}
