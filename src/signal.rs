//! How the CLI's long-running commands (`serve`, `dev`, `bench`, the verifiable tools) hear that
//! they should stop: one future for the first stop signal, and the verifiable tools' two-signal
//! stop built on it.

use brook_verify::tool::StopSignal;

/// Resolves on the first stop signal: SIGTERM or Ctrl-C (SIGINT) on unix, Ctrl-C elsewhere.
/// SIGTERM is what kafkatest, service managers and `Cluster`'s process brokers send for a clean
/// stop. If SIGTERM cannot be listened for, only Ctrl-C counts; an error means Ctrl-C cannot be
/// listened for either (the caller decides whether that means "stop now" or a failure).
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            };
        }
    }
    tokio::signal::ctrl_c().await
}

/// The verifiable tools' stop: the first signal ends the run cleanly through `stop`, a second
/// one exits at once with status 130 (the clean finish may wait up to `delivery.timeout.ms` for
/// sends to a dead cluster). A signal that cannot be listened for counts as received.
pub fn stop_on_signals(stop: StopSignal) {
    tokio::spawn(async move {
        let _ = shutdown_signal().await;
        stop.stop();
        let _ = shutdown_signal().await;
        std::process::exit(130);
    });
}
