//! The freedesktop autostart entry, `$XDG_CONFIG_HOME/autostart/deltadrop.desktop`
//! (`~/.config` when the variable is unset), which the desktop session starts at login
//! (freedesktop Desktop Application Autostart spec). GNOME's and KDE's startup settings
//! switch an entry off with `Hidden=true` or `X-GNOME-Autostart-enabled=false`, which
//! [`is_enabled_in`] honours.

use std::path::{Path, PathBuf};

use super::{remove_entry, write_replacing};
use crate::desktop::{APP_NAME, MINIMIZED_FLAG};

#[cfg(all(unix, not(target_os = "macos")))]
pub(super) fn is_enabled() -> bool {
    super::home_dirs().is_ok_and(|dirs| is_enabled_in(dirs.config_dir()))
}

#[cfg(all(unix, not(target_os = "macos")))]
pub(super) fn enable(exe: &Path) -> Result<(), String> {
    enable_in(super::home_dirs()?.config_dir(), exe)
}

#[cfg(all(unix, not(target_os = "macos")))]
pub(super) fn disable() -> Result<(), String> {
    disable_in(super::home_dirs()?.config_dir())
}

/// The entry's path under the user's config folder (`$XDG_CONFIG_HOME`).
pub(super) fn entry_path(config_home: &Path) -> PathBuf {
    config_home
        .join("autostart")
        .join(format!("{APP_NAME}.desktop"))
}

pub(super) fn is_enabled_in(config_home: &Path) -> bool {
    std::fs::read_to_string(entry_path(config_home)).is_ok_and(|entry| !switched_off(&entry))
}

pub(super) fn enable_in(config_home: &Path, exe: &Path) -> Result<(), String> {
    write_replacing(&entry_path(config_home), &entry(exe)?)
}

pub(super) fn disable_in(config_home: &Path) -> Result<(), String> {
    remove_entry(&entry_path(config_home))
}

/// Whether the desktop's startup settings switched the entry off.
fn switched_off(entry: &str) -> bool {
    entry
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != "[Desktop Entry]")
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .any(|(key, value)| match key.trim() {
            "Hidden" => value.trim() == "true",
            "X-GNOME-Autostart-enabled" => value.trim() == "false",
            _ => false,
        })
}

/// The desktop entry that starts `exe` minimised.
///
/// A path with `%` in it is refused: the spec writes it `%%` (a field code starts with
/// `%`), but GLib, which GNOME's session starts entries with, looks for the program
/// under the name with `%%` still in it and skips the entry; written as `%`, readers
/// that follow the spec take it for a field code. No form starts on both.
pub(super) fn entry(exe: &Path) -> Result<String, String> {
    let exe = exe.to_str().ok_or_else(|| {
        format!(
            "deltadrop's path {} is not UTF-8, which a desktop entry cannot hold: \
             move deltadrop to a folder whose name is",
            exe.display()
        )
    })?;
    if exe.contains('%') {
        return Err(format!(
            "deltadrop's path {exe} has a %, which desktop sessions do not start \
             reliably: move deltadrop to a folder without % in its name"
        ));
    }
    let exec = format!("{} {MINIMIZED_FLAG}", exec_argument(exe));
    Ok(format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name={APP_NAME}\n\
         Comment=Follows builds in the background\n\
         Exec={}\n\
         Icon={APP_NAME}\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n",
        escape_string_value(&exec)
    ))
}

/// One argument of an `Exec` key, without `%`: quoted when it holds a reserved
/// character, with `"`, `` ` ``, `$` and `\` escaped inside the quotes (Desktop Entry
/// spec, "The Exec key").
fn exec_argument(argument: &str) -> String {
    const RESERVED: &[char] = &[
        ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(',
        ')', '`',
    ];
    if !argument.is_empty() && !argument.contains(RESERVED) {
        return argument.to_string();
    }
    let mut quoted = String::from("\"");
    for c in argument.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// A value of type string: backslash and control characters escaped. Readers undo this
/// before the `Exec` quoting, so it is applied after it (a literal backslash in a quoted
/// argument becomes four).
fn escape_string_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '\r' => escaped.push_str("\\r"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltadrop_tests::{peer, run, text};
    use std::time::{Duration, Instant};

    #[test]
    fn a_plain_path_is_written_as_it_is() {
        let entry = entry(Path::new("/usr/bin/deltadrop")).unwrap();
        assert_eq!(
            entry,
            "[Desktop Entry]\nType=Application\nName=deltadrop\n\
             Comment=Follows builds in the background\n\
             Exec=/usr/bin/deltadrop --minimized\nIcon=deltadrop\nTerminal=false\n\
             X-GNOME-Autostart-enabled=true\n"
        );
    }

    #[test]
    fn reserved_characters_are_quoted_and_escaped() {
        let exec = |path: &str| {
            let entry = entry(Path::new(path)).unwrap();
            let line = entry.lines().find(|l| l.starts_with("Exec=")).unwrap();
            line["Exec=".len()..].to_string()
        };
        assert_eq!(
            exec("/home/jane doe/deltadrop"),
            r#""/home/jane doe/deltadrop" --minimized"#
        );
        assert_eq!(
            exec(r#"/o p/$HOME/`x`/"q"/deltadrop"#),
            r#""/o p/\\$HOME/\\`x\\`/\\"q\\"/deltadrop" --minimized"#
        );
        // A backslash: escaped for the quotes, then both escaped as a string value.
        assert_eq!(
            exec(r"/a\b/deltadrop"),
            r#""/a\\\\b/deltadrop" --minimized"#
        );
        assert_eq!(exec("/a\nb/deltadrop"), r#""/a\nb/deltadrop" --minimized"#);
    }

    #[test]
    fn a_path_with_a_percent_sign_is_refused_with_a_reason() {
        let err = entry(Path::new("/opt/100%/deltadrop")).unwrap_err();
        assert!(
            err.contains("has a %") && err.contains("move deltadrop"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_refused_with_a_reason() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/opt/\xff/deltadrop"));
        let err = entry(path).unwrap_err();
        assert!(
            err.contains("not UTF-8") && err.contains("move deltadrop"),
            "{err}"
        );
    }

    #[test]
    fn enabling_writes_the_entry_and_disabling_removes_it() {
        let config = tempfile::tempdir().unwrap();
        assert!(!is_enabled_in(config.path()));
        enable_in(config.path(), Path::new("/usr/bin/deltadrop")).unwrap();
        let path = config.path().join("autostart/deltadrop.desktop");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            entry(Path::new("/usr/bin/deltadrop")).unwrap()
        );
        assert!(is_enabled_in(config.path()));
        // Enabling again (another copy of the app) replaces the entry; no temporary
        // file is left beside it.
        enable_in(config.path(), Path::new("/opt/deltadrop/deltadrop")).unwrap();
        let entries: Vec<_> = std::fs::read_dir(config.path().join("autostart"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["deltadrop.desktop"]);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("Exec=/opt/deltadrop/")
        );
        disable_in(config.path()).unwrap();
        assert!(!path.exists());
        assert!(!is_enabled_in(config.path()));
        disable_in(config.path()).unwrap();
    }

    #[test]
    fn an_entry_the_desktop_switched_off_is_not_enabled() {
        let config = tempfile::tempdir().unwrap();
        enable_in(config.path(), Path::new("/usr/bin/deltadrop")).unwrap();
        let path = entry_path(config.path());
        let original = std::fs::read_to_string(&path).unwrap();
        for switch in ["Hidden=true", "X-GNOME-Autostart-enabled = false"] {
            let edited = original.replace("X-GNOME-Autostart-enabled=true", switch);
            std::fs::write(&path, edited).unwrap();
            assert!(!is_enabled_in(config.path()), "{switch}");
        }
        // The same keys in another group are not the entry's.
        std::fs::write(
            &path,
            format!("{original}[Desktop Action x]\nHidden=true\n"),
        )
        .unwrap();
        assert!(is_enabled_in(config.path()));
    }

    #[test]
    fn a_folder_that_cannot_be_written_is_named_in_the_error() {
        let config = tempfile::tempdir().unwrap();
        // A file where the autostart folder should be.
        std::fs::write(config.path().join("autostart"), b"").unwrap();
        let err = enable_in(config.path(), Path::new("/usr/bin/deltadrop")).unwrap_err();
        assert!(err.contains("autostart"), "{err}");
    }

    /// GLib's reader of desktop entries (`gio launch`; GNOME's session starts autostart
    /// entries through the same code) runs the entry's program with exactly its
    /// arguments, from a folder whose name needs every kind of escape; and
    /// `desktop-file-validate` finds nothing wrong with the entry.
    #[cfg(unix)]
    #[test]
    fn gio_starts_the_entry_with_exactly_its_arguments() {
        use std::os::unix::fs::PermissionsExt;
        let Some(gio) = peer("gio") else {
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let folder = root
            .path()
            .join("Jane Doe's $HOME \"q\" `b` \\ ~;&|<>*?#()\tand\nend");
        std::fs::create_dir(&folder).unwrap();
        let exe = folder.join("deltadrop");
        let seen = root.path().join("arguments");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\" > '{}.new' && mv '{0}.new' '{0}'\n",
            seen.display()
        );
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = root.path().join("config");
        enable_in(&config, &exe).unwrap();

        let entry = entry_path(&config);
        let Some(validate) = peer("desktop-file-validate") else {
            return;
        };
        let checked = run(validate, &[entry.to_str().unwrap()], root.path());
        let complaints = format!("{}{}", text(&checked.stdout), text(&checked.stderr));
        assert!(
            checked.status.success() && complaints.is_empty(),
            "{complaints}"
        );
        let launched = run(gio, &["launch", entry.to_str().unwrap()], root.path());
        assert!(launched.status.success(), "{}", text(&launched.stderr));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.exists() {
            assert!(Instant::now() < deadline, "the entry's program did not run");
            std::thread::sleep(Duration::from_millis(50));
        }
        let arguments = std::fs::read_to_string(&seen).unwrap();
        assert_eq!(arguments, format!("{}\n--minimized\n", exe.display()));
    }
}
