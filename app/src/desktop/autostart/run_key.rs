//! The Windows Run key: the value "deltadrop" under
//! `HKCU\Software\Microsoft\Windows\CurrentVersion\Run` is the command line Windows runs
//! at the user's logon. Per user (HKCU), as the installer is: no administrator rights.
//! Task Manager's Startup tab switches an entry off without removing it, by a binary
//! value of the same name under `Explorer\StartupApproved\Run` whose first byte is odd;
//! [`is_enabled`] honours it and turning the setting on clears it (the user's latest
//! choice wins). The uninstaller (`packaging/windows/deltadrop.nsi`) deletes both values.

#[cfg(windows)]
use std::path::Path;

use crate::desktop::MINIMIZED_FLAG;

#[cfg(windows)]
const RUN_KEY: &str = r"Software\Microsoft\Windows\CurrentVersion\Run";
#[cfg(windows)]
const STARTUP_APPROVED_KEY: &str =
    r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run";
#[cfg(windows)]
const VALUE_NAME: &str = "deltadrop";

#[cfg(windows)]
pub(super) fn is_enabled() -> bool {
    use windows_registry::CURRENT_USER;
    let registered = CURRENT_USER
        .open(RUN_KEY)
        .and_then(|run| run.get_string(VALUE_NAME))
        .is_ok();
    let switched_off = CURRENT_USER
        .open(STARTUP_APPROVED_KEY)
        .and_then(|approved| approved.get_value(VALUE_NAME))
        .is_ok_and(|flags| flags.first().is_some_and(|first| first % 2 == 1));
    registered && !switched_off
}

#[cfg(windows)]
pub(super) fn enable(exe: &Path) -> Result<(), String> {
    let exe = exe.to_str().ok_or_else(|| {
        format!(
            "deltadrop's path {} cannot be written to the registry: \
             move deltadrop to a folder with a plainer name",
            exe.display()
        )
    })?;
    windows_registry::CURRENT_USER
        .create(RUN_KEY)
        .and_then(|run| run.set_string(VALUE_NAME, command_line(exe)))
        .map_err(|e| format!(r"could not write HKCU\{RUN_KEY}\{VALUE_NAME}: {e}"))?;
    clear_switched_off()
}

#[cfg(windows)]
pub(super) fn disable() -> Result<(), String> {
    remove_value(RUN_KEY)?;
    clear_switched_off()
}

/// Forgets Task Manager's "disabled" for our entry (no value: enabled).
#[cfg(windows)]
fn clear_switched_off() -> Result<(), String> {
    remove_value(STARTUP_APPROVED_KEY)
}

/// Deletes our value under `key`; a key or value that is not there is already deleted.
#[cfg(windows)]
fn remove_value(key: &str) -> Result<(), String> {
    // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND): no such key or value.
    const NOT_FOUND: i32 = 0x8007_0002_u32 as i32;
    let removed = windows_registry::CURRENT_USER
        .options()
        .read()
        .write()
        .open(key)
        .and_then(|opened| opened.remove_value(VALUE_NAME));
    match removed {
        Err(e) if e.code().0 != NOT_FOUND => {
            Err(format!(r"could not delete HKCU\{key}\{VALUE_NAME}: {e}"))
        }
        _ => Ok(()),
    }
}

/// The command line: the path quoted (a space in it would otherwise end the program's
/// name: `C:\Users\Jane Doe\...`), then the flag. Windows paths cannot hold `"`.
pub(super) fn command_line(exe: &str) -> String {
    format!("\"{exe}\" {MINIMIZED_FLAG}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_quoted_and_followed_by_the_flag() {
        assert_eq!(
            command_line(r"C:\Users\Jane Doe\AppData\Local\Programs\deltadrop\deltadrop.exe"),
            r#""C:\Users\Jane Doe\AppData\Local\Programs\deltadrop\deltadrop.exe" --minimized"#
        );
    }
}
