#!/usr/bin/env python3
"""Peak memory of a casync download whose index declares the largest chunks casync allows.

A casync index may declare chunks of up to 128 MiB, and a chunk file holding 128 MiB of one
byte value is a zstd frame of 4 KiB: a hostile or careless publisher can make a client hold
gigabytes for a few KiB on the wire. This publishes such an index (`--chunks` chunks of
128 MiB, each chunk file a frame of RLE blocks, as `zstd` writes for such data) with its
store behind nginx, then runs `deltadrop-cli get` with a seed holding the first chunk, at
the default `--parallel` and at `--parallel 1`, and prints each run's wall time and peak
RSS. Every output is checked chunk by chunk. (casync itself refuses this store: its
`extract` fails with "Bad message".)

    bench/casync_memory.py [--chunks 16] [--runs 1] [--cli PATH] [--keep]

Needs nginx (nginx-light) and a release build (`cargo build --release -p deltadrop --bin
deltadrop-cli`; done if missing and no `--cli` is given). Writes `--chunks` x 128 MiB in a
temporary directory.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench import MB, ROOT, measured, start_nginx

CHUNK_LEN = 128 * MB
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# caformat.h: the index header's size and type, the table's type and its tail marker.
INDEX_HEADER_LEN = 48
INDEX_MAGIC = 0x96824D9C7B129FF9
TABLE_MAGIC = 0xE75B9E112F17417D
TAIL_MARKER = 0x4B4F050E5549ECD1
# A blob index with SHA-512/256 chunk ids (casync's default).
BLOB_FLAGS = 0xB000000000000000


def fill_of(chunk: int) -> int:
    """Chunk `chunk` is CHUNK_LEN bytes of this value."""
    return chunk + 1


def rle_frame(value: int, length: int) -> bytes:
    """A zstd frame of `length` bytes of `value`: RLE blocks of 128 KiB, each 4 bytes;
    no content size and a 2 MiB window, as casync's streamed frames."""
    frame = bytearray(ZSTD_MAGIC)
    frame += bytes([0x00, 11 << 3])  # frame header: window 2^(10 + 11), nothing else
    left = length
    while left:
        size = min(128 << 10, left)
        left -= size
        header = size << 3 | 1 << 1 | (left == 0)  # block size, type RLE, last block
        frame += header.to_bytes(3, "little") + bytes([value])
    return bytes(frame)


def chunk_id(value: int) -> bytes:
    piece = bytes([value]) * MB
    hasher = hashlib.new("sha512_256")
    for _ in range(CHUNK_LEN // MB):
        hasher.update(piece)
    return hasher.digest()


def words(*values: int) -> bytes:
    return b"".join(v.to_bytes(8, "little") for v in values)


def publish(www: Path, chunks: int) -> None:
    """Writes www/huge.img.caibx and its store www/default.castr."""
    items = b""
    for chunk in range(chunks):
        value = fill_of(chunk)
        hex_id = chunk_id(value).hex()
        folder = www / "default.castr" / hex_id[:4]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{hex_id}.cacnk").write_bytes(rle_frame(value, CHUNK_LEN))
        items += words((chunk + 1) * CHUNK_LEN) + bytes.fromhex(hex_id)
    table_len = 16 + (chunks + 1) * 40
    index = words(INDEX_HEADER_LEN, INDEX_MAGIC, BLOB_FLAGS, CHUNK_LEN, CHUNK_LEN, CHUNK_LEN)
    index += words(2**64 - 1, TABLE_MAGIC) + items
    index += words(0, 0, INDEX_HEADER_LEN, table_len, TAIL_MARKER)
    (www / "huge.img.caibx").write_bytes(index)


def holds_the_blob(path: Path, chunks: int) -> bool:
    """Whether `path` holds each chunk's bytes in turn, read a MiB at a time."""
    if path.stat().st_size != chunks * CHUNK_LEN:
        return False
    with path.open("rb") as f:
        for chunk in range(chunks):
            expected = bytes([fill_of(chunk)]) * MB
            for _ in range(CHUNK_LEN // MB):
                if f.read(MB) != expected:
                    return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=16)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--cli", type=Path, help="the deltadrop-cli to measure (default: a release build)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    ours = args.cli.resolve() if args.cli else None
    if ours is None:
        ours = ROOT / "target/release/deltadrop-cli"
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "deltadrop", "--bin", "deltadrop-cli"],
                       cwd=ROOT, check=True)
    work = Path(tempfile.mkdtemp(prefix="deltadrop-casync-memory-"))
    os.chmod(work, 0o755)
    www, client = work / "www", work / "client"
    www.mkdir()
    client.mkdir()
    publish(www, args.chunks)
    seed = client / "old.img"
    with seed.open("wb") as f:
        for _ in range(CHUNK_LEN // MB):
            f.write(bytes([fill_of(0)]) * MB)
    print(f"{args.chunks} chunks of {CHUNK_LEN // MB} MiB, chunk files of "
          f"{len(rle_frame(1, CHUNK_LEN))} bytes; the seed holds the first chunk", flush=True)

    nginx, port, _ = start_nginx(www, work / "nginx")
    url = f"http://127.0.0.1:{port}/huge.img.caibx"
    out = client / "huge.img"
    clients = {
        "deltadrop": [str(ours), "get", "-q", "-i", str(seed), "-o", str(out), url],
        "deltadrop --parallel 1": [str(ours), "get", "-q", "--parallel", "1", "-i", str(seed), "-o", str(out), url],
    }
    try:
        for run in range(args.runs):
            for name, cmd in clients.items():
                for leftover in client.glob("huge.img*"):
                    leftover.unlink()
                wall, rss, (user, system), failure = measured(cmd, client)
                verdict = f"FAILED ({failure})" if failure else (
                    "the blob" if holds_the_blob(out, args.chunks) else "A WRONG FILE")
                print(f"run {run + 1} {name:>22}: {wall:6.2f}s  peak RSS {rss / 1024:7.1f} MiB  "
                      f"CPU {user:.2f} user + {system:.2f} system  -> {verdict}", flush=True)
    finally:
        nginx.terminate()

    if args.keep:
        print(f"work directory: {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
