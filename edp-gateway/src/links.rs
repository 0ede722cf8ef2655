//! Upstream connections held by one client connection.
//!
//! A client's HTTP/1.1 connection sends one request at a time, so the connection
//! to an upstream instance that answered its last request is free for its next one:
//! each client connection keeps its own upstream connections ([`Links`]), with no
//! pool to lock and no task spawned per request. When the client goes away, its
//! upstream connections go to this thread's idle list for the next client
//! connection (kept for the gateway's idle timeout, at most [`IDLE_PER_THREAD`]).

use std::cell::RefCell;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use edp_core::error::BoxError;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use crate::body::Outgoing;

type Sender = SendRequest<Outgoing<Incoming>>;

/// Idle upstream connections kept per thread between client connections.
const IDLE_PER_THREAD: usize = 512;

thread_local! {
    /// (instance id, idle since, connection).
    static IDLE: RefCell<Vec<(u64, Instant, Sender)>> = const { RefCell::new(Vec::new()) };
}

/// Where to connect for one upstream instance.
pub(crate) struct Target {
    /// Unique per instance for the life of the process.
    pub(crate) id: u64,
    /// `host:port`.
    pub(crate) addr: String,
}

/// The upstream connections of one client connection.
pub(crate) struct Links {
    held: Mutex<Vec<(u64, Sender)>>,
    idle: Duration,
}

impl Links {
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            held: Mutex::new(Vec::new()),
            idle,
        }
    }

    /// Sends `req` to `target` on this client connection's connection to it, or on
    /// an idle one of this thread, or on a new one. A request the connection closed
    /// before writing goes out once more on a new connection.
    pub(crate) async fn send(
        &self,
        target: &Target,
        req: Request<Outgoing<Incoming>>,
    ) -> Result<Response<Incoming>, BoxError> {
        let mut req = req;
        let mut reused = true;
        loop {
            let mut sender = match self.take(target.id) {
                Some(mut s) => match s.ready().await {
                    Ok(()) => s,
                    Err(_) => continue, // closed meanwhile: the next one
                },
                None => {
                    reused = false;
                    // Boxed: connecting is the rare path, and would make every
                    // request's future as large as its own.
                    Box::pin(connect(&target.addr)).await?
                }
            };
            match sender.try_send_request(req).await {
                Ok(res) => {
                    self.put(target.id, sender);
                    return Ok(res);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => {
                        tracing::debug!(upstream = %target.addr, error = %e.error(), "an idle upstream connection was closed; sending on a new one");
                        req = unsent;
                        reused = false;
                    }
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }

    /// A live connection to `id`: this client connection's, else an idle one of
    /// this thread. `None` when a new one is needed.
    fn take(&self, id: u64) -> Option<Sender> {
        if let Ok(mut held) = self.held.lock() {
            while let Some(i) = held.iter().position(|(k, _)| *k == id) {
                let (_, s) = held.swap_remove(i);
                if !s.is_closed() {
                    return Some(s);
                }
            }
        }
        let idle = self.idle;
        IDLE.with(|list| {
            let mut list = list.borrow_mut();
            let now = Instant::now();
            list.retain(|(_, since, s)| !s.is_closed() && now.duration_since(*since) < idle);
            let i = list.iter().rposition(|(k, ..)| *k == id)?;
            Some(list.swap_remove(i).2)
        })
    }

    fn put(&self, id: u64, sender: Sender) {
        if let Ok(mut held) = self.held.lock() {
            held.push((id, sender));
        }
    }
}

impl Drop for Links {
    fn drop(&mut self) {
        let held = match self.held.get_mut() {
            Ok(held) => std::mem::take(held),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        if held.is_empty() {
            return;
        }
        // At thread exit the list is gone already; the connections just close.
        let _ = IDLE.try_with(|list| {
            let mut list = list.borrow_mut();
            let now = Instant::now();
            for (id, s) in held {
                if list.len() < IDLE_PER_THREAD && s.is_ready() {
                    list.push((id, now, s));
                }
            }
        });
    }
}

/// A new HTTP/1.1 connection to `addr`, driven by a task of its own.
async fn connect(addr: &str) -> Result<Sender, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}
