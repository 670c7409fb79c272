"""A rootfs tarball pair for bench.py: two builds of one root filesystem, a day apart.

Issue 24 measures two kinds of pair. A disk image keeps every file at its place, so
an edit shifts nothing but what follows it inside one file. An uncompressed `.tar`
of a root filesystem does not: each member is a 512-byte header and its data padded
to 512 bytes, so a file that grows or shrinks by a few bytes moves every member after
it by a multiple of 512 that is rarely a multiple of the block size (2-4 KiB). Blocks
that matched at their old offsets no longer do; only a scan that looks at every byte
offset finds them. That is what makes the tarball case hard for zsync-style scanning.

The tree looks like a Debian rootfs: most members are small text (configs, scripts,
package lists), many are already compressed (man pages, changelogs, icons: random
bytes), some are binaries (executables, libraries, kernel modules: semi-compressible)
and a few are large (initrd, kernel, locale archive, a big library, apt's cache). The
new build rewrites or edits in place a share `changed` of the files (an edit splices
stretches of new bytes, so the file grows or shrinks), removes a tenth of that share
and adds as many new files. Members are in sorted order with fixed owners, modes and
modification times (a file's new build gets the new day's time), so both tarballs are
the same bytes for the same seed.

Each file's content is made from its own seed when it is written, one file at a time:
memory stays at the largest file, whatever the size of the pair.
"""

import io
import math
import random
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path

MB = 1 << 20
# The old build's day (2026-12-04 00:00 UTC); the new build is a day later.
OLD_BUILD = 1796342400
NEW_BUILD = OLD_BUILD + 86400
KERNEL = "6.1.0-13-amd64"
# The few large files and their share of the pair's size (about a third, as in a
# small Debian rootfs with its kernel and initrd).
LARGE = (
    ("boot/initrd.img-" + KERNEL, "packed", 0.08),
    ("boot/vmlinuz-" + KERNEL, "packed", 0.03),
    ("usr/lib/locale/locale-archive", "binary", 0.07),
    ("usr/lib/x86_64-linux-gnu/libLLVM-15.so.1", "binary", 0.08),
    ("var/cache/apt/pkgcache.bin", "binary", 0.03),
)
# The other files: (kind, share of their count, smallest and largest size, where they go).
KINDS = (
    ("text", 0.70, 100, 24 << 10,
     ("etc", "etc/{pkg}", "usr/share/doc/{pkg}", "usr/lib/python3/dist-packages/{pkg}",
      "var/lib/dpkg/info", "usr/share/{pkg}")),
    ("packed", 0.18, 500, 64 << 10,
     ("usr/share/man/man1", "usr/share/man/man8", "usr/share/doc/{pkg}",
      "usr/share/icons/hicolor/48x48/apps")),
    ("binary", 0.12, 4 << 10, 1 << 20,
     ("usr/bin", "usr/sbin", "usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/{pkg}",
      f"usr/lib/modules/{KERNEL}/kernel/drivers/{{pkg}}")),
)
SUFFIXES = {"text": ("", ".conf", ".py", ".sh", ".list", ".md5sums"), "packed": (".gz", ".png"),
            "binary": ("", ".so.1", ".so.2", ".ko")}
WORDS = (b"usr lib etc systemd enable true false = /var/run -- if then fi done echo def return self import "
         b"Package: Version: Depends: amd64 0644 root ${HOME} ExecStart= [Unit] [Service] # 1.2.3-1 "
         b"Description: the a of to is for").split()
# The share of changed files (other than packed ones) made anew rather than edited: a
# package rebuilt from new sources differs throughout, most changes touch a few places.
REWRITTEN = 0.3
# Low-entropy bytes for the compressible parts of binaries: random bytes mapped onto
# 16 values (about 4 bits a byte, as code and tables compress).
NIBBLES = bytes(b"\x00\x48\x89\xe8\xff\x0f\x8b\x24\xc3\x85\x74\x01\x44\x41\x5d\x10"[i % 16] for i in range(256))


@dataclass(frozen=True)
class Member:
    """One regular file of a build: what its bytes are made from, not the bytes."""
    path: str
    kind: str
    size: int
    seed: int
    mtime: int
    # The new build's edits: (seed, count) of the stretches spliced in, or None.
    edits: tuple[int, int] | None = None


def write_pair(old: Path, new: Path, size_mb: int, changed: float, seed: int = 42) -> str:
    """Writes the old and the new build's tarball; returns what changed, in words."""
    rng = random.Random(seed)
    lines = text_lines(rng)
    packages = [package_name(rng) for _ in range(max(20, size_mb // 2))]
    old_tree = old_build(rng, packages, size_mb * MB)
    new_tree, counts = new_build(rng, packages, old_tree, changed)
    write_tar(old, old_tree, lines)
    write_tar(new, new_tree, lines)
    return (f"{len(old_tree)} files in the old build; the new build: {counts['rewritten']} rewritten, {counts['edited']} edited "
            f"in place, {counts['added']} added, {counts['removed']} removed")


def text_lines(rng: random.Random) -> list[bytes]:
    """The lines text files are made of: a shared pool, as configs and scripts repeat
    themselves (and so compress)."""
    return [b" ".join(rng.choices(WORDS, k=rng.randrange(2, 12))) + b"\n" for _ in range(4096)]


def old_build(rng: random.Random, packages: list[str], total: int) -> dict[str, Member]:
    """The old build's files: the large ones, then random ones until `total` bytes."""
    tree = {path: Member(path, kind, int(total * share), rng.getrandbits(64), OLD_BUILD - 86400 * rng.randrange(1, 400))
            for path, kind, share in LARGE}
    size = sum(member.size for member in tree.values())
    while size < total:
        member = random_member(rng, packages, tree, OLD_BUILD - 86400 * rng.randrange(1, 400))
        tree[member.path] = member
        size += member.size
    return tree


def new_build(rng: random.Random, packages: list[str], old_tree: dict[str, Member], changed: float
              ) -> tuple[dict[str, Member], dict[str, int]]:
    """The new build: a share `changed` of the files rewritten (packed ones always: a
    compressed file changes throughout) or edited in place, a tenth of that removed and
    as many added."""
    counts = dict.fromkeys(("rewritten", "edited", "added", "removed"), 0)
    tree = {}
    for path, member in old_tree.items():
        fate = rng.random()
        if fate < changed / 10:
            counts["removed"] += 1
            continue
        if fate < changed / 10 + changed:
            if member.kind == "packed" or rng.random() < REWRITTEN:
                counts["rewritten"] += 1
                resized = max(1, int(member.size * rng.uniform(0.9, 1.1)))
                member = replace(member, size=resized, seed=rng.getrandbits(64), mtime=NEW_BUILD)
            else:
                counts["edited"] += 1
                member = replace(member, mtime=NEW_BUILD, edits=(rng.getrandbits(64), rng.randrange(1, 5)))
        tree[path] = member
    for _ in range(int(len(old_tree) * changed / 10)):
        member = random_member(rng, packages, tree, NEW_BUILD)
        tree[member.path] = member
        counts["added"] += 1
    return tree, counts


def package_name(rng: random.Random) -> str:
    """A made-up package (or file) name: libsysnet3, pyconf0."""
    syllables = ("lib", "sys", "net", "gtk", "py", "x", "core", "util", "ssl", "fs", "d", "conf", "kit", "mm")
    return "".join(rng.choices(syllables, k=rng.randrange(2, 4))) + str(rng.randrange(10))


def random_member(rng: random.Random, packages: list[str], taken: dict[str, Member], mtime: int) -> Member:
    """A file of a kind drawn by KINDS' shares, its size log-uniform in the kind's range,
    at a path not `taken` and not a directory's."""
    kind, _, smallest, largest, dirs = rng.choices(KINDS, weights=[k[1] for k in KINDS])[0]
    size = int(math.exp(rng.uniform(math.log(smallest), math.log(largest))))
    while True:
        directory = rng.choice(dirs).format(pkg=rng.choice(packages))
        name = f"{package_name(rng)}{rng.choice(SUFFIXES[kind])}"
        path = f"{directory}/{name}"
        # A file named as a package could be a package's directory too.
        if path not in taken and name not in packages:
            return Member(path, kind, size, rng.getrandbits(64), mtime)


def content(member: Member, lines: list[bytes]) -> bytes:
    """A file's bytes: made from its seed, then the new build's edits spliced in."""
    rng = random.Random(member.seed)
    data = make_bytes(rng, member.kind, member.size, lines)
    if member.edits:
        data = edited(data, member.kind, *member.edits, lines)
    return data


def make_bytes(rng: random.Random, kind: str, size: int, lines: list[bytes]) -> bytes:
    """`size` bytes of a kind: text from the line pool, packed as random bytes, binary as
    stretches of random bytes (code), low-entropy bytes (tables), strings and zero padding."""
    if kind == "text":
        return b"".join(rng.choices(lines, k=size // 20 + 1))[:size]
    if kind == "packed":
        return rng.randbytes(size)
    parts, length = [], 0
    while length < size:
        stretch = rng.randrange(256, 16 << 10)
        part = rng.choice((
            lambda: rng.randbytes(stretch),
            lambda: rng.randbytes(stretch).translate(NIBBLES),
            lambda: b"".join(rng.choices(lines, k=stretch // 20 + 1))[:stretch].replace(b"\n", b"\0"),
            lambda: bytes(stretch // 4),
        ))()
        parts.append(part)
        length += len(part)
    return b"".join(parts)[:size]


def edited(data: bytes, kind: str, seed: int, count: int, lines: list[bytes]) -> bytes:
    """`data` with `count` stretches replaced by new bytes a few hundred bytes longer or
    shorter (a new version of a config line, a recompiled function): everything after each
    moves by an amount unrelated to any block size."""
    rng = random.Random(seed)
    for _ in range(count):
        at = rng.randrange(0, len(data) + 1)
        removed = rng.randrange(0, min(len(data) - at, 16 << 10) + 1)
        inserted = max(0, removed + rng.randrange(-300, 301))
        data = data[:at] + make_bytes(rng, kind, inserted, lines) + data[at + removed:]
    return data


def write_tar(path: Path, tree: dict[str, Member], lines: list[bytes]) -> None:
    """Packs a build as `tar --sort=name --owner=0 --group=0` would: its directories and
    files in sorted order, root-owned, with fixed modes and times."""
    directories = sorted({parent for member_path in tree for parent in parents(member_path)})
    entries = sorted([(d, None) for d in directories] + list(tree.items()), key=lambda entry: entry[0])
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, member in entries:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if member is None:
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, OLD_BUILD - 86400 * 400
                tar.addfile(info)
                continue
            data = content(member, lines)
            executable = member.kind == "binary" or member.path.endswith(".sh")
            info.size, info.mode, info.mtime = len(data), 0o755 if executable else 0o644, member.mtime
            tar.addfile(info, io.BytesIO(data))


def parents(path: str) -> list[str]:
    """Every directory above `path`: a/b/c -> a, a/b."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
