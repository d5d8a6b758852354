//! kafka_rs_core: a Kafka client in pure Rust (no Ruby), the engine of the kafka_rs gem.

pub mod error;
pub mod error_code;
pub mod protocol;

pub use error::{Error, Result};
pub use error_code::ErrorCode;
