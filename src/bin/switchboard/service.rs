//! The daemon as a service: the signals that stop and reload it, and the `sd_notify`
//! messages a service manager waits for.
//!
//! - `READY=1` once the runtime serves (systemd's `Type=notify` starts dependants
//!   then), `STOPPING=1` when a stop signal arrives, and `WATCHDOG=1` every half
//!   `WatchdogSec` when the manager asked for a watchdog. Nothing is sent without
//!   `NOTIFY_SOCKET`, so the same binary runs unchanged outside systemd.
//! - The first SIGINT/SIGTERM starts a graceful shutdown; a second one exits at once
//!   with [`EXIT_FORCED`](crate::exit::EXIT_FORCED). SIGHUP reloads the registry.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;

use crate::exit::EXIT_FORCED;

/// Tells the service manager the daemon is up (with a one-line status), and starts
/// the watchdog keep-alive if the manager asked for one. The keep-alive stops when
/// the returned handle is dropped.
pub(crate) fn ready(status: &str) -> Watchdog {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
    let Some(usec) = watchdog_usec() else {
        return Watchdog(None);
    };
    // Half the manager's timeout, as sd_watchdog_enabled(3) recommends.
    let every = Duration::from_micros(usec / 2).max(Duration::from_millis(10));
    tracing::info!(every_ms = every.as_millis(), "systemd watchdog enabled");
    Watchdog(Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    })))
}

/// The watchdog period the manager asked for: `WATCHDOG_USEC`, for this process when
/// `WATCHDOG_PID` names one (`sd_watchdog_enabled(3)`; `sd_notify::watchdog_enabled`
/// insists on `WATCHDOG_PID`, which supervisors other than systemd leave out).
fn watchdog_usec() -> Option<u64> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    let for_us = std::env::var("WATCHDOG_PID")
        .ok()
        .is_none_or(|pid| pid.parse() == Ok(std::process::id()));
    (usec > 0 && for_us).then_some(usec)
}

/// Tells the service manager the daemon is stopping.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %switchboard::Report(&e), "could not notify the service manager (NOTIFY_SOCKET)");
    }
}

/// The watchdog keep-alive task; aborted on drop.
pub(crate) struct Watchdog(Option<JoinHandle<()>>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
pub(crate) async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Waits for the first stop signal, tells the service manager, and arms the second:
/// a second SIGINT/SIGTERM during the graceful shutdown exits the process at once.
pub(crate) async fn stop_requested(grace: Duration) {
    terminate().await;
    stopping();
    eprintln!(
        "switchboard: stopping (up to {}s for handlers to finish; signal again to exit now)",
        grace.as_secs()
    );
    tokio::spawn(async {
        terminate().await;
        eprintln!("switchboard: second signal, exiting now without draining");
        std::process::exit(i32::from(EXIT_FORCED));
    });
}

/// Reloads the registry on every SIGHUP.
pub(crate) fn reload_on_hup(runtime: switchboard::runtime::Runtime) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            send(&[NotifyState::Reloading]);
            match runtime.reload().await {
                Ok(report) => tracing::info!(?report, "reloaded on SIGHUP"),
                Err(e) => {
                    tracing::error!(error = %switchboard::Report(&e), "reload rejected; the running configuration stays");
                }
            }
            send(&[NotifyState::Ready]);
        }
    });
}
