//! The gateway's configuration file (TOML), for the binary.
//!
//! ```toml
//! listen = "127.0.0.1:8000"
//! management = "127.0.0.1:9901"  # optional: /health/* and /metrics (see below)
//! max_body_bytes = 10485760
//!
//! [auth]                       # optional; without it every route is public
//! issuer = "https://id.example"
//! audience = "shop-api"
//! jwks_url = "http://id.example/.well-known/jwks.json"   # or jwks_file, or
//! # hs256_secret_env = "GATEWAY_DEV_SECRET"             # development only
//!
//! [[routes]]
//! prefix = "/api/v1/orders"
//! rewrite = "/v1/orders"
//! upstream = "order"
//! urls = ["http://127.0.0.1:8081"]  # or: registry = "http://127.0.0.1:8761"
//! scopes = ["orders"]
//! public = false
//! timeout_ms = 5000
//! rate_limit = { requests = 100, per_secs = 10 }
//! ```
//!
//! The binary serves `GET /health/live`, `GET /health/ready` and `GET /metrics` on the
//! management address, apart from the proxy's `listen` (every path there belongs to
//! the routes), like Envoy's admin port: `--management-addr` (or
//! `EDP_MANAGEMENT_ADDR`) if given, else the file's `management`, else
//! [`DEFAULT_MANAGEMENT`].

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::JwtAuth;
use crate::registry::RegistryClient;
use crate::{Gateway, RateLimit, Route, Upstream};

/// Where the binary serves `/health/*` and `/metrics` when neither the command line
/// nor the file says: `127.0.0.1:9901`, loopback only, as Envoy's admin port.
pub const DEFAULT_MANAGEMENT: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9901));

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where the binary serves `/health/*` and `/metrics` (see the
    /// [module documentation](self)); it must differ from `listen`.
    #[serde(default)]
    pub management: Option<SocketAddr>,
    /// The largest body forwarded.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// JWT validation.
    #[serde(default)]
    pub auth: Option<AuthFile>,
    /// The routes.
    pub routes: Vec<RouteFile>,
}

/// `[auth]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// The JWKS endpoint.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A JWKS file.
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// The environment variable holding an HS256 secret (development only).
    #[serde(default)]
    pub hs256_secret_env: Option<String>,
}

/// `[[routes]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    /// Path prefix.
    pub prefix: String,
    /// Replacement for the prefix upstream.
    #[serde(default)]
    pub rewrite: Option<String>,
    /// The upstream's name.
    pub upstream: String,
    /// Fixed instances.
    #[serde(default)]
    pub urls: Vec<String>,
    /// A registry to discover the instances in.
    #[serde(default)]
    pub registry: Option<String>,
    /// Scopes required.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// No token needed.
    #[serde(default)]
    pub public: bool,
    /// Upstream timeout.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Per-client limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimitFile>,
}

/// `rate_limit = { requests, per_secs }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    /// Requests per period.
    pub requests: u32,
    /// The period in seconds.
    pub per_secs: u64,
}

impl GatewayFile {
    /// Parses the TOML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        use figment::Figment;
        use figment::providers::{Format, Toml};
        Figment::new()
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| e.to_string())
    }

    /// The gateway it describes.
    pub async fn gateway(&self) -> Result<Gateway, String> {
        let mut builder = Gateway::builder();
        if let Some(max) = self.max_body_bytes {
            builder = builder.max_body(max);
        }
        if let Some(a) = &self.auth {
            let auth = match (&a.jwks_url, &a.jwks_file, &a.hs256_secret_env) {
                (Some(url), None, None) => JwtAuth::jwks_url(url, &a.issuer, &a.audience)
                    .await
                    .map_err(|e| e.to_string())?,
                (None, Some(file), None) => {
                    let text = std::fs::read_to_string(file)
                        .map_err(|e| format!("{}: {e}", file.display()))?;
                    JwtAuth::jwks_json(&text, &a.issuer, &a.audience).map_err(|e| e.to_string())?
                }
                (None, None, Some(var)) => {
                    let secret = std::env::var(var).map_err(|_| {
                        format!("[auth] hs256_secret_env names `{var}`, which is not set")
                    })?;
                    JwtAuth::hs256(secret.as_bytes(), &a.issuer, &a.audience)
                }
                _ => {
                    return Err(
                        "[auth] takes exactly one of jwks_url, jwks_file, hs256_secret_env".into(),
                    );
                }
            };
            builder = builder.auth(auth);
        }
        for r in &self.routes {
            let upstream = match (&r.registry, r.urls.is_empty()) {
                (Some(url), true) => Upstream::discovered(
                    &r.upstream,
                    RegistryClient::new(url).map_err(|e| e.to_string())?,
                ),
                (None, false) => Upstream::new(&r.upstream, &r.urls).map_err(|e| e.to_string())?,
                _ => {
                    return Err(format!("route {}: give either urls or registry", r.prefix));
                }
            };
            let mut route = Route::new(&r.prefix, upstream).scopes(r.scopes.clone());
            if let Some(to) = &r.rewrite {
                route = route.rewrite(to);
            }
            if r.public {
                route = route.public();
            }
            if let Some(ms) = r.timeout_ms {
                route = route.timeout(Duration::from_millis(ms));
            }
            if let Some(l) = &r.rate_limit {
                let limit = RateLimit::new(l.requests, Duration::from_secs(l.per_secs))
                    .ok_or_else(|| {
                        format!(
                            "route {}: a rate limit needs requests and per_secs above 0",
                            r.prefix
                        )
                    })?;
                route = route.rate_limit(limit);
            }
            builder = builder.route(route);
        }
        Ok(builder.build())
    }
}
