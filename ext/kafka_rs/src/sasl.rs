//! SASL methods of `KafkaRs::Native::Client`: the mechanism and credentials, and the hand-over of
//! OAUTHBEARER tokens from the Ruby side (validation, defaults and the refresher thread live in
//! `lib/kafka_rs/sasl.rb`).
//!
//! The token provider's `#token` runs only on Ruby threads: Ruby pushes each token with
//! `push_oauth_token`, and a Ruby thread waits in `oauth_wait_refresh` (GVL released) until the
//! core wants a fresh one. The core never calls into Ruby.

use std::sync::Arc;
use std::time::Duration;

use kafka_rs_core::connection::sasl::oauthbearer::{OAuthToken, TokenSource};
use kafka_rs_core::connection::sasl::plain::PlainCredentials;
use kafka_rs_core::connection::sasl::scram::{ScramCredentials, ScramMechanism};
use kafka_rs_core::connection::sasl::SaslConfig;
use kafka_rs_core::Error as CoreError;
use magnus::{method, prelude::*, Error, RModule, Ruby, Value};

use crate::client::{secs, NativeClient};
use crate::errors::to_ruby;
use crate::{args, gvl};

fn invalid(arg: &'static str, message: &str) -> Error {
    to_ruby(CoreError::invalid(arg, message))
}

/// `configure_sasl(mechanism, username, password, authzid)`: `mechanism` is the SASL name
/// (`"PLAIN"`, `"SCRAM-SHA-256"`, `"SCRAM-SHA-512"`, `"OAUTHBEARER"`; the credentials are nil
/// for OAUTHBEARER). Only before the client's first operation, and only once.
fn configure_sasl(
    rb_self: &NativeClient,
    mechanism: String,
    username: Option<String>,
    password: Option<String>,
    authzid: Option<String>,
) -> Result<(), Error> {
    let handle = rb_self.handle();
    if handle.started() || handle.sasl.get().is_some() {
        return Err(invalid(
            "sasl",
            "SASL is configured once, before the client's first operation",
        ));
    }
    let config = match mechanism.as_str() {
        "PLAIN" => SaslConfig::Plain(
            PlainCredentials::new(
                authzid.unwrap_or_default(),
                username.unwrap_or_default(),
                password.unwrap_or_default(),
            )
            .map_err(to_ruby)?,
        ),
        "OAUTHBEARER" => SaslConfig::OAuthBearer(Arc::new(TokenSource::new())),
        name => match ScramMechanism::from_name(name) {
            Some(m) => SaslConfig::Scram(
                ScramCredentials::new(
                    m,
                    username.unwrap_or_default(),
                    password.unwrap_or_default(),
                )
                .map_err(to_ruby)?,
            ),
            None => return Err(invalid("sasl", "unknown SASL mechanism")),
        },
    };
    handle
        .sasl
        .set(config)
        .map_err(|_| invalid("sasl", "SASL is already configured"))
}

fn token_source(rb_self: &NativeClient) -> Result<Arc<TokenSource>, Error> {
    match rb_self.handle().sasl.get() {
        Some(SaslConfig::OAuthBearer(source)) => Ok(source.clone()),
        _ => Err(invalid(
            "sasl_oauth_token_provider",
            "the client does not use OAUTHBEARER",
        )),
    }
}

/// `push_oauth_token(token, [[key, value], ...], expires_in_or_nil)`: the provider's current
/// token, its extensions, and the seconds until it expires if known.
fn push_oauth_token(
    rb_self: &NativeClient,
    token: String,
    extensions: Value,
    expires_in: Option<f64>,
) -> Result<(), Error> {
    let extensions = args::string_pairs(extensions)?;
    let expires_in = expires_in
        .map(|s| secs("sasl_oauth_token_provider", s.max(0.0)))
        .transpose()?;
    let token = OAuthToken::new(token, extensions, expires_in).map_err(to_ruby)?;
    token_source(rb_self)?.push(token);
    Ok(())
}

/// `oauth_wait_refresh(timeout)`: waits (GVL released) until the core wants a fresh token
/// (true) or `timeout` seconds pass (false); nil once the client is closed.
fn oauth_wait_refresh(rb_self: &NativeClient, timeout: f64) -> Result<Option<bool>, Error> {
    let source = token_source(rb_self)?;
    let timeout: Duration = secs("timeout", timeout)?;
    gvl::block_on(async move { source.wait_refresh_wanted(timeout).await })
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Client", ruby.class_object())?;
    class.define_method("configure_sasl", method!(configure_sasl, 4))?;
    class.define_method("push_oauth_token", method!(push_oauth_token, 3))?;
    class.define_method("oauth_wait_refresh", method!(oauth_wait_refresh, 1))?;
    Ok(())
}
