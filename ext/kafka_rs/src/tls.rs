//! The client's TLS options from Ruby (`KafkaRs::Client`'s `ssl_*` keywords, validated in
//! `lib/kafka_rs/validation.rb`) into the core's [`TlsConfig`], built once per client.
//!
//! Ruby hands them over as one positional Array:
//! `[ca_certs (Array<String>), ca_cert_file_path, ca_certs_from_system, client_cert,
//! client_cert_key, client_cert_key_password, client_cert_chain, verify_hostname]`
//! (Strings or nil, booleans). The key and its password go straight into [`Secret`]s.

use kafka_rs_core::connection::tls::{Secret, TlsConfig, TlsOptions};
use magnus::value::ReprValue;
use magnus::{Error, TryConvert, Value};

use crate::args;
use crate::errors::to_ruby;

/// The options Array as [`TlsOptions`] (`nil`: the defaults).
pub fn options(value: Option<Value>) -> Result<TlsOptions, Error> {
    let Some(value) = value.filter(|v| !v.is_nil()) else {
        return Ok(TlsOptions::default());
    };
    let [ca_certs, ca_file, from_system, cert, key, password, chain, verify_hostname] =
        args::fixed::<8>(value)?;
    let ca_certs = if ca_certs.is_nil() {
        Vec::new()
    } else {
        args::vec::<String>(ca_certs)?
    };
    Ok(TlsOptions {
        ca_certs,
        ca_cert_file: Option::<String>::try_convert(ca_file)?.map(Into::into),
        ca_certs_from_system: bool::try_convert(from_system)?,
        client_cert: Option::<String>::try_convert(cert)?,
        client_cert_chain: Option::<String>::try_convert(chain)?,
        client_key: Option::<String>::try_convert(key)?.map(Secret::new),
        client_key_password: Option::<String>::try_convert(password)?.map(Secret::new),
        verify_hostname: bool::try_convert(verify_hostname)?,
    })
}

/// The client's TLS configuration: `None` (plain TCP) unless a seed broker's scheme
/// (`kafka+ssl://`) or a trust or certificate option asks for TLS. Bad material raises
/// `KafkaRs::SslError` here, when the client is built.
pub fn config(seeds_ask_for_tls: bool, options: &TlsOptions) -> Result<Option<TlsConfig>, Error> {
    if !seeds_ask_for_tls && !options.asks_for_tls() {
        return Ok(None);
    }
    TlsConfig::new(options).map(Some).map_err(to_ruby)
}
