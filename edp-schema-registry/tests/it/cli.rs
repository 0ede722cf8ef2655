//! The binary: `check` over real and broken directories, `serve`, usage errors.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

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
fn usage_errors_exit_2_and_say_why() {
    let cases: [(&[&str], &str); 7] = [
        (&[], "no command given"),
        (&["launch"], "unknown command `launch`"),
        (&["check"], "`check` needs the schemas directory"),
        (&["check", "a", "b"], "unexpected argument `b`"),
        (
            &["check", "schemas", "--level", "SOMETIMES"],
            "unknown compatibility level `SOMETIMES`",
        ),
        (&["serve", "--addr", "here"], "`--addr` takes an address"),
        (&["serve", "--port", "1"], "`serve` has no option `--port`"),
    ];
    for (args, expected) in cases {
        let out = bin().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            stderr.contains("usage: edp-schema-registry"),
            "{args:?}: {stderr}"
        );
    }
    let help = bin().arg("help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("check SCHEMAS_DIR"));
}

/// The binary's `serve`, on a free port, answers the API; killed at the end.
pub(crate) struct Served {
    child: std::process::Child,
    pub(crate) url: String,
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
    let addr = served.url.trim_start_matches("http://").parse().unwrap();
    assert_eq!(get(addr, "/subjects").await.json(), json!([]));
    assert_eq!(
        get(addr, "/config").await.json(),
        json!({ "compatibilityLevel": "BACKWARD" })
    );
}
