//! Shared support for integration tests: bounded polling, log capture, (in
//! `redis.rs`) a throwaway Redis server and (in `embed_server.rs`) a local
//! deterministic embeddings server.

#![allow(dead_code, unreachable_pub)]

pub mod embed_server;
pub mod redis;

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Polls `check` every 10 ms until it returns `true`.
///
/// # Panics
/// If it is still `false` after `timeout` (with paused tokio time the clock advances
/// on its own, so this also works in `start_paused` tests).
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(timeout, || {
        let f = check();
        async move { f.await.then_some(()) }
    })
    .await;
}

/// Polls `check` every 10 ms until it returns `Some`, and returns the value.
///
/// # Panics
/// If it is still `None` after `timeout`.
pub async fn eventually_some<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Log output captured from a tracing subscriber.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything logged so far.
    #[must_use]
    pub fn contents(&self) -> String {
        let buf = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every tracing event (all levels, with fields) of the whole test process
/// from now on, and returns the capture.
///
/// The subscriber is installed globally, once per process: a thread-scoped one
/// (`set_default`) misses events from other runtime threads and can be defeated by
/// tracing's per-callsite interest cache when other tests run in the same process.
/// Under nextest every test is its own process; under `cargo test` the capture also
/// holds other tests' logs, which must not carry secrets either.
///
/// # Panics
/// If another global subscriber was installed first.
#[must_use]
pub fn capture_logs() -> LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            let writer = capture.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .try_init()
                .expect("no other global tracing subscriber in tests");
            capture
        })
        .clone()
}
