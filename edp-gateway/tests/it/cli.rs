//! The `edp-gateway` command line: help, version and usage errors, from the built
//! binary.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edp-gateway"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn a_usage_error_exits_2_naming_the_flag() {
    for (args, names) in [
        (
            &["registry", "--adr", "127.0.0.1:0"][..],
            &["'--adr'", "'--addr'"][..],
        ),
        (
            &["registry", "--addr", "here"][..],
            &["'here'", "'--addr <ADDR>'"][..],
        ),
        (&["gateway"][..], &["--config <FILE>"][..]),
        (
            &["config-server", "--addr", "127.0.0.1:0"][..],
            &["--dir <DIR>"][..],
        ),
        (&["proxy"][..], &["'proxy'"][..]),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for name in names {
            assert!(stderr.contains(name), "{args:?}: {stderr}");
        }
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // No command at all: the help, on stderr, and status 2.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: edp-gateway <COMMAND>"));
}

#[test]
fn help_lists_the_subcommands_and_version_says_which() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "Usage: edp-gateway <COMMAND>",
        "  gateway ",
        "  registry ",
        "  config-server ",
        "  help ",
        "RUST_LOG",
    ] {
        assert!(help.contains(line), "{line:?} in:\n{help}");
    }
    let out = run(&["help", "config-server"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--dir <DIR>"), "{help}");
    assert!(help.contains("[default: 127.0.0.1:8888]"), "{help}");
    assert!(help.contains("/health/* and /metrics"), "{help}");
    let out = run(&["help", "gateway"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for text in [
        "--management-addr <ADDR>",
        "[env: EDP_MANAGEMENT_ADDR=]",
        "else 127.0.0.1:9901",
    ] {
        assert!(help.contains(text), "{text:?} in:\n{help}");
    }
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("edp-gateway {}", env!("CARGO_PKG_VERSION"))
    );
}
