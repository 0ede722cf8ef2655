use std::borrow::Cow;
use std::net::SocketAddr;

use crate::error::BoxError;
use crate::handler::ServiceError;
use crate::transport::CloseError;

/// An [`App`](super::App) could not start, or did not stop cleanly.
///
/// Handling: log it and exit non-zero; each variant says which part failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The HTTP listener could not bind.
    #[error("cannot listen on {addr}; is the port in use? pick another")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed while serving.
    #[error("the HTTP server on {addr} failed")]
    Serve {
        /// Where it listened.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A service could not subscribe, or did not stop cleanly.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A task whose policy is [`TaskPolicy::EndApp`](super::TaskPolicy::EndApp) failed.
    #[error("task `{task}` failed, and its policy ends the app")]
    Task {
        /// The task's name.
        task: Cow<'static, str>,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// A transport did not close cleanly.
    #[error(transparent)]
    Close(#[from] CloseError),
    /// A second signal arrived during shutdown: the App stopped at once, without
    /// finishing the remaining steps (events in flight are redelivered).
    #[error("a second signal ended the shutdown at once; unfinished work is redelivered")]
    Interrupted,
}
