//! Opening the byte stream to a broker: TCP with a connect timeout and `TCP_NODELAY`. TLS (and
//! SASL, which runs over the stream before the client uses it) will wrap the stream here, so the
//! messenger stays agnostic of what carries its bytes: it splits a [`Stream`] into a read half
//! and a write half and runs the same reader and writer tasks over any pair of halves.
//!
//! Every socket is created through [`sockets::open_registered`], so a forked child can let go of
//! it (see [`super::sockets`]).

use std::io;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use super::sockets::{self, SocketRegistration};
use super::BrokerAddr;
use crate::error::{Error, Result};

/// The stream a connection talks over.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
}

/// Connects to `addr` (each resolved address in turn, as `TcpStream::connect` does). The
/// registration must live as long as the stream.
pub async fn connect(addr: &BrokerAddr, timeout: Duration) -> Result<(Stream, SocketRegistration)> {
    let failed = |message: String| Error::Connection {
        broker: addr.to_string(),
        message,
    };
    let (stream, registration) = match tokio::time::timeout(timeout, connect_any(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Err(_) => {
            return Err(failed(format!(
                "connect timed out after {} ms",
                timeout.as_millis()
            )))
        }
    };
    stream
        .set_nodelay(true)
        .map_err(|e| failed(e.to_string()))?;
    Ok((Stream::Plain(stream), registration))
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
