# frozen_string_literal: true

module KafkaRs
  # A message that has not been delivered: what a producer's interceptors receive and return, and
  # what {DeliveryFailed#failed_messages} lists. Shaped like ruby-kafka's `Kafka::PendingMessage`
  # (same keywords and readers), so interceptors written for ruby-kafka work unchanged.
  class PendingMessage
    attr_reader :value, :key, :headers, :topic, :partition, :partition_key, :create_time, :bytesize

    def initialize(value:, key:, topic:, headers: {}, partition: nil, partition_key: nil, create_time: Time.now)
      @value = value
      @key = key
      @headers = headers || {}
      @topic = topic
      @partition = partition
      @partition_key = partition_key
      @create_time = create_time
      @bytesize = value.to_s.bytesize + key.to_s.bytesize
    end

    # @api private
    # Builds one from a buffered entry (the array the native producer takes).
    def self.from_entry(entry)
      value, key, topic, partition, partition_key, headers, timestamp_ms = entry
      new(value: value, key: key, headers: headers || {}, topic: topic, partition: partition,
          partition_key: partition_key,
          create_time: Time.at(timestamp_ms / 1000, timestamp_ms % 1000, :millisecond))
    end

    def ==(other)
      other.is_a?(PendingMessage) && to_h == other.to_h
    end
    alias eql? ==

    def hash
      to_h.hash
    end

    def to_h
      { value: value, key: key, headers: headers, topic: topic, partition: partition,
        partition_key: partition_key, create_time: create_time }
    end

    def inspect
      "#<#{self.class.name} topic=#{topic.inspect} partition=#{partition.inspect} key=#{key.inspect} " \
        "bytesize=#{bytesize}>"
    end
  end
end
