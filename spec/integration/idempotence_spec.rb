# frozen_string_literal: true

require_relative "support"
require "open3"

# What the broker stored, read from its log segment with Kafka's own DumpLogSegments tool: the
# producer id, epoch and sequence numbers of every record batch. The broker is the one bin/kafka
# runs from this checkout (its data lives under tmp/kafka/single/data).
module StoredBatches
  ROOT = File.expand_path("../..", __dir__)

  def self.of(topic, partition = 0)
    dir = File.join(ROOT, "tmp/kafka/single/data", "#{topic}-#{partition}")
    raise "no log directory #{dir}: these specs need the broker started by bin/kafka in this checkout" unless Dir.exist?(dir)

    files = Dir[File.join(dir, "*.log")].sort
    # Kafka 4 moved the tool from the Scala core to the tools module.
    out, status = %w[org.apache.kafka.tools.DumpLogSegments kafka.tools.DumpLogSegments].lazy.map do |tool|
      Open3.capture2e("java", "-cp", "#{libs}/*", tool, "--files", *files)
    end.find { |o, _| !o.include?("ClassNotFoundException") }
    raise "DumpLogSegments failed: #{out}" unless status&.success?

    out.lines.grep(/\AbaseOffset:/).map do |line|
      fields = line.scan(/(\w+): (\S+)/).to_h
      { count: Integer(fields["count"]), producer_id: Integer(fields["producerId"]),
        epoch: Integer(fields["producerEpoch"]), base_sequence: Integer(fields["baseSequence"]),
        last_sequence: Integer(fields["lastSequence"]) }
    end
  end

  def self.libs
    version = ENV.fetch("KAFKA_VERSION", "4")
    dirs = Dir[File.join(ROOT, "vendor/kafka/#{version}*/libs")].sort
    raise "no Kafka jars for #{version} under vendor/kafka: run bin/kafka fetch" if dirs.empty?

    dirs.last
  end
end

RSpec.describe "idempotent producing" do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  let(:topic) { new_topic(kafka) }

  after do
    drop_topics(kafka)
    kafka.close
  end

  it "is on by default with required_acks: :all: batches carry a producer id and consecutive sequences" do
    p = kafka.async_producer
    3.times do |round|
      4.times { |i| p.produce("v#{round}-#{i}", topic: topic, partition: 0) }
      expect(p.flush(timeout: 10)).to be(true)
    end
    p.shutdown
    batches = StoredBatches.of(topic)
    expect(batches.sum { |b| b[:count] }).to eq(12)
    expect(batches.map { |b| b[:producer_id] }.uniq).to contain_exactly(be >= 0)
    expect(batches.map { |b| b[:epoch] }.uniq).to eq([0])
    # Each partition's records are numbered 0, 1, 2, ... across batches.
    expect(batches.map { |b| [b[:base_sequence], b[:last_sequence]] })
      .to eq(batches.each_with_object([]) { |b, acc| s = acc.empty? ? 0 : acc.last[1] + 1; acc << [s, s + b[:count] - 1] })
    expect(fetch_all(kafka, topic).map(&:value)).to eq(Array.new(3) { |r| Array.new(4) { |i| "v#{r}-#{i}" } }.flatten)
  end

  it "gives the synchronous producer and deliver_message their own producer ids" do
    p = kafka.producer
    p.produce("a", topic: topic)
    p.deliver_messages
    kafka.deliver_message("b", topic: topic)
    ids = StoredBatches.of(topic).map { |b| b[:producer_id] }
    expect(ids.size).to eq(2)
    expect(ids).to all(be >= 0)
    expect(ids.uniq.size).to eq(2)
  end

  it "is off with idempotent: false, and with fewer acknowledgements" do
    kafka.producer(idempotent: false).tap { |p| p.produce("plain", topic: topic) }.deliver_messages
    a = kafka.async_producer(required_acks: 1)
    a.produce("acks1", topic: topic)
    a.shutdown
    expect(StoredBatches.of(topic).map { |b| [b[:producer_id], b[:base_sequence]] }).to eq([[-1, -1], [-1, -1]])
    expect(fetch_all(kafka, topic).map(&:value)).to eq(%w[plain acks1])
  end

  it "refuses idempotent: true without required_acks: :all, naming the argument" do
    expect { kafka.async_producer(idempotent: true, required_acks: 1) }
      .to raise_error(ArgumentError, /idempotent: true needs required_acks: :all/)
    expect { kafka.producer(idempotent: "yes") }.to raise_error(TypeError, /idempotent must be true, false or nil/)
  end
end
