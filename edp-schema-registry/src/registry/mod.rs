//! The registry itself: subjects, their versions, global schema ids and compatibility
//! levels, in memory.
//!
//! ```
//! use edp_schema_registry::{Compatibility, Registry, registry::VersionSelector};
//!
//! let registry = Registry::new();
//! let v1 = r#"{"type":"record","name":"OrderPlaced","fields":[{"name":"id","type":"string"}]}"#;
//! let first = registry.register("orders-value", v1)?;
//! assert_eq!((first.id, first.version), (1, 1));
//!
//! // The same schema under another subject keeps its id.
//! assert_eq!(registry.register("archive-value", v1)?.id, 1);
//!
//! // A new version must be compatible with the subject's history at its level.
//! registry.set_subject_compatibility("orders-value", Compatibility::BackwardTransitive);
//! let v2 = r#"{"type":"record","name":"OrderPlaced","fields":[{"name":"id","type":"string"},
//!     {"name":"coupon","type":"string"}]}"#;
//! let refused = registry.register("orders-value", v2).unwrap_err();
//! assert_eq!(refused.error_code(), 409);
//! assert!(refused.to_string().contains("`OrderPlaced.coupon`"));
//!
//! assert_eq!(registry.version("orders-value", VersionSelector::Latest)?.version, 1);
//! # Ok::<(), edp_schema_registry::RegistryError>(())
//! ```
//!
//! Left out: soft deletes (a deleted subject is gone, its versions with it, while its
//! schema ids stay resolvable), schema references, and schema types other than AVRO.

mod error;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;

pub use self::error::RegistryError;
use crate::compat::{self, Compatibility, Incompatibility};
use crate::schema::AvroSchema;

/// An in-memory schema registry; cheap to clone (clones share the same state) and safe
/// to use from many threads.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    state: Arc<RwLock<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Schema texts by id - 1, as first registered.
    schemas: Vec<Arc<str>>,
    /// [`AvroSchema::identity`] -> id.
    ids: HashMap<String, u32>,
    subjects: BTreeMap<String, Vec<Version>>,
    global: Compatibility,
    levels: HashMap<String, Compatibility>,
}

#[derive(Debug, Clone)]
struct Version {
    version: u32,
    id: u32,
    /// The text registered under this subject, which may differ from the id's text in
    /// docs or whitespace.
    text: Arc<str>,
    schema: Arc<AvroSchema>,
}

/// A version of a subject, as Confluent's API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectVersion {
    /// The subject.
    pub subject: String,
    /// The global schema id.
    pub id: u32,
    /// The version within the subject, from 1.
    pub version: u32,
    /// The schema text.
    pub schema: String,
}

/// A version of a subject: a number or the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    /// The highest version.
    Latest,
    /// This version.
    Number(u32),
}

impl FromStr for VersionSelector {
    type Err = RegistryError;

    /// `latest`, `-1` (Confluent's other spelling of latest) or 1 to 2^31-1.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "latest" | "-1" => Ok(Self::Latest),
            _ => match s.parse::<u32>() {
                Ok(n) if (1..=i32::MAX.unsigned_abs()).contains(&n) => Ok(Self::Number(n)),
                _ => Err(RegistryError::InvalidVersion(s.to_owned())),
            },
        }
    }
}

impl Registry {
    /// An empty registry, at the global level BACKWARD (as Confluent's default).
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // No code panics while holding the lock, and the state is consistent between
        // statements, so a poisoned lock's data is still good.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `schema` under `subject`: returns the existing version if the subject
    /// has this schema already; otherwise checks it against the subject's history at
    /// the subject's level and adds a version. The id is the one the schema has under
    /// any subject, or a new one.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidSchema`] (42201) for a schema that does not parse,
    /// [`RegistryError::Incompatible`] (409) naming the field that breaks.
    pub fn register(&self, subject: &str, schema: &str) -> Result<SubjectVersion, RegistryError> {
        let parsed = Arc::new(AvroSchema::parse(schema)?);
        let mut state = self.write();
        let level = state.level(subject);
        let history = state.subjects.get(subject).map_or(&[][..], Vec::as_slice);
        if let Some(existing) = history
            .iter()
            .find(|v| v.schema.identity() == parsed.identity())
        {
            return Ok(existing.to_subject_version(subject));
        }
        compat::check_versions(
            level,
            &parsed,
            history.iter().map(|v| (v.version, v.schema.as_ref())),
        )
        .map_err(|incompatibility| RegistryError::Incompatible {
            subject: subject.to_owned(),
            level,
            incompatibility: Box::new(incompatibility),
        })?;
        let version = history.last().map_or(1, |v| v.version + 1);
        let text: Arc<str> = Arc::from(schema);
        let id = match state.ids.get(parsed.identity()) {
            Some(&id) => id,
            None => {
                state.schemas.push(text.clone());
                let id = u32::try_from(state.schemas.len()).unwrap_or(u32::MAX);
                state.ids.insert(parsed.identity().to_owned(), id);
                id
            }
        };
        let added = Version {
            version,
            id,
            text,
            schema: parsed,
        };
        let answer = added.to_subject_version(subject);
        state
            .subjects
            .entry(subject.to_owned())
            .or_default()
            .push(added);
        tracing::info!(subject, id, version, "schema registered");
        Ok(answer)
    }

    /// The version of `subject` that has `schema`.
    ///
    /// # Errors
    ///
    /// 40401 for an unknown subject, 40403 if the subject does not have the schema,
    /// 42201 for a schema that does not parse.
    pub fn lookup(&self, subject: &str, schema: &str) -> Result<SubjectVersion, RegistryError> {
        let parsed = AvroSchema::parse(schema)?;
        let state = self.read();
        state
            .history(subject)?
            .iter()
            .find(|v| v.schema.identity() == parsed.identity())
            .map(|v| v.to_subject_version(subject))
            .ok_or_else(|| {
                RegistryError::SchemaNotFound(format!(
                    "subject '{subject}' has no version with this schema; register it first"
                ))
            })
    }

    /// The subjects, sorted.
    pub fn subjects(&self) -> Vec<String> {
        self.read().subjects.keys().cloned().collect()
    }

    /// The versions of `subject`, oldest first.
    ///
    /// # Errors
    ///
    /// 40401 for an unknown subject.
    pub fn versions(&self, subject: &str) -> Result<Vec<u32>, RegistryError> {
        Ok(self
            .read()
            .history(subject)?
            .iter()
            .map(|v| v.version)
            .collect())
    }

    /// One version of `subject`.
    ///
    /// # Errors
    ///
    /// 40401 for an unknown subject, 40402 for an unknown version.
    pub fn version(
        &self,
        subject: &str,
        selector: VersionSelector,
    ) -> Result<SubjectVersion, RegistryError> {
        let state = self.read();
        state
            .find_version(subject, selector)
            .map(|v| v.to_subject_version(subject))
    }

    /// The schema text with this id.
    ///
    /// # Errors
    ///
    /// 40403 for an unknown id.
    pub fn schema(&self, id: u32) -> Result<String, RegistryError> {
        let state = self.read();
        id.checked_sub(1)
            .and_then(|i| state.schemas.get(usize::try_from(i).ok()?))
            .map(|text| text.to_string())
            .ok_or_else(|| RegistryError::SchemaNotFound(format!("no schema has id {id}")))
    }

    /// Where the schema with this id is registered: `(subject, version)` pairs.
    ///
    /// # Errors
    ///
    /// 40403 for an unknown id.
    pub fn subject_versions_of(&self, id: u32) -> Result<Vec<(String, u32)>, RegistryError> {
        self.schema(id)?;
        let state = self.read();
        Ok(state
            .subjects
            .iter()
            .flat_map(|(subject, versions)| {
                versions
                    .iter()
                    .filter(|v| v.id == id)
                    .map(|v| (subject.clone(), v.version))
            })
            .collect())
    }

    /// The global compatibility level.
    pub fn compatibility(&self) -> Compatibility {
        self.read().global
    }

    /// Sets the global compatibility level.
    pub fn set_compatibility(&self, level: Compatibility) {
        self.write().global = level;
        tracing::info!(%level, "global compatibility set");
    }

    /// The subject's own compatibility level, if it has one.
    pub fn subject_compatibility(&self, subject: &str) -> Option<Compatibility> {
        self.read().levels.get(subject).copied()
    }

    /// The level a new version of `subject` is checked at: its own, or the global one.
    pub fn effective_compatibility(&self, subject: &str) -> Compatibility {
        self.read().level(subject)
    }

    /// Sets the subject's own compatibility level (the subject need not exist yet).
    pub fn set_subject_compatibility(&self, subject: &str, level: Compatibility) {
        self.write().levels.insert(subject.to_owned(), level);
        tracing::info!(subject, %level, "subject compatibility set");
    }

    /// Removes the subject's own level, so the global one applies; returns the removed.
    pub fn clear_subject_compatibility(&self, subject: &str) -> Option<Compatibility> {
        self.write().levels.remove(subject)
    }

    /// Whether `schema` could be registered after `version` of `subject` at the
    /// subject's level: `None` if so, else what breaks.
    ///
    /// A numbered version is compared with that version only (in the level's direction,
    /// transitive or not); [`VersionSelector::Latest`] applies the level to the whole
    /// history, as registering would. A subject with no versions accepts anything when
    /// `version` is `None` (Confluent's `/compatibility/subjects/{s}/versions`).
    ///
    /// # Errors
    ///
    /// 40401 for an unknown subject, 40402 for an unknown version, 42201 for a schema
    /// that does not parse.
    pub fn test_compatibility(
        &self,
        subject: &str,
        version: Option<VersionSelector>,
        schema: &str,
    ) -> Result<Option<Incompatibility>, RegistryError> {
        let parsed = AvroSchema::parse(schema)?;
        let state = self.read();
        let level = state.level(subject);
        let verdict = match version {
            Some(VersionSelector::Number(n)) => {
                let old = state.find_version(subject, VersionSelector::Number(n))?;
                compat::check_versions(level, &parsed, [(old.version, old.schema.as_ref())])
            }
            Some(VersionSelector::Latest) | None => {
                let history = match (version, state.subjects.get(subject)) {
                    (_, Some(history)) => history.as_slice(),
                    (None, None) => &[],
                    (Some(_), None) => {
                        return Err(RegistryError::SubjectNotFound(subject.to_owned()));
                    }
                };
                compat::check_versions(
                    level,
                    &parsed,
                    history.iter().map(|v| (v.version, v.schema.as_ref())),
                )
            }
        };
        Ok(verdict.err())
    }

    /// Deletes `subject` with all its versions (and its own level); returns the deleted
    /// version numbers. Schema ids stay resolvable.
    ///
    /// # Errors
    ///
    /// 40401 for an unknown subject.
    pub fn delete_subject(&self, subject: &str) -> Result<Vec<u32>, RegistryError> {
        let mut state = self.write();
        let versions = state
            .subjects
            .remove(subject)
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_owned()))?;
        state.levels.remove(subject);
        tracing::info!(subject, "subject deleted");
        Ok(versions.iter().map(|v| v.version).collect())
    }
}

impl State {
    fn level(&self, subject: &str) -> Compatibility {
        self.levels.get(subject).copied().unwrap_or(self.global)
    }

    fn history(&self, subject: &str) -> Result<&[Version], RegistryError> {
        self.subjects
            .get(subject)
            .map(Vec::as_slice)
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_owned()))
    }

    fn find_version(
        &self,
        subject: &str,
        selector: VersionSelector,
    ) -> Result<&Version, RegistryError> {
        let history = self.history(subject)?;
        let found = match selector {
            VersionSelector::Latest => history.last(),
            VersionSelector::Number(n) => history.iter().find(|v| v.version == n),
        };
        found.ok_or_else(|| RegistryError::VersionNotFound {
            subject: subject.to_owned(),
            version: match selector {
                VersionSelector::Number(n) => n,
                VersionSelector::Latest => 0,
            },
        })
    }
}

impl Version {
    fn to_subject_version(&self, subject: &str) -> SubjectVersion {
        SubjectVersion {
            subject: subject.to_owned(),
            id: self.id,
            version: self.version,
            schema: self.text.to_string(),
        }
    }
}
