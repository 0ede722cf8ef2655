//! A real PostgreSQL for tests (feature `testkit`), and a fresh database per test.
//!
//! [`Postgres::shared`] gives the server of the test process:
//!
//! - the one at `DATABASE_URL` when that is set (point it at any PostgreSQL you have;
//!   the user needs the right to create databases);
//! - otherwise a private throwaway cluster: `initdb` with trust authentication in a
//!   scratch directory, started on a free port on 127.0.0.1, stopped and deleted when
//!   the process exits. The binaries are found in `$PG_BIN`, else the newest
//!   `/usr/lib/postgresql/*/bin`, else `PATH`. As root, the cluster runs as the
//!   `postgres` user (PostgreSQL refuses to run as root). The first `initdb` is kept
//!   as a template under the system's temporary directory, so later clusters are a
//!   copy away.
//!
//! [`Postgres::database`] creates a database with a unique name for one test; a
//! [`TestDatabase`] is dropped (deleted) when the test passes and kept for inspection
//! when it fails.
//!
//! Nothing skips: when no server can be had, the call fails with the reason.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use edp_sql::testkit::Postgres;
//! let db = Postgres::shared()?.database().await?;
//! edp_sql::migrate(db.pool()).await?;
//! # Ok(()) }
//! ```

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};

/// No PostgreSQL could be had for the tests.
#[derive(Debug, thiserror::Error)]
#[error(
    "no PostgreSQL for the tests: {0}; set DATABASE_URL or install PostgreSQL (initdb, postgres)"
)]
pub struct PostgresError(String);

/// A PostgreSQL server for tests; see the [module docs](self).
#[derive(Debug)]
pub struct Postgres {
    url: String,
    cluster: Option<Cluster>,
}

/// A private cluster this process started.
#[derive(Debug)]
struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    child: Option<Child>,
}

static SHARED: OnceLock<Result<Postgres, String>> = OnceLock::new();

impl Postgres {
    /// The server of this test process, started on first use.
    pub fn shared() -> Result<&'static Postgres, PostgresError> {
        SHARED
            .get_or_init(|| Self::start().map_err(|e| e.0))
            .as_ref()
            .map_err(|e| PostgresError(e.clone()))
    }

    /// The server at `DATABASE_URL`, or a new private cluster.
    pub fn start() -> Result<Postgres, PostgresError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Ok(Postgres { url, cluster: None }),
            _ => Self::private(),
        }
    }

    /// A new private cluster on a free port, whatever `DATABASE_URL` says: for tests
    /// that stop and start their server.
    pub fn private() -> Result<Postgres, PostgresError> {
        let bin = pg_bin()?;
        let port = free_port()?;
        let dir = scratch_dir(&format!("cluster-{}-{port}", std::process::id()))?;
        copy_template(&bin, &dir)?;
        let mut cluster = Cluster {
            dir,
            port,
            bin,
            child: None,
        };
        cluster.start()?;
        Ok(Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            cluster: Some(cluster),
        })
    }

    /// The URL of the server's `postgres` database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops a private cluster at once, as `pg_ctl stop -m immediate` does: clients
    /// see it go away. Nothing for a server at `DATABASE_URL`.
    pub fn stop_immediate(&mut self) {
        if let Some(c) = &mut self.cluster {
            c.stop("-QUIT", true);
        }
    }

    /// Starts a stopped private cluster again, on the same port with the same data.
    pub fn restart(&mut self) -> Result<(), PostgresError> {
        match &mut self.cluster {
            Some(c) => c.start(),
            None => Ok(()),
        }
    }

    /// A new database with a unique name, and a pool on it.
    pub async fn database(&self) -> Result<TestDatabase, PostgresError> {
        let admin: PgConnectOptions = self
            .url
            .parse()
            .map_err(|e| PostgresError(format!("bad DATABASE_URL {}: {e}", self.url)))?;
        let name = format!(
            "edp_test_{}",
            uuid::Uuid::now_v7()
                .simple()
                .to_string()
                .get(20..)
                .unwrap_or("x")
        );
        let mut conn = admin
            .connect()
            .await
            .map_err(|e| PostgresError(format!("cannot connect to {}: {e}", self.url)))?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .map_err(|e| PostgresError(format!("cannot create database {name}: {e}")))?;
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(|e| PostgresError(format!("cannot connect to {name}: {e}")))?;
        Ok(TestDatabase {
            name,
            admin,
            options,
            pool,
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(c) = &mut self.cluster {
            c.stop("-INT", false);
        }
    }
}

/// A database of its own for one test; see [`Postgres::database`].
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    admin: PgConnectOptions,
    options: PgConnectOptions,
    pool: PgPool,
}

impl TestDatabase {
    /// A pool on it.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Options to connect to it (for a pool of other settings, or another process).
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// Its URL, for another process.
    pub fn url(&self) -> String {
        self.options.to_url_lossy().to_string()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: database {} kept for inspection", self.name);
            return;
        }
        let (name, admin, pool) = (self.name.clone(), self.admin.clone(), self.pool.clone());
        // Drop runs outside async; a thread of its own with a small runtime drops it.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                pool.close().await;
                if let Ok(mut conn) = admin.connect().await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

impl Cluster {
    fn start(&mut self) -> Result<(), PostgresError> {
        let postgres = self.bin.join("postgres");
        // A watchdog shell (as this user, so it can watch this process) stops the
        // server and deletes its data when this process ends, however it ends.
        let script = r#"parent=$1; dir=$2; shift 2; "$@" & child=$!
cleanup() { pid=$(head -n 1 "$dir/postmaster.pid" 2>/dev/null); [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; wait "$child"; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.2; done"#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(&self.dir);
        if is_root() {
            cmd.args(["runuser", "-u", "postgres", "--"]);
        }
        cmd.arg(&postgres)
            .arg("-D")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            // fsync off: what is written survives the server's crash (the kernel holds
            // it), only a machine crash could lose it. synchronous_commit stays on, so a
            // commit is never lost when a test stops the server with -m immediate.
            .args(["-c", "fsync=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .args(["-c", "shared_buffers=64MB"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .map_err(|e| PostgresError(format!("cannot start {}: {e}", postgres.display())))?;
        self.child = Some(child);
        // Listening is not ready: wait until it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = self.bin.join("pg_isready");
        loop {
            let ok = Command::new(&ready)
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(PostgresError(format!(
                    "postgres did not accept connections on port {} within 30 s (data in {})",
                    self.port,
                    self.dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with `signal`; with `keep`, the data stays for a restart.
    fn stop(&mut self, signal: &str, keep: bool) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if keep {
            // SIGKILL: the watchdog dies without its cleanup, so the data stays.
            let _ = child.kill();
            let _ = child.wait();
            // The postmaster's pid is the first line of postmaster.pid.
            let pid = std::fs::read_to_string(self.dir.join("postmaster.pid"))
                .ok()
                .and_then(|s| s.lines().next().map(str::to_owned));
            if let Some(pid) = pid {
                let _ = Command::new("kill").arg(signal).arg(&pid).status();
            }
        } else {
            // SIGTERM: the watchdog stops the server and deletes its data.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if keep {
            // Let the next start find no stale lock.
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.dir.join("postmaster.pid").exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// `program` run as the `postgres` user when this process is root.
fn as_postgres_user(program: &str) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", program]);
        cmd
    } else {
        Command::new(program)
    }
}

/// The directory with `initdb` and `postgres`.
fn pg_bin() -> Result<PathBuf, PostgresError> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let which = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .map_err(|e| PostgresError(format!("cannot run sh: {e}")))?;
    let path = String::from_utf8_lossy(&which.stdout).trim().to_owned();
    Path::new(&path)
        .parent()
        .filter(|_| !path.is_empty())
        .map(Path::to_path_buf)
        .ok_or_else(|| PostgresError("initdb not found (set PG_BIN)".into()))
}

/// A directory under the system's temporary directory that the server's user owns.
fn scratch_dir(name: &str) -> Result<PathBuf, PostgresError> {
    let base = std::env::temp_dir().join("edp-postgres");
    let dir = base.join(name);
    let script = format!(
        "mkdir -p '{base}' && chmod 1777 '{base}' 2>/dev/null; rm -rf '{dir}'",
        base = base.display(),
        dir = dir.display()
    );
    run(
        Command::new("sh").args(["-c", &script]),
        "prepare the scratch directory",
    )?;
    Ok(dir)
}

/// Copies the template cluster (made by `initdb` once, under a lock) into `dir`.
fn copy_template(bin: &Path, dir: &Path) -> Result<(), PostgresError> {
    let template = std::env::temp_dir().join("edp-postgres").join("template");
    let lock = std::env::temp_dir()
        .join("edp-postgres")
        .join("template.lock");
    let script = format!(
        "[ -f '{t}/PG_VERSION' ] || {{ rm -rf '{t}.tmp' && '{initdb}' -D '{t}.tmp' -A trust -U postgres -E UTF8 --no-sync >/dev/null && mv '{t}.tmp' '{t}'; }}; cp -a '{t}' '{d}' && chmod 700 '{d}'",
        t = template.display(),
        d = dir.display(),
        initdb = bin.join("initdb").display()
    );
    let mut cmd = as_postgres_user("flock");
    cmd.arg(&lock).args(["sh", "-c", &script]);
    run(&mut cmd, "initdb a template cluster and copy it")
}

fn run(cmd: &mut Command, what: &str) -> Result<(), PostgresError> {
    let out = cmd
        .output()
        .map_err(|e| PostgresError(format!("cannot {what}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PostgresError(format!(
            "cannot {what} ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> Result<u16, PostgresError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| PostgresError(format!("no free port: {e}")))
}
