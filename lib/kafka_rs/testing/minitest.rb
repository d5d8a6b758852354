# frozen_string_literal: true

require "minitest"
require_relative "../testing"

module KafkaRs
  module Testing
    # Minitest assertions for fake mode (KafkaRs::Testing.fake!), included into Minitest::Test
    # (and so ActiveSupport::TestCase):
    #
    #   assert_kafka_produced(topic: "orders", key: "42") { post orders_path, params: { user_id: 42 } }
    #   assert_kafka_produced(topic: "orders", count: 2) { checkout; checkout }
    #   refute_kafka_produced(topic: "orders") { noop }
    #   assert_kafka_produced(topic: "orders")   # without a block: anything recorded so far
    #
    # Criteria as in KafkaRs::Testing.matches?; returns the matching messages.
    module Assertions
      def assert_kafka_produced(count: nil, **criteria, &block)
        produced, matching = kafka_produced(criteria, &block)
        wanted = count ? "#{count} message(s)" : "a message"
        message = lambda do
          lines = produced.map { |m| "  #{m.topic} key=#{m.key.inspect} value=#{m.value.inspect}" }
          "Expected #{wanted} matching #{criteria.inspect} to be produced, #{matching.size} matched; produced:\n" \
            "#{lines.empty? ? '  (nothing)' : lines.join("\n")}"
        end
        assert(count ? matching.size == count : !matching.empty?, message)
        matching
      end

      def refute_kafka_produced(**criteria, &block)
        _, matching = kafka_produced(criteria, &block)
        assert(matching.empty?, -> { "Expected no message matching #{criteria.inspect} to be produced, #{matching.size} matched" })
      end

      private

      def kafka_produced(criteria)
        raise "assert_kafka_produced needs KafkaRs::Testing.fake! (messages are recorded only then)" unless Testing.fake?

        before = Testing.messages.size
        yield if block_given?
        produced = block_given? ? Testing.messages.drop(before) : Testing.messages
        [produced, produced.select { |m| Testing.matches?(m, **criteria) }]
      end
    end
  end
end

Minitest::Test.include(KafkaRs::Testing::Assertions) if defined?(Minitest::Test)
