//! kafka_rs: the Ruby binding of `kafka_rs_core` (loaded as `kafka_rs/kafka_rs.so`).
//!
//! Everything native lives under `KafkaRs::Native`; the public Ruby API in `lib/` wraps it.
//! Shared machinery, used by every binding file:
//! - [`runtime`]: the process's tokio runtime, rebuilt (and the old one leaked) after `fork`;
//! - [`gvl`]: `block_on`, the only way Ruby threads wait for the core, with the GVL released;
//! - [`errors`]: the only mapping from core errors and panics to Ruby exceptions.
//!
//! Each file that defines Ruby methods has an `init(ruby, native)` called from [`init`].
//! Functions whose names start with `__` are internal test hooks used by `spec/native_spec.rb`.

use magnus::{prelude::*, Error, Ruby};

pub mod args;
pub mod async_producer;
pub mod client;
pub mod consumer;
pub mod delivery_handle;
pub mod errors;
pub mod gvl;
pub mod producer;
pub mod runtime;
pub mod sasl;
pub mod tls;

// No global tracking allocator (`rb_sys::set_global_tracking_allocator!`): it reports every
// allocation to Ruby's GC from whatever thread allocates, and tokio's worker threads keep
// allocating while Ruby tears its VM down at exit. Measured here: 156 of 200 runs of a process
// whose workers were busy at exit died with "corrupted double-linked list"; 0 of 200 without it.
// Report large native buffers to the GC explicitly instead, from Ruby threads holding the GVL.

#[magnus::init]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let kafka_rs = ruby.define_module("KafkaRs")?;
    let native = kafka_rs.define_module("Native")?;
    let version = ruby.str_new(env!("CARGO_PKG_VERSION"));
    version.freeze();
    native.const_set("VERSION", version)?;
    errors::init(ruby, native)?;
    gvl::init(ruby, native)?;
    client::init(ruby, native)?;
    sasl::init(ruby, native)?;
    producer::init(ruby, native)?;
    async_producer::init(ruby, native)?;
    consumer::init(ruby, native)?;
    delivery_handle::init(ruby, native)?;
    Ok(())
}
