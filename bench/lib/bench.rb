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
    ENV.fetch("KAFKA_BROKERS", "127.0.0.1:9092")
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
