# frozen_string_literal: true

require "logger"
require_relative "metrics_store"

module RouterMetrics
  # What a member of the `metrics` group does with each batch of the `router` topic: count it
  # into Redis through {MetricsStore#record} (idempotent per partition and offset), before the
  # consumer marks the batch processed. If Redis fails, the error propagates and nothing past the
  # batch is committed; a redelivery after a crash is recognised by the stored high-water mark.
  class MetricsProcessor
    attr_reader :store, :totals

    # @param store [MetricsStore]
    def initialize(store, logger: Logger.new($stderr))
      @store = store
      @logger = logger
      @totals = Hash.new(0)
    end

    # @param batch [#topic, #partition, #messages] a {KafkaRs::FetchedBatch}
    # @return [MetricsStore::Result]
    def process_batch(batch)
      result = @store.record(batch.topic, batch.partition, batch.messages)
      result.to_h.each { |k, v| @totals[k] += v }
      if result.duplicates.positive?
        @logger.info("metrics: #{batch.topic}/#{batch.partition}: skipped #{result.duplicates} messages " \
                     "already counted (redelivered from offset #{batch.first_offset})")
      end
      if result.unreadable.positive?
        @logger.warn("metrics: #{batch.topic}/#{batch.partition}: #{result.unreadable} unreadable messages " \
                     "between offsets #{batch.first_offset} and #{batch.last_offset}")
      end
      result
    end
  end
end
