//! The command line and the binary itself.

use std::process::Command as Process;
use std::time::Duration;

use ecommerce::{CodecChoice, Command, DEFAULT_ADDR, TransportChoice, parse_args};

#[test]
fn parses_run_and_demo() {
    assert_eq!(
        parse_args(Vec::<String>::new()),
        Ok(Command::Run {
            addr: DEFAULT_ADDR,
            transport: None,
            codec: None,
            storage: None
        })
    );
    assert_eq!(
        parse_args(["run", "--addr", "127.0.0.1:3000"]),
        Ok(Command::Run {
            addr: "127.0.0.1:3000".parse().unwrap(),
            transport: None,
            codec: None,
            storage: None
        })
    );
    assert_eq!(
        parse_args(["run", "--addr=0.0.0.0:80"]),
        Ok(Command::Run {
            addr: "0.0.0.0:80".parse().unwrap(),
            transport: None,
            codec: None,
            storage: None
        })
    );
    assert_eq!(
        parse_args(["run", "--kafka", "k1:9092,k2:9092"]),
        Ok(Command::Run {
            addr: DEFAULT_ADDR,
            transport: Some(TransportChoice::Kafka("k1:9092,k2:9092".into())),
            codec: None,
            storage: None
        })
    );
    assert_eq!(
        parse_args(["demo", "--codec", "avro", "--registry", "http://r:8081"]),
        Ok(Command::Demo(
            ecommerce::DemoOptions::default(),
            None,
            Some(CodecChoice::Avro(Some("http://r:8081".into())))
        ))
    );
    assert!(parse_args(["demo", "--codec", "xml"]).is_err());
    match parse_args(["demo", "--orders", "7", "--timeout", "5"]) {
        Ok(Command::Demo(options, None, None)) => {
            assert_eq!(options.orders, 7);
            assert_eq!(options.timeout, Duration::from_secs(5));
        }
        other => panic!("expected demo, got {other:?}"),
    }
    match parse_args(["demo"]) {
        Ok(Command::Demo(options, None, None)) => assert_eq!(options.orders, 100),
        other => panic!("expected demo, got {other:?}"),
    }
    assert_eq!(parse_args(["help"]), Ok(Command::Help));
}

#[test]
fn rejects_what_it_does_not_know_and_says_why() {
    let message = |args: &[&str]| parse_args(args.iter().copied()).unwrap_err().to_string();
    assert_eq!(
        message(&["serve"]),
        "unknown command `serve`; expected `run`, `demo` or `help`"
    );
    assert_eq!(
        message(&["demo", "--orders", "ten"]),
        "`--orders` takes a whole number, got `ten`"
    );
    assert_eq!(message(&["demo", "--orders"]), "`--orders` needs a value");
    assert_eq!(
        message(&["run", "--orders", "1"]),
        "`run` has no option `--orders`"
    );
    assert_eq!(message(&["run", "extra"]), "unexpected argument `extra`");
}

#[test]
fn the_binary_runs_the_demo_and_prints_a_line_per_order() {
    let output = Process::new(env!("CARGO_BIN_EXE_ecommerce"))
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
fn the_binary_exits_2_on_a_usage_error() {
    let output = Process::new(env!("CARGO_BIN_EXE_ecommerce"))
        .args(["demo", "--orders", "ten"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`--orders` takes a whole number, got `ten`"),
        "{stderr}"
    );
    assert!(stderr.contains("usage: ecommerce"), "{stderr}");
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
