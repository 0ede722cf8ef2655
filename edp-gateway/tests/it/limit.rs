//! Rate limits per client and route.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use edp_gateway::auth::JwtAuth;
use edp_gateway::{Gateway, RateLimit, Route, Upstream};
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

use crate::{TestUpstream, send, serve};

const SECRET: &[u8] = b"a development secret, 32 bytes!!";

fn token(sub: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let claims = serde_json::json!({"sub": sub, "iss": "iss", "aud": "aud", "exp": exp});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// 100 requests per 10 s per subject: 150 requests at once from 10 concurrent tasks
/// give 100 passes and 50 answers of 429 with `Retry-After` (plus one more pass per
/// 100 ms the burst took, as GCRA refills); another subject is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_limit_gets_429_and_others_do_not() {
    let up = TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(
            Route::new("/", Upstream::new("echo", [up.url()]).unwrap())
                .rate_limit(RateLimit::new(100, Duration::from_secs(10)).unwrap()),
        )
        .auth(JwtAuth::hs256(SECRET, "iss", "aud"))
        .build();
    let addr = serve(gateway).await;
    let alice = format!("Bearer {}", token("alice"));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..15 {
                let req = Request::get("/echo")
                    .header("authorization", &alice)
                    .body(Body::empty())
                    .unwrap();
                answers.push(send(addr, req).await);
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.extend(t.await.unwrap());
    }
    let took = started.elapsed();
    let passed = answers.iter().filter(|r| r.status() == 200).count();
    let limited: Vec<_> = answers.iter().filter(|r| r.status() == 429).collect();
    let refilled = (took.as_millis() / 100) as usize;
    assert!(
        (100..=100 + refilled).contains(&passed),
        "{passed} passed in {took:?}"
    );
    if took < Duration::from_millis(100) {
        assert_eq!(passed, 100);
    }
    assert_eq!(passed + limited.len(), 150, "every answer is 200 or 429");
    for r in &limited {
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(r.headers()["ratelimit-limit"], "100");
        assert_eq!(r.headers()["ratelimit-remaining"], "0");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(
        up.hits(),
        passed,
        "limited requests never reach the upstream"
    );
    let counted = edp_core::telemetry::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix("edp_gateway_rate_limited_total{route=\"/\"} "))
        .and_then(|v| v.parse::<usize>().ok());
    assert_eq!(counted, Some(limited.len()), "the metric counts them");

    let bob = format!("Bearer {}", token("bob"));
    let res = send(
        addr,
        Request::get("/echo")
            .header("authorization", &bob)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200, "another client is unaffected");
    assert_eq!(res.headers()["ratelimit-remaining"], "99");
}
