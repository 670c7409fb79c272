//! Re-creating the publisher's `.gz` from a verified gzip target (`Recompress:`).
//!
//! zsyncmake, given a `.gz`, finds the gzip options that reproduce its deflate stream and
//! writes them, with the original gzip header, as `Recompress: <hex header> <options>`.
//! zsync then pipes the verified target through the system `gzip -n <options>` and puts
//! the original header in front. flate2's encoder would produce other bytes, so this runs
//! the system gzip too (directly, no shell).
//!
//! Nothing in the control file verifies the result, but the Z-Map says where the
//! original deflate stream ends: a result of another length is certainly not the
//! publisher's file, one of the same length almost certainly is. The message says which.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::control::ControlFile;
use crate::error::{Error, Result};
use crate::gzip::{ZMap, parse_gzip_header};
use crate::part::is_safe_file_name;

/// The gzip header and trailer bytes around a deflate stream: the trailer is CRC-32 and
/// length, 4 bytes each.
const TRAILER: u64 = 8;

/// Writes the `.gz` next to `output` (named by `Z-Filename`, or `<output>.gz`); returns
/// a sentence for the user.
pub(crate) fn recompress(output: &Path, cf: &ControlFile, map: Option<&ZMap>) -> Result<String> {
    let line = cf.recompress.as_deref().ok_or_else(|| {
        Error::Invalid(
            "the control file has no Recompress line, so there is no original .gz to re-create"
                .into(),
        )
    })?;
    let bad = |why: &str| Error::Invalid(format!("its Recompress line \"{line}\" {why}"));
    let (header_hex, options) = line.split_once(' ').unwrap_or((line, ""));
    let header = hex::decode(header_hex).map_err(|_| bad("has no valid gzip header"))?;
    parse_gzip_header(&header).map_err(|_| bad("has no valid gzip header"))?;
    let options: Vec<&str> = options.split_whitespace().collect();
    // The options come from the network: only gzip flags, never a file name.
    if !options.iter().all(|o| {
        o.starts_with('-')
            && o[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
    }) {
        return Err(bad("has options that are not gzip flags"));
    }
    let target = gz_path(output, cf);
    let tmp = PathBuf::from(format!("{}.tmp", target.display()));
    let written = run_gzip(output, &options, &header, &tmp).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    std::fs::rename(&tmp, &target).map_err(|e| Error::io("replace", &target, e))?;

    let command = format!("gzip -n {}", options.join(" "));
    let verdict = match map.map(|m| m.last().in_bit.div_ceil(8) + TRAILER) {
        Some(original) if original == written => format!(
            "it has the original header and the original's length ({written} bytes), so it is almost certainly identical"
        ),
        Some(original) => format!(
            "it is {written} bytes where the original has {original}: this gzip compresses differently, so it is NOT an exact copy of the publisher's file"
        ),
        None => "there is no Z-Map to compare it with".into(),
    };
    Ok(format!(
        "re-created {} with `{command}`: {verdict}",
        target.display()
    ))
}

fn gz_path(output: &Path, cf: &ControlFile) -> PathBuf {
    match cf.z_filename.as_deref().filter(|n| is_safe_file_name(n)) {
        Some(name) => output.with_file_name(name),
        None => PathBuf::from(format!("{}.gz", output.display())),
    }
}

/// Compresses `input` with the system gzip into `out`, `header` in place of gzip's own;
/// returns the bytes written.
fn run_gzip(input: &Path, options: &[&str], header: &[u8], out: &Path) -> Result<u64> {
    let source = std::fs::File::open(input).map_err(|e| Error::io("open", input, e))?;
    let mut child = Command::new("gzip")
        .arg("-n")
        .args(options)
        .stdin(source)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Invalid(format!(
                "could not run the system gzip ({e}); install gzip to re-create the .gz"
            ))
        })?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut file = std::fs::File::create(out).map_err(|e| Error::io("create", out, e))?;
    let write_err = |e| Error::io("write", out, e);
    // gzip -n writes a 10-byte header; parse it rather than trust that.
    let mut head = Vec::new();
    (&mut stdout)
        .take(64 << 10)
        .read_to_end(&mut head)
        .map_err(|e| Error::io("read gzip's output for", out, e))?;
    let own = parse_gzip_header(&head)
        .map_err(|e| Error::Invalid(format!("the system gzip wrote no usable header ({e})")))?
        .len;
    file.write_all(header).map_err(write_err)?;
    file.write_all(&head[own..]).map_err(write_err)?;
    let rest = std::io::copy(&mut stdout, &mut file).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child
        .wait()
        .map_err(|e| Error::Invalid(format!("gzip: {e}")))?;
    if !status.success() {
        return Err(Error::Invalid(format!(
            "gzip -n {} failed ({status}): {}",
            options.join(" "),
            stderr.trim()
        )));
    }
    Ok((header.len() + head.len() - own) as u64 + rest)
}
