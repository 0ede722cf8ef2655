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
#[derive(Clone)]
pub struct Route {
    pub(crate) prefix: String,
    pub(crate) rewrite: Option<String>,
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) timeout: Duration,
    pub(crate) public: bool,
    pub(crate) scopes: Vec<String>,
    pub(crate) rate_limit: Option<std::sync::Arc<crate::limit::Limiter>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("prefix", &self.prefix)
            .field("rewrite", &self.rewrite)
            .field("upstream", &self.upstream.name)
            .field("public", &self.public)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
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
            rate_limit: None,
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

    /// Limits each client on this route: by the token's subject when the request has
    /// a verified token, else by its `X-Api-Key`, else by its IP address. Over the
    /// limit: 429 with `Retry-After`; every answer carries `RateLimit-Limit`,
    /// `RateLimit-Remaining` and `RateLimit-Reset`.
    pub fn rate_limit(mut self, limit: crate::RateLimit) -> Self {
        self.rate_limit = Some(crate::limit::Limiter::new(limit));
        self
    }

    /// Maps a `Location` the upstream answered under the rewritten path back under
    /// the route's prefix (`/v1/orders/42` -> `/api/v1/orders/42`), as nginx's
    /// `proxy_redirect` does; other locations are left alone.
    pub(crate) fn rewrite_location(&self, headers: &mut http::HeaderMap) {
        let Some(to) = self.rewrite.as_deref() else {
            return;
        };
        let Some(location) = headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let to = to.trim_end_matches('/');
        let Some(rest) = location.strip_prefix(to) else {
            return;
        };
        if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
            return;
        }
        let prefix = self.prefix.trim_end_matches('/');
        if let Ok(v) = http::HeaderValue::from_str(&format!("{prefix}{rest}")) {
            headers.insert(http::header::LOCATION, v);
        }
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
