//! The gateway against nginx `proxy_pass`, in the same run, on the same upstream,
//! measured with wrk on loopback: requests/s and p99 latency, as ratios.
//!
//! Variants: nginx (2 workers, keep-alive upstream), the edp gateway plain, with JWT
//! (RS256, verified-token cache) and a rate limit, and with JWT uncached.
//!
//! Run: `cargo bench -p edp-gateway --bench proxy` (needs `nginx` and `wrk`: the
//! Debian packages). Options: `--secs S` per measurement (default 10), `--rounds R`
//! (default 3), `--connections C` (default 64); `--profile` runs only the plain
//! gateway (to record it with perf), `--profile-auth` only the one with JWT and a
//! rate limit; `--multi-thread` serves the gateway on one
//! multi-threaded runtime instead of a worker per core.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edp_gateway::auth::JwtAuth;
use edp_gateway::{Gateway, RateLimit, Route, Upstream};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// (requests/s, p99 ms) from one wrk run.
fn wrk(port: u16, secs: u64, connections: u64, header: Option<&str>) -> (f64, f64) {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}/api/x"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in wrk's output:\n{text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| {
            let v = v.trim();
            if let Some(us) = v.strip_suffix("us") {
                us.parse::<f64>().unwrap() / 1000.0
            } else if let Some(ms) = v.strip_suffix("ms") {
                ms.parse::<f64>().unwrap()
            } else if let Some(s) = v.strip_suffix('s') {
                s.parse::<f64>().unwrap() * 1000.0
            } else {
                f64::NAN
            }
        })
        .unwrap_or(f64::NAN);
    (rps, p99)
}

fn main() {
    let secs = arg("--secs", 10);
    let rounds = arg("--rounds", 3);
    let connections = arg("--connections", 64);

    // The upstream: a small axum app on its own runtime (2 threads).
    let up_port = free_port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("upstream")
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(|| async { "ok" });
            let l = tokio::net::TcpListener::bind(("127.0.0.1", up_port))
                .await
                .unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });

    // nginx, 2 workers, keep-alive to the upstream.
    let dir = std::env::temp_dir().join(format!("edp-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nginx_port = free_port();
    let conf = format!(
        "worker_processes 2;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  upstream up {{ server 127.0.0.1:{up_port}; keepalive 128; }}\n  server {{\n    listen 127.0.0.1:{nginx_port};\n    location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n  }}\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let nginx = Command::new("nginx")
        .args([
            "-p",
            &dir.display().to_string(),
            "-c",
            &dir.join("nginx.conf").display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts (apt install nginx)");
    // SIGQUIT: the master stops its workers, then itself.
    let stop_nginx = move |mut nginx: std::process::Child| {
        let _ = Command::new("kill")
            .args(["-QUIT", &nginx.id().to_string()])
            .status();
        let _ = nginx.wait();
    };

    // The edp gateways, on a runtime of 2 threads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gateway")
        .enable_all()
        .build()
        .unwrap();
    let jwks = String::from_utf8(fixture("jwks.json")).unwrap();
    let upstream = || Upstream::new("up", [format!("http://127.0.0.1:{up_port}")]).unwrap();
    let plain_port = free_port();
    let auth_port = free_port();
    let uncached_port = free_port();
    rt.block_on(async {
        let limit = RateLimit::new(1_000_000_000, Duration::from_secs(1)).unwrap();
        let gateways = [
            (
                plain_port,
                Gateway::builder()
                    .route(Route::new("/", upstream()))
                    .build(),
            ),
            (
                auth_port,
                Gateway::builder()
                    .route(Route::new("/", upstream()).rate_limit(limit))
                    .auth(JwtAuth::jwks_json(&jwks, "iss", "aud").unwrap())
                    .build(),
            ),
            (
                uncached_port,
                Gateway::builder()
                    .route(Route::new("/", upstream()).rate_limit(limit))
                    .auth(
                        JwtAuth::jwks_json(&jwks, "iss", "aud")
                            .unwrap()
                            .without_cache(),
                    )
                    .build(),
            ),
        ];
        for (port, gateway) in gateways {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            if std::env::args().any(|a| a == "--multi-thread") {
                let l = tokio::net::TcpListener::bind(addr).await.unwrap();
                tokio::spawn(edp_gateway::serve(l, gateway));
            } else {
                // A worker per core, as nginx runs.
                tokio::spawn(edp_gateway::serve_per_core(
                    addr,
                    gateway,
                    2,
                    std::future::pending(),
                ));
            }
        }
    });
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": "bench", "iss": "iss", "aud": "aud", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(&fixture("rsa.pem")).unwrap(),
    )
    .unwrap();
    let bearer = format!("Authorization: Bearer {token}");
    std::thread::sleep(Duration::from_millis(500));

    if std::env::args().any(|a| a == "--profile") {
        // Profiling: only the plain gateway, for `--secs`.
        let r = wrk(plain_port, secs, connections, None);
        println!("edp gateway alone: {:.0} req/s, p99 {:.2} ms", r.0, r.1);
        stop_nginx(nginx);
        return;
    }
    if std::env::args().any(|a| a == "--profile-auth") {
        // Profiling: only the gateway with JWT (cached) and a rate limit.
        let r = wrk(auth_port, secs, connections, Some(&bearer));
        println!(
            "edp gateway + JWT + rate limit alone: {:.0} req/s, p99 {:.2} ms",
            r.0, r.1
        );
        stop_nginx(nginx);
        return;
    }
    // Warm up, then rounds.
    wrk(nginx_port, 2, connections, None);
    wrk(plain_port, 2, connections, None);
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 4];
    for _ in 0..rounds {
        results[0].push(wrk(nginx_port, secs, connections, None));
        results[1].push(wrk(plain_port, secs, connections, None));
        results[2].push(wrk(auth_port, secs, connections, Some(&bearer)));
        results[3].push(wrk(uncached_port, secs, connections, Some(&bearer)));
    }
    stop_nginx(nginx);
    let _ = std::fs::remove_dir_all(&dir);

    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "proxy: wrk -t2 -c{connections} -d{secs}s x {rounds} rounds, loopback, same upstream, medians"
    );
    let names = [
        "nginx proxy_pass (2 workers)",
        "edp gateway",
        "edp gateway + JWT (cached) + rate limit",
        "edp gateway + JWT (uncached) + rate limit",
    ];
    for (i, name) in names.iter().enumerate() {
        let rps = median(results[i].iter().map(|r| r.0).collect());
        let p99 = median(results[i].iter().map(|r| r.1).collect());
        let ratios: Vec<String> = results[i]
            .iter()
            .zip(&results[0])
            .map(|(x, n)| format!("{:.2}", x.0 / n.0))
            .collect();
        println!(
            "  {name:<44} {rps:>9.0} req/s  p99 {p99:>6.2} ms  ratio {:.2}x of nginx (per round: {})",
            median(
                results[i]
                    .iter()
                    .zip(&results[0])
                    .map(|(x, n)| x.0 / n.0)
                    .collect()
            ),
            ratios.join(" ")
        );
    }
}
