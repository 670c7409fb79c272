#!/usr/bin/env python3
"""Frame times of the deltadrop GUI while a ~150,000-block job runs, in a real X window.

Generates a 600 MiB old/new pair (bench.py's generator), publishes the new one with
Debian's zsyncmake (600 MiB -> 4 KiB blocks -> 153,600 blocks) behind nginx, then runs the
release `deltadrop` binary under Xvfb with `--start URL -i old -o out --frame-log FILE`.
The app appends one line per frame (see app/src/gui/frame_log.rs); once the job is done
this script stops the app, checks the output and prints, for the frames drawn while the
job ran: their number, the job's block count, p50/p95/max of the CPU frame time (eframe's
measure: the app's logic and ui, tessellation and painting, without vsync) and of the app's
own code, the longest gap between frames per phase (a UI thread that blocked on
scanning or I/O would show gaps of seconds), and how long the UI thread ran and how long
it waited for a CPU while the job ran (Linux schedstat).

    bench/gui_frames.py [--size-mb 600] [--changed 0.2] [--keep]

Needs zsyncmake, nginx and Xvfb (Debian packages zsync, nginx-light, xvfb) and a release
build (`cargo build --release -p deltadrop --bin deltadrop`; done if missing). The window
is drawn by Mesa's software renderer under Xvfb, so painting costs CPU time a GPU would
take.
"""

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ left in bench/ by the import below
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ROOT, generate, start_nginx  # noqa: E402

TARGET_MS = 16.0


def free_display() -> int:
    for n in range(90, 190):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise SystemExit("no free X display")


def start_xvfb() -> tuple[subprocess.Popen, int]:
    display = free_display()
    proc = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1280x860x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if Path(f"/tmp/.X11-unix/X{display}").exists():
            return proc, display
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("Xvfb did not start")


def read_log(path: Path) -> list[dict]:
    """The frame log's lines as dicts (see app/src/gui/frame_log.rs)."""
    frames = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return frames
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) != 7:
            continue  # a line being written
        num = lambda s: None if s == "-" else float(s)  # noqa: E731
        frames.append({"t": num(f[0]), "gap": num(f[1]), "prev_cpu": num(f[2]), "app": num(f[3]),
                       "state": f[4], "blocks": int(f[5])})
    return frames


def schedstat(pid: int) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) of the app's main (UI) thread."""
    try:
        run_ns, wait_ns, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
        return int(run_ns) / 1e9, int(wait_ns) / 1e9
    except (OSError, ValueError):
        return None


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {pct(values, 50):6.2f}  p95 {pct(values, 95):6.2f}  max {max(values):7.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=600)
    ap.add_argument("--changed", type=float, default=0.2, help="share of MiB chunks rewritten")
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait for the job")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (and the frame log)")
    args = ap.parse_args()

    for tool in ("zsyncmake", "nginx", "Xvfb"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            raise SystemExit(f"{tool} is needed: apt-get install zsync nginx-light xvfb")
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    app = target_dir / "release/deltadrop"
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "deltadrop", "--bin", "deltadrop"], cwd=ROOT,
                   check=True)

    work = Path(tempfile.mkdtemp(prefix="deltadrop-frames-"))
    os.chmod(work, 0o755)
    www, client = work / "www", work / "client"
    www.mkdir()
    client.mkdir()
    old, new, out = client / "old.img", www / "image.img", client / "image.img"
    t = time.monotonic()
    generate(old, new, args.size_mb, args.changed)
    print(f"generated {args.size_mb} MiB pair in {time.monotonic() - t:.1f}s", flush=True)
    subprocess.run(["zsyncmake", "-u", "image.img", "image.img"], cwd=www, check=True, stderr=subprocess.DEVNULL)

    nginx, port, _ = start_nginx(www, work / "nginx")
    xvfb, display = start_xvfb()
    log = work / "frames.tsv"
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    # Settings and history go to a scratch config dir, not the user's.
    env.update(DISPLAY=f":{display}", HOME=str(work), XDG_CONFIG_HOME=str(work / "config"),
               XDG_DATA_HOME=str(work / "data"))
    url = f"http://127.0.0.1:{port}/image.img.zsync"
    cmd = [str(app), url, "-i", str(old), "-o", str(out), "--start", "--frame-log", str(log)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        finished = None
        sched_scan = sched_done = None
        while time.monotonic() - started < args.timeout:
            if proc.poll() is not None:
                raise SystemExit(f"the app exited ({proc.returncode}): {proc.stderr.read().decode()}")
            frames = read_log(log)
            if sched_scan is None and any(f["state"] == "ScanningSeeds" for f in frames):
                sched_scan = (time.monotonic(), schedstat(proc.pid))
            if any(f["state"] in ("done", "failed") for f in frames):
                finished = time.monotonic() - started
                sched_done = (time.monotonic(), schedstat(proc.pid))
                break
            time.sleep(0.2)
        if finished is None:
            raise SystemExit(f"the job did not finish in {args.timeout:.0f}s")
        time.sleep(1.0)  # a few frames of the finished state
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        xvfb.terminate()
        nginx.terminate()

    frames = read_log(log)
    if any(f["state"] == "failed" for f in frames):
        raise SystemExit("the download failed")
    if not out.exists() or not filecmp.cmp(out, new, shallow=False):
        raise SystemExit("the app produced a wrong file")

    # The frames drawn while the job ran: from the first with a run to the one that
    # showed the end. prev_cpu on frame i is frame i-1's time, so it is taken from the
    # frame after each running one.
    running = [i for i, f in enumerate(frames) if f["state"] not in ("idle", "done", "failed")]
    if not running:
        raise SystemExit("no frames were drawn while the job ran")
    first, last = running[0], running[-1]
    job_frames = frames[first:last + 1]
    cpu = [frames[i + 1]["prev_cpu"] for i in range(first, last + 1)
           if i + 1 < len(frames) and frames[i + 1]["prev_cpu"] is not None]
    app_ms = [f["app"] for f in job_frames]
    blocks = max(f["blocks"] for f in frames)
    span = frames[last]["t"] - frames[first]["t"]

    print(f"\njob: {blocks:,} blocks ({args.size_mb} MiB, 4 KiB blocks), done in {finished:.1f}s")
    print(f"frames while the job ran: {len(job_frames)} in {span / 1000:.1f}s "
          f"({len(job_frames) / max(span / 1000, 1e-9):.1f} per second)")
    print(f"CPU frame time (eframe):  {stats(cpu)}")
    print(f"app logic+ui per frame:   {stats(app_ms)}")
    print("gaps between frames, per phase (the UI thread must keep drawing):")
    phases = []
    for f in job_frames:
        if f["state"] not in phases:
            phases.append(f["state"])
    for phase in phases:
        in_phase = [f for f in job_frames if f["state"] == phase]
        gaps = [f["gap"] for f in in_phase if f["gap"] is not None]
        longest = max(gaps) if gaps else 0.0
        print(f"  {phase:15} {len(in_phase):5} frames  longest gap {longest:7.1f} ms")
    if sched_scan and sched_done and sched_scan[1] and sched_done[1]:
        wall = sched_done[0] - sched_scan[0]
        ran, waited = (sched_done[1][i] - sched_scan[1][i] for i in (0, 1))
        print(f"UI thread from the scan to the end ({wall:.1f}s): {ran:.2f}s on a CPU, "
              f"{waited:.2f}s runnable but waiting for one; load average {os.getloadavg()[0]:.2f}")
    p95 = pct(cpu, 95)
    print(f"\np95 CPU frame time {p95:.2f} ms < {TARGET_MS:.0f} ms: {'yes' if p95 < TARGET_MS else 'NO'}")
    if args.keep:
        print(f"work directory: {work} (frame log: {log})")
    else:
        shutil.rmtree(work)
    sys.exit(0 if p95 < TARGET_MS else 1)


if __name__ == "__main__":
    main()
