# frozen_string_literal: true

require_relative "support"
require "date"

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
    "negative partition" => [["v"], { partition: -1 }, ArgumentError, /partition/],
    "non-numeric String partition" => [["v"], { partition: "zero" }, ArgumentError, /partition/],
    "Array partition" => [["v"], { partition: [0] }, TypeError, /partition/],
    "unknown keyword" => [["v"], { bogus: 1 }, ArgumentError, /bogus/],
    "Array headers" => [["v"], { headers: [%w[h v]] }, TypeError, /headers/],
    "a header key that is not UTF-8" => [["v"], { headers: { "\xFF".b => "v" } }, ArgumentError, /headers.*UTF-8/],
    "BasicObject value" => [[BasicObject.new], {}, TypeError, /value/],
    "BasicObject key" => [["v"], { key: BasicObject.new }, TypeError, /key/],
    "Integer topic" => [["v"], { topic: 42 }, TypeError, /topic/],
    "String create_time" => [["v"], { create_time: "yesterday" }, TypeError, /create_time/]
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

  # ruby-kafka converts value, key and partition_key with to_s, partition with Integer(), header
  # keys and values with to_s (nil header values become ""); apps rely on it.
  it "converts arguments as ruby-kafka does" do
    t2 = new_topic(kafka, partitions: 3)
    time = Time.at(1_700_000_000, 250, :millisecond)
    kafka.deliver_message(42, topic: t2.to_sym, key: :user_7, partition: "1",
                              headers: { h: 1, "nil" => nil, "sym" => :x }, create_time: time.to_datetime)
    p = kafka.producer
    p.produce(3.5, topic: t2, key: 99, partition: 2.0)
    p.produce({ a: 1 }, topic: t2, partition_key: 12_345)
    p.produce("keyed", topic: t2, key: "12345")
    p.deliver_messages
    m = fetch_all(kafka, t2, 1).first
    expect([m.value, m.key, m.headers, m.create_time]).to eq(["42", "user_7", { "h" => "1", "nil" => "", "sym" => "x" }, time])
    expect(fetch_all(kafka, t2, 2).map { |x| [x.value, x.key] }).to eq([%w[3.5 99]])
    # partition_key 12_345 hashes as "12345": the same partition as the key "12345".
    all = (0..2).flat_map { |part| fetch_all(kafka, t2, part) }
    by_value = all.to_h { |x| [x.value, x.partition] }
    expect(by_value.fetch({ a: 1 }.to_s)).to eq(by_value.fetch("keyed"))
  end

  it "treats nil timeouts as the defaults" do
    k = KafkaRs.new([IntegrationHelpers::BROKER], connect_timeout: nil, socket_timeout: nil)
    p = k.producer(ack_timeout: nil, retry_backoff: nil)
    p.produce("nil-timeouts", topic: topic)
    p.deliver_messages
    expect(fetch_all(k, topic).map(&:value)).to eq(["nil-timeouts"])
    k.close
  end

  ["", "a b", "x" * 250, ".", ".."].each do |name|
    it "rejects topic name #{name[0, 10].inspect}#{'...' if name.size > 10}" do
      expect { kafka.deliver_message("v", topic: name) }.to raise_error(ArgumentError, /topic/)
      expect { kafka.producer.produce("v", topic: name) }.to raise_error(ArgumentError, /topic/)
      expect { kafka.create_topic(name) }.to raise_error(ArgumentError, /name/)
      expect { kafka.fetch_messages(topic: name, partition: 0) }.to raise_error(ArgumentError, /topic/)
    end
  end

  it "rejects a topic that is neither a String nor a Symbol" do
    expect { kafka.deliver_message("v", topic: 1.5) }.to raise_error(TypeError, /topic/)
    expect { kafka.deliver_message("v", topic: nil) }.to raise_error(TypeError, /topic/)
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
    expect { p.produce(BasicObject.new, topic: topic) }.to raise_error(TypeError, /value/)
    p.produce("good2", topic: topic)
    expect(p.buffer_size).to eq(2)
    p.deliver_messages
    expect(fetch_all(kafka, topic).map(&:value)).to eq(%w[good1 good2])
  end
end
