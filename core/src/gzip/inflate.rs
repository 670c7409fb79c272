//! A DEFLATE (RFC 1951) decoder that can start anywhere zsync's Z-Map says it may.
//!
//! Restarting inside a compressed stream needs three things ordinary inflaters do not
//! offer through a safe API: a cursor positioned at a *bit* offset, a window primed with
//! the preceding 32 KiB of output, and, for a point inside a block, the Huffman tables
//! (or the stored length) of the enclosing block, read from that block's header
//! elsewhere in the file. This decoder has all three and nothing else: no zlib or gzip
//! framing, no checksums (zsync verifies the output with its own block sums and SHA-1).
//!
//! Speed comes from a 64-bit bit buffer refilled eight bytes at a time, one-lookup
//! Huffman tables (see `huffman`), and an inner loop that runs without input or output
//! bounds juggling while at least eight input bytes and one maximal match of output
//! space remain; the careful slow path only handles the last bytes of the input.

use std::io;
use std::sync::OnceLock;

use super::huffman::{
    self, CL_BITS, DIST_BITS, KIND_BAD, KIND_BASE, KIND_EOB, KIND_LIT, LIT_BITS, TableError,
    e_extra, e_kind, e_len, e_value, lookup,
};

/// How far back a DEFLATE distance may reach, so how much preceding output a restart
/// needs as its window.
pub const WINDOW_SIZE: usize = 32 * 1024;

/// Bytes from the byte holding a block's first bit that always contain the whole block
/// header: 3 + 14 + 19 * 3 header bits plus at most 7 bits for each of the 286 + 30 code
/// lengths (repeat codes only shorten that), after up to 7 bits of offset into the byte.
/// zsync itself fetches 200 bytes, which a worst-case dynamic header overruns.
pub const MAX_BLOCK_HEADER_BYTES: u64 = (7 + 3 + 14 + 19 * 3 + 316 * 7_u64).div_ceil(8);

const MAX_MATCH: usize = 258;
/// Matches are copied in 16-byte chunks and may write this far past their end.
const COPY_SLACK: usize = 16;
/// Output is staged in this many bytes after the window before it goes to the sink.
const CHUNK: usize = 256 * 1024;
const BUF_LEN: usize = WINDOW_SIZE + CHUNK + MAX_MATCH + COPY_SLACK;
/// The inner loop may start a symbol only below this output index.
const FAST_OUT_END: usize = BUF_LEN - MAX_MATCH - COPY_SLACK;

/// Why decoding failed. Bit positions are absolute (counted from the start of the
/// compressed file), so errors can be matched to the Z-Map.
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    #[error("compressed data ends at bit {bit} before the requested output was produced")]
    InputExhausted { bit: u64 },
    #[error("start bit {bit} lies outside the compressed bytes {start}..{end}")]
    StartOutsideInput { bit: u64, start: u64, end: u64 },
    #[error("invalid block type 3 at bit {bit}")]
    InvalidBlockType { bit: u64 },
    #[error("stored block length check fails at bit {bit}")]
    StoredLength { bit: u64 },
    #[error("invalid dynamic block header at bit {bit}: {reason}")]
    InvalidHeader { bit: u64, reason: &'static str },
    #[error("invalid literal/length code at bit {bit}")]
    InvalidCode { bit: u64 },
    #[error("invalid distance code at bit {bit}")]
    InvalidDistance { bit: u64 },
    #[error("distance {distance} at bit {bit} reaches before the {available} bytes of history")]
    DistanceTooFar {
        bit: u64,
        distance: usize,
        available: usize,
    },
    #[error(
        "checkpoint at bit {bit} does not fit its block (header at bit {block_start_bit}): {reason}"
    )]
    BadCheckpoint {
        bit: u64,
        block_start_bit: u64,
        reason: &'static str,
    },
    #[error("output sink failed: {0}")]
    Sink(#[from] io::Error),
}

type Result<T> = std::result::Result<T, InflateError>;

/// A slice of the compressed file: `bytes[0]` is the file's byte number `base`.
#[derive(Debug, Clone, Copy)]
pub struct Compressed<'a> {
    pub bytes: &'a [u8],
    pub base: u64,
}

impl<'a> Compressed<'a> {
    pub fn new(bytes: &'a [u8], base: u64) -> Self {
        Self { bytes, base }
    }

    /// The whole file (or a buffer that starts at its byte 0).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn whole(bytes: &'a [u8]) -> Self {
        Self { bytes, base: 0 }
    }

    fn end(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }
}

/// Where decoding starts.
#[derive(Debug, Clone, Copy)]
pub enum Resume<'a> {
    /// A block header starts at absolute bit `bit`.
    BlockStart { bit: u64 },
    /// The next symbol (or, in a stored block, raw byte) starts at `bit`, inside the block
    /// whose header starts at `block_start_bit`. `header` holds the compressed bytes from
    /// byte `block_start_bit / 8` on, at least to the end of that header (at most
    /// [`MAX_BLOCK_HEADER_BYTES`]); it may be the same slice as the main input.
    MidBlock {
        bit: u64,
        block_start_bit: u64,
        header: Compressed<'a>,
    },
}

impl Resume<'_> {
    pub fn bit(&self) -> u64 {
        match *self {
            Resume::BlockStart { bit } | Resume::MidBlock { bit, .. } => bit,
        }
    }
}

/// What one call decoded and where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes handed to the sink: the requested length unless the stream ended first.
    pub produced: u64,
    /// Bytes decoded up to `end_bit`: more than `produced` when the last match ran past
    /// the requested length. When equal, `end_bit` is a restart point for output offset
    /// `produced`, which is how a Z-Map generator finds mid-block checkpoints.
    pub decoded: u64,
    /// Absolute bit just after the last symbol (or stored byte, or block) consumed.
    pub end_bit: u64,
    /// The block header in force at `end_bit` starts here; equal to `end_bit` when
    /// decoding stopped on a block boundary.
    pub block_start_bit: u64,
    /// The final block has ended; nothing follows but the gzip trailer.
    pub stream_end: bool,
}

/// The kind of the block a header announced.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockType {
    Stored,
    Fixed,
    Dynamic,
}

/// One whole block, as decoded by [`Inflater::inflate_block`].
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    pub block_type: BlockType,
    pub is_final: bool,
    /// First bit after the header: the first symbol of a Huffman block, the first raw
    /// byte of a stored block.
    pub data_bit: u64,
    /// First bit after the block: where the next block's header starts.
    pub end_bit: u64,
    pub produced: u64,
}

/// A reusable DEFLATE decoder holding up to 32 KiB of history.
///
/// History carries over between calls, so consecutive calls on adjacent pieces of a
/// stream chain naturally; a call that starts elsewhere needs [`Inflater::set_window`]
/// first. History always ends exactly at the last byte handed to the sink.
pub struct Inflater {
    buf: Box<[u8]>,
    /// End of history / staged output in `buf`.
    op: usize,
    lit: Vec<u32>,
    dist: Vec<u32>,
    codelen: Vec<u32>,
    lens: [u8; 320],
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("history", &self.op)
            .finish_non_exhaustive()
    }
}

struct FixedTables {
    lit: Vec<u32>,
    dist: Vec<u32>,
}

fn fixed_tables() -> &'static FixedTables {
    static FIXED: OnceLock<FixedTables> = OnceLock::new();
    FIXED.get_or_init(|| {
        let mut lit = Vec::new();
        let mut dist = Vec::new();
        huffman::build(
            &mut lit,
            &huffman::fixed_litlen_lengths(),
            LIT_BITS,
            huffman::litlen_symbol,
        )
        .expect("the fixed literal/length code is complete");
        huffman::build(&mut dist, &[5; 32], DIST_BITS, huffman::dist_symbol)
            .expect("the fixed distance code is complete");
        FixedTables { lit, dist }
    })
}

#[derive(Debug, Clone, Copy)]
enum State {
    Header,
    Huffman { fixed: bool },
    Stored { remaining: usize },
}

/// Stop condition for `run`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Output(u64),
    BlockEnd,
}

impl Inflater {
    /// A decoder whose history is the last 32 KiB of `window`: the uncompressed bytes
    /// just before the point decoding will start at (empty at the start of a stream).
    pub fn new(window: &[u8]) -> Self {
        let mut inflater = Self {
            buf: vec![0u8; BUF_LEN].into_boxed_slice(),
            op: 0,
            lit: Vec::with_capacity(1 << 11),
            dist: Vec::with_capacity(1 << 9),
            codelen: Vec::with_capacity(1 << CL_BITS),
            lens: [0; 320],
        };
        inflater.set_window(window);
        inflater
    }

    /// Replaces the history with the last 32 KiB of `window`.
    pub fn set_window(&mut self, window: &[u8]) {
        let keep = window.len().min(WINDOW_SIZE);
        self.buf[..keep].copy_from_slice(&window[window.len() - keep..]);
        self.op = keep;
    }

    /// The current history (at most 32 KiB), ending with the last byte produced.
    #[cfg(test)]
    pub fn window(&self) -> &[u8] {
        &self.buf[self.op.saturating_sub(WINDOW_SIZE)..self.op]
    }

    /// Decodes from `resume` until `out_len` bytes are produced or the final block ends,
    /// and returns them. `input` must hold the compressed bytes from the resume point on;
    /// running out of them before `out_len` bytes is an error. Pass `u64::MAX` to decode
    /// to the end of the stream.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn inflate(
        &mut self,
        input: Compressed<'_>,
        resume: Resume<'_>,
        out_len: u64,
    ) -> Result<(Vec<u8>, Outcome)> {
        let mut out = Vec::new();
        if out_len != u64::MAX {
            // Bounded: `out_len` may come from an untrusted map.
            out.reserve(usize::try_from(out_len).unwrap_or(0).min(16 << 20));
        }
        let outcome = self.inflate_with(input, resume, out_len, &mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        })?;
        Ok((out, outcome))
    }

    /// Like [`Inflater::inflate`], but hands the output to `sink` in pieces of up to
    /// 256 KiB, so any amount can be decoded in bounded memory.
    pub fn inflate_with(
        &mut self,
        input: Compressed<'_>,
        resume: Resume<'_>,
        out_len: u64,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<Outcome> {
        let bit = resume.bit();
        if out_len == 0 {
            let block_start_bit = match resume {
                Resume::BlockStart { bit } => bit,
                Resume::MidBlock {
                    block_start_bit, ..
                } => block_start_bit,
            };
            return Ok(Outcome {
                produced: 0,
                decoded: 0,
                end_bit: bit,
                block_start_bit,
                stream_end: false,
            });
        }
        match resume {
            Resume::BlockStart { bit } => {
                let mut r = BitReader::new(input, bit)?;
                self.run(
                    &mut r,
                    State::Header,
                    false,
                    bit,
                    Until::Output(out_len),
                    sink,
                )
            }
            Resume::MidBlock {
                bit,
                block_start_bit,
                header,
            } => {
                let mut h = BitReader::new(header, block_start_bit)?;
                let (state, is_final) = self.read_block_header(&mut h)?;
                let header_end = h.bit_pos();
                let bad = |reason| InflateError::BadCheckpoint {
                    bit,
                    block_start_bit,
                    reason,
                };
                let state = match state {
                    State::Stored { remaining } => {
                        let data_start = header_end;
                        if !bit.is_multiple_of(8) {
                            return Err(bad("not byte-aligned in a stored block"));
                        }
                        let done = bit
                            .checked_sub(data_start)
                            .ok_or(bad("before the stored data"))?
                            / 8;
                        let remaining = (remaining as u64)
                            .checked_sub(done)
                            .ok_or(bad("past the end of the stored block"))?;
                        State::Stored {
                            remaining: remaining as usize,
                        }
                    }
                    State::Huffman { .. } if bit < header_end => {
                        return Err(bad("inside the block header"));
                    }
                    other => other,
                };
                let mut r = BitReader::new(input, bit)?;
                if matches!(state, State::Stored { .. }) {
                    r.align_and_rewind();
                }
                self.run(
                    &mut r,
                    state,
                    is_final,
                    block_start_bit,
                    Until::Output(out_len),
                    sink,
                )
            }
        }
    }

    /// Decodes exactly one block, whose header starts at absolute bit `bit`. Useful to
    /// walk a stream's block structure.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn inflate_block(
        &mut self,
        input: Compressed<'_>,
        bit: u64,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<BlockInfo> {
        let mut r = BitReader::new(input, bit)?;
        let (state, is_final) = self.read_block_header(&mut r)?;
        let data_bit = r.bit_pos();
        let block_type = match state {
            State::Stored { .. } => BlockType::Stored,
            State::Huffman { fixed: true } => BlockType::Fixed,
            State::Huffman { fixed: false } => BlockType::Dynamic,
            State::Header => unreachable!("a header read yields a block state"),
        };
        if let State::Stored { .. } = state {
            r.align_and_rewind();
        }
        let outcome = self.run(&mut r, state, is_final, bit, Until::BlockEnd, sink)?;
        Ok(BlockInfo {
            block_type,
            is_final,
            data_bit,
            end_bit: outcome.end_bit,
            produced: outcome.produced,
        })
    }

    /// Reads a block header; for a stored block the reader is left on the first raw
    /// byte (as a bit position; the caller rewinds), for Huffman blocks the tables are
    /// built.
    fn read_block_header(&mut self, r: &mut BitReader<'_>) -> Result<(State, bool)> {
        let start = r.bit_pos();
        let head = r.bits(3)?;
        let is_final = head & 1 == 1;
        let state = match head >> 1 {
            0 => {
                r.align();
                let len = r.bits(16)?;
                let nlen = r.bits(16)?;
                if len != !nlen & 0xffff {
                    return Err(InflateError::StoredLength { bit: start });
                }
                State::Stored {
                    remaining: len as usize,
                }
            }
            1 => State::Huffman { fixed: true },
            2 => {
                self.read_dynamic_tables(r, start)?;
                State::Huffman { fixed: false }
            }
            _ => return Err(InflateError::InvalidBlockType { bit: start }),
        };
        Ok((state, is_final))
    }

    fn read_dynamic_tables(&mut self, r: &mut BitReader<'_>, start: u64) -> Result<()> {
        const ORDER: [usize; 19] = [
            16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
        ];
        let bad = |reason| InflateError::InvalidHeader { bit: start, reason };
        let nlit = r.bits(5)? as usize + 257;
        let ndist = r.bits(5)? as usize + 1;
        let ncode = r.bits(4)? as usize + 4;
        if nlit > 286 || ndist > 30 {
            return Err(bad("too many length or distance symbols"));
        }
        let mut cl = [0u8; 19];
        for &i in &ORDER[..ncode] {
            cl[i] = r.bits(3)? as u8;
        }
        huffman::build(&mut self.codelen, &cl, CL_BITS, huffman::codelen_symbol)
            .map_err(|_| bad("invalid code length code"))?;

        let total = nlit + ndist;
        let lens = &mut self.lens;
        let mut i = 0;
        while i < total {
            r.refill();
            let e = self.codelen[(r.bitbuf & ((1 << CL_BITS) - 1)) as usize];
            if e_kind(e) == KIND_BAD {
                return Err(r.code_error(bad("invalid code length symbol")));
            }
            r.consume(e_len(e));
            let sym = e_value(e);
            let (value, repeat) = match sym {
                0..=15 => (sym as u8, 1),
                16 => {
                    let prev = *lens[..i]
                        .last()
                        .ok_or(bad("repeat with no previous length"))?;
                    (prev, 3 + r.bits(2)? as usize)
                }
                17 => (0, 3 + r.bits(3)? as usize),
                _ => (0, 11 + r.bits(7)? as usize),
            };
            r.check()?;
            if i + repeat > total {
                return Err(bad("code lengths overflow the alphabets"));
            }
            lens[i..i + repeat].fill(value);
            i += repeat;
        }
        if lens[256] == 0 {
            return Err(bad("no end-of-block code"));
        }
        let why = |e: TableError| match e {
            TableError::OverSubscribed => "over-subscribed code",
            TableError::Incomplete => "incomplete code",
        };
        huffman::build(
            &mut self.lit,
            &lens[..nlit],
            LIT_BITS,
            huffman::litlen_symbol,
        )
        .map_err(|e| bad(why(e)))?;
        huffman::build(
            &mut self.dist,
            &lens[nlit..total],
            DIST_BITS,
            huffman::dist_symbol,
        )
        .map_err(|e| bad(why(e)))?;
        Ok(())
    }

    /// The block loop shared by every entry point.
    fn run(
        &mut self,
        r: &mut BitReader<'_>,
        mut state: State,
        mut is_final: bool,
        mut block_start_bit: u64,
        until: Until,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<Outcome> {
        let want = match until {
            Until::Output(n) => n,
            Until::BlockEnd => u64::MAX,
        };
        let mut emit = Emitter {
            pending: self.op,
            left: want,
            produced: 0,
        };
        let mut stream_end = false;
        loop {
            if emit.reached(self.op) {
                break;
            }
            match state {
                State::Header => {
                    if is_final {
                        stream_end = true;
                        break;
                    }
                    if until == Until::BlockEnd {
                        break;
                    }
                    block_start_bit = r.bit_pos();
                    let (next, fin) = self.read_block_header(r)?;
                    if let State::Stored { .. } = next {
                        r.align_and_rewind();
                    }
                    state = next;
                    is_final = fin;
                }
                State::Huffman { fixed } => {
                    let target = emit.target();
                    let (lit, dist) = if fixed {
                        let f = fixed_tables();
                        (&f.lit[..], &f.dist[..])
                    } else {
                        (&self.lit[..], &self.dist[..])
                    };
                    match decode_huffman(r, lit, dist, &mut self.buf, &mut self.op, target)? {
                        HuffStop::EndOfBlock => state = State::Header,
                        HuffStop::Target => {}
                        HuffStop::BufferFull => emit.flush(&mut self.buf, &mut self.op, sink)?,
                    }
                }
                State::Stored { remaining } => {
                    if remaining == 0 {
                        state = State::Header;
                        continue;
                    }
                    let room = FAST_OUT_END.saturating_sub(self.op);
                    if room == 0 {
                        emit.flush(&mut self.buf, &mut self.op, sink)?;
                        continue;
                    }
                    let avail = r.data.len().saturating_sub(r.pos);
                    if avail == 0 {
                        return Err(InflateError::InputExhausted { bit: r.bit_pos() });
                    }
                    let n = remaining.min(avail).min(room).min(emit.target() - self.op);
                    self.buf[self.op..self.op + n].copy_from_slice(&r.data[r.pos..r.pos + n]);
                    self.op += n;
                    r.pos += n;
                    state = State::Stored {
                        remaining: remaining - n,
                    };
                }
            }
        }
        if let State::Stored { remaining: 0 } = state {
            state = State::Header;
        }
        let staged = (self.op - emit.pending) as u64;
        let overshoot = staged.saturating_sub(emit.left);
        emit.finish(&mut self.buf, &mut self.op, sink)?;
        let end_bit = r.bit_pos();
        let at_boundary = matches!(state, State::Header);
        Ok(Outcome {
            produced: emit.produced,
            decoded: emit.produced + overshoot,
            end_bit,
            block_start_bit: if at_boundary {
                end_bit
            } else {
                block_start_bit
            },
            stream_end,
        })
    }
}

/// Tracks which staged bytes still go to the sink and how many more are wanted.
struct Emitter {
    /// Index in the buffer of the first byte not yet handed to the sink.
    pending: usize,
    /// Bytes still wanted.
    left: u64,
    produced: u64,
}

impl Emitter {
    /// Output index at which the wanted bytes are complete (may lie past the buffer).
    fn target(&self) -> usize {
        self.pending
            .saturating_add(usize::try_from(self.left).unwrap_or(usize::MAX))
    }

    fn reached(&self, op: usize) -> bool {
        (op - self.pending) as u64 >= self.left
    }

    fn emit(
        &mut self,
        buf: &[u8],
        op: usize,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<usize> {
        let n = (op - self.pending).min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if n > 0 {
            sink(&buf[self.pending..self.pending + n])?;
        }
        self.left -= n as u64;
        self.produced += n as u64;
        Ok(n)
    }

    /// Hands staged output to the sink and slides the last 32 KiB of history to the
    /// front of the buffer.
    fn flush(
        &mut self,
        buf: &mut [u8],
        op: &mut usize,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<()> {
        self.emit(buf, *op, sink)?;
        let keep = (*op).min(WINDOW_SIZE);
        buf.copy_within(*op - keep..*op, 0);
        *op = keep;
        self.pending = keep;
        Ok(())
    }

    /// Final hand-over: bytes decoded past the wanted length are dropped from history,
    /// so the history always ends with the last byte the caller received.
    fn finish(
        &mut self,
        buf: &mut [u8],
        op: &mut usize,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<()> {
        let n = self.emit(buf, *op, sink)?;
        *op = self.pending + n;
        self.pending = *op;
        Ok(())
    }
}

enum HuffStop {
    EndOfBlock,
    Target,
    BufferFull,
}

/// Decodes symbols of one Huffman block into `buf` from `*op` until end of block, until
/// `target` bytes of output index are reached, or until the buffer needs a flush.
#[inline(never)]
fn decode_huffman(
    r: &mut BitReader<'_>,
    lit: &[u32],
    dist: &[u32],
    buf: &mut [u8],
    op: &mut usize,
    target: usize,
) -> Result<HuffStop> {
    let data = r.data;
    let mut bitbuf = r.bitbuf;
    let mut bc = r.bc;
    let mut pos = r.pos;
    let mut o = *op;
    let stop = loop {
        if o >= target {
            break HuffStop::Target;
        }
        if o >= FAST_OUT_END {
            break HuffStop::BufferFull;
        }
        if pos + 8 <= data.len() {
            // Branch-free refill to 56..=63 bits; bits above `bc` already hold the same
            // bytes, so OR-ing them in again is harmless.
            let word = u64::from_le_bytes(data[pos..pos + 8].try_into().expect("8 bytes"));
            bitbuf |= word << bc;
            pos += (63 - bc as usize) >> 3;
            bc |= 56;
        } else {
            while bc < 56 {
                let byte = data.get(pos).copied().unwrap_or(0);
                bitbuf |= u64::from(byte) << bc;
                pos += 1;
                bc += 8;
            }
        }

        let e = lookup(lit, bitbuf, LIT_BITS);
        let kind = e_kind(e);
        if kind == KIND_BAD {
            r.save(bitbuf, bc, pos);
            return Err(r.code_error(InflateError::InvalidCode { bit: r.bit_pos() }));
        }
        let len = e_len(e);
        bitbuf >>= len;
        bc -= len;
        if kind == KIND_LIT {
            buf[o] = e_value(e) as u8;
            o += 1;
        } else if kind == KIND_BASE {
            let extra = e_extra(e);
            let length = (e_value(e) + (bitbuf as u32 & ((1 << extra) - 1))) as usize;
            bitbuf >>= extra;
            bc -= extra;
            let d = lookup(dist, bitbuf, DIST_BITS);
            if e_kind(d) != KIND_BASE {
                r.save(bitbuf, bc, pos);
                return Err(r.code_error(InflateError::InvalidDistance { bit: r.bit_pos() }));
            }
            let dlen = e_len(d);
            bitbuf >>= dlen;
            bc -= dlen;
            let dextra = e_extra(d);
            let distance = (e_value(d) + (bitbuf as u32 & ((1 << dextra) - 1))) as usize;
            bitbuf >>= dextra;
            bc -= dextra;
            if distance > o {
                r.save(bitbuf, bc, pos);
                r.check()?;
                return Err(InflateError::DistanceTooFar {
                    bit: r.bit_pos(),
                    distance,
                    available: o,
                });
            }
            copy_match(buf, o, distance, length);
            o += length;
        } else {
            debug_assert_eq!(kind, KIND_EOB);
            break HuffStop::EndOfBlock;
        }
        if pos > data.len() && (pos - data.len()) * 8 > bc as usize {
            r.save(bitbuf, bc, pos);
            r.check()?;
        }
    };
    r.save(bitbuf, bc, pos);
    r.check()?;
    *op = o;
    Ok(stop)
}

/// Copies a match of `length` bytes from `distance` back. May write up to
/// `COPY_SLACK - 1` bytes past the match; the caller guarantees the room.
#[inline(always)]
fn copy_match(buf: &mut [u8], o: usize, distance: usize, length: usize) {
    let src = o - distance;
    if distance >= 16 {
        // Each chunk is read only after every byte in it was written: the source runs
        // at least 16 bytes behind the destination.
        let mut s = src;
        let mut d = o;
        let end = o + length;
        while d < end {
            let chunk: [u8; 16] = buf[s..s + 16].try_into().expect("16 bytes");
            buf[d..d + 16].copy_from_slice(&chunk);
            s += 16;
            d += 16;
        }
    } else if distance == 1 {
        let b = buf[src];
        buf[o..o + length].fill(b);
    } else if distance >= 8 {
        let mut s = src;
        let mut d = o;
        let end = o + length;
        while d < end {
            let chunk: [u8; 8] = buf[s..s + 8].try_into().expect("8 bytes");
            buf[d..d + 8].copy_from_slice(&chunk);
            s += 8;
            d += 8;
        }
    } else {
        for i in 0..length {
            buf[o + i] = buf[src + i];
        }
    }
}

/// LSB-first bit cursor over a compressed slice. Reading past the slice yields zero
/// bits; `check` turns having *consumed* any of them into `InputExhausted`, so the
/// fast paths need no end-of-input tests.
struct BitReader<'a> {
    data: &'a [u8],
    base: u64,
    /// Next byte to load; may run past `data.len()` by the padding loaded.
    pos: usize,
    bitbuf: u64,
    /// Valid bits in `bitbuf`, always below 64.
    bc: u32,
}

impl<'a> BitReader<'a> {
    fn new(input: Compressed<'a>, bit: u64) -> Result<Self> {
        let byte = bit / 8;
        let outside = InflateError::StartOutsideInput {
            bit,
            start: input.base,
            end: input.end(),
        };
        if byte < input.base
            || byte > input.end()
            || (byte == input.end() && !bit.is_multiple_of(8))
        {
            return Err(outside);
        }
        let mut r = Self {
            data: input.bytes,
            base: input.base,
            pos: (byte - input.base) as usize,
            bitbuf: 0,
            bc: 0,
        };
        if !bit.is_multiple_of(8) {
            r.refill();
            r.consume((bit % 8) as u32);
        }
        Ok(r)
    }

    fn bit_pos(&self) -> u64 {
        (self.base + self.pos as u64) * 8 - u64::from(self.bc)
    }

    fn save(&mut self, bitbuf: u64, bc: u32, pos: usize) {
        self.bitbuf = bitbuf;
        self.bc = bc;
        self.pos = pos;
    }

    #[inline]
    fn refill(&mut self) {
        if self.pos + 8 <= self.data.len() {
            let word = u64::from_le_bytes(
                self.data[self.pos..self.pos + 8]
                    .try_into()
                    .expect("8 bytes"),
            );
            self.bitbuf |= word << self.bc;
            self.pos += (63 - self.bc as usize) >> 3;
            self.bc |= 56;
        } else {
            while self.bc < 56 {
                let byte = self.data.get(self.pos).copied().unwrap_or(0);
                self.bitbuf |= u64::from(byte) << self.bc;
                self.pos += 1;
                self.bc += 8;
            }
        }
    }

    #[inline]
    fn consume(&mut self, n: u32) {
        self.bitbuf >>= n;
        self.bc -= n;
    }

    /// Fails if the bits consumed so far run past the end of the slice.
    #[inline]
    fn check(&self) -> Result<()> {
        if self.pos > self.data.len() && (self.pos - self.data.len()) * 8 > self.bc as usize {
            return Err(InflateError::InputExhausted {
                bit: (self.base + self.data.len() as u64) * 8,
            });
        }
        Ok(())
    }

    /// An undecodable code is reported as running out of input when the slice ends
    /// before a longest code could: the zero padding, not the stream, made it invalid.
    fn code_error(&self, invalid: InflateError) -> InflateError {
        let real_bits =
            (self.data.len() as u64 * 8).saturating_sub(self.pos as u64 * 8 - u64::from(self.bc));
        if real_bits < 15 {
            InflateError::InputExhausted {
                bit: (self.base + self.data.len() as u64) * 8,
            }
        } else {
            invalid
        }
    }

    /// Takes `n` (at most 32) bits.
    fn bits(&mut self, n: u32) -> Result<u32> {
        if self.bc < n {
            self.refill();
        }
        let v = (self.bitbuf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        self.check()?;
        Ok(v)
    }

    /// Skips to the next byte boundary (slices start on one, so this is absolute).
    fn align(&mut self) {
        let skip = self.bc % 8;
        self.consume(skip);
    }

    /// Aligns, then gives the buffered whole bytes back, so stored data can be copied
    /// straight from `data[pos..]`.
    fn align_and_rewind(&mut self) {
        self.align();
        self.pos -= (self.bc / 8) as usize;
        self.bitbuf = 0;
        self.bc = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::test_data::Rng;

    fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "delta",
            "block",
            "zsync",
            "the",
            "of",
            "a",
            "checksum",
            "rolling",
            "seed",
            "window",
            "\n",
            "compressed",
            "stream",
            "offset",
            "Huffman",
            "literal",
            "0x7fff",
            ", ",
            ".",
        ];
        let mut v = Vec::with_capacity(len + 16);
        while v.len() < len {
            v.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
            v.push(b' ');
        }
        v.truncate(len);
        v
    }

    fn random(rng: &mut Rng, len: usize) -> Vec<u8> {
        (0..len).map(|_| rng.next() as u8).collect()
    }

    fn mixed(rng: &mut Rng, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            let n = 1 + rng.below(40_000) as usize;
            match rng.below(4) {
                0 => v.extend(text(rng, n)),
                1 => v.extend(random(rng, n)),
                2 => v.extend(std::iter::repeat_n(rng.next() as u8, n)),
                _ => {
                    // Short-distance repeats exercise overlapping match copies.
                    let period = 1 + rng.below(20) as usize;
                    let pat = random(rng, period);
                    v.extend(pat.iter().cycle().take(n));
                }
            }
        }
        v.truncate(len);
        v
    }

    fn deflate(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn inflate_all(z: &[u8]) -> (Vec<u8>, Outcome) {
        Inflater::new(&[])
            .inflate(
                Compressed::whole(z),
                Resume::BlockStart { bit: 0 },
                u64::MAX,
            )
            .unwrap()
    }

    /// (start bit, output offset, info) of every block, by walking the stream.
    fn blocks(z: &[u8]) -> Vec<(u64, u64, BlockInfo)> {
        let mut inf = Inflater::new(&[]);
        let mut bit = 0;
        let mut out = 0;
        let mut v = Vec::new();
        loop {
            let info = inf
                .inflate_block(Compressed::whole(z), bit, &mut |_| Ok(()))
                .unwrap();
            v.push((bit, out, info));
            out += info.produced;
            bit = info.end_bit;
            if info.is_final {
                return v;
            }
        }
    }

    fn samples() -> Vec<(&'static str, Vec<u8>)> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        vec![
            ("empty", Vec::new()),
            ("one byte", vec![b'x']),
            ("text", text(&mut rng, 300_000)),
            ("random", random(&mut rng, 200_000)),
            ("zeros", vec![0; 500_000]),
            ("mixed", mixed(&mut rng, 1_500_000)),
        ]
    }

    #[test]
    fn whole_streams_match_flate2() {
        for (name, data) in samples() {
            for level in [0, 1, 6, 9] {
                let z = deflate(&data, level);
                let (out, outcome) = inflate_all(&z);
                assert!(out == data, "{name} level {level}: output differs");
                assert!(outcome.stream_end, "{name} level {level}");
                assert_eq!(outcome.produced, data.len() as u64);
                assert_eq!(
                    outcome.end_bit.div_ceil(8),
                    z.len() as u64,
                    "{name} level {level}"
                );
            }
        }
    }

    #[test]
    fn fixed_and_stored_blocks() {
        // "a" as one fixed-Huffman block, as zlib writes it.
        let (out, o) = inflate_all(&[0x4b, 0x04, 0x00]);
        assert_eq!(out, b"a");
        assert!(o.stream_end);
        let z = deflate(b"hello hello hello hello", 6);
        assert_eq!(blocks(&z)[0].2.block_type, BlockType::Fixed);
        assert_eq!(inflate_all(&z).0, b"hello hello hello hello");
        let z = deflate(&[7; 100_000], 0);
        let b = blocks(&z);
        assert!(b.len() > 1 && b.iter().all(|(_, _, i)| i.block_type == BlockType::Stored));
        let mut rng = Rng(5);
        assert_eq!(
            blocks(&deflate(&mixed(&mut rng, 400_000), 6))[0]
                .2
                .block_type,
            BlockType::Dynamic
        );
    }

    #[test]
    fn restart_at_every_block_start() {
        for (name, data) in samples() {
            for level in [0, 1, 9] {
                let z = deflate(&data, level);
                let bl = blocks(&z);
                let mut inf = Inflater::new(&[]);
                for &(bit, out, _) in &bl {
                    let out = out as usize;
                    inf.set_window(&data[..out]);
                    // Only the bytes from the block's first byte on are given.
                    let input = Compressed::new(&z[(bit / 8) as usize..], bit / 8);
                    let want = (data.len() - out).min(70_000);
                    let (got, o) = inf
                        .inflate(input, Resume::BlockStart { bit }, want as u64)
                        .unwrap();
                    assert!(
                        got == data[out..out + want],
                        "{name} level {level} block at bit {bit}"
                    );
                    assert_eq!(o.produced, want as u64);
                }
            }
        }
    }

    #[test]
    fn restart_mid_block_at_symbol_boundaries() {
        let mut rng = Rng(77);
        for (name, data) in samples() {
            if data.len() < 1000 {
                continue;
            }
            for level in [0, 1, 9] {
                let z = deflate(&data, level);
                let bl = blocks(&z);
                let mut inf = Inflater::new(&[]);
                for _ in 0..40 {
                    let (bstart, bout, info) = bl[rng.below(bl.len() as u64) as usize];
                    if info.produced < 2 {
                        continue;
                    }
                    // Decode part of the block: where it stops is a symbol boundary.
                    let k = 1 + rng.below(info.produced - 1);
                    inf.set_window(&data[..bout as usize]);
                    let (_, stop) = inf
                        .inflate(Compressed::whole(&z), Resume::BlockStart { bit: bstart }, k)
                        .unwrap();
                    assert_eq!(stop.block_start_bit, bstart);
                    assert!(stop.decoded >= k);
                    let at = (bout + stop.decoded) as usize;
                    inf.set_window(&data[..at]);
                    // Header and data come from separate slices, each cut as tightly
                    // as the range mapping cuts them.
                    let hdr_from = (bstart / 8) as usize;
                    let hdr_to = (hdr_from + MAX_BLOCK_HEADER_BYTES as usize).min(z.len());
                    let resume = Resume::MidBlock {
                        bit: stop.end_bit,
                        block_start_bit: bstart,
                        header: Compressed::new(&z[hdr_from..hdr_to], hdr_from as u64),
                    };
                    let from = (stop.end_bit / 8) as usize;
                    let want = (data.len() - at).min(50_000);
                    let (got, _) = inf
                        .inflate(
                            Compressed::new(&z[from..], from as u64),
                            resume,
                            want as u64,
                        )
                        .unwrap();
                    assert!(
                        got == data[at..at + want],
                        "{name} level {level} mid-block at bit {}",
                        stop.end_bit
                    );
                }
            }
        }
    }

    #[test]
    fn output_stops_exactly_even_inside_a_match() {
        let data = vec![b'z'; 10_000];
        let z = deflate(&data, 9);
        let mut inf = Inflater::new(&[]);
        let (got, o) = inf
            .inflate(Compressed::whole(&z), Resume::BlockStart { bit: 0 }, 100)
            .unwrap();
        assert_eq!(got.len(), 100);
        assert!(o.decoded > 100, "a run of 'z' is one long match");
        // History ends at the last byte delivered.
        assert_eq!(inf.window().len(), 100);
        let (got, o) = inf
            .inflate(Compressed::whole(&z), Resume::BlockStart { bit: 0 }, 0)
            .unwrap();
        assert!(got.is_empty() && o.produced == 0 && o.end_bit == 0);
    }

    #[test]
    fn large_output_goes_through_the_sink_in_pieces() {
        let mut rng = Rng(3);
        let data = mixed(&mut rng, 3_000_000);
        let z = deflate(&data, 6);
        let mut got = Vec::new();
        let mut pieces = 0;
        Inflater::new(&[])
            .inflate_with(
                Compressed::whole(&z),
                Resume::BlockStart { bit: 0 },
                u64::MAX,
                &mut |b| {
                    assert!(b.len() <= BUF_LEN);
                    pieces += 1;
                    got.extend_from_slice(b);
                    Ok(())
                },
            )
            .unwrap();
        assert!(got == data);
        assert!(pieces > 5);
        let err = Inflater::new(&[])
            .inflate_with(
                Compressed::whole(&z),
                Resume::BlockStart { bit: 0 },
                u64::MAX,
                &mut |_| Err(io::Error::other("disk full")),
            )
            .unwrap_err();
        assert!(matches!(err, InflateError::Sink(_)));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut rng = Rng(11);
        let data = mixed(&mut rng, 200_000);
        for level in [0, 1, 9] {
            let z = deflate(&data, level);
            for cut in [0, 1, 2, 5, 100, z.len() / 2, z.len() - 1] {
                let r = Inflater::new(&[]).inflate(
                    Compressed::whole(&z[..cut]),
                    Resume::BlockStart { bit: 0 },
                    data.len() as u64,
                );
                match r {
                    Err(InflateError::InputExhausted { .. }) => {}
                    other => panic!(
                        "level {level} cut {cut}: {:?}",
                        other.map(|(v, o)| (v.len(), o))
                    ),
                }
            }
        }
    }

    #[test]
    fn corrupt_input_never_panics() {
        let mut rng = Rng(12345);
        let data = mixed(&mut rng, 100_000);
        for level in [0, 1, 9] {
            let z = deflate(&data, level);
            for _ in 0..300 {
                let mut bad = z.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bad.len() as u64) as usize;
                    bad[i] ^= 1 << rng.below(8);
                }
                let start = rng.below(bad.len() as u64 * 8);
                let window = &data[..rng.below(data.len() as u64) as usize];
                let _ = Inflater::new(window).inflate(
                    Compressed::whole(&bad),
                    Resume::BlockStart { bit: start },
                    u64::MAX,
                );
                let _ = Inflater::new(window).inflate(
                    Compressed::whole(&bad),
                    Resume::MidBlock {
                        bit: start,
                        block_start_bit: rng.below(start + 1),
                        header: Compressed::whole(&bad),
                    },
                    u64::MAX,
                );
                let (out, _) = match Inflater::new(&[]).inflate(
                    Compressed::whole(&bad),
                    Resume::BlockStart { bit: 0 },
                    u64::MAX,
                ) {
                    Ok(r) => r,
                    Err(_) => continue,
                };
                // Undetected corruption is possible (no checksums here) but must not
                // go unnoticed by a comparison.
                let _ = out == data;
            }
        }
        // Block type 3 and a stored length mismatch are named errors.
        assert!(matches!(
            inflate_err(&[0b111]),
            InflateError::InvalidBlockType { bit: 0 }
        ));
        assert!(matches!(
            inflate_err(&[1, 5, 0, 0, 0]),
            InflateError::StoredLength { bit: 0 }
        ));
    }

    fn inflate_err(z: &[u8]) -> InflateError {
        Inflater::new(&[])
            .inflate(
                Compressed::whole(z),
                Resume::BlockStart { bit: 0 },
                u64::MAX,
            )
            .unwrap_err()
    }

    #[test]
    fn distances_beyond_the_window_are_errors() {
        let mut rng = Rng(8);
        let data = text(&mut rng, 1_000_000);
        let z = deflate(&data, 6);
        let (bit, out, _) = *blocks(&z).last().unwrap();
        assert!(out > 1000);
        let short = &data[out as usize - 100..out as usize];
        let err = Inflater::new(short)
            .inflate(Compressed::whole(&z), Resume::BlockStart { bit }, u64::MAX)
            .unwrap_err();
        assert!(
            matches!(err, InflateError::DistanceTooFar { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn bad_checkpoints_are_errors() {
        let z = deflate(&[9; 1000], 0);
        let hdr = Compressed::whole(&z);
        let mid = |bit| Resume::MidBlock {
            bit,
            block_start_bit: 0,
            header: hdr,
        };
        let run = |r| {
            Inflater::new(&[])
                .inflate(Compressed::whole(&z), r, 10)
                .map(|(v, _)| v)
        };
        // Stored block: data starts at byte 5.
        assert!(matches!(
            run(mid(5 * 8 + 3)),
            Err(InflateError::BadCheckpoint { .. })
        ));
        assert!(matches!(
            run(mid(4 * 8)),
            Err(InflateError::BadCheckpoint { .. })
        ));
        assert!(matches!(
            run(mid((5 + 1001) * 8)),
            Err(InflateError::BadCheckpoint { .. })
        ));
        assert_eq!(run(mid(5 * 8 + 8 * 990)).unwrap(), vec![9; 10]);
        assert!(matches!(
            Inflater::new(&[]).inflate(
                Compressed::new(&z[10..], 10),
                Resume::BlockStart { bit: 8 },
                10
            ),
            Err(InflateError::StartOutsideInput { .. })
        ));
    }
}
