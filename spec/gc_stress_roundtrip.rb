# frozen_string_literal: true

# A longer GC.stress run than spec/gc_stress_spec.rb, against the broker on 127.0.0.1:9092 (or
# KAFKA_RS_BROKER): produces and delivers batches with binary keys, values and headers (nil
# values, nil header values, every codec), reads them back with fetch_messages and each_message
# and compares them byte for byte, and goes through the admin calls and the error paths
# (DeliveryFailed, unknown topics, TypeErrors raised inside the native code, conversion methods
# that mutate the array being converted), all under GC.stress.
#
#   ruby spec/gc_stress_roundtrip.rb [rounds]
#
# KAFKA_RS_GC_COMPACT=1 also moves every object (GC.verify_compaction_references) between calls;
# KAFKA_RS_GC_AUTO_COMPACT=1 turns GC.auto_compact on while stressed (a compaction in every major
# GC). Exits non-zero on the first mismatch; a memory error shows as a crash or a [BUG].

lib = File.expand_path("../lib", __dir__)
$LOAD_PATH.unshift(lib) unless $LOAD_PATH.include?(lib)
require "kafka_rs"
require "securerandom"

module GcStressRoundtrip
  BROKER = ENV.fetch("KAFKA_RS_BROKER", "127.0.0.1:9092")
  COMPACT = ENV["KAFKA_RS_GC_COMPACT"] == "1"
  AUTO_COMPACT = ENV["KAFKA_RS_GC_AUTO_COMPACT"] == "1"

  module_function

  def stressed
    GC.auto_compact = true if AUTO_COMPACT
    GC.stress = true
    yield
  ensure
    GC.stress = false
    GC.auto_compact = false if AUTO_COMPACT
  end

  def compact
    GC.verify_compaction_references(double_heap: true, toward: :empty) if COMPACT
  end

  # A call under GC.stress, with a compaction before and after when asked.
  def step(label)
    compact
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    result = stressed { yield }
    compact
    @timings[label] += Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    result
  end

  def check(condition, message)
    raise "MISMATCH: #{message}" unless condition
  end

  def bytes(n)
    SecureRandom.random_bytes(n)
  end

  def expect_raise(klass, label)
    yield
  rescue klass => e
    e
  else
    raise "MISMATCH: #{label}: expected #{klass}, nothing raised"
  end

  # Messages with binary keys, values and headers: nil values, empty strings, NUL and high bytes.
  def messages(round, count)
    Array.new(count) do |i|
      value = case i % 5
              when 0 then nil
              when 1 then ""
              else bytes(1 + ((i * 37) % 3000)) + "\x00\xFF".b
              end
      key = i % 4 == 3 ? nil : "k#{round}-#{i}-".b + bytes(i % 17)
      headers = case i % 3
                when 0 then {}
                when 1 then { "h-bin" => bytes(1 + (i % 40)), "h-nil" => nil, "h-empty" => "" }
                else { "h#{i}" => "\x00\x01\x02\xFE".b * (1 + (i % 5)), sym: :symbol_value, "n" => 42 }
                end
      { value: value, key: key, headers: headers }
    end
  end

  # What a header comes back as: String keys, binary String (or nil) values.
  def expected_headers(headers)
    headers.to_h { |k, v| [k.to_s, v.nil? ? nil : v.to_s.b] }
  end

  def compare(sent, got, label)
    check(got.size == sent.size, "#{label}: #{got.size} messages fetched, #{sent.size} sent")
    sent.zip(got).each_with_index do |(s, g), i|
      check(g.value == s[:value] && (s[:value].nil? || g.value.encoding == Encoding::BINARY),
            "#{label}[#{i}]: value #{g.value.inspect[0, 80]} != #{s[:value].inspect[0, 80]}")
      check(g.key == s[:key], "#{label}[#{i}]: key #{g.key.inspect} != #{s[:key].inspect}")
      check(g.headers == expected_headers(s[:headers]),
            "#{label}[#{i}]: headers #{g.headers.inspect} != #{expected_headers(s[:headers]).inspect}")
      check((g.value.nil? || g.value.frozen?) && (g.key.nil? || g.key.frozen?), "#{label}[#{i}]: not frozen")
    end
  end

  # Objects whose implicit conversions (to_str, to_ary, to_int) mutate the Array being converted
  # and collect garbage: the native code must not keep pointers into that Array's memory.
  def hostile_to_ary(list, replacement)
    obj = Object.new
    obj.define_singleton_method(:to_ary) do
      list.replace(Array.new(512) { |i| "garbage-#{i}" * 4 })
      GC.start
      replacement
    end
    obj
  end

  def hostile_to_str(list, replacement)
    obj = Object.new
    obj.define_singleton_method(:to_str) do
      list.replace(Array.new(512) { |i| [i] * 7 })
      GC.start
      replacement
    end
    obj
  end

  def run(rounds)
    @timings = Hash.new(0.0)
    kafka = KafkaRs.new([BROKER], client_id: "kafka_rs-gc-stress")
    topic = "gc-stress-#{SecureRandom.hex(4)}"
    other = "gc-stress-#{SecureRandom.hex(4)}"
    step(:create_topic) { kafka.create_topic(topic, num_partitions: 4, config: { "retention.ms" => 3_600_000 }) }
    step(:create_topic) { kafka.create_topic(other, num_partitions: 1) }
    native = kafka.instance_variable_get(:@native)
    begin
      rounds.times { |round| one_round(kafka, native, topic, other, round) }
    ensure
      [topic, other].each { |t| kafka.delete_topic(t) rescue nil } # rubocop:disable Style/RescueModifier
      kafka.close
    end
    @timings
  end

  def one_round(kafka, native, topic, other, round)
    # Buffered produce + deliver_messages, one partition per codec, compared byte for byte.
    %i[none gzip snappy lz4 zstd].each_with_index do |codec, c|
      partition = c % 3
      before = step(:last_offsets_for) { kafka.last_offsets_for(topic) }.fetch(topic).fetch(partition)
      sent = messages(round, 25)
      producer = step(:producer) { kafka.producer(compression_codec: codec == :none ? nil : codec) }
      sent.each do |m|
        step(:produce) do
          producer.produce(m[:value], topic: topic, key: m[:key], headers: m[:headers], partition: partition)
        end
      end
      step(:deliver_messages) { producer.deliver_messages }
      got = step(:fetch_messages) do
        kafka.fetch_messages(topic: topic, partition: partition, offset: before + 1, max_wait_time: 1,
                             max_bytes: 10_000_000)
      end
      compare(sent, got.first(sent.size), "round #{round} #{codec}")
    end

    # deliver_message, one at a time, then each_message from the beginning of `other`.
    start = step(:last_offset_for) { kafka.last_offset_for(other, 0) } + 1
    singles = messages(round, 6)
    singles.each do |m|
      step(:deliver_message) { kafka.deliver_message(m[:value], topic: other, key: m[:key], headers: m[:headers]) }
    end
    seen = []
    step(:each_message) do
      kafka.each_message(topic: other, max_wait_time: 1) do |message|
        seen << message if message.offset >= start
        break if seen.size == singles.size
      end
    end
    compare(singles, seen, "round #{round} each_message")

    # Admin and metadata calls.
    configs = step(:describe_topic) { kafka.describe_topic(topic, %w[retention.ms cleanup.policy]) }
    check(configs == { "retention.ms" => "3600000", "cleanup.policy" => "delete" }, "describe_topic #{configs}")
    all = step(:describe_topic) { kafka.describe_topic(topic) }
    check(all["retention.ms"] == "3600000" && all.size > 10, "describe_topic (all): #{all.size}")
    check(step(:partitions_for) { kafka.partitions_for(topic) } == 4, "partitions_for")
    brokers = step(:brokers) { kafka.brokers }
    check(brokers.any? { |b| "#{b.host}:#{b.port}" == BROKER || b.port == Integer(BROKER.split(":").last) },
          "brokers #{brokers.inspect}")
    check(step(:topics) { kafka.topics }.include?(topic), "topics")
    check(step(:has_topic) { kafka.has_topic?(other) }, "has_topic?")

    errors(kafka, native, topic, other)
  end

  def errors(kafka, native, topic, other)
    # DeliveryFailed: a partition that does not exist; the message stays buffered.
    producer = kafka.producer(max_retries: 0)
    step(:produce) { producer.produce("v".b + bytes(10), topic: topic, key: bytes(3), partition: 99, headers: { "a" => bytes(5) }) }
    failed = expect_raise(KafkaRs::DeliveryFailed, "DeliveryFailed") { step(:deliver_failed) { producer.deliver_messages } }
    check(failed.failed_messages.size == 1 && producer.buffer_size == 1, "DeliveryFailed keeps the message")
    check(failed.cause.is_a?(Exception) && !failed.cause.message.empty?, "DeliveryFailed cause #{failed.cause.inspect}")
    missing = "gc-stress-missing-#{SecureRandom.hex(4)}"
    expect_raise(KafkaRs::UnknownTopicOrPartition, "fetch unknown topic") do
      step(:fetch_unknown) { kafka.fetch_messages(topic: missing, partition: 0, max_wait_time: 0) }
    end
    expect_raise(KafkaRs::Error, "partitions_for unknown topic") { step(:partitions_unknown) { kafka.partitions_for(missing) } }

    # TypeErrors raised by the native argument conversions.
    native_producer = KafkaRs::Native::Producer.new(native, [-1, 5.0, 0, 0.1, "crc32", "none", 1, false, true])
    [
      -> { native_producer.deliver("not an array") },
      -> { native_producer.deliver([[1]]) },
      -> { native_producer.deliver([[nil, nil, 42, nil, nil, nil, 0]]) },
      -> { native_producer.deliver([["v", "k", topic, "zero", nil, nil, 0]]) },
      -> { native_producer.deliver([["v", "k", topic, nil, nil, { 1 => "x" }, 0]]) },
      -> { native_producer.deliver([["v", "k", topic, nil, nil, { "h" => 1 }, 0]]) },
      -> { native.fetch([[topic, "0", 0]], 0.0, 1, 1000) },
      -> { native.fetch([[topic, 0]], 0.0, 1, 1000) },
      -> { native.list_offsets(topic, ["a"], -1) },
      -> { native.describe_topic(topic, [1, 2]) },
      -> { native.create_topic(missing, 1, 1, 1.0, [["a", 1]]) },
      -> { KafkaRs::Native::Client.new([BROKER, 7], "id", 1.0, 1.0) }
    ].each_with_index do |call, i|
      expect_raise(TypeError, "bad argument #{i}") { step(:type_errors) { call.call } }
    end

    # Conversions that run Ruby code which empties the Array being converted and collects it.
    cursors = []
    cursors.push(hostile_to_ary(cursors, [topic, 0, 0]), *(1..3).map { |p| [topic.dup, p, 0] })
    parts = step(:hostile) { native.fetch(cursors, 0.0, 1, 1000) }
    check(parts.map { |p| p[0, 2] } == (0..3).map { |p| [topic, p] }, "hostile fetch #{parts.map { |p| p[0, 2] }}")
    keys = []
    keys.push(hostile_to_str(keys, "retention.ms"), *Array.new(40) { "cleanup.policy".dup })
    configs = step(:hostile) { native.describe_topic(topic, keys) }
    check(configs.keys.sort == %w[cleanup.policy retention.ms], "hostile describe_topic #{configs}")
    entry = []
    entry.push("value-#{SecureRandom.hex(2)}".b, hostile_to_str(entry, "key".b), other, 0, nil, nil, 1_700_000_000_000)
    value = entry[0]
    before = step(:hostile) { kafka.last_offset_for(other, 0) }
    results = step(:hostile) { native_producer.deliver([entry]) }
    check(results.size == 1 && results[0].is_a?(Array), "hostile deliver #{results.inspect}")
    got = step(:hostile) { kafka.fetch_messages(topic: other, partition: 0, offset: before + 1, max_wait_time: 1) }
    check(got.size == 1 && got[0].value == value && got[0].key == "key" && got[0].timestamp_ms == 1_700_000_000_000,
          "hostile deliver round trip #{got.inspect}")
  end
end

if $PROGRAM_NAME == __FILE__
  rounds = Integer(ARGV.fetch(0, "3"))
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  timings = GcStressRoundtrip.run(rounds)
  total = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  timings.sort_by { |_, t| -t }.each { |label, t| puts format("%-20s %8.2f s", label, t) }
  puts format("OK: %d rounds in %.1f s%s%s", rounds, total,
              GcStressRoundtrip::COMPACT ? " (compacting between calls)" : "",
              GcStressRoundtrip::AUTO_COMPACT ? " (auto_compact)" : "")
end
