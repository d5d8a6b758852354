# frozen_string_literal: true

require_relative "support"
require "logger"
require "stringio"

RSpec.describe "delivery callbacks, background diagnostics and instrumentation" do
  include IntegrationHelpers

  let(:log) { StringIO.new }
  let(:kafka) { KafkaRs.new([IntegrationHelpers::BROKER], logger: Logger.new(log, level: :warn)) }
  let(:topic) { new_topic(kafka, partitions: 2) }
  let(:events) { Queue.new }
  let!(:subscriber) do
    KafkaRs::Instrumenter.subscribe(/\.kafka\z/) { |name, _start, _finish, _id, payload| events << [name, payload.dup] }
  end

  after do
    KafkaRs::Instrumenter.unsubscribe(subscriber)
    drop_topics(kafka)
    kafka.close
  end

  def drain(queue)
    Array.new(queue.size) { queue.pop }
  end

  def pop(queue, timeout: 10)
    Timeout.timeout(timeout) { queue.pop }
  end

  it "reports deliveries and failures to blocks on the producer's own Ruby thread" do
    producer = kafka.async_producer(max_retries: 0, retry_backoff: 0)
    got = Queue.new
    producer.on_delivery { |report| got << [:delivered, report, Thread.current.name] }
    producer.on_error { |error, message| got << [:failed, error, message, Thread.current.name] }
    producer.produce("ok", topic: topic, key: "k", headers: { "h" => "1" })
    producer.produce("lost", topic: topic, key: "k2", partition: 9, headers: { "h" => "2" })
    expect(producer.flush(timeout: 10)).to be(true)
    outcomes = [pop(got), pop(got)].sort_by { |o| o.first.to_s }

    _, report, thread = outcomes[0]
    expect(thread).to eq("kafka_rs-reports")
    expect(report).to be_a(KafkaRs::DeliveryReport)
    stored = fetch_all(kafka, topic, report.partition)
    expect(stored.map { |m| [m.value, m.offset] }).to eq([["ok", report.offset]])
    expect(report.topic).to eq(topic)

    _, error, message, thread = outcomes[1]
    expect(thread).to eq("kafka_rs-reports")
    expect(error).to be_a(KafkaRs::UnknownTopicOrPartition)
    expect(message).to be_a(KafkaRs::PendingMessage)
    expect([message.value, message.key, message.headers, message.topic, message.partition])
      .to eq(["lost", "k2", { "h" => "2" }, topic, 9])
    producer.shutdown
  end

  it "logs an exception raised by a callback and goes on reporting" do
    producer = kafka.async_producer
    seen = Queue.new
    producer.on_delivery { |r| raise "boom" if r.offset.zero? }
    producer.on_delivery { |r| seen << r.offset }
    2.times { |i| producer.produce("m#{i}", topic: topic, partition: 0) }
    producer.flush(timeout: 10)
    expect([pop(seen), pop(seen)]).to eq([0, 1])
    producer.shutdown
    expect(log.string).to include("on_delivery callback raised RuntimeError: boom")
  end

  it "hands background diagnostics to the logger without a foreground call" do
    producer = kafka.async_producer(max_retries: 0, retry_backoff: 0, delivery_interval: 0.01)
    producer.produce("x", topic: topic, partition: 5)
    Timeout.timeout(10) { sleep 0.05 until log.string.include?("missing partitions of #{topic}") }
    expect(log.string).to match(/ERROR -- kafka_rs: messages to missing partitions of #{topic} not delivered/)
    producer.shutdown
  end

  it "emits ruby-kafka's producer events with their payloads" do
    p = kafka.producer(max_buffer_size: 2)
    p.produce("v1", topic: topic, key: "k", partition: 1)
    p.produce("v2", topic: topic, key: "k", partition: 1)
    expect { p.produce("v3", topic: topic) }.to raise_error(KafkaRs::BufferOverflow)
    p.deliver_messages
    got = drain(events).group_by(&:first)
    expect(got["produce_message.producer.kafka"].map { |_, pl| pl.slice(:value, :key, :topic, :buffer_size) })
      .to eq([{ value: "v1", key: "k", topic: topic, buffer_size: 1 }, { value: "v2", key: "k", topic: topic, buffer_size: 2 }])
    expect(got["buffer_overflow.producer.kafka"].map(&:last)).to eq([{ client_id: "kafka_rs", topic: topic }])
    deliver = got["deliver_messages.producer.kafka"].map(&:last)
    expect(deliver).to eq([{ client_id: "kafka_rs", message_count: 2, attempts: 1, delivered_message_count: 2 }])
    acks = got["ack_message.producer.kafka"].map(&:last)
    expect(acks.map { |a| a.slice(:value, :topic, :partition, :offset) })
      .to eq([{ value: "v1", topic: topic, partition: 1, offset: 0 }, { value: "v2", topic: topic, partition: 1, offset: 1 }])
    expect(acks.map { |a| a[:delay] }).to all(be_a(Float).and(be >= 0))
  end

  it "emits the async producer's events, acknowledgements included" do
    a = kafka.async_producer(max_queue_size: 1)
    a.produce("v", topic: topic, partition: 0)
    expect { a.produce("w", topic: topic, partition: 0) }.to raise_error(KafkaRs::BufferOverflow)
    a.flush(timeout: 10)
    Timeout.timeout(10) { sleep 0.02 until events.size >= 3 }
    a.shutdown
    got = drain(events).group_by(&:first)
    expect(got["enqueue_message.async_producer.kafka"].map(&:last))
      .to eq([{ client_id: "kafka_rs", topic: topic, queue_size: 1, max_queue_size: 1 }])
    expect(got["buffer_overflow.async_producer.kafka"].map(&:last)).to eq([{ client_id: "kafka_rs", topic: topic }])
    expect(got["ack_message.producer.kafka"].map { |_, pl| pl.slice(:value, :partition, :offset) })
      .to eq([{ value: "v", partition: 0, offset: 0 }])
  end

  it "reports messages dropped at shutdown" do
    a = kafka.async_producer(max_retries: -1, retry_backoff: 0.05)
    a.produce("never", topic: topic, partition: 9)
    a.shutdown(timeout: 0.3)
    drops = drain(events).select { |name, _| name == "drop_messages.async_producer.kafka" }
    expect(drops.map(&:last)).to eq([{ client_id: "kafka_rs", message_count: 1 }])
  end

  it "costs a Hash lookup when nobody listens, and survives a subscriber that raises" do
    KafkaRs::Instrumenter.unsubscribe(subscriber)
    expect(KafkaRs::Instrumenter.listening?("ack_message.producer")).to be(false)
    broken = KafkaRs::Instrumenter.subscribe("ack_message.producer.kafka") { raise "subscriber bug" }
    expect(KafkaRs::Instrumenter.listening?("ack_message.producer")).to be(true)
    expect { kafka.deliver_message("still delivered", topic: topic, partition: 0) }
      .to output(/instrumentation subscriber raised RuntimeError: subscriber bug/).to_stderr
    expect(fetch_all(kafka, topic).map(&:value)).to eq(["still delivered"])
  ensure
    KafkaRs::Instrumenter.unsubscribe(broken) if broken
  end
end
