//! Names that come from the network (a control file's `Filename`, the last part of a
//! URL) become files only if they cannot leave the folder they are meant for or name a
//! device, on any platform. Every writer of a file named by a server asks here.

use url::Url;

/// The last segment of `url`'s path, if it is a safe file name.
pub(crate) fn safe_name_from_url(url: &Url) -> Option<String> {
    let name = url.path_segments()?.next_back()?;
    is_safe_file_name(name).then(|| name.to_string())
}

/// A file name from the network is safe if it cannot leave the output folder or name a
/// device on any platform.
pub fn is_safe_file_name(name: &str) -> bool {
    // Windows' device names, whatever the extension ("con.txt", "COM¹.iso", "nul .x").
    const RESERVED: [&str; 32] = [
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
        "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2",
        "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
    ];
    let stem = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_uppercase();
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.ends_with(['.', ' '])
        && !name.chars().any(|c| {
            c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        })
        && !RESERVED.contains(&stem.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_the_network_are_checked() {
        for ok in ["image.wic", "a b.iso", "x.tar.gz", "über"] {
            assert!(is_safe_file_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/etc/passwd",
            "a\\b",
            "C:x",
            "con",
            "nul .txt",
            "COM¹.iso",
            "LPT².txt",
            "lpt³",
            "COM³",
            "conout$",
            "image.iso:stream",
            "a\u{7}b",
            "NUL.txt",
            "lpt1",
            "a\nb",
            "trailing.",
            "x ",
        ] {
            assert!(!is_safe_file_name(bad), "{bad:?}");
        }
    }
}
