# frozen_string_literal: true

module KafkaRs
  # Buffers messages and delivers them in batches, like ruby-kafka's `Kafka::Producer`.
  #
  #   producer = kafka.producer(required_acks: :all, max_retries: 2)
  #   producer.produce("hello", topic: "greetings", key: "user-1")
  #   producer.deliver_messages
  #
  # {#produce} only appends to the buffer (no I/O). {#deliver_messages} sends the whole buffer in
  # one native call: the messages are grouped per partition leader, each partition's records go
  # out as one batch, all brokers are written to at once, and the calling thread waits with the
  # GVL released. Messages that still fail after `max_retries` stay in the buffer and are listed
  # by the raised {DeliveryFailed}.
  #
  # A producer may be shared by threads: the buffer is guarded by a mutex.
  class Producer
    ACKS = { all: -1, -1 => -1, 0 => 0, 1 => 1 }.freeze
    # The default of `headers:`, shared so that a call without headers allocates no Hash.
    NO_HEADERS = {}.freeze
    CODECS = { nil => "none", none: "none", gzip: "gzip", snappy: "snappy", lz4: "lz4", zstd: "zstd" }.freeze

    # @api private: use {Client#producer}
    #
    # @param interceptors [Array<#call>] each `call(pending_message)` returns the message to
    #   buffer instead (ruby-kafka's producer interceptors); one that raises is logged and skipped
    # @param allow_auto_create_topics [Boolean] producing to a topic that does not exist creates
    #   it where the broker allows auto-creation (the Java producer's and ruby-kafka's behaviour)
    # @param idempotent [Boolean, nil] stamp batches with a producer id and sequence numbers so
    #   the broker drops a retried batch it already wrote (no duplicates from retries, order kept).
    #   nil (the default) turns it on with `required_acks: :all`; pass false for a broker where
    #   the principal lacks the IDEMPOTENT_WRITE permission. Getting the id is set-up, not a send:
    #   a broker that answers it is not ready to give one (every broker just after it starts) is
    #   asked again whatever `max_retries` says, for up to 120 s; brokers that cannot be reached
    #   count against `max_retries`, as for a send
    def initialize(client:, native_client:, partitioner: nil, required_acks: :all, ack_timeout: 5,
                   max_retries: 2, retry_backoff: 1, max_buffer_size: 1000,
                   max_buffer_bytesize: 10_000_000, compression_codec: nil, compression_threshold: 1,
                   interceptors: [], allow_auto_create_topics: true, idempotent: nil)
      @partitioner = Partitioners.resolve(partitioner)
      settings = Producer.native_settings(
        required_acks: required_acks, ack_timeout: ack_timeout, max_retries: max_retries, min_retries: 0,
        retry_backoff: retry_backoff.nil? ? 1 : retry_backoff,
        partitioner: @partitioner.is_a?(String) ? @partitioner : "crc32", compression_codec: compression_codec,
        compression_threshold: compression_threshold, allow_auto_create_topics: allow_auto_create_topics,
        idempotent: idempotent
      )
      @max_buffer_size = Validation.integer!(max_buffer_size, "max_buffer_size", min: 1)
      @max_buffer_bytesize = Validation.integer!(max_buffer_bytesize, "max_buffer_bytesize", min: 1)
      @interceptors = Producer.interceptors!(interceptors)
      @client = client
      @native = Native::Producer.new(native_client, settings)
      @buffer = []
      @buffer_bytesize = 0
      @lock = Mutex.new
      # Held for a whole delivery, so that two threads never send the same buffer twice.
      @deliver_lock = Mutex.new
    end

    # Appends a message to the buffer. Nothing is sent until {#deliver_messages}.
    #
    # Arguments are converted as ruby-kafka converts them: `value`, `key` and `partition_key`
    # through `to_s` (nil stays nil), `partition` through `Integer()`, header keys and values
    # through `to_s` (a nil header value is sent as ""). Interceptors then see the message.
    #
    # @param value [String, nil] the message value (nil for a tombstone)
    # @param topic [String]
    # @param key [String, nil] partitions the message unless `partition` or `partition_key` is given
    # @param headers [Hash{String => String}]
    # @param partition [Integer, nil] an explicit partition
    # @param partition_key [String, nil] hashed to pick the partition instead of the key
    # @param create_time [Time] the message timestamp
    # @raise [BufferOverflow] if the buffer is full
    # @return [nil]
    def produce(value, topic:, key: nil, headers: NO_HEADERS, partition: nil, partition_key: nil, create_time: nil)
      entry = Producer.entry(value, topic, key, headers, partition, partition_key, create_time)
      entry = intercept(entry) unless @interceptors.empty?
      size = Producer.entry_bytesize(entry)
      overflow = @lock.synchronize do
        if @buffer.size >= @max_buffer_size
          "Cannot produce to #{entry[2]}, max buffer size (#{@max_buffer_size} messages) reached"
        elsif @buffer_bytesize + size > @max_buffer_bytesize
          "Cannot produce to #{entry[2]}, max buffer bytesize (#{@max_buffer_bytesize} bytes) reached"
        else
          @buffer << entry
          @buffer_bytesize += size
          nil
        end
      end
      if overflow
        if Instrumenter.listening?("buffer_overflow.producer")
          Instrumenter.instrument("buffer_overflow.producer", client_id: @client.client_id, topic: entry[2])
        end
        raise BufferOverflow, overflow
      end
      instrument_produce(entry, size) if Instrumenter.listening?("produce_message.producer")
      nil
    end

    # Sends every buffered message. A message leaves the buffer only once the broker has
    # acknowledged it (with `required_acks: 0`, once it is written to the socket).
    #
    # On any failure (a broker error after the retries, a closed client, an unknown topic, a
    # partitioner that raised) the undelivered messages stay in the buffer in their original
    # order, ahead of anything produced meanwhile, and {DeliveryFailed} lists them (its `cause`
    # is the first underlying error). An interrupt while waiting (Thread#raise, Timeout, Ctrl-C)
    # leaves every message of the call in the buffer and goes on as it was raised; the broker
    # may have received some of them, so a later delivery can repeat them (at-least-once).
    #
    # @raise [DeliveryFailed]
    # @return [nil]
    def deliver_messages
      @deliver_lock.synchronize do
        # Interrupts are held off except while the delivery runs, so none can arrive between
        # taking the buffer and putting the undelivered messages back.
        Thread.handle_interrupt(Object => :never) { deliver_buffer }
      end
    end

    # @return [Integer] number of buffered messages
    def buffer_size
      @lock.synchronize { @buffer.size }
    end

    # @return [Integer] bytes of keys and values buffered
    def buffer_bytesize
      @lock.synchronize { @buffer_bytesize }
    end

    # @return [Boolean]
    def buffer_empty?
      buffer_size.zero?
    end

    # Drops every buffered message.
    def clear_buffer
      @lock.synchronize do
        @buffer = []
        @buffer_bytesize = 0
      end
      nil
    end

    # Releases the producer; the client's connections stay open. Messages still buffered are not
    # dropped silently: they stay in the buffer ({#buffer_size}) and a warning names how many.
    def shutdown
      left = buffer_size
      @client.logger&.warn("kafka_rs") { "producer shut down with #{left} undelivered messages in its buffer" } if left.positive?
      nil
    end

    # @api private
    # Validates and converts one message (ruby-kafka's conversions, see {#produce}) and returns
    # the entry the native producer takes. The common case (String or nil fields, a topic seen
    # before, no headers, no explicit time) takes the inline checks.
    def self.entry(value, topic, key, headers, partition, partition_key, create_time)
      # `String === x` and `nil.equal?(x)`, unlike `x.is_a?`, also work for a BasicObject.
      value = Validation.to_bytes!(value, "value") unless String === value || nil.equal?(value)
      topic = Validation.topic_name!(topic) unless String === topic
      Validation.topic_cached!(topic)
      key = Validation.to_bytes!(key, "key") unless String === key || nil.equal?(key)
      partition = Validation.to_partition!(partition) unless nil.equal?(partition)
      partition_key = Validation.to_bytes!(partition_key, "partition_key") unless nil.equal?(partition_key)
      headers = headers.equal?(NO_HEADERS) ? nil : Validation.headers!(headers)
      time = create_time.nil? ? Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond) : Validation.timestamp_ms!(create_time)
      [value, key, topic, partition, partition_key, headers, time]
    end

    # @api private
    # Validates the options both producers share and returns the settings Array their native
    # classes take: `[acks, ack_timeout, max_retries, retry_backoff, partitioner, codec,
    # compression_threshold, allow_auto_create_topics, idempotent]`. `idempotent` nil means on
    # with `required_acks: :all` and off otherwise.
    def self.native_settings(required_acks:, ack_timeout:, max_retries:, min_retries:, retry_backoff:, partitioner:,
                             compression_codec:, compression_threshold:, allow_auto_create_topics:, idempotent:)
      acks = ACKS.fetch(required_acks) do
        raise ArgumentError, "required_acks must be :all, -1, 0 or 1, got #{required_acks.inspect}"
      end
      codec = CODECS.fetch(compression_codec) do
        raise ArgumentError, "compression_codec must be nil, :gzip, :snappy, :lz4 or :zstd, " \
                             "got #{compression_codec.inspect}"
      end
      ack_timeout = Validation.timeout!(ack_timeout, "ack_timeout", 5)
      Validation.integer!(max_retries, "max_retries", min: min_retries)
      Validation.positive_number!(retry_backoff, "retry_backoff", allow_zero: true)
      Validation.integer!(compression_threshold, "compression_threshold", min: 1)
      unless [true, false].include?(allow_auto_create_topics)
        raise TypeError, "allow_auto_create_topics must be true or false, got #{allow_auto_create_topics.inspect}"
      end

      case idempotent
      when nil then idempotent = acks == -1
      when true
        unless acks == -1
          raise ArgumentError, "idempotent: true needs required_acks: :all (got #{required_acks.inspect}); " \
                               "pass idempotent: false to produce with fewer acknowledgements"
        end
      when false then nil
      else raise TypeError, "idempotent must be true, false or nil, got #{idempotent.inspect}"
      end

      [acks, ack_timeout.to_f, max_retries, retry_backoff.to_f, partitioner, codec, compression_threshold,
       allow_auto_create_topics, idempotent]
    end

    # @api private
    def self.interceptors!(interceptors)
      raise TypeError, "interceptors must be an Array, got #{interceptors.class}" unless interceptors.is_a?(Array)

      interceptors.each_with_index do |i, n|
        raise TypeError, "interceptors[#{n}] must respond to #call, got #{i.class}" unless i.respond_to?(:call)
      end
      interceptors.dup.freeze
    end

    # @api private
    # ruby-kafka's interceptor chain: each gets the message and returns the one to send; one that
    # raises is logged and skipped. Returns the entry of the message the chain ends with.
    def self.intercept_entry(entry, interceptors, logger)
      message = PendingMessage.from_entry(entry)
      interceptors.each do |interceptor|
        message = interceptor.call(message)
      rescue StandardError => e
        logger&.warn("kafka_rs") do
          "producer interceptor #{interceptor.class} failed for topic #{message.topic}: #{e.class}: #{e.message}"
        end
      end
      unless message.respond_to?(:value) && message.respond_to?(:topic)
        raise TypeError, "an interceptor returned #{message.class}, not a message"
      end

      headers = message.headers.nil? || message.headers.empty? ? NO_HEADERS : message.headers
      entry(message.value, message.topic, message.key, headers, message.partition, message.partition_key,
            message.create_time)
    end

    # @api private
    def self.raise_delivery_failed(failed, errors)
      topics = failed.map { |e| e[2] }.uniq
      first = errors.first
      message = "Failed to send messages to #{topics.join(', ')}: #{first.class.name}: #{first.message}"
      raise DeliveryFailed.new(message, failed.map { |e| PendingMessage.from_entry(e) }), cause: first
    end

    # @api private
    # Delivers entries through the native producer; returns [failed entries, their errors].
    # A failure of the whole call (closed client, unknown topic or error raised by a Ruby
    # partitioner, internal error) fails every entry with that error. Anything else that is
    # raised (an interrupt while waiting) goes on; the caller then still holds every entry.
    def deliver_entries(entries)
      begin
        assign_partitions(entries) if @partitioner.respond_to?(:call)
      rescue StandardError => e
        return [entries, [e]]
      end
      results = begin
        @client.logged { @native.deliver(entries) }
      rescue KafkaRs::Error => e
        return [entries, [e]]
      end
      failed = []
      errors = []
      results.each_with_index do |result, i|
        next unless result.is_a?(Exception)

        failed << entries[i]
        errors << result
      end
      Producer.instrument_results(entries, results, @client.client_id)
      [failed, errors]
    end

    # @api private
    # ruby-kafka's `ack_message.producer` (one per delivered message) and `topic_error.producer`
    # (one per topic with a failure) events, for the results of a delivery.
    def self.instrument_results(entries, results, client_id)
      acks = Instrumenter.listening?("ack_message.producer")
      topic_errors = Instrumenter.listening?("topic_error.producer") ? {} : nil
      return unless acks || topic_errors

      now = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
      results.each_with_index do |result, i|
        value, key, topic, _partition, _partition_key, _headers, timestamp_ms = entries[i]
        if result.is_a?(Exception)
          topic_errors[topic] ||= result if topic_errors
        elsif acks
          Instrumenter.instrument("ack_message.producer", client_id: client_id, key: key, value: value, topic: topic,
                                                          partition: result[0], offset: result[1],
                                                          delay: (now - timestamp_ms) / 1000.0)
        end
      end
      topic_errors&.each do |topic, error|
        Instrumenter.instrument("topic_error.producer", client_id: client_id, topic: topic,
                                                        exception: [error.class.name, error.message])
      end
    end

    # @api private
    def self.entry_bytesize(entry)
      entry[0].to_s.bytesize + entry[1].to_s.bytesize
    end

    private

    # Runs with interrupts held off (see {#deliver_messages}).
    def deliver_buffer
      entries = @lock.synchronize do
        taken = @buffer
        @buffer = []
        @buffer_bytesize = 0
        taken
      end
      return nil if entries.empty?

      undelivered = entries
      errors = nil
      payload = if Instrumenter.listening?("deliver_messages.producer")
                  { client_id: @client.client_id, message_count: entries.size, attempts: 1 }
                end
      begin
        undelivered, errors = Thread.handle_interrupt(Object => :immediate) do
          next deliver_entries(entries) unless payload

          Instrumenter.instrument("deliver_messages.producer", payload) do
            result = deliver_entries(entries)
            payload[:delivered_message_count] = entries.size - result[0].size
            result
          ensure
            payload[:delivered_message_count] ||= 0
          end
        end
      ensure
        restore(undelivered) unless undelivered.empty?
      end
      Producer.raise_delivery_failed(undelivered, errors) unless undelivered.empty?
      nil
    end

    # ruby-kafka's `produce_message.producer` payload.
    def instrument_produce(entry, size)
      value, key, topic, _partition, _partition_key, _headers, timestamp_ms = entry
      Instrumenter.instrument("produce_message.producer",
                              client_id: @client.client_id, value: value, key: key, topic: topic, message_size: size,
                              create_time: Time.at(timestamp_ms / 1000, timestamp_ms % 1000, :millisecond),
                              buffer_size: buffer_size, max_buffer_size: @max_buffer_size)
    end

    # Puts undelivered entries back at the front of the buffer, in their original order.
    def restore(entries)
      @lock.synchronize do
        @buffer = entries + @buffer
        @buffer_bytesize += entries.sum { |e| Producer.entry_bytesize(e) }
      end
    end

    def intercept(entry)
      Producer.intercept_entry(entry, @interceptors, @client.logger)
    end

    # A callable partitioner picks partitions in Ruby: `call(partition_count, message)`.
    def assign_partitions(entries)
      counts = {}
      entries.each do |entry|
        next unless entry[3].nil?

        topic = entry[2]
        count = counts[topic] ||= @client.logged { @native.partition_count(topic) }
        partition = @partitioner.call(count, PendingMessage.from_entry(entry))
        entry[3] = Validation.partition!(partition, "partitioner result", allow_nil: false)
      end
    end
  end

  # Built-in partitioners.
  module Partitioners
    module_function

    # nil/:crc32 (ruby-kafka's and librdkafka's default), :murmur2 (the Java client's), or any
    # object responding to `call(partition_count, message)`.
    def resolve(partitioner)
      case partitioner
      when nil, :crc32, "crc32" then "crc32"
      when :murmur2, "murmur2" then "murmur2"
      else
        return partitioner if partitioner.respond_to?(:call)

        raise ArgumentError, "partitioner must be :crc32, :murmur2 or respond to #call, got #{partitioner.inspect}"
      end
    end
  end
end
