# frozen_string_literal: true

require_relative "../kafka_rs"

module KafkaRs
  # A test mode for apps: the shared producer ({KafkaRs.producer}, {KafkaRs.produce},
  # {KafkaRs.produce_async}) and the pool's producers ({KafkaRs.with_producer}) record messages in
  # memory instead of sending them. Required explicitly, from a test helper:
  #
  #   require "kafka_rs/testing"
  #   require "kafka_rs/testing/rspec"      # have_produced_kafka_message
  #   require "kafka_rs/testing/minitest"   # assert_kafka_produced
  #   KafkaRs::Testing.fake!
  #
  #   KafkaRs.produce(order.to_json, topic: "orders", key: order.user_id.to_s)
  #   KafkaRs::Testing.messages(topic: "orders").map(&:key)  # => ["42"]
  #   KafkaRs::Testing.clear
  #   KafkaRs::Testing.real!   # back to the broker
  #
  # Messages are checked and converted exactly as the real producers do (the same code: a bad
  # topic name or a value without `to_s` raises the same error) and recorded as
  # {PendingMessage}s, in order, with the topic the app named (before any prefix). The fakes take
  # the place of the real objects ({KafkaRs.override_shared}); nothing on the real producers' path
  # checks a testing flag. A forked child (parallel test workers) keeps the fakes, with its own
  # recordings.
  module Testing
    @messages = []
    @lock = Mutex.new
    @fake = false

    class << self
      # Records instead of sending, from now on.
      #
      # @return [nil]
      def fake!
        KafkaRs.override_shared(producer: FakeProducer.new, pool: FakePool.new)
        @fake = true
        nil
      end

      # Sends to Kafka again (the real producer and pool are built on first use).
      #
      # @return [nil]
      def real!
        KafkaRs.override_shared
        @fake = false
        nil
      end

      def fake?
        @fake
      end

      # Runs the block in fake mode, then goes back to the mode before.
      def fake
        was = @fake
        fake!
        yield
      ensure
        real! unless was
      end

      # The messages recorded, oldest first, optionally only those matching (see {matches?}).
      #
      # @return [Array<PendingMessage>]
      def messages(topic: nil, key: nil, value: nil, headers: nil, partition: nil)
        all = @lock.synchronize { @messages.dup }
        criteria = { topic: topic, key: key, value: value, headers: headers, partition: partition }
        all.select { |m| matches?(m, **criteria) }
      end

      # Forgets the messages recorded so far.
      def clear
        @lock.synchronize { @messages = [] }
        nil
      end

      # Whether `message` has the given topic, key, value (compared with `===`: a Regexp, a
      # class or a lambda works too), partition, and headers (the given ones, among others); a
      # nil criterion matches anything.
      def matches?(message, topic: nil, key: nil, value: nil, headers: nil, partition: nil)
        (topic.nil? || topic.to_s == message.topic) &&
          (key.nil? || key === message.key || key.to_s == message.key) && # rubocop:disable Style/CaseEquality
          (value.nil? || value === message.value) && # rubocop:disable Style/CaseEquality
          (partition.nil? || partition == message.partition) &&
          (headers.nil? || headers.all? { |k, v| message.headers[k.to_s] == v.to_s })
      end

      # @api private
      def record(entries)
        messages = entries.map { |entry| PendingMessage.from_entry(entry) }
        @lock.synchronize { @messages.concat(messages) }
        messages
      end

      # @api private
      # How many messages went to `topic` before, for the offsets of fake delivery reports.
      def count(topic)
        @lock.synchronize { @messages.count { |m| m.topic == topic } }
      end
    end

    # In place of the shared {AsyncProducer}: every message is "delivered" at once (its handle's
    # report names the partition given, else 0, and the message's place in its topic as offset).
    class FakeProducer
      def initialize
        @callbacks = { delivery: [], error: [] }
        @closed = false
      end

      def produce(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                  create_time: nil)
        deliver([Producer.entry(value, topic, key, headers, partition, partition_key, create_time)])
        nil
      end

      def produce_async(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                        create_time: nil)
        deliver([Producer.entry(value, topic, key, headers, partition, partition_key, create_time)]).first
      end

      def produce_many(messages)
        raise TypeError, "messages must be an Array, got #{messages.class}" unless messages.is_a?(Array)

        deliver(messages.each_with_index.map { |m, i| AsyncProducer.entry_of(m, i) })
      end

      def on_delivery(&block)
        raise ArgumentError, "on_delivery needs a block" unless block

        @callbacks[:delivery] << block
        self
      end

      def on_error(&block)
        raise ArgumentError, "on_error needs a block" unless block

        @callbacks[:error] << block
        self
      end

      def deliver_messages = nil
      def flush(timeout: 30) = true # rubocop:disable Lint/UnusedMethodArgument
      def queue_size = 0

      def shutdown(timeout: nil) # rubocop:disable Lint/UnusedMethodArgument
        @closed = true
        nil
      end

      def closed? = @closed

      private

      def deliver(entries)
        raise ClientClosed, "the async producer is shut down" if @closed

        offsets = Hash.new { |h, topic| h[topic] = Testing.count(topic) }
        reports = entries.map do |entry|
          DeliveryReport.new(entry[2], entry[3] || 0, (offsets[entry[2]] += 1) - 1,
                             Time.at(entry[6] / 1000, entry[6] % 1000, :millisecond))
        end
        Testing.record(entries)
        reports.each { |r| @callbacks[:delivery].each { |cb| cb.call(r) } }
        reports.map { |r| DeliveredHandle.new(r) }
      end
    end

    # A {DeliveryHandle} of a message the fake producer recorded: delivered.
    DeliveredHandle = Struct.new(:report) do
      def pending? = false
      def error = nil

      def wait(timeout: nil) # rubocop:disable Lint/UnusedMethodArgument
        report
      end
    end

    # In place of a pool entry's buffered {Producer}: buffers like it, records on
    # {#deliver_messages}.
    class FakeBufferedProducer
      def initialize
        @buffer = []
        @lock = Mutex.new
      end

      def produce(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                  create_time: nil)
        entry = Producer.entry(value, topic, key, headers, partition, partition_key, create_time)
        @lock.synchronize { @buffer << entry }
        nil
      end

      def deliver_messages
        entries = @lock.synchronize { @buffer.slice!(0..) }
        Testing.record(entries) unless entries.empty?
        nil
      end

      def buffer_size = @lock.synchronize { @buffer.size }
      def buffer_bytesize = @lock.synchronize { @buffer.sum { |e| Producer.entry_bytesize(e) } }
      def buffer_empty? = buffer_size.zero?

      def clear_buffer
        @lock.synchronize { @buffer.clear }
        nil
      end

      def shutdown = nil
    end

    # In place of {KafkaRs.pool}: entries whose producer records; their client is a real one
    # (built on first use: it connects to the configured brokers).
    class FakePool
      Entry = Struct.new(:producer) do
        def client
          @client ||= KafkaRs.new(**KafkaRs.config.client_options)
        end
      end

      def with(_options = {})
        yield Entry.new(FakeBufferedProducer.new)
      end
      alias then with

      def size = KafkaRs.config.pool_size
      def shutdown = nil
    end
  end
end
