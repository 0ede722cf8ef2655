//! `promtool check metrics`: whether a `/metrics` page is what Prometheus accepts, by
//! Prometheus's own linter (Debian's `prometheus` package; `scripts/test` installs it).

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text`.
///
/// # Errors
///
/// What promtool complained about, or why it could not run (not installed): either
/// way a test should fail with it, never skip.
pub fn check_metrics(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run promtool ({e}); scripts/test installs it (apt package prometheus)")
        })?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or("promtool's standard input is not a pipe")?;
    stdin
        .write_all(text.as_bytes())
        .map_err(|e| format!("cannot write to promtool: {e}"))?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| format!("promtool did not finish: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
