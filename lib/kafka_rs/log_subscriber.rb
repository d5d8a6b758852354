# frozen_string_literal: true

module KafkaRs
  # One concise log line per delivery failure and per consumer group rebalance, from the
  # instrumentation events (the Railtie attaches it to Rails.logger):
  #
  #   E, ... ERROR -- : [kafka_rs] delivery to orders failed: KafkaRs::UnknownTopicOrPartition: ...
  #   E, ... ERROR -- : [kafka_rs] 3 messages not delivered at shutdown (client shop)
  #   I, ... INFO -- : [kafka_rs] group billing (client shop) rebalanced: joined in 41.2 ms
  #
  #   KafkaRs::LogSubscriber.attach(Logger.new($stdout))
  #   KafkaRs::LogSubscriber.detach
  #
  # The client's own `logger` (connections, retries, every failure in detail) is separate: an app
  # usually wants one or the other on the same log.
  class LogSubscriber
    TAG = "[kafka_rs]"

    # Each event's line: [level, message] from its payload and duration (ms), or nil for none.
    LINES = {
      "topic_error.producer" => lambda do |p, _ms|
        error, message = p[:exception]
        # Messages a shutdown left undelivered fail with ClientClosed: drop_messages says it once.
        [:error, "delivery to #{p[:topic]} failed: #{error}: #{message}"] unless error == ClientClosed.name
      end,
      "buffer_overflow.async_producer" => lambda do |p, _ms|
        [:error, "message to #{p[:topic]} refused: the async producer's queue is full"]
      end,
      "drop_messages.async_producer" => lambda do |p, _ms|
        [:error, "#{p[:message_count]} messages not delivered at shutdown (client #{p[:client_id]})"]
      end,
      "join_group.consumer" => lambda do |p, ms|
        if p.key?(:exception)
          error, message = p[:exception]
          [:warn, "group #{p[:group_id]} (client #{p[:client_id]}) could not join: #{error}: #{message}"]
        else
          [:info, format("group %s (client %s) rebalanced: joined in %.1f ms", p[:group_id], p[:client_id], ms)]
        end
      end
    }.freeze

    class << self
      # Writes the lines to `logger` from now on (replacing an earlier attach).
      #
      # @return [self]
      def attach(logger)
        raise TypeError, "logger must respond to #error, #warn and #info, got #{logger.class}" unless logger.respond_to?(:error)

        detach
        @logger = logger
        @subscribers = LINES.map do |event, line|
          Instrumenter.subscribe("#{event}.kafka") do |_name, start, finish, _id, payload|
            level, message = line.call(payload, (finish - start) * 1000.0)
            @logger&.public_send(level, "#{TAG} #{message}") if message
          end
        end
        self
      end

      def detach
        (@subscribers || []).each { |s| Instrumenter.unsubscribe(s) }
        @subscribers = []
        @logger = nil
        self
      end

      # @return [Logger, nil] where lines go while attached
      attr_reader :logger
    end
  end
end
