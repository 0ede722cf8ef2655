//! Routes: which upstream answers a path, and how the path is rewritten.

use std::sync::Arc;
use std::time::Duration;

use crate::upstream::Upstream;

/// A route: requests whose path starts with `prefix` go to an upstream.
///
/// ```
/// use edp_gateway::{Route, Upstream};
///
/// // /api/v1/orders/42 -> http://127.0.0.1:8081/v1/orders/42
/// let orders = Upstream::new("order", ["http://127.0.0.1:8081"]).unwrap();
/// let route = Route::new("/api/v1/orders", orders).rewrite("/v1/orders");
/// assert_eq!(route.target("/api/v1/orders/42?x=1").as_deref(), Some("/v1/orders/42?x=1"));
/// assert_eq!(route.target("/api/v1/ordersx"), None);
/// ```
#[derive(Debug, Clone)]
pub struct Route {
    pub(crate) prefix: String,
    pub(crate) rewrite: Option<String>,
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) timeout: Duration,
    pub(crate) public: bool,
    pub(crate) scopes: Vec<String>,
}

impl Route {
    /// Requests under `prefix` (the path itself, or below it) go to `upstream`,
    /// path unchanged, with a 30 s timeout; a token is required when the gateway
    /// has an authenticator.
    pub fn new(prefix: impl Into<String>, upstream: Upstream) -> Self {
        let mut prefix = prefix.into();
        while prefix.len() > 1 && prefix.ends_with('/') {
            prefix.pop();
        }
        Self {
            prefix,
            rewrite: None,
            upstream: Arc::new(upstream),
            timeout: Duration::from_secs(30),
            public: false,
            scopes: Vec::new(),
        }
    }

    /// Replaces the prefix with `to` on the way upstream.
    pub fn rewrite(mut self, to: impl Into<String>) -> Self {
        self.rewrite = Some(to.into());
        self
    }

    /// How long the upstream may take to answer (headers; the body then streams).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Lets requests through without a token.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// Scopes a token must carry (all of them) for this route.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The upstream path and query for `path_and_query`, when this route matches.
    pub fn target(&self, path_and_query: &str) -> Option<String> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let rest = path.strip_prefix(self.prefix.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/') || self.prefix == "/") {
            return None;
        }
        let base = self.rewrite.as_deref().unwrap_or(&self.prefix);
        let mut target = String::with_capacity(path_and_query.len() + base.len());
        target.push_str(base.trim_end_matches('/'));
        if self.prefix == "/" && !rest.starts_with('/') {
            target.push('/');
        }
        target.push_str(rest);
        if target.is_empty() {
            target.push('/');
        }
        if let Some(q) = query {
            target.push('?');
            target.push_str(q);
        }
        Some(target)
    }
}
