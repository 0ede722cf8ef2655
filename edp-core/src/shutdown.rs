//! Graceful shutdown on ctrl-c or SIGTERM.

use std::future::Future;

/// Completes on ctrl-c (SIGINT) or, on Unix, SIGTERM.
///
/// The handlers are installed when this is called, not when the future is first
/// polled: call it before announcing that the service is up, so that a signal sent
/// right after is not lost (or fatal). If a handler cannot be installed, that signal is
/// ignored (logged) and the other still works. Call it inside a tokio runtime.
///
/// ```no_run
/// # async fn f(service: edp_core::Service<edp_core::transport::memory::MemoryTransport>) {
/// let stop = edp_core::shutdown::signal();
/// println!("up");
/// service.run_until(stop).await.ok();
/// # }
/// ```
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    let mut signals = Signals::new();
    async move { signals.recv().await }
}

/// ctrl-c (SIGINT) and SIGTERM as a stream, for a process that acts on the first
/// signal (shut down gracefully) and on the second (stop at once), as
/// [`App::run`](crate::app::App::run) does.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    manual: Option<tokio::sync::mpsc::UnboundedReceiver<()>>,
}

/// Sends signals to a [`Signals`] made by [`Signals::manual`]: for tests, and for
/// programs that decide themselves when to stop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Trigger(tokio::sync::mpsc::UnboundedSender<()>);

impl Trigger {
    /// Sends one signal, as one ctrl-c would.
    pub fn send(&self) {
        let _ = self.0.send(());
    }
}

impl Signals {
    /// Installs the handlers now (call it inside a tokio runtime, before announcing
    /// that the process is up). A handler that cannot be installed is logged and its
    /// signal ignored.
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt())
                    .map_err(|e| tracing::warn!(error = %e, "cannot listen for ctrl-c"))
                    .ok(),
                terminate: signal(SignalKind::terminate())
                    .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGTERM"))
                    .ok(),
                manual: None,
            }
        }
        #[cfg(not(unix))]
        {
            Self { manual: None }
        }
    }

    /// Signals that come only from the returned [`Trigger`], not from the operating
    /// system.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (trigger, mut signals) = edp_core::shutdown::Signals::manual();
    /// trigger.send();
    /// signals.recv().await; // the first signal
    /// # }
    /// ```
    pub fn manual() -> (Trigger, Self) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let signals = Self {
            #[cfg(unix)]
            interrupt: None,
            #[cfg(unix)]
            terminate: None,
            manual: Some(rx),
        };
        (Trigger(tx), signals)
    }

    /// Completes on the next ctrl-c or SIGTERM (or [`Trigger::send`]).
    pub async fn recv(&mut self) {
        if let Some(manual) = self.manual.as_mut() {
            if manual.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
            tracing::info!("shutdown signal received");
            return;
        }
        #[cfg(unix)]
        {
            let ctrl_c = async {
                match self.interrupt.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match self.terminate.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ctrl_c => tracing::info!("ctrl-c received"),
                _ = term => tracing::info!("SIGTERM received"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
            tracing::info!("ctrl-c received");
        }
    }
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}
