# frozen_string_literal: true

# What the bench/ scripts share: clocks, correctness checks, fresh topics, and how the peers are
# found (kcat on the PATH, the Java client's jars under vendor/kafka/<version>/libs).

$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "kafka_rs"
require "securerandom"

module Bench
  ROOT = File.expand_path("../..", __dir__)
  MB = 1_000_000.0

  module_function

  def brokers
    return "#{secure_env['host']}:#{secure_env['ports']['ssl']}" if tls?

    ENV.fetch("KAFKA_BROKERS", "127.0.0.1:9092")
  end

  # BENCH_TLS=1: every client talks TLS, with the generated client certificate, to the ssl
  # listener of the secure broker (bin/kafka secure-start; KAFKA_SECURE_ENV names another
  # worktree's env.json). KAFKA_BROKERS is then ignored.
  def tls?
    env_flag("BENCH_TLS", default: false)
  end

  def transport
    tls? ? "TLS" : "plaintext"
  end

  def secure_env
    @secure_env ||= begin
      require "json"
      path = ENV.fetch("KAFKA_SECURE_ENV", File.join(ROOT, "tmp/kafka/secure/env.json"))
      abort "BENCH_TLS=1: #{path} not found; start the secure broker with bin/kafka secure-start" unless File.exist?(path)
      JSON.parse(File.read(path))
    end
  end

  # Options every KafkaRs client of a bench takes (the TLS material when BENCH_TLS=1).
  def client_options
    return {} unless tls?

    files = secure_env.fetch("files")
    { ssl_ca_cert: File.read(files.fetch("ca.pem")), ssl_client_cert: File.read(files.fetch("client.pem")),
      ssl_client_cert_key: File.read(files.fetch("client.key")) }
  end

  # The same for librdkafka (kcat -X, confluent-kafka), as key=value properties.
  def rdkafka_security
    return [] unless tls?

    files = secure_env.fetch("files")
    ["security.protocol=ssl", "ssl.ca.location=#{files.fetch('ca.pem')}",
     "ssl.certificate.location=#{files.fetch('client.pem')}", "ssl.key.location=#{files.fetch('client.key')}"]
  end

  # BENCH_JSON=path: a script also writes its median results there, as
  # {"transport" => ..., "results" => [{"size", "key", "label", "rate", "cpu_per_m"}, ...]}
  # (bench/tls reads them).
  def write_json(results, labels)
    path = ENV["BENCH_JSON"].to_s
    return if path.empty?

    require "json"
    rows = results.map do |(size, key), run|
      { size: size, key: key, label: labels.fetch(key, key.to_s), rate: run.rate, cpu_per_m: run.cpu_per_m }
    end
    File.write(path, JSON.generate(transport: transport, results: rows))
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # CPU seconds of this process, every thread (Ruby's and the extension's runtime threads).
  def cpu
    Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
  end

  # User + system CPU seconds of the children this process has waited for.
  def children_cpu
    t = Process.times
    t.cutime + t.cstime
  end

  def median(values)
    values.sort[values.size / 2]
  end

  def env_int(name, default)
    Integer(ENV.fetch(name, default.to_s).delete("_"))
  end

  def env_flag(name, default: true)
    ENV.fetch(name, default ? "1" : "0") != "0"
  end

  def command?(name)
    system("command -v #{name} >/dev/null 2>&1")
  end

  # 1234567 -> "1,234,567"
  def count_fmt(n)
    n.round.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
  end

  VENV = File.join(ROOT, ".cache/bench-venv")

  # The python of the venv in .cache/bench-venv with `requirement` (a pip requirement such as
  # "confluent-kafka==2.16.1") installed; made or updated only when the requirement recorded in
  # the venv differs. nil (and a line saying why) when it cannot be set up.
  def setup_venv(requirement, import: "confluent_kafka")
    python = File.join(VENV, "bin/python")
    stamp = File.join(VENV, "bench-requirement")
    ok = File.executable?(python) && File.exist?(stamp) && File.read(stamp) == requirement &&
         system(python, "-c", "import #{import}", err: File::NULL)
    return python if ok

    puts "setting up #{VENV} (#{requirement})"
    unless command?("python3") && system("python3", "-m", "venv", VENV) &&
           system(File.join(VENV, "bin/pip"), "install", "-q", "--disable-pip-version-check", requirement)
      puts "  could not set up the venv (bin/setup installs python3 and python3-venv)"
      return nil
    end
    File.write(stamp, requirement)
    python
  end

  # The JSON object on the last line of a peer's output, or nil.
  def last_json(out)
    require "json"
    JSON.parse(out.lines.last.to_s)
  rescue JSON::ParserError
    nil
  end

  # The newest vendor/kafka/<version>/libs (bin/kafka fetch puts the jars there), or nil.
  def java_libs
    Dir[File.join(ROOT, "vendor/kafka/*/libs")].max_by { |d| Gem::Version.new(d.split("/")[-2]) }
  end

  # Correctness checks: a failure is printed and remembered, and {#exit_status} is 1 if any.
  class Checks
    def initialize
      @failures = []
    end

    def check(what, expected, actual)
      if expected == actual
        puts format("  ok: %s = %d", what, actual)
      else
        failed(what, format("expected %d, got %d", expected, actual))
      end
    end

    def failed(what, detail)
      puts "  FAILED: #{what}: #{detail}"
      @failures << what
    end

    def report
      if @failures.empty?
        puts "\nall correctness checks passed"
        0
      else
        puts "\n#{@failures.size} correctness check(s) FAILED: #{@failures.join(', ')}"
        1
      end
    end
  end

  # Fresh topics named bench-<name>-<run id>; {#delete_all} removes those still there.
  class Topics
    def initialize(kafka)
      @kafka = kafka
      @run_id = "#{Time.now.strftime('%Y%m%d%H%M%S')}-#{SecureRandom.hex(3)}"
      @live = []
    end

    def create(name, partitions: 1)
      topic = "bench-#{name}-#{@run_id}"
      @kafka.create_topic(topic, num_partitions: partitions, replication_factor: 1)
      @live << topic
      topic
    end

    # Messages in the topic: the sum over its partitions of the last offset + 1.
    def count(topic)
      @kafka.last_offsets_for(topic).fetch(topic).values.sum { |o| o + 1 }
    end

    def delete(topic)
      @kafka.delete_topic(topic)
      @live.delete(topic)
    rescue StandardError => e
      warn "could not delete #{topic}: #{e.class}: #{e.message}"
    end

    def delete_all
      @live.dup.each { |t| delete(t) }
    end
  end
end
