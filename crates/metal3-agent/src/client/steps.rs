//! Custom deploy steps: executables shipped in the agent image under
//! `/usr/lib/metal3-agent/steps/<name>`, run by name with the same error handling as any
//! command.

use std::path::{Path, PathBuf};

use crate::init::reaper::Children;

/// Where the agent image carries its steps.
pub const STEPS_DIR: &str = "/usr/lib/metal3-agent/steps";

/// Lines of a step's output kept for its result or error.
const TAIL_LINES: usize = 20;

/// Whether `name` can name a step (no path, no hidden file).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The last lines of `bytes`.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// Runs step `name` from `dir`; its output's last lines, or why it failed.
pub async fn run(dir: &Path, name: &str, children: &Children) -> Result<String, String> {
    if !valid_name(name) {
        return Err(format!("{name:?} is not a valid custom deploy step name"));
    }
    let path: PathBuf = dir.join(name);
    if !path.is_file() {
        return Err(format!(
            "custom deploy step {name:?} is not in this agent image (no {})",
            path.display()
        ));
    }
    let mut command = std::process::Command::new(&path);
    command.env("METAL3_STEP", name).current_dir("/");
    let output = children
        .output(command)
        .await
        .map_err(|e| format!("custom deploy step {name:?} could not start: {e}"))?;
    let mut all = output.stdout.clone();
    all.extend_from_slice(&output.stderr);
    let tail = tail(&all);
    if output.status.success() {
        Ok(tail)
    } else {
        Err(format!(
            "custom deploy step {name:?} failed ({}): {tail}",
            output.status
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn script(dir: &Path, name: &str, body: &str) {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[tokio::test]
    async fn steps_run_by_name_and_fail_with_their_output() {
        let dir = tempfile::tempdir().expect("dir");
        script(dir.path(), "hello", "echo \"step $METAL3_STEP ran\"");
        script(dir.path(), "broken", "echo partial; echo oops >&2; exit 3");
        let own = Children::Own;
        assert_eq!(
            run(dir.path(), "hello", &own).await,
            Ok("step hello ran".into())
        );
        let err = run(dir.path(), "broken", &own).await.expect_err("fails");
        assert!(
            err.contains("exit status: 3") && err.contains("oops"),
            "{err}"
        );
        let err = run(dir.path(), "absent", &own).await.expect_err("absent");
        assert!(err.contains("not in this agent image"), "{err}");
        for bad in ["../etc/passwd", ".hidden", "", "a b"] {
            let err = run(dir.path(), bad, &own).await.expect_err(bad);
            assert!(err.contains("not a valid"), "{err}");
        }
    }

    #[test]
    fn only_the_last_lines_are_kept() {
        let many: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let kept = tail(many.as_bytes());
        assert!(
            kept.starts_with("line 10\n") && kept.ends_with("line 29"),
            "{kept}"
        );
    }
}
