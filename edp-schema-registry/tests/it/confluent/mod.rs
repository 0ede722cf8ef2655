//! Confluent's own client talks to the registry: `client.py` (confluent-kafka's
//! `SchemaRegistryClient`, `AvroSerializer` and `AvroDeserializer`) against the server
//! started in-process.
//!
//! The client lives in a Python venv under `$HOME/.cache/edp-py`, installed here when
//! missing (once; later runs reuse it). If it cannot be installed the test fails and
//! says how to install it by hand: it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use edp_schema_registry::EmbeddedRegistry;

/// The client's version, pinned so that a new release cannot change the test.
const CLIENT: &str = "confluent-kafka[avro,schemaregistry]==2.16.1";

fn manifest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
}

fn run(command: &mut Command) -> Result<(), String> {
    let described = format!("{command:?}");
    match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{described} exited with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!("{described} could not start: {e}")),
    }
}

/// The venv's python with the client importable, installing it if needed.
fn python_with_client() -> PathBuf {
    let home = std::env::var("HOME")
        .expect("HOME is not set; the Confluent client test keeps its Python venv under $HOME/.cache/edp-py");
    let venv = Path::new(&home).join(".cache/edp-py");
    let python = venv.join("bin/python");
    let importable = |python: &Path| {
        run(Command::new(python).args(["-c", "import confluent_kafka.schema_registry.avro"]))
            .is_ok()
    };
    if importable(&python) {
        return python;
    }
    let install = || -> Result<(), String> {
        if !python.exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", CLIENT]))
    };
    if let Err(e) = install() {
        panic!(
            "cannot install Confluent's Python client for this test: {e}\n\
             install it by hand: python3 -m venv {venv} && {venv}/bin/pip install '{CLIENT}'",
            venv = venv.display()
        );
    }
    assert!(
        importable(&python),
        "installed {CLIENT}, but python cannot import it"
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_python_client_registers_reads_and_serializes() {
    let python = tokio::task::spawn_blocking(python_with_client)
        .await
        .unwrap();
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let script = manifest_dir().join("tests/it/confluent/client.py");
    let url = server.url();
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(url).output())
            .await
            .unwrap()
            .expect("run client.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client.py failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().any(|l| l == "ok"), "{stdout}");
    assert!(
        stdout.contains("409: ") && stdout.contains("OrderPlaced.coupon"),
        "{stdout}"
    );
    // What the client did is in the registry.
    let registry = server.registry();
    assert_eq!(registry.subjects(), ["orders-value", "payments-value"]);
    assert_eq!(registry.versions("orders-value").unwrap(), vec![1, 2]);
    server.shutdown().await.unwrap();
}
