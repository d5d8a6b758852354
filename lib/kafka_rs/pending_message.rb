# frozen_string_literal: true

module KafkaRs
  # A message in a producer's buffer, as returned by {DeliveryFailed#failed_messages}.
  PendingMessage = Struct.new(:value, :key, :headers, :topic, :partition, :partition_key,
                              :create_time, :bytesize) do
    # Builds one from a buffered entry (the array the native producer takes).
    def self.from_entry(entry)
      value, key, topic, partition, partition_key, headers, timestamp_ms = entry
      new(value, key, headers || {}, topic, partition, partition_key,
          Time.at(timestamp_ms / 1000, timestamp_ms % 1000, :millisecond),
          value.to_s.bytesize + key.to_s.bytesize)
    end
  end
end
