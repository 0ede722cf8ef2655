//! One function per endpoint; each parses its input, asks the [`Registry`], and answers
//! with Confluent's JSON.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::{ApiError, reply};
use crate::compat::Compatibility;
use crate::registry::{Registry, RegistryError, VersionSelector};

type Answer = Result<Response, ApiError>;
type Params = Query<HashMap<String, String>>;

fn ok(body: &impl serde::Serialize) -> Answer {
    Ok(reply(StatusCode::OK, body))
}

/// Reads a JSON body sent as Confluent's type, `application/json`,
/// `application/octet-stream` or with no type at all.
fn body<T: DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &Bytes,
    expected: &str,
) -> Result<T, ApiError> {
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        let text = value.to_str().unwrap_or_default();
        let mime = text
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let accepted = matches!(
            mime.as_str(),
            "application/vnd.schemaregistry.v1+json"
                | "application/vnd.schemaregistry+json"
                | "application/json"
                | "application/octet-stream"
        );
        if !accepted {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content type `{text}` is not supported; send application/vnd.schemaregistry.v1+json or application/json"
            )));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError::Unprocessable(format!("unexpected request body: {e}; send {expected}"))
        } else {
            ApiError::Malformed(format!(
                "the request body is not JSON: {e}; send {expected}"
            ))
        }
    })
}

const SCHEMA_BODY: &str = r#"{"schema": "<the schema's JSON, as a string>"}"#;

#[derive(Deserialize)]
struct SchemaRequest {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

impl SchemaRequest {
    fn read(headers: &HeaderMap, bytes: &Bytes) -> Result<String, ApiError> {
        let request: Self = body(headers, bytes, SCHEMA_BODY)?;
        if let Some(ty) = request.schema_type.as_deref()
            && !ty.eq_ignore_ascii_case("AVRO")
        {
            return Err(RegistryError::InvalidSchema(format!(
                "schema type `{ty}` is not supported; this registry holds AVRO schemas only"
            ))
            .into());
        }
        if !request.references.is_empty() {
            return Err(RegistryError::InvalidSchema(
                "schema references are not supported; inline the referenced types".into(),
            )
            .into());
        }
        Ok(request.schema)
    }
}

fn version(text: &str) -> Result<VersionSelector, ApiError> {
    Ok(text.parse::<VersionSelector>()?)
}

fn schema_id(text: &str) -> Result<u32, ApiError> {
    text.parse::<u32>().map_err(|_| {
        RegistryError::SchemaNotFound(format!("`{text}` is not a schema id (a positive number)"))
            .into()
    })
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub(super) async fn root() -> Answer {
    ok(&json!({}))
}

pub(super) async fn schema_types() -> Answer {
    ok(&["AVRO"])
}

pub(super) async fn subjects(State(registry): State<Registry>) -> Answer {
    ok(&registry.subjects())
}

pub(super) async fn register(
    State(registry): State<Registry>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let schema = SchemaRequest::read(&headers, &bytes)?;
    let registered = registry.register(&subject, &schema)?;
    ok(&json!({ "id": registered.id }))
}

pub(super) async fn lookup(
    State(registry): State<Registry>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let schema = SchemaRequest::read(&headers, &bytes)?;
    ok(&registry.lookup(&subject, &schema)?)
}

pub(super) async fn delete_subject(
    State(registry): State<Registry>,
    Path(subject): Path<String>,
) -> Answer {
    ok(&registry.delete_subject(&subject)?)
}

pub(super) async fn versions(
    State(registry): State<Registry>,
    Path(subject): Path<String>,
) -> Answer {
    ok(&registry.versions(&subject)?)
}

pub(super) async fn subject_version(
    State(registry): State<Registry>,
    Path((subject, v)): Path<(String, String)>,
) -> Answer {
    ok(&registry.version(&subject, version(&v)?)?)
}

pub(super) async fn subject_version_schema(
    State(registry): State<Registry>,
    Path((subject, v)): Path<(String, String)>,
) -> Answer {
    let found = registry.version(&subject, version(&v)?)?;
    // The schema itself, as JSON (not as a string holding JSON).
    let schema: serde_json::Value = serde_json::from_str(&found.schema)
        .map_err(|e| RegistryError::InvalidSchema(format!("stored schema is not JSON: {e}")))?;
    ok(&schema)
}

pub(super) async fn schema_by_id(
    State(registry): State<Registry>,
    Path(id): Path<String>,
) -> Answer {
    ok(&json!({ "schema": registry.schema(schema_id(&id)?)? }))
}

pub(super) async fn schema_versions(
    State(registry): State<Registry>,
    Path(id): Path<String>,
) -> Answer {
    let pairs = registry.subject_versions_of(schema_id(&id)?)?;
    let body: Vec<_> = pairs
        .into_iter()
        .map(|(subject, version)| json!({ "subject": subject, "version": version }))
        .collect();
    ok(&body)
}

pub(super) async fn schema_subjects(
    State(registry): State<Registry>,
    Path(id): Path<String>,
) -> Answer {
    let mut subjects: Vec<String> = registry
        .subject_versions_of(schema_id(&id)?)?
        .into_iter()
        .map(|(subject, _)| subject)
        .collect();
    subjects.dedup();
    ok(&subjects)
}

#[derive(Deserialize)]
struct ConfigRequest {
    compatibility: Option<String>,
}

const CONFIG_BODY: &str = r#"{"compatibility": "BACKWARD"}"#;

fn level_of(headers: &HeaderMap, bytes: &Bytes) -> Result<Compatibility, ApiError> {
    let request: ConfigRequest = body(headers, bytes, CONFIG_BODY)?;
    let name = request.compatibility.unwrap_or_default();
    name.parse::<Compatibility>()
        .map_err(|_| RegistryError::InvalidCompatibilityLevel(name).into())
}

pub(super) async fn get_config(State(registry): State<Registry>) -> Answer {
    ok(&json!({ "compatibilityLevel": registry.compatibility() }))
}

pub(super) async fn put_config(
    State(registry): State<Registry>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let level = level_of(&headers, &bytes)?;
    registry.set_compatibility(level);
    ok(&json!({ "compatibility": level }))
}

pub(super) async fn get_subject_config(
    State(registry): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> Answer {
    let level = match registry.subject_compatibility(&subject) {
        Some(level) => level,
        None if flag(&params, "defaultToGlobal") => registry.compatibility(),
        None => return Err(RegistryError::SubjectLevelNotConfigured(subject).into()),
    };
    ok(&json!({ "compatibilityLevel": level }))
}

pub(super) async fn put_subject_config(
    State(registry): State<Registry>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let level = level_of(&headers, &bytes)?;
    registry.set_subject_compatibility(&subject, level);
    ok(&json!({ "compatibility": level }))
}

pub(super) async fn delete_subject_config(
    State(registry): State<Registry>,
    Path(subject): Path<String>,
) -> Answer {
    match registry.clear_subject_compatibility(&subject) {
        Some(level) => ok(&json!({ "compatibilityLevel": level })),
        None => Err(RegistryError::SubjectLevelNotConfigured(subject).into()),
    }
}

fn verdict(
    registry: &Registry,
    subject: &str,
    selector: Option<VersionSelector>,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    bytes: &Bytes,
) -> Answer {
    let schema = SchemaRequest::read(headers, bytes)?;
    let broken = registry.test_compatibility(subject, selector, &schema)?;
    let mut body = json!({ "is_compatible": broken.is_none() });
    if flag(params, "verbose") {
        body["messages"] = json!(broken.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    ok(&body)
}

pub(super) async fn compatibility_with_version(
    State(registry): State<Registry>,
    Path((subject, v)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let selector = version(&v)?;
    verdict(
        &registry,
        &subject,
        Some(selector),
        &params,
        &headers,
        &bytes,
    )
}

pub(super) async fn compatibility_with_all(
    State(registry): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    verdict(&registry, &subject, None, &params, &headers, &bytes)
}

pub(super) async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(format!(
        "no endpoint at `{}`; see the Confluent Schema Registry API",
        uri.path()
    ))
}
