//! Why an evolution check failed.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::compat::{Incompatibility, UnknownCompatibility};
use crate::schema::SchemaError;

/// An evolution check failed: a schema breaks compatibility, or the directory could not
/// be read or understood.
///
/// Handling: not retryable; fix what the message names. For `Incompatible`, change the
/// new schema (a default, an alias, a kept union branch or enum symbol) rather than a
/// committed one: committed versions describe data already written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvolutionError {
    /// One or more versions break compatibility with the versions before them.
    #[error("{}", list(.0))]
    Incompatible(Vec<Broken>),
    /// A file or directory could not be read.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A `.avsc` file is not named `<event name>.v<N>.avsc`.
    #[error(
        "{} is not named `<event name>.v<N>.avsc` (N from 1, no leading zeros); rename it",
        .path.display()
    )]
    FileName {
        /// The file.
        path: PathBuf,
    },
    /// A schema does not parse.
    #[error("{}: {source}", .path.display())]
    InvalidSchema {
        /// The file (or the candidate's description).
        path: PathBuf,
        /// Why.
        source: SchemaError,
    },
    /// An event's versions have a gap.
    #[error(
        "`{event}` has no version {version} in {}; versions run from 1 without gaps, and published versions are never deleted",
        .dir.display()
    )]
    MissingVersion {
        /// The event.
        event: String,
        /// The first missing version.
        version: u32,
        /// Its directory.
        dir: PathBuf,
    },
    /// A `compatibility` file does not hold a level name.
    #[error("{}: {source}", .path.display())]
    Level {
        /// The file.
        path: PathBuf,
        /// Why.
        source: UnknownCompatibility,
    },
    /// An event name matches events in several directories.
    #[error("`{event}` matches {keys:?}; name the event with its directory")]
    AmbiguousEvent {
        /// The name given.
        event: String,
        /// The events it matches.
        keys: Vec<String>,
    },
}

/// One schema that breaks compatibility.
#[derive(Debug, Clone)]
pub struct Broken {
    /// The breaking schema: its file, or a description of the candidate.
    pub candidate: String,
    /// The committed file it cannot be reconciled with.
    pub against: Option<PathBuf>,
    /// Where and why.
    pub incompatibility: Incompatibility,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.candidate)?;
        if let Some(against) = &self.against {
            write!(f, " against {}", against.display())?;
        }
        write!(f, ": {}", self.incompatibility)
    }
}

fn list(broken: &[Broken]) -> String {
    let lines: Vec<String> = broken.iter().map(|b| format!("  {b}")).collect();
    format!(
        "{} schema version(s) break compatibility:\n{}",
        broken.len(),
        lines.join("\n")
    )
}
