# frozen_string_literal: true

require_relative "support"
require "open3"
require "zlib"

# Java client's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), written from its definition.
module SpecMurmur2
  M = 0x5bd1e995
  MASK = 0xffffffff

  def self.hash(data)
    bytes = data.bytes
    len = bytes.size
    h = (0x9747b28c ^ len) & MASK
    (len / 4).times do |i|
      k = bytes[i * 4] | (bytes[i * 4 + 1] << 8) | (bytes[i * 4 + 2] << 16) | (bytes[i * 4 + 3] << 24)
      k = (k * M) & MASK
      k ^= k >> 24
      k = (k * M) & MASK
      h = (h * M) & MASK
      h ^= k
    end
    tail = len & ~3
    case len % 4
    when 3 then h ^= bytes[tail + 2] << 16; h ^= bytes[tail + 1] << 8; h ^= bytes[tail]; h = (h * M) & MASK
    when 2 then h ^= bytes[tail + 1] << 8; h ^= bytes[tail]; h = (h * M) & MASK
    when 1 then h ^= bytes[tail]; h = (h * M) & MASK
    end
    h ^= h >> 13
    h = (h * M) & MASK
    h ^= h >> 15
    h
  end

  def self.partition(key, count)
    (hash(key) & 0x7fffffff) % count
  end
end

RSpec.describe "partitioner interop", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  after { drop_topics(kafka); kafka.close }

  let(:keys) { (1..50).map { |i| "key-#{i}-#{i * 7919}" } }

  def partition_of_keys(topic, partitions)
    partitions.times.each_with_object({}) do |part, map|
      fetch_all(kafka, topic, part).each { |m| map[m.key] = part }
    end
  end

  it "puts keyed messages in the same partitions as librdkafka (kcat)" do
    kcat_topic = new_topic(kafka, partitions: 6)
    input = keys.map { |k| "#{k}:v" }.join("\n") + "\n"
    _out, err, status = Open3.capture3("kcat", "-P", "-b", IntegrationHelpers::BROKER, "-t", kcat_topic, "-K:",
                                       stdin_data: input)
    expect(status).to be_success, err
    expected = partition_of_keys(kcat_topic, 6)
    expect(expected.size).to eq(50)
    expect(expected.values.uniq.size).to be > 1

    ours = new_topic(kafka, partitions: 6)
    p = kafka.producer
    keys.each { |k| p.produce("v", topic: ours, key: k) }
    p.deliver_messages
    expect(partition_of_keys(ours, 6)).to eq(expected)
  end

  it "uses the Java client's murmur2 with partitioner: :murmur2" do
    t = new_topic(kafka, partitions: 6)
    mk = KafkaRs.new([IntegrationHelpers::BROKER], partitioner: :murmur2)
    p = mk.producer
    keys.each { |k| p.produce("v", topic: t, key: k) }
    p.deliver_messages
    mk.close
    got = partition_of_keys(t, 6)
    expect(got).to eq(keys.to_h { |k| [k, SpecMurmur2.partition(k, 6)] })
    crc = keys.to_h { |k| [k, Zlib.crc32(k) % 6] }
    expect(got).not_to eq(crc)
  end

  it "checks the spec murmur2 against the Java client's test vectors (UtilsTest.testMurmur2)" do
    signed = ->(h) { h >= 2**31 ? h - 2**32 : h }
    { "21" => -973_932_308, "foobar" => -790_332_482, "a-little-bit-long-string" => -985_981_536,
      "a-little-bit-longer-string" => -1_486_304_829, "abc" => 479_470_107,
      "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8" => -58_897_971 }.each do |input, expected|
      expect(signed.call(SpecMurmur2.hash(input))).to eq(expected), input
    end
  end

  it "honours a callable partitioner" do
    t = new_topic(kafka, partitions: 4)
    seen = []
    pt = lambda do |count, message|
      seen << [count, message.key]
      message.key.to_i % count
    end
    p = kafka.producer(partitioner: pt)
    %w[0 1 2 3 5 6].each { |k| p.produce("v#{k}", topic: t, key: k) }
    p.deliver_messages
    expect(seen).to eq(%w[0 1 2 3 5 6].map { |k| [4, k] })
    expect(partition_of_keys(t, 4)).to eq("0" => 0, "1" => 1, "2" => 2, "3" => 3, "5" => 1, "6" => 2)
  end
end
