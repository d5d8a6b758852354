# frozen_string_literal: true

require_relative "support"
require "open3"
require "json"
require "pty"
require "tempfile"
require "rbconfig"

# The `kafka_rs` executable, run as a subprocess against the real broker.
RSpec.describe "kafka_rs command" do
  include IntegrationHelpers

  EXE = File.expand_path("../../exe/kafka_rs", __dir__)

  let(:kafka) { IntegrationHelpers.client }

  after do
    drop_topics(kafka)
    kafka.close
  end

  def env
    { "KAFKA_BROKERS" => IntegrationHelpers::BROKER, "KAFKA_URL" => nil }
  end

  # @return [Array(String, String, Integer)] stdout, stderr, exit status
  def cli(*args, stdin: "")
    out, err, status = Open3.capture3(env, RbConfig.ruby, EXE, *args, stdin_data: stdin)
    [out, err, status.exitstatus]
  end

  def cli_json(*args, stdin: "")
    out, err, status = cli(*args, "--json", stdin: stdin)
    expect([err, status]).to eq(["", 0])
    JSON.parse(out)
  end

  def fresh_name(prefix)
    name = "#{prefix}-#{SecureRandom.hex(4)}"
    (@created_topics ||= []) << name
    name
  end

  describe "help" do
    it "lists the commands, documents each one, and refuses unknown ones" do
      out, err, status = cli("--help")
      expect([err, status]).to eq(["", 0])
      expect(out).to include("Usage: kafka_rs COMMAND", "topics", "groups", "lag", "tail", "produce", "KAFKA_URL")

      %w[topics groups lag tail produce].each do |command|
        out, err, status = cli(command, "--help")
        expect([err, status]).to eq(["", 0])
        expect(out).to start_with("Usage: kafka_rs #{command}")
        expect(out).to include("--brokers LIST", "--json")
      end
      expect(cli("help", "tail").first).to include("--from-beginning", "--group G", "--format FORMAT", "--max-messages N")

      out, err, status = cli("frobnicate")
      expect([out, status]).to eq(["", 2])
      expect(err).to include('unknown command "frobnicate"')
      expect(cli.last).to eq(2)
      expect(cli("--version").first).to eq("kafka_rs #{KafkaRs::VERSION}\n")
    end

    it "exits 2 with the usage on a wrong command line, 1 when Kafka says no" do
      _, err, status = cli("lag")
      expect(status).to eq(2)
      expect(err).to include("missing group id", "Usage: kafka_rs lag GROUP")
      expect(cli("topics", "create", "x", "--partitions", "many").last).to eq(2)
      expect(cli("tail", "t", "--format", "xml").last).to eq(2)

      _, err, status = cli("topics", "--brokers", "127.0.0.1:1")
      expect(status).to eq(1)
      expect(err).to include("ConnectionError", "127.0.0.1:1")
      _, err, status = cli("tail", "no-such-topic-#{SecureRandom.hex(4)}")
      expect(status).to eq(1)
      expect(err).to include("UnknownTopicOrPartition")
    end
  end

  describe "topics" do
    it "creates, lists, describes and deletes a topic" do
      name = fresh_name("cli-topic")
      out, err, status = cli("topics", "create", name, "--partitions", "3", "--config", "retention.ms=3600000")
      expect([out, err, status]).to eq(["created topic #{name} (3 partitions, replication factor 1)\n", "", 0])
      expect(kafka.partitions_for(name)).to eq(3)
      expect(kafka.describe_topic(name, ["retention.ms"])).to eq("retention.ms" => "3600000")

      _, err, status = cli("topics", "create", name)
      expect(status).to eq(1)
      expect(err).to include("TopicAlreadyExists")

      # The internal topic exists once a group's coordinator was looked up (FindCoordinator
      # creates it): on a just-started broker, maybe not before this example.
      kafka.describe_group("cli-spec-#{SecureRandom.hex(4)}")
      listed = cli_json("topics", "list")
      expect(listed).to include({ "name" => name, "partitions" => 3, "replication_factor" => 1 })
      expect(listed.map { |t| t["name"] }).not_to include("__consumer_offsets")
      expect(cli_json("topics", "--all").map { |t| t["name"] }).to include("__consumer_offsets")
      table = cli("topics").first.lines
      expect(table.first.split).to eq(%w[TOPIC PARTITIONS REPLICATION])
      expect(table.find { |l| l.start_with?("#{name} ") }.split).to eq([name, "3", "1"])

      kafka.deliver_message("x", topic: name, partition: 2)
      described = cli_json("topics", "describe", name)
      expect(described["partitions"]).to eq([{ "partition" => 0, "end_offset" => 0 }, { "partition" => 1, "end_offset" => 0 },
                                             { "partition" => 2, "end_offset" => 1 }])
      expect(described["configs"]).to include("retention.ms" => "3600000", "cleanup.policy" => "delete")
      expect(cli("topics", "describe", name).first).to include("topic #{name}: 3 partitions", "retention.ms")

      expect(cli("topics", "delete", name)).to eq(["deleted topic #{name}\n", "", 0])
      expect(kafka.has_topic?(name)).to be(false)
      expect(cli("topics", "describe", name).last).to eq(1)
    end
  end

  describe "produce and tail" do
    it "produces the lines of stdin and tails them back as values or JSON" do
      topic = new_topic(kafka, partitions: 3)
      lines = Array.new(2500) { |i| "line #{i} caf\u00e9" }
      out, err, status = cli("produce", topic, stdin: lines.join("\n") + "\n")
      # Piped: no progress, no summary.
      expect([out, err, status]).to eq(["", "", 0])

      out, err, status = cli("tail", topic, "--from-beginning", "--max-messages", "2500")
      expect([err, status]).to eq(["", 0])
      expect(out.force_encoding("UTF-8").lines.map(&:chomp).sort).to eq(lines.sort)

      json = cli("tail", topic, "--from-beginning", "--max-messages", "5", "--format", "json").first
      messages = json.lines.map { |l| JSON.parse(l) }
      expect(messages.size).to eq(5)
      expect(messages.first.keys).to eq(%w[topic partition offset timestamp key value headers])
      expect(messages.map { |m| m["topic"] }.uniq).to eq([topic])
      expect(messages).to all(include("key" => nil, "headers" => {}))
      expect(messages.map { |m| m["value"] }).to all(match(/\Aline \d+ café\z/))
    end

    it "produces with a key (one partition) or a key per line, and reports delivery as JSON" do
      topic = new_topic(kafka, partitions: 4)
      summary = cli_json("produce", topic, "--key", "user-7", stdin: "a\nb\nc\n")
      expect(summary).to include("topic" => topic, "produced" => 3, "failed" => 0, "error" => nil)
      summary = cli_json("produce", topic, "--key-separator", "\t", stdin: "k1\tv1\nk2\tv2\nno key\n")
      expect(summary).to include("produced" => 3)

      messages = (0...4).flat_map { |p| fetch_all(kafka, topic, p) }
      keyed = messages.select { |m| m.key == "user-7" }
      expect(keyed.map(&:value)).to eq(%w[a b c])
      expect(keyed.map(&:partition).uniq.size).to eq(1)
      expect(messages.to_h { |m| [m.value, m.key] }).to include("v1" => "k1", "v2" => "k2", "no key" => nil)
    end

    it "refuses a partition the topic does not have" do
      topic = new_topic(kafka, partitions: 2)
      out, err, status = cli("produce", topic, "--partition", "2", stdin: "x\n")
      expect([out, status]).to eq(["", 1])
      expect(err).to include("#{topic} has 2 partitions (0..1), not 2")
      expect(cli("produce", topic, "--partition", "1", stdin: "x\n").last).to eq(0)
      expect(kafka.last_offset_for(topic, 1)).to eq(0)
    end

    it "tails binary values as base64 in JSON" do
      topic = new_topic(kafka)
      kafka.deliver_message("\xFF\x00bin".b, topic: topic, key: "k", headers: { "h" => "v" })
      message = JSON.parse(cli("tail", topic, "--from-beginning", "--max-messages", "1", "--json").first)
      expect(message).to include("key" => "k", "value_base64" => ["\xFF\x00bin".b].pack("m0"), "headers" => { "h" => "v" })
      expect(message).not_to have_key("value")
    end

    it "shows progress on a terminal only" do
      topic = new_topic(kafka)
      input = Tempfile.new("lines")
      input.write(Array.new(3000) { |i| "m#{i}\n" }.join)
      input.close
      output = +""
      PTY.spawn(env, RbConfig.ruby, EXE, "produce", topic, in: input.path) do |reader, _writer, pid|
        begin
          reader.each_line { |l| output << l }
        rescue Errno::EIO
          nil # the terminal closed when the child exited
        end
        Process.wait(pid)
      end
      expect($?.exitstatus).to eq(0)
      expect(output).to include("produced 1000 lines to #{topic}", "produced 3000 lines to #{topic} in")
      expect(kafka.last_offset_for(topic, 0)).to eq(2999)
    ensure
      input&.unlink
    end
  end

  describe "groups and lag" do
    it "shows a group's members, committed offsets, end offsets, lag and owners, and totals" do
      topic = new_topic(kafka, partitions: 2)
      group = "cli-group-#{SecureRandom.hex(4)}"
      producer = kafka.producer
      20.times { |i| producer.produce("m#{i}", topic: topic, partition: i % 2) }
      producer.deliver_messages

      # A member that stays: tail in the group, reading from the beginning.
      reader, writer = IO.pipe
      pid = Process.spawn(env, RbConfig.ruby, EXE, "tail", topic, "--group", group, "--from-beginning",
                          "--client-id", "cli-spec-tail", out: writer, err: File::NULL)
      writer.close
      got = Array.new(20) { reader.gets }
      expect(got.map(&:chomp).sort).to eq(Array.new(20) { |i| "m#{i}" }.sort)

      out, err, status = cli("lag", group, "--wait", "60")
      expect([err, status]).to eq(["", 0])
      rows = out.lines.drop(1).take_while { |l| !l.strip.empty? }.map(&:split)
      expect(rows).to eq([[topic, "0", "10", "10", "0", "cli-spec-tail", "/127.0.0.1"],
                          [topic, "1", "10", "10", "0", "cli-spec-tail", "/127.0.0.1"]])
      expect(out).to include("#{group} (Stable): total lag 0 over 2 partitions")

      groups = cli_json("groups")
      expect(groups).to include({ "group" => group, "state" => "Stable", "protocol" => "range", "members" => 1 })

      kafka.deliver_message("late", topic: topic, partition: 0)
      expect(reader.gets).to eq("late\n")
      # TERM: the member commits what it printed (offset 11 on partition 0) and leaves.
      Process.kill("TERM", pid)
      expect(Process.wait2(pid).last.exitstatus).to eq(0)
      expect(reader.read).to eq("")
      5.times { kafka.deliver_message("after", topic: topic, partition: 1) }

      lag = cli_json("lag", group)
      expect(lag).to include("group" => group, "state" => "Empty", "lag" => 5)
      partitions = lag.dig("topics", topic, "partitions")
      expect(partitions).to eq([
                                 { "partition" => 0, "committed" => 11, "end_offset" => 11, "lag" => 0,
                                   "member_id" => nil, "client_id" => nil, "client_host" => nil },
                                 { "partition" => 1, "committed" => 10, "end_offset" => 15, "lag" => 5,
                                   "member_id" => nil, "client_id" => nil, "client_host" => nil }
                               ])
      expect(lag.dig("topics", topic, "lag")).to eq(5)
    ensure
      if pid
        begin
          Process.kill("KILL", pid)
          Process.wait(pid)
        rescue Errno::ESRCH, Errno::ECHILD
          nil
        end
      end
    end

    it "lag --wait gives up with status 1 when the group does not settle" do
      group = "cli-idle-#{SecureRandom.hex(4)}" # nobody runs it: never Stable
      out, err, status = cli("lag", group, "--wait", "1")
      expect(status).to eq(1)
      expect(err).to include("#{group} not caught up after 1.0 s")
      expect(out).to include("#{group} (Dead): no committed offsets and no assigned partitions")
    end
  end
end
