//! JWT bearer authentication: signature, issuer, audience, expiry and scopes, with
//! keys from a JWKS (a file or a URL) or, for development, an HS256 secret.
//!
//! What it refuses, whatever the token says:
//!
//! - `alg: none` and any algorithm other than the key's own: a token signed with
//!   HS256 using an RSA public key as the secret (key confusion) names an RSA key's
//!   `kid` with the wrong algorithm and is refused before any signature check;
//! - key sources inside the token (`jku`, `x5u`, `jwk`, `x5c`): keys come only from
//!   the configuration;
//! - a `kid` that is not in the key set (after one refetch of a JWKS URL, at most once
//!   per cooldown, so a flood of unknown kids cannot hammer the identity provider);
//! - expired tokens, tokens not yet valid (`nbf`), a wrong `iss` or `aud`, a missing
//!   `sub`: with a 5 s leeway set explicitly (the `jsonwebtoken` crate defaults to
//!   60 s and does not check `nbf`);
//! - tokens over 8 KiB, and anything that is not three base64url parts.
//!
//! Verified tokens are cached until they expire (bounded; per thread, so that a
//! cached token takes no lock): one RS256 verification costs more CPU than proxying
//! a request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Why a request is not let through. Each becomes a 401 (or 403 for
/// [`AuthError::MissingScope`]) problem answer; the text names the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("this route needs a bearer token (Authorization: Bearer <token>)")]
    Missing,
    /// The token is longer than the gateway accepts.
    #[error("the token is {0} bytes; at most 8192 are accepted")]
    TooLarge(usize),
    /// Not a well-formed JWT.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// The token names where its key comes from; keys come only from configuration.
    #[error("the token carries a `{0}` header; keys are never taken from tokens")]
    KeySourceInToken(&'static str),
    /// No configured key has this id.
    #[error("no key with id `{0}` is trusted")]
    UnknownKey(String),
    /// The token's algorithm is not the one of the key it names.
    #[error("the token's algorithm {got} does not match its key's ({expected})")]
    WrongAlgorithm {
        /// The algorithm in the token.
        got: String,
        /// The key's algorithm.
        expected: String,
    },
    /// The signature or a claim does not check out.
    #[error("the token is not valid: {0}")]
    Invalid(String),
    /// Valid, but without a scope the route needs.
    #[error("the token lacks the scope `{0}` this route needs")]
    MissingScope(String),
}

impl AuthError {
    /// 403 for a missing scope (the caller is known), 401 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::MissingScope(_) => http::StatusCode::FORBIDDEN,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }
}

/// What a verified token says about its bearer; forwarded upstream as headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `sub`.
    pub subject: String,
    /// `scope` (space-separated) or `scp` (a list).
    pub scopes: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires: u64,
    /// `nbf`, if any.
    pub not_before: Option<u64>,
}

#[derive(Deserialize)]
struct RawClaims {
    sub: String,
    exp: u64,
    nbf: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Vec<String>>,
}

/// The largest token accepted, in bytes.
pub const MAX_TOKEN: usize = 8192;
/// Verified tokens kept at most, per thread.
const CACHE_ENTRIES: usize = 10_000;

/// Authenticators whose tokens a thread keeps (the oldest are dropped).
const CACHED_AUTHENTICATORS: usize = 16;

/// Numbers authenticators for the caches.
static NEXT_AUTH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

type TokenCache = HashMap<Box<str>, Arc<Verified>, foldhash::fast::RandomState>;

thread_local! {
    /// Tokens verified already, per thread and authenticator. Per thread, so that a
    /// cached token costs no lock and no counter shared between cores; each thread
    /// verifies a token once.
    static VERIFIED: std::cell::RefCell<Vec<(u64, TokenCache)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks bearer tokens; see the module documentation for what it refuses.
///
/// ```
/// use edp_gateway::auth::JwtAuth;
/// use std::time::Duration;
///
/// // Development: one shared secret (HS256 only).
/// let dev = JwtAuth::hs256(b"a development secret of 32 bytes!", "https://issuer.test", "shop");
/// // Production: the identity provider's public keys (RS256, ES256).
/// let jwks = r#"{"keys":[]}"#;
/// let prod = JwtAuth::jwks_json(jwks, "https://issuer.test", "shop")
///     .unwrap()
///     .leeway(Duration::from_secs(5));
/// # let _ = (dev, prod);
/// ```
#[derive(Clone)]
pub struct JwtAuth {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Mutex<HashMap<String, (Algorithm, DecodingKey)>>,
    /// HS256 (development): the one key, with no `kid` needed.
    secret: Option<DecodingKey>,
    jwks_url: Option<http::Uri>,
    cooldown: Duration,
    last_fetch: Mutex<Option<Instant>>,
    fetches: std::sync::atomic::AtomicU64,
    issuer: String,
    audience: String,
    leeway: Duration,
    /// Names this authenticator's entries in each thread's cache.
    id: u64,
    caching: bool,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys or the secret.
        f.debug_struct("JwtAuth")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("jwks_url", &self.inner.jwks_url)
            .finish_non_exhaustive()
    }
}

/// A JWKS that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the JWKS cannot be used: {0}")]
pub struct BadJwks(String);

impl JwtAuth {
    fn settings(issuer: &str, audience: &str) -> Inner {
        Inner {
            keys: Mutex::new(HashMap::new()),
            secret: None,
            jwks_url: None,
            cooldown: Duration::from_secs(30),
            last_fetch: Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: Duration::from_secs(5),
            id: NEXT_AUTH.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            caching: true,
        }
    }

    /// HS256 with one shared secret: for development only.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        let mut inner = Self::settings(issuer, audience);
        inner.secret = Some(DecodingKey::from_secret(secret));
        Self {
            inner: Arc::new(inner),
        }
    }

    /// RS256 and ES256 keys from a JWKS document (RFC 7517), for example read from a
    /// file.
    pub fn jwks_json(jwks: &str, issuer: &str, audience: &str) -> Result<Self, BadJwks> {
        let inner = Self::settings(issuer, audience);
        let keys = parse_jwks(jwks)?;
        *lock(&inner.keys) = keys;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Keys fetched from `url` (the identity provider's JWKS endpoint), now and again
    /// when a token names an unknown `kid`, at most once per `cooldown` (30 s by
    /// default; see [`cooldown`](Self::cooldown)).
    pub async fn jwks_url(url: &str, issuer: &str, audience: &str) -> Result<Self, BadJwks> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| BadJwks(format!("`{url}` is not a URL: {e}")))?;
        let mut inner = Self::settings(issuer, audience);
        inner.jwks_url = Some(uri);
        let auth = Self {
            inner: Arc::new(inner),
        };
        auth.refetch(true).await?;
        Ok(auth)
    }

    /// The least time between two fetches of the JWKS URL.
    pub fn cooldown(self, cooldown: Duration) -> Self {
        self.with(|i| i.cooldown = cooldown)
    }

    /// The clock skew allowed on `exp` and `nbf` (default 5 s).
    pub fn leeway(self, leeway: Duration) -> Self {
        self.with(|i| i.leeway = leeway)
    }

    fn with(self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                f(&mut inner);
                Self {
                    inner: Arc::new(inner),
                }
            }
            // Already shared: settings are fixed once the value is cloned.
            Err(inner) => Self { inner },
        }
    }

    /// Verifies every token on every request, without the cache of verified
    /// tokens (for measuring what the cache saves).
    pub fn without_cache(self) -> Self {
        self.with(|i| i.caching = false)
    }

    /// How many times the JWKS URL was fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner
            .fetches
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks the `Authorization` header's bearer token, and that it carries every
    /// scope in `scopes`.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        scopes: &[String],
    ) -> Result<Claims, AuthError> {
        self.verified(authorization, scopes)
            .await
            .map(|v| v.claims.clone())
    }

    /// [`verify`](Self::verify), answering what the proxy needs, shared with the
    /// cache: a cached token costs a lookup, no copy.
    pub(crate) async fn verified(
        &self,
        authorization: Option<&str>,
        scopes: &[String],
    ) -> Result<Arc<Verified>, AuthError> {
        let token = authorization
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        if token.len() > MAX_TOKEN {
            return Err(AuthError::TooLarge(token.len()));
        }
        let verified = match self.cached(token) {
            Some(v) => v,
            None => {
                // Boxed: the signature check (and a JWKS fetch) is the rare path,
                // and would make every request's future as large as its own.
                let claims = Box::pin(self.check(token)).await?;
                let v = Arc::new(Verified::new(claims));
                self.remember(token, &v);
                v
            }
        };
        if let Some(missing) = scopes.iter().find(|s| !verified.claims.scopes.contains(s)) {
            return Err(AuthError::MissingScope(missing.clone()));
        }
        Ok(verified)
    }

    fn cached(&self, token: &str) -> Option<Arc<Verified>> {
        if !self.inner.caching {
            return None;
        }
        let verified = VERIFIED.with(|c| {
            let c = c.borrow();
            let (_, tokens) = c.iter().find(|(id, _)| *id == self.inner.id)?;
            tokens.get(token).cloned()
        })?;
        let claims = &verified.claims;
        let now = now_secs();
        let leeway = self.inner.leeway.as_secs();
        let fresh = claims.expires + leeway > now
            && claims.not_before.is_none_or(|nbf| nbf <= now + leeway);
        fresh.then_some(verified)
    }

    fn remember(&self, token: &str, verified: &Arc<Verified>) {
        if !self.inner.caching {
            return;
        }
        VERIFIED.with(|c| {
            let mut c = c.borrow_mut();
            let i = match c.iter().position(|(id, _)| *id == self.inner.id) {
                Some(i) => i,
                None => {
                    if c.len() >= CACHED_AUTHENTICATORS {
                        c.remove(0);
                    }
                    c.push((self.inner.id, HashMap::default()));
                    c.len() - 1
                }
            };
            let Some((_, tokens)) = c.get_mut(i) else {
                return;
            };
            if tokens.len() >= CACHE_ENTRIES {
                let now = now_secs();
                tokens.retain(|_, v| v.claims.expires > now);
                if tokens.len() >= CACHE_ENTRIES {
                    tokens.clear(); // bounded: start over rather than grow
                }
            }
            tokens.insert(token.into(), verified.clone());
        });
    }

    async fn check(&self, token: &str) -> Result<Claims, AuthError> {
        if token.split('.').count() != 3 {
            return Err(AuthError::Malformed(
                "a JWT has three dot-separated parts".into(),
            ));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        for (present, name) in [
            (header.jku.is_some(), "jku"),
            (header.x5u.is_some(), "x5u"),
            (header.jwk.is_some(), "jwk"),
            (header.x5c.is_some(), "x5c"),
        ] {
            if present {
                return Err(AuthError::KeySourceInToken(name));
            }
        }
        let (alg, key) = match &self.inner.secret {
            Some(secret) => (Algorithm::HS256, secret.clone()),
            None => {
                let kid = header
                    .kid
                    .clone()
                    .ok_or_else(|| AuthError::Malformed("the token names no key (`kid`)".into()))?;
                if kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(AuthError::UnknownKey(kid.chars().take(32).collect()));
                }
                match self.key(&kid) {
                    Some(found) => found,
                    None => {
                        if self.refetch(false).await.is_err() {
                            tracing::warn!(kid, "cannot refetch the JWKS for an unknown kid");
                        }
                        self.key(&kid).ok_or(AuthError::UnknownKey(kid))?
                    }
                }
            }
        };
        if header.alg != alg {
            return Err(AuthError::WrongAlgorithm {
                got: format!("{:?}", header.alg),
                expected: format!("{alg:?}"),
            });
        }
        let mut validation = Validation::new(alg);
        validation.leeway = self.inner.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.inner.issuer]);
        validation.set_audience(&[&self.inner.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<RawClaims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let c = data.claims;
        let scopes = match (c.scope, c.scp) {
            (Some(s), _) => s.split_whitespace().map(str::to_owned).collect(),
            (None, Some(list)) => list,
            (None, None) => Vec::new(),
        };
        Ok(Claims {
            subject: c.sub,
            scopes,
            expires: c.exp,
            not_before: c.nbf,
        })
    }

    fn key(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        lock(&self.inner.keys).get(kid).cloned()
    }

    /// Fetches the JWKS URL again, unless it was fetched within the cooldown.
    async fn refetch(&self, first: bool) -> Result<(), BadJwks> {
        let Some(url) = &self.inner.jwks_url else {
            return Ok(());
        };
        {
            let mut last = lock(&self.inner.last_fetch);
            if !first && last.is_some_and(|t| t.elapsed() < self.inner.cooldown) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.inner
            .fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = fetch(url).await?;
        let keys = parse_jwks(&body)?;
        *lock(&self.inner.keys) = keys;
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A verified token's claims, with what the proxy sends for them made once.
pub(crate) struct Verified {
    pub(crate) claims: Claims,
    /// `x-auth-subject`, when the subject is a valid header value.
    pub(crate) subject: Option<http::HeaderValue>,
    /// `x-auth-scopes`.
    pub(crate) scopes: Option<http::HeaderValue>,
    /// The rate limiter's key for this caller.
    pub(crate) rate_key: String,
}

impl Verified {
    fn new(claims: Claims) -> Self {
        Self {
            subject: http::HeaderValue::from_str(&claims.subject).ok(),
            scopes: http::HeaderValue::from_str(&claims.scopes.join(" ")).ok(),
            rate_key: format!("sub:{}", claims.subject),
            claims,
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The signing keys of a JWKS: RSA keys for RS256 and P-256 keys for ES256, each
/// with a `kid`. Symmetric keys are never taken from a JWKS.
fn parse_jwks(json: &str) -> Result<HashMap<String, (Algorithm, DecodingKey)>, BadJwks> {
    let set: JwkSet = serde_json::from_str(json).map_err(|e| BadJwks(e.to_string()))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| BadJwks(format!("key `{kid}`: {e}")))?;
        keys.insert(kid, (alg, key));
    }
    Ok(keys)
}

/// GETs `url`; the body as text.
async fn fetch(url: &http::Uri) -> Result<String, BadJwks> {
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let body = crate::http_client::call(url, http::Method::GET, path, None)
        .await
        .map_err(BadJwks)?;
    String::from_utf8(body.to_vec()).map_err(|e| BadJwks(e.to_string()))
}
