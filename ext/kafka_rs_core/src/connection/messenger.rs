//! One connection to one broker.
//!
//! ```text
//!  caller futures ──encode──► frame ──► backlog ──(room)──► [writer task] ──► socket ──► broker
//!        ▲                                                                       │
//!        └── oneshot ◄── correlation map ◄── [reader task] ◄── socket ◄──────────┘
//! ```
//!
//! Callers encode their request into a frame on their own thread, then, under one short lock,
//! take a correlation id, a slot in the correlation map and a place at the back of the backlog.
//! The writer task is the only one writing to the socket, so a caller that gives up (timeout,
//! Ruby interrupt) can never leave half a frame on the wire. The reader task is the only one
//! reading: it matches each response to its waiter by correlation id.
//!
//! **In-flight limit.** At most [`ConnectionConfig::max_in_flight`] requests are *in flight*:
//! handed to the writer and not yet answered (requests without a response, a produce with
//! `acks = 0`, until their frame is written). The rest wait in the backlog, asynchronously, and
//! move to the writer, front first, as answers free room. So the writer's queue never holds more
//! than the limit, the broker never has more than the limit to work on for this connection (the
//! Java client's `max.in.flight.requests.per.connection`, 5 by default), and:
//!
//! * frames are written in the order their requests were made (the first poll of
//!   [`request`](BrokerConnection::request) and friends), whether they had to wait or not;
//! * a request whose caller gave up while it waited for room is never written;
//! * waiting for room cannot deadlock: room is freed by the broker's answers (or by poisoning),
//!   never by another caller, and a caller holds no room while it waits for room.
//!
//! **Timeouts.** A request's timeout runs from the moment it is handed to the writer. A request
//! waiting for room fails (and poisons the connection) only if a request in flight is overdue,
//! which also covers requests in flight whose callers gave up: an unanswered connection cannot
//! hold the backlog forever.
//!
//! When the socket fails, the reader or writer task *poisons* the connection: every waiter gets
//! the error, later requests fail at once, and the pool replaces the connection. A request whose
//! response does not arrive within the timeout poisons the connection too (as the Java client
//! closes it): the broker may still be processing it, so a produce that timed out may or may not
//! have been written.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::sockets::SocketRegistration;
use super::tls::{self, HandshakeFacts};
use super::transport::{self, Stream};
use super::versions::{self, ApiVersionTable};
use super::{BrokerAddr, ConnectionConfig};
use crate::error::{Error, Result};
use crate::log::RequestTimer;
use crate::protocol::api::Request;
use crate::protocol::codec::{DecodeResult, Reader};
use crate::protocol::frame::{self, FrameReader};

type Reply = Result<Bytes>;

/// Whom to tell when a request is done.
enum Notice {
    /// The reader task sends the response body (`tagged_header`: the response header carries a
    /// tagged-field section, header v1).
    Response {
        tx: oneshot::Sender<Reply>,
        tagged_header: bool,
    },
    /// No response comes: the writer task tells once the frame is on the socket.
    Written(oneshot::Sender<()>),
}

struct Waiter {
    notice: Notice,
    /// How long the request may take once handed to the writer.
    timeout: Duration,
    /// When it is overdue; `None` while it waits for room in the backlog.
    deadline: Option<Instant>,
}

impl Waiter {
    /// The caller dropped its future: nobody wants the answer.
    fn abandoned(&self) -> bool {
        match &self.notice {
            Notice::Response { tx, .. } => tx.is_closed(),
            Notice::Written(tx) => tx.is_closed(),
        }
    }

    fn fail(self, err: Error) {
        match self.notice {
            Notice::Response { tx, .. } => {
                let _ = tx.send(Err(err));
            }
            // Dropping the sender tells the caller; it reads the poison.
            Notice::Written(_) => {}
        }
    }
}

/// A frame waiting for room.
struct Queued {
    id: i32,
    frame: Bytes,
}

/// A frame for the writer task.
struct Outgoing {
    id: i32,
    frame: Bytes,
    /// No response will come: the writer settles the request once the frame is written.
    settle_when_written: bool,
}

struct State {
    next_id: i32,
    /// Every request not yet settled (in flight or in the backlog), by correlation id.
    waiters: HashMap<i32, Waiter>,
    /// How many of them are in flight (handed to the writer).
    in_flight: usize,
    /// Requests waiting for room, oldest first.
    backlog: VecDeque<Queued>,
    poisoned: Option<Error>,
    /// The writer's queue (at most `limit` frames: each holds room). Taken when the connection is
    /// dropped, which lets the writer finish the queued frames and stop.
    writer: Option<mpsc::Sender<Outgoing>>,
}

impl State {
    /// Hands requests from the front of the backlog to the writer while there is room.
    fn admit(&mut self, limit: usize) {
        while self.in_flight < limit {
            let Some(queued) = self.backlog.pop_front() else {
                return;
            };
            let Some(waiter) = self.waiters.get_mut(&queued.id) else {
                continue;
            };
            if waiter.abandoned() {
                self.waiters.remove(&queued.id);
                continue;
            }
            let settle_when_written = matches!(waiter.notice, Notice::Written(_));
            waiter.deadline = Some(Instant::now() + waiter.timeout);
            let outgoing = Outgoing {
                id: queued.id,
                frame: queued.frame,
                settle_when_written,
            };
            // Never full (it holds at most `limit` frames); closed only once the connection was
            // dropped or the writer failed, and then the request fails here.
            let sent = self.writer.as_ref().map(|w| w.try_send(outgoing).is_ok());
            if sent == Some(true) {
                self.in_flight += 1;
            } else {
                self.waiters.remove(&queued.id);
            }
        }
    }

    /// Removes a settled request and lets the next one in.
    fn settle(&mut self, id: i32, limit: usize) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        if waiter.deadline.is_some() {
            self.in_flight -= 1;
        }
        self.admit(limit);
        Some(waiter)
    }
}

/// What [`State::check_overdue`] found.
enum Overdue {
    /// Check again at this instant (or read the reply, which is there).
    No(Instant),
    /// A request in flight is overdue (this one, or one ahead of it): the connection is stuck.
    Yes(Duration),
}

impl State {
    fn check_overdue(&self, id: i32, now: Instant) -> Overdue {
        let Some(waiter) = self.waiters.get(&id) else {
            return Overdue::No(now); // settled just now
        };
        if let Some(deadline) = waiter.deadline {
            return if deadline <= now {
                Overdue::Yes(waiter.timeout)
            } else {
                Overdue::No(deadline)
            };
        }
        // Waiting for room: only a request in flight that is overdue makes it give up.
        let earliest = self
            .waiters
            .values()
            .filter_map(|w| w.deadline.map(|d| (d, w.timeout)))
            .min_by_key(|(d, _)| *d);
        match earliest {
            Some((deadline, timeout)) if deadline <= now => Overdue::Yes(timeout),
            Some((deadline, _)) => Overdue::No(deadline),
            None => Overdue::No(now + waiter.timeout),
        }
    }
}

struct Shared {
    broker: String,
    /// Set on a TLS connection: its read and write errors are classified ([`tls::classify`]).
    tls: Option<HandshakeFacts>,
    /// [`ConnectionConfig::max_in_flight`], at least 1.
    limit: usize,
    state: Mutex<State>,
    created: Instant,
    /// Milliseconds since `created` of the last request.
    last_used_ms: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poison(&self, err: Error) {
        let waiters = {
            let mut st = self.lock();
            if st.poisoned.is_none() {
                st.poisoned = Some(err.clone());
            }
            st.backlog.clear();
            st.in_flight = 0;
            std::mem::take(&mut st.waiters)
        };
        for (_, w) in waiters {
            w.fail(err.clone());
        }
    }

    /// The error for a failed read or write: a TLS failure (a broker refusing the client
    /// certificate after the handshake, TLS 1.3) or a connection error.
    fn stream_error(&self, e: &std::io::Error) -> Error {
        self.tls
            .and_then(|facts| tls::classify(e, &self.broker, facts))
            .unwrap_or_else(|| Error::Connection {
                broker: self.broker.clone(),
                message: e.to_string(),
            })
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
        self.lock().poisoned.clone()
    }
}

/// Requests of one connection not yet settled (see [`BrokerConnection::pending`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRequests {
    /// Handed to the writer, not yet answered (or written, for requests without a response).
    pub in_flight: usize,
    /// Waiting for room (their callers may have given up: they are dropped when their turn
    /// comes).
    pub waiting: usize,
}

/// A live connection to one broker, shared by every caller that talks to it.
pub struct BrokerConnection {
    addr: BrokerAddr,
    config: Arc<ConnectionConfig>,
    shared: Arc<Shared>,
    versions: OnceLock<ApiVersionTable>,
    /// The reader task, then the writer task.
    tasks: [AbortHandle; 2],
}

impl Drop for BrokerConnection {
    /// Stops reading at once. The writer task is not aborted: its queue closes here, and the
    /// writer finishes writing the frames already queued (a produce with `acks = 0` counts as sent
    /// once its frame is written), then shuts the socket down. Nothing waits in the backlog: its
    /// callers would hold this connection.
    fn drop(&mut self) {
        self.tasks[0].abort();
        let mut st = self.shared.lock();
        st.writer = None;
        st.backlog.clear();
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
        let (stream, registration) = transport::connect(addr, &config).await?;
        let conn = Self::start(addr, config, stream, registration);
        let table = versions::handshake(&conn).await?;
        let _ = conn.versions.set(table);
        Ok(conn)
    }

    /// Starts the reader and writer tasks over a connected stream (no handshake).
    fn start(
        addr: &BrokerAddr,
        config: Arc<ConnectionConfig>,
        stream: Stream,
        registration: SocketRegistration,
    ) -> Arc<Self> {
        match stream {
            // Owned halves of the socket: reads and writes share no lock.
            Stream::Plain(tcp) => {
                let (read_half, write_half) = tcp.into_split();
                Self::start_on(addr, config, read_half, write_half, registration, None)
            }
            // One TLS session, so the halves share it behind tokio's split lock (held only
            // while a read or write call runs, never across a wait).
            Stream::Tls(tls, facts) => {
                let (read_half, write_half) = tokio::io::split(*tls);
                Self::start_on(
                    addr,
                    config,
                    read_half,
                    write_half,
                    registration,
                    Some(facts),
                )
            }
        }
    }

    /// Starts the reader task over `read_half` and the writer task over `write_half` (the two
    /// halves of one stream, whatever carries it). `registration` is the socket's entry in the
    /// fork registry, kept until both tasks have ended; `tls` what the TLS handshake showed,
    /// to classify a failure of the stream.
    fn start_on<R, W>(
        addr: &BrokerAddr,
        config: Arc<ConnectionConfig>,
        read_half: R,
        write_half: W,
        registration: SocketRegistration,
        tls: Option<HandshakeFacts>,
    ) -> Arc<Self>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let registration = Arc::new(registration);
        let limit = config.max_in_flight.max(1);
        let (tx, rx) = mpsc::channel(limit);
        let shared = Arc::new(Shared {
            broker: addr.to_string(),
            tls,
            limit,
            state: Mutex::new(State {
                next_id: 0,
                waiters: HashMap::new(),
                in_flight: 0,
                backlog: VecDeque::new(),
                poisoned: None,
                writer: Some(tx),
            }),
            created: Instant::now(),
            last_used_ms: AtomicU64::new(0),
        });
        let reader = tokio::spawn(read_loop(
            FrameReader::new(read_half, config.max_frame_size),
            shared.clone(),
            registration.clone(),
        ));
        let writer = tokio::spawn(write_loop(write_half, rx, shared.clone(), registration));
        Arc::new(BrokerConnection {
            addr: addr.clone(),
            config,
            shared,
            versions: OnceLock::new(),
            tasks: [reader.abort_handle(), writer.abort_handle()],
        })
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

    /// How long since a request was last sent, if none is pending.
    pub fn idle_for(&self) -> Option<Duration> {
        if !self.shared.lock().waiters.is_empty() {
            return None;
        }
        let last = Duration::from_millis(self.shared.last_used_ms.load(Ordering::Relaxed));
        Some(self.shared.created.elapsed().saturating_sub(last))
    }

    /// Requests in flight and waiting for room.
    pub fn pending(&self) -> PendingRequests {
        let st = self.shared.lock();
        PendingRequests {
            in_flight: st.in_flight,
            waiting: st.backlog.len(),
        }
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
        let tagged_header = frame::response_header_has_tags(R::API_KEY, R::is_flexible(version));
        let timeout = self.config.request_timeout + broker_wait;
        let timer = RequestTimer::start(
            self.config.events.as_ref(),
            &self.shared.broker,
            R::API_KEY as i16,
            req.group_id(),
            frame.len(),
        );
        let (tx, rx) = oneshot::channel();
        let notice = Notice::Response { tx, tagged_header };
        let (id, check_at) = self.enqueue(frame, notice, timeout)?;
        Ok(PendingResponse {
            rx,
            id,
            check_at,
            version,
            shared: self.shared.clone(),
            api: R::API_KEY.name(),
            decode: R::decode_response,
            timer,
            error_code: R::response_error_code,
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
            let (id, check_at) =
                self.enqueue(frame, Notice::Written(tx), self.config.request_timeout)?;
            Ok((id, check_at, rx))
        });
        WriteNotice {
            queued,
            shared: self.shared.clone(),
            api: R::API_KEY.name(),
        }
    }

    /// Assigns a correlation id, registers the waiter, and puts the frame at the back of the
    /// backlog, then hands the backlog's front to the writer while there is room. Returns the id
    /// and when to first check the request for being overdue.
    fn enqueue(
        &self,
        mut frame: BytesMut,
        notice: Notice,
        timeout: Duration,
    ) -> Result<(i32, Instant)> {
        let mut st = self.shared.lock();
        if let Some(err) = &st.poisoned {
            return Err(err.clone());
        }
        let id = st.next_id;
        st.next_id = st.next_id.wrapping_add(1) & i32::MAX;
        frame::set_correlation_id(&mut frame, id);
        st.waiters.insert(
            id,
            Waiter {
                notice,
                timeout,
                deadline: None,
            },
        );
        st.backlog.push_back(Queued {
            id,
            frame: frame.freeze(),
        });
        st.admit(self.shared.limit);
        let check_at = match st.waiters.get(&id) {
            Some(Waiter {
                deadline: Some(deadline),
                ..
            }) => *deadline,
            Some(_) => Instant::now() + timeout,
            None => {
                drop(st);
                return Err(self.gone());
            }
        };
        drop(st);
        let used = self.shared.created.elapsed().as_millis() as u64;
        self.shared.last_used_ms.store(used, Ordering::Relaxed);
        Ok((id, check_at))
    }

    fn gone(&self) -> Error {
        self.shared.gone()
    }
}

/// A request without a response, queued on a connection: [`WriteNotice::wait`] returns once
/// it is on the socket.
pub struct WriteNotice {
    queued: Result<(i32, Instant, oneshot::Receiver<()>)>,
    shared: Arc<Shared>,
    api: &'static str,
}

impl WriteNotice {
    pub async fn wait(self) -> Result<()> {
        let (id, check_at, rx) = self.queued?;
        wait_for(&self.shared, id, rx, check_at, self.api).await
    }
}

/// A request queued on a connection (its place in the connection's order is fixed), waiting
/// for its response of type `T`. Owns nothing of the request, so it can outlive it.
pub struct PendingResponse<T> {
    rx: oneshot::Receiver<Reply>,
    id: i32,
    check_at: Instant,
    version: i16,
    shared: Arc<Shared>,
    api: &'static str,
    decode: fn(&mut Reader, i16) -> DecodeResult<T>,
    /// Set while the client's diagnostics want request records.
    timer: Option<RequestTimer>,
    error_code: fn(&T) -> i16,
}

impl<T> PendingResponse<T> {
    /// Waits for the response (see [`wait_for`] for when it gives up).
    pub async fn response(mut self) -> Result<T> {
        let timer = self.timer.take();
        let body = wait_for(&self.shared, self.id, self.rx, self.check_at, self.api).await;
        let size = match &body {
            Ok(Ok(body)) => body.len(),
            _ => 0,
        };
        let result = body.and_then(|body| {
            let mut r = Reader::new(body?);
            Ok((self.decode)(&mut r, self.version)?)
        });
        if let Some(timer) = timer {
            match &result {
                Ok(response) => timer.finish(size, (self.error_code)(response), None),
                Err(e) => timer.finish(size, 0, Some(e.to_string())),
            }
        }
        result
    }
}

/// Waits for request `id`'s notice on `rx`; gives up (poisoning the connection) when it, or a
/// request in flight ahead of it, is overdue.
async fn wait_for<T>(
    shared: &Shared,
    id: i32,
    mut rx: oneshot::Receiver<T>,
    mut check_at: Instant,
    api: &'static str,
) -> Result<T> {
    loop {
        match tokio::time::timeout_at(check_at.into(), &mut rx).await {
            Ok(Ok(value)) => return Ok(value),
            // The notice was dropped: the connection failed before the request was settled.
            Ok(Err(_)) => return Err(shared.gone()),
            Err(_) => {
                let overdue = shared.lock().check_overdue(id, Instant::now());
                match overdue {
                    Overdue::No(at) => check_at = at,
                    Overdue::Yes(timeout) => return Err(shared.timed_out(api, timeout)),
                }
            }
        }
    }
}

/// `_registration` (here and in [`write_loop`]) keeps the socket recorded for fork (see
/// [`super::sockets`]) while either half is open.
async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    shared: Arc<Shared>,
    _registration: Arc<SocketRegistration>,
) {
    let err = loop {
        let frame = match frames.read_frame().await {
            Ok(Some(f)) => f,
            Ok(None) => {
                break Error::Connection {
                    broker: shared.broker.clone(),
                    message: "connection closed by the broker".into(),
                }
            }
            Err(e) => break shared.stream_error(&e),
        };
        let (id, mut body) = match frame::split_response(frame) {
            Ok(x) => x,
            Err(e) => break e.into(),
        };
        let waiter = shared.lock().settle(id, shared.limit);
        let Some(Waiter {
            notice: Notice::Response { tx, tagged_header },
            ..
        }) = waiter
        else {
            break Error::Connection {
                broker: shared.broker.clone(),
                message: format!("response with unknown correlation id {id}"),
            };
        };
        let reply = if tagged_header {
            body.skip_tagged_fields().map(|_| body.into_rest())
        } else {
            Ok(body.into_rest())
        };
        // The waiter may have given up (timeout, interrupt); its response is dropped.
        let _ = tx.send(reply.map_err(Error::from));
    };
    shared.poison(err);
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut socket: W,
    mut frames: mpsc::Receiver<Outgoing>,
    shared: Arc<Shared>,
    _registration: Arc<SocketRegistration>,
) {
    while let Some(out) = frames.recv().await {
        // A stream that buffers (TLS: records not yet on the socket) is flushed after every
        // frame, so "written" means handed to the kernel; on plain TCP the flush does nothing.
        let written = match socket.write_all(&out.frame).await {
            Ok(()) => socket.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            shared.poison(shared.stream_error(&e));
            return;
        }
        if out.settle_when_written {
            let waiter = shared.lock().settle(out.id, shared.limit);
            if let Some(Waiter {
                notice: Notice::Written(tx),
                ..
            }) = waiter
            {
                let _ = tx.send(());
            }
        }
    }
    let _ = socket.shutdown().await;
}

#[cfg(test)]
mod tests {
    //! The connection against a byte-level peer (not a fake broker: it reads request frames,
    //! reports their correlation ids, and answers only when told), to check framing, matching,
    //! the in-flight limit, the order of writes, timeouts and poisoning. Each test runs over a
    //! loopback TCP socket and over an in-memory pipe (`tokio::io::duplex`, whose small buffer
    //! splits frames into many partial reads and writes): the messenger must not care which.

    use tokio::io::{AsyncReadExt, DuplexStream};
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::protocol::messages::api_versions::{
        ApiVersionEntry, ApiVersionsRequest, ApiVersionsResponse,
    };

    /// What carries the bytes between the connection and the peer.
    #[derive(Debug, Clone, Copy)]
    enum Pipe {
        Tcp,
        /// `tokio::io::duplex` with this many bytes of buffer each way.
        Memory(usize),
    }

    const PIPES: [Pipe; 2] = [Pipe::Tcp, Pipe::Memory(64)];

    struct Peer {
        ids: mpsc::UnboundedReceiver<i32>,
        out: Box<dyn AsyncWrite + Unpin + Send>,
    }

    impl Peer {
        async fn next_id(&mut self) -> i32 {
            self.ids.recv().await.expect("the connection closed")
        }

        /// Answers request `id` with an ApiVersions v0 response whose first entry's key is `id`,
        /// so each caller can tell it got its own answer, followed by `padding` more entries.
        fn response(id: i32, padding: usize) -> Vec<u8> {
            let entries = 1 + padding;
            let mut frame = Vec::new();
            let size = 4 + 2 + 4 + 6 * entries;
            frame.extend_from_slice(&(size as i32).to_be_bytes());
            frame.extend_from_slice(&id.to_be_bytes());
            frame.extend_from_slice(&0i16.to_be_bytes());
            frame.extend_from_slice(&(entries as i32).to_be_bytes());
            frame.extend_from_slice(&(id as i16).to_be_bytes());
            frame.extend_from_slice(&[0, 0, 0, 0]);
            for _ in 0..padding {
                frame.extend_from_slice(&[0x7f, 0x7f, 0, 0, 0, 0]);
            }
            frame
        }

        async fn answer(&mut self, id: i32) {
            self.out.write_all(&Self::response(id, 0)).await.unwrap();
        }

        /// Ends the stream towards the connection (a broker closing the connection).
        async fn hang_up(mut self) {
            self.out.shutdown().await.unwrap();
        }
    }

    /// Reads request frames and reports their correlation ids, until the stream ends.
    async fn read_requests(mut read: impl AsyncRead + Unpin, ids: mpsc::UnboundedSender<i32>) {
        while let Ok(size) = read.read_i32().await {
            let mut frame = vec![0; size as usize];
            if read.read_exact(&mut frame).await.is_err() {
                return;
            }
            // After the api key and version.
            let id = i32::from_be_bytes(frame[4..8].try_into().unwrap());
            if ids.send(id).is_err() {
                return;
            }
        }
    }

    fn config(max_in_flight: usize, request_timeout: Duration) -> ConnectionConfig {
        ConnectionConfig {
            max_in_flight,
            request_timeout,
            ..ConnectionConfig::default()
        }
    }

    fn test_versions(conn: &BrokerConnection) {
        let table = ApiVersionTable::from_response(&ApiVersionsResponse {
            error_code: 0,
            api_keys: vec![ApiVersionEntry {
                api_key: 18,
                min_version: 0,
                max_version: 0,
            }],
            throttle_time_ms: 0,
        });
        conn.versions.set(table).unwrap();
    }

    async fn connected(
        pipe: Pipe,
        max_in_flight: usize,
        request_timeout: Duration,
    ) -> (Arc<BrokerConnection>, Peer) {
        connected_with(pipe, config(max_in_flight, request_timeout)).await
    }

    async fn connected_with(pipe: Pipe, config: ConnectionConfig) -> (Arc<BrokerConnection>, Peer) {
        let config = Arc::new(config);
        let (tx, ids) = mpsc::unbounded_channel();
        let (conn, out): (_, Box<dyn AsyncWrite + Unpin + Send>) = match pipe {
            Pipe::Tcp => {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = BrokerAddr {
                    host: "127.0.0.1".into(),
                    port: listener.local_addr().unwrap().port(),
                };
                let (client, server) =
                    tokio::join!(transport::connect(&addr, &config), listener.accept());
                let (stream, registration) = client.unwrap();
                let conn = BrokerConnection::start(&addr, config, stream, registration);
                let (read, out) = server.unwrap().0.into_split();
                tokio::spawn(read_requests(read, tx));
                (conn, Box::new(out))
            }
            Pipe::Memory(buffer) => {
                let addr = BrokerAddr {
                    host: "memory".into(),
                    port: 1,
                };
                let (client, server) = tokio::io::duplex(buffer);
                let (read_half, write_half) = tokio::io::split(client);
                let conn = BrokerConnection::start_on(
                    &addr,
                    config,
                    read_half,
                    write_half,
                    SocketRegistration::unregistered(),
                    None,
                );
                let (read, out) = tokio::io::split::<DuplexStream>(server);
                tokio::spawn(read_requests(read, tx));
                (conn, Box::new(out))
            }
        };
        test_versions(&conn);
        (conn, Peer { ids, out })
    }

    fn pending(in_flight: usize, waiting: usize) -> PendingRequests {
        PendingRequests { in_flight, waiting }
    }

    async fn wait_until(mut done: impl FnMut() -> bool) {
        for _ in 0..10_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("condition not reached");
    }

    /// Starts a request on its own task and returns once it is enqueued, so that requests are
    /// made in a known order. The task returns the key of the answer's entry (the answered id).
    async fn start_request(conn: &Arc<BrokerConnection>) -> JoinHandle<Result<i16>> {
        let count = |c: &BrokerConnection| c.pending().in_flight + c.pending().waiting;
        let before = count(conn);
        let c = conn.clone();
        let task = tokio::spawn(async move {
            let resp = c
                .request_at(&ApiVersionsRequest::default(), 0, Duration::ZERO)
                .await?;
            Ok(resp.api_keys[0].api_key)
        });
        wait_until(|| count(conn) > before).await;
        task
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_wait_for_room_and_are_written_in_order() {
        for pipe in PIPES {
            let (conn, mut peer) = connected(pipe, 3, Duration::from_secs(30)).await;
            let mut tasks = Vec::new();
            for _ in 0..6 {
                tasks.push(start_request(&conn).await);
            }
            assert_eq!(conn.pending(), pending(3, 3), "{pipe:?}");
            for expected in 0..3 {
                assert_eq!(peer.next_id().await, expected);
            }
            assert!(
                peer.ids.try_recv().is_err(),
                "{pipe:?}: a 4th frame before any answer"
            );
            // Answers out of order (matching is by id); each frees room for the next in line.
            peer.answer(1).await;
            assert_eq!(peer.next_id().await, 3);
            peer.answer(0).await;
            assert_eq!(peer.next_id().await, 4);
            peer.answer(2).await;
            assert_eq!(peer.next_id().await, 5);
            assert_eq!(conn.pending(), pending(3, 0));
            // The rest in reverse order.
            for id in (3..6).rev() {
                peer.answer(id).await;
            }
            for (i, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap().unwrap(), i as i16, "{pipe:?}");
            }
            assert_eq!(conn.pending(), pending(0, 0));
            assert!(conn.idle_for().is_some());
        }
    }

    #[tokio::test]
    async fn a_request_abandoned_while_waiting_for_room_is_never_written() {
        for pipe in PIPES {
            let (conn, mut peer) = connected(pipe, 1, Duration::from_secs(30)).await;
            let first = start_request(&conn).await;
            let abandoned = start_request(&conn).await;
            let third = start_request(&conn).await;
            abandoned.abort();
            assert!(abandoned.await.unwrap_err().is_cancelled());
            assert_eq!(peer.next_id().await, 0);
            peer.answer(0).await;
            assert_eq!(
                peer.next_id().await,
                2,
                "{pipe:?}: the abandoned request 1 was skipped"
            );
            peer.answer(2).await;
            assert_eq!(first.await.unwrap().unwrap(), 0);
            assert_eq!(third.await.unwrap().unwrap(), 2);
            assert_eq!(conn.pending(), pending(0, 0));
        }
    }

    #[tokio::test]
    async fn a_request_without_response_waits_for_room_and_frees_it_once_written() {
        for pipe in PIPES {
            let (conn, mut peer) = connected(pipe, 1, Duration::from_secs(30)).await;
            let first = start_request(&conn).await;
            let c = conn.clone();
            let unanswered = tokio::spawn(async move {
                c.send_without_response(&ApiVersionsRequest::default())
                    .await
            });
            wait_until(|| conn.pending() == pending(1, 1)).await;
            assert_eq!(peer.next_id().await, 0);
            assert!(!unanswered.is_finished());
            peer.answer(0).await;
            assert_eq!(peer.next_id().await, 1);
            unanswered.await.unwrap().unwrap();
            assert_eq!(
                conn.pending(),
                pending(0, 0),
                "{pipe:?}: its room is free once written"
            );
            let next = start_request(&conn).await;
            assert_eq!(conn.pending(), pending(1, 0));
            assert_eq!(peer.next_id().await, 2);
            peer.answer(2).await;
            assert_eq!(first.await.unwrap().unwrap(), 0);
            assert_eq!(next.await.unwrap().unwrap(), 2);
        }
    }

    #[tokio::test]
    async fn an_overdue_request_in_flight_fails_the_requests_waiting_behind_it() {
        for pipe in PIPES {
            let (conn, mut peer) = connected(pipe, 1, Duration::from_millis(100)).await;
            // Its caller gives up once it is written; the peer never answers it.
            let stuck = start_request(&conn).await;
            assert_eq!(peer.next_id().await, 0);
            stuck.abort();
            let waiting = start_request(&conn).await;
            let outcome = tokio::time::timeout(Duration::from_secs(10), waiting)
                .await
                .expect("the waiting request hung");
            let err = outcome.unwrap().unwrap_err();
            assert!(matches!(err, Error::Timeout { .. }), "{pipe:?}: {err}");
            assert!(!conn.is_alive());
            assert_eq!(conn.pending(), pending(0, 0));
        }
    }

    /// A stream that ends poisons the connection, whether the broker closed it between frames
    /// or it broke mid-frame (half a response, then the end): the answered request keeps its
    /// answer; the request whose answer was cut, the others in flight and those waiting for
    /// room all get the same connection error, and later requests fail at once without being
    /// written.
    #[tokio::test]
    async fn a_stream_that_ends_poisons_every_waiter() {
        for mid_frame in [false, true] {
            for pipe in PIPES {
                let case = format!("{pipe:?}, mid-frame: {mid_frame}");
                let (conn, mut peer) = connected(pipe, 2, Duration::from_secs(30)).await;
                let mut tasks = Vec::new();
                for _ in 0..4 {
                    tasks.push(start_request(&conn).await);
                }
                assert_eq!(peer.next_id().await, 0);
                assert_eq!(peer.next_id().await, 1);
                peer.answer(1).await;
                assert_eq!(peer.next_id().await, 2);
                if mid_frame {
                    let response = Peer::response(0, 20);
                    peer.out
                        .write_all(&response[..response.len() / 2])
                        .await
                        .unwrap();
                }
                peer.hang_up().await;
                let outcomes: Vec<_> = futures_join(tasks).await;
                assert_eq!(*outcomes[1].as_ref().unwrap(), 1, "{case}: answered first");
                let errors: Vec<&Error> = [0, 2, 3]
                    .iter()
                    .map(|&i| outcomes[i].as_ref().unwrap_err())
                    .collect();
                assert!(
                    matches!(errors[0], Error::Connection { .. }),
                    "{case}: {}",
                    errors[0]
                );
                let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                assert!(
                    shown.iter().all(|e| *e == shown[0]),
                    "{case}: one poison for all: {shown:?}"
                );
                assert!(!conn.is_alive(), "{case}");
                assert_eq!(conn.pending(), pending(0, 0), "{case}");
                let err = conn
                    .request_at(&ApiVersionsRequest::default(), 0, Duration::ZERO)
                    .await
                    .unwrap_err();
                assert_eq!(err.to_string(), shown[0], "{case}");
            }
        }
    }

    /// A response nobody asked for means the stream is out of step: every waiter fails.
    #[tokio::test]
    async fn a_response_with_an_unknown_correlation_id_poisons_every_waiter() {
        for pipe in PIPES {
            let (conn, mut peer) = connected(pipe, 2, Duration::from_secs(30)).await;
            let first = start_request(&conn).await;
            let second = start_request(&conn).await;
            assert_eq!(peer.next_id().await, 0);
            assert_eq!(peer.next_id().await, 1);
            peer.answer(77).await;
            for task in [first, second] {
                let err = task.await.unwrap().unwrap_err();
                assert!(
                    err.to_string().contains("unknown correlation id 77"),
                    "{pipe:?}: {err}"
                );
            }
            assert!(!conn.is_alive());
        }
    }

    /// Frames far larger than the pipe's buffer go through in pieces both ways, whole and in
    /// order: a 20 KB request (its client id) and 60 KB responses through a 64-byte pipe.
    #[tokio::test]
    async fn frames_larger_than_the_pipe_go_through_in_pieces() {
        let client_id = "c".repeat(20_000);
        let config = ConnectionConfig {
            client_id: client_id.clone(),
            ..config(2, Duration::from_secs(30))
        };
        let (conn, mut peer) = connected_with(Pipe::Memory(64), config).await;
        let tasks = [start_request(&conn).await, start_request(&conn).await];
        assert_eq!(peer.next_id().await, 0);
        assert_eq!(peer.next_id().await, 1);
        for id in [1, 0] {
            peer.out
                .write_all(&Peer::response(id, 10_000))
                .await
                .unwrap();
        }
        let [a, b] = tasks;
        assert_eq!(a.await.unwrap().unwrap(), 0);
        assert_eq!(b.await.unwrap().unwrap(), 1);
        assert!(conn.is_alive());
    }

    async fn futures_join<T: Send + 'static>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_requests_all_complete_within_the_limit() {
        const LIMIT: usize = 5;
        const REQUESTS: usize = 300;
        for pipe in PIPES {
            let (conn, mut peer) = connected(pipe, LIMIT, Duration::from_secs(30)).await;
            // Answers whatever it has read, in batches; the largest batch is a lower bound of how
            // many requests the connection had on the wire at once.
            let answering = tokio::spawn(async move {
                let (mut answered, mut largest) = (0, 0);
                while answered < REQUESTS {
                    let mut batch = vec![peer.next_id().await];
                    tokio::task::yield_now().await;
                    while let Ok(id) = peer.ids.try_recv() {
                        batch.push(id);
                    }
                    largest = largest.max(batch.len());
                    // Answered in reverse: matching is by correlation id.
                    for id in batch.iter().rev() {
                        peer.answer(*id).await;
                    }
                    answered += batch.len();
                }
                largest
            });
            let tasks: Vec<_> = (0..REQUESTS)
                .map(|_| {
                    let c = conn.clone();
                    tokio::spawn(async move {
                        c.request_at(&ApiVersionsRequest::default(), 0, Duration::ZERO)
                            .await
                            .map(|r| r.api_keys[0].api_key)
                    })
                })
                .collect();
            let mut answered_ids = Vec::new();
            for task in tasks {
                answered_ids.push(task.await.unwrap().unwrap());
            }
            answered_ids.sort_unstable();
            let expected: Vec<i16> = (0..REQUESTS as i16).collect();
            assert_eq!(
                answered_ids, expected,
                "{pipe:?}: each caller got its own answer"
            );
            let largest = answering.await.unwrap();
            assert!(
                largest <= LIMIT,
                "{pipe:?}: {largest} requests on the wire at once"
            );
            assert_eq!(conn.pending(), pending(0, 0));
        }
    }
}
