# frozen_string_literal: true

require_relative "support"
require "socket"
require "logger"
require "stringio"
require "kafka_rs/statsd"
# Requiring it attaches the reporter; the examples here attach it when they want it.
KafkaRs::Statsd.detach

# The reporters built on the instrumentation events: Statsd (ruby-kafka's metric names, read
# from a real UDP socket) and the LogSubscriber's lines.
RSpec.describe "reporters", :integration do
  include IntegrationHelpers
  include ProcessHelpers

  let(:kafka) { KafkaRs.new([IntegrationHelpers::BROKER], client_id: "reported") }
  let(:topic) { new_topic(kafka, partitions: 1) }

  after do
    KafkaRs::Statsd.detach
    KafkaRs::LogSubscriber.detach
    drop_topics(kafka)
    kafka.close
  end

  # Datagrams received on `socket` until none came for `quiet` seconds.
  def datagrams(socket, quiet: 0.5)
    got = []
    while IO.select([socket], nil, nil, quiet)
      got.concat(socket.recvfrom(65_536).first.split("\n"))
    end
    got
  end

  it "sends ruby-kafka's Statsd metrics over UDP" do
    socket = UDPSocket.new
    socket.bind("127.0.0.1", 0)
    KafkaRs::Statsd.host = "127.0.0.1"
    KafkaRs::Statsd.port = socket.addr[1]
    KafkaRs::Statsd.namespace = "spec_ns"
    KafkaRs::Statsd.attach

    producer = kafka.producer
    producer.produce("m1", topic: topic, key: "k")
    producer.deliver_messages
    async = kafka.async_producer
    async.produce_async("m2", topic: topic).wait(timeout: 10)
    async.shutdown
    group = "statsd-#{topic}"
    consumer = kafka.consumer(group_id: group)
    consumer.subscribe(topic)
    seen = 0
    consumer.each_message { |_| consumer.stop if (seen += 1) == 2 }
    KafkaRs::RequestEvents.publish_pending

    lines = datagrams(socket)
    names = lines.map { |l| l[/\A[^:]+/] }.uniq
    c = "reported"
    tp = "#{group}.#{topic}.0"
    expect(names).to include(
      "spec_ns.producer.#{c}.#{topic}.produce.messages", "spec_ns.producer.#{c}.#{topic}.produce.message_size",
      "spec_ns.producer.#{c}.buffer.size", "spec_ns.producer.#{c}.buffer.fill_ratio",
      "spec_ns.producer.#{c}.deliver.latency", "spec_ns.producer.#{c}.deliver.messages",
      "spec_ns.producer.#{c}.deliver.attempts", "spec_ns.producer.#{c}.#{topic}.ack.messages",
      "spec_ns.producer.#{c}.#{topic}.ack.delay", "spec_ns.async_producer.#{c}.#{topic}.queue.size",
      "spec_ns.async_producer.#{c}.#{topic}.queue.fill_ratio",
      "spec_ns.api.#{c}.produce.127.0.0.1.latency", "spec_ns.api.#{c}.produce.127.0.0.1.calls",
      "spec_ns.api.#{c}.fetch.127.0.0.1.response_size",
      "spec_ns.consumer.#{c}.#{tp}.process_message.latency", "spec_ns.consumer.#{c}.#{tp}.messages",
      "spec_ns.consumer.#{c}.#{tp}.lag", "spec_ns.consumer.#{c}.#{tp}.time_lag",
      "spec_ns.consumer.#{c}.#{tp}.batch_size",
      "spec_ns.consumer.#{c}.#{group}.join_group", "spec_ns.consumer.#{c}.#{group}.sync_group",
      "spec_ns.consumer.#{c}.#{group}.leave_group"
    )
    # Statsd types: counters, timers (ms) and gauges.
    expect(lines).to include("spec_ns.producer.#{c}.deliver.messages:1|c", "spec_ns.consumer.#{c}.#{tp}.messages:1|c")
    expect(lines.grep(/\Aspec_ns\.producer\.#{c}\.deliver\.latency:[\d.]+\|ms\z/)).not_to be_empty
    expect(lines.grep(/\Aspec_ns\.consumer\.#{c}\.#{Regexp.escape(tp)}\.lag:\d+\|g\z/)).not_to be_empty

    KafkaRs::Statsd.detach
    kafka.deliver_message("unreported", topic: topic)
    expect(datagrams(socket, quiet: 0.3)).to eq([])
  ensure
    socket&.close
  end

  it "is Kafka::Statsd under compat, as ruby-kafka's require \"kafka/statsd\"" do
    status, out, err = run_ruby('require "kafka/statsd"; p Kafka::Statsd.equal?(KafkaRs::Statsd), Kafka::Statsd.statsd.namespace',
                                timeout: 30)
    expect(status&.success?).to be(true), err
    expect(out).to eq("true\n\"ruby_kafka\"\n")
  end

  it "writes one line per delivery failure, per shutdown drop and per rebalance" do
    log = StringIO.new
    KafkaRs::LogSubscriber.attach(Logger.new(log))
    buffered = kafka.producer(max_retries: 0)
    buffered.produce("x", topic: topic, partition: 5)
    expect { buffered.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed)
    async = kafka.async_producer(max_retries: 0)
    async.produce("y", topic: topic, partition: 6)
    async.produce("z", topic: topic, partition: 6)
    expect(async.flush(timeout: 10)).to be(true)
    async.shutdown
    stuck = kafka.async_producer(max_retries: -1, retry_backoff: 0.05)
    stuck.produce("never", topic: topic, partition: 7)
    stuck.shutdown(timeout: 0.3)
    kafka.deliver_message("ok", topic: topic)
    consumer = kafka.consumer(group_id: "log-#{topic}")
    consumer.subscribe(topic)
    consumer.each_message { |_| consumer.stop }
    KafkaRs::RequestEvents.publish_pending

    lines = log.string.lines.grep(/\[kafka_rs\]/)
    expect(lines.grep(/ERROR -- : \[kafka_rs\] delivery to #{topic} failed: KafkaRs::UnknownTopicOrPartition/).size).to eq(3)
    expect(lines.grep(/ERROR -- : \[kafka_rs\] 1 messages not delivered at shutdown \(client reported\)/).size).to eq(1)
    expect(lines.grep(/INFO -- : \[kafka_rs\] group log-#{topic} \(client reported\) rebalanced: joined in [\d.]+ ms/).size)
      .to eq(1)
    expect(lines.size).to eq(5), lines.join
  end
end
