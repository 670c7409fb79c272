//! What the builds a follow keeps are called. The newest build always has the name its
//! control file gives it, so scripts and shortcuts can point at one path; older ones
//! stay beside it with the build's date and time put before the extension
//! (`image.wic` → `image.20261204-0312.wic`), so a listing of the folder shows which
//! build each is and sorts them in order.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Extensions that say how a file is compressed or packed rather than what it is: the
/// date goes before the extension in front of them (`x.tar.gz` → `x.DATE.tar.gz`).
const OUTER_EXTENSIONS: [&str; 7] = ["gz", "xz", "bz2", "zst", "zck", "lz4", "lzma"];

/// The name an older build called `name`, built at `built`, is kept under in `folder`:
/// one that is not taken yet.
pub(crate) fn kept_name(folder: &Path, name: &str, built: SystemTime) -> PathBuf {
    let stamp = chrono::DateTime::<chrono::Utc>::from(built)
        .format("%Y%m%d-%H%M")
        .to_string();
    let (stem, extension) = split_extension(name);
    (1..)
        .map(|n| {
            let stamp = if n == 1 {
                stamp.clone()
            } else {
                format!("{stamp}-{n}")
            };
            folder.join(format!("{stem}.{stamp}{extension}"))
        })
        .find(|path| !path.exists())
        .expect("some name is free")
}

/// `name` cut before its extension: the last one, or the last two when the last only
/// says how the file is compressed. The extension keeps its dot.
fn split_extension(name: &str) -> (&str, &str) {
    let last = match name.rfind('.') {
        Some(0) | None => return (name, ""),
        Some(at) => at,
    };
    let outer = &name[last + 1..];
    if OUTER_EXTENSIONS.contains(&outer.to_ascii_lowercase().as_str())
        && let Some(inner) = name[..last].rfind('.').filter(|&at| at > 0)
    {
        return (&name[..inner], &name[inner..]);
    }
    (&name[..last], &name[last..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_date_goes_before_the_extension_that_says_what_the_file_is() {
        assert_eq!(split_extension("image.wic"), ("image", ".wic"));
        assert_eq!(split_extension("rootfs.tar.gz"), ("rootfs", ".tar.gz"));
        assert_eq!(
            split_extension("core-image.rootfs.wic.zst"),
            ("core-image.rootfs", ".wic.zst")
        );
        assert_eq!(split_extension("README"), ("README", ""));
        assert_eq!(split_extension(".hidden"), (".hidden", ""));
        assert_eq!(split_extension("x.gz"), ("x", ".gz"));
    }

    #[test]
    fn kept_names_carry_the_build_time_and_never_clash() {
        let dir = tempfile::tempdir().unwrap();
        // 2026-12-04 03:12 UTC.
        let built = UNIX_EPOCH + Duration::from_secs(1_796_353_920);
        let first = kept_name(dir.path(), "image.wic", built);
        assert_eq!(first, dir.path().join("image.20261204-0312.wic"));
        std::fs::write(&first, b"x").unwrap();
        assert_eq!(
            kept_name(dir.path(), "image.wic", built),
            dir.path().join("image.20261204-0312-2.wic")
        );
    }
}
