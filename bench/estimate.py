#!/usr/bin/env python3
"""Seed estimates: how long `deltadrop-cli info --estimate` takes per GB of seed, and how
close it comes to the real scan (`deltadrop-cli info`), on bench.py's image-like pair.

Generates the old/new pair as bench.py does (zero runs, repeated log lines, random data;
rewritten stretches and small insertions/deletions), publishes the new file as a .zsync
(Debian's zsyncmake) and a casync index (`casync make`, default chunk sizes), then for
each format runs the estimate and the full plan-only scan with the old file as the seed,
alternately, and prints wall time (and per GiB of seed), CPU time, peak RSS and the share
of the target each says the seed holds. Nothing is downloaded: the control files are
local, their URLs never fetched.

    bench/estimate.py [--size-mb 1024] [--changed 0.2] [--runs 3] [--cold] [--keep]

--cold drops the page cache before each run (needs root): the seed is then read from
the disk, as a candidate file not touched lately would be. Without it, runs after the
first read the seed from memory.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ROOT, generate, measured  # noqa: E402

GIB = 1 << 30


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def share(cli: Path, args: list[str], cwd: Path) -> float:
    """Runs `cli` with `args` (and --json) once more; the seed's share of the target, as
    the estimate or the plan says it."""
    out = subprocess.run([str(cli), *args, "--json"], cwd=cwd, capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "seed_estimate":
            return event["fraction_of_target"]
        if event["event"] == "planned":
            plan = event["plan"]
            return plan["local_bytes"] / plan["total_bytes"]
    raise SystemExit(f"no estimate or plan in: {out.stdout}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--changed", type=float, default=0.2, help="share of MiB chunks rewritten")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold", action="store_true", help="drop the page cache before each run (root)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.cold and os.geteuid() != 0:
        raise SystemExit("--cold needs root (it writes /proc/sys/vm/drop_caches)")

    cli = ROOT / "target/release/deltadrop-cli"
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "deltadrop", "--bin", "deltadrop-cli"],
                   cwd=ROOT, check=True)
    work = Path(tempfile.mkdtemp(prefix="deltadrop-estimate-"))
    try:
        old, new = work / "old.img", work / "image.img"
        t = time.monotonic()
        generate(old, new, args.size_mb, args.changed)
        print(f"generated {args.size_mb} MiB pair in {time.monotonic() - t:.1f}s", flush=True)

        controls = {}
        if shutil.which("zsyncmake"):
            subprocess.run(["zsyncmake", "-u", "image.img", "image.img"], cwd=work, check=True,
                           stderr=subprocess.DEVNULL)
            controls["zsync"] = "image.img.zsync"
        if shutil.which("casync"):
            subprocess.run(["casync", "make", "--store=default.castr", "image.img.caibx", "image.img"],
                           cwd=work, check=True, stderr=subprocess.DEVNULL)
            controls["casync"] = "image.img.caibx"
        if not controls:
            raise SystemExit("zsyncmake or casync is needed: apt-get install zsync casync")
        (work / "image.img").unlink()  # only the control files and the seed are needed

        seed_gib = old.stat().st_size / GIB
        for name, control in controls.items():
            common = ["info", "-u", "http://127.0.0.1:9/image.img.zsync", "-i", "old.img", control]
            kinds = {
                "estimate": [common[0], "--estimate", *common[1:]],
                "scan": [common[0], "-o", "absent.img", *common[1:]],
            }
            walls = {kind: [] for kind in kinds}
            for run in range(args.runs):
                for kind, cmd in kinds.items():
                    if args.cold:
                        drop_caches()
                    wall, rss, (user, system), failure = measured([str(cli), *cmd], work)
                    if failure:
                        raise SystemExit(f"{name} {kind} failed: {failure}")
                    walls[kind].append(wall)
                    print(f"{name} run {run + 1} {kind:>8}: {wall:6.2f}s ({wall / seed_gib:5.2f} s/GiB of seed)  "
                          f"CPU {user:.2f} user + {system:.2f} system  peak RSS {rss / 1024:6.1f} MiB", flush=True)
            estimate = share(cli, kinds["estimate"], work)
            real = share(cli, kinds["scan"], work)
            best = {kind: min(w) for kind, w in walls.items()}
            print(f"{name}: the estimate says {estimate * 100:.1f}% of the target, the scan finds {real * 100:.1f}% "
                  f"(off by {abs(estimate - real) * 100:.1f} points); best of {args.runs}: estimate "
                  f"{best['estimate']:.2f}s ({best['estimate'] / seed_gib:.2f} s/GiB), scan {best['scan']:.2f}s, "
                  f"ratio {best['estimate'] / best['scan']:.2f}", flush=True)
    finally:
        if args.keep:
            print(f"work directory: {work}")
        else:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
