//! TLS for broker connections: rustls with the ring provider, behind this module.
//!
//! ```text
//!  TlsOptions (PEM strings, paths, flags; secrets in `Secret`)
//!      │  TlsConfig::new: parse, decrypt the key, check it matches its certificate
//!      ▼
//!  TlsConfig (one rustls ClientConfig in an Arc, shared by every connection of a client)
//!      │  TlsConfig::handshake, in transport::connect, under the connect timeout
//!      ▼
//!  TlsStream<TcpStream> + HandshakeFacts ──► the messenger's reader and writer tasks
//! ```
//!
//! * **Trust**: CA certificates from PEM strings (each may hold several), from a PEM file, and/or
//!   the system trust store (`rustls-native-certs`); with none of them given, the system store.
//! * **Client certificate**: a certificate (or chain) and a private key in PEM: PKCS#8,
//!   PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), or encrypted PKCS#8 (`ENCRYPTED PRIVATE
//!   KEY`: PBES2, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` and OpenSSL 3's `-aes256` write it),
//!   decrypted with RustCrypto's `pkcs8`. The key must match the certificate: checked here, once.
//! * **Hostname**: verified by default (SNI and the certificate check use the broker's host; an IP
//!   address is matched against the certificate's IP SANs). With `verify_hostname: false` the
//!   chain is still verified, only the name check is skipped ([`ChainOnlyVerifier`]).
//! * **Errors** are [`Error::Tls`] with a [`TlsFailure`] saying what was wrong, never with key
//!   material or passwords. They are final: no retry can fix a certificate.
//! * **No session resumption**: a resumption cache is shared state behind a lock, which a forked
//!   child could inherit locked; broker connections live long, so full handshakes cost little.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use pkcs8::EncryptedPrivateKeyInfoRef;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, InconsistentKeys,
    RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub use super::secret::Secret;

/// What the host asks for (ruby-kafka's `ssl_*` options). Only read by [`TlsConfig::new`].
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// CA certificates in PEM (`ssl_ca_cert`), each String may hold several.
    pub ca_certs: Vec<String>,
    /// A PEM file of CA certificates (`ssl_ca_cert_file_path`).
    pub ca_cert_file: Option<PathBuf>,
    /// Trust the system's CA store too (`ssl_ca_certs_from_system`). The system store is also
    /// used when no CA is given at all.
    pub ca_certs_from_system: bool,
    /// The client certificate in PEM (`ssl_client_cert`), possibly followed by its chain.
    pub client_cert: Option<String>,
    /// Intermediate certificates sent after the client certificate (`ssl_client_cert_chain`).
    pub client_cert_chain: Option<String>,
    /// The client certificate's private key in PEM (`ssl_client_cert_key`).
    pub client_key: Option<Secret>,
    /// The password of an encrypted key (`ssl_client_cert_key_password`).
    pub client_key_password: Option<Secret>,
    /// Check that the broker's certificate names the host connected to (`ssl_verify_hostname`).
    pub verify_hostname: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            ca_certs: Vec::new(),
            ca_cert_file: None,
            ca_certs_from_system: false,
            client_cert: None,
            client_cert_chain: None,
            client_key: None,
            client_key_password: None,
            verify_hostname: true,
        }
    }
}

impl TlsOptions {
    /// Whether these options alone turn TLS on: a CA (strings, file, system store) or a client
    /// certificate is given. (`verify_hostname` alone does not.)
    pub fn asks_for_tls(&self) -> bool {
        !self.ca_certs.is_empty()
            || self.ca_cert_file.is_some()
            || self.ca_certs_from_system
            || self.client_cert.is_some()
            || self.client_key.is_some()
    }
}

/// What went wrong with TLS (the kind of an [`Error::Tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The broker's certificate is not signed by a trusted CA.
    UnknownCa,
    /// The broker's certificate (or one of its chain) has expired.
    CertificateExpired,
    /// The broker's certificate (or one of its chain) is not valid yet.
    CertificateNotYetValid,
    /// The broker's certificate does not name the host connected to.
    HostnameMismatch,
    /// The broker requires a client certificate and none was configured.
    ClientCertificateRequired,
    /// The broker refused the client certificate that was sent.
    ClientCertificateRejected,
    /// The private key does not belong to the client certificate.
    KeyMismatch,
    /// The key password does not decrypt the key.
    WrongKeyPassword,
    /// The key is encrypted and no password was given.
    KeyPasswordMissing,
    /// A certificate or key is not usable PEM (or not of a supported kind).
    BadPem,
    /// Any other handshake failure.
    Handshake,
}

impl TlsFailure {
    /// A stable snake_case name (for hosts that expose the kind).
    pub fn name(self) -> &'static str {
        match self {
            TlsFailure::UnknownCa => "unknown_ca",
            TlsFailure::CertificateExpired => "certificate_expired",
            TlsFailure::CertificateNotYetValid => "certificate_not_yet_valid",
            TlsFailure::HostnameMismatch => "hostname_mismatch",
            TlsFailure::ClientCertificateRequired => "client_certificate_required",
            TlsFailure::ClientCertificateRejected => "client_certificate_rejected",
            TlsFailure::KeyMismatch => "key_mismatch",
            TlsFailure::WrongKeyPassword => "wrong_key_password",
            TlsFailure::KeyPasswordMissing => "key_password_missing",
            TlsFailure::BadPem => "bad_pem",
            TlsFailure::Handshake => "handshake",
        }
    }
}

fn config_error(failure: TlsFailure, message: impl Into<String>) -> Error {
    Error::Tls {
        broker: None,
        failure,
        message: message.into(),
    }
}

/// The TLS setup of a client, built once and shared by all its connections (cheap to clone).
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    client_certificate: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("client_certificate", &self.client_certificate)
            .finish_non_exhaustive()
    }
}

/// What one handshake showed, for telling failures apart later (the broker may refuse a client
/// certificate only after the client considers the handshake done: TLS 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeFacts {
    /// A client certificate is configured.
    pub client_certificate: bool,
    /// The broker asked for one (a CertificateRequest arrived).
    pub certificate_requested: bool,
}

tokio::task_local! {
    /// Set while a handshake runs on this task: whether the broker asked for a certificate.
    static CERTIFICATE_REQUESTED: Cell<bool>;
}

/// Answers a broker's CertificateRequest with the configured certificate (or none), noting that
/// it was asked (in the handshake's task-local).
#[derive(Debug)]
struct ClientCertificate(Option<Arc<CertifiedKey>>);

impl ResolvesClientCert for ClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let _ = CERTIFICATE_REQUESTED.try_with(|asked| asked.set(true));
        self.0.clone()
    }

    fn has_certs(&self) -> bool {
        self.0.is_some()
    }
}

/// `verify_hostname: false`: the WebPKI verifier (chain, validity, signatures), with its last
/// step, the name check, skipped. The WebPKI verifier checks the name only after the chain has
/// verified, so a name error means everything else passed.
#[derive(Debug)]
struct ChainOnlyVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl TlsConfig {
    /// Builds the rustls configuration: every certificate and key is parsed and checked here, so
    /// a bad one fails the client's creation, not its first request.
    pub fn new(options: &TlsOptions) -> Result<TlsConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(trusted_roots(options)?);
        let client_key = client_certificate(options, &provider)?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(TlsFailure::Handshake, e.to_string()))?;
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| config_error(TlsFailure::BadPem, e.to_string()))?;
        let builder = if options.verify_hostname {
            builder.with_webpki_verifier(webpki)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier(webpki)))
        };
        let client_certificate = client_key.is_some();
        let mut config = builder
            .with_client_cert_resolver(Arc::new(ClientCertificate(client_key.map(Arc::new))));
        config.resumption = Resumption::disabled();
        Ok(TlsConfig {
            config: Arc::new(config),
            client_certificate,
        })
    }

    /// The TLS server name of `host` (for SNI and the certificate check); a host that cannot
    /// be one is a final TLS error of `broker`.
    pub fn server_name(broker: &str, host: &str) -> Result<ServerName<'static>> {
        ServerName::try_from(host.to_owned()).map_err(|e| Error::Tls {
            broker: Some(broker.to_owned()),
            failure: TlsFailure::Handshake,
            message: format!("{host:?} is not a valid TLS server name: {e}"),
        })
    }

    /// Runs the TLS handshake over a connected socket, for `name` (see [`server_name`]). On
    /// failure, the error and what the handshake showed, for [`classify`].
    ///
    /// [`server_name`]: Self::server_name
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        name: ServerName<'static>,
    ) -> std::result::Result<(TlsStream<TcpStream>, HandshakeFacts), (io::Error, HandshakeFacts)>
    {
        let mut facts = HandshakeFacts {
            client_certificate: self.client_certificate,
            certificate_requested: false,
        };
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let (outcome, requested) = CERTIFICATE_REQUESTED
            .scope(Cell::new(false), async {
                let outcome = connector.connect(name, tcp).await;
                (outcome, CERTIFICATE_REQUESTED.with(Cell::get))
            })
            .await;
        facts.certificate_requested = requested;
        match outcome {
            Ok(stream) => Ok((stream, facts)),
            Err(e) => Err((e, facts)),
        }
    }
}

/// The trust anchors: PEM strings, a PEM file, the system store (also when nothing is given).
fn trusted_roots(options: &TlsOptions) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for (i, pem) in options.ca_certs.iter().enumerate() {
        let what = if options.ca_certs.len() == 1 {
            "ssl_ca_cert".to_owned()
        } else {
            format!("ssl_ca_cert[{i}]")
        };
        add_roots(&mut roots, pem.as_bytes(), &what)?;
    }
    if let Some(path) = &options.ca_cert_file {
        let pem = std::fs::read(path).map_err(|e| {
            config_error(
                TlsFailure::BadPem,
                format!(
                    "ssl_ca_cert_file_path {}: cannot read it: {e}",
                    path.display()
                ),
            )
        })?;
        add_roots(
            &mut roots,
            &pem,
            &format!("ssl_ca_cert_file_path {}", path.display()),
        )?;
    }
    let nothing_given = options.ca_certs.is_empty() && options.ca_cert_file.is_none();
    if options.ca_certs_from_system || nothing_given {
        let found = rustls_native_certs::load_native_certs();
        let (added, _unusable) = roots.add_parsable_certificates(found.certs);
        if added == 0 && roots.is_empty() {
            let why = found
                .errors
                .first()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            return Err(config_error(
                TlsFailure::UnknownCa,
                format!(
                    "no trusted CA: the system trust store is empty or unreadable{why} \
                     (give the CA with ssl_ca_cert or ssl_ca_cert_file_path)"
                ),
            ));
        }
    }
    Ok(roots)
}

/// Adds every certificate of `pem` (`what` names the option in messages).
fn add_roots(roots: &mut RootCertStore, pem: &[u8], what: &str) -> Result<()> {
    let certs = certificates(pem, what)?;
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            config_error(
                TlsFailure::BadPem,
                format!("{what}: certificate {} is not a usable CA: {e}", i + 1),
            )
        })?;
    }
    Ok(())
}

/// Every `CERTIFICATE` block of `pem`; at least one.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(TlsFailure::BadPem, format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(
            TlsFailure::BadPem,
            format!("{what} holds no PEM certificate (no CERTIFICATE block)"),
        ));
    }
    Ok(certs)
}

/// The client certificate with its key, checked to belong together; `None` without one.
fn client_certificate(
    options: &TlsOptions,
    provider: &CryptoProvider,
) -> Result<Option<CertifiedKey>> {
    let (cert, key) = match (&options.client_cert, &options.client_key) {
        (None, None) => {
            if options.client_cert_chain.is_some() {
                return Err(Error::invalid(
                    "ssl_client_cert_chain",
                    "is given without ssl_client_cert and ssl_client_cert_key",
                ));
            }
            return Ok(None);
        }
        (Some(_), None) => {
            return Err(Error::invalid(
                "ssl_client_cert_key",
                "is missing: ssl_client_cert needs its private key",
            ))
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                "ssl_client_cert",
                "is missing: ssl_client_cert_key is given without its certificate",
            ))
        }
        (Some(cert), Some(key)) => (cert, key),
    };
    let mut chain = certificates(cert.as_bytes(), "ssl_client_cert")?;
    if let Some(extra) = &options.client_cert_chain {
        chain.extend(certificates(extra.as_bytes(), "ssl_client_cert_chain")?);
    }
    let key = private_key(key, options.client_key_password.as_ref())?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => config_error(
            TlsFailure::KeyMismatch,
            "ssl_client_cert_key is not the private key of ssl_client_cert",
        ),
        rustls::Error::InvalidCertificate(e) => config_error(
            TlsFailure::BadPem,
            format!("ssl_client_cert is not a usable certificate: {e}"),
        ),
        _ => config_error(
            TlsFailure::BadPem,
            "ssl_client_cert_key is not a supported private key (RSA, ECDSA P-256/P-384, Ed25519)",
        ),
    })?;
    Ok(Some(certified))
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key of `pem`. Messages never quote the PEM or the password.
fn private_key(pem: &Secret, password: Option<&Secret>) -> Result<PrivateKeyDer<'static>> {
    let text = pem.expose();
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let Some(password) = password else {
            return Err(config_error(
                TlsFailure::KeyPasswordMissing,
                "ssl_client_cert_key is encrypted: give ssl_client_cert_key_password",
            ));
        };
        let end = text[start..]
            .find(ENCRYPTED_END)
            .map(|e| start + e + ENCRYPTED_END.len())
            .ok_or_else(|| {
                config_error(
                    TlsFailure::BadPem,
                    "ssl_client_cert_key: the ENCRYPTED PRIVATE KEY block has no END line",
                )
            })?;
        let bad = || {
            config_error(
                TlsFailure::BadPem,
                "ssl_client_cert_key: the ENCRYPTED PRIVATE KEY block is not valid PEM/PKCS#8",
            )
        };
        let der = pkcs8::der::pem::decode_vec(&text.as_bytes()[start..end])
            .map(|(_label, der)| Zeroizing::new(der))
            .map_err(|_| bad())?;
        let info = EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|_| bad())?;
        let document = info.decrypt(password.expose()).map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(pkcs5_error)
                if !matches!(pkcs5_error, pkcs8::pkcs5::Error::DecryptFailed) =>
            {
                config_error(
                    TlsFailure::BadPem,
                    format!("ssl_client_cert_key is encrypted with an unsupported scheme: {pkcs5_error}"),
                )
            }
            // Bad padding, or a plaintext that is no PKCS#8 structure: the password is wrong.
            _ => config_error(
                TlsFailure::WrongKeyPassword,
                "ssl_client_cert_key_password does not decrypt ssl_client_cert_key",
            ),
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            document.as_bytes().to_vec(),
        )));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(config_error(
            TlsFailure::BadPem,
            "ssl_client_cert_key uses OpenSSL's legacy PEM encryption (Proc-Type: 4,ENCRYPTED), \
             which is not supported: convert it to encrypted PKCS#8 with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
        ));
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| {
        let why = match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "holds no private key (PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or \
                 ENCRYPTED PRIVATE KEY)"
            }
            _ => "is not valid PEM",
        };
        config_error(TlsFailure::BadPem, format!("ssl_client_cert_key {why}"))
    })
}

/// The [`Error::Tls`] for a failed TLS stream (handshake, or a read/write right after it when the
/// broker refuses a client certificate late), or `None` if `err` is not a TLS error.
pub fn classify(err: &io::Error, broker: &str, facts: HandshakeFacts) -> Option<Error> {
    let tls = |failure, message: String| {
        Some(Error::Tls {
            broker: Some(broker.to_owned()),
            failure,
            message,
        })
    };
    let rustls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())?;
    match rustls_error {
        rustls::Error::InvalidCertificate(cert_error) => {
            let (failure, what) = match cert_error {
                CertificateError::UnknownIssuer => (
                    TlsFailure::UnknownCa,
                    "the broker's certificate is not signed by a trusted CA \
                     (ssl_ca_cert, ssl_ca_cert_file_path, ssl_ca_certs_from_system)"
                        .to_owned(),
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                    TlsFailure::CertificateExpired,
                    format!("the broker's certificate has expired ({cert_error})"),
                ),
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                    TlsFailure::CertificateNotYetValid,
                    format!("the broker's certificate is not valid yet ({cert_error})"),
                ),
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => (
                    TlsFailure::HostnameMismatch,
                    format!(
                        "the broker's certificate does not name the host connected to \
                         ({cert_error}); ssl_verify_hostname: false skips this check"
                    ),
                ),
                other => (
                    TlsFailure::Handshake,
                    format!("the broker's certificate was refused: {other}"),
                ),
            };
            tls(failure, what)
        }
        rustls::Error::AlertReceived(alert) => {
            let certificate_alert = matches!(
                alert,
                AlertDescription::CertificateRequired
                    | AlertDescription::BadCertificate
                    | AlertDescription::HandshakeFailure
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::UnknownCA
                    | AlertDescription::CertificateExpired
                    | AlertDescription::CertificateRevoked
                    | AlertDescription::UnsupportedCertificate
                    | AlertDescription::DecryptError
            );
            let alert_name = format!("{alert:?}");
            if *alert == AlertDescription::CertificateRequired
                || (certificate_alert && facts.certificate_requested)
            {
                if facts.client_certificate {
                    tls(
                        TlsFailure::ClientCertificateRejected,
                        format!(
                            "the broker refused the client certificate (alert {alert_name}): is \
                             it signed by a CA the broker trusts, and still valid?"
                        ),
                    )
                } else {
                    tls(
                        TlsFailure::ClientCertificateRequired,
                        format!(
                            "the broker requires a client certificate and none was given \
                             (ssl_client_cert, ssl_client_cert_key; alert {alert_name})"
                        ),
                    )
                }
            } else {
                tls(
                    TlsFailure::Handshake,
                    format!("the broker ended the TLS handshake (alert {alert_name})"),
                )
            }
        }
        other => tls(TlsFailure::Handshake, other.to_string()),
    }
}

#[cfg(test)]
mod tests;
