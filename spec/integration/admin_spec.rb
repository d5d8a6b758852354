# frozen_string_literal: true

require_relative "support"

RSpec.describe "admin", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  after { drop_topics(kafka); kafka.close unless kafka.closed? }

  it "creates, describes, lists, grows and deletes a topic" do
    name = "spec-#{SecureRandom.hex(4)}"
    (@created_topics ||= []) << name
    kafka.create_topic(name, num_partitions: 2, config: { "retention.ms" => "3600000" })
    expect { kafka.create_topic(name) }.to raise_error(KafkaRs::TopicAlreadyExists)
    configs = kafka.describe_topic(name)
    expect(configs).to be_a(Hash)
    expect(configs["retention.ms"]).to eq("3600000")
    expect(kafka.describe_topic(name, ["retention.ms"])).to eq("retention.ms" => "3600000")
    expect(kafka.topics).to include(name)
    expect(kafka.has_topic?(name)).to be(true)
    expect(kafka.partitions_for(name)).to eq(2)
    kafka.create_partitions_for(name, num_partitions: 4)
    expect(kafka.partitions_for(name)).to eq(4)
    kafka.deliver_message("p3", topic: name, partition: 3)
    expect(kafka.last_offset_for(name, 3)).to eq(0)
    kafka.delete_topic(name)
    expect(kafka.has_topic?(name)).to be(false)
    expect(kafka.topics).not_to include(name)
  end

  # Metadata names a new partition's leader a moment before that broker takes produce requests
  # for it; create_topic and create_partitions_for wait for the leaders, so no retry is needed.
  it "returns from create_topic and create_partitions_for only once every leader takes writes" do
    3.times do
      name = new_topic(kafka, partitions: 6)
      producer = kafka.producer(max_retries: 0)
      6.times { |p| producer.produce("first", topic: name, partition: p) }
      expect { producer.deliver_messages }.not_to raise_error
      kafka.create_partitions_for(name, num_partitions: 12)
      (6...12).each { |p| producer.produce("grown", topic: name, partition: p) }
      expect { producer.deliver_messages }.not_to raise_error
      expect(kafka.last_offsets_for(name).fetch(name).values).to eq([0] * 12)
    end
  end

  it "lists brokers" do
    brokers = kafka.brokers
    expect(brokers).to all(be_a(KafkaRs::BrokerInfo))
    expect(brokers.map { |b| "#{b.host}:#{b.port}" }).to include("127.0.0.1:9092")
  end

  it "raises ClientClosed after close" do
    kafka.topics
    kafka.close
    expect(kafka.closed?).to be(true)
    expect { kafka.topics }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.deliver_message("x", topic: "spec-x") }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.fetch_messages(topic: "spec-x", partition: 0) }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.producer }.to raise_error(KafkaRs::ClientClosed)
  end

  it "raises ConnectionError promptly for a closed port" do
    server = TCPServer.new("127.0.0.1", 0)
    port = server.addr[1]
    server.close
    bad = KafkaRs.new(["127.0.0.1:#{port}"], connect_timeout: 1, socket_timeout: 1)
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    expect { bad.topics }.to raise_error(KafkaRs::ConnectionError)
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0).to be < 5
    bad.close
  end
end
