//! `deltadrop --demo`: an offline first run.
//!
//! Makes two versions of a sample file in a temporary folder (the newer one partly
//! changed, with bytes inserted and removed so that most blocks move), writes a `.zsync`
//! for the newer one, serves that folder on a loopback port with the engine's
//! range-capable server, and hands the form the URL, the older version as seed and an
//! empty output folder. Runs before the window opens.
//!
//! The server is paced to [`DEMO_RATE`], as a slow link would be: at loopback speed the
//! download would end before the block map is drawn twice, and a newcomer would not see
//! the local and fetched blocks fill in. About a third of the sample is fetched, which
//! takes some ten seconds.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use deltadrop_core::serve::Server;
use deltadrop_core::{MakeOptions, write_control_file};

/// What the demo set up. Keep it alive as long as the app: it owns the server.
pub struct Demo {
    pub control: String,
    pub seed: PathBuf,
    pub output: PathBuf,
    pub folder: PathBuf,
    pub server: Server,
    remove_when_dropped: bool,
}

/// The size of the older sample.
pub const SAMPLE_LEN: usize = 48 << 20;

/// How fast the demo's server sends, in bytes per second.
pub const DEMO_RATE: u64 = 3 << 19;

/// A deterministic pseudo-random byte stream (xorshift64*).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.max(1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The two versions: the newer one has an insertion (which shifts everything after it),
/// six rewritten stretches spread over the file (a quarter of it), a deletion and a
/// longer tail.
pub fn sample_versions(len: usize) -> (Vec<u8>, Vec<u8>) {
    let old = noise(0x5eed, len);
    let mut new = Vec::with_capacity(len + len / 8);
    let inserted_at = len / 10;
    new.extend_from_slice(&old[..inserted_at]);
    new.extend_from_slice(&noise(1, 1000)); // Inserted: the rest is shifted.
    let mut kept_from = inserted_at;
    for stretch in 0..6 {
        let start = len / 7 * (stretch + 1);
        let end = start + len / 24;
        new.extend_from_slice(&old[kept_from..start]);
        new.extend_from_slice(&noise(2 + stretch as u64, end - start)); // Rewritten.
        kept_from = end;
    }
    let removed_at = len * 19 / 20;
    new.extend_from_slice(&old[kept_from..removed_at]);
    new.extend_from_slice(&old[removed_at + 5000..]); // 5000 bytes removed.
    new.extend_from_slice(&noise(9, len / 20)); // A longer tail.
    (old, new)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// Sets the demo up in a folder of this process's own under the temporary folder (a
/// second `--demo` running beside it must not pull its files away), removed again when
/// the [`Demo`] is dropped.
pub fn prepare() -> Result<Demo, String> {
    let folder = std::env::temp_dir().join(format!("deltadrop-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    let mut demo = prepare_in(&folder, SAMPLE_LEN, Some(DEMO_RATE))?;
    demo.remove_when_dropped = true;
    Ok(demo)
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.remove_when_dropped {
            // Best effort: the temporary folder is the OS's to clean up after that.
            let _ = std::fs::remove_dir_all(&self.folder);
        }
    }
}

/// Sets the demo up in `folder` with an older sample of `len` bytes, served at most at
/// `rate_limit` bytes per second.
pub fn prepare_in(folder: &Path, len: usize, rate_limit: Option<u64>) -> Result<Demo, String> {
    let served = folder.join("server");
    let seeds = folder.join("old");
    let output = folder.join("downloads");
    for dir in [&served, &seeds, &output] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    let (old, new) = sample_versions(len);
    let seed = seeds.join("sample-1.bin");
    let target = served.join("sample-2.bin");
    write(&seed, &old)?;
    write(&target, &new)?;
    let control = served.join("sample-2.bin.zsync");
    write_control_file(&target, Some(&control), &MakeOptions::default())
        .map_err(|e| e.to_string())?;
    let server = Server::start(
        &served,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        rate_limit,
    )
    .map_err(|e| e.to_string())?;
    Ok(Demo {
        control: format!("{}sample-2.bin.zsync", server.url()),
        seed,
        output,
        folder: folder.to_path_buf(),
        server,
        remove_when_dropped: false,
    })
}
