# frozen_string_literal: true

require_relative "support"
require "logger"
require "stringio"

# The buffered producer's rule: a message leaves the buffer only once the broker acknowledged it.
# Every failure path below leaves the undelivered messages buffered, in their original order and
# ahead of anything produced meanwhile, and raises DeliveryFailed (cause: the underlying error) or
# lets an interrupt go on as it was raised.
RSpec.describe "buffered producer failure paths", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  let!(:topic) { new_topic(kafka) }
  after { drop_topics(kafka); kafka.close }

  def values_of(error)
    error.failed_messages.map(&:value)
  end

  # Messages to a partition the topic does not have (yet) fail with UNKNOWN_TOPIC_OR_PARTITION,
  # a retriable error: each attempt refreshes the topic's metadata from the broker, then waits
  # out `retry_backoff`, a real wait on the delivery path to interrupt. Growing the topic to
  # MISSING + 1 partitions makes them deliverable.
  MISSING = 7

  def grow_topic
    kafka.create_partitions_for(topic, num_partitions: MISSING + 1)
  end

  # Runs `deliver_messages` in a thread, waits until it is blocked, interrupts it with `how`.
  def interrupted_delivery(producer, how)
    th = Thread.new { producer.deliver_messages }
    th.report_on_exception = false
    sleep 0.5
    how.call(th)
    th.join
    nil
  rescue Exception => e # rubocop:disable Lint/RescueException
    e
  end

  it "keeps the buffer when the client was closed" do
    p = kafka.producer
    p.produce("a", topic: topic)
    p.produce("b", topic: topic)
    kafka.close
    error = nil
    expect { p.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed) { |e| error = e }
    expect(error.cause).to be_a(KafkaRs::ClientClosed)
    expect(values_of(error)).to eq(%w[a b])
    expect(p.buffer_size).to eq(2)
    expect(p.buffer_bytesize).to eq(2)
  end

  it "keeps the buffer when a callable partitioner's topic does not exist" do
    partitioner = ->(count, _message) { count - 1 }
    p = kafka.producer(partitioner: partitioner, allow_auto_create_topics: false, max_retries: 0)
    missing = "spec-missing-#{SecureRandom.hex(4)}"
    p.produce("ok", topic: topic)
    p.produce("lost?", topic: missing)
    error = nil
    expect { p.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed) { |e| error = e }
    expect(error.cause).to be_a(KafkaRs::UnknownTopicOrPartition)
    expect(error.cause.message).to include(missing)
    expect(p.buffer_size).to eq(2)
    expect(fetch_all(kafka, topic)).to eq([])
  end

  it "keeps the buffer when the partitioner raises, with its error as the cause" do
    calls = 0
    partitioner = lambda do |count, _message|
      calls += 1
      raise ArgumentError, "partitioner exploded" if calls == 2

      count - 1
    end
    p = kafka.producer(partitioner: partitioner)
    3.times { |i| p.produce("m#{i}", topic: topic) }
    error = nil
    expect { p.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed) { |e| error = e }
    expect(error.cause).to be_a(ArgumentError)
    expect(error.cause.message).to eq("partitioner exploded")
    expect(p.buffer_size).to eq(3)
    # The partitioner works again: the same messages go out, in order, once.
    p.deliver_messages
    expect(p.buffer_size).to eq(0)
    expect(fetch_all(kafka, topic).map(&:value)).to eq(%w[m0 m1 m2])
  end

  it "keeps messages that failed after the retries, in order, ahead of messages produced meanwhile" do
    p = kafka.producer(max_retries: 1, retry_backoff: 0.5)
    p.produce("b1", topic: topic, partition: MISSING)
    p.produce("g1", topic: topic)
    p.produce("b2", topic: topic, partition: MISSING)
    late = Thread.new do
      sleep 0.2
      p.produce("late", topic: topic, partition: 0)
    end
    error = nil
    expect { p.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed) { |e| error = e }
    late.join
    expect(error.cause).to be_a(KafkaRs::UnknownTopicOrPartition)
    expect(values_of(error)).to eq(%w[b1 b2])
    expect(p.buffer_size).to eq(3)
    expect(fetch_all(kafka, topic).map(&:value)).to eq(["g1"])
    # Left: b1, b2 (original order), then late. Once the partition exists, all of it goes out.
    grow_topic
    p.deliver_messages
    expect(fetch_all(kafka, topic, MISSING).map(&:value)).to eq(%w[b1 b2])
    expect(fetch_all(kafka, topic).map(&:value)).to eq(%w[g1 late])
  end

  {
    "Thread#raise" => ->(th) { th.raise(RuntimeError, "stop now") },
    "Thread#kill" => ->(th) { th.kill }
  }.each do |name, how|
    it "keeps every message of the call when #{name} interrupts the wait" do
      p = kafka.producer(max_retries: 5, retry_backoff: 2)
      p.produce("x1", topic: topic, partition: MISSING)
      p.produce("x2", topic: topic)
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      error = interrupted_delivery(p, how)
      expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0).to be < 2
      expect(error).to be_a(RuntimeError).and(have_attributes(message: "stop now")) if name == "Thread#raise"
      expect(error).not_to be_a(KafkaRs::DeliveryFailed)
      expect(p.buffer_size).to eq(2)
    end
  end

  it "keeps every message of the call when Timeout.timeout fires, and re-raises it" do
    p = kafka.producer(max_retries: 5, retry_backoff: 2)
    p.produce("t1", topic: topic, partition: MISSING)
    p.produce("t2", topic: topic, partition: MISSING)
    expect { Timeout.timeout(0.5) { p.deliver_messages } }.to raise_error(Timeout::Error)
    expect(p.buffer_size).to eq(2)
    grow_topic
    p.deliver_messages
    expect(fetch_all(kafka, topic, MISSING).map(&:value)).to eq(%w[t1 t2])
  end

  it "keeps every message when Ctrl-C (SIGINT) interrupts the wait" do
    lib = File.expand_path("../../lib", __dir__)
    code = <<~RUBY
      require "kafka_rs"
      $stdout.sync = true
      p = KafkaRs.new("#{IntegrationHelpers::BROKER}").producer(max_retries: 5, retry_backoff: 2)
      p.produce("c1", topic: "#{topic}", partition: #{MISSING})
      p.produce("c2", topic: "#{topic}", partition: #{MISSING})
      puts "ready"
      begin
        p.deliver_messages
        puts "delivered"
      rescue Interrupt
        puts "interrupted \#{p.buffer_size}"
      end
    RUBY
    IO.popen([RbConfig.ruby, "-I", lib, "-e", code], err: File::NULL) do |io|
      expect(io.gets).to eq("ready\n")
      sleep 0.5
      Process.kill("INT", io.pid)
      expect(Timeout.timeout(10) { io.gets }).to eq("interrupted 2\n")
    end
    expect($?.success?).to be(true)
  end

  it "sends nothing twice when two threads deliver the same buffer" do
    p = kafka.producer(max_buffer_size: 10_000)
    1000.times { |i| p.produce("m#{i}", topic: topic) }
    Array.new(4) { Thread.new { p.deliver_messages } }.each(&:join)
    got = []
    loop do
      batch = kafka.fetch_messages(topic: topic, partition: 0, offset: got.size, max_wait_time: 1)
      break if batch.empty?

      got.concat(batch)
    end
    expect(got.map(&:value)).to eq((0...1000).map { |i| "m#{i}" })
    expect(kafka.last_offset_for(topic, 0)).to eq(999)
  end

  it "runs interceptors (ruby-kafka's) on each produced message; one that raises is skipped" do
    add_header = Class.new do
      def call(message)
        KafkaRs::PendingMessage.new(value: message.value.upcase, key: message.key, topic: message.topic,
                                    headers: message.headers.merge("seen" => "yes"), partition: message.partition,
                                    partition_key: message.partition_key, create_time: message.create_time)
      end
    end.new
    broken = ->(_message) { raise "interceptor bug" }
    log = StringIO.new
    k = KafkaRs.new([IntegrationHelpers::BROKER], logger: Logger.new(log))
    p = k.producer(interceptors: [broken, add_header])
    p.produce("hello", topic: topic, key: "k")
    expect(p.buffer_bytesize).to eq(6)
    p.deliver_messages
    m = fetch_all(kafka, topic).last
    expect([m.value, m.key, m.headers]).to eq(["HELLO", "k", { "seen" => "yes" }])
    expect(log.string).to include("interceptor bug")
    expect { k.producer(interceptors: [1]) }.to raise_error(TypeError, /interceptors\[0\]/)
    k.close
  end
end
