# frozen_string_literal: true

require_relative "support"
require_relative "../support/redis_server"
require "router_metrics/metrics_store"
require "securerandom"

RSpec.describe RouterMetrics::MetricsStore do
  before(:context) { @server = RedisServer.start }
  after(:context) { @server&.stop }

  let(:redis) { @server.client }
  let(:store) { described_class.new(redis, namespace: "spec-#{SecureRandom.hex(4)}") }
  # 600 lines over three apps, 0.25 s apart: they span four minutes.
  let(:generated) do
    time = Time.utc(2024, 5, 1, 12, 0, 50)
    generator = RouterMetrics::LoadGenerator.new(apps: %w[shop api blog], seed: 11, clock: -> { time += 0.25 },
                                                 error_rate: 0.05, malformed_rate: 0)
    Array.new(6) { generator.batch(100) }
  end
  let(:lines) { generated.flat_map(&:lines) }
  let(:requests) { generated.flat_map(&:requests) }
  let(:messages) { lines.each_with_index.map { |line, offset| SpecMessage.new(offset, line) } }

  after { redis.close }

  def stored_counts(store)
    store.apps.flat_map { |app| store.minutes(app).map { |minute| [[app, minute], store.counts(app, minute)] } }.to_h
  end

  it "aggregates per app and minute exactly as the reference computation does" do
    result = store.record("router", 0, messages)

    expect(result.to_h).to eq(messages: 600, requests: requests.size, other: 600 - requests.size, unreadable: 0,
                              duplicates: 0)
    reference = RouterMetrics::Reference.counts(requests)
    expect(reference.keys.map(&:last).uniq.size).to eq(4) # 12:00:50 to 12:03:20
    expect(reference.values.sum { |c| c[:errors].values.sum }).to be_positive
    expect(stored_counts(store)).to eq(reference)
    expect(store.high_water_mark("router", 0)).to eq(600)
    expect(store.apps).to eq(%w[api blog shop])

    summary = store.summary("shop")
    expected = RouterMetrics::Reference.summary(requests, "shop")
    expect(summary).to eq(expected.except(:exact_p50, :exact_p95, :exact_p99))
    %i[p50 p95 p99].each do |p|
      exact = expected[:"exact_#{p}"]
      expect(summary[p]).to be_between(exact, exact + [exact / 16, 1].max)
    end
  end

  it "skips a redelivered batch and the redelivered part of an overlapping one" do
    store.record("router", 0, messages[0, 300])
    again = store.record("router", 0, messages[0, 300])
    expect(again.to_h).to include(messages: 0, duplicates: 300)

    overlap = store.record("router", 0, messages[250, 350])
    expect(overlap.to_h).to include(messages: 300, duplicates: 50)

    expect(stored_counts(store)).to eq(RouterMetrics::Reference.counts(requests))
    expect(store.counters).to include("messages" => 600, "duplicates" => 350, "requests" => requests.size)
  end

  it "keeps partitions apart" do
    store.record("router", 0, messages[0, 300])
    # Partition 1 starts at offset 0 too: not a redelivery of partition 0's offsets.
    other = messages[300, 300].each_with_index.map { |m, i| SpecMessage.new(i, m.value) }
    expect(store.record("router", 1, other).duplicates).to eq(0)
    expect(store.high_water_marks).to eq("router/0" => 300, "router/1" => 300)
    expect(stored_counts(store)).to eq(RouterMetrics::Reference.counts(requests))
  end

  it "counts every offset once under random redelivery (rewinds to any earlier offset, any batch sizes)" do
    random = Random.new(5)
    position = 0
    deliveries = 0
    while position < messages.size
      size = 1 + random.rand(80)
      store.record("router", 0, messages[position, size])
      deliveries += [size, messages.size - position].min
      # A crash before the commit: the next member starts again from an earlier offset.
      position = random.rand < 0.3 ? [position - random.rand(120), 0].max : position + size
    end
    expect(deliveries).to be > messages.size
    expect(stored_counts(store)).to eq(RouterMetrics::Reference.counts(requests))
    expect(store.counters["messages"]).to eq(600)
    expect(store.counters["duplicates"]).to eq(deliveries - 600)
  end

  it "counts every offset once when two workers write the same partition at the same time" do
    # A zombie (its partition already moved) and the new owner, each with its own connection and
    # its own batch boundaries, racing through the same offsets.
    workers = [7, 13].map do |batch_size|
      Thread.new do
        own = described_class.new(@server.client, namespace: store.namespace)
        messages.each_slice(batch_size) { |batch| own.record("router", 0, batch) }
        own.redis.close
      end
    end
    workers.each(&:join)
    expect(stored_counts(store)).to eq(RouterMetrics::Reference.counts(requests))
    expect(store.counters["messages"]).to eq(600)
    expect(store.high_water_mark("router", 0)).to eq(600)
  end

  it "counts lines that are not router lines or cannot be read" do
    values = [
      lines.first,
      "<190>1 2024-05-01T12:00:00Z shop app web.1 - hello",
      "not syslog at all",
      "<158>1 2024-05-01T12:00:00Z shop heroku router - something else",
      "<158>1 - shop heroku router - at=info status=200 service=1ms"
    ]
    result = store.record("router", 0, values.each_with_index.map { |v, i| SpecMessage.new(i, v) })
    expect(result.to_h).to include(messages: 5, other: 1, unreadable: 3)
    expect(result.requests + result.other + result.unreadable).to eq(5)
  end

  it "expires the per-minute keys when a TTL is given, never the offsets" do
    with_ttl = described_class.new(redis, namespace: store.namespace, ttl: 3600)
    with_ttl.record("router", 0, messages[0, 50])
    app = with_ttl.apps.first
    minute = with_ttl.minutes(app).first
    expect(redis.ttl("#{store.namespace}:m:#{app}:#{minute}")).to be_between(3500, 3600)
    expect(redis.ttl("#{store.namespace}:p:#{app}:#{minute}")).to be_between(3500, 3600)
    expect(redis.ttl("#{store.namespace}:offsets")).to eq(-1)
  end

  it "loads its script again after a SCRIPT FLUSH" do
    store.record("router", 0, messages[0, 10])
    redis.script(:flush)
    store.record("router", 0, messages[10, 10])
    expect(store.high_water_mark("router", 0)).to eq(20)
  end

  it "deletes its namespace and nothing else" do
    redis.set("unrelated", "1")
    store.record("router", 0, messages[0, 10])
    store.clear!
    expect(redis.keys("#{store.namespace}:*")).to eq([])
    expect(redis.get("unrelated")).to eq("1")
  end
end
