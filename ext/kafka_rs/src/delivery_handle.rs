//! `KafkaRs::Native::DeliveryGroup`: the outcomes of the messages of one `produce_async` or
//! `produce_many` call, one native object per call. Each public `KafkaRs::DeliveryHandle`
//! (`lib/kafka_rs/delivery_handle.rb`) holds the group and its message's index.

use std::sync::Arc;

use kafka_rs_core::producer::DeliveryGroup;
use magnus::{method, prelude::*, Error, IntoValue, RModule, Ruby, Value};

use crate::client::secs;
use crate::errors::{to_ruby, to_ruby_exception};
use crate::{gvl, runtime};

#[magnus::wrap(class = "KafkaRs::Native::DeliveryGroup", free_immediately, size)]
pub struct NativeDeliveryGroup {
    group: Arc<DeliveryGroup>,
    /// The fork generation whose producer holds the message: in a forked child the message is
    /// never settled (only the parent sends it), so waiting there fails at once.
    generation: u64,
}

impl NativeDeliveryGroup {
    pub fn new(group: Arc<DeliveryGroup>) -> Self {
        NativeDeliveryGroup {
            group,
            generation: runtime::generation(),
        }
    }

    /// `pending?(index)`
    fn is_pending(&self, index: usize) -> bool {
        self.group.get(index).is_none()
    }

    /// `result(index)`: nil while pending, `[partition, offset]` once delivered, or the exception that
    /// failed the message (not raised).
    fn result(ruby: &Ruby, rb_self: &Self, index: usize) -> Value {
        match rb_self.group.get(index) {
            None => ruby.qnil().as_value(),
            Some(Ok(d)) => ruby
                .ary_new_from_values(&[
                    d.partition.into_value_with(ruby),
                    d.offset.into_value_with(ruby),
                ])
                .as_value(),
            Some(Err(e)) => to_ruby_exception(e.clone()),
        }
    }

    /// `wait(index, timeout)`: waits (GVL released) until the message is settled, at most `timeout`
    /// seconds (nil: no limit). Returns `[partition, offset]`, raises the delivery error, or
    /// returns nil if the time ran out.
    fn wait(
        ruby: &Ruby,
        rb_self: &Self,
        index: usize,
        timeout: Option<f64>,
    ) -> Result<Value, Error> {
        if rb_self.group.get(index).is_none() {
            if !runtime::is_current(rb_self.generation) {
                return Err(to_ruby(kafka_rs_core::Error::invalid(
                    "handle",
                    "the message was queued before this process was forked: only the parent \
                     process sends it and learns its outcome",
                )));
            }
            let limit = timeout.map(|s| secs("timeout", s)).transpose()?;
            let group = rb_self.group.clone();
            let settled = gvl::block_on(async move {
                match limit {
                    Some(limit) => tokio::time::timeout(limit, group.wait(index)).await.is_ok(),
                    None => {
                        group.wait(index).await;
                        true
                    }
                }
            })?;
            if !settled {
                return Ok(ruby.qnil().as_value());
            }
        }
        match rb_self.group.get(index) {
            Some(Err(e)) => Err(to_ruby(e.clone())),
            _ => Ok(Self::result(ruby, rb_self, index)),
        }
    }
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("DeliveryGroup", ruby.class_object())?;
    class.define_method("pending?", method!(NativeDeliveryGroup::is_pending, 1))?;
    class.define_method("result", method!(NativeDeliveryGroup::result, 1))?;
    class.define_method("wait", method!(NativeDeliveryGroup::wait, 2))?;
    Ok(())
}
