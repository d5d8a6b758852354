# frozen_string_literal: true

require_relative "support"
require "open3"
require "socket"
require "strscan"
require "timeout"

# Helpers for specs that check kafka_rs against other clients: librdkafka (through kcat) and the
# Java client (through Kafka's console producer and consumer, run from the jars `bin/kafka fetch`
# puts in vendor/kafka/<version>/libs). A missing tool fails the spec with what to run; nothing
# here skips.
module InteropSupport
  ROOT = File.expand_path("../..", __dir__)
  CODECS = %w[none gzip snappy lz4 zstd].freeze
  # Record batch attributes bits 0-2.
  CODEC_IDS = { 0 => "none", 1 => "gzip", 2 => "snappy", 3 => "lz4", 4 => "zstd" }.freeze

  # One message as every client sees it: key and value binary Strings or nil, headers a Hash of
  # binary Strings (empty when there are none).
  Message = Struct.new(:key, :value, :headers) do
    def self.normalized(key, value, headers)
      new(key&.b, value&.b, (headers || {}).to_h { |k, v| [k.b, v.b] })
    end
  end

  def self.tool!(name)
    return if system("command -v #{name} >/dev/null 2>&1")

    raise "#{name} not found: run bin/setup (bin/test runs it first)"
  end

  # Runs a command, returns its stdout (binary); fails with its stderr when it exits non-zero or
  # runs longer than `timeout` seconds (then it is killed).
  def self.run!(cmd, stdin_data: "", timeout: 60)
    Open3.popen3(*cmd) do |stdin, stdout, stderr, wait|
      [stdin, stdout, stderr].each(&:binmode)
      writer = Thread.new do
        stdin.write(stdin_data)
      rescue Errno::EPIPE
        nil # it exited early; its status and stderr tell why
      ensure
        stdin.close
      end
      out = Thread.new { stdout.read }
      err = Thread.new { stderr.read }
      unless wait.join(timeout)
        Process.kill("KILL", wait.pid)
        wait.join
        raise "#{cmd.first(6).join(' ')} ... still running after #{timeout} s, killed:\n#{err.value}"
      end
      writer.join
      status = wait.value
      raise "#{cmd.first(6).join(' ')} ... failed (#{status}):\n#{err.value}" unless status.success?

      out.value
    end
  end

  # ---------------------------------------------------------------------------------- kcat ----

  module Kcat
    # Binary-safe output: lengths before key and value (-1 for null), headers ("n=v,..." as kcat
    # prints them) up to the end of the line.
    FORMAT = "%K:%k%S:%s%h\\n"

    # Every message of partition 0 of `topic`, in order. (fetch.wait.max.ms: -e waits for a fetch
    # that finds nothing new, 500 ms by default.)
    def self.consume(topic)
      InteropSupport.tool!("kcat")
      out = InteropSupport.run!(["kcat", "-C", "-b", IntegrationHelpers::BROKER, "-t", topic, "-p", "0",
                                 "-o", "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=10", "-f", FORMAT])
      parse(out)
    end

    def self.parse(out)
      s = StringScanner.new(out)
      messages = []
      until s.eos?
        key = sized(s)
        value = sized(s)
        headers = s.scan_until(/\n/) or raise "kcat output cut short: #{s.rest.inspect}"
        messages << Message.normalized(key, value, parse_headers(headers.chomp))
      end
      messages
    end

    def self.sized(s)
      len = s.scan(/-?\d+:/) or raise "kcat output: expected a length at #{s.rest[0, 40].inspect}"
      len = Integer(len.chop)
      return nil if len.negative?

      bytes = s.peek(len)
      raise "kcat output cut short" if bytes.bytesize < len

      s.pos += len
      bytes
    end

    def self.parse_headers(text)
      text.split(",").to_h { |pair| pair.split("=", 2) }
    end

    # Produces `lines` (already joined with "\n") to partition 0 with `-z codec`, key delimiter
    # tab, empty key or value sent as null (-Z), and the same `headers` on every message.
    def self.produce(topic, codec, input, headers)
      InteropSupport.tool!("kcat")
      cmd = ["kcat", "-P", "-b", IntegrationHelpers::BROKER, "-t", topic, "-p", "0", "-z", codec, "-K", "\\t", "-Z",
             "-X", "linger.ms=100"]
      headers.each { |k, v| cmd.push("-H", "#{k.b}=#{v.b}") }
      InteropSupport.run!(cmd, stdin_data: input)
    end
  end

  # ---------------------------------------------------------- Java console producer/consumer ----

  # Kafka's console tools from vendor/kafka/<version>/libs: the version KAFKA_VERSION names (as
  # bin/kafka resolves it: "", 4, 4.x -> newest 4.x; 3.9, 3.9.x -> newest 3.9.x) when it is
  # fetched, else the newest fetched version.
  module JavaTools
    # Short-lived tools: C1 only and the serial collector start about twice as fast.
    JVM_FLAGS = %w[-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto].freeze
    # Stands for a null key, value or header list in the console tools' text (both ways).
    NULL_MARKER = "<NULL>"

    def self.version
      @version ||= begin
        fetched = Dir[File.join(ROOT, "vendor/kafka/*/.complete")].map { |f| File.basename(File.dirname(f)) }
        fetched = fetched.grep(/\A\d+\.\d+\.\d+\z/).sort_by { |v| Gem::Version.new(v) }
        raise "no Kafka jars in vendor/kafka: run bin/setup (or bin/kafka fetch)" if fetched.empty?

        wanted = ENV.fetch("KAFKA_VERSION", "")
        pick = case wanted
               when "", "4", "4.x", "latest" then fetched.grep(/\A4\./).last
               when /\A(\d+\.\d+)(\.x)?\z/ then fetched.grep(/\A#{Regexp.escape(Regexp.last_match(1))}\./).last
               else fetched.find { |v| v == wanted }
               end
        pick || fetched.last
      end
    end

    def self.libs
      File.join(ROOT, "vendor/kafka", version, "libs")
    end

    # KIP-1147 (Kafka 4.1) renamed the tools' property options; 4.x still takes the old names
    # with a deprecation warning, 5.0 will not.
    def self.new_option_names?
      Gem::Version.new(version) >= Gem::Version.new("4.1")
    end

    def self.java(main, args, stdin_data: "")
      InteropSupport.tool!("java")
      InteropSupport.run!(["java", *JVM_FLAGS, "-cp", "#{libs}/*", main, *args], stdin_data: stdin_data)
    end

    # Produces `input` (lines "h1:v1,h2:v2<TAB>key<TAB>value", "<NULL>" for a null field) to
    # partition 0 of `topic` with the console producer and `--compression-codec codec`.
    def self.produce(topic, codec, input)
      major4 = Gem::Version.new(version) >= Gem::Version.new("4.0")
      main = major4 ? "org.apache.kafka.tools.ConsoleProducer" : "kafka.tools.ConsoleProducer"
      reader = new_option_names? ? "--reader-property" : "--property"
      client = new_option_names? ? "--command-property" : "--producer-property"
      args = ["--bootstrap-server", IntegrationHelpers::BROKER, "--topic", topic, "--compression-codec", codec,
              client, "batch.size=1048576",
              reader, "parse.key=true", reader, "parse.headers=true", reader, "null.marker=#{NULL_MARKER}"]
      java(main, args, stdin_data: input)
    end

    # Reads `count` messages from every topic matching `include` (a Java regex) in one JVM, and
    # returns them as [Message] in the order printed (per partition order is kept; topics
    # interleave).
    def self.consume(include, count)
      formatter = new_option_names? ? "--formatter-property" : "--property"
      args = ["--bootstrap-server", IntegrationHelpers::BROKER, "--include", include, "--from-beginning",
              "--max-messages", count.to_s, "--timeout-ms", "30000",
              formatter, "print.key=true", formatter, "print.headers=true", formatter, "null.literal=#{NULL_MARKER}"]
      out = java("org.apache.kafka.tools.consumer.ConsoleConsumer", args)
      out.split("\n").map { |line| parse_line(line) }
    end

    # "h1:v1,h2:v2<TAB>key<TAB>value"; NO_HEADERS when a message has none.
    def self.parse_line(line)
      headers, key, value = line.split("\t", 3)
      raise "unexpected console consumer output line: #{line.inspect}" if value.nil?

      headers = headers == "NO_HEADERS" ? {} : headers.split(",").to_h { |pair| pair.split(":", 2) }
      null = ->(x) { x == NULL_MARKER ? nil : x }
      Message.normalized(null.call(key), null.call(value), headers)
    end
  end

  # ----------------------------------------------------------- what the broker really stores ----

  # The codec of every record batch in partition 0 of a topic, read with a Fetch v4 request of
  # its own (written from the protocol definition; no kafka_rs code involved), so a spec can tell
  # that a batch really went compressed. Supported by Kafka 3.9 and 4.x (4.0 dropped Fetch v0-3).
  # Assumes the test broker leads the partition (the single-broker setup).
  module BatchCodecs
    BatchInfo = Struct.new(:base_offset, :records, :codec)

    def self.of(topic, partition: 0)
      host, port = IntegrationHelpers::BROKER.split(":")
      batches = []
      Timeout.timeout(30) do
        Socket.tcp(host, Integer(port)) do |sock|
          offset = 0
          loop do
            records, high_watermark = fetch(sock, topic, partition, offset)
            read = parse_batches(records)
            batches.concat(read)
            offset = read.empty? ? offset : read.last.base_offset + read.last.records
            break if offset >= high_watermark
            raise "fetch at #{offset} returned no whole batch (high watermark #{high_watermark})" if read.empty?
          end
        end
      end
      batches
    end

    def self.string(s) = [s.bytesize].pack("s>") + s.b

    def self.fetch(sock, topic, partition, offset)
      client_id = "kafka_rs-spec-batch-codecs"
      request = [1, 4, 7].pack("s>s>l>") + string(client_id) +
                [-1, 100, 1, 16 << 20, 0].pack("l>l>l>l>c") +
                [1].pack("l>") + string(topic) + [1, partition, offset, 16 << 20].pack("l>l>q>l>")
      sock.write([request.bytesize].pack("l>") + request)
      size = sock.read(4).unpack1("l>")
      body = sock.read(size)
      s = StringScanner.new(body)
      take = ->(n) { s.peek(n).tap { s.pos += n } }
      take.call(4 + 4) # correlation id, throttle time
      raise "expected 1 topic in the fetch response" unless take.call(4).unpack1("l>") == 1

      take.call(take.call(2).unpack1("s>"))
      raise "expected 1 partition in the fetch response" unless take.call(4).unpack1("l>") == 1

      _partition, error, high_watermark = take.call(4 + 2 + 8).unpack("l>s>q>")
      raise "fetch of #{topic}/#{partition} failed with error code #{error}" unless error.zero?

      take.call(8) # last stable offset
      aborted = take.call(4).unpack1("l>")
      take.call(aborted * 16) if aborted.positive?
      len = take.call(4).unpack1("l>")
      [len.positive? ? take.call(len) : "".b, high_watermark]
    end

    # Record batch v2: baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic
    # int8, crc int32, attributes int16, lastOffsetDelta int32, ... recordCount int32 at byte 57.
    # A batch cut short at the end of the response is left for the next fetch.
    def self.parse_batches(records)
      out = []
      pos = 0
      while pos + 12 <= records.bytesize
        base_offset, length = records.byteslice(pos, 12).unpack("q>l>")
        break if pos + 12 + length > records.bytesize

        magic = records.getbyte(pos + 16)
        raise "record batch at offset #{base_offset} has magic #{magic}, expected 2" unless magic == 2

        attributes, last_offset_delta = records.byteslice(pos + 21, 6).unpack("s>l>")
        out << BatchInfo.new(base_offset, last_offset_delta + 1, CODEC_IDS.fetch(attributes & 7))
        pos += 12 + length
      end
      out
    end
  end

  # ---------------------------------------------------------------------------- kafka_rs ----

  # Every message of partition 0, read with kafka_rs's fetch_messages until `count` are in.
  def self.read_with_kafka_rs(kafka, topic, count)
    messages = []
    offset = :earliest
    while messages.size < count
      batch = kafka.fetch_messages(topic: topic, partition: 0, offset: offset, max_wait_time: 1)
      break if batch.empty?

      messages.concat(batch)
      offset = batch.last.offset + 1
    end
    messages.map { |m| Message.normalized(m.key, m.value, m.headers) }
  end
end
