//! Control files not made by zsyncmake 0.6.2's defaults: tiny block sizes (which zsync
//! 0.6.2 accepts), and the newer format of zsync's 0.8 specification, whose blocks may be
//! checked with MD5, SHA-224 or SHA-256 and whose file with SHA-256. Each is served by
//! nginx and downloaded with a seed; the output must be exact, and a file that does not
//! hash to its `File-Hash` must not be put in place.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use deltadrop_core::{Error, FileHashAlgorithm, StrongHash};
use deltadrop_tests::*;

/// Writes `name.zsync` for `content` in `dir` in the 0.8 format: blocks checked with
/// `strong`, the whole file with `file_hash` (`hex_override` replaces its digest).
fn write_0_8_control(
    dir: &Path,
    name: &str,
    content: &[u8],
    strong: StrongHash,
    file_hash: FileHashAlgorithm,
    hex_override: Option<&str>,
) {
    let bs = 1024;
    let digest = match file_hash {
        FileHashAlgorithm::Sha1 => hex::encode(sha1_of(content)),
        FileHashAlgorithm::Sha256 => hex::encode(sha256_of(content)),
        other => panic!("a .zsync names SHA-1 or SHA-256, not {other:?}"),
    };
    let checksum_bytes = strong.digest_len().min(12);
    let mut out = Vec::new();
    write!(
        out,
        "zsync: 0.8.0\nSafe: File-Hash,Strong-Hash-Algorithm\nFilename: {name}\nBlocksize: {bs}\n\
         Length: {}\nHash-Lengths: 2,4,{checksum_bytes}\nStrong-Hash-Algorithm: {}\n\
         File-Hash: {}:{}\nURL: {name}\n\n",
        content.len(),
        strong.name(),
        file_hash.name(),
        hex_override.unwrap_or(&digest),
    )
    .unwrap();
    for block in content.chunks(bs) {
        let mut padded = block.to_vec();
        padded.resize(bs, 0);
        out.extend(weak_sum(&padded));
        out.extend(&strong.of(&padded)[..checksum_bytes]);
    }
    std::fs::write(dir.join(format!("{name}.zsync")), out).unwrap();
}

/// rsync's weak sum as zsync stores it, written out here apart from the crate's own:
/// `a` = the sum of the bytes, `b` = the sum of `(len - i) * byte_i`, both modulo 2^16,
/// big-endian `a` then `b`.
fn weak_sum(block: &[u8]) -> [u8; 4] {
    let (mut a, mut b) = (0u16, 0u16);
    for (i, &byte) in block.iter().enumerate() {
        a = a.wrapping_add(u16::from(byte));
        b = b.wrapping_add(((block.len() - i) as u16).wrapping_mul(u16::from(byte)));
    }
    let [a0, a1] = a.to_be_bytes();
    let [b0, b1] = b.to_be_bytes();
    [a0, a1, b0, b1]
}

fn sha1_of(data: &[u8]) -> Vec<u8> {
    use sha1::Digest;
    sha1::Sha1::digest(data).to_vec()
}

fn sha256_of(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

#[test]
fn files_in_the_0_8_format_download_with_every_hash_they_name() {
    let old = random_bytes(400_000, 41);
    let new = edited(&old, 42);
    let www = public_dir();
    std::fs::write(www.path().join("f.bin"), &new).unwrap();
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let (work, seed) = work_with_seed(&old);

    for strong in [
        StrongHash::Md4,
        StrongHash::Md5,
        StrongHash::Sha224,
        StrongHash::Sha256,
    ] {
        for file_hash in [FileHashAlgorithm::Sha1, FileHashAlgorithm::Sha256] {
            let name = format!("{}-{}", strong.name(), file_hash.name());
            std::fs::write(www.path().join(&name), &new).unwrap();
            write_0_8_control(www.path(), &name, &new, strong, file_hash, None);
            let out = work.path().join(&name);
            let (result, _) = run_job(job_spec(
                server.url(&format!("{name}.zsync")),
                &[&seed],
                &out,
            ));
            let summary = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(read(&out), new, "{name}");
            assert_eq!(
                summary.file_hash.as_ref().unwrap().algorithm,
                file_hash,
                "{name}"
            );
            assert!(
                summary.progress.local_bytes > new.len() as u64 / 2,
                "{name}: the seed was not used ({} bytes)",
                summary.progress.local_bytes
            );
        }
    }

    // A file that does not hash to its File-Hash is reported and not put in place.
    let wrong = "ab".repeat(32);
    write_0_8_control(
        www.path(),
        "f.bin",
        &new,
        StrongHash::Sha256,
        FileHashAlgorithm::Sha256,
        Some(&wrong),
    );
    let out = work.path().join("f.bin");
    let (result, _) = run_job(job_spec(server.url("f.bin.zsync"), &[&seed], &out));
    let error = result.unwrap_err();
    assert!(matches!(error, Error::Verification { .. }), "{error}");
    assert!(
        error.to_string().contains(&format!("SHA-256 {wrong}")),
        "{error}"
    );
    assert!(!out.exists());
}

#[test]
fn eight_byte_blocks_work_as_they_do_for_zsync() {
    let old = random_bytes(3000, 43);
    let new = edited(&old, 44);
    let Some((www, _)) = publish("tiny.bin", &new, &["-b", "8", "-u", "tiny.bin"]) else {
        return;
    };
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let Some(zsync) = peer("zsync") else {
        return;
    };
    let (work, seed) = work_with_seed(&old);

    let out = work.path().join("ours");
    let (result, _) = run_job(job_spec(server.url("tiny.bin.zsync"), &[&seed], &out));
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert!(
        summary.progress.local_bytes > 2000,
        "{:?}",
        summary.progress
    );

    // Debian's zsync reads the same file too.
    let theirs = work.path().join("theirs");
    let status = Command::new(zsync)
        .args(["-q", "-i"])
        .arg(&seed)
        .arg("-o")
        .arg(&theirs)
        .arg(server.url("tiny.bin.zsync"))
        .current_dir(work.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(read(&theirs), new);
}
