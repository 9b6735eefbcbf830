//! Serving a router on a TCP listener, plain or TLS, with what keeps a
//! hostile client from holding the server: a cap on open connections (past
//! it, a new one is closed at once), a deadline for a request's headers, a
//! limit on their size (431 past it), and an idle timeout that lets go of a
//! connection that neither sends nor reads.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Settings;

/// How long a stopping listener waits for requests in flight.
const GRACE: Duration = Duration::from_secs(10);

/// What each listener allows a connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
}

impl ConnectionLimits {
    pub fn of(settings: &Settings) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: settings.header_read_timeout,
            idle_timeout: settings.idle_timeout,
            max_connections: settings.max_connections,
            max_header_bytes: settings.max_header_bytes,
        }
    }
}

/// Raises this process's open-file limit to its hard limit, so idle
/// connections run into `max_connections`, not into the descriptors the
/// database and the phones need.
pub fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(err) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %err, "could not raise the open-file limit");
        }
    }
}

/// Serves `routes`, over HTTPS when `tls` is given, until `shutdown`
/// resolves; then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    routes: Router,
    tls: Option<RustlsConfig>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    raise_open_file_limit();
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(GRACE));
    });
    let capped = Capped {
        slots: Arc::new(Semaphore::new(limits.max_connections)),
        idle: limits.idle_timeout,
    };
    let service = routes.into_make_service_with_connect_info::<SocketAddr>();
    let mut server = axum_server::from_tcp(listener.into_std()?)?.handle(handle);
    let builder = server.http_builder();
    builder
        .http1()
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    match tls {
        Some(tls) => {
            server
                .acceptor(RustlsAcceptor::new(tls).acceptor(capped))
                .serve(service)
                .await
        }
        None => server.acceptor(capped).serve(service).await,
    }
}

/// Admits a connection while a slot is free, and wraps it in the idle timeout.
#[derive(Clone)]
struct Capped {
    slots: Arc<Semaphore>,
    idle: Duration,
}

impl<S> Accept<TcpStream, S> for Capped {
    type Stream = Guarded;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Guarded, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        // Dropping the stream closes it: a connection past the cap costs nothing.
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return std::future::ready(Err(io::Error::other("max_connections reached")));
        };
        let _ = stream.set_nodelay(true);
        let guarded = Guarded {
            stream,
            _slot: slot,
            idle: self.idle,
            deadline: Box::pin(tokio::time::sleep(self.idle)),
        };
        std::future::ready(Ok((guarded, service)))
    }
}

/// A connection holding its slot; reads fail once nothing has moved either
/// way for the idle timeout.
struct Guarded {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle connection"))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Sets a fixed response header unless the handler set its own.
pub fn header_if_absent(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
