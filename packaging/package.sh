#!/usr/bin/env bash
# Builds deltadrop's packages into target/packages/:
#
#   packaging/package.sh deb       deltadrop_VERSION-1_amd64.deb (cargo-deb)
#   packaging/package.sh windows   deltadrop-VERSION-setup.exe (NSIS) and
#                                  deltadrop-VERSION-windows-x86_64.zip (portable),
#                                  cross-built on Linux for x86_64-pc-windows-gnu
#   packaging/package.sh macos     deltadrop-VERSION-macos-ARCH.dmg holding deltadrop.app
#                                  (on a Mac only: hdiutil)
#   packaging/package.sh all       every one this machine can build
#   packaging/package.sh plist F   writes the .app's Info.plist to F (what `macos` puts in
#                                  the bundle; CI checks it on Linux)
#
# Name, version, description and licence come from the workspace Cargo.toml (through
# `cargo metadata`). Everything builds offline from Debian packages, crates and rustup
# targets; what each step needs:
#   deb:     cargo install cargo-deb
#   windows: rustup target add x86_64-pc-windows-gnu;
#            apt-get install gcc-mingw-w64-x86-64 nsis zip
#   macos:   Xcode's command line tools (hdiutil ships with macOS)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/packages
work=$root/target/packaging

die() {
  echo "package.sh: $*" >&2
  exit 1
}

# NAME, VERSION, DESCRIPTION, LICENSE of the deltadrop package, from Cargo.toml.
read_metadata() {
  eval "$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, shlex, sys
pkg = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == "deltadrop")
for key in ("name", "version", "description", "license"):
    print(f"{key.upper()}={shlex.quote(pkg[key])}")
')"
}

# Man pages and shell completions, made by the CLI itself from its clap definitions, in
# target/release/generated (where app/Cargo.toml's deb assets expect them).
generate_docs() {
  local cli=$root/target/release/deltadrop-cli dir=$root/target/release/generated
  rm -rf "$dir"
  mkdir -p "$dir/completions"
  "$cli" generate man "$dir/man"
  gzip -9n "$dir"/man/*.1
  "$cli" generate completions bash >"$dir/completions/deltadrop-cli"
  "$cli" generate completions zsh >"$dir/completions/_deltadrop-cli"
  "$cli" generate completions fish >"$dir/completions/deltadrop-cli.fish"
}

package_deb() {
  command -v cargo-deb >/dev/null || die "deb: cargo-deb is missing (cargo install cargo-deb)"
  cargo build --release --locked -p deltadrop
  generate_docs
  mkdir -p "$out"
  cargo deb --locked -p deltadrop --no-build --output "$out/"
  ls -l "$out"/*.deb
}

package_windows() {
  local target=x86_64-pc-windows-gnu
  rustup target list --installed | grep -qx "$target" ||
    die "windows: the Rust target is missing (rustup target add $target)"
  command -v x86_64-w64-mingw32-gcc >/dev/null ||
    die "windows: mingw is missing (apt-get install gcc-mingw-w64-x86-64)"
  command -v makensis >/dev/null || die "windows: makensis is missing (apt-get install nsis)"
  command -v zip >/dev/null || die "windows: zip is missing (apt-get install zip)"
  cargo build --release --locked -p deltadrop --target "$target"
  local built=$root/target/$target/release stage=$work/windows/deltadrop-$VERSION
  rm -rf "$work/windows"
  mkdir -p "$stage" "$out"
  for exe in deltadrop deltadrop-cli; do
    x86_64-w64-mingw32-strip -o "$stage/$exe.exe" "$built/$exe.exe"
  done
  cp assets/icons/deltadrop.ico "$stage/"
  # Notepad-friendly line ends for the two texts a Windows user may open.
  sed 's/$/\r/' packaging/windows/README.txt | sed "s/@VERSION@/$VERSION/" >"$stage/README.txt"
  sed 's/$/\r/' LICENSE-MIT >"$stage/LICENSE.txt"
  local zip=$out/deltadrop-$VERSION-windows-x86_64.zip
  rm -f "$zip"
  (cd "$work/windows" && zip -q -r -X "$zip" "deltadrop-$VERSION" -x '*.ico')
  makensis -V2 -NOCD \
    -DVERSION="$VERSION" -DDESCRIPTION="$DESCRIPTION" -DLICENSE="$LICENSE" \
    -DSTAGE="$stage" -DOUTFILE="$out/deltadrop-$VERSION-setup.exe" \
    packaging/windows/deltadrop.nsi
  ls -l "$zip" "$out/deltadrop-$VERSION-setup.exe"
}

write_plist() {
  sed -e "s|@VERSION@|$VERSION|g" -e "s|@DESCRIPTION@|$DESCRIPTION|g" \
    -e "s|@LICENSE@|Licensed under $LICENSE|g" packaging/macos/Info.plist >"$1"
}

package_macos() {
  [ "$(uname -s)" = Darwin ] || die "macos: the .app and .dmg are built on a Mac (hdiutil)"
  # One .app for both Macs: each program built for Apple silicon and for Intel, joined by
  # lipo into a universal binary.
  local target macs=(aarch64-apple-darwin x86_64-apple-darwin)
  for target in "${macs[@]}"; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    cargo build --release --locked -p deltadrop --target "$target"
  done
  local program app stage=$work/macos
  rm -rf "$stage"
  app=$stage/deltadrop.app
  mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources" "$out"
  for program in deltadrop deltadrop-cli; do
    lipo -create -output "$app/Contents/MacOS/$program" \
      "target/${macs[0]}/release/$program" "target/${macs[1]}/release/$program"
  done
  cp assets/icons/deltadrop.icns "$app/Contents/Resources/"
  write_plist "$app/Contents/Info.plist"
  printf 'APPL????' >"$app/Contents/PkgInfo"
  # Not signed with a Developer ID: sign ad hoc so Apple silicon runs it at all.
  codesign --force --deep --sign - "$app"
  ln -s /Applications "$stage/Applications"
  local dmg=$out/deltadrop-$VERSION-macos-universal.dmg
  rm -f "$dmg"
  hdiutil create -volname deltadrop -srcfolder "$stage" -ov -format UDZO "$dmg"
  ls -l "$dmg"
}

read_metadata
case "${1:-}" in
  deb) package_deb ;;
  windows) package_windows ;;
  macos) package_macos ;;
  plist) write_plist "${2:?plist: where to write it}" ;;
  all)
    if [ "$(uname -s)" = Darwin ]; then
      package_macos
    else
      package_deb
      package_windows
    fi
    ;;
  *) die "usage: packaging/package.sh deb|windows|macos|all  (or: plist FILE)" ;;
esac
