#!/usr/bin/env python3
"""Checks the packages `packaging/package.sh deb windows` left in target/packages/.

    packaging/check.py [--install]

- the .deb: both binaries, the desktop entry that opens application/x-zsync, the MIME
  type that defines it (glob *.zsync), hicolor icons, man pages, shell completions, and
  the run-time libraries the app loads in Depends; with --install (CI, as root) it is
  installed by apt, which must resolve every dependency from Debian, and deltadrop-cli
  then runs from PATH and the MIME database knows *.zsync;
- the Windows executables: the app has no console (GUI subsystem), the CLI has one, both
  carry the icon and version resources and need only DLLs that Windows ships;
- the portable .zip holds both programs;
- the macOS Info.plist (package.sh plist) parses and declares the .zsync document type.

The Windows programs themselves are run under wine by tests/tests/windows_wine.rs.
"""

import json
import os
import plistlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "target" / "packages"
WINDOWS_BUILD = ROOT / "target" / "x86_64-pc-windows-gnu" / "release"
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs).stdout


def metadata():
    meta = json.loads(run("cargo", "metadata", "--no-deps", "--format-version", "1", cwd=ROOT))
    return next(p for p in meta["packages"] if p["name"] == "deltadrop")


def one(pattern):
    found = sorted(PACKAGES.glob(pattern))
    if len(found) != 1:
        sys.exit(f"check.py: expected one {pattern} in {PACKAGES}, found {found}: "
                 "run packaging/package.sh deb windows first")
    return found[0]


def check_deb(version, install):
    deb = one(f"deltadrop_{version}*_amd64.deb")
    files = {line.split()[-1].lstrip(".") for line in run("dpkg-deb", "-c", str(deb)).splitlines()}
    for path in [
        "/usr/bin/deltadrop",
        "/usr/bin/deltadrop-cli",
        "/usr/share/applications/deltadrop.desktop",
        "/usr/share/mime/packages/deltadrop.xml",
        "/usr/share/icons/hicolor/scalable/apps/deltadrop.svg",
        "/usr/share/icons/hicolor/48x48/apps/deltadrop.png",
        "/usr/share/icons/hicolor/256x256/apps/deltadrop.png",
        "/usr/share/man/man1/deltadrop-cli.1.gz",
        "/usr/share/man/man1/deltadrop-cli-get.1.gz",
        "/usr/share/man/man1/deltadrop.1.gz",
        "/usr/share/bash-completion/completions/deltadrop-cli",
        "/usr/share/zsh/vendor-completions/_deltadrop-cli",
        "/usr/share/fish/vendor_completions.d/deltadrop-cli.fish",
    ]:
        check(f".deb has {path}", path in files)

    with tempfile.TemporaryDirectory() as tmp:
        run("dpkg-deb", "-x", str(deb), tmp)
        desktop = (Path(tmp) / "usr/share/applications/deltadrop.desktop").read_text()
        check(".desktop opens application/x-zsync", "MimeType=application/x-zsync;" in desktop)
        check(".desktop passes the file to the app", "Exec=deltadrop %f" in desktop)
        if shutil.which("desktop-file-validate"):
            out = subprocess.run(["desktop-file-validate", f"{tmp}/usr/share/applications/deltadrop.desktop"],
                                 capture_output=True, text=True)
            check(".desktop is valid (desktop-file-validate)", out.returncode == 0 and not out.stdout.strip(),
                  out.stdout + out.stderr)
        mime = (Path(tmp) / "usr/share/mime/packages/deltadrop.xml").read_text()
        check("MIME XML defines application/x-zsync with glob *.zsync",
              'type="application/x-zsync"' in mime and 'pattern="*.zsync"' in mime)

    fields = run("dpkg-deb", "-f", str(deb), "Package", "Version", "Depends", "Description")
    depends = fields.split("Depends:")[1].split("\n")[0]
    for library in ["libc6", "libegl1", "libgl1", "libxkbcommon-x11-0", "libwayland-client0", "libx11-6"]:
        check(f"Depends lists {library}", library in depends, depends)
    check(".deb version is the workspace's", f"Version: {version}" in fields, fields)

    if not install:
        return
    out = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", str(deb)],
                         capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    check("apt installs the .deb with its Depends", out.returncode == 0, out.stdout + out.stderr)
    cli = shutil.which("deltadrop-cli")
    check("deltadrop-cli is on PATH after install", cli == "/usr/bin/deltadrop-cli", str(cli))
    if cli:
        printed = run("deltadrop-cli", "--version").strip()
        check("deltadrop-cli --version from PATH", printed == f"deltadrop-cli {version}", printed)
    globs = Path("/usr/share/mime/globs2")
    check("the MIME database knows *.zsync after install",
          globs.is_file() and "application/x-zsync:*.zsync" in globs.read_text())


def pe_info(exe):
    return run("x86_64-w64-mingw32-objdump", "-p", str(exe))


# DLLs every Windows 10/11 has; anything else would have to ship beside the .exe.
# The api-ms-win-* names are API-set contracts the loader maps onto system DLLs; the two
# below come from Rust's std and windows-result and are listed only in builds without LTO
# (CI's quicker profile), where unused imports are not dropped. The WinRT loader and RPC
# runtime come with notifications (notify-rust's toasts, Windows 8 and later).
SYSTEM_DLLS = {
    "api-ms-win-core-winrt-l1-1-0.dll", "rpcrt4.dll",
    "api-ms-win-core-path-l1-1-0.dll", "api-ms-win-core-winrt-error-l1-1-0.dll",
    "advapi32.dll", "bcrypt.dll", "combase.dll", "bcryptprimitives.dll", "comctl32.dll", "comdlg32.dll",
    "crypt32.dll", "dwmapi.dll", "gdi32.dll", "imm32.dll", "kernel32.dll", "msvcrt.dll",
    "ncrypt.dll", "ntdll.dll", "ole32.dll", "oleaut32.dll", "opengl32.dll", "propsys.dll",
    "secur32.dll", "shell32.dll", "shlwapi.dll", "user32.dll", "userenv.dll", "uxtheme.dll",
    "winmm.dll", "ws2_32.dll", "api-ms-win-core-synch-l1-2-0.dll", "gdiplus.dll",
    "iphlpapi.dll", "dbghelp.dll", "version.dll", "setupapi.dll", "hid.dll", "dwrite.dll",
    "d3d11.dll", "d3d12.dll", "dxgi.dll", "d3dcompiler_47.dll", "winhttp.dll", "ktmw32.dll",
}


def check_windows(version):
    for name, subsystem in [("deltadrop", "Windows GUI"), ("deltadrop-cli", "Windows CUI")]:
        exe = WINDOWS_BUILD / f"{name}.exe"
        if not exe.is_file():
            check(f"{name}.exe is built", False, "run packaging/package.sh windows")
            continue
        info = pe_info(exe)
        check(f"{name}.exe subsystem is {subsystem}", f"({subsystem})" in info,
              next((line for line in info.splitlines() if "Subsystem" in line), ""))
        dlls = {line.split(":", 1)[1].strip().lower() for line in info.splitlines() if "DLL Name:" in line}
        check(f"{name}.exe needs only Windows' own DLLs", dlls <= SYSTEM_DLLS, str(sorted(dlls - SYSTEM_DLLS)))
        resources = run("wrestool", "-l", str(exe))
        check(f"{name}.exe has the icon and version resources",
              "type=group_icon" in resources and "type=version" in resources, resources)
        strings = run("strings", "-el", str(exe))
        check(f"{name}.exe's version resource is the workspace's", "ProductVersion" in strings and version in strings)
    setup = one(f"deltadrop-{version}-setup.exe")
    check("the installer is built", setup.stat().st_size > 1_000_000, str(setup.stat().st_size))
    with zipfile.ZipFile(one(f"deltadrop-{version}-windows-x86_64.zip")) as z:
        names = set(z.namelist())
    for name in ["deltadrop.exe", "deltadrop-cli.exe", "README.txt", "LICENSE.txt"]:
        check(f"the portable .zip has {name}", f"deltadrop-{version}/{name}" in names, str(sorted(names)))


def check_plist(version):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Info.plist"
        subprocess.run([str(ROOT / "packaging/package.sh"), "plist", str(path)], check=True)
        with open(path, "rb") as f:
            plist = plistlib.load(f)
    check("Info.plist: bundle identifier", plist.get("CFBundleIdentifier") == "org.deltadrop.deltadrop")
    check("Info.plist: executable and icon",
          plist.get("CFBundleExecutable") == "deltadrop" and plist.get("CFBundleIconFile") == "deltadrop.icns"
          and (ROOT / "assets/icons/deltadrop.icns").is_file())
    check("Info.plist: the workspace's version", plist.get("CFBundleShortVersionString") == version)
    check("Info.plist: high resolution, minimum macOS",
          plist.get("NSHighResolutionCapable") is True and "LSMinimumSystemVersion" in plist)
    documents = plist.get("CFBundleDocumentTypes", [])
    check("Info.plist: declares .zsync documents",
          any("zsync" in d.get("CFBundleTypeExtensions", []) and "org.deltadrop.zsync" in d.get("LSItemContentTypes", [])
              for d in documents), str(documents))
    exported = plist.get("UTExportedTypeDeclarations", [])
    check("Info.plist: exports the .zsync type",
          any(t.get("UTTypeIdentifier") == "org.deltadrop.zsync"
              and "zsync" in t.get("UTTypeTagSpecification", {}).get("public.filename-extension", [])
              for t in exported), str(exported))


def main():
    version = metadata()["version"]
    check_deb(version, install="--install" in sys.argv)
    check_windows(version)
    check_plist(version)
    print(f"packaging checks: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
