# frozen_string_literal: true

require_relative "integration/support"

# The binding under GC.stress (a GC at every allocation): Ruby objects that the native code makes
# or holds must stay reachable, and no pointer into a Ruby object's memory may outlive Ruby code
# that runs in the middle of a native call. GC.stress is on only around the calls of interest
# (it makes everything about 100x slower); a longer run: spec/gc_stress_roundtrip.rb, and the whole
# suite under stress: KAFKA_RS_GC_STRESS=1 rspec -r ./spec/gc_stress_helper.rb.
RSpec.describe "the binding under GC.stress", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  let(:native) { kafka.instance_variable_get(:@native) }
  after do
    GC.stress = false
    drop_topics(kafka)
    kafka.close
  end

  def under_gc_stress(compact: false)
    GC.auto_compact = true if compact
    GC.stress = true
    yield
  ensure
    GC.stress = false
    GC.auto_compact = false if compact
  end

  # An object whose implicit conversion (`to_str`, `to_ary`, `to_int`) replaces the contents of
  # `list`, the Array being converted (which frees that Array's element buffer), collects the
  # garbage (the other elements, now unreferenced) and returns `result`.
  def mutating(conversion, list, result)
    obj = Object.new
    obj.define_singleton_method(conversion) do
      list.replace(Array.new(64, 0))
      GC.start
      result
    end
    obj
  end

  it "round-trips binary keys, values and headers through produce, deliver_messages and fetch" do
    topic = new_topic(kafka)
    sent = Array.new(8) do |i|
      {
        value: i == 3 ? nil : ((0..255).map(&:chr).join * (i + 1)).b,
        key: i == 5 ? nil : "key-#{i}-\x00\xFF".b,
        headers: i.even? ? { "bin" => "\x00\x01\xFE\xFF".b * i, "nil" => nil, "empty" => "" } : {}
      }
    end
    fetched = under_gc_stress do
      producer = kafka.producer
      sent.each { |m| producer.produce(m[:value], topic: topic, key: m[:key], headers: m[:headers]) }
      producer.deliver_messages
      kafka.deliver_message("single\x00".b, topic: topic, key: "\xC3\x28".b, headers: { "h" => "\xFF".b })
      fetch_all(kafka, topic)
    end
    expect(fetched.size).to eq(9)
    sent.zip(fetched).each do |m, got|
      expect(got.value).to eq(m[:value])
      expect(got.key).to eq(m[:key])
      # A nil header value is sent as "", as ruby-kafka sends it.
      expect(got.headers).to eq(m[:headers].transform_values { |v| v.nil? ? "" : v })
    end
    expect([fetched[8].value, fetched[8].key, fetched[8].headers]).to eq(["single\x00".b, "\xC3\x28".b, { "h" => "\xFF".b }])
    expect(fetched.flat_map { |m| [m.value, m.key] }.compact).to all(be_frozen)
    expect(fetched.map { |m| m.value&.encoding }.compact.uniq).to eq([Encoding::BINARY])

    # Again with a compaction in every GC: objects move, so a VALUE the binding kept across calls
    # without it being pinned (on the stack, or registered with the GC) would go stale.
    next unless GC.respond_to?(:auto_compact=) # platforms without compaction

    compactions = GC.stat(:compact_count)
    again = under_gc_stress(compact: true) { fetch_all(kafka, topic) }
    expect(GC.stat(:compact_count)).to be > compactions
    expect(again.map { |m| [m.value, m.key, m.headers, m.offset] })
      .to eq(fetched.map { |m| [m.value, m.key, m.headers, m.offset] })
  end

  it "builds results and exceptions the GC can see (offsets, configs, brokers, errors)" do
    topic = new_topic(kafka, partitions: 3)
    missing = "spec-missing-#{SecureRandom.hex(4)}"
    results = under_gc_stress do
      {
        offsets: kafka.last_offsets_for(topic),
        configs: kafka.describe_topic(topic, %w[cleanup.policy]),
        brokers: kafka.brokers.map(&:port),
        partitions: kafka.partitions_for(topic),
        unknown: (kafka.fetch_messages(topic: missing, partition: 0, max_wait_time: 0) rescue $!), # rubocop:disable Style/RescueModifier
        failed: (kafka.deliver_message("v", topic: topic, partition: 7, retries: 0) rescue $!), # rubocop:disable Style/RescueModifier
        type_error: (native.fetch([[topic, "0", 0]], 0.0, 1, 100) rescue $!) # rubocop:disable Style/RescueModifier
      }
    end
    expect(results[:offsets]).to eq(topic => { 0 => -1, 1 => -1, 2 => -1 })
    expect(results[:configs]).to eq("cleanup.policy" => "delete")
    expect(results[:brokers]).to include(Integer(IntegrationHelpers::BROKER.split(":").last))
    expect(results[:partitions]).to eq(3)
    expect(results[:unknown]).to be_a(KafkaRs::UnknownTopicOrPartition)
    expect(results[:failed]).to be_a(KafkaRs::DeliveryFailed)
    expect(results[:failed].failed_messages.map(&:partition)).to eq([7])
    expect(results[:type_error]).to be_a(TypeError)
  end

  # Regression: magnus converts Array arguments to `Vec`s and tuples through a slice of the
  # Array's buffer taken before the first element is converted. A `to_str`/`to_ary`/`to_int` that
  # replaced the Array freed that buffer, and the following elements were read from freed memory
  # (objects already collected, or random words: a TypeError, a wrong value or a crash). The
  # binding now copies the elements out first (ext/kafka_rs/src/args.rs).
  describe "implicit conversions that change the Array being converted" do
    it "does not read freed memory in fetch cursors" do
      topic = new_topic(kafka, partitions: 4)
      cursors = []
      cursors.push(mutating(:to_ary, cursors, [topic, 0, 0]), [topic.dup, 1, 0], [topic.dup, 2, 0], [topic.dup, 3, 0])
      parts = under_gc_stress { native.fetch(cursors, 0.0, 1, 1000) }
      expect(parts.map { |(t, p, hw, messages, _next)| [t, p, hw, messages] })
        .to eq((0..3).map { |p| [topic, p, 0, []] })
    end

    it "does not read freed memory in describe_topic keys and list_offsets partitions" do
      topic = new_topic(kafka, partitions: 4)
      keys = []
      keys.push(mutating(:to_str, keys, "cleanup.policy"), "retention.ms".dup, "segment.bytes".dup, "flush.ms".dup)
      partitions = []
      partitions.push(mutating(:to_int, partitions, 0), 1, 2, 3)
      configs, offsets = under_gc_stress do
        [native.describe_topic(topic, keys), native.list_offsets(topic, partitions, -1)]
      end
      expect(configs.keys).to contain_exactly("cleanup.policy", "retention.ms", "segment.bytes", "flush.ms")
      expect(offsets).to eq(0 => 0, 1 => 0, 2 => 0, 3 => 0)
    end

    it "does not read freed memory in a producer's entries" do
      topic = new_topic(kafka)
      native_producer = KafkaRs::Native::Producer.new(native, [-1, 5.0, 0, 0.1, "crc32", "none", 1, false, true])
      entry = []
      entry.push("value\x00\xFF".b, mutating(:to_str, entry, "key".b), topic.dup, 0, "pk".dup, { "h" => "\x01".b }, 1_700_000_000_000)
      results = under_gc_stress { native_producer.deliver([entry]) }
      expect(results).to eq([[0, 0]])
      message, = fetch_all(kafka, topic)
      expect([message.value, message.key, message.headers, message.timestamp_ms])
        .to eq(["value\x00\xFF".b, "key", { "h" => "\x01".b }, 1_700_000_000_000])
    end

    it "does not read freed memory in create_topic configs and seed brokers" do
      name = "spec-#{SecureRandom.hex(4)}"
      configs = []
      configs.push([mutating(:to_str, configs, "retention.ms"), "123456789"], ["cleanup.policy".dup, "compact".dup],
                   ["segment.ms".dup, "3600000".dup], ["flush.ms".dup, "60000".dup])
      seeds = []
      seeds.push(mutating(:to_str, seeds, IntegrationHelpers::BROKER), "127.0.0.1:1".dup, "127.0.0.1:2".dup,
                 "127.0.0.1:3".dup)
      under_gc_stress do
        native.create_topic(name, 1, 1, 30.0, configs)
        KafkaRs::Native::Client.new(seeds, "kafka_rs-spec", 5.0, 5.0).close
      end
      (@created_topics ||= []) << name
      expect(kafka.describe_topic(name, %w[retention.ms cleanup.policy segment.ms flush.ms]))
        .to eq("retention.ms" => "123456789", "cleanup.policy" => "compact", "segment.ms" => "3600000",
               "flush.ms" => "60000")
    end
  end
end
