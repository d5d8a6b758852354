# frozen_string_literal: true

module KafkaRs
  # A message read from Kafka. Values, keys and header values are frozen binary Strings (or nil).
  class FetchedMessage
    # @return [String, nil] the message value (nil for a tombstone)
    attr_reader :value
    # @return [String, nil] the message key
    attr_reader :key
    # @return [Hash{String => String}] the message headers
    attr_reader :headers
    # @return [String] the topic the message was read from
    attr_reader :topic
    # @return [Integer] the partition the message was read from
    attr_reader :partition
    # @return [Integer] the message's offset in its partition
    attr_reader :offset
    # @return [Integer] the message timestamp in milliseconds since the epoch (-1 if none)
    attr_reader :timestamp_ms

    def initialize(value, key, headers, topic, partition, offset, timestamp_ms)
      @value = value
      @key = key
      @headers = headers
      @topic = topic
      @partition = partition
      @offset = offset
      @timestamp_ms = timestamp_ms
    end

    # @return [Time, nil] when the message was created (or appended, for LogAppendTime topics)
    def create_time
      return nil if @timestamp_ms.negative?

      Time.at(@timestamp_ms / 1000, @timestamp_ms % 1000, :millisecond)
    end

    # Always false: control records (transaction markers) are never returned.
    def is_control_record # rubocop:disable Naming/PredicateName
      false
    end

    def inspect
      "#<#{self.class.name} #{topic}/#{partition}@#{offset} key=#{key.inspect} " \
        "value=#{value.nil? ? 'nil' : "#{value.bytesize} bytes"}>"
    end
  end
end
