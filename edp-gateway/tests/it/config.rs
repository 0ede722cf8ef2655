//! The config server serves layered files per service and profile; a service loads
//! defaults, its own file, the environment (with `_FILE` secrets) and the server's
//! document into a typed struct.

use edp_core::config::{Config, Secret};
use edp_gateway::config_server::{ConfigServer, fetch};
use serde::{Deserialize, Serialize};

use crate::{get_path, json};

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Database {
    pool: u32,
    password: Option<Secret<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Provider {
    url: String,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Settings {
    port: u16,
    log_level: String,
    database: Database,
    provider: Provider,
    timeout_ms: u64,
}

#[tokio::test]
async fn services_load_layers_from_the_config_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = ConfigServer::new(fixtures()).router();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The server merges application, application-prod, payment, payment-prod.
    let doc = json(&get_path(addr, "/payment/prod").await);
    assert_eq!(
        doc["sources"],
        serde_json::json!([
            "application.toml",
            "application-prod.toml",
            "payment.toml",
            "payment-prod.toml"
        ])
    );
    assert_eq!(doc["config"]["provider"]["url"], "https://provider.example");
    assert_eq!(doc["config"]["database"]["pool"], 16);
    assert_eq!(doc["config"]["log_level"], "warn");
    let dev = json(&get_path(addr, "/payment/dev").await);
    assert_eq!(dev["config"]["provider"]["url"], "http://provider.dev");
    let bad = get_path(addr, "/..%2Fetc/prod").await;
    assert_eq!(bad.status(), 400);

    // The service: defaults < environment < config server; the password from a file.
    let secret_file =
        std::env::temp_dir().join(format!("edp-secret-{}", uuid::Uuid::now_v7().simple()));
    std::fs::write(&secret_file, "s3cret\n").unwrap();
    let remote = fetch(&format!("http://{addr}"), "payment", "prod")
        .await
        .unwrap();
    let settings: Settings = Config::new("payment")
        .profile("prod")
        .defaults(Settings {
            port: 8080,
            timeout_ms: 2000,
            ..Settings::default()
        })
        .env_from([
            ("PAYMENT_TIMEOUT_MS".to_owned(), "500".to_owned()),
            (
                "PAYMENT_DATABASE__PASSWORD_FILE".to_owned(),
                secret_file.display().to_string(),
            ),
            ("OTHER_PORT".to_owned(), "1".to_owned()),
        ])
        .remote_json(&remote)
        .unwrap()
        .load()
        .unwrap();
    std::fs::remove_file(&secret_file).unwrap();
    assert_eq!(settings.port, 8082, "the server's document");
    assert_eq!(
        settings.timeout_ms, 500,
        "the environment over the defaults"
    );
    assert_eq!(settings.database.pool, 16);
    assert_eq!(settings.provider.url, "https://provider.example");
    let password = settings
        .database
        .password
        .as_ref()
        .expect("from the _FILE variable");
    assert_eq!(password.expose(), "s3cret");
    assert!(
        !format!("{settings:?}").contains("s3cret"),
        "secrets never print"
    );

    // A wrong type names the key, not the value.
    let err = Config::new("payment")
        .defaults(Settings::default())
        .env_from([("PAYMENT_PORT".to_owned(), "not-a-port-hunter2".to_owned())])
        .load::<Settings>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("port"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
