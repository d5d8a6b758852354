# frozen_string_literal: true

require_relative "support"

RSpec.describe "produce/fetch round trips", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  after { drop_topics(kafka); kafka.close }

  it "round-trips keys, headers (incl. binary), tombstones, all byte values and empty strings" do
    t = new_topic(kafka)
    bin = (0..255).map(&:chr).join.b
    kafka.deliver_message("v1", topic: t, key: "k1", headers: { "a" => "1", "b" => "\x00\xFF".b, "c" => bin })
    kafka.deliver_message(nil, topic: t, key: "gone")
    kafka.deliver_message(bin, topic: t)
    kafka.deliver_message("", topic: t)
    msgs = fetch_all(kafka, t)
    expect(msgs.map(&:offset)).to eq([0, 1, 2, 3])
    expect(msgs[0].key).to eq("k1")
    expect(msgs[0].value).to eq("v1")
    expect(msgs[0].headers).to eq("a" => "1", "b" => "\x00\xFF".b, "c" => bin)
    expect(msgs[1].value).to be_nil
    expect(msgs[1].key).to eq("gone")
    expect(msgs[2].value).to eq(bin)
    expect(msgs[2].value.bytesize).to eq(256)
    expect(msgs[3].value).to eq("")
    [msgs[0].value, msgs[0].key, msgs[2].value, msgs[3].value].each do |s|
      expect(s).to be_frozen
      expect(s.encoding).to eq(Encoding::ASCII_8BIT)
    end
  end

  # deliver_messages copies keys and values into shared 64 KB arenas (larger ones alone): a
  # batch that crosses arena boundaries must come back byte for byte, in order.
  it "round-trips a batch of mixed sizes across arena boundaries" do
    t = new_topic(kafka)
    rng = Random.new(42)
    sizes = Array.new(600) { |i| i % 50 == 0 ? 20_000 + rng.rand(30_000) : rng.rand(3000) }
    sent = sizes.each_with_index.map do |n, i|
      [rng.bytes(n), i.even? ? "key-#{i}" : nil, i % 7 == 0 ? { "h" => rng.bytes(i % 300) } : {}]
    end
    p = kafka.producer(max_buffer_bytesize: 100_000_000)
    sent.each { |v, k, h| p.produce(v, topic: t, key: k, headers: h) }
    p.deliver_messages
    got = []
    while got.size < sent.size
      batch = kafka.fetch_messages(topic: t, partition: 0, offset: got.size, max_wait_time: 1)
      break if batch.empty?

      got.concat(batch)
    end
    expect(got.map { |m| [m.value, m.key, m.headers] }).to eq(sent)
  end

  it "round-trips a 1 MB value" do
    t = new_topic(kafka)
    big = SecureRandom.random_bytes(1_048_576)
    kafka.deliver_message(big, topic: t)
    msgs = kafka.fetch_messages(topic: t, partition: 0, offset: :earliest, max_wait_time: 1)
    expect(msgs.size).to eq(1)
    expect(msgs[0].value.bytesize).to eq(1_048_576)
    expect(msgs[0].value).to eq(big)
  end

  it "keeps offsets contiguous and create_time at ms precision; supports offsets and last_offset(s)_for" do
    t = new_topic(kafka)
    time = Time.at(1_700_000_000, 123, :millisecond)
    p = kafka.producer
    10.times { |i| p.produce("m#{i}", topic: t, create_time: time + i) }
    p.deliver_messages
    msgs = fetch_all(kafka, t)
    expect(msgs.map(&:offset)).to eq((0..9).to_a)
    expect(msgs.map(&:value)).to eq((0..9).map { |i| "m#{i}" })
    expect(msgs[0].create_time).to eq(time)
    expect(msgs[3].create_time).to eq(time + 3)
    expect(msgs[0].timestamp_ms).to eq(1_700_000_000_123)
    expect(kafka.fetch_messages(topic: t, partition: 0, offset: 7, max_wait_time: 1).map(&:offset)).to eq([7, 8, 9])
    expect(kafka.fetch_messages(topic: t, partition: 0, offset: :latest, max_wait_time: 0.2)).to eq([])
    expect(kafka.last_offset_for(t, 0)).to eq(9)
    expect(kafka.last_offsets_for(t)).to eq(t => { 0 => 9 })
  end

  it "reports -1 for an empty partition" do
    t = new_topic(kafka, partitions: 2)
    expect(kafka.last_offsets_for(t)).to eq(t => { 0 => -1, 1 => -1 })
  end

  it "routes keyed messages to one partition and spreads unkeyed batches; honours partition: and partition_key:" do
    t = new_topic(kafka, partitions: 3)
    p = kafka.producer
    20.times { |i| p.produce("k#{i}", topic: t, key: "same-key") }
    p.deliver_messages
    counts = kafka.last_offsets_for(t)[t].transform_values { |o| o + 1 }
    expect(counts.values.sort).to eq([0, 0, 20])
    keyed_partition = counts.key(20)

    # Keyless messages stick to one partition per batch (as librdkafka and the Java client do),
    # and the next batch goes to another.
    6.times do |round|
      10.times { |i| p.produce("u#{round * 10 + i}", topic: t) }
      p.deliver_messages
    end
    after = kafka.last_offsets_for(t)[t].transform_values { |o| o + 1 }
    unkeyed = after.to_h { |part, n| [part, n - counts[part]] }
    expect(unkeyed.values.sum).to eq(60)
    expect(unkeyed.values).to all(be > 0)

    kafka.deliver_message("explicit", topic: t, partition: 2, key: "same-key")
    expect(kafka.fetch_messages(topic: t, partition: 2, offset: kafka.last_offset_for(t, 2),
                                max_wait_time: 1).map(&:value)).to eq(["explicit"])

    kafka.deliver_message("pk", topic: t, key: "other", partition_key: "same-key")
    last = kafka.fetch_messages(topic: t, partition: keyed_partition,
                                offset: kafka.last_offset_for(t, keyed_partition), max_wait_time: 1)
    expect(last.map(&:value)).to eq(["pk"])
    expect(last[0].key).to eq("other")
  end

  it "tracks buffer size/bytesize, clears, and overflows without delivering the rejected message" do
    t = new_topic(kafka)
    p = kafka.producer(max_buffer_size: 3, max_buffer_bytesize: 100)
    p.produce("abc", topic: t, key: "kk")
    expect(p.buffer_size).to eq(1)
    expect(p.buffer_bytesize).to eq(5)
    p.clear_buffer
    expect(p.buffer_size).to eq(0)
    expect(p.buffer_bytesize).to eq(0)
    3.times { p.produce("x", topic: t) }
    expect { p.produce("overflow", topic: t) }.to raise_error(KafkaRs::BufferOverflow)
    expect(p.buffer_size).to eq(3)
    p.deliver_messages
    expect(fetch_all(kafka, t).map(&:value)).to eq(%w[x x x])

    p.produce("a" * 90, topic: t)
    expect { p.produce("b" * 20, topic: t) }.to raise_error(KafkaRs::BufferOverflow)
    expect(p.buffer_size).to eq(1)
    p.deliver_messages
    expect(fetch_all(kafka, t).map(&:value)).to eq(%w[x x x] + ["a" * 90])
  end

  it "fails delivery to a missing partition, keeping the message buffered" do
    t = new_topic(kafka)
    p = kafka.producer(max_retries: 0)
    p.produce("ok", topic: t, partition: 0)
    p.produce("bad", topic: t, partition: 7)
    error = nil
    expect { p.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed) { |e| error = e }
    expect(error.failed_messages.map { |m| [m.value, m.partition] }).to eq([["bad", 7]])
    expect(error.cause).to be_a(KafkaRs::UnknownTopicOrPartition)
    expect(p.buffer_size).to eq(1)
    expect(fetch_all(kafka, t).map(&:value)).to eq(["ok"])
  end

  it "fails delivery to a missing topic with UnknownTopicOrPartition naming it, when auto-creation is off" do
    missing = "spec-missing-#{SecureRandom.hex(4)}"
    p = kafka.producer(allow_auto_create_topics: false, max_retries: 0)
    p.produce("x", topic: missing)
    expect { p.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed) { |e|
      expect(e.cause).to be_a(KafkaRs::UnknownTopicOrPartition)
      expect(e.cause.message).to include(missing)
      expect(e.message).to include(missing)
    }
    expect(p.buffer_size).to eq(1)
    expect(kafka.has_topic?(missing)).to be(false)
  end

  it "creates a missing topic on first produce where the broker allows it (the default)" do
    missing = "spec-auto-#{SecureRandom.hex(4)}"
    (@created_topics ||= []) << missing
    kafka.deliver_message("first", topic: missing, key: "k")
    p = kafka.producer
    p.produce("second", topic: missing)
    p.deliver_messages
    expect(kafka.has_topic?(missing)).to be(true)
    expect(fetch_all(kafka, missing).map(&:value)).to eq(%w[first second])
  end

  it "each_message reads across partitions" do
    t = new_topic(kafka, partitions: 3)
    3.times { |part| 2.times { |i| kafka.deliver_message("#{part}-#{i}", topic: t, partition: part) } }
    got = Queue.new
    th = Thread.new { kafka.each_message(topic: t, max_wait_time: 0.5) { |m| got << m } }
    th.report_on_exception = false
    begin
      msgs = Array.new(6) { Timeout.timeout(10) { got.pop } }
    ensure
      th.kill
      th.join
    end
    expect(msgs.map(&:value).sort).to eq(%w[0-0 0-1 1-0 1-1 2-0 2-1])
    expect(msgs.map(&:partition).uniq.sort).to eq([0, 1, 2])
  end

  [0, 1, :all].each do |acks|
    it "delivers with required_acks #{acks.inspect}" do
      t = new_topic(kafka)
      p = kafka.producer(required_acks: acks)
      5.times { |i| p.produce("a#{i}", topic: t) }
      p.deliver_messages
      msgs = []
      deadline = Time.now + 5
      msgs = fetch_all(kafka, t) while msgs.size < 5 && Time.now < deadline
      expect(msgs.map(&:value)).to eq((0..4).map { |i| "a#{i}" })
    end
  end

  %i[gzip snappy lz4 zstd].each do |codec|
    it "round-trips with compression_codec #{codec}" do
      t = new_topic(kafka)
      p = kafka.producer(compression_codec: codec)
      vals = (0..49).map { |i| "#{codec}-#{i}-" + ("z" * 200) }
      vals.each { |v| p.produce(v, topic: t, key: "k", headers: { "h" => "v" }) }
      p.deliver_messages
      msgs = fetch_all(kafka, t)
      expect(msgs.map(&:value)).to eq(vals)
      expect(msgs.map(&:offset)).to eq((0..49).to_a)
      expect(msgs.last.headers).to eq("h" => "v")
    end
  end

  it "honours compression_threshold (ruby-kafka's name): small batches plain, large ones compressed" do
    t = new_topic(kafka, partitions: 2)
    p = kafka.producer(compression_codec: :gzip, compression_threshold: 5)
    small = (0..2).map { |i| "small-#{i}" }
    large = (0..19).map { |i| "large-#{i}-" + ("q" * 100) }
    small.each { |v| p.produce(v, topic: t, partition: 0) }
    large.each { |v| p.produce(v, topic: t, partition: 1) }
    p.deliver_messages
    expect(fetch_all(kafka, t, 0).map(&:value)).to eq(small)
    expect(fetch_all(kafka, t, 1).map(&:value)).to eq(large)
    expect { kafka.producer(compression_threshold: 0) }.to raise_error(ArgumentError, /compression_threshold/)
  end

  it "works through the Kafka compat constant" do
    require "kafka_rs/compat"
    k = Kafka.new([IntegrationHelpers::BROKER])
    t = new_topic(k)
    k.deliver_message("compat", topic: t)
    expect(fetch_all(k, t).map(&:value)).to eq(["compat"])
    expect(Kafka::DeliveryFailed).to equal(KafkaRs::DeliveryFailed)
    expect { k.deliver_message("x", topic: t, partition: 9, retries: 0) }
      .to raise_error(Kafka::DeliveryFailed)
    drop_topics(k)
    k.close
  end
end
