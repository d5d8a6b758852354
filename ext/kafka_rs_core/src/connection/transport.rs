//! Opening the byte stream to a broker: TCP with a connect timeout and `TCP_NODELAY`, then, when
//! the client uses TLS, the TLS handshake (under the same timeout). SASL runs over the stream
//! before the client uses it. The messenger stays agnostic of what carries its bytes: it splits a
//! [`Stream`] into a read half and a write half and runs the same reader and writer tasks over
//! any pair of halves.
//!
//! Every socket is created through [`sockets::open_registered`], so a forked child can let go of
//! it (see [`super::sockets`]). Under TLS the registration still belongs to the TCP socket inside
//! the TLS stream.

use std::io;

use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use super::sockets::{self, SocketRegistration};
use super::tls::{self, HandshakeFacts, TlsConfig};
use super::{BrokerAddr, ConnectionConfig};
use crate::error::{Error, Result};

/// The stream a connection talks over.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, with what its handshake showed (to classify a late refusal).
    Tls(Box<TlsStream<TcpStream>>, HandshakeFacts),
}

impl std::fmt::Debug for Stream {
    /// Names the kind only: a TLS session's state is nobody's business.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Plain(_) => f.write_str("Stream::Plain"),
            Stream::Tls(_, facts) => write!(f, "Stream::Tls({facts:?})"),
        }
    }
}

/// Connects to `addr` (each resolved address in turn, as `TcpStream::connect` does) and runs the
/// TLS handshake if `config` asks for TLS, all within `config.connect_timeout`. The registration
/// must live as long as the stream.
pub async fn connect(
    addr: &BrokerAddr,
    config: &ConnectionConfig,
) -> Result<(Stream, SocketRegistration)> {
    let timeout = config.connect_timeout;
    let failed = |message: String| Error::Connection {
        broker: addr.to_string(),
        message,
    };
    let opened = async {
        let (tcp, registration) = connect_any(addr).await.map_err(|e| failed(e.to_string()))?;
        tcp.set_nodelay(true).map_err(|e| failed(e.to_string()))?;
        let Some(tls) = &config.tls else {
            return Ok((Stream::Plain(tcp), registration));
        };
        let name = TlsConfig::server_name(&addr.to_string(), &addr.host)?;
        match tls.handshake(tcp, name).await {
            Ok((stream, facts)) => Ok((Stream::Tls(Box::new(stream), facts), registration)),
            Err((e, facts)) => Err(handshake_error(addr, &e, facts)),
        }
    };
    match tokio::time::timeout(timeout, opened).await {
        Ok(result) => result,
        Err(_) => Err(failed(format!(
            "connect timed out after {} ms{}",
            timeout.as_millis(),
            if config.tls.is_some() {
                " (TCP connect and TLS handshake)"
            } else {
                ""
            }
        ))),
    }
}

/// A failed handshake: a TLS error, or the broker closing (or resetting) the connection during
/// the handshake, which is what a listener without TLS does with a ClientHello: final too, so a
/// client pointed at the wrong port says so at once. Any other socket error stays a connection
/// error (retried).
fn handshake_error(addr: &BrokerAddr, e: &io::Error, facts: HandshakeFacts) -> Error {
    let broker = addr.to_string();
    if let Some(err) = tls::classify(e, &broker, facts) {
        return err;
    }
    if matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
    ) {
        return Error::Tls {
            broker: Some(broker),
            failure: tls::TlsFailure::Handshake,
            message: "the broker closed the connection during the TLS handshake \
                      (is this port a TLS listener?)"
                .into(),
        };
    }
    Error::Connection {
        broker,
        message: format!("TLS handshake: {e}"),
    }
}

async fn connect_any(addr: &BrokerAddr) -> io::Result<(TcpStream, SocketRegistration)> {
    let mut last_error = None;
    for target in tokio::net::lookup_host((addr.host.as_str(), addr.port)).await? {
        let (socket, registration) = sockets::open_registered(|| {
            if target.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
        })?;
        match socket.connect(target).await {
            Ok(stream) => return Ok((stream, registration)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}
