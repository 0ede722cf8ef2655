//! The command line and the binary itself.

use std::process::Command as Process;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use ecommerce::{Cli, CodecChoice, Command, DEFAULT_ADDR, Storage, TransportChoice, parse_args};

/// The command line parsed, or the error clap renders.
fn parse(args: &[&str]) -> Result<Command, clap::Error> {
    parse_args(std::iter::once("ecommerce").chain(args.iter().copied()))
}

fn run_args(args: &[&str]) -> ecommerce::RunArgs {
    match parse(args) {
        Ok(Command::Run(run)) => run,
        other => panic!("expected run from {args:?}, got {other:?}"),
    }
}

fn demo_args(args: &[&str]) -> ecommerce::DemoArgs {
    match parse(args) {
        Ok(Command::Demo(demo)) => demo,
        other => panic!("expected demo from {args:?}, got {other:?}"),
    }
}

/// What the flags say, whatever the environment of the test says: a value on the
/// command line picks its kind.
#[test]
fn parses_run_and_demo() {
    assert!(matches!(
        Cli::try_parse_from(["ecommerce"]),
        Ok(Cli { command: None })
    ));
    assert_eq!(parse(&[]).unwrap(), parse(&["run"]).unwrap());
    assert_eq!(run_args(&["run"]).addr, DEFAULT_ADDR);
    let run = run_args(&["run", "--addr", "127.0.0.1:3000"]);
    assert_eq!(run.addr, "127.0.0.1:3000".parse().unwrap());
    assert_eq!(
        run_args(&["run", "--addr=0.0.0.0:80"]).addr,
        "0.0.0.0:80".parse().unwrap()
    );
    assert_eq!(
        run_args(&["run", "--kafka", "k1:9092,k2:9092"])
            .choices
            .transport,
        TransportChoice::Kafka("k1:9092,k2:9092".into())
    );
    assert_eq!(
        run_args(&["run", "--transport", "memory"])
            .choices
            .transport,
        TransportChoice::Memory
    );
    assert!(matches!(
        run_args(&["run", "--transport", "kafka"]).choices.transport,
        TransportChoice::Kafka(_)
    ));
    assert_eq!(
        demo_args(&["demo", "--codec", "avro", "--registry", "http://r:8081"])
            .choices
            .codec,
        CodecChoice::Avro(Some("http://r:8081".into()))
    );
    assert_eq!(
        demo_args(&["demo", "--registry", "http://r:8081"])
            .choices
            .codec,
        CodecChoice::Avro(Some("http://r:8081".into())),
        "--registry alone picks avro"
    );
    assert_eq!(
        demo_args(&["demo", "--codec", "json"]).choices.codec,
        CodecChoice::Json
    );
    assert_eq!(
        run_args(&["run", "--postgres", "postgres://u@h:5432/db"])
            .choices
            .storage,
        Storage::Postgres("postgres://u@h:5432/db".into())
    );
    assert_eq!(
        run_args(&["run", "--data", "/tmp/shop"]).choices.storage,
        Storage::Sqlite(Some("/tmp/shop".into()))
    );
    let demo = demo_args(&["demo", "--orders", "7", "--timeout", "5", "--data", "d"]);
    let options = demo.options();
    assert_eq!(options.orders, 7);
    assert_eq!(options.timeout, Duration::from_secs(5));
    assert_eq!(options.storage, Some(Storage::Sqlite(Some("d".into()))));
    let defaults = demo_args(&["demo"]).options();
    let expected = ecommerce::DemoOptions::default();
    assert_eq!(
        (defaults.orders, defaults.timeout),
        (expected.orders, expected.timeout)
    );
}

#[test]
fn rejects_what_it_does_not_know_and_says_why() {
    let error = |args: &[&str]| match parse(args) {
        Err(e) => (e.kind(), e.to_string()),
        Ok(command) => panic!("{args:?} parsed as {command:?}"),
    };
    let (kind, message) = error(&["serve"]);
    assert_eq!(kind, ErrorKind::InvalidSubcommand);
    assert!(message.contains("'serve'"), "{message}");
    let (kind, message) = error(&["demo", "--orders", "ten"]);
    assert_eq!(kind, ErrorKind::ValueValidation);
    assert!(
        message.contains("invalid value 'ten' for '--orders <N>'"),
        "{message}"
    );
    let (kind, message) = error(&["demo", "--timeout", "soon"]);
    assert_eq!(kind, ErrorKind::ValueValidation);
    assert!(
        message.contains("expected a whole number of seconds"),
        "{message}"
    );
    assert_eq!(error(&["demo", "--orders"]).0, ErrorKind::InvalidValue);
    let (kind, message) = error(&["run", "--orders", "1"]);
    assert_eq!(kind, ErrorKind::UnknownArgument);
    assert!(message.contains("'--orders'"), "{message}");
    assert_eq!(error(&["run", "extra"]).0, ErrorKind::UnknownArgument);
    let (kind, message) = error(&["demo", "--codec", "xml"]);
    assert_eq!(kind, ErrorKind::InvalidValue);
    assert!(
        message.contains("[possible values: json, avro]"),
        "{message}"
    );
    for (args, expected) in [
        (
            &["run", "--transport", "memory", "--kafka", "k:9092"][..],
            "`--kafka` goes with `--transport kafka`",
        ),
        (
            &["demo", "--codec", "json", "--registry", "http://r"][..],
            "`--registry` goes with `--codec avro`",
        ),
        (
            &["run", "--postgres", "postgres://h/db", "--data", "d"][..],
            "`--postgres` and `--data` exclude each other",
        ),
        (
            &[
                "run",
                "--database",
                "sqlite",
                "--postgres",
                "postgres://h/db",
            ][..],
            "`--postgres` goes with `--database postgres`",
        ),
    ] {
        let (kind, message) = error(args);
        assert_eq!(kind, ErrorKind::ArgumentConflict, "{args:?}");
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    assert_eq!(error(&["--help"]).0, ErrorKind::DisplayHelp);
    assert_eq!(error(&["help"]).0, ErrorKind::DisplayHelp);
    assert_eq!(error(&["demo", "-h"]).0, ErrorKind::DisplayHelp);
    assert_eq!(error(&["--version"]).0, ErrorKind::DisplayVersion);
}

/// The debug checks of clap's builder, on every command and argument.
#[test]
fn the_command_line_is_well_formed() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

fn bin() -> Process {
    let mut bin = Process::new(env!("CARGO_BIN_EXE_ecommerce"));
    for var in ["EDP_TRANSPORT", "EDP_CODEC", "EDP_DATABASE", "EDP_DATA_DIR"] {
        bin.env_remove(var);
    }
    bin
}

#[test]
fn the_binary_runs_the_demo_and_prints_a_line_per_order() {
    let output = bin()
        .args(["demo", "--orders", "20"])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 21, "{stdout}");
    for line in &lines[..20] {
        assert!(
            line.ends_with("  ok") && (line.contains("CONFIRMED") || line.contains("CANCELLED")),
            "{line}"
        );
    }
    assert!(lines[20].starts_with("20 orders in "), "{}", lines[20]);
    assert!(
        lines[20].ends_with("20 notifications; all as the payment rule says"),
        "{}",
        lines[20]
    );
}

#[test]
fn the_binary_exits_2_on_a_usage_error_naming_the_flag() {
    for (args, names) in [
        (
            &["demo", "--order", "5"][..],
            &["'--order'", "'--orders'"][..],
        ),
        (
            &["demo", "--orders", "ten"][..],
            &["'--orders <N>'", "'ten'"][..],
        ),
        (&["run", "--kafka"][..], &["'--kafka <BROKERS>'"][..]),
        (&["serve"][..], &["'serve'"][..]),
    ] {
        let output = bin().args(args).output().expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        for name in names {
            assert!(stderr.contains(name), "{args:?}: {stderr}");
        }
        assert!(
            stderr.contains("For more information, try '--help'."),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_binary_prints_help_and_version() {
    let output = bin().arg("--help").output().expect("the binary runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for line in [
        "Usage: ecommerce [COMMAND]",
        "  run ",
        "  demo ",
        "  help ",
        "EDP_SERVICES",
    ] {
        assert!(help.contains(line), "{line:?} in:\n{help}");
    }
    let output = bin()
        .args(["help", "demo"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for line in [
        "--orders <N>",
        "[default: 100]",
        "--kafka <BROKERS>",
        "[env: KAFKA_BROKERS=",
        "[env: DATABASE_URL]",
        "--data <DIR>",
    ] {
        assert!(help.contains(line), "{line:?} in:\n{help}");
    }
    let output = bin().arg("--version").output().expect("the binary runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("ecommerce {}", env!("CARGO_PKG_VERSION"))
    );
}

/// `EDP_DATABASE=postgres` without a URL is a usage error naming the variable to set,
/// and with `DATABASE_URL` goes there; a bad `EDP_TRANSPORT` is a usage error; an empty
/// `EDP_DATABASE` is the default, and a value in the environment alone does not pick
/// its kind.
#[test]
fn the_binary_reads_the_environment() {
    let output = bin()
        .args(["demo", "--orders", "1"])
        .env("EDP_DATABASE", "postgres")
        .env_remove("DATABASE_URL")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");

    let output = bin()
        .args(["demo", "--orders", "1"])
        .env("EDP_TRANSPORT", "carrier-pigeon")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("'carrier-pigeon' for '--transport"),
        "{stderr}"
    );

    // With its kind picked, a value in the environment is used: here a server that
    // refuses connections.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let output = bin()
        .args(["demo", "--orders", "1"])
        .env("EDP_DATABASE", "postgres")
        .env(
            "DATABASE_URL",
            format!("postgres://nobody@{refused}/nothing"),
        )
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot open the order database"),
        "{stderr}"
    );

    let mut child = bin()
        .args(["run", "--addr", "127.0.0.1:0"])
        .env("EDP_DATABASE", "")
        .env("KAFKA_BROKERS", "127.0.0.1:1")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")
        .env("SCHEMA_REGISTRY_URL", "http://127.0.0.1:1")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first = String::new();
    let read = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first);
    let _ = child.kill();
    let _ = child.wait();
    read.expect("readable stdout");
    assert!(
        first
            .trim_end()
            .ends_with("on the in-memory bus, SQLite in a temporary directory"),
        "{first}"
    );
}

/// `ecommerce run` stops cleanly on SIGTERM (what an orchestrator sends): it stops
/// intake, drains the services and exits 0. The process is signalled by its PID.
#[test]
fn the_binary_shuts_down_gracefully_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut child = Process::new(env!("CARGO_BIN_EXE_ecommerce"))
        .args(["run", "--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .expect("a first line")
        .expect("readable stdout");
    assert!(
        first.starts_with("ecommerce is running on http://127.0.0.1:"),
        "{first}"
    );

    let status = Process::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait works") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(exit.success(), "exit {exit:?}\nstderr:\n{stderr}");
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(stderr.contains("service stopped"), "{stderr}");
}

/// `EDP_LOG_FORMAT=json` makes every log line one JSON object with a level, a target
/// and the message; a bad value is a usage error that names the variable.
#[test]
fn logs_are_json_lines_when_asked() {
    let output = Process::new(env!("CARGO_BIN_EXE_ecommerce"))
        .args(["demo", "--orders", "2"])
        .env("EDP_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .output()
        .expect("the demo runs");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 3, "some log lines: {stderr}");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
        assert!(v["target"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
    }

    let bad = Process::new(env!("CARGO_BIN_EXE_ecommerce"))
        .args(["demo", "--orders", "1"])
        .env("EDP_LOG_FORMAT", "xml")
        .output()
        .expect("the binary runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("EDP_LOG_FORMAT is `xml`"));
}
