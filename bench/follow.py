#!/usr/bin/env python3
"""A daily build on a slow link: from "build published" to "verified on disk".

Generates yesterday's and today's image (bench.py's generator), and serves them with
`deltadrop-cli serve --limit-rate` at a link's speed (default 20 Mbit/s, shared by all
connections as one link is). Yesterday's build is already in the followed folder (a
first `follow --once`, at full speed). Then today's build is published and three ways of
getting it are timed on the slow link, each from the same start:

  follow     `deltadrop-cli follow URL --into FOLDER --once`: what a scheduled follow
             runs (the kept build is its seed; it also keeps the folder);
  zsync      Debian's `zsync -i yesterday.img URL`, by hand;
  full       `curl` of the whole image: no delta at all.

It prints each one's wall time, bytes and peak RSS, the floor (the bytes a delta must
fetch over the link's bandwidth) and ratios. A scheduled follow adds the wait until its
next check (at most its interval: `--every`, 1 h by default) to its line; the app checks
at start and then on schedule.

    bench/follow.py [--size-mb 200] [--changed 0.2] [--link-mbit 20] [--runs 1]

Needs zsync, zsyncmake and curl, and builds deltadrop-cli in release mode.
"""

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import bench

MB = 1 << 20


def serve(ours: Path, root: Path, kib_per_s: int | None) -> tuple[subprocess.Popen, int]:
    port = bench.free_port()
    cmd = [str(ours), "serve", str(root), "--listen", f"127.0.0.1:{port}"]
    if kib_per_s:
        cmd += ["--limit-rate", str(kib_per_s)]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("deltadrop-cli serve did not start")


def publish(latest: Path, build: Path) -> None:
    """Puts `build` at latest/image.img with its .zsync, as a build server would."""
    target = latest / "image.img"
    target.unlink(missing_ok=True)
    shutil.copyfile(build, target)
    (latest / "image.img.zsync").unlink(missing_ok=True)
    subprocess.run(["zsyncmake", "-u", "image.img", "image.img"], cwd=latest, check=True,
                   stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--changed", type=float, default=0.2)
    ap.add_argument("--link-mbit", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    for tool in ("zsync", "zsyncmake", "curl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install zsync curl")
    ours = bench.ROOT / "target/release/deltadrop-cli"
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "deltadrop", "--bin", "deltadrop-cli"],
                   cwd=bench.ROOT, check=True)
    kib_per_s = int(args.link_mbit * 1e6 / 8 / 1024)

    work = Path(tempfile.mkdtemp(prefix="deltadrop-follow-bench-"))
    try:
        yesterday, today = work / "yesterday.img", work / "today.img"
        bench.generate(yesterday, today, args.size_mb, args.changed)
        latest = work / "www/latest"
        latest.mkdir(parents=True)
        folder = work / "builds"
        publish(latest, yesterday)
        fast, port = serve(ours, work / "www", None)
        url = f"http://127.0.0.1:{port}/latest/image.img.zsync"
        subprocess.run([str(ours), "follow", url, "--into", str(folder), "--once", "-q"], check=True,
                       stdout=subprocess.DEVNULL)
        fast.terminate()
        fast.wait()

        publish(latest, today)
        slow, port = serve(ours, work / "www", kib_per_s)
        url = f"http://127.0.0.1:{port}/latest/image.img.zsync"
        plan = subprocess.run([str(ours), "info", "--json", "-i", str(yesterday), url], capture_output=True,
                              text=True, check=True).stdout.splitlines()[-1]
        to_fetch = int(plan.split('"bytes_to_fetch":')[1].split(",")[0].split("}")[0])
        floor = to_fetch / (kib_per_s * 1024)
        full_floor = today.stat().st_size / (kib_per_s * 1024)
        print(f"{args.size_mb} MiB image, ~{args.changed:.0%} changed, {args.link_mbit:g} Mbit/s link "
              f"({kib_per_s} KiB/s): {to_fetch / MB:.1f} MiB to fetch, floor {floor:.1f} s "
              f"(the whole image: {full_floor:.1f} s)", flush=True)
        rows = []
        for run in range(args.runs):
            runs = {
                "follow": ([str(ours), "follow", url, "--into", str(folder), "--once", "-q"], folder / "image.img"),
                "zsync": (["zsync", "-q", "-i", str(yesterday), "-o", str(work / "zsync.img"), url],
                          work / "zsync.img"),
                "full": (["curl", "-s", "-o", str(work / "full.img"), url.removesuffix(".zsync")],
                         work / "full.img"),
            }
            for name, (cmd, out) in runs.items():
                if name == "follow" and run:
                    # Back to yesterday's build in the folder, as a new day starts.
                    shutil.rmtree(folder)
                    publish(latest, yesterday)
                    subprocess.run([str(ours), "follow", url, "--into", str(folder), "--once", "-q"],
                                   check=True, stdout=subprocess.DEVNULL)
                    publish(latest, today)
                wall, rss, _, failure = bench.measured(cmd, work)
                if failure:
                    raise SystemExit(f"{name} failed: {failure}")
                if not bench.same_file(out, today):
                    raise SystemExit(f"{name} produced a wrong file")
                rows.append((name, wall, rss))
                print(f"run {run + 1} {name:>7}: {wall:7.2f} s  peak RSS {rss / 1024:6.1f} MiB  "
                      f"{wall / floor:5.2f}x the floor", flush=True)
        slow.terminate()
        best = {name: min(w for n, w, _ in rows if n == name) for name in ("follow", "zsync", "full")}
        print(f"\nbest of {args.runs}: follow {best['follow']:.2f} s, zsync by hand {best['zsync']:.2f} s, "
              f"full download {best['full']:.2f} s")
        print(f"follow / zsync {best['follow'] / best['zsync']:.2f}, follow / full {best['follow'] / best['full']:.2f}, "
              f"follow / floor {best['follow'] / floor:.2f} (a scheduled follow adds the wait for its next check)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
