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
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for ctrl-c"))
            .ok();
        let mut terminate = signal(SignalKind::terminate())
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGTERM"))
            .ok();
        async move {
            let ctrl_c = async {
                match interrupt.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match terminate.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ctrl_c => tracing::info!("ctrl-c received; shutting down"),
                _ = term => tracing::info!("SIGTERM received; shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
            tracing::info!("ctrl-c received; shutting down");
        }
    }
}
