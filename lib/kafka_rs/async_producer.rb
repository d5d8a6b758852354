# frozen_string_literal: true

module KafkaRs
  # A producer that sends in the background, shaped like ruby-kafka's `Kafka::AsyncProducer`:
  #
  #   producer = kafka.async_producer(delivery_interval: 0.01)
  #   producer.produce(event.to_json, topic: "events", key: user.id.to_s)   # no network I/O
  #   ...
  #   producer.shutdown   # delivers what is queued (within a timeout), then stops
  #
  # {#produce} converts and validates the message like {Producer#produce}, then queues it in the
  # native producer and returns: it never waits on the network. A background task (in Rust, on
  # the process's runtime) groups messages into per-partition batches and sends them, retrying
  # retriable errors after `retry_backoff`. A full queue raises {BufferOverflow} at once.
  #
  # Idempotence is on by default with `required_acks: :all` (`idempotent: false` turns it off):
  # the producer gets a producer id and numbers each partition's records, so up to five batches
  # per partition can be in flight while order holds and a retry of a batch the broker already
  # wrote is not written twice. Without it, one batch per partition is in flight. Getting the id
  # is set-up, not a send: a broker that answers it is not ready to give one yet is asked again
  # whatever `max_retries` says, until `delivery_timeout` (brokers that cannot be reached count
  # against `max_retries`, as for a send).
  #
  # When batches go out (ruby-kafka's triggers): `delivery_interval` seconds after a batch's
  # first message, when a partition has `delivery_threshold` messages (or `max_buffer_size`
  # when no threshold is set) or its batch is full, on {#deliver_messages}, {#flush} and
  # {#shutdown}. With both triggers 0 (ruby-kafka's default) nothing is sent by time alone;
  # `linger_ms:` sets a time trigger in milliseconds instead.
  #
  # Beyond ruby-kafka: {#produce_async} returns a {DeliveryHandle}; {#produce_many} queues an
  # Array of messages in one native call; {#flush} waits until everything is delivered.
  #
  # Every message given to the producer is settled once: delivered, or failed (retries used up,
  # `delivery_timeout` passed, producer shut down). A handle reports a failure to whoever waits
  # on it; the client's logger gets it on the next {#flush}, {#deliver_messages},
  # {#produce_many} or {#shutdown} (background diagnostics are handed over on those calls).
  class AsyncProducer
    # @api private: use {Client#async_producer}
    def initialize(client:, native_client:, delivery_threshold: 0, delivery_interval: 0, max_queue_size: 1000,
                   max_retries: -1, retry_backoff: 0, partitioner: nil, required_acks: :all, ack_timeout: 5,
                   compression_codec: nil, compression_threshold: 1, max_buffer_size: 1000,
                   max_buffer_bytesize: 10_000_000, interceptors: [], allow_auto_create_topics: true,
                   linger_ms: nil, delivery_timeout: 120, shutdown_timeout: 30, idempotent: nil)
      Validation.integer!(delivery_threshold, "delivery_threshold", min: 0)
      Validation.positive_number!(delivery_interval, "delivery_interval", allow_zero: true)
      @max_queue_size = Validation.integer!(max_queue_size, "max_queue_size", min: 1)
      Validation.integer!(max_buffer_size, "max_buffer_size", min: 1)
      Validation.integer!(max_buffer_bytesize, "max_buffer_bytesize", min: 1)
      Validation.positive_number!(linger_ms, "linger_ms", allow_zero: true) unless linger_ms.nil?
      delivery_timeout = Validation.timeout!(delivery_timeout, "delivery_timeout", 120)
      @shutdown_timeout = Validation.timeout!(shutdown_timeout, "shutdown_timeout", 30)

      @client = client
      @interceptors = Producer.interceptors!(interceptors)
      partitioner = Partitioners.resolve(partitioner)
      unless partitioner.is_a?(String)
        raise ArgumentError, "the async producer takes :crc32 or :murmur2 as partitioner (a callable one runs " \
                             "in Ruby, per message: use the buffered producer for it)"
      end

      linger = if delivery_interval.positive? then delivery_interval.to_f
               elsif linger_ms then linger_ms / 1000.0
               else -1.0
               end
      settings = Producer.native_settings(
        required_acks: required_acks, ack_timeout: ack_timeout, max_retries: max_retries, min_retries: -1,
        retry_backoff: retry_backoff.nil? ? 0 : retry_backoff, partitioner: partitioner,
        compression_codec: compression_codec, compression_threshold: compression_threshold,
        allow_auto_create_topics: allow_auto_create_topics, idempotent: idempotent
      )
      batch_records = delivery_threshold.positive? ? delivery_threshold : max_buffer_size
      @native = Native::AsyncProducer.new(native_client, settings, linger, batch_records, max_queue_size,
                                          max_buffer_bytesize, delivery_timeout.to_f)
      @closed = false
      @callbacks = { delivery: [], error: [] }
      @reporter = nil
      @reporter_pid = nil
      @reporter_lock = Mutex.new
      AsyncProducer.track(self)
    end

    # Calls the block with a {DeliveryReport} for every message delivered after this call, on a
    # thread the producer owns (never on a Rust thread). An exception in the block is logged and
    # delivery goes on. Several blocks may be registered.
    #
    # @yieldparam report [DeliveryReport]
    # @return [self]
    def on_delivery(&block)
      add_callback(:delivery, block)
    end

    # Calls the block with the error and the message (a {PendingMessage}) for every message that
    # finally failed after this call (retries used up, delivery timeout, shutdown), on the
    # producer's own thread; see {#on_delivery}.
    #
    # @yieldparam error [KafkaRs::Error]
    # @yieldparam message [PendingMessage]
    # @return [self]
    def on_error(&block)
      add_callback(:error, block)
    end

    # Queues a message (ruby-kafka's arguments and conversions, see {Producer#produce}); never
    # waits on the network.
    #
    # @raise [BufferOverflow] when `max_queue_size` messages (or `max_buffer_bytesize` bytes) are
    #   queued and not yet delivered; the message is not queued
    # @return [nil]
    def produce(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                create_time: nil)
      enqueue(Producer.entry(value, topic, key, headers, partition, partition_key, create_time), false)
      nil
    end

    # Like {#produce}, and returns the message's {DeliveryHandle}.
    #
    # @return [DeliveryHandle]
    def produce_async(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                      create_time: nil)
      entry = Producer.entry(value, topic, key, headers, partition, partition_key, create_time)
      entry = intercept(entry) unless @interceptors.empty?
      native = enqueue(entry, true, intercepted: true)
      DeliveryHandle.new(native, 0, self, entry[2], entry[6])
    end

    # Queues every message in one native call: all of them, or (queue full, bad input) none.
    #
    # @param messages [Array<Hash>] each `{ value:, topic:, key:, headers:, partition:,
    #   partition_key:, create_time: }` (`value:` and `topic:` required)
    # @return [Array<DeliveryHandle>] one per message, in order
    def produce_many(messages)
      raise TypeError, "messages must be an Array, got #{messages.class}" unless messages.is_a?(Array)

      i = -1
      entries = messages.map do |m|
        entry = AsyncProducer.entry_of(m, i += 1)
        @interceptors.empty? ? entry : intercept(entry)
      end
      check_open!
      group = begin
        @client.logged { @native.produce_many(entries) }
      rescue BufferOverflow => e
        raise BufferOverflow, "Cannot produce #{entries.size} messages, max queue size (#{@max_queue_size} messages) " \
                              "would be passed: #{e.message}"
      end
      Array.new(entries.size) { |i| DeliveryHandle.new(group, i, self, entries[i][2], entries[i][6]) }
    end

    MESSAGE_KEYS = %i[value topic key headers partition partition_key create_time].freeze
    MESSAGE_KEY_SET = MESSAGE_KEYS.to_h { |k| [k, true] }.freeze

    # @api private
    # The checked entry of `messages[i]` of a {#produce_many} call (also the testing fake's).
    def self.entry_of(m, i)
      raise TypeError, "messages[#{i}] must be a Hash, got #{m.class}" unless m.is_a?(Hash)

      m.each_key do |k|
        next if MESSAGE_KEY_SET[k]

        raise ArgumentError, "messages[#{i}] has unknown keys: #{(m.keys - MESSAGE_KEYS).join(', ')}"
      end
      raise ArgumentError, "messages[#{i}] needs :topic" unless m.key?(:topic)

      Producer.entry(m[:value], m[:topic], m[:key], m.fetch(:headers, Producer::NO_HEADERS),
                     m[:partition], m[:partition_key], m[:create_time])
    end

    # Asks for everything queued to be sent now (ruby-kafka's `deliver_messages`; no wait).
    # @return [nil]
    def deliver_messages
      @client.logged { @native.flush_now } unless @closed
      nil
    end

    # Sends everything queued and waits until every message is delivered or failed.
    #
    # @param timeout [Numeric] seconds
    # @return [Boolean] false if messages were still pending when the time ran out
    def flush(timeout: 30)
      timeout = Validation.timeout!(timeout, "timeout", 30)
      @client.logged { @native.flush(timeout.to_f) }
    end

    # Messages queued or in flight, not yet settled.
    # @return [Integer]
    def queue_size
      @native.outstanding
    end

    # Delivers what is queued (waiting up to `timeout` seconds), then stops. Messages that could
    # not be delivered in time fail (their handles raise {ClientClosed}) and a warning with their
    # count goes to the client's logger. Later calls to {#produce} raise {ClientClosed}.
    #
    # @return [nil]
    def shutdown(timeout: @shutdown_timeout)
      return nil if @closed

      @closed = true
      timeout = Validation.timeout!(timeout, "timeout", @shutdown_timeout)
      failed = @client.logged { @native.close(timeout.to_f) }
      if failed.positive?
        message = "async producer shut down: #{failed} messages not delivered (shutdown timeout #{timeout} s)"
        # Never silent: without a logger the warning goes to stderr.
        @client.logger ? @client.logger.warn("kafka_rs") { message } : Kernel.warn("kafka_rs: #{message}")
        if Instrumenter.listening?("drop_messages.async_producer")
          Instrumenter.instrument("drop_messages.async_producer", client_id: @client.client_id, message_count: failed)
        end
      end
      join_reporter(timeout)
      nil
    end

    def closed?
      @closed
    end

    # @api private
    # Live async producers, shut down at exit (see below).
    @live = ObjectSpace::WeakMap.new
    @live_lock = Mutex.new

    class << self
      # @api private
      def track(producer)
        @live_lock.synchronize { @live[producer] = true }
      end

      # @api private
      # Shuts every live producer down (each within its shutdown_timeout).
      def shutdown_all
        producers = @live_lock.synchronize { @live.keys }
        producers.each do |p|
          p.shutdown
        rescue StandardError => e
          warn "kafka_rs: shutting an async producer down at exit failed: #{e.class}: #{e.message}"
        end
      end
    end

    private

    def check_open!
      raise ClientClosed, "the async producer is shut down" if @closed
    end

    def enqueue(entry, want_handle, intercepted: false)
      check_open!
      entry = intercept(entry) unless intercepted || @interceptors.empty?
      ensure_reporter if reporter_wanted? && @reporter_pid != Process.pid
      native = @native.produce(entry, want_handle)
      if Instrumenter.listening?("enqueue_message.async_producer")
        Instrumenter.instrument("enqueue_message.async_producer", client_id: @client.client_id, topic: entry[2],
                                                                  queue_size: @native.outstanding,
                                                                  max_queue_size: @max_queue_size)
      end
      native
    rescue BufferOverflow
      if Instrumenter.listening?("buffer_overflow.async_producer")
        Instrumenter.instrument("buffer_overflow.async_producer", client_id: @client.client_id, topic: entry[2])
      end
      raise BufferOverflow, "Cannot produce to #{entry[2]}, max queue size (#{@max_queue_size} messages) reached"
    end

    def add_callback(kind, block)
      raise ArgumentError, "on_#{kind} needs a block" unless block

      @reporter_lock.synchronize { @callbacks[kind] += [block] }
      ensure_reporter(force: true)
      self
    end

    # Reports are wanted for callbacks and acknowledgement or failure events; the reporter thread
    # also hands background diagnostics to the logger while messages are outstanding.
    def reports_wanted?
      deliveries_wanted? || !@callbacks[:error].empty? || Instrumenter.listening?("topic_error.producer")
    end

    # Reports of delivered messages too (else the core reports failures only: a delivered message
    # then costs nothing extra).
    def deliveries_wanted?
      !@callbacks[:delivery].empty? || Instrumenter.listening?("ack_message.producer")
    end

    def reporter_wanted?
      reports_wanted? || !@client.logger.nil?
    end

    # Starts the producer's reporter thread (again in a forked child: threads do not survive
    # fork). With callbacks or acknowledgement subscribers it waits natively (GVL released) for
    # reports of settled messages and runs them; otherwise it only hands the core's background
    # diagnostics to the logger every half second.
    def ensure_reporter(force: false)
      @reporter_lock.synchronize do
        return if @reporter_pid == Process.pid && @reporter&.alive?
        return unless force || reporter_wanted?

        # Creates the native report queue now: messages accepted from here on are reported.
        @native.report_failures_only = !deliveries_wanted? if reports_wanted?
        @reporter_pid = Process.pid
        @reporter = Thread.new { run_reporter }
        @reporter.name = "kafka_rs-reports"
        # Started again in a forked child (above): preforking servers need not worry about it
        # (Puma skips threads marked so in its warning about threads started before the fork).
        @reporter.thread_variable_set(:fork_safe, true)
      end
    end

    def run_reporter
      loop do
        if reports_wanted?
          @native.report_failures_only = !deliveries_wanted?
          reports = @native.reports(1000, 0.5)
          break if reports.nil?

          reports.each { |r| dispatch_report(r) }
        else
          break if @closed

          sleep 0.5
        end
        @client.logged { nil } if @client.logger
      end
    rescue ClientClosed
      nil
    rescue StandardError => e
      @client.logger&.error("kafka_rs") { "async producer report thread stopped: #{e.class}: #{e.message}" }
    end

    def dispatch_report(report)
      topic, partition, offset, timestamp_ms, error, value, key, headers = report
      if error.nil?
        delivered(topic, partition, offset, timestamp_ms, value, key)
      else
        failed(error, topic, partition, timestamp_ms, value, key, headers)
      end
    end

    def delivered(topic, partition, offset, timestamp_ms, value, key)
      if Instrumenter.listening?("ack_message.producer")
        delay = (Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond) - timestamp_ms) / 1000.0
        Instrumenter.instrument("ack_message.producer", client_id: @client.client_id, key: key, value: value,
                                                        topic: topic, partition: partition, offset: offset,
                                                        delay: delay)
      end
      return if @callbacks[:delivery].empty?

      report = DeliveryReport.new(topic, partition, offset, Time.at(timestamp_ms / 1000, timestamp_ms % 1000, :millisecond))
      @callbacks[:delivery].each { |cb| run_callback(:on_delivery) { cb.call(report) } }
    end

    def failed(error, topic, partition, timestamp_ms, value, key, headers)
      if Instrumenter.listening?("topic_error.producer")
        Instrumenter.instrument("topic_error.producer", client_id: @client.client_id, topic: topic,
                                                        exception: [error.class.name, error.message])
      end
      return if @callbacks[:error].empty?

      message = PendingMessage.new(value: value, key: key, headers: headers || {}, topic: topic,
                                   partition: partition.negative? ? nil : partition,
                                   create_time: Time.at(timestamp_ms / 1000, timestamp_ms % 1000, :millisecond))
      @callbacks[:error].each { |cb| run_callback(:on_error) { cb.call(error, message) } }
    end

    def run_callback(kind)
      yield
    rescue StandardError => e
      @client.logger&.error("kafka_rs") { "#{kind} callback raised #{e.class}: #{e.message}" }
    end

    # Waits (up to `timeout`) for the reporter to run the reports of the messages settled by the
    # shutdown; never from the reporter thread itself.
    def join_reporter(timeout)
      thread = @reporter
      return if thread.nil? || thread == Thread.current || @reporter_pid != Process.pid

      thread.join(timeout.to_f + 1)
    end

    def intercept(entry)
      Producer.intercept_entry(entry, @interceptors, @client.logger)
    end
  end
end

# Messages still queued when the process exits are delivered (within each producer's
# shutdown_timeout) or reported as failed, never dropped silently. Forked children run their
# own hook for their own producers only (what the parent queued is never sent by a child).
at_exit { KafkaRs::AsyncProducer.shutdown_all }
