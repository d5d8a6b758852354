# frozen_string_literal: true

require_relative "interop_support"
require "zlib"

# Every codec, both ways, against librdkafka (kcat) and the Java client (Kafka's console producer
# and consumer): keys, values and headers must arrive byte for byte, null keys and values stay
# null, and the broker must hold the batches with the codec the producer was asked for.
#
# JVMs are slow to start, so each Java consumer run reads the five codec topics of one producer
# at once (--include), and the five console producer runs (one per codec) go side by side.
module CompressionInteropData
  # Messages per codec: about 190 KB, which every producer here sends as one batch: several
  # 64 KiB lz4 blocks, 32 KiB xerial snappy chunks.
  COUNT = 120
  WORDS = %w[kafka record batch offset Grüße 日本語 ☃ ключ 🚀 snappy lz4 zstd gzip none].freeze
  # Every byte but tab, newline and carriage return (the separators of the tools' text formats).
  BINARY = ((0..255).to_a - [9, 10, 13]).freeze
  HEADER_VALUE = "wert ☃ \xff\x01".b.freeze

  def self.headers(label, codec, index, value = HEADER_VALUE)
    { "origin" => label, "codec" => codec, "index" => index.to_s, "grüße" => value, "empty" => "" }
  end

  def self.text(rng, min, max)
    Array.new(rng.rand(min..max)) { WORDS[rng.rand(WORDS.size)] }.join(" ")
  end

  def self.bytes(rng, size)
    Array.new(size) { BINARY[rng.rand(BINARY.size)] }.pack("C*")
  end

  # Yields index, key and value of COUNT messages and returns what the block returns. Keys and
  # values start "<label>/<codec>/<index>/" so a reader of several topics can sort them. Message 0
  # has a null key, message 1 a null value; `binary` adds bytes that are not UTF-8.
  def self.messages(label, codec, binary:)
    rng = Random.new(Zlib.crc32("#{label}/#{codec}"))
    Array.new(COUNT) do |i|
      prefix = "#{label}/#{codec}/#{i}/"
      extra = binary ? bytes(rng, 24) : ""
      key = i.zero? ? nil : "#{prefix}ключ-#{i}".b + extra
      value = i == 1 ? nil : "#{prefix}#{text(rng, 40, 400)}".b + extra + text(rng, 0, 40).b
      yield i, key, value
    end
  end
end

RSpec.describe "compression interop", :integration, :aggregate_failures do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  after do
    (@topics || []).each { |t| kafka.delete_topic(t) rescue nil } # rubocop:disable Style/RescueModifier
    kafka.close
  end

  # codec => topic, all named "<prefix>-<codec>" so one regex reads them all.
  def topics_for(label, codecs = InteropSupport::CODECS)
    @prefix = "spec-interop-#{SecureRandom.hex(4)}-#{label}"
    codecs.to_h do |codec|
      topic = "#{@prefix}-#{codec}"
      kafka.create_topic(topic)
      (@topics ||= []) << topic
      [codec, topic]
    end
  end

  def messages(...) = CompressionInteropData.messages(...)

  def kafka_rs_messages(label, codec)
    messages(label, codec, binary: true) do |i, key, value|
      headers = i.zero? ? {} : CompressionInteropData.headers(label, codec, i)
      InteropSupport::Message.normalized(key, value, headers)
    end
  end

  def codec_option(codec)
    codec == "none" ? nil : codec.to_sym
  end

  def label_and_codec(msg)
    (msg.value || msg.key)[%r{\A([^/]+/[^/]+)/\d+/}, 1] or raise "message without a prefix: #{msg.inspect}"
  end

  def describe_difference(got, want)
    return "missing (got #{got.inspect[0, 120]}...)" if got.nil? || want.nil?

    %i[key value headers].filter_map do |field|
      a = got[field]
      b = want[field]
      next if a == b

      if a.is_a?(String) && b.is_a?(String)
        shorter = [a.bytesize, b.bytesize].min
        at = (0...shorter).find { |j| a.getbyte(j) != b.getbyte(j) } || shorter
        "#{field} differs at byte #{at} (#{a.bytesize} vs #{b.bytesize} bytes): got #{a.byteslice(at, 20).inspect}, " \
          "expected #{b.byteslice(at, 20).inspect}"
      else
        "#{field}: got #{a.inspect[0, 200]}, expected #{b.inspect[0, 200]}"
      end
    end.join("; ")
  end

  def expect_same_messages(got, want, what)
    bad = (0...[got.size, want.size].max).find { |i| got[i] != want[i] }
    expect(bad).to be_nil, lambda {
      "#{what}: #{got.size} messages (expected #{want.size}); " \
        "message #{bad}: #{describe_difference(got[bad], want[bad])}"
    }
  end

  # The broker holds every message of the topic in batches compressed with `codec`.
  def expect_stored_with(topic, codec, count)
    batches = InteropSupport::BatchCodecs.of(topic)
    expect(batches.sum(&:records)).to eq(count), "#{topic}: #{batches.inspect}"
    expect(batches.map(&:codec).uniq).to eq([codec]), "#{topic}: #{batches.inspect}"
  end

  def expect_read_by_kcat_and_java(topics, expected)
    expected.each do |codec, want|
      expect_stored_with(topics[codec], codec, want.size)
      expect_same_messages(InteropSupport::Kcat.consume(topics[codec]), want, "kcat reading #{codec}")
    end
    total = expected.values.sum(&:size)
    by_topic = InteropSupport::JavaTools.consume("#{Regexp.escape(@prefix)}-.*", total)
                                         .group_by { |m| label_and_codec(m) }
    expected.each do |codec, want|
      got = by_topic.fetch(label_and_codec(want.first), [])
      expect_same_messages(got, want, "Java console consumer (#{InteropSupport::JavaTools.version}) reading #{codec}")
    end
  end

  describe "kafka_rs produces, kcat and the Java console consumer read" do
    it "with the sync producer, every codec" do
      topics = topics_for("sync")
      expected = InteropSupport::CODECS.to_h do |codec|
        want = kafka_rs_messages("sync", codec)
        producer = kafka.producer(compression_codec: codec_option(codec))
        want.each { |m| producer.produce(m.value, topic: topics[codec], key: m.key, headers: m.headers) }
        producer.deliver_messages
        producer.shutdown
        [codec, want]
      end
      expect_read_by_kcat_and_java(topics, expected)
    end

    it "with the async producer, every codec" do
      topics = topics_for("async")
      expected = InteropSupport::CODECS.to_h do |codec|
        want = kafka_rs_messages("async", codec)
        producer = kafka.async_producer(compression_codec: codec_option(codec))
        want.each { |m| producer.produce(m.value, topic: topics[codec], key: m.key, headers: m.headers) }
        expect(producer.flush(timeout: 30)).to be(true)
        producer.shutdown
        [codec, want]
      end
      expect_read_by_kcat_and_java(topics, expected)
    end
  end

  describe "kafka_rs reads" do
    it "what kcat (librdkafka) produces with every codec" do
      topics = topics_for("kcat")
      InteropSupport::CODECS.each do |codec|
        headers = CompressionInteropData.headers("kcat", codec, "all") # kcat gives every message the same
        lines = []
        # kcat: a line without the key delimiter has a null key; an empty value is null with -Z.
        want = messages("kcat", codec, binary: true) do |_i, key, value|
          lines << [key, value].compact.join("\t") + (value.nil? ? "\t" : "")
          InteropSupport::Message.normalized(key, value, headers)
        end
        InteropSupport::Kcat.produce(topics[codec], codec, lines.join("\n") + "\n", headers)
        expect_stored_with(topics[codec], codec, CompressionInteropData::COUNT)
        got = InteropSupport.read_with_kafka_rs(kafka, topics[codec], CompressionInteropData::COUNT)
        expect_same_messages(got, want, "kafka_rs reading kcat's #{codec}")
      end
    end

    it "a header key that is not UTF-8 (librdkafka writes them) as the Java client does: with U+FFFD" do
      topic = topics_for("badkey", ["gzip"]).fetch("gzip")
      InteropSupport::Kcat.produce(topic, "gzip", "k\tv\n", { "bad\xffkey".b => "x", "ok" => "y" })
      got = InteropSupport.read_with_kafka_rs(kafka, topic, 1)
      want = InteropSupport::Message.normalized("k", "v", { "bad\u{fffd}key" => "x", "ok" => "y" })
      expect_same_messages(got, [want], "kafka_rs reading a header key that is not UTF-8")
    end

    it "what the Java console producer produces with every codec" do
      topics = topics_for("java")
      null = InteropSupport::JavaTools::NULL_MARKER
      inputs = InteropSupport::CODECS.to_h do |codec|
        lines = []
        # The console producer reads UTF-8 text lines: "h1:v1,h2:v2<TAB>key<TAB>value".
        want = messages("java", codec, binary: false) do |i, key, value|
          headers = i.zero? ? {} : CompressionInteropData.headers("java", codec, i, "wert ☃")
          header_text = headers.empty? ? null : headers.map { |k, v| "#{k}:#{v}" }.join(",")
          lines << [header_text, key || null, value || null].map(&:b).join("\t")
          InteropSupport::Message.normalized(key, value, headers)
        end
        [codec, [lines.join("\n") + "\n", want]]
      end
      # One JVM per codec, run side by side (each spends most of its time starting up).
      inputs.map do |codec, (input, _)|
        Thread.new { InteropSupport::JavaTools.produce(topics[codec], codec, input) }
              .tap { |t| t.report_on_exception = false }
      end.each(&:join)
      inputs.each do |codec, (_, want)|
        expect_stored_with(topics[codec], codec, CompressionInteropData::COUNT)
        got = InteropSupport.read_with_kafka_rs(kafka, topics[codec], CompressionInteropData::COUNT)
        expect_same_messages(got, want, "kafka_rs reading the Java console producer's #{codec}")
      end
    end
  end
end
