//! The output side: the `<out>.part` working file, positional reads and writes, the
//! whole-file SHA-1, and the final replace.
//!
//! Only verified blocks are ever written to the `.part`, so after a crash or `kill -9` it
//! is a valid seed at its own offsets: the next run checks it block by block and fetches
//! only what is not there. The real output is touched once, at the very end, by renames:
//! the old file becomes `<out>.zs-old` (as zsync does) and the verified `.part` takes its
//! name.

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::blocks::{FileHash, FileHashAlgorithm, FileHasher};
use crate::error::{Error, Result};

/// `<out>.part`.
pub fn part_path(output: &Path) -> PathBuf {
    with_suffix(output, ".part")
}

/// `<out>.zs-old`.
pub fn old_path(output: &Path) -> PathBuf {
    with_suffix(output, ".zs-old")
}

pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The path by which two names of one file compare equal, where it can be resolved (a
/// file that does not exist yet keeps its name).
pub(crate) fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Reads as much of `buf` as the file has at `offset`; returns the bytes read.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf[done..], offset + done as u64);
        #[cfg(windows)]
        let n =
            std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64);
        match n {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::write_at(file, buf, offset);
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset);
        match n {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The `.part` file a download is assembled in. Writable from many threads at once.
pub struct PartFile {
    path: PathBuf,
    file: File,
    /// An earlier run left it (its verified blocks are kept); else this run created it.
    existed: bool,
    /// Writes take turns here: concurrent buffered writes to one file contend for its
    /// inode lock in the kernel, where a waiter spins (on a VM, the longer when the
    /// holder's vCPU is preempted). Measured on the bench: less system time, no loss.
    /// The turn also counts what was written, for the flushes behind the writers.
    write_turn: Mutex<WriteBehind>,
}

/// Bytes written between two flushes started behind the writers.
const WRITE_BEHIND: u64 = 32 << 20;

/// Flushes that follow the writers: once [`WRITE_BEHIND`] more bytes are written, a
/// thread of its own asks the system to write them to disk, while the scan or the fetch
/// goes on. Without them the flush after the scan waited for the whole file (0.43 s
/// under strace, the fetch done long before); with them the last flush finds little left
/// to write, and the bench's 300 MiB plain download went from 1.09 to 1.02 s (medians of
/// 5 runs, side by side).
#[derive(Default)]
struct WriteBehind {
    /// Written since the last flush started.
    unflushed: u64,
    /// The flush under way (or done and not yet joined).
    flushing: Option<JoinHandle<std::io::Result<()>>>,
    /// What a finished flush failed with, kept for the next flush the job waits for: a
    /// file's write error is reported once, to whichever flush comes first.
    failed: Option<std::io::Error>,
}

impl WriteBehind {
    /// Counts `written` bytes; starts a flush of `file` when enough are waiting and
    /// none is running.
    fn wrote(&mut self, file: &File, written: u64) {
        self.unflushed += written;
        if self.unflushed < WRITE_BEHIND || self.flushing.as_ref().is_some_and(|f| !f.is_finished())
        {
            return;
        }
        self.reap();
        // Without a second handle there is no flush behind: the final one does it all.
        let Ok(file) = file.try_clone() else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("deltadrop-flush".into())
            .spawn(move || file.sync_data());
        if let Ok(flushing) = spawned {
            self.flushing = Some(flushing);
            self.unflushed = 0;
        }
    }

    /// Waits for the flush under way, keeping what it failed with.
    fn reap(&mut self) {
        if let Some(flushing) = self.flushing.take()
            && let Err(e) = flushing.join().expect("a flush does not panic")
        {
            self.failed.get_or_insert(e);
        }
    }

    /// Waits for the flush under way; returns what any flush behind failed with.
    fn join(&mut self) -> std::io::Result<()> {
        self.reap();
        self.failed.take().map_or(Ok(()), Err)
    }
}

impl Drop for WriteBehind {
    /// The flush's handle is closed before the job ends: it is a clone of the handle
    /// that holds the job's lock on the `.part`, and a lock is released only once every
    /// clone is closed, so a next job for the same output would be refused meanwhile.
    fn drop(&mut self) {
        self.reap();
    }
}

impl PartFile {
    /// Opens (keeping what an earlier run left) or creates `<out>.part`, sized to `length`.
    pub fn open(output: &Path, length: u64) -> Result<PartFile> {
        let path = part_path(output);
        let existed = path.is_file();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        lock_for_this_job(&file, output, &path)?;
        file.set_len(length)
            .map_err(|e| Error::io("size", &path, e))?;
        Ok(PartFile {
            path,
            file,
            existed,
            write_turn: Mutex::new(WriteBehind::default()),
        })
    }

    /// True when an earlier run left this `.part` (its verified blocks are kept).
    pub fn existed(&self) -> bool {
        self.existed
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let mut turn = self.turn();
        write_all_at(&self.file, data, offset).map_err(|e| Error::io("write", &self.path, e))?;
        turn.wrote(&self.file, data.len() as u64);
        Ok(())
    }

    fn turn(&self) -> std::sync::MutexGuard<'_, WriteBehind> {
        self.write_turn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for the flush behind the writers; what it failed with is this file's
    /// flush error.
    fn join_write_behind(&self) -> Result<()> {
        self.turn()
            .join()
            .map_err(|e| Error::io("flush", &self.path, e))
    }

    /// The hash of the file's `bytes` (all of it, or a format's data part), read from
    /// disk in order while it is still being filled: before each piece is read,
    /// `wait_for(bytes)` must return true once those bytes are final (false gives up:
    /// `Ok(None)`). Hashing then overlaps fetching instead of following it.
    ///
    /// A thread of its own reads the pieces (waits, then copies out of the page cache)
    /// while this one hashes the piece before: once the fetch is done, the hash is all a
    /// download waits for.
    pub fn hash_as_filled(
        &self,
        algorithm: FileHashAlgorithm,
        bytes: Range<u64>,
        wait_for: impl FnMut(Range<u64>) -> bool + Send,
    ) -> Result<Option<FileHash>> {
        // Three pieces at most are held: one hashed, one read, one waiting between.
        let (to_hash, pieces) = std::sync::mpsc::sync_channel(1);
        let (to_reuse, hashed) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(move || self.read_in_order(bytes, wait_for, to_hash, hashed));
            let mut hasher = FileHasher::new(algorithm);
            for piece in pieces {
                let Some(piece) = piece? else {
                    return Ok(None);
                };
                hasher.update(&piece);
                // Gone only once the reader is done.
                let _ = to_reuse.send(piece);
            }
            Ok(Some(hasher.finish()))
        })
    }

    /// [`Self::hash_as_filled`]'s reader: sends each piece of `bytes` once `wait_for`
    /// says it is final, in buffers the hasher gives back; `None` when `wait_for` gives
    /// up. Stops at the first error, or when the hasher has stopped listening.
    fn read_in_order(
        &self,
        bytes: Range<u64>,
        mut wait_for: impl FnMut(Range<u64>) -> bool,
        to_hash: SyncSender<Result<Option<Vec<u8>>>>,
        hashed: Receiver<Vec<u8>>,
    ) {
        const PIECE: u64 = 256 << 10;
        let mut offset = bytes.start;
        while offset < bytes.end {
            let len = PIECE.min(bytes.end - offset);
            if !wait_for(offset..offset + len) {
                let _ = to_hash.send(Ok(None));
                return;
            }
            let mut piece = hashed.try_recv().unwrap_or_default();
            piece.resize(len as usize, 0);
            let read = match read_at(&self.file, &mut piece, offset) {
                Ok(n) if n < piece.len() => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file got shorter",
                )),
                Ok(_) => Ok(Some(piece)),
                Err(e) => Err(e),
            };
            let failed = read.is_err();
            if to_hash
                .send(read.map_err(|e| Error::io("read", &self.path, e)))
                .is_err()
                || failed
            {
                return;
            }
            offset += len;
        }
    }

    /// Starts writing what is cached for the file out to disk and waits for it; the final
    /// flush in [`finish`](Self::finish) then has little left to do.
    pub fn flush_early(&self) -> Result<()> {
        self.join_write_behind()?;
        self.file
            .sync_data()
            .map_err(|e| Error::io("flush", &self.path, e))
    }

    /// Moves the verified file into place as `output`, keeping the previous one as
    /// `<out>.zs-old` if asked, and sets its modification time.
    pub fn finish(self, output: &Path, keep_old: bool, mtime: Option<SystemTime>) -> Result<()> {
        self.join_write_behind()?;
        self.file
            .sync_all()
            .map_err(|e| Error::io("flush", &self.path, e))?;
        let PartFile { path, file, .. } = self;
        // Windows cannot rename an open file.
        drop(file);
        let old = old_path(output);
        let kept_old = if keep_old && output.exists() {
            Some(keep_as_old(output, &old)?)
        } else {
            None
        };
        // One rename replaces the output: at every moment, a crash included, `output`
        // is the previous file or the verified new one.
        if let Err(e) = std::fs::rename(&path, output) {
            if kept_old == Some(KeptOld::MovedAway) {
                // Put the previous version back where the user expects it; the verified
                // file stays in the .part for the next run.
                let _ = std::fs::rename(&old, output);
            }
            return Err(Error::io("move the verified file to", output, e));
        }
        if let Some(mtime) = mtime {
            // The file is complete and verified; a failure here only loses the timestamp.
            let _ = OpenOptions::new()
                .write(true)
                .open(output)
                .and_then(|f| f.set_modified(mtime));
        }
        Ok(())
    }
}

/// How the previous output was kept as `<out>.zs-old`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeptOld {
    /// A second name for the same file: the output stays in place until the new one
    /// replaces it.
    Linked,
    /// Renamed away (a file system without hard links): for a moment there is no output.
    MovedAway,
}

/// Keeps `output` as `old` (replacing an older `old`), by a hard link where the file
/// system has them.
fn keep_as_old(output: &Path, old: &Path) -> Result<KeptOld> {
    let _ = std::fs::remove_file(old);
    if std::fs::hard_link(output, old).is_ok() {
        return Ok(KeptOld::Linked);
    }
    std::fs::rename(output, old).map_err(|e| Error::io("keep the previous version as", old, e))?;
    Ok(KeptOld::MovedAway)
}

/// Takes the `.part`'s lock for as long as `file` is open (it is released when the file
/// is closed, also by a crash), so that a second job for the same output (the user opened
/// the same `.zsync` twice) stops with a message instead of writing into the same file.
fn lock_for_this_job(file: &File, output: &Path, part: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Invalid(format!(
            "another download into {} is running ({} is in use): wait for it to finish, \
             or choose another output",
            output.display(),
            part.display()
        ))),
        // A file system without locks (some network shares): go on without one.
        Err(std::fs::TryLockError::Error(_)) => Ok(()),
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash leaves the
/// old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = with_suffix(path, ".tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("replace", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_job_for_the_same_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("image.img");
        let first = PartFile::open(&output, 1000).unwrap();
        let second = PartFile::open(&output, 1000).err().expect("refused");
        assert!(
            second.to_string().starts_with("another download into"),
            "{second}"
        );
        drop(first);
        PartFile::open(&output, 1000).expect("free again once the first job is gone");
    }

    #[test]
    fn hashing_reads_each_piece_in_order_once_it_is_final() {
        let dir = tempfile::tempdir().unwrap();
        let content = crate::test_data::noise((1 << 20) + 5, 9);
        let part = PartFile::open(&dir.path().join("out"), content.len() as u64).unwrap();
        part.write_at(0, &content).unwrap();
        let hash_of = |bytes: Range<usize>| {
            let mut hasher = FileHasher::new(FileHashAlgorithm::Sha1);
            hasher.update(&content[bytes]);
            hasher.finish()
        };
        let hash_as_filled = |bytes: Range<usize>, give_up_at: Option<u64>| {
            let asked = Mutex::new(Vec::new());
            let bytes = bytes.start as u64..bytes.end as u64;
            let hash = part.hash_as_filled(FileHashAlgorithm::Sha1, bytes, |piece| {
                asked.lock().unwrap().push(piece.clone());
                Some(piece.start) != give_up_at
            });
            (hash, asked.into_inner().unwrap())
        };

        let (hash, asked) = hash_as_filled(3..content.len(), None);
        assert_eq!(hash.unwrap(), Some(hash_of(3..content.len())));
        assert_eq!(asked.first().unwrap().start, 3);
        assert_eq!(asked.last().unwrap().end, content.len() as u64);
        assert!(
            asked.windows(2).all(|w| w[0].end == w[1].start),
            "{asked:?}"
        );

        let second = asked[1].start;
        let (hash, asked) = hash_as_filled(3..content.len(), Some(second));
        assert_eq!(hash.unwrap(), None, "gave up");
        assert_eq!(asked.len(), 2, "nothing asked after giving up");

        let (hash, _) = hash_as_filled(0..content.len() + 1, None);
        let error = hash
            .expect_err("the file is shorter than asked")
            .to_string();
        assert!(error.contains("got shorter"), "{error}");
    }

    #[test]
    fn finish_replaces_the_output_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("image.img");
        std::fs::write(&output, b"old version").unwrap();
        std::fs::write(old_path(&output), b"older version").unwrap();
        let part = PartFile::open(&output, 11).unwrap();
        part.write_at(0, b"new version").unwrap();
        part.finish(&output, true, None).unwrap();
        assert_eq!(std::fs::read(&output).unwrap(), b"new version");
        assert_eq!(std::fs::read(old_path(&output)).unwrap(), b"old version");
        assert!(!part_path(&output).exists());
    }

    #[test]
    fn flushes_follow_the_writers_and_end_with_the_part_file() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("image.img");
        let piece = 1 << 20;
        let length = 2 * WRITE_BEHIND + piece;
        let data = crate::test_data::noise(length as usize, 7);
        let part = PartFile::open(&output, length).unwrap();
        for (i, chunk) in data.chunks(piece as usize).enumerate() {
            part.write_at(i as u64 * piece, chunk).unwrap();
        }
        assert!(
            part.turn().flushing.is_some(),
            "a flush started behind the writers"
        );
        // Dropped mid-job: the flush's handle (which shares the job's lock) is gone with it.
        drop(part);
        let part = PartFile::open(&output, length).expect("the lock went with the job");
        part.write_at(length - 1, &data[length as usize - 1..])
            .unwrap();
        part.finish(&output, false, None).unwrap();
        assert_eq!(std::fs::read(&output).unwrap(), data);
    }
}
