# frozen_string_literal: true

require_relative "support"

RSpec.describe "bad input", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  let!(:topic) { new_topic(kafka) }
  after { drop_topics(kafka); kafka.close }

  def expect_nothing_sent
    before = kafka.last_offset_for(topic, 0)
    yield
    expect(kafka.last_offset_for(topic, 0)).to eq(before)
  end

  {
    "Integer value" => [[1], {}, TypeError, /value/],
    "Hash value" => [[{ a: 1 }], {}, TypeError, /value/],
    "Integer key" => [["v"], { key: 5 }, TypeError, /key/],
    "negative partition" => [["v"], { partition: -1 }, ArgumentError, /partition/],
    "String partition" => [["v"], { partition: "0" }, TypeError, /partition/],
    "Float partition" => [["v"], { partition: 0.0 }, TypeError, /partition/],
    "unknown keyword" => [["v"], { bogus: 1 }, ArgumentError, /bogus/],
    "Integer header value" => [["v"], { headers: { "h" => [1] } }, TypeError, /headers/],
    "Hash header value" => [["v"], { headers: { "h" => {} } }, TypeError, /headers/]
  }.each do |desc, (args, opts, klass, msg)|
    it "rejects #{desc} in deliver_message and produce, sending nothing" do
      expect_nothing_sent do
        expect { kafka.deliver_message(*args, topic: topic, **opts) }.to raise_error(klass, msg)
        p = kafka.producer
        expect { p.produce(*args, topic: topic, **opts) }.to raise_error(klass, msg)
        expect(p.buffer_size).to eq(0)
        p.deliver_messages
      end
    end
  end

  ["", "a b", "x" * 250, ".", ".."].each do |name|
    it "rejects topic name #{name[0, 10].inspect}#{'...' if name.size > 10}" do
      expect { kafka.deliver_message("v", topic: name) }.to raise_error(ArgumentError, /topic/)
      expect { kafka.producer.produce("v", topic: name) }.to raise_error(ArgumentError, /topic/)
      expect { kafka.create_topic(name) }.to raise_error(ArgumentError, /name/)
      expect { kafka.fetch_messages(topic: name, partition: 0) }.to raise_error(ArgumentError, /topic/)
    end
  end

  it "rejects a non-String topic" do
    expect { kafka.deliver_message("v", topic: :sym) }.to raise_error(TypeError, /topic/)
  end

  it "rejects unknown options of producer and KafkaRs.new" do
    expect { kafka.producer(bogus: 1) }.to raise_error(ArgumentError, /bogus/)
    expect { KafkaRs.new([IntegrationHelpers::BROKER], bogus: 1) }.to raise_error(ArgumentError, /bogus/)
  end

  it "rejects bad seed brokers" do
    expect { KafkaRs.new([""]) }.to raise_error(ArgumentError, /seed_brokers/)
    expect { KafkaRs.new("") }.to raise_error(ArgumentError, /seed_brokers/)
    expect { KafkaRs.new(123) }.to raise_error(TypeError, /seed_brokers/)
    expect { KafkaRs.new([123]) }.to raise_error(TypeError, /seed_brokers/)
    expect { KafkaRs.new(["127.0.0.1:99999"]) }.to raise_error(ArgumentError, /99999|port|broker/i)
  end

  it "rejects bad required_acks and compression_codec" do
    expect { kafka.producer(required_acks: 2) }.to raise_error(ArgumentError, /required_acks/)
    expect { kafka.producer(required_acks: "all") }.to raise_error(ArgumentError, /required_acks/)
    expect { kafka.producer(compression_codec: :brotli) }.to raise_error(ArgumentError, /compression_codec/)
    expect { kafka.producer(compression_codec: "gzip") }.to raise_error(ArgumentError, /compression_codec/)
  end

  it "keeps only the good messages when a bad one is produced mid-batch" do
    p = kafka.producer
    p.produce("good1", topic: topic)
    expect { p.produce(42, topic: topic) }.to raise_error(TypeError, /value/)
    p.produce("good2", topic: topic)
    expect(p.buffer_size).to eq(2)
    p.deliver_messages
    expect(fetch_all(kafka, topic).map(&:value)).to eq(%w[good1 good2])
  end
end
