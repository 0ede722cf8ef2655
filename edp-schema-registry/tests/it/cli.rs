//! The binary: `check` over real and broken directories, `serve` (the API, `/health/*`
//! and `/metrics`, SIGTERM), help and usage errors.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::evolution::{COUPON, Scratch, order, repo_schemas};
use crate::http::get;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edp-schema-registry"))
}

#[test]
fn check_passes_the_committed_schemas() {
    let out = bin().arg("check").arg(repo_schemas()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ecommerce/order.placed: v1, v2 compatible (BACKWARD_TRANSITIVE)"),
        "{stdout}"
    );
}

#[test]
fn check_fails_with_1_naming_file_and_field() {
    let dir = Scratch::new(&[
        ("ecommerce/order.placed.v1.avsc", &order("")),
        ("ecommerce/order.placed.v2.avsc", &order(COUPON)),
    ]);
    let out = bin()
        .arg("check")
        .arg(&dir.0)
        .args(["--level", "BACKWARD"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("order.placed.v2.avsc against"), "{stderr}");
    assert!(
        stderr.contains("`OrderPlaced.coupon`: field `coupon` has no default"),
        "{stderr}"
    );
    assert!(stderr.contains("(compatibility BACKWARD)"), "{stderr}");
    // FORWARD lets an added field through.
    let out = bin()
        .arg("check")
        .arg(&dir.0)
        .arg("--level=forward")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2_naming_the_flag() {
    let cases: [(&[&str], &[&str]); 7] = [
        (&["launch"], &["unrecognized subcommand 'launch'"]),
        (&["check"], &["<SCHEMAS_DIR>"]),
        (&["check", "a", "b"], &["unexpected argument 'b'"]),
        (
            &["check", "schemas", "--level", "SOMETIMES"],
            &["'SOMETIMES' for '--level <LEVEL>'", "BACKWARD_TRANSITIVE"],
        ),
        (
            &["serve", "--addr", "here"],
            &["'here' for '--addr <ADDR>'"],
        ),
        (&["serve", "--port", "1"], &["unexpected argument '--port'"]),
        (
            &["check", "schemas", "--levle", "FULL"],
            &["'--levle'", "'--level'"],
        ),
    ];
    for (args, expected) in cases {
        let out = bin().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{args:?}: {stderr}");
        }
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // No command at all: the help, on stderr, and status 2.
    let out = bin().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: edp-schema-registry <COMMAND>"));
}

#[test]
fn help_lists_the_commands_and_version_says_which() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "Usage: edp-schema-registry <COMMAND>",
        "  serve ",
        "  check ",
        "  help ",
        "Exit status",
    ] {
        assert!(help.contains(line), "{line:?} in:\n{help}");
    }
    let out = bin().args(["help", "check"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("<SCHEMAS_DIR>"), "{help}");
    assert!(help.contains("FULL_TRANSITIVE"), "{help}");
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("edp-schema-registry {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The binary's `serve`, on a free port, answers the API; killed at the end.
pub(crate) struct Served {
    child: std::process::Child,
    pub(crate) url: String,
}

impl Served {
    fn addr(&self) -> SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }
}

impl Served {
    pub(crate) fn start() -> Self {
        let mut child = bin()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("schema registry listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serve_answers_the_api() {
    let served = Served::start();
    let addr = served.addr();
    assert_eq!(get(addr, "/subjects").await.json(), json!([]));
    assert_eq!(
        get(addr, "/config").await.json(),
        json!({ "compatibilityLevel": "BACKWARD" })
    );
}

/// `serve` runs on the App: `/health/ready` and `/health/live` answer 200, `/metrics`
/// passes `promtool check metrics`, and SIGTERM ends it with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_health_and_metrics_and_stops_on_sigterm() {
    let mut served = Served::start();
    let addr = served.addr();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = get(addr, "/health/ready").await;
        if ready.status == 200 {
            assert_eq!(ready.json()["status"], "UP");
            break;
        }
        assert!(Instant::now() < deadline, "not ready after 10 s: {ready:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let live = get(addr, "/health/live").await;
    assert_eq!(live.status, 200, "{live:?}");
    // The API is measured too, by route template.
    assert_eq!(get(addr, "/subjects").await.status, 200);
    let metrics = get(addr, "/metrics").await;
    assert_eq!(metrics.status, 200, "{metrics:?}");
    assert_eq!(
        metrics.content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        metrics.text.contains("route=\"/subjects\""),
        "no /subjects series in:\n{}",
        metrics.text
    );
    if let Err(complaints) = edp_core::testkit::promtool::check_metrics(&metrics.text) {
        panic!("promtool rejects /metrics: {complaints}\n{}", metrics.text);
    }

    let sent = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = served.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit {exit:?}");
}
