//! Upstreams: the instances behind a route, balanced round robin, each instance
//! behind a circuit breaker of its own.

use std::sync::atomic::{AtomicUsize, Ordering};

use http::Uri;

/// A service behind the gateway: its name and the base URLs of its instances.
#[derive(Debug)]
pub struct Upstream {
    pub(crate) name: String,
    pub(crate) instances: Vec<Uri>,
    pub(crate) registry: Option<crate::registry::RegistryClient>,
    next: AtomicUsize,
}

/// An upstream URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("upstream `{name}`: `{url}` is not an http:// URL with a host: {reason}")]
pub struct BadUpstream {
    name: String,
    url: String,
    reason: String,
}

impl Upstream {
    /// An upstream named `name` (metrics and the circuit breaker carry it) with the
    /// instances at `urls` (`http://host:port`, with an optional path prefix).
    pub fn new<I, S>(name: impl Into<String>, urls: I) -> Result<Self, BadUpstream>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let name = name.into();
        let mut instances = Vec::new();
        for url in urls {
            let url = url.as_ref();
            let bad = |reason: &str| BadUpstream {
                name: name.clone(),
                url: url.to_owned(),
                reason: reason.to_owned(),
            };
            let uri: Uri = url
                .parse()
                .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
            if uri.scheme_str() != Some("http") || uri.host().is_none() {
                return Err(bad("use http://host:port"));
            }
            instances.push(uri);
        }
        if instances.is_empty() {
            return Err(BadUpstream {
                name,
                url: String::new(),
                reason: "no instance given".into(),
            });
        }
        Ok(Self {
            name,
            instances,
            registry: None,
            next: AtomicUsize::new(0),
        })
    }

    /// An upstream whose instances are the live ones the registry knows under
    /// `name` (see [`registry`](crate::registry)), fetched on first use and every
    /// second after.
    pub fn discovered(name: impl Into<String>, registry: crate::registry::RegistryClient) -> Self {
        Self {
            name: name.into(),
            instances: Vec::new(),
            registry: Some(registry),
            next: AtomicUsize::new(0),
        }
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where round robin starts this time.
    pub(crate) fn next_start(&self, instances: usize) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % instances.max(1)
    }
}
