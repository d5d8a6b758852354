//! One connection to one broker.
//!
//! ```text
//!  caller futures ──encode──► frame ──► [writer task] ──► socket ──► broker
//!        ▲                                                            │
//!        └── oneshot ◄── correlation map ◄── [reader task] ◄── socket ◄┘
//! ```
//!
//! Callers encode their request into a frame on their own thread, take a correlation id and a
//! slot in the correlation map under one short lock, and hand the frame to the writer task. The
//! writer task is the only one writing to the socket, so a caller that gives up (timeout, Ruby
//! interrupt) can never leave half a frame on the wire. The reader task is the only one reading:
//! it matches each response to its waiter by correlation id. Any number of requests may be in
//! flight at once (pipelining); Kafka answers them in order, but matching is by id.
//!
//! When the socket fails, the reader or writer task *poisons* the connection: every waiter gets
//! the error, later requests fail at once, and the pool replaces the connection. A request whose
//! response does not arrive within the timeout poisons the connection too (as the Java client
//! closes it): the broker may still be processing it, so a produce that timed out may or may not
//! have been written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::versions::{self, ApiVersionTable};
use super::{transport, BrokerAddr, ConnectionConfig};
use crate::error::{Error, Result};
use crate::protocol::api::Request;
use crate::protocol::codec::{DecodeResult, Reader};
use crate::protocol::frame::{self, FrameReader};

type Reply = Result<Bytes>;

struct Waiter {
    tx: oneshot::Sender<Reply>,
    /// Whether the response header carries a tagged-field section (header v1).
    tagged_header: bool,
}

#[derive(Default)]
struct InFlight {
    next_id: i32,
    waiters: HashMap<i32, Waiter>,
    poisoned: Option<Error>,
}

struct Shared {
    broker: String,
    in_flight: Mutex<InFlight>,
    created: Instant,
    /// Milliseconds since `created` of the last request.
    last_used_ms: AtomicU64,
}

impl Shared {
    fn poison(&self, err: Error) {
        let waiters = {
            let mut st = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if st.poisoned.is_none() {
                st.poisoned = Some(err.clone());
            }
            std::mem::take(&mut st.waiters)
        };
        for (_, w) in waiters {
            let _ = w.tx.send(Err(err.clone()));
        }
    }

    /// The error for a request whose connection went away.
    fn gone(&self) -> Error {
        self.poisoned().unwrap_or_else(|| Error::Connection {
            broker: self.broker.clone(),
            message: "connection closed".into(),
        })
    }

    /// A request of `api` got no answer (or was not written) within `timeout`: the connection
    /// is poisoned, as its state is unknown, and the error returned.
    fn timed_out(&self, api: &'static str, timeout: Duration) -> Error {
        let err = Error::Timeout {
            broker: self.broker.clone(),
            api,
            timeout_ms: timeout.as_millis() as u64,
        };
        self.poison(err.clone());
        err
    }

    fn poisoned(&self) -> Option<Error> {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .poisoned
            .clone()
    }
}

/// A live connection to one broker, shared by every caller that talks to it.
pub struct BrokerConnection {
    addr: BrokerAddr,
    config: Arc<ConnectionConfig>,
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Outgoing>,
    versions: OnceLock<ApiVersionTable>,
    /// The reader task, then the writer task.
    tasks: [AbortHandle; 2],
}

/// A frame for the writer task; `written` (for requests without a response) is told once the
/// frame is on the socket.
struct Outgoing {
    frame: Bytes,
    written: Option<oneshot::Sender<()>>,
}

impl Drop for BrokerConnection {
    /// Stops reading at once. The writer task is not aborted: the channel closes with this
    /// sender, and the writer finishes writing the frames already queued (a produce with
    /// `acks = 0` counts as sent once its frame is written), then shuts the socket down.
    fn drop(&mut self) {
        self.tasks[0].abort();
    }
}

impl std::fmt::Debug for BrokerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConnection")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl BrokerConnection {
    /// Connects, starts the reader and writer tasks, and negotiates API versions.
    pub async fn connect(addr: &BrokerAddr, config: Arc<ConnectionConfig>) -> Result<Arc<Self>> {
        let stream = transport::connect(addr, config.connect_timeout).await?;
        let (read_half, write_half) = stream.into_split();
        let shared = Arc::new(Shared {
            broker: addr.to_string(),
            in_flight: Mutex::new(InFlight::default()),
            created: Instant::now(),
            last_used_ms: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(
            FrameReader::new(read_half, config.max_frame_size),
            shared.clone(),
        ));
        let writer = tokio::spawn(write_loop(write_half, rx, shared.clone()));
        let conn = Arc::new(BrokerConnection {
            addr: addr.clone(),
            config,
            shared,
            writer: tx,
            versions: OnceLock::new(),
            tasks: [reader.abort_handle(), writer.abort_handle()],
        });
        let table = versions::handshake(&conn).await?;
        let _ = conn.versions.set(table);
        Ok(conn)
    }

    pub fn addr(&self) -> &BrokerAddr {
        &self.addr
    }

    /// False once the connection has failed; the pool then opens a new one.
    pub fn is_alive(&self) -> bool {
        self.shared.poisoned().is_none()
    }

    /// Fails the connection on purpose: waiters get a connection error naming `reason`, and the
    /// pool opens a fresh connection for the next request. Used when a caller abandons a request
    /// the broker may hold for long (a long-poll fetch), which would otherwise delay every later
    /// request on this connection until the broker answers it.
    pub fn close(&self, reason: &str) {
        self.shared.poison(Error::Connection {
            broker: self.shared.broker.clone(),
            message: format!("closed: {reason}"),
        });
        for t in &self.tasks {
            t.abort();
        }
    }

    /// How long since a request was last sent, if none is in flight.
    pub fn idle_for(&self) -> Option<Duration> {
        let st = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !st.waiters.is_empty() {
            return None;
        }
        let last = Duration::from_millis(self.shared.last_used_ms.load(Ordering::Relaxed));
        Some(self.shared.created.elapsed().saturating_sub(last))
    }

    /// The negotiated version table (empty before the handshake completes).
    pub fn versions(&self) -> Option<&ApiVersionTable> {
        self.versions.get()
    }

    /// The version to use for `R`: the highest both sides support.
    pub fn version_for<R: Request>(&self) -> Result<i16> {
        let table = self.versions.get().ok_or_else(|| Error::Connection {
            broker: self.shared.broker.clone(),
            message: "API versions not negotiated yet".into(),
        })?;
        table.negotiate::<R>(&self.shared.broker)
    }

    /// Sends `req` at the negotiated version and waits for its response.
    pub async fn request<R: Request>(&self, req: &R) -> Result<R::Response> {
        self.request_with_wait(req, Duration::ZERO).await
    }

    /// Like [`request`](Self::request) for requests that ask the broker to hold the response
    /// (a fetch's max wait, a create-topics timeout): `broker_wait` is added to the timeout.
    pub async fn request_with_wait<R: Request>(
        &self,
        req: &R,
        broker_wait: Duration,
    ) -> Result<R::Response> {
        let version = self.version_for::<R>()?;
        self.request_at(req, version, broker_wait).await
    }

    /// Sends `req` at an explicit version (the ApiVersions handshake uses this).
    pub async fn request_at<R: Request>(
        &self,
        req: &R,
        version: i16,
        broker_wait: Duration,
    ) -> Result<R::Response> {
        self.start_at(req, version, broker_wait)?.response().await
    }

    /// Queues `req` (at the negotiated version) for writing and returns the wait for its
    /// response. Requests started one after another on a connection are written, and answered
    /// by the broker, in that order: a producer uses this to keep a partition's batches in
    /// sequence order while several are in flight.
    pub fn start_request<R: Request>(
        &self,
        req: &R,
        broker_wait: Duration,
    ) -> Result<PendingResponse<R::Response>> {
        let version = self.version_for::<R>()?;
        self.start_at(req, version, broker_wait)
    }

    fn start_at<R: Request>(
        &self,
        req: &R,
        version: i16,
        broker_wait: Duration,
    ) -> Result<PendingResponse<R::Response>> {
        let frame = frame::encode_request(req, version, &self.config.client_id);
        let tagged = frame::response_header_has_tags(R::API_KEY, R::is_flexible(version));
        let rx = self
            .enqueue(frame, Some(tagged), None)?
            .expect("a response was requested");
        Ok(PendingResponse {
            rx,
            version,
            timeout: self.config.request_timeout + broker_wait,
            shared: self.shared.clone(),
            api: R::API_KEY.name(),
            decode: R::decode_response,
        })
    }

    /// Sends a request the broker will not answer (a produce with `acks = 0`) and returns once
    /// its frame has been written to the socket: that is all such a request can promise.
    pub async fn send_without_response<R: Request>(&self, req: &R) -> Result<()> {
        self.queue_without_response(req).wait().await
    }

    /// Queues a request the broker will not answer (its place on the connection is fixed when
    /// this returns); the notice says when it has been written.
    pub fn queue_without_response<R: Request>(&self, req: &R) -> WriteNotice {
        let queued = self.version_for::<R>().and_then(|version| {
            let frame = frame::encode_request(req, version, &self.config.client_id);
            let (tx, rx) = oneshot::channel();
            self.enqueue(frame, None, Some(tx))?;
            Ok(rx)
        });
        WriteNotice {
            queued,
            timeout: self.config.request_timeout,
            shared: self.shared.clone(),
            api: R::API_KEY.name(),
        }
    }

    /// Assigns a correlation id, registers the waiter (unless `tagged_header` is `None`: no
    /// response expected), queues the frame for the writer, which tells `written` (if given)
    /// once the frame is on the socket.
    fn enqueue(
        &self,
        mut frame: BytesMut,
        tagged_header: Option<bool>,
        written: Option<oneshot::Sender<()>>,
    ) -> Result<Option<oneshot::Receiver<Reply>>> {
        let mut st = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(err) = &st.poisoned {
            return Err(err.clone());
        }
        let id = st.next_id;
        st.next_id = st.next_id.wrapping_add(1) & i32::MAX;
        frame::set_correlation_id(&mut frame, id);
        let rx = tagged_header.map(|tagged_header| {
            let (tx, rx) = oneshot::channel();
            st.waiters.insert(id, Waiter { tx, tagged_header });
            rx
        });
        let outgoing = Outgoing {
            frame: frame.freeze(),
            written,
        };
        if self.writer.send(outgoing).is_err() {
            st.waiters.remove(&id);
            return Err(self.gone());
        }
        let used = self.shared.created.elapsed().as_millis() as u64;
        self.shared.last_used_ms.store(used, Ordering::Relaxed);
        Ok(rx)
    }

    fn gone(&self) -> Error {
        self.shared.gone()
    }
}

/// A request without a response, queued on a connection: [`WriteNotice::wait`] returns once
/// it is on the socket.
pub struct WriteNotice {
    queued: Result<oneshot::Receiver<()>>,
    timeout: Duration,
    shared: Arc<Shared>,
    api: &'static str,
}

impl WriteNotice {
    pub async fn wait(self) -> Result<()> {
        match tokio::time::timeout(self.timeout, self.queued?).await {
            Ok(Ok(())) => Ok(()),
            // The writer dropped the notice: the connection failed before the frame went out.
            Ok(Err(_)) => Err(self.shared.gone()),
            Err(_) => Err(self.shared.timed_out(self.api, self.timeout)),
        }
    }
}

/// A request written (or queued for writing) on a connection, waiting for its response of
/// type `T`. Owns nothing of the request, so it can outlive it.
pub struct PendingResponse<T> {
    rx: oneshot::Receiver<Reply>,
    version: i16,
    timeout: Duration,
    shared: Arc<Shared>,
    api: &'static str,
    decode: fn(&mut Reader, i16) -> DecodeResult<T>,
}

impl<T> PendingResponse<T> {
    /// Waits for the response (at most the request timeout, plus the broker wait asked for).
    pub async fn response(self) -> Result<T> {
        let body = match tokio::time::timeout(self.timeout, self.rx).await {
            Ok(Ok(reply)) => reply?,
            Ok(Err(_)) => return Err(self.shared.gone()),
            Err(_) => return Err(self.shared.timed_out(self.api, self.timeout)),
        };
        let mut r = Reader::new(body);
        Ok((self.decode)(&mut r, self.version)?)
    }
}

async fn read_loop(mut frames: FrameReader<tokio::net::tcp::OwnedReadHalf>, shared: Arc<Shared>) {
    let err = loop {
        let frame = match frames.read_frame().await {
            Ok(Some(f)) => f,
            Ok(None) => {
                break Error::Connection {
                    broker: shared.broker.clone(),
                    message: "connection closed by the broker".into(),
                }
            }
            Err(e) => {
                break Error::Connection {
                    broker: shared.broker.clone(),
                    message: e.to_string(),
                }
            }
        };
        let (id, mut body) = match frame::split_response(frame) {
            Ok(x) => x,
            Err(e) => break e.into(),
        };
        let waiter = {
            let mut st = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            st.waiters.remove(&id)
        };
        let Some(waiter) = waiter else {
            break Error::Connection {
                broker: shared.broker.clone(),
                message: format!("response with unknown correlation id {id}"),
            };
        };
        let reply = if waiter.tagged_header {
            body.skip_tagged_fields().map(|_| body.into_rest())
        } else {
            Ok(body.into_rest())
        };
        // The waiter may have given up (timeout, interrupt); its response is dropped.
        let _ = waiter.tx.send(reply.map_err(Error::from));
    };
    shared.poison(err);
}

async fn write_loop(
    mut socket: OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
) {
    while let Some(out) = frames.recv().await {
        if let Err(e) = socket.write_all(&out.frame).await {
            shared.poison(Error::Connection {
                broker: shared.broker.clone(),
                message: e.to_string(),
            });
            return;
        }
        if let Some(written) = out.written {
            let _ = written.send(());
        }
    }
    let _ = socket.shutdown().await;
}
