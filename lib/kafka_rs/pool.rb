# frozen_string_literal: true

module KafkaRs
  # Every entry of {KafkaRs.pool} was checked out for longer than `pool_timeout`.
  class PoolTimeout < Error
  end

  # One entry of {KafkaRs.pool}: a client of its own (its own broker connections) and, built on
  # first use, a buffered {Producer} on it. An entry is used by one thread at a time.
  class PoolEntry
    def initialize(config, prefix)
      @config = config
      @prefix = prefix
      @client = nil
      @producer = nil
    end

    # @return [Client]
    def client
      @client ||= KafkaRs.new(**@config.client_options)
    end

    # @return [Producer, PrefixedProducer] a buffered producer (prefixed when a prefix is set)
    def producer
      @producer ||= begin
        producer = client.producer(**@config.buffered_producer_options)
        @prefix ? PrefixedProducer.new(producer, @prefix) : producer
      end
    end

    # @api private
    def close
      @client&.close
      nil
    end

    def inspect
      "#<#{self.class.name}#{' client' if @client}#{' producer' if @producer}>"
    end
  end
end
