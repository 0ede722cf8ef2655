//! Schema evolution as a build-time check over a directory of committed schemas.
//!
//! The layout is `schemas/<namespace>/<event name>.v<N>.avsc`, every version of every
//! event kept (`schemas/ecommerce/order.placed.v1.avsc`, then `...v2.avsc`). Versions
//! of an event run from 1 without gaps.
//!
//! - [`check_dir`]: every version of every event is compatible with the versions
//!   before it, at the level.
//! - [`check_candidate`]: a new schema (say, derived from the Rust type) is
//!   compatible with the committed versions of its event.
//!
//! The level is, first to last: the one passed in; a `compatibility` file holding a
//! level name in the event's directory or the nearest one above it (up to the root
//! given); BACKWARD_TRANSITIVE, since events stay in topics and event stores for as long
//! as they are kept, and any past version may need reading.
//!
//! ```no_run
//! use edp_schema_registry::evolution;
//!
//! // In a test of the crate that owns the events:
//! let report = evolution::check_dir("../schemas", None)?;
//! println!("{report}");
//! # Ok::<(), edp_schema_registry::evolution::EvolutionError>(())
//! ```

mod error;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

pub use self::error::{Broken, EvolutionError};
use crate::compat::{self, Compatibility};
use crate::schema::AvroSchema;

/// The level when neither the caller nor a `compatibility` file names one.
pub const DEFAULT_LEVEL: Compatibility = Compatibility::BackwardTransitive;

/// The name of the file that sets the level for a directory and those below it.
pub const LEVEL_FILE: &str = "compatibility";

/// What a check went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The events checked, by key (`ecommerce/order.placed`).
    pub events: Vec<EventReport>,
}

/// One event's versions and the level they were checked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventReport {
    /// The event's directory below the root and its name: `ecommerce/order.placed`.
    pub event: String,
    /// The committed versions, oldest first.
    pub versions: Vec<u32>,
    /// The level applied.
    pub level: Compatibility,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, event) in self.events.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let versions: Vec<String> = event.versions.iter().map(|v| format!("v{v}")).collect();
            write!(
                f,
                "{}: {} compatible ({})",
                event.event,
                if versions.is_empty() {
                    "no committed versions, nothing to break".to_owned()
                } else {
                    versions.join(", ")
                },
                event.level
            )?;
        }
        Ok(())
    }
}

/// One committed version.
#[derive(Debug)]
struct Committed {
    version: u32,
    path: PathBuf,
    schema: AvroSchema,
}

/// Every event under `dir`: key -> (its directory, versions sorted).
type Events = BTreeMap<String, (PathBuf, Vec<Committed>)>;

/// Checks that every version of every event under `dir` is compatible with the versions
/// before it, at `level` or the level configured for its directory.
///
/// # Errors
///
/// [`EvolutionError::Incompatible`] listing every version that breaks, with file and
/// field; the other variants for files that cannot be read or understood.
pub fn check_dir(
    dir: impl AsRef<Path>,
    level: Option<Compatibility>,
) -> Result<Report, EvolutionError> {
    let root = dir.as_ref();
    let events = read_events(root)?;
    let mut report = Report { events: Vec::new() };
    let mut broken = Vec::new();
    for (event, (event_dir, versions)) in &events {
        let level = resolve_level(root, event_dir, level)?;
        for (i, newer) in versions.iter().enumerate() {
            let history = &versions[..i];
            if let Err(incompatibility) = compat::check_versions(
                level,
                &newer.schema,
                history.iter().map(|c| (c.version, &c.schema)),
            ) {
                let against = history
                    .iter()
                    .find(|c| Some(c.version) == incompatibility.version())
                    .map(|c| c.path.clone());
                broken.push(Broken {
                    candidate: newer.path.display().to_string(),
                    against,
                    incompatibility,
                });
            }
        }
        report.events.push(EventReport {
            event: event.clone(),
            versions: versions.iter().map(|c| c.version).collect(),
            level,
        });
    }
    if broken.is_empty() {
        tracing::debug!(events = report.events.len(), "schema evolution checked");
        Ok(report)
    } else {
        Err(EvolutionError::Incompatible(broken))
    }
}

/// Checks `candidate` (a schema's JSON text) against the committed versions of `event`
/// under `dir`, as the next version would be checked.
///
/// `event` is the event name (`order.placed`) or its key with the directory
/// (`ecommerce/order.placed`). An event with no committed version passes: there is
/// nothing to break yet (commit its first version).
///
/// # Errors
///
/// [`EvolutionError::Incompatible`] naming the committed file and the field that
/// break; [`EvolutionError::InvalidSchema`] if the candidate does not parse;
/// [`EvolutionError::AmbiguousEvent`] if two directories have an event of that name.
pub fn check_candidate(
    dir: impl AsRef<Path>,
    event: &str,
    candidate: &str,
    level: Option<Compatibility>,
) -> Result<EventReport, EvolutionError> {
    let root = dir.as_ref();
    let candidate_name = format!("the candidate schema of `{event}`");
    let schema = AvroSchema::parse(candidate).map_err(|source| EvolutionError::InvalidSchema {
        path: PathBuf::from(&candidate_name),
        source,
    })?;
    let mut events = read_events(root)?;
    let suffix = format!("/{event}");
    let keys: Vec<String> = events
        .keys()
        .filter(|key| *key == event || key.ends_with(&suffix))
        .cloned()
        .collect();
    let (key, event_dir, versions) = match keys.as_slice() {
        [] => (event.to_owned(), root.to_path_buf(), Vec::new()),
        [key] => {
            let (event_dir, versions) = events.remove(key).unwrap_or_default();
            (key.clone(), event_dir, versions)
        }
        _ => {
            return Err(EvolutionError::AmbiguousEvent {
                event: event.to_owned(),
                keys,
            });
        }
    };
    let level = resolve_level(root, &event_dir, level)?;
    compat::check_versions(
        level,
        &schema,
        versions.iter().map(|c| (c.version, &c.schema)),
    )
    .map_err(|incompatibility| {
        let against = versions
            .iter()
            .find(|c| Some(c.version) == incompatibility.version())
            .map(|c| c.path.clone());
        EvolutionError::Incompatible(vec![Broken {
            candidate: candidate_name.clone(),
            against,
            incompatibility,
        }])
    })?;
    Ok(EventReport {
        event: key,
        versions: versions.iter().map(|c| c.version).collect(),
        level,
    })
}

/// The level for an event in `event_dir`: the given one, or the nearest `compatibility`
/// file from `event_dir` up to `root`, or [`DEFAULT_LEVEL`].
fn resolve_level(
    root: &Path,
    event_dir: &Path,
    given: Option<Compatibility>,
) -> Result<Compatibility, EvolutionError> {
    if let Some(level) = given {
        return Ok(level);
    }
    let mut dir = Some(event_dir);
    while let Some(current) = dir {
        let file = current.join(LEVEL_FILE);
        if file.is_file() {
            let text = fs::read_to_string(&file).map_err(|source| EvolutionError::Read {
                path: file.clone(),
                source,
            })?;
            let name = text
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty() && !line.starts_with('#'))
                .unwrap_or_default();
            return name
                .parse()
                .map_err(|source| EvolutionError::Level { path: file, source });
        }
        if current == root {
            break;
        }
        dir = current.parent();
    }
    Ok(DEFAULT_LEVEL)
}

/// Reads every `.avsc` under `root`, grouped by event, versions sorted and checked for
/// gaps.
fn read_events(root: &Path) -> Result<Events, EvolutionError> {
    let mut events = Events::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| EvolutionError::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| EvolutionError::Read {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let Some(stem) = name.strip_suffix(".avsc") else {
                continue;
            };
            let (event, version) = split_version(stem)
                .ok_or_else(|| EvolutionError::FileName { path: path.clone() })?;
            let text = fs::read_to_string(&path).map_err(|source| EvolutionError::Read {
                path: path.clone(),
                source,
            })?;
            let schema =
                AvroSchema::parse(&text).map_err(|source| EvolutionError::InvalidSchema {
                    path: path.clone(),
                    source,
                })?;
            let relative = dir.strip_prefix(root).unwrap_or(&dir);
            let key = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .chain(std::iter::once(event.to_owned()))
                .collect::<Vec<_>>()
                .join("/");
            events
                .entry(key)
                .or_insert_with(|| (dir.clone(), Vec::new()))
                .1
                .push(Committed {
                    version,
                    path,
                    schema,
                });
        }
    }
    for (event, (dir, versions)) in &mut events {
        versions.sort_by_key(|c| c.version);
        for (expected, committed) in (1u32..).zip(versions.iter()) {
            if committed.version != expected {
                return Err(EvolutionError::MissingVersion {
                    event: event.clone(),
                    version: expected,
                    dir: dir.clone(),
                });
            }
        }
    }
    Ok(events)
}

/// `order.placed.v2` -> (`order.placed`, 2). No leading zeros, version from 1.
fn split_version(stem: &str) -> Option<(&str, u32)> {
    let (event, version) = stem.rsplit_once(".v")?;
    if event.is_empty() || version.starts_with('0') || !version.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((event, version.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::split_version;

    #[test]
    fn file_names_split_into_event_and_version() {
        assert_eq!(split_version("order.placed.v1"), Some(("order.placed", 1)));
        assert_eq!(
            split_version("order.placed.v12"),
            Some(("order.placed", 12))
        );
        assert_eq!(split_version("order.placed.v0"), None);
        assert_eq!(split_version("order.placed.v01"), None);
        assert_eq!(split_version("order.placed"), None);
        assert_eq!(split_version("order.placed.vx"), None);
        assert_eq!(split_version(".v1"), None);
        assert_eq!(split_version("order.placed.v"), None);
    }
}
