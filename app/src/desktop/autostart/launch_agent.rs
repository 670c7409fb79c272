//! The macOS LaunchAgent, `~/Library/LaunchAgents/<bundle id>.plist`: launchd starts its
//! `ProgramArguments` when the user logs in (`RunAtLoad`). It is read at login, so writing
//! it does not start a second copy now; macOS lists it under Login Items, where the user
//! can also switch it off.

use std::path::{Path, PathBuf};

use super::{remove_entry, write_replacing};
use crate::desktop::{APP_IDENTIFIER, MINIMIZED_FLAG, escape_xml_text};

#[cfg(target_os = "macos")]
pub(super) fn is_enabled() -> bool {
    super::home_dirs().is_ok_and(|dirs| agent_path(dirs.home_dir()).is_file())
}

#[cfg(target_os = "macos")]
pub(super) fn enable(exe: &Path) -> Result<(), String> {
    enable_in(super::home_dirs()?.home_dir(), exe)
}

#[cfg(target_os = "macos")]
pub(super) fn disable() -> Result<(), String> {
    remove_entry(&agent_path(super::home_dirs()?.home_dir()))
}

/// The agent's path in the user's home folder.
pub(super) fn agent_path(home: &Path) -> PathBuf {
    home.join("Library/LaunchAgents")
        .join(format!("{APP_IDENTIFIER}.plist"))
}

pub(super) fn enable_in(home: &Path, exe: &Path) -> Result<(), String> {
    write_replacing(&agent_path(home), &agent(exe)?)
}

/// The property list that starts `exe` minimised at login. `ProcessType Interactive`:
/// it is an app the user sees, not a background job for launchd to throttle.
pub(super) fn agent(exe: &Path) -> Result<String, String> {
    let exe = exe.to_str().ok_or_else(|| {
        format!(
            "deltadrop's path {} is not UTF-8, which a LaunchAgent cannot hold: \
             move deltadrop.app to Applications",
            exe.display()
        )
    })?;
    Ok(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{APP_IDENTIFIER}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{}</string>
		<string>{MINIMIZED_FLAG}</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>ProcessType</key>
	<string>Interactive</string>
</dict>
</plist>
"#,
        escape_xml_text(exe)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltadrop_tests::{peer, text};

    const BUNDLED: &str = "/Applications/deltadrop.app/Contents/MacOS/deltadrop";

    #[test]
    fn the_agent_is_in_the_users_launch_agents_named_by_the_bundle_id() {
        let home = tempfile::tempdir().unwrap();
        enable_in(home.path(), Path::new(BUNDLED)).unwrap();
        let path = home
            .path()
            .join("Library/LaunchAgents/org.deltadrop.deltadrop.plist");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            agent(Path::new(BUNDLED)).unwrap()
        );
        remove_entry(&path).unwrap();
        assert!(!path.exists());
    }

    /// Python's plistlib reads the agent back: the keys launchd needs, with a path that
    /// has XML's special characters in it.
    #[test]
    fn a_plist_parser_reads_label_arguments_and_run_at_load() {
        let Some(python) = peer("python3") else {
            return;
        };
        let exe = "/Users/a&b <c>/deltadrop.app/Contents/MacOS/deltadrop";
        let plist = agent(Path::new(exe)).unwrap();
        let mut child = std::process::Command::new(python)
            .args([
                "-c",
                "import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(plist.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let parsed: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "Label": "org.deltadrop.deltadrop",
                "ProgramArguments": [exe, "--minimized"],
                "RunAtLoad": true,
                "ProcessType": "Interactive",
            })
        );
    }
}
