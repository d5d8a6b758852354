# frozen_string_literal: true

require_relative "spec_helper"

# Consumer classes without a broker: the class-level DSL (subscribes_to, group_id,
# consumer_options, on_error), its inheritance, its validation, and `process` called on an
# instance made with `new` (no client): what an application's unit tests do.
module ConsumerClassUnitSpec
  module Billing
    class InvoiceConsumer < KafkaRs::Consumer
      subscribes_to "invoices"

      def process(message)
        "billed #{message.value}"
      end
    end
  end

  class BaseConsumer < KafkaRs::Consumer
    subscribes_to "orders", start_from_beginning: false
    consumer_options session_timeout: 12, offset_commit_interval: 2
    on_error :skip
  end

  class OrdersConsumer < BaseConsumer
    consumer_options offset_commit_interval: 5

    def process(_message); end
  end

  class AuditConsumer < BaseConsumer
    subscribes_to "audit", /\Aaudit\..+/, default_offset: :earliest
    group_id "audit-readers"
    on_error :retry_with_backoff, backoff: 0.5, max_backoff: 4, max_attempts: 3, exhausted: :skip

    def process_batch(_batch); end
  end
end

RSpec.describe "consumer classes (no broker)" do
  let(:message) do
    KafkaRs::FetchedMessage.new("v1", "k1", {}, "invoices", 0, 7, 0)
  end

  def consumer_class(&body)
    Class.new(KafkaRs::Consumer) do
      group_id "unit-spec"
      class_eval(&body) if body
    end
  end

  it "runs process on an instance made with new, without a client" do
    consumer = ConsumerClassUnitSpec::Billing::InvoiceConsumer.new
    expect(consumer.process(message)).to eq("billed v1")
    expect(consumer.attached?).to be(false)
  end

  it "derives the default group id from the class name, underscored, :: as ." do
    expect(ConsumerClassUnitSpec::Billing::InvoiceConsumer.group_id).to eq("consumer_class_unit_spec.billing.invoice_consumer")
    expect(ConsumerClassUnitSpec::OrdersConsumer.group_id).to eq("consumer_class_unit_spec.orders_consumer")
    expect(ConsumerClassUnitSpec::AuditConsumer.group_id).to eq("audit-readers")
  end

  it "asks an anonymous class for a group_id" do
    expect { Class.new(KafkaRs::Consumer).group_id }.to raise_error(ArgumentError, /anonymous.*group_id/)
  end

  it "inherits subscriptions, options and the error policy; a subclass's own settings override or add" do
    orders = ConsumerClassUnitSpec::OrdersConsumer
    expect(orders.subscriptions).to eq(
      [["orders", { start_from_beginning: false, default_offset: nil, max_bytes_per_partition: 1_048_576 }]]
    )
    expect(orders.consumer_options).to eq(session_timeout: 12, offset_commit_interval: 5)
    expect(ConsumerClassUnitSpec::BaseConsumer.consumer_options).to eq(session_timeout: 12, offset_commit_interval: 2)
    expect(orders.on_error).to include(action: :skip)

    audit = ConsumerClassUnitSpec::AuditConsumer
    # Its own subscriptions replace the inherited ones.
    expect(audit.subscriptions.map(&:first)).to eq(["audit", /\Aaudit\..+/])
    expect(audit.subscriptions.map { |(_, o)| o[:default_offset] }).to eq(%i[earliest earliest])
    expect(audit.on_error).to eq(action: :retry_with_backoff, backoff: 0.5, max_backoff: 4.0, max_attempts: 3,
                                 exhausted: :skip)
    expect(audit.consumer_options).to eq(session_timeout: 12, offset_commit_interval: 2)
  end

  it "adds up several subscribes_to calls and takes Symbols as topic names" do
    klass = consumer_class do
      subscribes_to "a"
      subscribes_to :b, start_from_beginning: false
    end
    expect(klass.subscriptions.map(&:first)).to eq(%w[a b])
    expect(klass.subscriptions.map { |(_, o)| o[:start_from_beginning] }).to eq([true, false])
  end

  it "defaults to retry_with_backoff without an attempt limit" do
    expect(consumer_class.on_error).to eq(KafkaRs::Consumer::DEFAULT_ERROR_POLICY)
    expect(KafkaRs::Consumer::DEFAULT_ERROR_POLICY).to include(action: :retry_with_backoff, max_attempts: nil)
  end

  it "tells which processing method the class defines, and refuses neither or both" do
    expect(ConsumerClassUnitSpec::OrdersConsumer.processing_mode).to eq(:message)
    expect(ConsumerClassUnitSpec::AuditConsumer.processing_mode).to eq(:batch)
    neither = consumer_class
    both = consumer_class do
      def process(_message); end
      def process_batch(_batch); end
    end
    expect { neither.processing_mode }.to raise_error(ArgumentError, /must define process\(message\) or process_batch\(batch\)/)
    expect { both.processing_mode }.to raise_error(ArgumentError, /defines both process and process_batch/)
    expect { neither.new.run }.to raise_error(ArgumentError, /must define process/)
  end

  it "refuses run for a class without subscriptions before joining anything" do
    klass = consumer_class { def process(_message); end }
    expect { klass.new.run }.to raise_error(ArgumentError, /subscribes to no topic/)
  end

  it "names the argument subscribes_to refuses" do
    klass = consumer_class
    expect { klass.subscribes_to }.to raise_error(ArgumentError, /at least one topic/)
    expect { klass.subscribes_to(42) }.to raise_error(TypeError, /topic must be a String or a Regexp, got Integer/)
    expect { klass.subscribes_to("no spaces") }.to raise_error(ArgumentError, /topic "no spaces" is not a valid topic name/)
    expect { klass.subscribes_to("t", default_offset: :middle) }.to raise_error(ArgumentError, /default_offset must be :earliest or :latest/)
    expect { klass.subscribes_to("t", max_bytes_per_partition: 0) }.to raise_error(ArgumentError, /max_bytes_per_partition must be at least 1/)
    expect { klass.subscribes_to("t", max_bytes_per_partition: "1") }.to raise_error(TypeError, /max_bytes_per_partition/)
    expect(klass.subscriptions).to eq([])
  end

  it "names an unknown consumer_options key, and knows Consumer's own keywords" do
    klass = consumer_class
    expect { klass.consumer_options(session_timout: 6) }
      .to raise_error(ArgumentError, /consumer_options: unknown :session_timout \(known: .*session_timeout/)
    # Set by the class itself, not by options.
    expect { klass.consumer_options(group_id: "g") }.to raise_error(ArgumentError, /unknown :group_id/)
    expect(KafkaRs::Consumer::CLASS_OPTIONS).to include(:session_timeout, :heartbeat_interval, :offset_commit_interval,
                                                        :assignment_strategy, :isolation_level)
    expect(KafkaRs::Consumer::CLASS_OPTIONS).not_to include(:client, :native_client, :group_id)
    expect(klass.consumer_options).to eq({})
  end

  it "names what on_error refuses" do
    klass = consumer_class
    expect { klass.on_error(:ignore) }.to raise_error(ArgumentError, /policy must be one of :retry_with_backoff, :skip, :stop, got :ignore/)
    expect { klass.on_error(:skip, backoff: 0) }.to raise_error(ArgumentError, /backoff must be positive/)
    expect { klass.on_error(:retry_with_backoff, backoff: 5, max_backoff: 1) }
      .to raise_error(ArgumentError, /max_backoff \(1.0\) must not be below backoff \(5.0\)/)
    expect { klass.on_error(:retry_with_backoff, max_attempts: 0) }.to raise_error(ArgumentError, /max_attempts must be at least 1/)
    expect { klass.on_error(:retry_with_backoff, exhausted: :retry) }.to raise_error(ArgumentError, /exhausted must be :stop or :skip/)
    expect(klass.on_error).to eq(KafkaRs::Consumer::DEFAULT_ERROR_POLICY)
  end

  it "checks group_id" do
    klass = consumer_class
    expect { klass.group_id("") }.to raise_error(ArgumentError, /group_id must not be empty/)
    expect { klass.group_id(42) }.to raise_error(TypeError, /group_id/)
    klass.group_id(:named)
    expect(klass.group_id).to eq("named")
  end

  it "lists the consumer classes defined, in definition order" do
    classes = KafkaRs::Consumer.consumer_classes
    expect(classes).to include(ConsumerClassUnitSpec::OrdersConsumer, ConsumerClassUnitSpec::AuditConsumer)
    expect(classes.index(ConsumerClassUnitSpec::BaseConsumer)).to be < classes.index(ConsumerClassUnitSpec::OrdersConsumer)
  end

  it "keeps a plain consumer from being made without a client, and from running as a class" do
    expect { KafkaRs::Consumer.new }.to raise_error(ArgumentError, /use KafkaRs::Client#consumer/)
  end

  it "refuses a Worker over things that are not runnable consumer classes" do
    require "kafka_rs/worker"
    expect { KafkaRs::Worker.new([]) }.to raise_error(ArgumentError, /no consumer classes/)
    expect { KafkaRs::Worker.new([String]) }.to raise_error(ArgumentError, /String is not a consumer class/)
    expect { KafkaRs::Worker.new([consumer_class]) }.to raise_error(ArgumentError, /must define process/)
    expect { KafkaRs::Worker.new([ConsumerClassUnitSpec::OrdersConsumer], concurrency: 0) }
      .to raise_error(ArgumentError, /concurrency must be at least 1/)
  end
end
