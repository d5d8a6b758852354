# frozen_string_literal: true

require_relative "support"

RSpec.describe "async producer", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  let!(:topic) { new_topic(kafka, partitions: 3) }
  after { drop_topics(kafka); kafka.close }

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  def all_values(k = kafka, t = topic, partitions: 3)
    (0...partitions).flat_map { |part| fetch_all(k, t, part) }.map(&:value)
  end

  # A client whose only broker refuses connections: nothing can be delivered.
  def unreachable_client
    port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
    KafkaRs.new(["127.0.0.1:#{port}"], connect_timeout: 1, socket_timeout: 1)
  end

  it "queues without waiting on the network, and reports what it could not deliver at shutdown" do
    k = unreachable_client
    p = k.async_producer(delivery_interval: 0.01, retry_backoff: 0.05)
    t0 = now
    handles = Array.new(50) { |i| p.produce_async("m#{i}", topic: "t") }
    100.times { |i| p.produce("n#{i}", topic: "t") }
    expect(now - t0).to be < 0.5
    expect(p.queue_size).to eq(150)
    expect(handles).to all(be_pending)
    p.shutdown(timeout: 0.3)
    expect(p.queue_size).to eq(0)
    expect(handles.map(&:error)).to all(be_a(KafkaRs::Error))
    expect { handles.first.wait(timeout: 1) }.to raise_error(KafkaRs::Error)
    expect { p.produce("late", topic: "t") }.to raise_error(KafkaRs::ClientClosed)
    k.close
  end

  it "raises BufferOverflow at once when the queue is full, queuing nothing more" do
    k = unreachable_client
    p = k.async_producer(max_queue_size: 5)
    5.times { |i| p.produce("m#{i}", topic: "t") }
    t0 = now
    expect { p.produce("overflow", topic: "t") }.to raise_error(KafkaRs::BufferOverflow, /max queue size/)
    expect { p.produce_many([{ value: "a", topic: "t" }]) }.to raise_error(KafkaRs::BufferOverflow)
    expect(now - t0).to be < 0.1
    expect(p.queue_size).to eq(5)
    p.shutdown(timeout: 0.1)
    k.close
  end

  it "delivers every message once, in order per partition, with handles that report offsets" do
    p = kafka.async_producer(delivery_interval: 0.005)
    handles = Array.new(300) { |i| p.produce_async("v#{i}", topic: topic, key: "user-#{i % 7}") }
    reports = handles.map { |h| h.wait(timeout: 10) }
    expect(reports.map(&:topic).uniq).to eq([topic])
    by_partition = reports.each_with_index.group_by { |r, _| r.partition }
    by_partition.each do |partition, rs|
      offsets = rs.map { |r, _| r.offset }
      expect(offsets).to eq(offsets.sort)
      expect(offsets.uniq.size).to eq(offsets.size)
      fetched = fetch_all(kafka, topic, partition)
      expect(fetched.map(&:value)).to eq(rs.map { |_, i| "v#{i}" })
    end
    # One key, one partition.
    expect(reports.each_slice(7).map(&:first).map(&:partition).uniq.size).to eq(1)
    p.shutdown
  end

  it "produce_many queues a batch in one call and returns a handle per message" do
    p = kafka.async_producer
    msgs = Array.new(1000) { |i| { value: "b#{i}", topic: topic, partition: i % 3, headers: { "i" => i } } }
    handles = p.produce_many(msgs)
    expect(handles.size).to eq(1000)
    expect(p.flush(timeout: 10)).to be(true)
    expect(handles.map { |h| h.report.partition }).to eq(Array.new(1000) { |i| i % 3 })
    expect(all_values.sort).to eq(msgs.map { |m| m[:value] }.sort)
    expect(fetch_all(kafka, topic, 1).first.headers).to eq("i" => "1")
    expect { p.produce_many([{ value: "x" }]) }.to raise_error(ArgumentError, /topic/)
    expect { p.produce_many([{ value: "x", topic: topic, bogus: 1 }]) }.to raise_error(ArgumentError, /bogus/)
    p.shutdown
  end

  it "sends nothing by time alone with ruby-kafka's defaults, and everything on deliver_messages" do
    p = kafka.async_producer
    5.times { |i| p.produce("d#{i}", topic: topic, partition: 0) }
    sleep 0.3
    expect(fetch_all(kafka, topic, 0)).to eq([])
    expect(p.queue_size).to eq(5)
    p.deliver_messages
    deadline = now + 5
    sleep 0.05 while p.queue_size.positive? && now < deadline
    expect(fetch_all(kafka, topic, 0).map(&:value)).to eq(%w[d0 d1 d2 d3 d4])
    p.shutdown
  end

  it "sends by time with delivery_interval, without any flush" do
    p = kafka.async_producer(delivery_interval: 0.05)
    p.produce("timed", topic: topic, partition: 2)
    deadline = now + 5
    got = []
    got = fetch_all(kafka, topic, 2) while got.empty? && now < deadline
    expect(got.map(&:value)).to eq(["timed"])
    p.shutdown
  end

  it "fails messages to a missing partition, and to a missing topic when auto-creation is off" do
    p = kafka.async_producer(allow_auto_create_topics: false, max_retries: 1, retry_backoff: 0.05)
    bad_partition = p.produce_async("x", topic: topic, partition: 9)
    missing = "spec-missing-#{SecureRandom.hex(4)}"
    bad_topic = p.produce_async("y", topic: missing)
    good = p.produce_async("z", topic: topic, partition: 0)
    expect { bad_partition.wait(timeout: 5) }.to raise_error(KafkaRs::UnknownTopicOrPartition, /9/)
    expect { bad_topic.wait(timeout: 5) }.to raise_error(KafkaRs::UnknownTopicOrPartition, /#{missing}/)
    expect(good.wait(timeout: 5).offset).to eq(0)
    expect(kafka.has_topic?(missing)).to be(false)
    p.shutdown
  end

  it "creates a missing topic where the broker allows it" do
    missing = "spec-auto-#{SecureRandom.hex(4)}"
    (@created_topics ||= []) << missing
    p = kafka.async_producer
    expect(p.produce_async("first", topic: missing).wait(timeout: 15).offset).to eq(0)
    expect(fetch_all(kafka, missing).map(&:value)).to eq(["first"])
    p.shutdown
  end

  it "delivers what is queued when the process exits without a shutdown" do
    lib = File.expand_path("../../lib", __dir__)
    code = <<~RUBY
      require "kafka_rs"
      p = KafkaRs.new("#{IntegrationHelpers::BROKER}").async_producer
      200.times { |i| p.produce("exit-\#{i}", topic: "#{topic}", partition: 1) }
      puts p.queue_size
    RUBY
    out = IO.popen([RbConfig.ruby, "-I", lib, "-e", code], &:read)
    expect($?.success?).to be(true)
    expect(out).to eq("200\n")
    expect(fetch_all(kafka, topic, 1).map(&:value)).to eq(Array.new(200) { |i| "exit-#{i}" })
  end

  it "works in a forked child; what the parent queued is sent once, by the parent" do
    p = kafka.async_producer
    p.produce("parent-before", topic: topic, partition: 0)
    pid = fork do
      p.produce("child", topic: topic, partition: 0)
      ok = p.flush(timeout: 10)
      exit!(ok ? 0 : 1)
    rescue Exception => e # rubocop:disable Lint/RescueException
      warn e.full_message
      exit!(2)
    end
    _, status = Process.wait2(pid)
    expect(status.exitstatus).to eq(0)
    p.produce("parent-after", topic: topic, partition: 0)
    expect(p.flush(timeout: 10)).to be(true)
    values = fetch_all(kafka, topic, 0).map(&:value)
    expect(values.sort).to eq(%w[child parent-after parent-before])
    p.shutdown
  end

  it "runs interceptors and rejects a callable partitioner" do
    upcase = ->(m) { KafkaRs::PendingMessage.new(value: m.value.upcase, key: m.key, topic: m.topic, partition: m.partition) }
    p = kafka.async_producer(interceptors: [upcase])
    p.produce_async("shout", topic: topic, partition: 0).wait(timeout: 5)
    expect(fetch_all(kafka, topic, 0).map(&:value)).to eq(["SHOUT"])
    expect { kafka.async_producer(partitioner: ->(n, _m) { n - 1 }) }.to raise_error(ArgumentError, /partitioner/)
    p.shutdown
  end
end
