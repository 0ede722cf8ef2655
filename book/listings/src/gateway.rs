//! The Gateway chapter: a gateway with routes, auth and limits; a service's layered
//! configuration.

use std::time::Duration;

use edp_core::config::{Config, ConfigError, Secret};
use edp_gateway::auth::JwtAuth;
use edp_gateway::{Gateway, RateLimit, Route, Upstream};
use serde::{Deserialize, Serialize};

/// The identity provider's issuer, and this API's audience.
pub const ISSUER: &str = "https://id.example";
/// The audience tokens must name.
pub const AUDIENCE: &str = "shop-api";

// ANCHOR: gateway
/// Serves the shop's API on `listener`: orders need a token with the `orders` scope,
/// each client gets 100 requests per 10 s.
pub async fn shop_gateway(
    listener: tokio::net::TcpListener,
) -> Result<(), Box<dyn std::error::Error>> {
    let orders = Upstream::new("order", ["http://10.0.0.5:8081", "http://10.0.0.6:8081"])?;
    let limit = RateLimit::new(100, Duration::from_secs(10)).ok_or("a zero rate limit")?;
    let gateway = Gateway::builder()
        .route(
            Route::new("/api/v1/orders", orders)
                .rewrite("/v1/orders") // /api/v1/orders/42 -> /v1/orders/42
                .scopes(["orders"]) // the token must carry it
                .rate_limit(limit)
                .timeout(Duration::from_secs(5)),
        )
        .auth(JwtAuth::jwks_url("http://id.example/.well-known/jwks.json", ISSUER, AUDIENCE).await?)
        .max_body(1024 * 1024)
        .build();
    edp_gateway::serve(listener, gateway).await?;
    Ok(())
}
// ANCHOR_END: gateway

/// The payment service's settings.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Settings {
    /// Where it listens.
    pub port: u16,
    /// The database password: from a file or the environment, never logged.
    pub database_password: Option<Secret<String>>,
}

// ANCHOR: config
/// Defaults, then `config/payment.toml` and `config/payment-prod.toml`, then
/// `PAYMENT_*` variables (and `PAYMENT_*_FILE` files), then the config server's
/// document (fetched with `edp_gateway::config_server::fetch`).
pub fn load_settings(remote: &str) -> Result<Settings, ConfigError> {
    Config::new("payment")
        .profile("prod")
        .defaults(Settings {
            port: 8080,
            database_password: None,
        })
        .dir("config/")
        .env()
        .remote_json(remote)?
        .load()
}
// ANCHOR_END: config

#[cfg(test)]
mod tests {
    #[test]
    fn the_remote_document_wins_and_secrets_stay_hidden() {
        let s = super::load_settings(r#"{"port": 9000, "database_password": "pw"}"#).unwrap();
        assert_eq!(s.port, 9000);
        assert_eq!(
            format!("{s:?}"),
            "Settings { port: 9000, database_password: Some(***) }"
        );
    }
}
