//! The config server: layered configuration per service and profile, served over
//! HTTP from a directory, like Spring Cloud Config's native back end.
//!
//! `GET /{service}/{profile}` merges, each over the ones before it:
//!
//! 1. `application.toml` (every service),
//! 2. `application-{profile}.toml`,
//! 3. `{service}.toml`,
//! 4. `{service}-{profile}.toml`,
//!
//! and answers `{"service", "profile", "sources": [the files found], "config": {..}}`.
//! Files are read at each request, so edits show at once. Secrets do not belong here:
//! they come from the environment or files on the service's own machine (see
//! `edp_core::config`).
//!
//! Mounted on an `edp_core::app::App` (as the `edp-gateway config-server` binary
//! does), it serves `GET /health/live`, `GET /health/ready` and `GET /metrics` beside
//! the documents: axum matches static paths before `/{service}/{profile}`, so those
//! paths are the App's, and a service named `health` cannot have a profile `live` or
//! `ready`.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::routing::get;
use figment::Figment;
use figment::providers::{Format, Toml};
use http::StatusCode;

use crate::problem::problem;

/// Serves the configuration in one directory.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let server = edp_gateway::config_server::ConfigServer::new("config/");
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
/// axum::serve(listener, server.router()).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ConfigServer {
    dir: PathBuf,
}

impl ConfigServer {
    /// The server of the files in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The merged document of `service` in `profile`, and the files it came from.
    pub fn document(
        &self,
        service: &str,
        profile: &str,
    ) -> Result<(Vec<String>, serde_json::Value), String> {
        for name in [service, profile] {
            if name.is_empty()
                || name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "`{name}` is not a service or profile name (letters, digits, '-', '_')"
                ));
            }
        }
        let mut figment = Figment::new();
        let mut sources = Vec::new();
        for file in [
            "application.toml".to_owned(),
            format!("application-{profile}.toml"),
            format!("{service}.toml"),
            format!("{service}-{profile}.toml"),
        ] {
            let path = self.dir.join(&file);
            if path.is_file() {
                figment = figment.merge(Toml::file(&path));
                sources.push(file);
            }
        }
        let config: serde_json::Value = if sources.is_empty() {
            serde_json::json!({})
        } else {
            figment
                .extract()
                .map_err(|e| format!("the configuration files do not merge: {e}"))?
        };
        Ok((sources, config))
    }

    /// `GET /{service}/{profile}`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/{service}/{profile}", get(serve_document))
            .with_state(self.clone())
    }
}

async fn serve_document(
    State(server): State<ConfigServer>,
    Path((service, profile)): Path<(String, String)>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match server.document(&service, &profile) {
        Ok((sources, config)) => axum::Json(serde_json::json!({
            "service": service,
            "profile": profile,
            "sources": sources,
            "config": config,
        }))
        .into_response(),
        Err(e) if e.starts_with('`') => problem(StatusCode::BAD_REQUEST, &e),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// Fetches the merged configuration of `service` in `profile` from the config server
/// at `url`, as JSON for `edp_core::config::Config::remote_json`.
pub async fn fetch(url: &str, service: &str, profile: &str) -> Result<String, String> {
    let base: http::Uri = url.parse().map_err(|e| format!("`{url}`: {e}"))?;
    let body = crate::http_client::call(
        &base,
        http::Method::GET,
        &format!("/{service}/{profile}"),
        None,
    )
    .await?;
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("the config server's answer: {e}"))?;
    Ok(doc["config"].to_string())
}
