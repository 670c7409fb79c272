#!/usr/bin/env python3
"""deltadrop vs zsync, side by side, on one machine, in one run.

Generates an old/new pair of disk-image-like files (random data, text, zero runs; the
new one with rewritten stretches and small insertions/deletions that shift everything
after them), or with `--pair tarball` two builds of a rootfs as uncompressed tarballs
(bench/rootfs.py: a file edited, added or removed moves every member after it by a
multiple of 512 bytes, not of the block size), publishes the new one with Debian's
zsyncmake behind nginx on a loopback port, then runs `zsync` and `deltadrop-cli get`
alternately with the old one as seed and prints wall time, bytes fetched, requests and
peak RSS with ratios (deltadrop / zsync). Two cases: the plain target, and the gzip
target `zsyncmake -z` publishes (only the .gz and a map into it are served; clients
fetch compressed ranges and inflate them). `make` and `make -z` are timed against
zsyncmake on the same file. The zck case publishes the pair as zchunk files (Debian's
`zck`) and runs zchunk's own client, `zckdl`, beside ours, each with the old `.zck` as
its seed, then does the same with the pair made by `deltadrop-cli make --zck` (timed
against `zck` on the new file); the casync case publishes the new file with `casync
make` (index and chunk store) and runs `casync extract --seed` beside ours.

With `--link 20:100` every client reaches nginx through a simulated link of 20 Mbit/s
and 100 ms round trip (bench/link.py: a delaying, pacing proxy, checked against a 5 MiB
fetch before the cases run), and each case also prints the floor: the bytes deltadrop
fetched (the complete scan's: every block a seed holds is found) over the rate, plus one
round trip, and every client's wall time as a multiple of it; then one more deltadrop
run with `--json` shows what is above the floor (`stages s`: the control file, the seed
scan and plan, the fetch beside its own floor, verify and install). `--baseline OLD-CLI` runs
an older deltadrop-cli too, in turn with the peer and the current one, as the column
"before": a change's before and after measured side by side on the same machine state.

    bench/bench.py [--pair image|tarball] [--size-mb 600] [--changed 0.2] [--runs 2]
                   [--case plain|gzip|both|zck|casync|all] [--keep]
                   [--link RATE_MBIT:RTT_MS] [--baseline OLD-CLI] [--ours CLI]

Needs zsync, zsyncmake, nginx and GNU time (Debian packages zsync, nginx-light, time;
zchunk and casync for their cases) and a release build (`cargo build --release -p
deltadrop --bin deltadrop-cli`; done at start unless `--ours` names a binary).
"""

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import link
import rootfs

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20
# GNU time (Debian package `time`): `measured` takes each client's peak RSS from it.
GNU_TIME = "/usr/bin/time"


def ours_zck_seed(old: Path) -> Path:
    """Where the old file's .zck made by `make --zck` goes: the seed of the zck-ours case."""
    return old.with_name(f"{old.name}.ours.zck")


def generate(old: Path, new: Path, size_mb: int, changed: float, seed: int = 42, pair: str = "image") -> str:
    """Writes the old and the new file of a pair of the kind `pair` names (a key of
    PAIRS); returns what changed between them, in words."""
    return PAIRS[pair].write(old, new, size_mb, changed, seed)


def write_image_pair(old: Path, new: Path, size_mb: int, changed: float, seed: int) -> str:
    """Writes an image-like pair 1 MiB chunk at a time (memory stays flat)."""
    rng = random.Random(seed)
    rewritten = shifted = 0
    words = b"usr lib systemd kernel mount ok error started image eth0 0x7f3a boot".split()
    with old.open("wb") as fo, new.open("wb") as fn:
        for i in range(size_mb):
            kind = rng.random()
            if kind < 0.25:
                chunk = bytes(MB)  # zero runs, as in a sparse filesystem image
            elif kind < 0.55:
                line = b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
                chunk = (line * (MB // len(line) + 1))[:MB]
                chunk = bytes(rng.randbytes(64)) + chunk[64:]
            else:
                chunk = rng.randbytes(MB)
            fo.write(chunk)
            r = rng.random()
            if r < changed:
                # A rewritten stretch: a quarter of this MiB up to all of it.
                rewritten += 1
                length = rng.randrange(MB // 4, MB)
                start = rng.randrange(0, MB - length)
                chunk = chunk[:start] + rng.randbytes(length) + chunk[start + length :]
            if rng.random() < changed / 4:
                # An insertion or deletion: shifts everything after it.
                at = rng.randrange(0, MB)
                shifted += 1
                if rng.random() < 0.5:
                    chunk = chunk[:at] + rng.randbytes(rng.randrange(1, 300)) + chunk[at:]
                else:
                    chunk = chunk[:at] + chunk[at + rng.randrange(1, 300) :]
            fn.write(chunk)
    return f"{rewritten} of {size_mb} MiB chunks partly rewritten, {shifted} shifted by an insertion or deletion"


@dataclass(frozen=True)
class Pair:
    """A kind of old/new pair: how it is written and what its files are called."""
    write: Callable[[Path, Path, int, float, int], str]  # (old, new, size_mb, changed, seed)
    seed_name: str  # the old file: every client's seed
    target_name: str  # the new file as published
    described: str  # the report's words for it, with {changed} for --changed


PAIRS = {
    "image": Pair(write_image_pair, "old.img", "image.img", "image, ~{changed:.0%} of MiB chunks changed"),
    "tarball": Pair(rootfs.write_pair, "old.tar", "new.tar",
                    "rootfs tarball, ~{changed:.0%} of files rewritten or edited"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(root: Path, state: Path) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    log = state / "access.log"
    (state / "tmp").mkdir(parents=True, exist_ok=True)
    conf = state / "nginx.conf"
    conf.write_text(
        f"""daemon off; master_process off; pid {state}/nginx.pid; error_log {state}/error.log;
events {{}}
http {{
  log_format plain '$request $status $body_bytes_sent';
  access_log {log} plain;
  client_body_temp_path {state}/tmp; proxy_temp_path {state}/tmp; fastcgi_temp_path {state}/tmp;
  uwsgi_temp_path {state}/tmp; scgi_temp_path {state}/tmp;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
"""
    )
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(state)], stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port, log
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nginx did not start")


def measured(cmd: list[str], cwd: Path) -> tuple[float, int, tuple[float, float], str | None]:
    """Runs cmd; returns (wall seconds, peak RSS in KiB, (user, system) CPU seconds) of
    that child alone, and what went wrong if it failed."""
    # Each run gets its own process whose only child is cmd (under GNU time), so
    # RUSAGE_CHILDREN is cmd's CPU time. Its peak RSS is not: Linux carries a process's
    # peak across fork and exec, so a child of Python starts at Python's (about 14 MiB;
    # /bin/true measured so) and a smaller client would show Python's. GNU time is small
    # (about 1 MiB), forks cmd itself and reports that child's peak.
    if not Path(GNU_TIME).exists():
        raise SystemExit(f"{GNU_TIME} (GNU time) is needed for peak RSS: apt-get install time")
    with tempfile.NamedTemporaryFile("r", prefix="deltadrop-bench-rss-") as rss_file:
        probe = (
            "import resource,subprocess,sys,time;t=time.monotonic();"
            "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
            "w=time.monotonic()-t;"
            "sys.stderr.write(r.stderr.decode(errors='replace')) if r.returncode else None;"
            "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(w, u.ru_utime, u.ru_stime, r.returncode)"
        )
        timed = [GNU_TIME, "--quiet", "--format=%M", f"--output={rss_file.name}", *cmd]
        out = subprocess.run([sys.executable, "-c", probe, *timed], cwd=cwd, capture_output=True, text=True)
        rss = rss_file.read().split()[-1]
    wall, user, system, code = out.stdout.split()
    failure = f"exit {code}: {out.stderr.strip()}" if code != "0" else None
    return float(wall), int(rss), (float(user), float(system)), failure


def log_since(log: Path, offset: int, target: str) -> tuple[int, int, int]:
    """(requests, body bytes) for the target (every file below it, if it ends in '/')
    logged after byte `offset`; and new offset."""
    data = log.read_bytes()
    requests = body = 0
    prefix = f"GET /{target}" if target.endswith("/") else f"GET /{target} "
    for line in data[offset:].decode().splitlines():
        if line.startswith(prefix):
            requests += 1
            body += int(line.rsplit(" ", 1)[1])
    return requests, body, len(data)


def fresh_output(client: Path, name: str) -> Path:
    """Where client `name` writes the target, with what an earlier run left there gone."""
    for leftover in client.glob(f"out-{name}.img*"):
        leftover.unlink()
    return client / f"out-{name}.img"


def same_file(a: Path, b: Path) -> bool:
    """Compares two files 1 MiB at a time (memory stays flat)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while chunk := fa.read(MB):
            if chunk != fb.read(MB):
                return False
    return True


def report(case: str, peer: str, args: argparse.Namespace,
           results: dict[str, list[tuple[float, int, int, int]]], control_size: int | None) -> None:
    """Prints each client's best run and median beside the peer's, with ratios to the
    peer; on a link, also the floor and each client's wall time as a multiple of it
    (control_size: the control file's bytes, if it is not the target itself)."""
    clients = list(results)  # the peer, then "before" if a baseline runs, then "deltadrop"
    ratio_headings = ["b.ratio" if name == "before" else "ratio" for name in clients[1:]]

    def best(name: str, i: int) -> float:
        return min((r[i] for r in results[name]), default=float("nan"))

    def median(name: str, i: int) -> float:
        return statistics.median(r[i] for r in results[name]) if results[name] else float("nan")

    def ratio(part: float, whole: float) -> float:
        return part / whole if whole else float("nan")

    over = f" over a {args.link[0]:g} Mbit/s link with {args.link[1]:g} ms RTT" if args.link else ""
    print(f"\n{case}: {args.size_mb} MiB {PAIRS[args.pair].described.format(changed=args.changed)}, "
          f"{args.runs} runs each{over}:")
    print(f"{'':14}" + "".join(f"{name:>12}" for name in clients) + "".join(f"{h:>8}" for h in ratio_headings)
          + f"   (medians: {', '.join(clients + ratio_headings)})")
    for label, i, fmt in (("wall s", 0, "{:.2f}"), ("fetched MiB", 1, "{:.2f}"), ("requests", 2, "{:.0f}"),
                          ("peak RSS MiB", 3, "{:.1f}")):
        scale = MB if i == 1 else 1024 if i == 3 else 1
        row = f"{label:14}"
        for stat in (best, median):
            values = [stat(name, i) for name in clients]
            shown = [fmt.format(v / scale) for v in values] + [f"{ratio(v, values[0]):.2f}" for v in values[1:]]
            if stat is best:
                row += "".join(f"{cell:>12}" for cell in shown[:len(clients)])
                row += "".join(f"{cell:>8}" for cell in shown[len(clients):])
            else:
                row += f"   ({', '.join(shown)})"
        print(row)
    if args.link:
        report_floor(clients, args.link, best, median, control_size)
    if "before" in clients:
        print(f"(ratio: deltadrop / {peer}; b.ratio: before, the --baseline binary, / {peer})")
    print("(best of the runs; medians in brackets)", flush=True)


def report_floor(clients: list[str], link_shape: tuple[float, float], best, median,
                 control_size: int | None) -> None:
    """The floor on a link: the bytes the complete scan fetches (deltadrop's), at the
    link's rate, plus the one round trip of asking for them; and each client's wall
    time over it. The control file is not in the floor (as issue 24 defines it); its
    cost is printed beside it, to tell it from the rest of the gap."""
    mbit, rtt_ms = link_shape
    bytes_per_s = mbit * 1e6 / 8
    fetched = best("deltadrop", 1)
    floor = fetched / bytes_per_s + rtt_ms / 1000
    print(f"{'floor s':14}{floor:>12.2f}   = {fetched / MB:.2f} MiB (deltadrop's: the complete scan's bytes) "
          f"/ {mbit:g} Mbit/s + {rtt_ms:g} ms RTT")
    if control_size is not None:
        print(f"{'':14}{'':12}   not in it: the control file, {control_size / MB:.2f} MiB = "
              f"{control_size / bytes_per_s:.2f} s, and the round trips of connecting and fetching it")
    row = f"{'x floor':14}" + "".join(f"{best(name, 0) / floor:>12.2f}" for name in clients)
    print(row + f"   ({', '.join(f'{median(name, 0) / floor:.2f}' for name in clients)})")


def phases(cmd: list[str], cwd: Path) -> dict[str, float]:
    """Runs `deltadrop-cli get --json` once and notes when each stage's first event came,
    in seconds from the start: where the time goes (on a link, what is above the floor)."""
    marks = {"control_loaded": "loaded", "planned": "planned"}
    seen: dict[str, float] = {}
    started = time.monotonic()
    with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            event = json.loads(line)
            kind = event.get("event")
            name = event["phase"] if kind == "phase" else marks.get(kind)
            if name:
                seen.setdefault(name, time.monotonic() - started)
    if proc.returncode != 0:
        raise SystemExit(f"deltadrop failed (exit {proc.returncode}) in the timed run")
    seen["exit"] = time.monotonic() - started
    return seen


def report_phases(seen: dict[str, float], floor_rtt_s: float, fetched: int, mbit: float) -> None:
    """Prints one timed run's stages; the fetch beside its own floor (the same bytes at the
    link's rate, plus the round trip of asking)."""
    fetch_floor = fetched / (mbit * 1e6 / 8) + floor_rtt_s
    fetch = (f"fetch {seen['verifying'] - seen['fetching']:.2f} (its floor {fetch_floor:.2f})"
             if "fetching" in seen else "nothing to fetch")
    print(f"{'stages s':14}control file {seen['loaded']:.2f}, seed scan and plan "
          f"{seen['planned'] - seen['loaded']:.2f}, {fetch}, "
          f"verify and install {seen['exit'] - seen['verifying']:.2f}: total {seen['exit']:.2f} "
          f"(one more run, with --json)")


def link_shape(text: str) -> tuple[float, float]:
    """--link RATE_MBIT:RTT_MS, e.g. 20:100."""
    try:
        mbit, rtt_ms = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give RATE_MBIT:RTT_MS, e.g. 20:100") from None
    if mbit <= 0 or rtt_ms < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the rate must be above 0 and the RTT not below 0")
    return mbit, rtt_ms


def executable(text: str) -> Path:
    """--ours and --baseline: a binary that exists and may be run."""
    path = Path(text).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise argparse.ArgumentTypeError(f"{text}: not an executable file")
    return path


def start_link(args: argparse.Namespace, www: Path, server_port: int) -> link.Proxy:
    """Puts the simulated link between the clients and nginx and checks it with a
    5 MiB fetch (refusing to go on if it is off)."""
    calibration = www / "link-calibration.bin"
    calibration.write_bytes(random.Random(0).randbytes(5 * MB))
    proxy = link.Proxy(server_port, *args.link)
    print(f"link: {args.link[0]:g} Mbit/s, {args.link[1]:g} ms RTT, through a proxy on port {proxy.port}")
    print(link.calibrate(proxy, f"/{calibration.name}", 5 * MB), flush=True)
    return proxy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=600)
    ap.add_argument("--pair", choices=list(PAIRS), default="image",
                    help="a disk image pair or a rootfs tarball pair (bench/rootfs.py)")
    ap.add_argument("--changed", type=float, default=0.2,
                    help="share of MiB chunks rewritten (image) or of files rewritten or edited (tarball)")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--case", choices=["plain", "gzip", "both", "zck", "casync", "all"], default="both",
                    help="plain target, gzip target (zsyncmake -z), both; zchunk; casync; or all")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--link", type=link_shape, metavar="RATE_MBIT:RTT_MS",
                    help="run the clients through a simulated link, e.g. 20:100 (20 Mbit/s, 100 ms round trip)")
    ap.add_argument("--baseline", type=executable, metavar="OLD-CLI",
                    help="an older deltadrop-cli, run in turn with the others and shown as 'before'")
    ap.add_argument("--ours", type=executable, metavar="CLI",
                    help="the deltadrop-cli to measure (default: build this tree's release binary)")
    args = ap.parse_args()

    for tool in ("zsync", "zsyncmake", "nginx"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            raise SystemExit(f"{tool} is needed: apt-get install zsync nginx-light")
    ours = args.ours or ROOT / "target/release/deltadrop-cli"
    if not args.ours:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "deltadrop", "--bin", "deltadrop-cli"], cwd=ROOT,
                       check=True)

    work = Path(tempfile.mkdtemp(prefix="deltadrop-bench-"))
    os.chmod(work, 0o755)
    www, client = work / "www", work / "client"
    www.mkdir()
    client.mkdir()
    pair = PAIRS[args.pair]
    old, new = client / pair.seed_name, www / pair.target_name
    published = pair.target_name
    t = time.monotonic()
    changes = generate(old, new, args.size_mb, args.changed, pair=args.pair)
    print(f"generated the {args.pair} pair in {time.monotonic() - t:.1f}s: the new file {new.stat().st_size / MB:.1f} "
          f"MiB, {changes}", flush=True)
    if args.case in ("zck", "all"):
        for tool in ("zck", "zckdl"):
            if not shutil.which(tool):
                raise SystemExit(f"{tool} is needed: apt-get install zchunk")
        made_in = {}
        for made in (old, new):
            t = time.monotonic()
            subprocess.run(["zck", "-o", f"{made}.zck", str(made)], check=True, stdout=subprocess.DEVNULL)
            made_in[made] = time.monotonic() - t
        print(f"zck made both .zck files in {sum(made_in.values()):.1f}s "
              f"({Path(f'{new}.zck').stat().st_size / MB:.1f} MiB)", flush=True)
        # The same pair made by us: the new one served from www/ours/, the old one the seed.
        (www / "ours").mkdir()
        ours_made_in = {}
        for made, out in ((old, ours_zck_seed(old)), (new, www / "ours" / f"{published}.zck")):
            t = time.monotonic()
            subprocess.run([str(ours), "make", "--zck", "-o", str(out), str(made)], check=True,
                           stderr=subprocess.DEVNULL)
            ours_made_in[made] = time.monotonic() - t
        print(f"make --zck of the new file: zck {made_in[new]:.2f}s "
              f"({Path(f'{new}.zck').stat().st_size / MB:.2f} MiB), deltadrop-cli {ours_made_in[new]:.2f}s "
              f"({(www / 'ours' / f'{published}.zck').stat().st_size / MB:.2f} MiB) "
              f"({ours_made_in[new] / made_in[new]:.2f}x)", flush=True)
    if args.case in ("casync", "all"):
        if not shutil.which("casync"):
            raise SystemExit("casync is needed: apt-get install casync")
        t = time.monotonic()
        subprocess.run(["casync", "make", f"--store={www / 'default.castr'}", str(www / f"{published}.caibx"),
                        str(new)], check=True, stdout=subprocess.DEVNULL)
        casync_s = time.monotonic() - t
        ours_dir = work / "ours-casync"
        ours_dir.mkdir()
        t = time.monotonic()
        subprocess.run([str(ours), "make", "--caibx", "-o", str(ours_dir / f"{published}.caibx"), str(new)], check=True,
                       stderr=subprocess.DEVNULL)
        make_caibx_s = time.monotonic() - t
        if not same_file(ours_dir / f"{published}.caibx", www / f"{published}.caibx"):
            raise SystemExit("make --caibx wrote another index than casync make")
        print(f"make --caibx: casync make {casync_s:.2f}s, deltadrop-cli {make_caibx_s:.2f}s "
              f"({make_caibx_s / casync_s:.2f}x), the same index", flush=True)
    if args.case in ("plain", "both", "all"):
        t = time.monotonic()
        subprocess.run(["zsyncmake", "-u", published, published], cwd=www, check=True, stderr=subprocess.DEVNULL)
        zsyncmake_s = time.monotonic() - t
        t = time.monotonic()
        subprocess.run([str(ours), "make", "-u", published, "-o", str(work / "ours.zsync"), str(new)], check=True,
                       stderr=subprocess.DEVNULL)
        make_s = time.monotonic() - t
        print(f"make: zsyncmake {zsyncmake_s:.2f}s, deltadrop-cli make {make_s:.2f}s ({make_s / zsyncmake_s:.2f}x)")

    if args.case in ("gzip", "both", "all"):
        # The gzip case: zsyncmake -z publishes only the .gz and a map into it.
        gzdir = www / "gz"
        gzdir.mkdir()
        os.link(new, gzdir / published)
        t = time.monotonic()
        subprocess.run(["zsyncmake", "-z", "-u", f"{published}.gz", published], cwd=gzdir, check=True,
                       stderr=subprocess.DEVNULL)
        zsyncmake_z_s = time.monotonic() - t
        (gzdir / published).unlink()
        ours_gz = work / "ours-gz"
        ours_gz.mkdir()
        t = time.monotonic()
        subprocess.run([str(ours), "make", "-z", "-o", str(ours_gz / f"{published}.zsync"), str(new)], check=True,
                       stderr=subprocess.DEVNULL)
        make_z_s = time.monotonic() - t
        print(f"make -z: zsyncmake {zsyncmake_z_s:.2f}s "
              f"({(gzdir / f'{published}.gz').stat().st_size / MB:.1f} MiB .gz), "
              f"deltadrop-cli {make_z_s:.2f}s ({(ours_gz / f'{published}.gz').stat().st_size / MB:.1f} MiB .gz) "
              f"({make_z_s / zsyncmake_z_s:.2f}x)")

    nginx, port, log = start_nginx(www, work / "nginx")
    cases = {"plain": (f"{published}.zsync", published), "gzip": (f"gz/{published}.zsync", f"gz/{published}.gz"),
             "zck": (f"{published}.zck", f"{published}.zck"),
             "zck-ours": (f"ours/{published}.zck", f"ours/{published}.zck"),
             "casync": (f"{published}.caibx", "default.castr/")}
    chosen = {"both": ["plain", "gzip"], "zck": ["zck", "zck-ours"],
              "all": ["plain", "gzip", "zck", "zck-ours", "casync"]}.get(args.case, [args.case])
    cases = {case: cases[case] for case in chosen}
    proxy = None
    try:
        if args.link:
            proxy = start_link(args, www, port)
        client_port = proxy.port if proxy else port
        offset = 0
        for case, (control, target) in cases.items():
            url = f"http://127.0.0.1:{client_port}/{control}"
            seed, expected = {"zck": (Path(f"{old}.zck"), Path(f"{new}.zck")),
                              "zck-ours": (ours_zck_seed(old), www / "ours" / f"{published}.zck")}.get(case, (old, new))
            peer = {"zck": "zckdl", "zck-ours": "zckdl", "casync": "casync"}.get(case, "zsync")
            # zckdl has no -o: it writes the URL's file name in its working directory.
            peer_dir = client / "peer"

            def get(cli: Path, out: Path, *flags: str) -> list[str]:
                return [str(cli), "get", *flags, "-i", str(seed), "-o", str(out), url]

            clients = {
                "zsync": lambda out: ["zsync", "-q", "-i", str(old), "-o", str(out), url],
                "zckdl": lambda out: ["zckdl", "-q", f"--source={seed}", url],
                "casync": lambda out: ["casync", "extract", f"--store=http://127.0.0.1:{client_port}/default.castr",
                                       f"--seed={seed}", url, str(out)],
                "before": lambda out: get(args.baseline, out, "-q"),
                "deltadrop": lambda out: get(ours, out, "-q"),
            }
            chosen_clients = [peer, "before", "deltadrop"] if args.baseline else [peer, "deltadrop"]
            clients = {name: clients[name] for name in chosen_clients}
            results: dict[str, list[tuple[float, int, int, int]]] = {name: [] for name in clients}
            for run in range(args.runs):
                for name, cmd in clients.items():
                    out = peer_dir / Path(control).name if name == "zckdl" else fresh_output(client, name)
                    shutil.rmtree(peer_dir, ignore_errors=True)
                    peer_dir.mkdir()
                    subprocess.run(["sync"])
                    wall, rss, (user, system), failure = measured(cmd(out), peer_dir if name == "zckdl" else client)
                    # Each run starts with nothing left to write back. zsync never flushes
                    # its output (we do, before the rename), so without this the `sync`
                    # above would spend a second or two writing zsync's file before our
                    # turn only. On a VM with free page reporting that wait also hands the
                    # pages just freed back to the host, and our writes then pay to fault
                    # them in again: a cost only one side paid.
                    subprocess.run(["sync"])
                    requests, body, offset = log_since(log, offset, target)
                    if failure and name != "deltadrop":
                        # A peer's bug is a result too (zsync 0.6.2 cannot map gzip
                        # offsets past 2 GiB), and so is an older build's; ours
                        # failing ends the benchmark.
                        print(f"{case} run {run + 1} {name:>9}: FAILED ({failure}) after {wall:.2f}s, "
                              f"fetched {body / MB:.2f} MiB in {requests} requests", flush=True)
                        continue
                    if failure:
                        raise SystemExit(f"{name} failed: {failure}")
                    if not same_file(out, expected):
                        raise SystemExit(f"{name} produced a wrong file")
                    results[name].append((wall, body, requests, rss))
                    print(f"{case} run {run + 1} {name:>9}: {wall:6.2f}s  fetched {body / MB:8.2f} MiB  "
                          f"{requests:4d} requests  peak RSS {rss / 1024:6.1f} MiB  "
                          f"CPU {user:.2f} user + {system:.2f} system", flush=True)
            control_size = None if control == target else (www / control).stat().st_size
            report(case, peer, args, results, control_size)
            if args.link:
                out = fresh_output(client, "deltadrop")
                subprocess.run(["sync"])
                seen = phases(get(ours, out, "--json"), client)
                subprocess.run(["sync"])
                if not same_file(out, expected):
                    raise SystemExit("deltadrop produced a wrong file in the timed run")
                _, fetched, offset = log_since(log, offset, target)
                report_phases(seen, args.link[1] / 1000, fetched, args.link[0])
    finally:
        if proxy:
            proxy.close()
        nginx.terminate()

    if args.keep:
        print(f"work directory: {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
