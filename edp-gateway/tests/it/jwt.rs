//! The JWT attack corpus: every class gets 401 or 403 problem+json, none reaches the
//! upstream, and an unknown-kid flood fetches the JWKS at most once per cooldown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use edp_gateway::auth::JwtAuth;
use edp_gateway::{Gateway, Route, Upstream};
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

use crate::{TestUpstream, json, send, serve};

const ISS: &str = "https://id.shop.test";
const AUD: &str = "shop-api";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> serde_json::Value {
    json!({"sub": "user-1", "iss": ISS, "aud": AUD, "exp": now() + 300, "scope": "orders:read orders:write"})
}

fn with(mut c: serde_json::Value, key: &str, v: serde_json::Value) -> serde_json::Value {
    c[key] = v;
    c
}

fn rs256(kid: &str, claims: &serde_json::Value, pem: &[u8]) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    encode(&h, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

fn good_rs256(claims: &serde_json::Value) -> String {
    rs256("rsa-1", claims, &fixture("rsa.pem"))
}

/// A token assembled by hand: any header, any signature.
fn raw_token(header: &serde_json::Value, claims: &serde_json::Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        B64.encode(sig)
    )
}

/// HS256 over `header.claims` with `secret`, by hand (for the key-confusion attack).
fn hs256_with(header: &serde_json::Value, claims: &serde_json::Value, secret: &[u8]) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = header["kid"].as_str().map(str::to_owned);
    encode(&h, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// A JWKS server that counts its fetches.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let f = fetches.clone();
    let body = String::from_utf8(fixture("jwks.json")).unwrap();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            f.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/.well-known/jwks.json"), fetches)
}

async fn call(
    addr: std::net::SocketAddr,
    path: &str,
    auth: Option<&str>,
) -> http::Response<bytes::Bytes> {
    let mut req = Request::get(path).header("x-auth-subject", "admin");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    send(addr, req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn the_attack_corpus_is_refused_and_never_reaches_the_upstream() {
    let up = TestUpstream::start().await;
    let (jwks_url, fetches) = jwks_server().await;
    let auth = JwtAuth::jwks_url(&jwks_url, ISS, AUD)
        .await
        .unwrap()
        .cooldown(Duration::from_secs(60));
    let gateway = Gateway::builder()
        .route(
            Route::new(
                "/api/orders",
                Upstream::new("order", [format!("{}/echo", up.url())]).unwrap(),
            )
            .scopes(["orders:read"]),
        )
        .route(
            Route::new(
                "/api/admin",
                Upstream::new("admin", [format!("{}/echo", up.url())]).unwrap(),
            )
            .scopes(["admin"]),
        )
        .auth(auth.clone())
        .build();
    let addr = serve(gateway).await;
    let rsa_pub = fixture("rsa.pub.pem");
    let other = fixture("rsa-other.pem");
    let head = |alg: &str, extra: serde_json::Value| {
        let mut h = json!({"alg": alg, "typ": "JWT", "kid": "rsa-1"});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    let signed_with_header = |extra: serde_json::Value| {
        // Correctly signed by the trusted key, with extra header fields.
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some("rsa-1".into());
        if let Some(u) = extra.get("jku") {
            h.jku = u.as_str().map(str::to_owned);
        }
        if let Some(u) = extra.get("x5u") {
            h.x5u = u.as_str().map(str::to_owned);
        }
        encode(
            &h,
            &claims(),
            &EncodingKey::from_rsa_pem(&fixture("rsa.pem")).unwrap(),
        )
        .unwrap()
    };
    let mut no_sub = claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    let corpus: Vec<(&str, Option<String>, &str, u16)> = vec![
        ("no token", None, "/api/orders", 401),
        (
            "another scheme",
            Some(format!("Basic {}", B64.encode("user:pass"))),
            "/api/orders",
            401,
        ),
        (
            "alg none",
            Some(format!(
                "Bearer {}",
                raw_token(&head("none", json!({})), &claims(), b"")
            )),
            "/api/orders",
            401,
        ),
        (
            "alg none, upper case",
            Some(format!(
                "Bearer {}",
                raw_token(&head("NONE", json!({})), &claims(), b"")
            )),
            "/api/orders",
            401,
        ),
        (
            "HS256 signed with the RSA public key",
            Some(format!(
                "Bearer {}",
                hs256_with(&head("HS256", json!({})), &claims(), &rsa_pub)
            )),
            "/api/orders",
            401,
        ),
        (
            "signed by an untrusted key, trusted kid",
            Some(format!("Bearer {}", rs256("rsa-1", &claims(), &other))),
            "/api/orders",
            401,
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                good_rs256(&with(claims(), "exp", json!(now() - 60)))
            )),
            "/api/orders",
            401,
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                good_rs256(&with(claims(), "nbf", json!(now() + 120)))
            )),
            "/api/orders",
            401,
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                good_rs256(&with(claims(), "iss", json!("https://evil.test")))
            )),
            "/api/orders",
            401,
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                good_rs256(&with(claims(), "aud", json!("other-api")))
            )),
            "/api/orders",
            401,
        ),
        (
            "no subject",
            Some(format!("Bearer {}", good_rs256(&no_sub))),
            "/api/orders",
            401,
        ),
        (
            "missing scope",
            Some(format!("Bearer {}", good_rs256(&claims()))),
            "/api/admin",
            403,
        ),
        (
            "kid pointing elsewhere",
            Some(format!(
                "Bearer {}",
                rs256("../../../../dev/null", &claims(), &fixture("rsa.pem"))
            )),
            "/api/orders",
            401,
        ),
        (
            "kid of the EC key, RS256 token",
            Some(format!(
                "Bearer {}",
                rs256("ec-1", &claims(), &fixture("rsa.pem"))
            )),
            "/api/orders",
            401,
        ),
        (
            "jku header",
            Some(format!(
                "Bearer {}",
                signed_with_header(json!({"jku": "http://evil.test/jwks"}))
            )),
            "/api/orders",
            401,
        ),
        (
            "x5u header",
            Some(format!(
                "Bearer {}",
                signed_with_header(json!({"x5u": "http://evil.test/cert"}))
            )),
            "/api/orders",
            401,
        ),
        (
            "embedded jwk header",
            Some(format!(
                "Bearer {}",
                raw_token(
                    &head("RS256", json!({"jwk": {"kty": "oct", "k": "c2VjcmV0"}})),
                    &claims(),
                    b"sig"
                )
            )),
            "/api/orders",
            401,
        ),
        (
            "malformed base64",
            Some("Bearer eyJhbGciOi%%%.e30.sig".to_owned()),
            "/api/orders",
            401,
        ),
        (
            "two parts",
            Some("Bearer eyJhbGciOiJSUzI1NiJ9.e30".to_owned()),
            "/api/orders",
            401,
        ),
        (
            "oversized token",
            Some(format!(
                "Bearer {}",
                good_rs256(&with(claims(), "pad", json!("x".repeat(9000))))
            )),
            "/api/orders",
            401,
        ),
    ];
    let fetched_before = fetches.load(Ordering::SeqCst);
    for (class, header, path, status) in &corpus {
        let res = call(addr, path, header.as_deref()).await;
        assert_eq!(
            res.status().as_u16(),
            *status,
            "{class}: {}",
            String::from_utf8_lossy(res.body())
        );
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{class}"
        );
        if *status == 401 {
            assert!(res.headers().contains_key("www-authenticate"), "{class}");
        }
    }
    assert!(corpus.len() >= 15);
    assert_eq!(up.hits(), 0, "no attack reached the upstream");

    // An unknown-kid flood: one JWKS fetch at most in the cooldown.
    for i in 0..50 {
        let t = rs256(&format!("kid-{i}"), &claims(), &fixture("rsa.pem"));
        let res = call(addr, "/api/orders", Some(&format!("Bearer {t}"))).await;
        assert_eq!(res.status(), 401);
    }
    let flood_fetches = fetches.load(Ordering::SeqCst) - fetched_before;
    assert!(
        flood_fetches <= 1,
        "{flood_fetches} JWKS fetches in one cooldown"
    );
    assert_eq!(up.hits(), 0);

    // And the positive controls: RS256 and ES256 tokens pass, with the verified
    // identity forwarded and the client's own identity header dropped.
    let res = call(
        addr,
        "/api/orders/1",
        Some(&format!("Bearer {}", good_rs256(&claims()))),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", String::from_utf8_lossy(res.body()));
    let seen = json(&res);
    assert_eq!(seen["headers"]["x-auth-subject"], "user-1");
    assert_eq!(seen["headers"]["x-auth-scopes"], "orders:read orders:write");
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("ec-1".into());
    let es = encode(
        &h,
        &claims(),
        &EncodingKey::from_ec_pem(&fixture("ec.pem")).unwrap(),
    )
    .unwrap();
    let res = call(addr, "/api/orders/2", Some(&format!("Bearer {es}"))).await;
    assert_eq!(res.status(), 200, "{}", String::from_utf8_lossy(res.body()));
    assert_eq!(up.hits(), 2);
}

/// HS256 for development: accepted with the secret; a token naming RS256 is not.
#[tokio::test]
async fn hs256_for_development() {
    let up = TestUpstream::start().await;
    let secret = b"a development secret, 32 bytes!!";
    let gateway = Gateway::builder()
        .route(Route::new("/", Upstream::new("echo", [up.url()]).unwrap()))
        .route(Route::new("/public", Upstream::new("echo", [up.url()]).unwrap()).public())
        .auth(JwtAuth::hs256(secret, ISS, AUD))
        .build();
    let addr = serve(gateway).await;
    let t = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(secret),
    )
    .unwrap();
    assert_eq!(
        call(addr, "/echo", Some(&format!("Bearer {t}")))
            .await
            .status(),
        200
    );
    let rs = good_rs256(&claims());
    assert_eq!(
        call(addr, "/echo", Some(&format!("Bearer {rs}")))
            .await
            .status(),
        401
    );
    assert_eq!(call(addr, "/echo", None).await.status(), 401);
    let public = call(addr, "/public", None).await;
    assert_eq!(public.status(), 200, "public routes need no token");
    assert!(
        json(&public)["headers"].get("x-auth-subject").is_none(),
        "a client cannot claim an identity"
    );
}
