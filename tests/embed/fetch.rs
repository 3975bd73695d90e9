//! The `http.fetch` effect's limits: size (declared and streamed), timeout (a server
//! that never answers: bounded by the configured timeout), schemes.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::routing::get;
use futures_util::stream;
use switchboard::handler::{FetchError, FetchLimits, HttpFetcher};
use switchboard::sim::{InjectMessage, SimAttachment};
use tokio_util::sync::CancellationToken;

use crate::support::{CHANNEL, GUILD, alice, sim};

/// A server streaming `chunks` × 1 KiB without a `Content-Length`; stopped on drop.
struct Streaming {
    url: String,
    cancel: CancellationToken,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn streaming(chunks: usize) -> Streaming {
    let app = axum::Router::new().route(
        "/big",
        get(move || async move {
            let body = stream::iter(
                (0..chunks).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1024]))),
            );
            Body::from_stream(body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/big", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Streaming { url, cancel }
}

fn limits(max_bytes: u64, timeout: Duration) -> FetchLimits {
    FetchLimits { max_bytes, timeout }
}

#[tokio::test]
async fn a_declared_size_over_the_limit_is_refused_and_one_at_the_limit_is_fetched() {
    let sim = sim().await;
    sim.inject_message_with_attachments(
        InjectMessage::guild(GUILD, CHANNEL, alice(), "files"),
        vec![
            SimAttachment::new("big.bin", "application/octet-stream", vec![7u8; 4097]),
            SimAttachment::new("fits.bin", "application/octet-stream", vec![7u8; 4096]),
        ],
    )
    .unwrap();
    let posted = sim.all_channel_messages(CHANNEL);
    let url = |i: usize| {
        posted[0].message["attachments"][i]["url"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let fetcher = HttpFetcher::new(limits(4096, Duration::from_secs(30))).unwrap();
    let err = fetcher.fetch(&url(0)).await.unwrap_err();
    match &err {
        FetchError::TooLarge { limit, seen, .. } => {
            assert_eq!(*limit, 4096);
            assert!(seen.contains("declared 4097"), "{seen}");
        }
        other => panic!("expected TooLarge, got {other}"),
    }
    assert!(err.to_string().contains("4096"), "{err}");
    assert_eq!(fetcher.fetch(&url(1)).await.unwrap().bytes.len(), 4096);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_streamed_body_is_abandoned_once_past_the_limit() {
    // 64 MiB offered without a Content-Length; the fetch stops past 8 KiB.
    let server = streaming(64 * 1024).await;
    let fetcher = HttpFetcher::new(limits(8 * 1024, Duration::from_secs(30))).unwrap();
    let err = fetcher.fetch(&server.url).await.unwrap_err();
    match err {
        FetchError::TooLarge { limit, seen, url } => {
            assert_eq!(limit, 8 * 1024);
            assert!(seen.contains("more than 8192 bytes received"), "{seen}");
            assert_eq!(url, server.url);
        }
        other => panic!("expected TooLarge, got {other}"),
    }
    // The same stream within the limit is fetched whole.
    let small = streaming(4).await;
    let got = fetcher.fetch(&small.url).await.unwrap();
    assert_eq!(got.bytes.len(), 4 * 1024);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_the_configured_timeout() {
    // Accepts connections (the kernel's backlog) and never reads or writes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/file?sig=abc", silent.local_addr().unwrap());
    let timeout = Duration::from_millis(600);
    let fetcher = HttpFetcher::new(limits(1024, timeout)).unwrap();
    let started = Instant::now();
    let err = fetcher.fetch(&url).await.unwrap_err();
    let took = started.elapsed();
    match &err {
        FetchError::Timeout { timeout: t, url } => {
            assert_eq!(*t, timeout);
            assert!(!url.contains("sig="), "the query is not shown: {url}");
        }
        other => panic!("expected Timeout, got {other}"),
    }
    assert!(took >= timeout, "gave up early: {took:?}");
    assert!(
        took < Duration::from_secs(20),
        "bounded by the timeout: {took:?}"
    );
    drop(silent);
}

#[tokio::test]
async fn error_statuses_and_other_schemes_are_errors() {
    let sim = sim().await;
    let fetcher = HttpFetcher::new(FetchLimits::default()).unwrap();
    let missing = format!("http://{}/attachments/1/2/none.txt", sim.addr());
    assert!(matches!(
        fetcher.fetch(&missing).await.unwrap_err(),
        FetchError::Status { status: 404, .. }
    ));
    for url in [
        "file:///etc/hostname",
        "ftp://127.0.0.1/x",
        "data:text/plain,hi",
    ] {
        assert!(
            matches!(
                fetcher.fetch(url).await.unwrap_err(),
                FetchError::Scheme { .. }
            ),
            "{url}"
        );
    }
    sim.shutdown().await;
}

/// A server whose `/to/<n>` redirects to `/to/<n-1>`, `/to/0` to `target`, and
/// `/file` to a `file:` URL; stopped on drop.
async fn redirecting(target: String) -> Streaming {
    use axum::extract::Path;
    use axum::http::{StatusCode, header};
    let app = axum::Router::new()
        .route(
            "/to/{n}",
            get(move |Path(n): Path<u32>| {
                let target = target.clone();
                async move {
                    let location = if n == 0 {
                        target
                    } else {
                        format!("/to/{}", n - 1)
                    };
                    (StatusCode::FOUND, [(header::LOCATION, location)])
                }
            }),
        )
        .route(
            "/file",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, "file:///etc/hostname")],
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Streaming { url, cancel }
}

#[tokio::test]
async fn redirects_are_followed_five_times_to_http_only() {
    let sim = sim().await;
    sim.inject_message_with_attachments(
        InjectMessage::guild(GUILD, CHANNEL, alice(), "a file"),
        vec![SimAttachment::new(
            "r.txt",
            "text/plain",
            b"redirected".to_vec(),
        )],
    )
    .unwrap();
    let target = sim.all_channel_messages(CHANNEL)[0].message["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = redirecting(target.clone()).await;
    let fetcher = HttpFetcher::new(FetchLimits::default()).unwrap();
    let got = fetcher
        .fetch(&format!("{}/to/4", server.url))
        .await
        .unwrap();
    assert_eq!(got.bytes, b"redirected");
    assert_eq!(got.url, target, "the final URL is reported");
    let err = fetcher
        .fetch(&format!("{}/to/5", server.url))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Redirect { reason, .. } if reason.contains("more than 5")),
        "{err}"
    );
    let err = fetcher
        .fetch(&format!("{}/file", server.url))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Redirect { reason, .. } if reason.contains("file:")),
        "{err}"
    );
    sim.shutdown().await;
}
