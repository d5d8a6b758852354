//! Opening the byte stream to a broker: TCP with a connect timeout and `TCP_NODELAY`. TLS (and
//! SASL, which runs over the stream before the client uses it) will wrap the stream here, so the
//! messenger stays agnostic of what carries its bytes.

use std::time::Duration;

use tokio::net::TcpStream;

use super::BrokerAddr;
use crate::error::{Error, Result};

/// The stream a connection talks over.
pub type Stream = TcpStream;

pub async fn connect(addr: &BrokerAddr, timeout: Duration) -> Result<Stream> {
    let target = (addr.host.as_str(), addr.port);
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(Error::Connection {
                broker: addr.to_string(),
                message: e.to_string(),
            })
        }
        Err(_) => {
            return Err(Error::Connection {
                broker: addr.to_string(),
                message: format!("connect timed out after {} ms", timeout.as_millis()),
            })
        }
    };
    stream.set_nodelay(true).map_err(|e| Error::Connection {
        broker: addr.to_string(),
        message: e.to_string(),
    })?;
    Ok(stream)
}
