//! Graceful shutdown on ctrl-c or SIGTERM.

/// Completes on ctrl-c (SIGINT) or, on Unix, SIGTERM. If a signal handler cannot be
/// installed, that signal is ignored (logged) and the other still works.
///
/// ```no_run
/// # async fn f(service: edp_core::Service<edp_core::transport::memory::MemoryTransport>) {
/// service.run_until(edp_core::shutdown::signal()).await.ok();
/// # }
/// ```
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received; shutting down"),
        () = term => tracing::info!("SIGTERM received; shutting down"),
    }
}
