# frozen_string_literal: true

require_relative "../testing"
require "rspec/expectations"

# `have_produced_kafka_message`: what a block produced through KafkaRs's shared producer or pool
# in fake mode (KafkaRs::Testing.fake!):
#
#   expect { post orders_path, params: { user_id: 42 } }
#     .to have_produced_kafka_message(topic: "orders", key: "42")
#   expect { checkout }.to have_produced_kafka_message(topic: "orders", value: /"total":10/).once
#   expect { noop }.not_to have_produced_kafka_message(topic: "orders")
#   expect(KafkaRs::Testing).to have_produced_kafka_message(topic: "orders")   # anything recorded so far
#
# Criteria as in KafkaRs::Testing.matches? (topic:, key:, value:, headers:, partition:); a nil
# criterion matches anything. `.exactly(n).times` / `.once` count the matching messages.
RSpec::Matchers.define :have_produced_kafka_message do |**criteria|
  supports_block_expectations

  chain(:exactly) { |count| @count = count }
  chain(:times) {}
  chain(:once) { @count = 1 }

  match do |actual|
    unless KafkaRs::Testing.fake?
      raise "have_produced_kafka_message needs KafkaRs::Testing.fake! (messages are recorded only then)"
    end

    @matching = if actual.is_a?(Proc)
                  before = KafkaRs::Testing.messages.size
                  actual.call
                  @produced = KafkaRs::Testing.messages.drop(before)
                  @produced.select { |m| KafkaRs::Testing.matches?(m, **criteria) }
                else
                  @produced = KafkaRs::Testing.messages
                  KafkaRs::Testing.messages(**criteria)
                end
    @count ? @matching.size == @count : !@matching.empty?
  end

  failure_message do
    wanted = @count ? "#{@count} message(s)" : "a message"
    produced = @produced.map { |m| "  #{m.topic} key=#{m.key.inspect} value=#{m.value.inspect}" }
    "expected #{wanted} matching #{criteria.inspect} to be produced, #{@matching.size} matched; produced:\n" \
      "#{produced.empty? ? '  (nothing)' : produced.join("\n")}"
  end

  failure_message_when_negated do
    "expected no message matching #{criteria.inspect} to be produced, #{@matching.size} matched"
  end
end
