//! The HTTP edge: what one client can hold of the server. Connections are accepted here (not by
//! `axum::serve`, which cannot set hyper's header read timeout), each must send its headers within
//! 10 s, at most `LOOPBOT_HTTP_MAX_CONNECTIONS` are open, at most `LOOPBOT_HTTP_MAX_IN_FLIGHT`
//! requests are handled at once (503 beyond, never a queue) and each has
//! `LOOPBOT_HTTP_REQUEST_TIMEOUT` from its headers to its answer.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use crate::config::HttpLimits;

/// Routes the in-flight limit does not count: liveness must answer while the bot is busy, or an
/// orchestrator restarts a process that is only loaded. It reads no body and touches nothing.
const UNLIMITED_ROUTES: &[&str] = &["/healthz"];

/// Serves `router` on `listener` until `stop` fires, then lets every open connection finish its
/// current request and waits for them all.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    // Without a timer hyper has no header timeout at all: a half-sent request would stay forever.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    // Every connection task holds a sender; `recv` answers `None` once the last one has ended.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        // Small JSON answers: do not wait for more bytes to fill a segment.
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let stop = stop.clone();
        let held = (permit, open.clone());
        tokio::spawn(async move {
            let _held = held;
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = served {
                // A client that timed out or went away; nothing the operator can act on.
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(open);
    let _ = all_closed.recv().await;
    Ok(())
}

/// A peer that reset before we took it is nothing; anything else (out of file descriptors) is
/// logged, and accepting pauses a moment instead of spinning.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept HTTP connections; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The per-request half of the edge, shared by every route (one semaphore for all of them).
#[derive(Clone)]
pub struct Guard {
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    request_timeout: Duration,
}

impl Guard {
    pub fn new(limits: &HttpLimits) -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            max_in_flight: limits.max_in_flight,
            request_timeout: limits.request_timeout,
        }
    }
}

/// Refuses a request beyond the in-flight limit at once, and ends one that runs past the request
/// timeout: 408 when its body was still arriving (the client was slow), 503 otherwise (we were).
pub async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let unlimited = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| UNLIMITED_ROUTES.contains(&path.as_str()));
    let _permit = if unlimited {
        None
    } else {
        match guard.in_flight.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return ApiError::Overloaded {
                    limit: guard.max_in_flight,
                }
                .into_response()
            }
        }
    };
    let waiting = Arc::new(AtomicBool::new(false));
    let request = request.map(|inner| {
        Body::new(Watched {
            inner,
            waiting: waiting.clone(),
        })
    });
    match tokio::time::timeout(guard.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let limit = humantime::format_duration(guard.request_timeout);
            if waiting.load(Ordering::Relaxed) {
                ApiError::TimedOut(format!("the request body did not arrive within {limit}"))
            } else {
                ApiError::Unavailable(format!(
                    "the request was not answered within {limit}; retry later"
                ))
            }
            .into_response()
        }
    }
}

/// A request body that remembers whether its reader is waiting for the client's next bytes.
struct Watched {
    inner: Body,
    waiting: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        self.waiting.store(polled.is_pending(), Ordering::Relaxed);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
