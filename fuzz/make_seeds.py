#!/usr/bin/env python3
"""Writes a small seed corpus for each fuzz target to fuzz/corpus/<target>/.

Seeds are valid inputs in each target's layout (see core/src/fuzzing.rs), so the fuzzer
starts deep in the parsers instead of at their first check. Control files and the gzip
file with its Z-Map2 come from Debian's zsyncmake when it is installed; the rest from
Python's zlib. Run from anywhere: python3 fuzz/make_seeds.py
"""

import os
import shutil
import struct
import subprocess
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def seed(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def sample(n):
    """Text-like bytes that compress well but not trivially."""
    words = [b"delta", b"drop", b"zsync", b"block", b"range", b"\n", b" ", b"0123"]
    out, x = bytearray(), 12345
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out += words[(x >> 16) % len(words)]
    return bytes(out[:n])


def raw_deflate(data, level):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def gzip_bytes(data):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def zmap_input(z_map, ranges, gz):
    out = struct.pack(">H", len(z_map) // 4) + z_map + bytes([len(ranges)])
    for start, length in ranges:
        out += struct.pack(">IH", start, length)
    return out + gz


def z_map_of(control):
    """The raw Z-Map2 bytes of a control file."""
    head = b"\nZ-Map2: "
    at = control.index(head) + len(head)
    end = control.index(b"\n", at)
    n = int(control[at:end])
    return control[end + 1 : end + 1 + 4 * n]


def from_zsyncmake():
    if not shutil.which("zsyncmake"):
        print("zsyncmake not found: no control file seeds from it")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f.bin")
        data = sample(12000)
        with open(path, "wb") as f:
            f.write(data)

        def make(*args):
            out = os.path.join(tmp, "out.zsync")
            subprocess.run(
                ["zsyncmake", *args, "-o", out, "f.bin"],
                cwd=tmp,
                check=True,
                capture_output=True,
            )
            with open(out, "rb") as f:
                return f.read()

        seed("control_file", "plain-2k", make("-b", "2048", "-u", "f.bin"))
        seed("control_file", "plain-512", make("-b", "512", "-u", "http://h/f.bin"))
        # -z: the gzip target, with its Z-Map2 (written next to the input as f.bin.gz).
        gz_control = make("-z", "-b", "1024")
        seed("control_file", "gzip-1k", gz_control)
        with open(os.path.join(tmp, "f.bin.gz"), "rb") as f:
            gz = f.read()
        z_map = z_map_of(gz_control)
        seed("zmap", "zsyncmake", zmap_input(z_map, [(100, 50), (5000, 3000)], gz))
        seed("inflate", "zsyncmake-gzip", bytes([1, 0, 0, 0, 0]) + gz)


def main():
    from_zsyncmake()
    data = sample(6000)
    for level in (0, 1, 9):
        deflated = raw_deflate(data, level)
        seed("inflate", f"raw-{level}", bytes([0, 0, 0, 0, 0]) + deflated)
        seed("inflate", f"blocks-{level}", bytes([3, 0, 0, 0, 0]) + deflated)
    seed("inflate", "gzip", bytes([1, 0, 0, 0, 0]) + gzip_bytes(data))
    # Mid-block, with a window whose first byte is the block's header bit.
    seed("inflate", "mid", bytes([2, 0, 1, 3]) + struct.pack(">H", 200) + raw_deflate(data, 6))

    seed(
        "multipart",
        "nginx",
        b"multipart/byteranges; boundary=00000000000000000001\n\x10"
        b"\r\n--00000000000000000001\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Range: bytes 0-4/100\r\n\r\nhello\r\n--00000000000000000001\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Range: bytes 10-12/100\r\n\r\n"
        b"--x\r\n--00000000000000000001--\r\n",
    )
    seed(
        "multipart",
        "quoted-lf",
        b'Multipart/Byteranges; charset=x; boundary="a b"\n\x00'
        b"--a b\nContent-Range: bytes 5-5/*\n\nx\n--a b--\n",
    )

    seed("serve_request", "get", b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n")
    seed(
        "serve_request",
        "ranges",
        b"GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9,20-,-5\r\n\r\n"
        b"HEAD /a%20b.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\nConnection: close\r\n\r\n",
    )
    seed(
        "serve_request",
        "outside",
        b"GET /d/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\nPUT / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    # Framing hyper must get right: a body that is itself a request, and a chunked one.
    seed(
        "serve_request",
        "bodies",
        b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 28\r\n\r\nGET /f HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"GET /f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    print("seeds written to", CORPUS)


if __name__ == "__main__":
    main()
