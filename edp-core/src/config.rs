//! Layered configuration into a typed struct (feature `config`), on `figment`:
//! defaults, then a file, then the profile's file, then the environment, then the
//! config server's document; each layer overrides the ones before it.
//!
//! ```
//! use edp_core::config::{Config, Secret};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! struct Settings {
//!     port: u16,
//!     database_url: Option<Secret<String>>,
//! }
//!
//! let settings: Settings = Config::new("payment")
//!     .defaults(Settings { port: 8080, database_url: None })
//!     .toml_str(r#"port = 8081"#)
//!     .remote_json(r#"{"port": 9000}"#).unwrap()
//!     .load()
//!     .unwrap();
//! assert_eq!(settings.port, 9000);
//! ```
//!
//! Files are TOML: `{dir}/{service}.toml`, then `{dir}/{service}-{profile}.toml`. The
//! profile comes from [`profile`](Config::profile) or `EDP_PROFILE` (default `dev`).
//! Environment variables are `{PREFIX}_{KEY}`, with `__` for nesting
//! (`PAYMENT_DATABASE__POOL=8`); a variable ending in `_FILE` names a file whose
//! content is the value (`PAYMENT_DATABASE_URL_FILE=/run/secrets/db`), the usual way
//! to pass secrets. Wrap secrets in [`Secret`]: they print as `***`.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Json, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A value that never shows in logs: `Debug` and `Display` print `***`.
///
/// ```
/// use edp_core::config::Secret;
/// let password = Secret::new("hunter2".to_owned());
/// assert_eq!(format!("{password:?}"), "***");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself: use it where it is needed, never log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Configuration that cannot be loaded: which key, and why.
#[derive(Debug, thiserror::Error)]
#[error("configuration of `{service}`: {message}")]
pub struct ConfigError {
    service: String,
    message: String,
}

/// Builds a service's configuration from its layers; see the module docs.
#[derive(Debug)]
#[must_use]
pub struct Config {
    service: String,
    profile: String,
    figment: Figment,
    env_prefix: String,
}

impl Config {
    /// The configuration of `service`: its environment prefix is the service name in
    /// upper case (`payment` -> `PAYMENT_`), its profile `EDP_PROFILE` or `dev`.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            profile: std::env::var("EDP_PROFILE").unwrap_or_else(|_| "dev".to_owned()),
            figment: Figment::new(),
            env_prefix: format!("{}_", service.to_uppercase().replace('-', "_")),
        }
    }

    /// The profile (`dev`, `staging`, `prod`).
    pub fn profile(mut self, profile: &str) -> Self {
        self.profile = profile.to_owned();
        self
    }

    /// The profile in use.
    pub fn profile_name(&self) -> &str {
        &self.profile
    }

    /// The lowest layer: a value of the settings type.
    pub fn defaults<T: Serialize>(mut self, defaults: T) -> Self {
        self.figment = self.figment.merge(Serialized::defaults(defaults));
        self
    }

    /// `{dir}/{service}.toml` then `{dir}/{service}-{profile}.toml`, each if present.
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        let base: PathBuf = dir.join(format!("{}.toml", self.service));
        let profiled: PathBuf = dir.join(format!("{}-{}.toml", self.service, self.profile));
        self.figment = self
            .figment
            .merge(Toml::file(base))
            .merge(Toml::file(profiled));
        self
    }

    /// A TOML document as a layer (a file read elsewhere, a test).
    pub fn toml_str(mut self, toml: &str) -> Self {
        self.figment = self.figment.merge(Toml::string(toml));
        self
    }

    /// The environment: `{PREFIX}_{KEY}` and `{PREFIX}_{KEY}_FILE`.
    pub fn env(self) -> Self {
        self.env_from(std::env::vars())
    }

    /// Like [`env`](Self::env), from the given variables (tests, or a process that
    /// reads them elsewhere).
    pub fn env_from<I>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut from_files = Vec::new();
        let mut plain = Vec::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix(&self.env_prefix) else {
                continue;
            };
            match key.strip_suffix("_FILE") {
                Some(key) => match std::fs::read_to_string(&value) {
                    Ok(content) => from_files.push((key.to_owned(), content.trim_end().to_owned())),
                    Err(e) => {
                        tracing::warn!(variable = %name, error = %e, "cannot read the file a _FILE variable names");
                    }
                },
                None => plain.push((key.to_owned(), value)),
            }
        }
        // A plain variable wins over a `_FILE` one of the same key.
        for (key, value) in from_files.into_iter().chain(plain) {
            let path = key.to_lowercase().replace("__", ".");
            let value = match value.parse::<figment::value::Value>() {
                Ok(v) => v,
                Err(never) => match never {},
            };
            self.figment = self.figment.merge(Serialized::default(&path, value));
        }
        self
    }

    /// The config server's merged document for this service and profile (JSON), as
    /// the top layer.
    pub fn remote_json(mut self, json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str::<serde_json::Value>(json).map_err(|e| ConfigError {
            service: self.service.clone(),
            message: format!("the config server's document is not JSON: {e}"),
        })?;
        self.figment = self.figment.merge(Json::string(json));
        Ok(self)
    }

    /// The settings, typed. The error names the key that is wrong, never a value.
    pub fn load<T: for<'de> Deserialize<'de>>(self) -> Result<T, ConfigError> {
        self.figment.extract().map_err(|e| ConfigError {
            service: self.service,
            message: describe(&e),
        })
    }
}

/// A figment error without values: the kind and the key path.
fn describe(e: &figment::Error) -> String {
    let path = if e.path.is_empty() {
        String::from("(top level)")
    } else {
        e.path.join(".")
    };
    let kind = match &e.kind {
        figment::error::Kind::MissingField(f) => format!("missing key `{f}`"),
        figment::error::Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found a {}", kind_of(actual))
        }
        figment::error::Kind::UnknownField(f, _) => format!("unknown key `{f}`"),
        other => other.to_string(),
    };
    format!("{kind} at `{path}`")
}

fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "integer",
        Actual::Float(_) => "float",
        Actual::Char(_) | Actual::Str(_) => "string",
        Actual::Seq => "list",
        Actual::Map => "table",
        _ => "value",
    }
}
