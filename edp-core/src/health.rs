//! Liveness and readiness: named checks of what a service depends on (its database,
//! its broker), run together with a timeout each, reported as one JSON-ready value.
//!
//! edp-core has no HTTP server; serve [`Health::ready`] and [`Health::live`] from
//! your own (the reference system answers `GET /health/ready` with 200 or 503 and the
//! report as the body).
//!
//! ```
//! use edp_core::error::BoxError;
//! use edp_core::health::{Health, Condition};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let health = Health::new()
//!     .check("database", || async { Ok::<_, BoxError>(()) })
//!     .check("broker", || async { Err::<(), BoxError>("no broker at localhost:9092".into()) });
//! let report = health.ready().await;
//! assert_eq!(report.status, Condition::Down);
//! assert_eq!(report.checks[1].error.as_deref(), Some("no broker at localhost:9092"));
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, join_all};
use serde::{Deserialize, Serialize};

use crate::error::BoxError;

/// Up or down: the condition of one check, or of them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Condition {
    /// Working.
    Up,
    /// Not working.
    Down,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// The check's name, for example `database`.
    pub name: String,
    /// What it found.
    pub status: Condition,
    /// Why it is down (with its causes), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// The health of a service: up when every check is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// Up when every check is up.
    pub status: Condition,
    /// Each check, in the order they were added.
    pub checks: Vec<CheckReport>,
}

/// One readiness check: an async function that returns `Ok` while what it checks
/// works. Cheap to clone.
#[derive(Clone)]
pub struct Check(Arc<dyn Fn() -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>);

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Check")
    }
}

impl Check {
    /// A check that runs `check`.
    pub fn new<F, Fut, E>(check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self(Arc::new(move || {
            let fut = check();
            Box::pin(async move { fut.await.map_err(Into::into) })
        }))
    }

    /// Runs the check once.
    pub fn run(&self) -> BoxFuture<'static, Result<(), BoxError>> {
        (self.0)()
    }
}

/// A set of named checks. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    checks: Vec<(Arc<str>, Check)>,
    timeout: Duration,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field(
                "checks",
                &self.checks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// No checks; each check added gets 2 s before it counts as down.
    pub fn new() -> Self {
        Self {
            checks: Vec::new(),
            timeout: Duration::from_secs(2),
        }
    }

    /// How long each check may take before it counts as down.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds a check: an async function that returns `Ok` while `name` works.
    pub fn check<F, Fut, E>(mut self, name: impl Into<Arc<str>>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.checks.push((name.into(), Check::new(check)));
        self
    }

    /// Adds a [`Check`] made earlier.
    pub fn with(mut self, name: impl Into<Arc<str>>, check: Check) -> Self {
        self.checks.push((name.into(), check));
        self
    }

    /// Adds every check of `other` after these.
    pub fn merge(mut self, other: Health) -> Self {
        self.checks.extend(other.checks);
        self
    }

    /// The timeout of each check.
    pub fn timeout_value(&self) -> Duration {
        self.timeout
    }

    /// The names of the checks, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.checks.iter().map(|(n, _)| &**n)
    }

    /// Liveness: the process runs and answers. No dependency is checked, so that a
    /// database outage makes the service unready, not restarted.
    pub fn live(&self) -> Report {
        Report {
            status: Condition::Up,
            checks: Vec::new(),
        }
    }

    /// Readiness: runs every check at once, each bounded by the timeout.
    pub async fn ready(&self) -> Report {
        let timeout = self.timeout;
        let checks = join_all(self.checks.iter().map(|(name, check)| async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(timeout, check.run()).await;
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(crate::error::chain_to_string(&*e)),
                Err(_) => Some(format!("no answer within {} ms", timeout.as_millis())),
            };
            CheckReport {
                name: name.to_string(),
                status: if error.is_none() {
                    Condition::Up
                } else {
                    Condition::Down
                },
                error,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }
        }))
        .await;
        let status = if checks.iter().all(|c| c.status == Condition::Up) {
            Condition::Up
        } else {
            Condition::Down
        };
        Report { status, checks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_check_that_hangs_is_down_after_the_timeout_and_the_others_still_report() {
        let health = Health::new()
            .timeout(Duration::from_millis(100))
            .check("fast", || async { Ok::<_, BoxError>(()) })
            .check("hangs", || async {
                std::future::pending::<()>().await;
                Ok::<_, BoxError>(())
            });
        let report = health.ready().await;
        assert_eq!(report.status, Condition::Down);
        assert_eq!(report.checks[0].status, Condition::Up);
        assert_eq!(report.checks[1].status, Condition::Down);
        assert_eq!(
            report.checks[1].error.as_deref(),
            Some("no answer within 100 ms")
        );
        assert_eq!(health.live().status, Condition::Up);
        assert_eq!(
            Health::new().ready().await.status,
            Condition::Up,
            "no checks: up"
        );
    }

    #[test]
    fn the_report_reads_as_json() -> Result<(), serde_json::Error> {
        let report = Report {
            status: Condition::Down,
            checks: vec![CheckReport {
                name: "database".into(),
                status: Condition::Down,
                error: Some("connection refused".into()),
                duration_ms: 3,
            }],
        };
        assert_eq!(
            serde_json::to_value(&report)?,
            serde_json::json!({"status": "DOWN", "checks": [
                {"name": "database", "status": "DOWN", "error": "connection refused", "duration_ms": 3}
            ]})
        );
        Ok(())
    }
}
