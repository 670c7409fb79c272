//! Deterministic test inputs for the unit tests, so a failure reproduces, and the ways
//! they share of running peers and the engine.

/// Pseudo-random bytes (xorshift64): incompressible, and matching nothing by chance.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect()
}

/// A xorshift64 generator for tests that draw lengths and choices as well as bytes.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Up to a few edits: overwrite, flip a bit of, insert or remove a byte, or cut the input
/// short; what the property tests of every parser of hostile input apply to valid input.
pub(crate) fn mutate(mut data: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, kind, byte) in edits {
        let at = at % (data.len() + 1);
        match kind % 8 {
            0..=2 if at < data.len() => data[at] = byte,
            3 if at < data.len() => data[at] ^= 1 << (byte % 8),
            4 | 5 => data.insert(at, byte),
            6 if at < data.len() => {
                data.remove(at);
            }
            7 => data.truncate(at),
            _ => {}
        }
    }
    data
}

/// Whether the peer tool `tool` runs (with `probe`, e.g. `--version`). If not, the test
/// says so on stderr, which the harness does not capture (install `package` to run it),
/// and fails instead under `DELTADROP_REQUIRE_PEERS=1`, as in CI.
pub(crate) fn peer_available(tool: &str, probe: &str, package: &str) -> bool {
    use std::io::Write;
    let found = std::process::Command::new(tool).arg(probe).output().is_ok();
    if !found {
        if std::env::var("DELTADROP_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{tool} is not installed but DELTADROP_REQUIRE_PEERS=1");
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {tool} not found on PATH; install {package} to run its peer tests"
        );
    }
    found
}

/// Runs the peer tool `tool` with `args` in `dir`; its stdout. A failure fails the test
/// with what the tool said.
pub(crate) fn run_peer<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(
    tool: &str,
    args: &[S],
    dir: &std::path::Path,
) -> Vec<u8> {
    let out = std::process::Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Downloads the blob the casync index at `index` describes from the store folder
/// `store` into `output` (a new file), the way every download from a local store runs:
/// the engine asks the transport for each chunk's `file:` URL, unpacks what it reads and
/// checks it against the chunk's id. What it wrote, or why the job failed.
pub(crate) fn download_from_store(
    index: &std::path::Path,
    store: &std::path::Path,
    output: &std::path::Path,
) -> crate::Result<Vec<u8>> {
    let mut spec = crate::JobSpec::new(crate::ControlSource::File(index.to_path_buf()));
    spec.options.store = Some(store.display().to_string());
    spec.output = Some(output.to_path_buf());
    crate::Job::run(&spec, &crate::NullSink, &crate::Control::default())?;
    Ok(std::fs::read(output).unwrap())
}
