//! Which files are worth estimating as seeds: the regular files of a few folders (the
//! output folder, the folders of recent downloads and seeds, folders the user names),
//! found by content rather than by name. A listing is cheap but an estimate reads about
//! 1/32 of a file, so only files big enough to matter are kept, and only the newest
//! few: a folder of thousands of files must not turn the look into a long scan.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::format::Format;
use crate::part::canonical;

/// Smaller files are not candidates: they would supply too little of a target worth a
/// delta download to be worth the look.
pub const MIN_CANDIDATE_LEN: u64 = 1 << 20;

/// At most this many candidates, the newest: bounds the time the estimates take.
pub const MAX_CANDIDATES: usize = 50;

/// A candidate estimated to supply at least this share of the target is used as a seed;
/// below it, the seed's scan would cost more than it saves.
pub const WORTH_A_SEED: f32 = 0.05;

/// The candidate seeds in `folders` (not in their subfolders): regular files of at
/// least [`MIN_CANDIDATE_LEN`] bytes that are not in `skip` (the seeds already chosen,
/// the download's own output), not hidden, not a download in progress (`.part`) and not
/// a zsync or casync control file (a `.zck` is kept: it is a zchunk build itself). The
/// newest [`MAX_CANDIDATES`], newest first (then by path, so the same folders give the
/// same list). A folder that cannot be read is passed over.
pub fn candidate_seeds(folders: &[PathBuf], skip: &[PathBuf]) -> Vec<PathBuf> {
    let skip: Vec<PathBuf> = skip.iter().map(|p| canonical(p)).collect();
    let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
    let mut seen_folders: Vec<PathBuf> = Vec::new();
    for folder in folders {
        let key = canonical(folder);
        if seen_folders.contains(&key) {
            continue;
        }
        seen_folders.push(key);
        let Ok(entries) = std::fs::read_dir(folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !is_candidate_name(&path) || skip.contains(&canonical(&path)) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_file() && meta.len() >= MIN_CANDIDATE_LEN {
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                found.push((modified, path));
            }
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.dedup_by(|a, b| a.1 == b.1);
    found
        .into_iter()
        .take(MAX_CANDIDATES)
        .map(|(_, path)| path)
        .collect()
}

/// Whether a file of this name may be a seed: not hidden, not a `.part`, not a control
/// file that describes a target rather than holding one.
fn is_candidate_name(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return false;
    };
    // `.caidx`: casync's index of a directory tree, which is not a file's data either.
    let not_data = [".part", ".caidx"];
    let describes_a_target =
        Format::of_control_name(&name).is_some_and(|format| !format.is_its_own_target());
    !name.starts_with('.')
        && !describes_a_target
        && !not_data.iter().any(|suffix| name.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(folder: &Path, name: &str, len: u64, age_s: u64) -> PathBuf {
        let path = folder.join(name);
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(len).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
        path
    }

    #[test]
    fn big_data_files_newest_first_without_parts_control_files_or_chosen_seeds() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let mib = MIN_CANDIDATE_LEN;
        let old = file(dir.path(), "image-1201.wic", mib, 300);
        let newer = file(other.path(), "image-1202.wic", 2 * mib, 200);
        let chosen = file(dir.path(), "chosen.img", mib, 100);
        let zck = file(dir.path(), "primary.xml.zck", mib, 400);
        file(dir.path(), "image.wic.part", mib, 50);
        file(dir.path(), "image.wic.zsync", mib, 50);
        file(dir.path(), "image.caibx", mib, 50);
        file(dir.path(), ".hidden.img", mib, 50);
        file(dir.path(), "small.img", mib - 1, 50);
        std::fs::create_dir(dir.path().join("folder.img")).unwrap();

        let folders = [
            dir.path().to_path_buf(),
            other.path().to_path_buf(),
            // The same folder by another name counts once.
            dir.path().join("folder.img/.."),
        ];
        let found = candidate_seeds(&folders, &[chosen]);
        assert_eq!(found, [newer, old, zck]);
    }

    #[test]
    fn only_the_newest_are_kept_and_a_missing_folder_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<PathBuf> = (0..MAX_CANDIDATES + 3)
            .map(|i| {
                file(
                    dir.path(),
                    &format!("f{i:03}"),
                    MIN_CANDIDATE_LEN,
                    1000 - i as u64,
                )
            })
            .collect();
        let folders = [dir.path().join("missing"), dir.path().to_path_buf()];
        let found = candidate_seeds(&folders, &[]);
        let newest: Vec<PathBuf> = names.iter().rev().take(MAX_CANDIDATES).cloned().collect();
        assert_eq!(found, newest);
    }
}
