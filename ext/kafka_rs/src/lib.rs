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

pub mod client;
pub mod errors;
pub mod gvl;
pub mod producer;
pub mod runtime;

// Report Rust heap usage to Ruby's GC (`rb_gc_adjust_memory_usage`), so that large buffers held
// by native objects count towards GC pressure.
rb_sys::set_global_tracking_allocator!();

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
    producer::init(ruby, native)?;
    Ok(())
}
