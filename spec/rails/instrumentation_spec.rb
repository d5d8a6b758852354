# frozen_string_literal: true

require_relative "support"
require "active_support"
require "active_support/notifications"

# Every instrumentation event ruby-kafka documents, emitted with its name and payload keys, through
# ActiveSupport::Notifications and through the built-in subscribers.
#
# The names and keys below are ruby-kafka's: its README ("Instrumentation") and the keys its
# reporters read from each payload (lib/kafka/statsd.rb and lib/kafka/datadog.rb, `fetch`); every
# payload also carries `client_id` ("All notification events have the client_id key").
RSpec.describe "instrumentation events", :integration do
  include IntegrationHelpers
  include RailsLayerHelpers

  RUBY_KAFKA_EVENTS = {
    "produce_message.producer.kafka" => %i[value key topic create_time message_size buffer_size max_buffer_size],
    "deliver_messages.producer.kafka" => %i[attempts message_count delivered_message_count],
    "ack_message.producer.kafka" => %i[key value topic partition offset delay],
    "topic_error.producer.kafka" => %i[topic exception],
    "buffer_overflow.producer.kafka" => %i[topic],
    "enqueue_message.async_producer.kafka" => %i[topic queue_size max_queue_size],
    "buffer_overflow.async_producer.kafka" => %i[topic],
    "drop_messages.async_producer.kafka" => %i[message_count],
    "request.connection.kafka" => %i[api request_size response_size broker_host],
    "process_message.consumer.kafka" => %i[group_id value key topic partition offset offset_lag create_time],
    "process_batch.consumer.kafka" => %i[group_id message_count topic partition highwater_mark_offset offset_lag],
    "fetch_batch.consumer.kafka" => %i[group_id topic partition offset_lag highwater_mark_offset message_count],
    "join_group.consumer.kafka" => %i[group_id],
    "sync_group.consumer.kafka" => %i[group_id],
    "leave_group.consumer.kafka" => %i[group_id],
    "heartbeat.consumer.kafka" => %i[group_id topic_partitions],
    "pause_status.consumer.kafka" => %i[group_id topic partition duration]
  }.freeze

  let(:kafka) { KafkaRs.new([IntegrationHelpers::BROKER], client_id: "instrumented") }
  let(:events) { Queue.new }

  before { @saved_backend = KafkaRs::Instrumenter.backend }

  after do
    KafkaRs::Instrumenter.backend = @saved_backend
    drop_topics(kafka)
    kafka.close
  end

  def received
    Array.new(events.size) { events.pop }
  end

  # Emits every event of the table: the producers (buffered and async, with an overflow, a
  # failed topic and messages dropped at shutdown), then a consumer group member that pauses a
  # partition, waits for a heartbeat and leaves.
  def emit_every_event
    topic = new_topic(kafka, partitions: 1)
    buffered = kafka.producer(max_buffer_size: 1)
    buffered.produce("b", topic: topic, key: "k")
    expect { buffered.produce("over", topic: topic) }.to raise_error(KafkaRs::BufferOverflow)
    buffered.deliver_messages
    failing = kafka.producer(max_retries: 0)
    failing.produce("nowhere", topic: topic, partition: 7)
    expect { failing.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed)

    async = kafka.async_producer(max_queue_size: 1)
    async.produce("a", topic: topic, key: "k")
    expect { async.produce("over", topic: topic) }.to raise_error(KafkaRs::BufferOverflow)
    expect(async.flush(timeout: 10)).to be(true)
    async.shutdown
    dropping = kafka.async_producer(max_retries: -1, retry_backoff: 0.05)
    dropping.produce("never", topic: topic, partition: 7)
    dropping.shutdown(timeout: 0.3)

    consumer = kafka.consumer(group_id: "instrumented-#{topic}", session_timeout: 6, heartbeat_interval: 0.2)
    consumer.subscribe(topic)
    paused_once = false
    consumer.each_message do |message|
      if !paused_once
        paused_once = true
        consumer.pause(message.topic, message.partition, timeout: 0.3)
      elsif message.value == "a"
        Timeout.timeout(10) { sleep 0.05 until @heartbeats.positive? }
        consumer.stop
      end
    end
    KafkaRs::RequestEvents.publish_pending
  end

  def check(got)
    names = got.map(&:first).uniq
    RUBY_KAFKA_EVENTS.each do |name, keys|
      payloads = got.select { |(n, _)| n == name }.map(&:last)
      expect(payloads).not_to be_empty, "no #{name} (got: #{names.sort.join(', ')})"
      payloads.each do |payload|
        expect(payload.keys).to include(:client_id, *keys), "#{name}: #{payload.keys}"
        expect(payload[:client_id]).to eq("instrumented")
      end
    end
    by_name = got.group_by(&:first).transform_values { |es| es.map(&:last) }
    expect(by_name["request.connection.kafka"].map { |p| p[:api] }).to include(:produce, :fetch, :join_group, :heartbeat)
    expect(by_name["request.connection.kafka"]).to all(include(broker_host: "127.0.0.1"))
    # The member's assignment when the heartbeat was published (empty once it has left).
    expect(by_name["heartbeat.consumer.kafka"].map { |p| p[:topic_partitions] })
      .to include(by_name["fetch_batch.consumer.kafka"].first[:topic] => [0])
    # One successful join per rebalance, although the broker asks for the member id first
    # (KIP-394). A join refused for another reason is an event of its own, with the error as its
    # exception: on a just-started broker the group's coordinator may still be loading.
    joins = by_name["join_group.consumer.kafka"]
    expect(joins.reject { |p| p[:exception] }.size).to eq(1), joins.inspect
    expect(joins.filter_map { |p| p[:exception]&.first }).not_to include("KafkaRs::MemberIdRequired")
    expect(by_name["sync_group.consumer.kafka"].reject { |p| p[:exception] }.size).to eq(1)
    expect(by_name["leave_group.consumer.kafka"].size).to eq(1)
    expect(by_name["pause_status.consumer.kafka"].map { |p| p[:duration] }).to all(be >= 0)
    expect(by_name["topic_error.producer.kafka"].first[:exception].first).to eq("KafkaRs::UnknownTopicOrPartition")
    expect(by_name["drop_messages.async_producer.kafka"]).to eq([{ client_id: "instrumented", message_count: 1 }])
  end

  it "emits ruby-kafka's events and payload keys through ActiveSupport::Notifications, with measured durations" do
    KafkaRs::Instrumenter.backend = ActiveSupport::Notifications
    @heartbeats = 0
    durations = Queue.new
    subscription = ActiveSupport::Notifications.subscribe(/\.kafka\z/) do |*args|
      event = ActiveSupport::Notifications::Event.new(*args)
      @heartbeats += 1 if event.name == "heartbeat.consumer.kafka"
      durations << event.duration if event.name == "join_group.consumer.kafka"
      events << [event.name, event.payload.dup]
    end
    emit_every_event
    check(received)
    # The join waited for the group's rebalance: its measured time, not an instant.
    expect(durations.pop).to be > 0
  ensure
    ActiveSupport::Notifications.unsubscribe(subscription) if subscription
  end

  it "emits the same through KafkaRs::Instrumenter.subscribe without ActiveSupport, and stops measuring requests after" do
    KafkaRs::Instrumenter.backend = nil
    @heartbeats = 0
    subscriber = KafkaRs::Instrumenter.subscribe(/\.kafka\z/) do |name, _start, _finish, _id, payload|
      @heartbeats += 1 if name == "heartbeat.consumer.kafka"
      events << [name, payload.dup]
    end
    emit_every_event
    check(received)
    KafkaRs::Instrumenter.unsubscribe(subscriber)
    expect(KafkaRs::Instrumenter.listening?("request.connection")).to be(false)
    kafka.partitions_for(kafka.topics.first)
    KafkaRs::RequestEvents.publish_pending
    expect(events.size).to eq(0)
  ensure
    KafkaRs::Instrumenter.unsubscribe(subscriber) if subscriber
  end

  it "follows ActiveSupport subscribers as they come and go" do
    KafkaRs::Instrumenter.backend = ActiveSupport::Notifications
    topic = new_topic(kafka)
    expect(KafkaRs::Instrumenter.listening?("ack_message.producer")).to be(false)
    subscription = ActiveSupport::Notifications.subscribe("ack_message.producer.kafka") { |*args| events << args }
    expect(KafkaRs::Instrumenter.listening?("ack_message.producer")).to be(true)
    kafka.deliver_message("x", topic: topic)
    expect(received.map(&:first)).to eq(["ack_message.producer.kafka"])
    ActiveSupport::Notifications.unsubscribe(subscription)
    expect(KafkaRs::Instrumenter.listening?("ack_message.producer")).to be(false)
    # A subscriber that raises does not stop the producer.
    broken = ActiveSupport::Notifications.subscribe("ack_message.producer.kafka") { raise "subscriber bug" }
    expect { kafka.deliver_message("y", topic: topic) }.to output(/subscriber raised RuntimeError: subscriber bug/).to_stderr
    expect(fetch_all(kafka, topic).map(&:value)).to eq(%w[x y])
  ensure
    ActiveSupport::Notifications.unsubscribe(broken) if broken
  end
end
