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
    def initialize(client:, native_client:, partitioner: nil, required_acks: :all, ack_timeout: 5,
                   max_retries: 2, retry_backoff: 1, max_buffer_size: 1000,
                   max_buffer_bytesize: 10_000_000, compression_codec: nil, compression_threshold: 1)
      acks = ACKS.fetch(required_acks) do
        raise ArgumentError, "required_acks must be :all, -1, 0 or 1, got #{required_acks.inspect}"
      end
      codec = CODECS.fetch(compression_codec) do
        raise ArgumentError, "compression_codec must be nil, :gzip, :snappy, :lz4 or :zstd, " \
                             "got #{compression_codec.inspect}"
      end
      Validation.positive_number!(ack_timeout, "ack_timeout")
      Validation.integer!(max_retries, "max_retries", min: 0)
      Validation.integer!(compression_threshold, "compression_threshold", min: 1)
      Validation.positive_number!(retry_backoff, "retry_backoff", allow_zero: true)
      @max_buffer_size = Validation.integer!(max_buffer_size, "max_buffer_size", min: 1)
      @max_buffer_bytesize = Validation.integer!(max_buffer_bytesize, "max_buffer_bytesize", min: 1)
      @client = client
      @partitioner = Partitioners.resolve(partitioner)
      @native = Native::Producer.new(native_client, acks, ack_timeout.to_f, max_retries, retry_backoff.to_f,
                                     @partitioner.is_a?(String) ? @partitioner : "crc32", codec,
                                     compression_threshold)
      @buffer = []
      @buffer_bytesize = 0
      @lock = Mutex.new
    end

    # Appends a message to the buffer. Nothing is sent until {#deliver_messages}.
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
      size = (value ? value.bytesize : 0) + (key ? key.bytesize : 0)
      @lock.synchronize do
        if @buffer.size >= @max_buffer_size
          raise BufferOverflow, "Cannot produce to #{topic}, max buffer size (#{@max_buffer_size} messages) reached"
        end
        if @buffer_bytesize + size > @max_buffer_bytesize
          raise BufferOverflow, "Cannot produce to #{topic}, max buffer bytesize (#{@max_buffer_bytesize} bytes) reached"
        end

        @buffer << entry
        @buffer_bytesize += size
      end
      nil
    end

    # Sends every buffered message. Delivered messages leave the buffer; on failure the others
    # stay and {DeliveryFailed} lists them (its `cause` is the first underlying error).
    #
    # @raise [DeliveryFailed]
    # @return [nil]
    def deliver_messages
      entries = @lock.synchronize do
        taken = @buffer
        @buffer = []
        @buffer_bytesize = 0
        taken
      end
      return nil if entries.empty?

      failed, errors = deliver_entries(entries)
      return nil if failed.empty?

      @lock.synchronize do
        @buffer = failed + @buffer
        @buffer_bytesize = @buffer.sum { |e| Producer.entry_bytesize(e) }
      end
      Producer.raise_delivery_failed(failed, errors)
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

    # Releases the producer. Buffered messages are dropped; the client's connections stay open.
    def shutdown
      clear_buffer
    end

    # @api private
    # Validates one message and returns the entry the native producer takes.
    # The common case (String or nil fields, a topic seen before, no headers, no explicit time)
    # takes the inline checks; anything else goes through {Validation}, which names the argument.
    def self.entry(value, topic, key, headers, partition, partition_key, create_time)
      Validation.bytes_or_nil!(value, "value") unless value.nil? || value.is_a?(String)
      Validation.topic_cached!(topic)
      Validation.bytes_or_nil!(key, "key") unless key.nil? || key.is_a?(String)
      Validation.partition!(partition) unless partition.nil?
      Validation.bytes_or_nil!(partition_key, "partition_key") unless partition_key.nil?
      headers = headers.equal?(NO_HEADERS) ? nil : Validation.headers!(headers)
      time = create_time.nil? ? Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond) : Validation.timestamp_ms!(create_time)
      [value, key, topic, partition, partition_key, headers, time]
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
    def deliver_entries(entries)
      assign_partitions(entries) if @partitioner.respond_to?(:call)
      results = @client.logged { @native.deliver(entries) }
      failed = []
      errors = []
      results.each_with_index do |result, i|
        next unless result.is_a?(Exception)

        failed << entries[i]
        errors << result
      end
      [failed, errors]
    end

    # @api private
    def self.entry_bytesize(entry)
      entry[0].to_s.bytesize + entry[1].to_s.bytesize
    end

    private

    # A callable partitioner picks partitions in Ruby: `call(partition_count, message)`.
    def assign_partitions(entries)
      counts = {}
      entries.each do |entry|
        next unless entry[3].nil?

        topic = entry[2]
        count = counts[topic] ||= @client.partitions_for(topic)
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
