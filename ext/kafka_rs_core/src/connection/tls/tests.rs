//! TLS against an in-process rustls server playing a broker (it answers ApiVersions, so a whole
//! connection set-up runs: TCP, TLS handshake, the first request). Certificates are made per
//! test with rcgen; key formats rcgen does not write (PKCS#1, SEC1, encrypted PKCS#8, OpenSSL's
//! legacy encryption) are converted with the `openssl` command, as an operator would make them.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::connection::{BrokerAddr, BrokerConnection, ConnectionConfig};
use crate::protocol::messages::api_versions::ApiVersionsRequest;

const PASSWORD: &str = "correct horse battery staple";

/// A certificate authority for one test.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// An intermediate CA signed by this one.
    fn intermediate(&self, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let pem = params.signed_by(&key, &self.issuer()).unwrap().pem();
        Ca { params, key, pem }
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// A leaf certificate for `names` with key `key` (PEM of the certificate).
    fn issue(
        &self,
        names: &[&str],
        key: &KeyPair,
        usage: ExtendedKeyUsagePurpose,
        tweak: impl FnOnce(&mut CertificateParams),
    ) -> String {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "kafka_rs test");
        params.extended_key_usages = vec![usage];
        tweak(&mut params);
        params.signed_by(key, &self.issuer()).unwrap().pem()
    }

    fn server_cert(&self, names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Identity {
        let key = KeyPair::generate().unwrap();
        let cert = self.issue(names, &key, ExtendedKeyUsagePurpose::ServerAuth, tweak);
        Identity {
            cert,
            key: key.serialize_pem(),
        }
    }

    fn client_cert_for(&self, key: &KeyPair) -> String {
        self.issue(&[], key, ExtendedKeyUsagePurpose::ClientAuth, |_| {})
    }
}

/// A certificate and its key, in PEM.
struct Identity {
    cert: String,
    key: String,
}

/// Runs `openssl args...` with `input` on stdin; its stdout.
fn openssl(args: &[&str], input: &str) -> String {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl command (Debian package openssl) is needed by these tests");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Version {
    Tls12,
    Tls13,
}

/// Which client certificates the broker wants.
enum ClientAuth<'a> {
    None,
    Required(&'a Ca),
}

/// A TLS listener on loopback answering every request with an ApiVersions v0 response (one
/// entry: ApiVersions 0..=0; a request above v0, the handshake's, gets UNSUPPORTED_VERSION so the
/// client falls back to v0).
async fn tls_broker(identity: &Identity, auth: ClientAuth<'_>, version: Version) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match version {
        Version::Tls12 => &[&rustls::version::TLS12],
        Version::Tls13 => &[&rustls::version::TLS13],
    };
    let verifier = match auth {
        ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::Required(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(
                CertificateDer::pem_slice_iter(ca.pem.as_bytes()).map(|c| c.unwrap()),
            );
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap()
        }
    };
    let chain = CertificateDer::pem_slice_iter(identity.cert.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut frame = Vec::new();
                loop {
                    let Ok(size) = stream.read_i32().await else {
                        return;
                    };
                    frame.resize(size as usize, 0);
                    if stream.read_exact(&mut frame).await.is_err() {
                        return;
                    }
                    let error: u8 = if frame[2..4] == [0, 0] { 0 } else { 35 };
                    let mut out = Vec::with_capacity(20);
                    out.extend_from_slice(&16i32.to_be_bytes());
                    out.extend_from_slice(&frame[4..8]);
                    out.extend_from_slice(&[0, error, 0, 0, 0, 1, 0, 18, 0, 0, 0, 0]);
                    if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn trusting(ca: &Ca) -> TlsOptions {
    TlsOptions {
        ca_certs: vec![ca.pem.clone()],
        ..TlsOptions::default()
    }
}

fn with_client(mut options: TlsOptions, cert: &str, key: &str) -> TlsOptions {
    options.client_cert = Some(cert.to_owned());
    options.client_key = Some(Secret::new(key));
    options
}

/// A whole connection set-up (TCP, TLS, ApiVersions handshake) and one more request.
async fn connect(host: &str, port: u16, options: &TlsOptions) -> Result<()> {
    let config = ConnectionConfig {
        tls: Some(TlsConfig::new(options)?),
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        ..ConnectionConfig::default()
    };
    let addr = BrokerAddr {
        host: host.into(),
        port,
    };
    let conn = BrokerConnection::connect(&addr, Arc::new(config)).await?;
    let response = conn.request(&ApiVersionsRequest::default()).await?;
    assert_eq!(response.api_keys[0].api_key, 18);
    Ok(())
}

/// The failure kind of a TLS error (panics on anything else), after checking its message
/// carries no secret.
fn failure_of(result: Result<()>) -> TlsFailure {
    match result {
        Err(err @ Error::Tls { failure, .. }) => {
            let message = err.to_string();
            assert!(!message.contains(PASSWORD), "{message}");
            assert!(!message.contains("-----BEGIN"), "{message}");
            assert!(!err.is_retriable() && err.is_final_for_connect());
            failure
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

fn message_of(result: Result<impl fmt::Debug>) -> String {
    result.unwrap_err().to_string()
}

#[tokio::test]
async fn a_broker_certificate_from_the_given_ca_is_trusted_by_name_and_by_ip() {
    let ca = Ca::new("test CA");
    let broker = ca.server_cert(&["localhost", "127.0.0.1"], |_| {});
    for version in [Version::Tls12, Version::Tls13] {
        let port = tls_broker(&broker, ClientAuth::None, version).await;
        connect("localhost", port, &trusting(&ca)).await.unwrap();
        connect("127.0.0.1", port, &trusting(&ca)).await.unwrap();
    }
}

#[tokio::test]
async fn ca_certificates_come_from_several_strings_a_bundle_or_a_file() {
    let ca = Ca::new("test CA");
    let other = Ca::new("other CA");
    let broker = ca.server_cert(&["localhost"], |_| {});
    let port = tls_broker(&broker, ClientAuth::None, Version::Tls13).await;
    let several = TlsOptions {
        ca_certs: vec![other.pem.clone(), ca.pem.clone()],
        ..TlsOptions::default()
    };
    connect("localhost", port, &several).await.unwrap();
    let bundle = TlsOptions {
        ca_certs: vec![format!("{}\n{}", other.pem, ca.pem)],
        ..TlsOptions::default()
    };
    connect("localhost", port, &bundle).await.unwrap();
    let dir = std::env::temp_dir().join(format!("kafka_rs_tls_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ca.pem");
    std::fs::write(&file, &ca.pem).unwrap();
    let from_file = TlsOptions {
        ca_cert_file: Some(file.clone()),
        ..TlsOptions::default()
    };
    connect("localhost", port, &from_file).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = TlsOptions {
        ca_cert_file: Some(file),
        ..TlsOptions::default()
    };
    let err = message_of(TlsConfig::new(&missing));
    assert!(
        err.contains("ssl_ca_cert_file_path") && err.contains("cannot read"),
        "{err}"
    );
}

#[tokio::test]
async fn a_broker_certificate_from_another_ca_is_an_unknown_ca() {
    let ca = Ca::new("test CA");
    let broker = ca.server_cert(&["localhost"], |_| {});
    let port = tls_broker(&broker, ClientAuth::None, Version::Tls13).await;
    let result = connect("localhost", port, &trusting(&Ca::new("other CA"))).await;
    let message = result.clone().unwrap_err().to_string();
    assert_eq!(failure_of(result), TlsFailure::UnknownCa);
    assert!(
        message.starts_with(&format!("TLS with localhost:{port} failed: "))
            && message.contains("not signed by a trusted CA"),
        "{message}"
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_broker_certificates_are_refused() {
    let ca = Ca::new("test CA");
    let expired = ca.server_cert(&["localhost"], |p| {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    });
    let port = tls_broker(&expired, ClientAuth::None, Version::Tls13).await;
    let result = connect("localhost", port, &trusting(&ca)).await;
    assert_eq!(failure_of(result), TlsFailure::CertificateExpired);

    let future = ca.server_cert(&["localhost"], |p| {
        p.not_before = rcgen::date_time_ymd(2990, 1, 1);
        p.not_after = rcgen::date_time_ymd(2991, 1, 1);
    });
    let port = tls_broker(&future, ClientAuth::None, Version::Tls12).await;
    let result = connect("localhost", port, &trusting(&ca)).await;
    assert_eq!(failure_of(result), TlsFailure::CertificateNotYetValid);
}

#[tokio::test]
async fn the_hostname_is_checked_unless_verify_hostname_is_off_which_still_checks_the_chain() {
    let ca = Ca::new("test CA");
    let broker = ca.server_cert(&["kafka.example.com"], |_| {});
    let port = tls_broker(&broker, ClientAuth::None, Version::Tls13).await;
    let result = connect("localhost", port, &trusting(&ca)).await;
    let message = result.clone().unwrap_err().to_string();
    assert_eq!(failure_of(result), TlsFailure::HostnameMismatch);
    assert!(
        message.contains("kafka.example.com") && message.contains("ssl_verify_hostname"),
        "{message}"
    );
    // The IP address is checked against IP SANs: there are none.
    let result = connect("127.0.0.1", port, &trusting(&ca)).await;
    assert_eq!(failure_of(result), TlsFailure::HostnameMismatch);

    let no_name_check = TlsOptions {
        verify_hostname: false,
        ..trusting(&ca)
    };
    connect("localhost", port, &no_name_check).await.unwrap();
    connect("127.0.0.1", port, &no_name_check).await.unwrap();
    let untrusted = TlsOptions {
        verify_hostname: false,
        ..trusting(&Ca::new("other CA"))
    };
    let result = connect("localhost", port, &untrusted).await;
    assert_eq!(failure_of(result), TlsFailure::UnknownCa);
    let expired = ca.server_cert(&["kafka.example.com"], |p| {
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    });
    let port = tls_broker(&expired, ClientAuth::None, Version::Tls13).await;
    let expired_options = TlsOptions {
        verify_hostname: false,
        ..trusting(&ca)
    };
    let result = connect("localhost", port, &expired_options).await;
    assert_eq!(failure_of(result), TlsFailure::CertificateExpired);
}

/// TLS 1.2 refuses during the handshake; TLS 1.3 only after the client finished it (the alert
/// arrives on the first read): both are told apart from other failures the same way.
#[tokio::test]
async fn a_broker_requiring_a_client_certificate_says_so_when_none_is_given() {
    let ca = Ca::new("test CA");
    let broker = ca.server_cert(&["localhost"], |_| {});
    for version in [Version::Tls12, Version::Tls13] {
        let port = tls_broker(&broker, ClientAuth::Required(&ca), version).await;
        let result = connect("localhost", port, &trusting(&ca)).await;
        let message = result.clone().unwrap_err().to_string();
        assert_eq!(
            failure_of(result),
            TlsFailure::ClientCertificateRequired,
            "{version:?}: {message}"
        );
        assert!(message.contains("ssl_client_cert"), "{message}");
    }
}

#[tokio::test]
async fn a_client_certificate_the_broker_does_not_trust_is_rejected() {
    let ca = Ca::new("test CA");
    let other = Ca::new("other CA");
    let broker = ca.server_cert(&["localhost"], |_| {});
    let key = KeyPair::generate().unwrap();
    let cert = other.client_cert_for(&key);
    for version in [Version::Tls12, Version::Tls13] {
        let port = tls_broker(&broker, ClientAuth::Required(&ca), version).await;
        let options = with_client(trusting(&ca), &cert, &key.serialize_pem());
        let result = connect("localhost", port, &options).await;
        assert_eq!(
            failure_of(result),
            TlsFailure::ClientCertificateRejected,
            "{version:?}"
        );
    }
}

/// Every key format an operator may hold: PKCS#8 (EC, RSA), SEC1, PKCS#1, encrypted PKCS#8 (as
/// `openssl pkcs8 -topk8 -v2 aes-256-cbc` and OpenSSL 3's `pkey -aes256` write it, and with
/// scrypt), and a client certificate sent with its intermediate CA.
#[tokio::test]
async fn client_certificates_with_keys_in_every_supported_format_are_accepted() {
    let ca = Ca::new("test CA");
    let broker = ca.server_cert(&["localhost"], |_| {});
    let port = tls_broker(&broker, ClientAuth::Required(&ca), Version::Tls13).await;
    let port12 = tls_broker(&broker, ClientAuth::Required(&ca), Version::Tls12).await;

    let ec = KeyPair::generate().unwrap();
    let ec_cert = ca.client_cert_for(&ec);
    let ec_pkcs8 = ec.serialize_pem();
    let rsa_pkcs8 = openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        "",
    );
    let rsa = KeyPair::from_pem(&rsa_pkcs8).unwrap();
    let rsa_cert = ca.client_cert_for(&rsa);
    let pass = format!("pass:{PASSWORD}");
    let cases = [
        ("EC PKCS#8", &ec_cert, ec_pkcs8.clone(), None),
        ("EC SEC1", &ec_cert, openssl(&["ec"], &ec_pkcs8), None),
        ("RSA PKCS#8", &rsa_cert, rsa_pkcs8.clone(), None),
        (
            "RSA PKCS#1",
            &rsa_cert,
            openssl(&["rsa", "-traditional"], &rsa_pkcs8),
            None,
        ),
        (
            "encrypted PKCS#8 aes-256-cbc",
            &rsa_cert,
            openssl(
                &["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", &pass],
                &rsa_pkcs8,
            ),
            Some(PASSWORD),
        ),
        (
            "encrypted PKCS#8 pkey -aes256",
            &ec_cert,
            openssl(&["pkey", "-aes256", "-passout", &pass], &ec_pkcs8),
            Some(PASSWORD),
        ),
        (
            "encrypted PKCS#8 scrypt",
            &ec_cert,
            openssl(
                &["pkcs8", "-topk8", "-scrypt", "-passout", &pass],
                &ec_pkcs8,
            ),
            Some(PASSWORD),
        ),
    ];
    for (what, cert, key, password) in cases {
        let mut options = with_client(trusting(&ca), cert, &key);
        options.client_key_password = password.map(Secret::new);
        connect("localhost", port, &options)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        connect("localhost", port12, &options)
            .await
            .unwrap_or_else(|e| panic!("{what} (TLS 1.2): {e}"));
    }

    // A certificate from an intermediate CA, which the broker does not know: sent in the chain.
    let intermediate = ca.intermediate("intermediate CA");
    let key = KeyPair::generate().unwrap();
    let cert = intermediate.client_cert_for(&key);
    let mut options = with_client(trusting(&ca), &cert, &key.serialize_pem());
    let result = connect("localhost", port, &options).await;
    assert_eq!(failure_of(result), TlsFailure::ClientCertificateRejected);
    options.client_cert_chain = Some(intermediate.pem.clone());
    connect("localhost", port, &options).await.unwrap();
    // Or in ssl_client_cert itself, after the certificate.
    let bundled = with_client(
        trusting(&ca),
        &format!("{cert}{}", intermediate.pem),
        &key.serialize_pem(),
    );
    connect("localhost", port, &bundled).await.unwrap();
}

#[test]
fn bad_key_material_fails_when_the_configuration_is_built() {
    let ca = Ca::new("test CA");
    let key = KeyPair::generate().unwrap();
    let cert = ca.client_cert_for(&key);
    let key_pem = key.serialize_pem();
    let pass = format!("pass:{PASSWORD}");
    let encrypted = openssl(
        &["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", &pass],
        &key_pem,
    );
    let build = |cert: &str, key: &str, password: Option<&str>| {
        let mut options = with_client(trusting(&ca), cert, key);
        options.client_key_password = password.map(Secret::new);
        TlsConfig::new(&options).map(|_| ())
    };
    let failure = |result: Result<()>| {
        let message = result.clone().unwrap_err().to_string();
        assert!(message.starts_with("TLS configuration: "), "{message}");
        (failure_of(result), message)
    };

    let other_key = KeyPair::generate().unwrap().serialize_pem();
    let (kind, message) = failure(build(&cert, &other_key, None));
    assert_eq!(kind, TlsFailure::KeyMismatch);
    assert!(
        message.contains("is not the private key of ssl_client_cert"),
        "{message}"
    );

    let (kind, message) = failure(build(&cert, &encrypted, Some("wrong password")));
    assert_eq!(kind, TlsFailure::WrongKeyPassword);
    assert!(!message.contains("wrong password"), "{message}");
    let (kind, _) = failure(build(&cert, &encrypted, None));
    assert_eq!(kind, TlsFailure::KeyPasswordMissing);
    // The right password for a key that does not match is a mismatch.
    let other_encrypted = openssl(
        &["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", &pass],
        &other_key,
    );
    let (kind, _) = failure(build(&cert, &other_encrypted, Some(PASSWORD)));
    assert_eq!(kind, TlsFailure::KeyMismatch);
    // A password for a key that is not encrypted is not needed, and harmless.
    build(&cert, &key_pem, Some(PASSWORD)).unwrap();
    build(&cert, &encrypted, Some(PASSWORD)).unwrap();

    let legacy = openssl(&["ec", "-aes256", "-passout", &pass], &key_pem);
    assert!(legacy.contains("Proc-Type: 4,ENCRYPTED"), "{legacy}");
    let (kind, message) = failure(build(&cert, &legacy, Some(PASSWORD)));
    assert_eq!(kind, TlsFailure::BadPem);
    assert!(message.contains("openssl pkcs8 -topk8"), "{message}");

    for (what, cert_pem, key) in [
        ("no key in the key", cert.as_str(), cert.as_str()),
        ("garbage key", cert.as_str(), "not a key"),
        ("no certificate", key_pem.as_str(), key_pem.as_str()),
        (
            "bad base64",
            cert.as_str(),
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        ),
    ] {
        let (kind, message) = failure(build(cert_pem, key, None));
        assert_eq!(kind, TlsFailure::BadPem, "{what}: {message}");
    }
    let bad_ca = TlsOptions {
        ca_certs: vec!["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()],
        ..TlsOptions::default()
    };
    let (kind, message) = failure(TlsConfig::new(&bad_ca).map(|_| ()));
    assert_eq!(kind, TlsFailure::BadPem);
    assert!(message.contains("ssl_ca_cert"), "{message}");
    let empty_ca = TlsOptions {
        ca_certs: vec!["".into()],
        ..TlsOptions::default()
    };
    let (kind, message) = failure(TlsConfig::new(&empty_ca).map(|_| ()));
    assert_eq!(kind, TlsFailure::BadPem);
    assert!(message.contains("holds no PEM certificate"), "{message}");

    let half = TlsOptions {
        client_cert: Some(cert.clone()),
        ..trusting(&ca)
    };
    let err = TlsConfig::new(&half).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                arg: "ssl_client_cert_key",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let options = TlsOptions {
        client_cert: Some("CERT".into()),
        client_key: Some(Secret::new("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n")),
        client_key_password: Some(Secret::new(PASSWORD)),
        ..TlsOptions::default()
    };
    let debug = format!("{options:?}");
    assert!(
        !debug.contains("PRIVATE KEY") && !debug.contains("c2VjcmV0"),
        "{debug}"
    );
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
    let ca = Ca::new("test CA");
    let key = KeyPair::generate().unwrap();
    let config = TlsConfig::new(&with_client(
        trusting(&ca),
        &ca.client_cert_for(&key),
        &key.serialize_pem(),
    ))
    .unwrap();
    let debug = format!(
        "{:?}",
        ConnectionConfig {
            tls: Some(config),
            ..ConnectionConfig::default()
        }
    );
    assert!(
        !debug.contains("PRIVATE") && debug.contains("client_certificate: true"),
        "{debug}"
    );
}

/// A listener without TLS (a Kafka PLAINTEXT port) reads the ClientHello as a frame size and
/// closes: that is a final TLS error with a hint, not a connection error to retry.
#[tokio::test]
async fn a_plaintext_listener_is_a_final_tls_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut head = [0u8; 4];
            let _ = tcp.read_exact(&mut head).await;
        }
    });
    let ca = Ca::new("test CA");
    let result = connect("localhost", port, &trusting(&ca)).await;
    let message = result.clone().unwrap_err().to_string();
    assert_eq!(failure_of(result), TlsFailure::Handshake);
    assert!(message.contains("TLS listener"), "{message}");
}

/// A client whose TLS fails with the first seed broker does not go on to the next one.
#[tokio::test]
async fn the_client_stops_at_the_first_tls_failure_instead_of_trying_every_seed() {
    let ca = Ca::new("test CA");
    let broker = ca.server_cert(&["localhost"], |_| {});
    let port = tls_broker(&broker, ClientAuth::None, Version::Tls13).await;
    let mut config = crate::ClientConfig::new(vec![
        BrokerAddr {
            host: "localhost".into(),
            port,
        },
        BrokerAddr {
            host: "127.0.0.1".into(),
            port: 1,
        },
    ]);
    config.connection.tls = Some(TlsConfig::new(&trusting(&Ca::new("other CA"))).unwrap());
    let client = crate::Client::new(config).unwrap();
    let err = client.any_broker().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls {
                failure: TlsFailure::UnknownCa,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("127.0.0.1:1"), "{err}");
}
