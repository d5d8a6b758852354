# frozen_string_literal: true

require_relative "support"
require_relative "secure_support"
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

  # The commands find the spec broker through KAFKA_BROKERS; nothing else of the spec's
  # environment says where a cluster is.
  def env
    { "KAFKA_BROKERS" => IntegrationHelpers::BROKER, "KAFKA_URL" => nil, "RAILS_ENV" => nil, "RACK_ENV" => nil,
      "KAFKA_TRUSTED_CERT" => nil, "KAFKA_CLIENT_CERT" => nil, "KAFKA_CLIENT_CERT_KEY" => nil }
  end

  # @param with_env [Hash] changes to {#env}
  # @param chdir [String] the directory the command runs in (where it looks for config/kafka_rs.yml)
  # @return [Array(String, String, Integer)] stdout, stderr, exit status
  def cli(*args, stdin: "", with_env: {}, chdir: Dir.pwd)
    out, err, status = Open3.capture3(env.merge(with_env), RbConfig.ruby, EXE, *args, stdin_data: stdin, chdir: chdir)
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
      expect(out).to include("Usage: kafka_rs COMMAND", "topics", "groups", "lag", "tail", "produce")
      expect(out).to include("Where the cluster is", "--brokers LIST, else KAFKA_BROKERS", "config/kafka_rs.yml",
                             "--config-file FILE", "--environment ENV, else RAILS_ENV, RACK_ENV", "KAFKA_URL",
                             "KAFKA_TRUSTED_CERT", "KAFKA_CLIENT_CERT_KEY", "kafka+ssl://", "--no-config-file",
                             "--ssl-ca-cert FILE")

      %w[topics groups lag tail produce].each do |command|
        out, err, status = cli(command, "--help")
        expect([err, status]).to eq(["", 0])
        expect(out).to start_with("Usage: kafka_rs #{command}")
        expect(out).to include("--brokers LIST", "--config-file FILE", "--no-config-file", "--environment ENV",
                               "--ssl-ca-cert FILE", "--json")
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

  describe "where the cluster is" do
    around do |example|
      Dir.mktmpdir("cli-spec-app-") do |dir|
        @app = dir
        FileUtils.mkdir_p(File.join(dir, "config"))
        example.run
      end
    end

    def write_config(text, path = "config/kafka_rs.yml")
      File.write(File.join(@app, path), text)
    end

    it "reads the brokers from the app's config/kafka_rs.yml section; --brokers and KAFKA_BROKERS override them" do
      write_config(<<~YAML)
        default: &default
          connect_timeout: 2
        test:
          <<: *default
          seed_brokers: <%= "kafka://#{IntegrationHelpers::BROKER}" %>
        development:
          <<: *default
          seed_brokers: 127.0.0.1:1
      YAML
      in_app = { with_env: { "KAFKA_BROKERS" => nil }, chdir: @app }
      name = fresh_name("cli-config")
      out, err, status = cli("topics", "create", name, "--environment", "test", **in_app)
      expect([out, err, status]).to eq(["created topic #{name} (1 partitions, replication factor 1)\n", "", 0])
      expect(kafka.partitions_for(name)).to eq(1)
      test_env = { with_env: { "KAFKA_BROKERS" => nil, "RAILS_ENV" => "test" }, chdir: @app }
      expect(cli("topics", "describe", name, "--json", **test_env)[2]).to eq(0)

      # RAILS_ENV unset: the development section, where nothing listens.
      out, err, status = cli("topics", "describe", name, **in_app)
      expect([out, status]).to eq(["", 1])
      expect(err).to include("ConnectionError", "127.0.0.1:1",
                             "(seed brokers 127.0.0.1:1 from config/kafka_rs.yml, section development)")

      expect(cli("topics", "describe", name, "--brokers", IntegrationHelpers::BROKER, **in_app)[1..]).to eq(["", 0])
      expect(cli("--brokers", IntegrationHelpers::BROKER, "topics", "describe", name, **in_app)[1..]).to eq(["", 0])
      expect(cli("topics", "describe", name, chdir: @app)[1..]).to eq(["", 0]) # KAFKA_BROKERS
      # --no-config-file: the default, localhost:9092 (the spec broker's address too).
      expect(cli("--no-config-file", "topics", "describe", name, **in_app)[1..]).to eq(["", 0])
    end

    it "refuses an environment the file has no section for (status 2, naming it and those there are)" do
      write_config("production:\n  seed_brokers: kafka.internal:9092\nstaging:\n  seed_brokers: s:9092\n")
      out, err, status = cli("groups", "--environment", "prodution", chdir: @app)
      expect([out, err, status])
        .to eq(["", "kafka_rs: config/kafka_rs.yml has no \"prodution\" section (it has production, staging)\n", 2])
      # RAILS_ENV unset: development; the file is read even when KAFKA_BROKERS gives the brokers.
      expect(cli("groups", chdir: @app)[1..])
        .to eq(["kafka_rs: config/kafka_rs.yml has no \"development\" section (it has production, staging)\n", 2])

      write_config("test:\n  sead_brokers: x:9092\n", "other.yml")
      out, err, status = cli("groups", "--config-file", File.join(@app, "other.yml"), "--environment", "test")
      expect([out, status]).to eq(["", 2])
      expect(err).to include("other.yml (test): unknown kafka_rs setting: sead_brokers")
      expect(cli("groups", "--config-file", File.join(@app, "missing.yml"))[1..])
        .to eq(["kafka_rs: #{File.join(@app, 'missing.yml')}: No such file or directory\n", 2])
      expect(cli("groups", "--brokers", "http://k:1")[1..])
        .to eq(["kafka_rs: cannot use the brokers http://k:1 from --brokers: invalid seed_brokers: \"http://k:1\" " \
                "has unsupported scheme \"http\"\n", 2])
    end

    describe "over TLS and SASL (the secure broker)" do
      it "connects with KAFKA_URL kafka+ssl:// and the hosted plan's certificate variables" do
        hosted = SecureSupport.hosted_env.merge("KAFKA_BROKERS" => nil)
        topic = "cli-tls-#{SecureRandom.hex(4)}"
        out, err, status = cli("topics", "create", topic, with_env: hosted)
        expect([out, err, status]).to eq(["created topic #{topic} (1 partitions, replication factor 1)\n", "", 0])
        begin
          expect(cli("produce", topic, stdin: "over tls\n", with_env: hosted)).to eq(["", "", 0])
          expect(cli("tail", topic, "--from-beginning", "--max-messages", "1", with_env: hosted))
            .to eq(["over tls\n", "", 0])

          # The same URL without the trusted CA: the broker's certificate is refused.
          out, err, status = cli("topics", "describe", topic, with_env: hosted.merge("KAFKA_TRUSTED_CERT" => nil))
          expect([out, status]).to eq(["", 1])
          expect(err).to include("SslError", "not signed by a trusted CA",
                                 "(seed brokers #{hosted['KAFKA_URL']} from KAFKA_URL)")
          expect(SecureSupport.leaked_secrets(err)).to eq([])
        ensure
          cli("topics", "delete", topic, with_env: hosted)
        end
      end

      it "takes SASL and TLS settings from the config file, a CA from --ssl-ca-cert" do
        write_config(<<~YAML)
          production:
            seed_brokers: kafka+ssl://#{SecureSupport.broker(:sasl_ssl)}
            sasl_scram_username: #{SecureSupport.username}
            sasl_scram_password: <%= ENV.fetch("SPEC_SASL_PASSWORD") %>
            sasl_scram_mechanism: sha512
        YAML
        in_app = { with_env: { "KAFKA_BROKERS" => nil, "RAILS_ENV" => "production",
                               "SPEC_SASL_PASSWORD" => SecureSupport.password }, chdir: @app }
        topic = "cli-sasl-#{SecureRandom.hex(4)}"
        ca = ["--ssl-ca-cert", SecureSupport.path("ca.pem")]
        expect(cli("topics", "create", topic, *ca, **in_app)[1..]).to eq(["", 0])
        begin
          listed = JSON.parse(cli("topics", "--json", *ca, **in_app).first)
          expect(listed.map { |t| t["name"] }).to include(topic)

          # Without the CA the broker's certificate is not trusted; with a wrong password SASL fails.
          _, err, status = cli("topics", **in_app)
          expect(status).to eq(1)
          seeds = "kafka+ssl://#{SecureSupport.broker(:sasl_ssl)}"
          expect(err).to include("SslError", "not signed by a trusted CA",
                                 "(seed brokers #{seeds} from config/kafka_rs.yml, section production)")
          wrong = in_app.merge(with_env: in_app[:with_env].merge("SPEC_SASL_PASSWORD" => "wrong"))
          _, err, status = cli("topics", *ca, **wrong)
          expect(status).to eq(1)
          expect(err).to include("SaslAuthenticationFailed", "SCRAM-SHA-512")
          expect(SecureSupport.leaked_secrets(err)).to eq([])
        ensure
          cli("topics", "delete", topic, *ca, **in_app)
        end
      end
    end
  end
end
