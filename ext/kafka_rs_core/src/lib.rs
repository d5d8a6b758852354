//! kafka_rs_core: a Kafka client in pure Rust (no Ruby), the engine of the kafka_rs gem.

pub mod protocol;
