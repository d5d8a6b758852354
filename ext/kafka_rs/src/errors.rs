//! The one error-mapping module: core [`kafka_rs_core::Error`]s and Rust panics become Ruby
//! exceptions here, and nowhere else.
//!
//! The exception hierarchy is defined in Ruby (`lib/kafka_rs/errors.rb`); this module only looks
//! classes up, at raise time, so it works whatever the load order. A class that is not defined
//! (yet) falls back to its parent here (`KafkaRs::ConnectionError` -> `KafkaRs::Error` ->
//! `RuntimeError`), never to a crash. A class once found is cached and registered with the GC.
//!
//! | core error                         | Ruby exception                                  |
//! |------------------------------------|-------------------------------------------------|
//! | `Kafka { code, .. }`               | `KafkaRs::ProtocolError.from_code(code, msg)`   |
//! |                                    | (the code's class; `#code` set)                 |
//! | `Connection`, `NoBrokers`          | `KafkaRs::ConnectionError`                      |
//! | `Timeout`                          | `KafkaRs::TimeoutError` (< `ConnectionError`)   |
//! | `Authentication { code, .. }`      | `KafkaRs::SaslAuthenticationFailed` (code 58),  |
//! |                                    | or its subclasses `UnsupportedSaslMechanism`    |
//! |                                    | (33) and `InvalidSaslState` (34)                |
//! | `Tls { failure, .. }`              | `KafkaRs::SslError` (< `ConnectionError`),      |
//! |                                    | `#reason` = the failure's name as a Symbol      |
//! | `UnsupportedVersion`               | `KafkaRs::UnsupportedVersion`                   |
//! | `InvalidArgument { arg, .. }`      | `ArgumentError` ("invalid <arg>: ...")          |
//! | `Closed`                           | `KafkaRs::ClientClosed`                         |
//! | `QueueFull`                        | `KafkaRs::BufferOverflow`                       |
//! | `Protocol` (undecodable response), anything newer, panics | `KafkaRs::Error`     |
//!
//! Every other class is instantiated as `klass.new(message)`. The message is always the core
//! error's `Display` text.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use kafka_rs_core::{Error as CoreError, ErrorCode};
use magnus::value::{Opaque, ReprValue};
use magnus::{
    function, prelude::*, Error, Exception, ExceptionClass, IntoValue, RArray, RModule, Ruby, Value,
};

/// A Ruby exception class named by a constant under `KafkaRs`, cached once it exists.
struct NamedClass {
    name: &'static str,
    class: OnceLock<Opaque<ExceptionClass>>,
}

impl NamedClass {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            class: OnceLock::new(),
        }
    }

    fn get(&self, ruby: &Ruby) -> Option<ExceptionClass> {
        if let Some(class) = self.class.get() {
            return Some(ruby.get_inner(*class));
        }
        let class = kafka_rs_constant(ruby, self.name).and_then(ExceptionClass::from_value)?;
        ruby.gc_register_mark_object(class);
        let _ = self.class.set(class.into());
        Some(class)
    }
}

static ERROR: NamedClass = NamedClass::new("Error");
static CONNECTION_ERROR: NamedClass = NamedClass::new("ConnectionError");
static TIMEOUT_ERROR: NamedClass = NamedClass::new("TimeoutError");
static SSL_ERROR: NamedClass = NamedClass::new("SslError");
static PROTOCOL_ERROR: NamedClass = NamedClass::new("ProtocolError");
static UNSUPPORTED_VERSION: NamedClass = NamedClass::new("UnsupportedVersion");
static CLIENT_CLOSED: NamedClass = NamedClass::new("ClientClosed");
static BUFFER_OVERFLOW: NamedClass = NamedClass::new("BufferOverflow");

/// `KafkaRs::<name>` if defined, without triggering `const_missing`.
fn kafka_rs_constant(ruby: &Ruby, name: &str) -> Option<Value> {
    let root: RModule = ruby.class_object().const_get("KafkaRs").ok()?;
    let defined: bool = root.funcall("const_defined?", (name, false)).ok()?;
    if !defined {
        return None;
    }
    root.const_get(name).ok()
}

/// `KafkaRs::Error`, or `RuntimeError` while `lib/kafka_rs/errors.rb` is not loaded.
pub fn base_error(ruby: &Ruby) -> ExceptionClass {
    ERROR
        .get(ruby)
        .unwrap_or_else(|| ruby.exception_runtime_error())
}

fn class_or_base(ruby: &Ruby, class: &NamedClass) -> ExceptionClass {
    class.get(ruby).unwrap_or_else(|| base_error(ruby))
}

/// A mapped core error: an exception already built by Ruby code, or a class and message to
/// build one from.
enum Mapped {
    Built(Exception),
    New(ExceptionClass, String),
}

/// The exception for a broker error code: `KafkaRs::ProtocolError.from_code(code, message)`
/// (the code's class, or `ProtocolError` itself carrying an unknown code), falling back to
/// `KafkaRs::ProtocolError`, then `KafkaRs::Error`.
fn kafka_exception(ruby: &Ruby, code: ErrorCode, message: String) -> Mapped {
    let Some(protocol_error) = PROTOCOL_ERROR.get(ruby) else {
        return Mapped::New(base_error(ruby), message);
    };
    let built = protocol_error
        .respond_to("from_code", false)
        .unwrap_or(false)
        .then(|| {
            protocol_error
                .funcall::<_, _, Value>("from_code", (code.0, message.as_str()))
                .ok()
        })
        .flatten()
        .and_then(Exception::from_value);
    match built {
        Some(exception) => Mapped::Built(exception),
        None => Mapped::New(protocol_error, message),
    }
}

/// `KafkaRs::SslError.new(message)` with `@reason` set to `reason` as a Symbol (falling back to
/// `ConnectionError`, then `KafkaRs::Error`, without a reason).
fn tls_exception(ruby: &Ruby, reason: &str, message: String) -> Mapped {
    let Some(class) = SSL_ERROR.get(ruby) else {
        return Mapped::New(class_or_base(ruby, &CONNECTION_ERROR), message);
    };
    let built = class
        .new_instance((message.as_str(),))
        .ok()
        .filter(|exception| {
            exception
                .funcall::<_, _, Value>(
                    "instance_variable_set",
                    ("@reason", ruby.to_symbol(reason)),
                )
                .is_ok()
        });
    match built {
        Some(exception) => Mapped::Built(exception),
        None => Mapped::New(class, message),
    }
}

fn map(ruby: &Ruby, err: CoreError) -> Mapped {
    let message = err.to_string();
    let class = match &err {
        CoreError::Kafka { code, .. } => return kafka_exception(ruby, *code, message),
        CoreError::Authentication { code, .. } => {
            let code = match code {
                Some(
                    c @ (ErrorCode::UNSUPPORTED_SASL_MECHANISM | ErrorCode::ILLEGAL_SASL_STATE),
                ) => *c,
                _ => ErrorCode::SASL_AUTHENTICATION_FAILED,
            };
            return kafka_exception(ruby, code, message);
        }
        CoreError::Tls { failure, .. } => return tls_exception(ruby, failure.name(), message),
        CoreError::Connection { .. } | CoreError::NoBrokers(_) => {
            class_or_base(ruby, &CONNECTION_ERROR)
        }
        CoreError::Timeout { .. } => TIMEOUT_ERROR
            .get(ruby)
            .unwrap_or_else(|| class_or_base(ruby, &CONNECTION_ERROR)),
        CoreError::UnsupportedVersion { .. } => class_or_base(ruby, &UNSUPPORTED_VERSION),
        CoreError::InvalidArgument { .. } => ruby.exception_arg_error(),
        CoreError::Closed => class_or_base(ruby, &CLIENT_CLOSED),
        CoreError::QueueFull(_) => class_or_base(ruby, &BUFFER_OVERFLOW),
        // A response that does not decode is not a broker error code; newer variants too.
        _ => base_error(ruby),
    };
    Mapped::New(class, message)
}

/// Maps a core error to the Ruby exception to raise. Call with the GVL held.
pub fn to_ruby(err: CoreError) -> Error {
    let ruby = Ruby::get().expect("errors::to_ruby called without the GVL");
    match map(&ruby, err) {
        Mapped::Built(exception) => exception.into(),
        Mapped::New(class, message) => Error::new(class, message),
    }
}

/// The exception object for a core error, for results that report failures per item (a
/// producer's per-message outcomes) instead of raising. Call with the GVL held.
pub fn to_ruby_exception(err: CoreError) -> Value {
    let ruby = Ruby::get().expect("errors::to_ruby_exception called without the GVL");
    match map(&ruby, err) {
        Mapped::Built(exception) => exception.as_value(),
        Mapped::New(class, message) => class
            .new_instance((message.as_str(),))
            // A constructor that raises: fall back to a RuntimeError with the same message.
            .or_else(|_| {
                ruby.exception_runtime_error()
                    .new_instance((message.as_str(),))
            })
            .map(|exception| exception.as_value())
            .unwrap_or_else(|_| ruby.qnil().as_value()),
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic without a message".to_owned()
    }
}

/// The `KafkaRs::Error` raised for a Rust panic. Call with the GVL held.
pub fn panic_error(message: &str) -> Error {
    let ruby = Ruby::get().expect("errors::panic_error called without the GVL");
    Error::new(
        base_error(&ruby),
        format!("internal error (Rust panic): {message}"),
    )
}

/// Runs a method body that holds the GVL, turning a panic into `KafkaRs::Error`.
///
/// magnus's `method!`/`function!` wrappers also catch panics, but raise them as `fatal`, which
/// no `rescue` catches and which ends the process. Wrap any body that could panic (an `expect`,
/// an index, arithmetic on broker-supplied numbers) in this guard. Bodies that only call
/// [`crate::gvl::block_on`] need not: it already catches panics in the released region.
pub fn guard<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(panic_error(&panic_message(payload.as_ref()))))
}

/// `KafkaRs::Native.__panic_with_gvl(message)`: panics in a guarded method body (tests
/// [`guard`]).
fn panic_with_gvl(message: String) -> Result<(), Error> {
    guard(|| {
        if !message.is_empty() {
            panic!("{message}");
        }
        Ok(())
    })
}

/// `KafkaRs::Native.__raise_core(kind, code)`: raises the Ruby exception mapped from a core
/// error (tests [`to_ruby`] without a broker).
fn raise_core(kind: String, code: i16) -> Result<(), Error> {
    Err(to_ruby(sample_core_error(&kind, code)))
}

/// `KafkaRs::Native.__core_exception(kind, code)`: the exception object mapped from a core error,
/// not raised (tests [`to_ruby_exception`]).
fn core_exception(kind: String, code: i16) -> Value {
    to_ruby_exception(sample_core_error(&kind, code))
}

/// A core error of each kind, for the test hooks.
fn sample_core_error(kind: &str, code: i16) -> CoreError {
    match kind {
        "kafka" => CoreError::kafka(ErrorCode(code), "test"),
        "connection" => CoreError::Connection {
            broker: "localhost:9092".to_owned(),
            message: "refused".to_owned(),
        },
        "timeout" => CoreError::Timeout {
            broker: "localhost:9092".to_owned(),
            api: "Metadata",
            timeout_ms: 10,
        },
        "no_brokers" => CoreError::NoBrokers("no broker reachable".to_owned()),
        "unsupported_version" => CoreError::UnsupportedVersion {
            broker: "localhost:9092".to_owned(),
            message: "Produce v3+ needed".to_owned(),
        },
        "invalid_argument" => CoreError::invalid("topic", "must not be empty"),
        "authentication" => CoreError::Authentication {
            broker: "localhost:9094".to_owned(),
            mechanism: "SCRAM-SHA-256",
            code: (code != 0).then_some(ErrorCode(code)),
            message: "Authentication failed".to_owned(),
        },
        "closed" => CoreError::Closed,
        "tls" => CoreError::Tls {
            broker: Some("localhost:9093".to_owned()),
            failure: kafka_rs_core::connection::tls::TlsFailure::UnknownCa,
            message: "the broker's certificate is not signed by a trusted CA".to_owned(),
        },
        _ => CoreError::invalid("kind", format!("unknown error kind {kind:?}")),
    }
}

/// `[code, name, retriable, description]` for every known code, frozen.
fn error_codes(ruby: &Ruby) -> Result<RArray, Error> {
    let table = ruby.ary_new_capa(ErrorCode::all().len());
    for info in ErrorCode::all() {
        let name = ruby.str_new(info.name);
        name.freeze();
        let description = ruby.str_new(info.description);
        description.freeze();
        let row = ruby.ary_new_from_values(&[
            info.code.into_value_with(ruby),
            name.as_value(),
            info.retriable.into_value_with(ruby),
            description.as_value(),
        ]);
        row.freeze();
        table.push(row)?;
    }
    table.freeze();
    Ok(table)
}

/// Defines `KafkaRs::Native::ERROR_CODES` and the internal test hooks of this module.
pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    native.const_set("ERROR_CODES", error_codes(ruby)?)?;
    native.define_module_function("__panic_with_gvl", function!(panic_with_gvl, 1))?;
    native.define_module_function("__raise_core", function!(raise_core, 2))?;
    native.define_module_function("__core_exception", function!(core_exception, 2))?;
    Ok(())
}
