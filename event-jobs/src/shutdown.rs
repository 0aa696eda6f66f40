//! SIGTERM and ctrl-c as the future a worker stops on.

use std::future::Future;

/// Completes on ctrl-c or (on Unix) SIGTERM.
///
/// The signal handlers are installed when this is called, not when the
/// future is first polled: a SIGTERM that arrives at any moment after the
/// call (while the worker is still starting, say) stops it gracefully
/// instead of killing the process. Call it inside the tokio runtime; outside
/// one, the handlers are installed on first poll.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let installed = tokio::runtime::Handle::try_current()
        .is_ok()
        .then(Handlers::install);
    async move {
        let handlers = match installed {
            Some(handlers) => handlers,
            None => Handlers::install(),
        };
        handlers.wait().await;
    }
}

struct Handlers {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Handlers {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let unix = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot install the SIGTERM/SIGINT handlers; waiting for ctrl-c only");
                    None
                }
            };
            Self { unix }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.unix {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received; the worker finishes its running jobs and stops"),
                _ = int.recv() => tracing::info!("ctrl-c received; the worker finishes its running jobs and stops"),
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
