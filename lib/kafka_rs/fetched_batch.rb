# frozen_string_literal: true

module KafkaRs
  # The messages of one partition from one fetch, as {Consumer#each_batch} yields them. Shaped
  # like ruby-kafka's `Kafka::FetchedBatch`.
  class FetchedBatch
    # @return [String]
    attr_reader :topic
    # @return [Integer]
    attr_reader :partition
    # @return [Array<FetchedMessage>]
    attr_reader :messages
    # @return [Integer] the partition's high watermark (the offset of the next message written)
    attr_reader :highwater_mark_offset

    def initialize(topic:, partition:, messages:, highwater_mark_offset:, last_offset: nil)
      @topic = topic
      @partition = partition
      @messages = messages
      @highwater_mark_offset = highwater_mark_offset
      @last_offset = last_offset
    end

    # @return [Boolean]
    def empty?
      @messages.empty?
    end

    # @return [Integer, nil] the offset of the first message
    def first_offset
      empty? ? nil : @messages.first.offset
    end

    # @return [Integer] the offset of the last message (of the partition, when the batch is empty)
    def last_offset
      empty? ? (@last_offset || highwater_mark_offset - 1) : @messages.last.offset
    end

    # @return [Boolean] true when the batch is empty and the partition's last offset is unknown
    def unknown_last_offset?
      empty? && @last_offset.nil? && highwater_mark_offset.negative?
    end

    # @return [Integer] how many messages of the partition come after this batch
    def offset_lag
      return 0 if empty? && unknown_last_offset?

      [highwater_mark_offset - last_offset - 1, 0].max
    end

    def inspect
      "#<#{self.class.name} #{topic}/#{partition} #{messages.size} messages, lag #{offset_lag}>"
    end
  end
end
