//! casync's content-defined chunker, cut for cut (`cachunker.c`), and the stream drivers
//! that cut a file of any size with bounded memory and name its chunks.
//!
//! A buzhash over the last 48 bytes rolls along the data; a chunk ends after the byte at
//! which `hash % d == d - 1`, where the discriminator `d` follows from the average chunk
//! size, or once the chunk reaches the maximum size. The first `min - 48` bytes of a
//! chunk are not hashed at all, so no chunk but the last is shorter than `min` (or 48).
//! Borders must match casync's to the byte, or a seed shares no chunk with an index:
//! every rule below, quirks included, is casync's, and the peer tests hold us to it.
//!
//! Speed matters (files are many GiB): per byte, two table lookups, a rotate and the
//! border test, done as a multiply instead of a division; the window is the data itself
//! except for the first 48 bytes of each buffer, so there is no ring buffer to maintain.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use super::id::ChunkDigest;
use super::index::Chunk;
use crate::error::{Error, Result};

/// The rolling hash's window (`CA_CHUNKER_WINDOW_SIZE`).
const WINDOW: usize = 48;
/// casync refuses chunks larger than this (`CA_CHUNK_SIZE_LIMIT_MAX`), and so do we.
pub(crate) const CHUNK_SIZE_LIMIT: u64 = 128 << 20;
/// How much of the stream the drivers read at a time: small enough to stay in cache
/// between the chunker's pass and the hash's.
const BUF_LEN: usize = 256 << 10;

/// The chunker's parameters, as an index records them: always `1 <= min <= avg <= max <=
/// 128 MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkSizes {
    min: u64,
    avg: u64,
    max: u64,
}

impl ChunkSizes {
    /// casync's default (`casync make` without `--chunk-size`): 16 KiB / 64 KiB / 256 KiB.
    pub(crate) const DEFAULT: ChunkSizes = ChunkSizes {
        min: 16 << 10,
        avg: 64 << 10,
        max: 256 << 10,
    };

    /// Checks the sizes the way casync's index reader does; the error is a phrase.
    pub(crate) fn new(min: u64, avg: u64, max: u64) -> std::result::Result<Self, String> {
        if [min, avg, max]
            .iter()
            .any(|&s| s == 0 || s > CHUNK_SIZE_LIMIT)
        {
            return Err(format!(
                "{min}/{avg}/{max} (minimum/average/maximum) must each be 1 byte to 128 MiB"
            ));
        }
        if !(min <= avg && avg <= max) {
            return Err(format!(
                "{min}/{avg}/{max} (minimum/average/maximum) are not in order"
            ));
        }
        Ok(ChunkSizes { min, avg, max })
    }

    /// The smallest chunk but the last.
    pub(crate) fn min(self) -> u64 {
        self.min
    }

    /// The average chunk size asked for (chunks come out about that, not exactly).
    pub(crate) fn avg(self) -> u64 {
        self.avg
    }

    /// The largest chunk.
    pub(crate) fn max(self) -> u64 {
        self.max
    }

    /// `d` in the cut test `hash % d == d - 1` (`CA_CHUNKER_DISCRIMINATOR_FROM_AVG`,
    /// clamped to `min..=max` as `ca_chunker_set_size` does).
    pub(crate) fn discriminator(self) -> u64 {
        let avg = self.avg as f64;
        let raw = avg / (-1.42888852e-7 * avg + 1.33237515);
        // C converts that double to size_t. Above an average of about 9.3 MB it is
        // negative, which x86-64 (casync's main platform, Debian's amd64 build) turns into
        // a huge number that the clamp makes `max`; `as i64 as u64` does the same here,
        // where a plain `as u64` would saturate to 0 and give `min`.
        (raw as i64 as u64).clamp(self.min, self.max)
    }
}

/// casync's buzhash table (`buzhash_table` in `cachunker.c`): data, not code, and it must
/// match to the bit.
static TABLE: [u32; 256] = [
    0x458be752, 0xc10748cc, 0xfbbcdbb8, 0x6ded5b68, 0xb10a82b5, 0x20d75648, 0xdfc5665f, 0xa8428801,
    0x7ebf5191, 0x841135c7, 0x65cc53b3, 0x280a597c, 0x16f60255, 0xc78cbc3e, 0x294415f5, 0xb938d494,
    0xec85c4e6, 0xb7d33edc, 0xe549b544, 0xfdeda5aa, 0x882bf287, 0x3116737c, 0x05569956, 0xe8cc1f68,
    0x0806ac5e, 0x22a14443, 0x15297e10, 0x50d090e7, 0x4ba60f6f, 0xefd9f1a7, 0x5c5c885c, 0x82482f93,
    0x9bfd7c64, 0x0b3e7276, 0xf2688e77, 0x8fad8abc, 0xb0509568, 0xf1ada29f, 0xa53efdfe, 0xcb2b1d00,
    0xf2a9e986, 0x6463432b, 0x95094051, 0x5a223ad2, 0x9be8401b, 0x61e579cb, 0x1a556a14, 0x5840fdc2,
    0x9261ddf6, 0xcde002bb, 0x52432bb0, 0xbf17373e, 0x7b7c222f, 0x2955ed16, 0x9f10ca59, 0xe840c4c9,
    0xccabd806, 0x14543f34, 0x1462417a, 0x0d4a1f9c, 0x087ed925, 0xd7f8f24c, 0x7338c425, 0xcf86c8f5,
    0xb19165cd, 0x9891c393, 0x325384ac, 0x0308459d, 0x86141d7e, 0xc922116a, 0xe2ffa6b6, 0x53f52aed,
    0x2cd86197, 0xf5b9f498, 0xbf319c8f, 0xe0411fae, 0x977eb18c, 0xd8770976, 0x9833466a, 0xc674df7f,
    0x8c297d45, 0x8ca48d26, 0xc49ed8e2, 0x7344f874, 0x556f79c7, 0x6b25eaed, 0xa03e2b42, 0xf68f66a4,
    0x8e8b09a2, 0xf2e0e62a, 0x0d3a9806, 0x9729e493, 0x8c72b0fc, 0x160b94f6, 0x450e4d3d, 0x7a320e85,
    0xbef8f0e1, 0x21d73653, 0x4e3d977a, 0x1e7b3929, 0x1cc6c719, 0xbe478d53, 0x8d752809, 0xe6d8c2c6,
    0x275f0892, 0xc8acc273, 0x4cc21580, 0xecc4a617, 0xf5f7be70, 0xe795248a, 0x375a2fe9, 0x425570b6,
    0x8898dcf8, 0xdc2d97c4, 0x0106114b, 0x364dc22f, 0x1e0cad1f, 0xbe63803c, 0x5f69fac2, 0x4d5afa6f,
    0x1bc0dfb5, 0xfb273589, 0x0ea47f7b, 0x3c1c2b50, 0x21b2a932, 0x6b1223fd, 0x2fe706a8, 0xf9bd6ce2,
    0xa268e64e, 0xe987f486, 0x3eacf563, 0x1ca2018c, 0x65e18228, 0x2207360a, 0x57cf1715, 0x34c37d2b,
    0x1f8f3cde, 0x93b657cf, 0x31a019fd, 0xe69eb729, 0x8bca7b9b, 0x4c9d5bed, 0x277ebeaf, 0xe0d8f8ae,
    0xd150821c, 0x31381871, 0xafc3f1b0, 0x927db328, 0xe95effac, 0x305a47bd, 0x426ba35b, 0x1233af3f,
    0x686a5b83, 0x50e072e5, 0xd9d3bb2a, 0x8befc475, 0x487f0de6, 0xc88dff89, 0xbd664d5e, 0x971b5d18,
    0x63b14847, 0xd7d3c1ce, 0x7f583cf3, 0x72cbcb09, 0xc0d0a81c, 0x7fa3429b, 0xe9158a1b, 0x225ea19a,
    0xd8ca9ea3, 0xc763b282, 0xbb0c6341, 0x020b8293, 0xd4cd299d, 0x58cfa7f8, 0x91b4ee53, 0x37e4d140,
    0x95ec764c, 0x30f76b06, 0x5ee68d24, 0x679c8661, 0xa41979c2, 0xf2b61284, 0x4fac1475, 0x0adb49f9,
    0x19727a23, 0x15a7e374, 0xc43a18d5, 0x3fb1aa73, 0x342fc615, 0x924c0793, 0xbee2d7f0, 0x8a279de9,
    0x4aa2d70c, 0xe24dd37f, 0xbe862c0b, 0x177c22c2, 0x5388e5ee, 0xcd8a7510, 0xf901b4fd, 0xdbc13dbc,
    0x6c0bae5b, 0x64efe8c7, 0x48b02079, 0x80331a49, 0xca3d8ae6, 0xf3546190, 0xfed7108b, 0xc49b941b,
    0x32baf4a9, 0xeb833a4a, 0x88a3f1a5, 0x3a91ce0a, 0x3cc27da1, 0x7112e684, 0x4a3096b1, 0x3794574c,
    0xa3c8b6f3, 0x1d213941, 0x6e0a2e00, 0x233479f1, 0x0f4cd82f, 0x6093edd2, 0x5d7d209e, 0x464fe319,
    0xd4dcac9e, 0x0db845cb, 0xfb5e4bc3, 0xe0256ce1, 0x09fb4ed1, 0x0914be1e, 0xa5bdb2c3, 0xc6eb57bb,
    0x30320350, 0x3f397e91, 0xa67791bc, 0x86bc0e2c, 0xefa0a7e2, 0xe9ff7543, 0xe733612c, 0xd185897b,
    0x329e5388, 0x91dd236b, 0x2ecb0d93, 0xf4d82a3d, 0x35b5c03f, 0xe4e606f0, 0x05b21843, 0x37b45964,
    0x5eff22f4, 0x6027f4cc, 0x77178b3c, 0xae507131, 0x7bf7cabc, 0xf9c18d66, 0x593ade65, 0xd95ddf11,
];

/// The table rotated left by the window size mod 32 (48 -> 16): what a byte leaving the
/// window takes out of the hash.
static LEAVING: [u32; 256] = rotated(&TABLE, (WINDOW % 32) as u32);

const fn rotated(table: &[u32; 256], by: u32) -> [u32; 256] {
    let mut out = [0; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = table[i].rotate_left(by);
        i += 1;
    }
    out
}

/// The hash of a full window (`ca_chunker_start`): byte `j` rotated by `47 - j`.
fn window_hash(window: &[u8; WINDOW]) -> u32 {
    window.iter().enumerate().fold(0, |h, (j, &b)| {
        h ^ TABLE[usize::from(b)].rotate_left(((WINDOW - 1 - j) % 32) as u32)
    })
}

/// One roll of the window (`ca_chunker_roll`): `leave` goes out, `enter` comes in.
#[inline(always)]
fn roll(h: u32, leave: u8, enter: u8) -> u32 {
    h.rotate_left(1) ^ LEAVING[usize::from(leave)] ^ TABLE[usize::from(enter)]
}

/// The border test `h % d == d - 1` without a division (Lemire, Kaser and Kurz, "Faster
/// remainder by direct computation", 2019): for 32-bit `n`, `n % d == 0` exactly when
/// `n * c <= c - 1` in 64-bit arithmetic, with `c = ceil(2^64 / d)`.
#[derive(Debug, Clone, Copy)]
struct Border {
    d_minus_1: u32,
    c: u64,
}

impl Border {
    fn new(d: u64) -> Self {
        let d32 = u32::try_from(d).expect("d <= 128 MiB");
        Border {
            d_minus_1: d32 - 1,
            // For d == 1 this wraps to 0, and the test below is then always true, as it
            // should be.
            c: (u64::MAX / d).wrapping_add(1),
        }
    }

    #[inline(always)]
    fn is_border(self, h: u32) -> bool {
        match h.checked_sub(self.d_minus_1) {
            Some(n) => u64::from(n).wrapping_mul(self.c) <= self.c.wrapping_sub(1),
            None => false,
        }
    }
}

/// Finds chunk borders in a stream given in pieces of any size (`ca_chunker_scan`).
#[derive(Debug, Clone)]
pub(crate) struct Chunker {
    max: usize,
    /// Bytes at the start of each chunk that are never hashed: `min - 48`, or 0.
    skip: usize,
    /// `min == avg == max`: casync cuts every `max` bytes, without hashing.
    fixed: bool,
    border: Border,
    h: u32,
    /// The last `window_len` bytes of the chunk, oldest first.
    window: [u8; WINDOW],
    window_len: usize,
    /// Bytes of the current chunk seen so far.
    chunk_len: usize,
}

impl Chunker {
    /// A chunker at the start of a stream.
    pub(crate) fn new(sizes: ChunkSizes) -> Self {
        let min = sizes.min as usize;
        Chunker {
            max: sizes.max as usize,
            skip: min.saturating_sub(WINDOW),
            fixed: sizes.min == sizes.avg && sizes.avg == sizes.max,
            border: Border::new(sizes.discriminator()),
            h: 0,
            window: [0; WINDOW],
            window_len: 0,
            chunk_len: 0,
        }
    }

    /// Looks for the end of the current chunk in `data`, the stream's next bytes. Returns
    /// how many of them belong to the chunk if it ends in `data` (the caller passes the
    /// rest again), or `None` if all of `data` belongs to it and the chunk goes on. At the
    /// end of the stream, whatever the chunk has so far is the last chunk.
    pub(crate) fn scan(&mut self, data: &[u8]) -> Option<usize> {
        if self.fixed {
            return self.scan_fixed(data);
        }
        let mut k = self.skip_ahead(data.len());
        if self.window_len < WINDOW {
            k += self.fill_window(&data[k..]);
            if self.window_len < WINDOW {
                return None;
            }
            self.h = window_hash(&self.window);
            if self.chunk_len >= self.max || self.border.is_border(self.h) {
                return self.cut(k);
            }
        }
        self.roll_through(&data[k..]).map(|end| k + end)
    }

    /// The fixed-size chunker: a border every `max` bytes.
    fn scan_fixed(&mut self, data: &[u8]) -> Option<usize> {
        let m = (self.max - self.chunk_len).min(data.len());
        self.chunk_len += m;
        if self.chunk_len < self.max {
            return None;
        }
        self.cut(m)
    }

    /// Steps over the unhashed start of a chunk; returns the bytes of `len` taken.
    fn skip_ahead(&mut self, len: usize) -> usize {
        let taken = self.skip.saturating_sub(self.chunk_len).min(len);
        self.chunk_len += taken;
        taken
    }

    /// Appends to a window not yet full; returns the bytes of `data` taken.
    fn fill_window(&mut self, data: &[u8]) -> usize {
        let m = (WINDOW - self.window_len).min(data.len());
        self.window[self.window_len..self.window_len + m].copy_from_slice(&data[..m]);
        self.window_len += m;
        self.chunk_len += m;
        m
    }

    /// Rolls the full window through `data`. Byte `i` pushes out the byte 48 before it:
    /// `window[i]` for the first 48, then `data[i - 48]`.
    fn roll_through(&mut self, data: &[u8]) -> Option<usize> {
        // Never 0: a full window at `max` bytes has been cut already.
        let room = self.max - self.chunk_len;
        let limit = data.len().min(room);
        let border = self.border;
        let mut h = self.h;
        for (i, (&leave, &enter)) in self.window.iter().zip(&data[..limit]).enumerate() {
            h = roll(h, leave, enter);
            if border.is_border(h) {
                return self.cut(i + 1);
            }
        }
        if limit > WINDOW {
            let pairs = data[..limit - WINDOW].iter().zip(&data[WINDOW..limit]);
            for (i, (&leave, &enter)) in pairs.enumerate() {
                h = roll(h, leave, enter);
                if border.is_border(h) {
                    return self.cut(WINDOW + i + 1);
                }
            }
        }
        if limit == room {
            return self.cut(limit);
        }
        self.h = h;
        self.chunk_len += limit;
        self.slide_window(data);
        None
    }

    /// Keeps the last 48 bytes of the window followed by `data`.
    fn slide_window(&mut self, data: &[u8]) {
        let n = data.len();
        if n >= WINDOW {
            self.window.copy_from_slice(&data[n - WINDOW..]);
        } else {
            self.window.copy_within(n.., 0);
            self.window[WINDOW - n..].copy_from_slice(data);
        }
    }

    /// Ends the chunk `k` bytes into the current piece and starts the next one.
    fn cut(&mut self, k: usize) -> Option<usize> {
        self.h = 0;
        self.window_len = 0;
        self.chunk_len = 0;
        Some(k)
    }
}

/// Where a chunk lies in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Its first byte's offset.
    pub(crate) offset: u64,
    /// Its length, at least 1.
    pub(crate) len: u64,
}

/// The chunks of a stream, as [`Cut`]s, read `BUF_LEN` bytes at a time: memory stays the
/// same for any size of file or chunk.
pub(crate) struct Cuts<R> {
    reader: R,
    /// Names the stream in read errors.
    path: PathBuf,
    chunker: Chunker,
    buf: Box<[u8]>,
    /// `buf[pos..filled]` is read but not yet given to the chunker.
    pos: usize,
    filled: usize,
    /// Where the current chunk starts, and how far the chunker has got.
    start: u64,
    at: u64,
    done: bool,
}

impl<R: Read> Cuts<R> {
    /// Cuts `reader` from its current position with `sizes` (an index's); `path` names
    /// it in errors.
    pub(crate) fn new(reader: R, sizes: ChunkSizes, path: &Path) -> Self {
        Cuts {
            reader,
            path: path.to_path_buf(),
            chunker: Chunker::new(sizes),
            buf: vec![0; BUF_LEN].into_boxed_slice(),
            pos: 0,
            filled: 0,
            start: 0,
            at: 0,
            done: false,
        }
    }

    /// The next chunk, its bytes passed to `feed` in order (in pieces) on the way.
    fn next_cut(&mut self, mut feed: impl FnMut(&[u8])) -> Result<Option<Cut>> {
        loop {
            if self.pos == self.filled && !self.refill()? {
                self.done = true;
                return Ok(self.end_chunk());
            }
            let data = &self.buf[self.pos..self.filled];
            let taken = self.chunker.scan(data);
            let n = taken.unwrap_or(data.len());
            feed(&data[..n]);
            self.pos += n;
            self.at += n as u64;
            if taken.is_some() {
                return Ok(self.end_chunk());
            }
        }
    }

    /// The next chunk, with its bytes in `bytes`: for a writer that packs each chunk
    /// (zchunk's `make --zck`) without naming it by casync's id.
    pub(crate) fn next_with_bytes(&mut self, bytes: &mut Vec<u8>) -> Option<Result<Cut>> {
        bytes.clear();
        self.next_appending(bytes)
    }

    /// The next chunk, its bytes appended to `bytes`: for a caller that gathers many
    /// chunks in one buffer (a seed's, to hash them together).
    pub(crate) fn next_appending(&mut self, bytes: &mut Vec<u8>) -> Option<Result<Cut>> {
        self.next_fed(|piece| bytes.extend_from_slice(piece))
    }

    /// The next chunk, its bytes passed to `feed`; `None` once the stream (or a read
    /// error, given once) has ended it.
    fn next_fed(&mut self, feed: impl FnMut(&[u8])) -> Option<Result<Cut>> {
        if self.done {
            return None;
        }
        let next = self.next_cut(feed).transpose();
        if matches!(next, Some(Err(_))) {
            self.done = true;
        }
        next
    }

    /// Reads more of the stream into the buffer; false at its end.
    fn refill(&mut self) -> Result<bool> {
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => {
                    (self.pos, self.filled) = (0, n);
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", &self.path, e)),
            }
        }
    }

    /// The chunk from `start` to `at`, if it has any bytes.
    fn end_chunk(&mut self) -> Option<Cut> {
        let len = self.at - self.start;
        let cut = Cut {
            offset: self.start,
            len,
        };
        self.start = self.at;
        (len > 0).then_some(cut)
    }
}

impl<R: Read> Iterator for Cuts<R> {
    type Item = Result<Cut>;

    fn next(&mut self) -> Option<Result<Cut>> {
        self.next_fed(|_| {})
    }
}

/// The chunks of a stream with their ids, as an index would list them.
pub(crate) struct Chunks<R> {
    cuts: Cuts<R>,
    digest: ChunkDigest,
}

impl<R: Read> Chunks<R> {
    /// Cuts `reader` with `sizes` and names each chunk with `digest` (both an index's);
    /// `path` names the stream in errors.
    pub(crate) fn new(reader: R, sizes: ChunkSizes, digest: ChunkDigest, path: &Path) -> Self {
        Chunks {
            cuts: Cuts::new(reader, sizes, path),
            digest,
        }
    }

    /// The next chunk, with its bytes in `bytes`: for a caller that keeps the chunks it
    /// wants without reading them again.
    pub(crate) fn next_with_bytes(&mut self, bytes: &mut Vec<u8>) -> Option<Result<Chunk>> {
        bytes.clear();
        self.next_fed(|piece| bytes.extend_from_slice(piece))
    }

    /// The next chunk, its bytes hashed and passed to `feed` on the way.
    fn next_fed(&mut self, mut feed: impl FnMut(&[u8])) -> Option<Result<Chunk>> {
        if self.cuts.done {
            return None;
        }
        let mut hasher = self.digest.hasher();
        let cut = self.cuts.next_cut(|piece| {
            hasher.update(piece);
            feed(piece);
        });
        match cut {
            Ok(Some(cut)) => Some(Ok(Chunk {
                offset: cut.offset,
                len: cut.len,
                id: hasher.finish(),
            })),
            Ok(None) => None,
            Err(e) => {
                self.cuts.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: Read> Iterator for Chunks<R> {
    type Item = Result<Chunk>;

    fn next(&mut self) -> Option<Result<Chunk>> {
        self.next_fed(|_| {})
    }
}

#[cfg(test)]
mod tests;
