//! Opening a seed. A seed is a regular file, or a disk (a block device, such as a USB
//! stick holding yesterday's image), only ever read. Anything else is refused before it is
//! opened: opening a FIFO waits for a writer, and a character device or a socket may
//! never end, so either would hang the scan without a word.

use std::fs::{File, FileType};
use std::io::{Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};

/// Whether `file` starts as a gzip stream does: such a seed is inflated, not read as it is.
pub(crate) fn is_gzip(file: &File) -> bool {
    let mut magic = [0u8; 2];
    crate::part::read_at(file, &mut magic, 0).is_ok_and(|n| n == 2) && magic == [0x1f, 0x8b]
}

/// Opens the seed at `path` for reading; returns it with its length.
pub(crate) fn open_seed(path: &Path) -> Result<(File, u64)> {
    let kind = std::fs::metadata(path)
        .map_err(|e| Error::io("open", path, e))?
        .file_type();
    if !kind.is_file() && !is_disk(&kind) {
        let refused = std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "it is {}: only files and disks can be seeds",
                describe(&kind)
            ),
        );
        return Err(Error::io("read", path, refused));
    }
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    // A disk's metadata says 0 bytes: its length is where its end is.
    let len = if kind.is_file() {
        file.metadata().map(|m| m.len())
    } else {
        file.seek(SeekFrom::End(0))
    }
    .map_err(|e| Error::io("read", path, e))?;
    Ok((file, len))
}

#[cfg(unix)]
fn is_disk(kind: &FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_block_device(kind)
}

/// Windows names disks by device paths that are not files: only files are seeds there.
#[cfg(not(unix))]
fn is_disk(_: &FileType) -> bool {
    false
}

/// What a file that is neither a regular file nor a disk is, for the user.
fn describe(kind: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() {
            return "a character device";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let error = open_seed(&fifo).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("a named pipe (FIFO): only files and disks can be seeds"),
            "{error}"
        );
        assert_eq!(error.local_path(), Some(fifo.as_path()));
        let error = open_seed(dir.path()).unwrap_err();
        assert!(error.to_string().contains("it is a folder"), "{error}");
        let error = open_seed(Path::new("/dev/zero")).unwrap_err();
        assert!(error.to_string().contains("a character device"), "{error}");
    }

    #[test]
    fn a_file_is_opened_with_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed");
        std::fs::write(&path, vec![1u8; 1234]).unwrap();
        let (_, len) = open_seed(&path).unwrap();
        assert_eq!(len, 1234);
    }
}
