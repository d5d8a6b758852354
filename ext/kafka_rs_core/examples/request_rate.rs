//! Micro-benchmark of one broker connection: how fast small requests go through the messenger
//! (writer task, reader task, correlation map, in-flight limit).
//!
//! ```sh
//! cargo run --release -p kafka_rs_core --example request_rate            # a real broker
//! BENCH_PEER=echo cargo run --release -p kafka_rs_core --example request_rate
//! BENCH_PEER=echo-tls cargo run --release -p kafka_rs_core --example request_rate
//! KAFKA_BROKERS=127.0.0.1:9092 BENCH_ROUNDS=5 BENCH_REQUESTS=50000 cargo run ...
//! ```
//!
//! `BENCH_PEER=echo` talks to an in-process loopback peer that answers every request at once
//! with a fixed ApiVersions v0 response (no broker work: the client's own cost dominates);
//! `BENCH_PEER=echo-tls` to the same peer over TLS 1.3 (a throwaway certificate for localhost);
//! otherwise to the broker at `KAFKA_BROKERS`; with a `kafka+ssl://` address over TLS, with the CA,
//! client certificate and key from the PEM files `BENCH_TLS_CA`, `BENCH_TLS_CERT`,
//! `BENCH_TLS_KEY` (the secure broker's `ca.pem`, `client.pem`, `client.key`).
//!
//! Two loads, each repeated `BENCH_ROUNDS` times (the median is printed):
//!
//! * **sequential**: one request at a time (ApiVersions), `BENCH_SEQUENTIAL` of them: the round
//!   trip through both tasks and the peer, in µs per request;
//! * **pipelined**: `BENCH_REQUESTS` requests (brokers-only Metadata; ApiVersions with the echo
//!   peer) from `BENCH_TASKS` concurrent tasks on one connection (5 in flight at once): requests
//!   per second.
//!
//! Prints one JSON line at the end, for scripts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_rs_core::connection::{BrokerAddr, BrokerConnection, ConnectionConfig};
use kafka_rs_core::protocol::messages::api_versions::ApiVersionsRequest;
use kafka_rs_core::protocol::messages::metadata::MetadataRequest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A TLS acceptor with a throwaway self-signed certificate for localhost, and the client
/// configuration that trusts it.
fn throwaway_tls() -> (
    tokio_rustls::TlsAcceptor,
    kafka_rs_core::connection::tls::TlsConfig,
) {
    use kafka_rs_core::connection::tls::{TlsConfig, TlsOptions};
    use rustls_pki_types::pem::PemObject;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let client = TlsConfig::new(&TlsOptions {
        ca_certs: vec![cert.pem()],
        ..TlsOptions::default()
    })
    .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(server)), client)
}

/// Answers each request frame with an ApiVersions v0 response (one entry: ApiVersions 0..=0)
/// carrying its correlation id; to a request above v0 (the connection's handshake) with
/// UNSUPPORTED_VERSION, so the client falls back to v0.
async fn echo_peer(listener: tokio::net::TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
    while let Ok((stream, _)) = listener.accept().await {
        stream.set_nodelay(true).unwrap();
        let tls = tls.clone();
        tokio::spawn(async move {
            let stream: Box<dyn Stream> = match tls {
                Some(acceptor) => Box::new(acceptor.accept(stream).await.unwrap()),
                None => Box::new(stream),
            };
            let (read, mut write) = tokio::io::split(stream);
            let mut read = tokio::io::BufReader::new(read);
            let mut frame = Vec::new();
            loop {
                let Ok(size) = read.read_i32().await else {
                    return;
                };
                frame.resize(size as usize, 0);
                if read.read_exact(&mut frame).await.is_err() {
                    return;
                }
                let mut out = Vec::with_capacity(20);
                out.extend_from_slice(&16i32.to_be_bytes());
                out.extend_from_slice(&frame[4..8]); // correlation id
                let error: u8 = if frame[2..4] == [0, 0] { 0 } else { 35 };
                out.extend_from_slice(&[0, error, 0, 0, 0, 1, 0, 18, 0, 0, 0, 0]);
                if write.write_all(&out).await.is_err() || write.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let peer = std::env::var("BENCH_PEER").unwrap_or_default();
    let echo = peer.starts_with("echo");
    let mut tls = None;
    let addr = if echo {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = (peer == "echo-tls").then(|| {
            let (acceptor, client) = throwaway_tls();
            tls = Some(client);
            acceptor
        });
        tokio::spawn(echo_peer(listener, acceptor));
        BrokerAddr::parse(&format!("localhost:{port}")).unwrap()
    } else {
        let broker = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
        let (addrs, use_tls) =
            BrokerAddr::parse_seeds(&[broker.split(',').next().unwrap()]).expect("KAFKA_BROKERS");
        if use_tls {
            use kafka_rs_core::connection::tls::{Secret, TlsConfig, TlsOptions};
            let read = |var: &str| {
                std::env::var(var)
                    .ok()
                    .map(|path| std::fs::read_to_string(path).expect(var))
            };
            tls = Some(
                TlsConfig::new(&TlsOptions {
                    ca_certs: read("BENCH_TLS_CA").into_iter().collect(),
                    client_cert: read("BENCH_TLS_CERT"),
                    client_key: read("BENCH_TLS_KEY").map(Secret::new),
                    ..TlsOptions::default()
                })
                .expect("TLS configuration"),
            );
        }
        addrs.into_iter().next().unwrap()
    };
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let sequential = env_usize("BENCH_SEQUENTIAL", 5_000);
    let requests = env_usize("BENCH_REQUESTS", 50_000);
    let tasks = env_usize("BENCH_TASKS", 32);
    let config = Arc::new(ConnectionConfig {
        request_timeout: Duration::from_secs(30),
        tls,
        ..ConnectionConfig::default()
    });
    let conn = BrokerConnection::connect(&addr, config)
        .await
        .expect("connect");

    let mut sequential_us = Vec::new();
    let mut pipelined_rps = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..sequential {
            conn.request(&ApiVersionsRequest::default())
                .await
                .expect("ApiVersions");
        }
        sequential_us.push(started.elapsed().as_secs_f64() * 1e6 / sequential as f64);

        let started = Instant::now();
        let per_task = requests / tasks;
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let conn = conn.clone();
                tokio::spawn(async move {
                    let req = MetadataRequest {
                        topics: Some(&[]),
                        allow_auto_topic_creation: false,
                    };
                    for _ in 0..per_task {
                        if echo {
                            conn.request(&ApiVersionsRequest::default())
                                .await
                                .expect("ApiVersions");
                        } else {
                            conn.request(&req).await.expect("Metadata");
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        pipelined_rps.push((per_task * tasks) as f64 / started.elapsed().as_secs_f64());
    }
    let seq = median(sequential_us.clone());
    let pip = median(pipelined_rps.clone());
    println!("sequential ApiVersions µs/request: {sequential_us:.1?} median {seq:.1}");
    println!("pipelined Metadata requests/s:     {pipelined_rps:.0?} median {pip:.0}");
    println!("{{\"sequential_us\":{seq:.2},\"pipelined_rps\":{pip:.0}}}");
}
