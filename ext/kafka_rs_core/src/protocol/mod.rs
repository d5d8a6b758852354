//! The Kafka wire protocol: primitives ([`codec`]), framing ([`frame`]), API keys and version
//! negotiation ([`api`]), one module per request/response pair ([`messages`]), and record batches
//! ([`records`]), the produce and fetch hot path; [`consumer_protocol`] is the encoding consumer
//! groups embed in the group APIs' opaque bytes.
//!
//! Every decoder here reads untrusted bytes and never allocates by a length it has not checked
//! against the frame (see [`codec`]).

pub mod api;
pub mod codec;
pub mod consumer_protocol;
pub mod frame;
pub mod messages;
pub mod records;
