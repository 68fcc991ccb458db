//! Serving the router on a socket so that no client can hold the service open.
//!
//! axum's own `serve` has no timeouts, and idle or half-sent-header connections were
//! held for 70 s and more: 21 000 of them exhausted the file limit and `/readyz`
//! became unreachable, and SIGTERM waited a minute for one slow client. Here each
//! connection is served by hyper with a header-read timeout (which also closes a
//! keep-alive connection idle for that long), at most `max_connections` are served at
//! once (one over that is answered 503 in the error shape and closed), requests time
//! out in the router ([`crate::routes::REQUEST_TIMEOUT`]), and a shutdown waits for
//! open connections at most `shutdown_timeout`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A client must send a request's headers within this long (and an idle
    /// keep-alive connection is closed after it).
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a shutdown waits for open connections to finish.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` (over TLS with `tls`) until `stop` turns true, then
/// stops accepting and gives open connections up to the shutdown timeout to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut refused_logged = 0i64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = signalled(&mut stop) => break,
        };
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: back off a little, the
                // connections held will time out.
                warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let now = jiff::Timestamp::now().as_second();
            if now - refused_logged >= 10 {
                refused_logged = now;
                warn!(max = limits.max_connections, "too many connections; refusing new ones");
            }
            // Over TLS the answer would cost a handshake: the connection is just closed.
            if tls.is_none() {
                connections.spawn(refuse(stream));
            }
            continue;
        };
        let router = router.clone();
        let closing = closing_rx.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, router, limits, closing).await,
                Some(acceptor) => {
                    // The handshake gets the header timeout too.
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection(stream, router, limits, closing).await,
                        Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                        Err(_) => debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            open = connections.len(),
            timeout_s = limits.shutdown_timeout.as_secs(),
            "connections still open at the shutdown deadline; closing them"
        );
        connections.abort_all();
    } else if open > 0 {
        info!(open, "open connections finished");
    }
}

/// Serves one connection until it ends or the server closes.
async fn connection<I>(io: I, router: Router, limits: Limits, mut closing: watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router);
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = signalled(&mut closing) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "connection ended");
    }
}

/// Resolves once `flag` turns true (or its sender is gone).
async fn signalled(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}

/// Answers a connection past the cap with a 503 in the error shape (with the security
/// headers every answer has), and closes it.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"error":"too many connections; try again shortly"}"#;
    let security: String = crate::security::HEADERS
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n{security}\r\n{BODY}",
        BODY.len()
    );
    let answer = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        // Read (and drop) what the client sends for a moment, so that closing does not
        // reset the connection before the client has read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A connection past the cap is answered 503 in the error shape, with the security
    /// headers every answer has.
    #[tokio::test]
    async fn a_connection_past_the_cap_is_refused_with_the_security_headers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let server = tokio::spawn(serve(listener, Router::new(), limits, None, stop_rx));
        // The first connection holds the only permit (it sends nothing); the second is
        // refused. The first must be accepted before the second connects.
        let _held = TcpStream::connect(addr).await.unwrap();
        let mut answer = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !answer.starts_with("HTTP/1.1 503") {
            assert!(tokio::time::Instant::now() < deadline, "never refused: {answer:?}");
            let mut refused = TcpStream::connect(addr).await.unwrap();
            answer.clear();
            let _ = tokio::time::timeout(Duration::from_millis(500), refused.read_to_string(&mut answer)).await;
        }
        for (name, value) in crate::security::HEADERS {
            assert!(
                answer.contains(&format!("\r\n{name}: {value}\r\n")),
                "{name} in {answer}"
            );
        }
        assert!(
            answer.ends_with(r#"{"error":"too many connections; try again shortly"}"#),
            "{answer}"
        );
        let _ = stop_tx.send(true);
        server.await.unwrap();
    }
}
