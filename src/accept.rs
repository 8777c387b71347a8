//! The accept loop: what keeps connections that never send a byte from
//! taking every file descriptor, and a full descriptor table from spinning
//! a core.
//!
//! - **A connection limit.** At most `max_connections` connections are
//!   open (never more than the process's descriptor limit allows, less a
//!   reserve for the store's own files). When it is reached, the oldest
//!   connection that has not yet sent its opening bytes is closed to make
//!   room; when there is none, the new connection is closed at once.
//! - **A handshake timeout.** A connection closes when it has not sent 24
//!   bytes after the server's first write within `handshake_timeout`: the
//!   HTTP/2 preface, which a client sends after the server's SETTINGS are
//!   out, or under TLS the client's second flight (its Finished), which
//!   follows the ServerHello. A TLS client that stops after its ClientHello
//!   is closed too; one that completes TLS and then says nothing is not
//!   (tonic's TLS accept sits between this loop and HTTP/2).
//! - **Backoff on accept errors.** A failing `accept` (EMFILE, ENFILE,
//!   ENOMEM) is logged, counted, and retried after a wait that doubles up
//!   to a second, instead of at once.
//!
//! Connections that did complete their handshake are kept while they
//! answer HTTP/2 keepalive pings (`server.rs`); a dead peer is found by
//! them.
//! Knows tokio and the tonic `Connected` trait, nothing of the API.

use std::collections::VecDeque;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::metrics::Metrics;

/// Bytes a client sends before anything else: the HTTP/2 connection
/// preface (RFC 9113, 3.4). Under TLS, the ClientHello is longer.
const PREFACE: usize = 24;

/// Descriptors kept back from the connection limit for the store (sled's
/// files), the metrics listener and the like.
const RESERVED_DESCRIPTORS: u64 = 128;

/// The first and the longest wait after a failed `accept`.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How long a new connection waits for the room an evicted one leaves.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// The accept loop's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AcceptLimits {
    pub(crate) max_connections: usize,
    pub(crate) handshake_timeout: Duration,
}

/// Raises this process's soft limit of open files to its hard limit (the
/// default soft limit, 1,024, is far below what a server needs), and
/// returns the soft limit in force.
pub(crate) fn raise_open_files_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    /// What "unlimited" is raised to: more than any connection limit.
    const UNLIMITED_CAP: u64 = 1 << 20;
    let limit = getrlimit(Resource::Nofile);
    if let Some(current) = limit.current {
        let maximum = limit
            .maximum
            .unwrap_or(UNLIMITED_CAP)
            .min(UNLIMITED_CAP.max(current));
        if current < maximum {
            let raised = rustix::process::Rlimit {
                current: Some(maximum),
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => {
                    tracing::info!(from = current, to = maximum, "raised the open-files limit");
                    return maximum;
                }
                Err(e) => {
                    tracing::warn!(error = %e, current, "cannot raise the open-files limit")
                }
            }
        }
        return current;
    }
    // Unlimited.
    u64::MAX
}

/// The connection limit that fits the descriptors this process may open.
pub(crate) fn fitting(max_connections: usize, open_files: u64) -> usize {
    let room = open_files.saturating_sub(RESERVED_DESCRIPTORS).max(1);
    max_connections.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Accepts connections from `listener` under `limits`; the stream ends
/// when its receiver is dropped.
pub(crate) fn incoming(
    listener: TcpListener,
    limits: AcceptLimits,
    metrics: Arc<Metrics>,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<Accepted>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(accept_loop(listener, limits, metrics, tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    limits: AcceptLimits,
    metrics: Arc<Metrics>,
    tx: mpsc::Sender<io::Result<Accepted>>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let waiting: Arc<Mutex<VecDeque<Arc<Shared>>>> = Arc::default();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = FIRST_BACKOFF;
                stream
            }
            Err(e) if transient(&e) => continue,
            Err(e) => {
                let count = metrics.accept_failed();
                // Once, then every 1,000th, so that the log is not flooded.
                if count == 1 || count % 1000 == 0 {
                    tracing::warn!(error = %e, failures = count, wait_ms = backoff.as_millis() as u64, "accept failed; waiting before the next");
                }
                tokio::select! {
                    () = tx.closed() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => match tokio::select! {
                () = tx.closed() => return,
                room = make_room(&slots, &waiting, &metrics) => room,
            } {
                Some(permit) => permit,
                None => {
                    metrics.connection_refused();
                    tracing::warn!(
                        limit = limits.max_connections,
                        "at the connection limit with no silent connection to close: a new connection is refused"
                    );
                    drop(stream);
                    continue;
                }
            },
        };
        let shared = Arc::new(Shared::default());
        {
            let mut waiting = waiting.lock().unwrap_or_else(|e| e.into_inner());
            waiting.retain(|s| !s.done());
            waiting.push_back(Arc::clone(&shared));
        }
        let accepted = Accepted {
            stream,
            _slot: permit,
            shared,
            written: false,
            read: 0,
            deadline: Some(Box::pin(tokio::time::sleep(limits.handshake_timeout))),
            metrics: Arc::clone(&metrics),
        };
        if tx.send(Ok(accepted)).await.is_err() {
            return;
        }
    }
}

/// At the limit: closes the oldest connection still silent, and waits for
/// its slot.
async fn make_room(
    slots: &Arc<Semaphore>,
    waiting: &Mutex<VecDeque<Arc<Shared>>>,
    metrics: &Metrics,
) -> Option<OwnedSemaphorePermit> {
    let evicted = {
        let mut waiting = waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.retain(|s| !s.done());
        waiting.pop_front()
    }?;
    evicted.evict();
    metrics.connection_closed_silent();
    tokio::time::timeout(EVICTION_WAIT, Arc::clone(slots).acquire_owned())
        .await
        .ok()?
        .ok()
}

/// Errors of one connection that came and went before it was accepted.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// What a connection and the accept loop share.
#[derive(Debug, Default)]
struct Shared {
    /// The connection has sent its opening bytes, or is gone.
    prefaced: AtomicBool,
    /// The accept loop closed it to make room.
    evicted: AtomicBool,
    /// The task reading it, woken by an eviction.
    reader: Mutex<Option<Waker>>,
}

impl Shared {
    fn done(&self) -> bool {
        self.prefaced.load(Ordering::Acquire) || self.evicted.load(Ordering::Acquire)
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        if let Some(waker) = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take() {
            waker.wake();
        }
    }
}

/// An accepted connection: it holds its slot of the connection limit until
/// it is dropped, and fails its reads once it is silent past its deadline
/// or evicted, which closes it.
pub(crate) struct Accepted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    /// Whether the server has written to it yet.
    written: bool,
    /// Bytes read since the server's first write, up to the preface.
    read: usize,
    /// Until the preface is in: when the connection is closed.
    deadline: Option<Pin<Box<Sleep>>>,
    metrics: Arc<Metrics>,
}

impl Drop for Accepted {
    fn drop(&mut self) {
        self.shared.prefaced.store(true, Ordering::Release);
    }
}

impl Connected for Accepted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Accepted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.deadline.is_none() {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        // The waker first, so that an eviction after the check below still
        // wakes this reader.
        *this.shared.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        // What the client sent is read before its deadline is judged: a
        // reader polled late must not throw away a preface that arrived.
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) => {
                if this.written {
                    this.read += buf.filled().len() - before;
                    if this.read >= PREFACE {
                        this.deadline = None;
                        this.shared.prefaced.store(true, Ordering::Release);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.shared.evicted.load(Ordering::Acquire) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "closed at the connection limit: it had sent nothing",
                    )));
                }
                if let Some(deadline) = this.deadline.as_mut() {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.metrics.connection_closed_silent();
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no handshake within the handshake timeout",
                        )));
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written = true;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.written = true;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_fits_the_descriptors() {
        assert_eq!(fitting(4096, 1024), 896);
        assert_eq!(fitting(100, 1024), 100);
        assert_eq!(fitting(4096, 100), 1);
        assert_eq!(fitting(4096, u64::MAX), 4096);
    }
}
