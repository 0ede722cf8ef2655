//! A client of the Confluent Schema Registry REST API, with caches: the id of a schema
//! under a subject, and the schema of an id, are each fetched once.
//!
//! ```no_run
//! use edp_avro::SchemaRegistryClient;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), edp_avro::RegistryClientError> {
//! let registry = SchemaRegistryClient::new("http://127.0.0.1:8081")?;
//! let schema = r#"{"type":"record","name":"Ping","fields":[{"name":"n","type":"int"}]}"#;
//! let id = registry.register("pings-value", schema).await?;
//! assert_eq!(&*registry.schema(id).await?, schema); // from the cache
//! # Ok(()) }
//! ```

mod error;
mod http;

pub use error::RegistryClientError;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::http::{Method, StatusCode};
use serde::Deserialize;

use self::http::{Endpoint, segment};

/// A schema-registry client with caches. Cheap to clone; clones share the caches.
#[derive(Debug, Clone)]
pub struct SchemaRegistryClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    /// (subject, schema text) -> id.
    ids: Mutex<HashMap<(String, String), u32>>,
    /// id -> schema text.
    schemas: Mutex<HashMap<u32, Arc<str>>>,
}

#[derive(Deserialize)]
struct IdAnswer {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error_code: i64,
    message: String,
}

impl SchemaRegistryClient {
    /// The default time one request may take.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A client of the registry at `url` (`http://host:port`, optionally with a path
    /// prefix).
    ///
    /// # Errors
    ///
    /// [`RegistryClientError::InvalidUrl`] for another scheme than `http://`, or credentials
    /// in the URL.
    pub fn new(url: &str) -> Result<Self, RegistryClientError> {
        Self::with_timeout(url, Self::DEFAULT_TIMEOUT)
    }

    /// A client whose requests each give up after `timeout`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self, RegistryClientError> {
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint: Endpoint::parse(url, timeout)?,
                ids: Mutex::default(),
                schemas: Mutex::default(),
            }),
        })
    }

    /// The registry's URL.
    pub fn url(&self) -> &str {
        &self.inner.endpoint.url
    }

    /// Registers `schema` under `subject` (or finds it there) and returns its id.
    /// Cached: the registry is asked once per subject and schema.
    ///
    /// # Errors
    ///
    /// [`RegistryClientError::Refused`] with status 409 when the schema is not compatible
    /// with the subject's history at its level, 422 when it is not a valid schema;
    /// [`RegistryClientError::Unreachable`] when the registry cannot be reached.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryClientError> {
        self.id_of(subject, schema, true).await
    }

    /// The id of `schema` under `subject`, without registering it (for producers that
    /// must not register, Confluent's `auto.register.schemas=false`). Cached.
    ///
    /// # Errors
    ///
    /// [`RegistryClientError::Refused`] with status 404 when the subject or the schema under
    /// it is not registered; [`RegistryClientError::Unreachable`].
    pub async fn lookup(&self, subject: &str, schema: &str) -> Result<u32, RegistryClientError> {
        self.id_of(subject, schema, false).await
    }

    async fn id_of(
        &self,
        subject: &str,
        schema: &str,
        register: bool,
    ) -> Result<u32, RegistryClientError> {
        let key = (subject.to_owned(), schema.to_owned());
        if let Some(id) = lock(&self.inner.ids).get(&key) {
            return Ok(*id);
        }
        let body = serde_json::to_vec(&serde_json::json!({ "schema": schema })).map_err(|e| {
            RegistryClientError::InvalidResponse {
                url: self.url().to_owned(),
                reason: format!("cannot write the request: {e}"),
            }
        })?;
        let (path, what) = if register {
            (
                format!("/subjects/{}/versions", segment(subject)),
                format!("to register a schema under subject `{subject}`"),
            )
        } else {
            (
                format!("/subjects/{}", segment(subject)),
                format!("to look up a schema under subject `{subject}`"),
            )
        };
        let (status, bytes) = self
            .inner
            .endpoint
            .send(Method::POST, &path, Some(body))
            .await?;
        if !status.is_success() {
            return Err(self.refused(what, status, &bytes));
        }
        let answer: IdAnswer = self.parse(&bytes)?;
        tracing::debug!(
            subject,
            id = answer.id,
            register,
            "schema id from the registry"
        );
        lock(&self.inner.ids).insert(key, answer.id);
        lock(&self.inner.schemas).insert(answer.id, Arc::from(schema));
        Ok(answer.id)
    }

    /// The schema text of `id`. Cached.
    ///
    /// # Errors
    ///
    /// [`RegistryClientError::UnknownId`] when the registry has no such schema;
    /// [`RegistryClientError::Unreachable`].
    pub async fn schema(&self, id: u32) -> Result<Arc<str>, RegistryClientError> {
        if let Some(schema) = lock(&self.inner.schemas).get(&id) {
            return Ok(schema.clone());
        }
        let (status, bytes) = self
            .inner
            .endpoint
            .send(Method::GET, &format!("/schemas/ids/{id}"), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryClientError::UnknownId {
                id,
                url: self.url().to_owned(),
            });
        }
        if !status.is_success() {
            return Err(self.refused(format!("to give schema id {id}"), status, &bytes));
        }
        let answer: SchemaAnswer = self.parse(&bytes)?;
        let schema: Arc<str> = Arc::from(answer.schema);
        tracing::debug!(id, "schema fetched from the registry");
        lock(&self.inner.schemas).insert(id, schema.clone());
        Ok(schema)
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
    ) -> Result<T, RegistryClientError> {
        serde_json::from_slice(bytes).map_err(|e| RegistryClientError::InvalidResponse {
            url: self.url().to_owned(),
            reason: e.to_string(),
        })
    }

    fn refused(&self, what: String, status: StatusCode, bytes: &[u8]) -> RegistryClientError {
        let (error_code, message) = match serde_json::from_slice::<ErrorAnswer>(bytes) {
            Ok(e) => (e.error_code, e.message),
            Err(_) => (
                i64::from(status.as_u16()),
                String::from_utf8_lossy(bytes).into_owned(),
            ),
        };
        RegistryClientError::Refused {
            what,
            status: status.as_u16(),
            error_code,
            message,
        }
    }
}

/// The caches hold plain data, so a panic elsewhere cannot leave them inconsistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
