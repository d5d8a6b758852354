# frozen_string_literal: true

require_relative "support"
require "kafka_rs/testing"
require "kafka_rs/testing/rspec"

# KafkaRs::Testing: fake mode records what the shared producer and the pool's producers are
# given, with the real producers' checks, and real! sends to the broker again.
RSpec.describe KafkaRs::Testing, :integration do
  include IntegrationHelpers
  include ProcessHelpers
  include RailsLayerHelpers

  let(:kafka) { IntegrationHelpers.client }
  after do
    described_class.real!
    described_class.clear
    drop_topics(kafka)
    kafka.close
  end

  it "records instead of sending, with no broker at all, in order, filtered by topic, key, value and headers" do
    KafkaRs.configure { |c| c.seed_brokers = "127.0.0.1:1" } # nothing listens there
    described_class.fake!
    KafkaRs.produce({ id: 1 }.to_s, topic: "orders", key: 42, headers: { "v" => 1 })
    report = KafkaRs.produce_async("b", topic: :orders, key: "7").wait(timeout: 1)
    handles = KafkaRs.producer.produce_many([{ value: "c", topic: "events" }, { value: "d", topic: "orders", partition: 2 }])
    KafkaRs.with_producer { |p| p.produce("e", topic: "audit") }
    expect(KafkaRs.producer.flush(timeout: 1)).to be(true)

    expect(described_class.messages.map { |m| [m.topic, m.key, m.value] })
      .to eq([["orders", "42", "{:id=>1}"], ["orders", "7", "b"], ["events", nil, "c"], ["orders", nil, "d"], ["audit", nil, "e"]])
    expect([report.topic, report.partition, report.offset]).to eq(["orders", 0, 1])
    expect(handles.map { |h| h.wait.offset }).to eq([0, 2])
    expect(described_class.messages(topic: "orders").size).to eq(3)
    expect(described_class.messages(topic: "orders", key: 42).map(&:value)).to eq(["{:id=>1}"])
    expect(described_class.messages(value: /id/, headers: { "v" => "1" }).size).to eq(1)
    expect(described_class.messages(partition: 2).map(&:value)).to eq(["d"])
    described_class.clear
    expect(described_class.messages).to eq([])
  end

  it "checks arguments exactly as the real producers do" do
    real = kafka.async_producer
    described_class.fake!
    calls = [
      -> (p) { p.produce("x", topic: "bad topic!") },
      -> (p) { p.produce(BasicObject.new, topic: "t") },
      -> (p) { p.produce("x", topic: "t", partition: "two") },
      -> (p) { p.produce("x", topic: "t", headers: "nope") },
      -> (p) { p.produce_many([{ value: "x", topic: "t", colour: "red" }]) },
      -> (p) { p.produce("x") }
    ]
    calls.each do |call|
      expected = begin
        call.call(real)
        nil
      rescue ArgumentError, TypeError => e
        [e.class, e.message]
      end
      expect(expected).not_to be_nil
      got = begin
        call.call(KafkaRs.producer)
        nil
      rescue ArgumentError, TypeError => e
        [e.class, e.message]
      end
      expect(got).to eq(expected)
    end
    expect(described_class.messages).to eq([])
    real.shutdown
  end

  it "sends to the broker again after real!, and keeps the fakes in a forked child" do
    topic = new_topic(kafka)
    configure_kafka_rs
    described_class.fake!
    expect(KafkaRs.producer).to be_a(KafkaRs::Testing::FakeProducer)
    KafkaRs.produce("faked", topic: topic)
    child = in_child(timeout: 30) do
      KafkaRs.produce("faked in child", topic: topic)
      [KafkaRs.producer.class.name, described_class.messages.map(&:value)]
    end
    expect(child).to eq(["KafkaRs::Testing::FakeProducer", ["faked", "faked in child"]])
    expect(described_class.messages.map(&:value)).to eq(["faked"])

    described_class.real!
    expect(KafkaRs.producer).to be_a(KafkaRs::AsyncProducer)
    KafkaRs.produce_async("real", topic: topic).wait(timeout: 10)
    expect(fetch_all(kafka, topic).map(&:value)).to eq(["real"])
    expect(described_class.messages.map(&:value)).to eq(["faked"])
  end

  describe "have_produced_kafka_message" do
    before { described_class.fake! }

    it "matches what a block produced" do
      expect { KafkaRs.produce("a", topic: "orders", key: "1") }.to have_produced_kafka_message(topic: "orders", key: "1")
      expect { KafkaRs.produce("a", topic: "orders", key: "1") }.not_to have_produced_kafka_message(topic: "orders", key: "2")
      expect { 2.times { KafkaRs.produce("b", topic: "orders") } }.to have_produced_kafka_message(topic: "orders").exactly(2).times
      expect { KafkaRs.with_producer { |p| p.produce("c", topic: "audit") } }
        .to have_produced_kafka_message(topic: "audit", value: "c").once
      expect(described_class).to have_produced_kafka_message(topic: "orders", key: "1")
    end

    it "says what was produced when it fails" do
      expect do
        expect { KafkaRs.produce("x", topic: "events", key: "9") }.to have_produced_kafka_message(topic: "orders")
      end.to raise_error(RSpec::Expectations::ExpectationNotMetError,
                         /expected a message matching \{:topic=>"orders"\} to be produced, 0 matched; produced:\n  events key="9" value="x"/)
    end
  end

  it "gives Minitest assert_kafka_produced and refute_kafka_produced" do
    test = <<~RUBY
      require "minitest/autorun"
      require "kafka_rs/testing/minitest"
      KafkaRs::Testing.fake!
      class OrdersTest < Minitest::Test
        def test_produces
          messages = assert_kafka_produced(topic: "orders", key: "42") { KafkaRs.produce("o", topic: "orders", key: 42) }
          assert_equal ["o"], messages.map(&:value)
          assert_kafka_produced(topic: "orders", count: 2) { 2.times { KafkaRs.produce("p", topic: "orders") } }
          refute_kafka_produced(topic: "events") { KafkaRs.produce("q", topic: "orders") }
        end

        def test_fails_usefully
          assert_kafka_produced(topic: "events") { KafkaRs.produce("r", topic: "orders") }
        end
      end
    RUBY
    status, out, = run_ruby(test, "--", "--seed", "1", timeout: 60)
    expect(status.exitstatus).to eq(1)
    expect(out).to include("2 runs, 5 assertions, 1 failures, 0 errors")
    expect(out).to include(%(Expected a message matching {:topic=>"events"} to be produced, 0 matched; produced:\n  orders key=nil value="r"))
  end
end
