# frozen_string_literal: true

require_relative "process_support"
require "fileutils"
require "json"
require "set"
require "tmpdir"

# Consumer-group members as child processes (spec/support/consumer_child.rb) and what they wrote:
# the messages each processed, their rebalance events, their commits. Used by the multi-process
# consumer specs (consumer_processes_spec.rb, consumer_interop_spec.rb, consumer_failover_spec.rb).
module ConsumerProcesses
  SCRIPT = File.expand_path("../support/consumer_child.rb", __dir__)
  CONFLUENT_SCRIPT = File.expand_path("../support/confluent_consumer_child.py", __dir__)
  # Short group timeouts: a dead member is noticed after 6 s (the broker's minimum session
  # timeout), a rebalance takes a second or two.
  FAST = { session_timeout: 6, heartbeat_interval: 0.5, rebalance_timeout: 10, offset_commit_interval: 0.2 }.freeze

  # `at`: when the child had processed it (CLOCK_MONOTONIC, comparable with {now}).
  Processed = Struct.new(:partition, :offset, :at, :value)

  def self.now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Waits until the block returns a truthy value (returned), checking every `every` seconds;
  # after `timeout` seconds raises naming `what` (and the block's last `detail`, if given).
  def self.wait_until(what, timeout:, every: 0.1, detail: nil)
    deadline = now + timeout
    loop do
      result = yield
      return result if result
      raise "timed out after #{timeout} s waiting until #{what}#{detail && " (#{detail.call})"}" if now > deadline

      sleep every
    end
  end

  # librdkafka's Python client, confluent-kafka, pinned, in a venv of this checkout (ignored
  # .cache/interop-venv), made on first use and remade only when the pin changes. Needs python3
  # with venv (bin/setup installs python3-venv) and PyPI.
  module ConfluentKafka
    VENV = File.expand_path("../../.cache/interop-venv", __dir__)
    REQUIREMENT = "confluent-kafka==2.16.1"

    def self.python
      @python ||= begin
        python = File.join(VENV, "bin", "python")
        stamp = File.join(VENV, "requirement")
        unless File.exist?(stamp) && File.read(stamp) == REQUIREMENT && File.executable?(python)
          FileUtils.rm_rf(VENV)
          ok = system("python3", "-m", "venv", VENV, out: File::NULL) &&
               system(File.join(VENV, "bin", "pip"), "install", "-q", "--disable-pip-version-check", REQUIREMENT)
          raise "could not make #{VENV} with #{REQUIREMENT} (bin/setup installs python3-venv; PyPI must be reachable)" unless ok

          File.write(stamp, REQUIREMENT)
        end
        python
      end
    end
  end

  # One child process: a member of `group` consuming `topic`, on kafka_rs (client: :kafka_rs)
  # or on librdkafka (client: :librdkafka; the consumer options give its timeouts, its assignor
  # is range).
  class Child
    attr_reader :name, :pid, :dir, :status

    def initialize(name:, group:, topic:, dir:, brokers: [IntegrationHelpers::BROKER], options: FAST, delay: 0,
                   client: :kafka_rs)
      @name = name
      @dir = dir
      @processed_path = File.join(dir, "#{name}.processed")
      @events_path = File.join(dir, "#{name}.events")
      @log_path = File.join(dir, "#{name}.log")
      settings = { name: name, group: group, topic: topic, brokers: brokers, consumer: options, delay: delay,
                   processed: @processed_path, events: @events_path }
      command = case client
                when :kafka_rs then [RbConfig.ruby, "-I", ProcessHelpers::LIB, SCRIPT]
                when :librdkafka then [ConfluentKafka.python, CONFLUENT_SCRIPT]
                else raise ArgumentError, "client must be :kafka_rs or :librdkafka, got #{client.inspect}"
                end
      @pid = Process.spawn(*command, JSON.generate(settings), in: File::NULL, out: @log_path, err: @log_path)
      @status = nil
    end

    # Whole lines of a file the child writes (a line being written is left out).
    def lines(path)
      return [] unless File.exist?(path)

      text = File.read(path)
      text[0, (text.rindex("\n") || -1) + 1].lines(chomp: true)
    end

    def processed
      lines(@processed_path).map do |l|
        partition, offset, at, value = l.split(" ", 4)
        Processed.new(Integer(partition), Integer(offset), Float(at), value)
      end
    end

    def events
      lines(@events_path).map { |l| JSON.parse(l) }
    end

    # The partitions the member owns after its last rebalance callback ([] before any).
    def assignment
      last = events.reverse.find { |e| %w[assigned revoked].include?(e["event"]) }
      last ? last["assignment"].sort : []
    end

    # Per partition, the next offset of the last commit the child logged (a lower bound of what
    # the broker holds for the partitions it owned then).
    def last_commits
      events.select { |e| e["event"] == "committed" }
            .each_with_object({}) { |e, h| e["offsets"].each { |p, o| h[Integer(p)] = o } }
    end

    def log
      File.exist?(@log_path) ? File.read(@log_path) : ""
    end

    def alive?
      return false if @status

      _, @status = Process.wait2(@pid, Process::WNOHANG)
      @status.nil?
    end

    def kill
      Process.kill(:KILL, @pid)
      _, @status = Process.wait2(@pid)
    end

    # TERM (the child stops its consumer: commit, leave) and waits; KILL after `timeout`.
    # Returns the exit status, nil when it had to be killed.
    def stop(timeout: 20)
      return @status if @status || !alive?

      Process.kill(:TERM, @pid)
      @status = ProcessHelpers.wait_child(@pid, timeout: timeout)
    rescue Errno::ESRCH
      @status
    end

    # For failure messages: the tail of its log.
    def describe(lines: 30)
      "#{name} (pid #{pid}, #{@status ? "exited: #{@status}" : 'running'}):\n" \
        "#{log.lines.last(lines).map { |l| "  #{l}" }.join}"
    end
  end

  # Helpers for the specs: start children in a temporary directory, stop them all afterwards.
  module Helpers
    def children = (@children ||= [])

    def child_dir
      @child_dir ||= Dir.mktmpdir("kafka_rs-consumer-children-")
    end

    def start_child(name, **kwargs)
      Child.new(name: name, dir: child_dir, **kwargs).tap { |c| children << c }
    end

    # Stops every child still running, keeps the directory when the example failed or
    # KAFKA_RS_SPEC_KEEP_CHILDREN=1 (its path is printed), removes it otherwise.
    def stop_children(example)
      children.each { |c| c.stop(timeout: 10) }
      return unless @child_dir

      if example.exception || ENV["KAFKA_RS_SPEC_KEEP_CHILDREN"] == "1"
        warn "\nconsumer children's files (logs, events, processed) kept in #{@child_dir}"
      else
        FileUtils.rm_rf(@child_dir)
      end
    end

    # ConsumerProcesses.wait_until; on a timeout the message ends with the tail of every child's log.
    def wait_until(what, timeout:, detail: nil, &block)
      detail ||= -> { children.map(&:describe).join("\n") }
      ConsumerProcesses.wait_until(what, timeout: timeout, detail: detail, &block)
    end

    # Waits until every value in `values` was processed by one of `members`.
    def wait_processed(members, values, timeout:)
      wanted = values.to_set
      missing = -> { wanted - members.flat_map(&:processed).map(&:value) }
      detail = lambda do
        left = missing.call
        "#{left.size} missing, e.g. #{left.first(5).inspect}\n#{members.map(&:describe).join("\n")}"
      end
      wait_until("#{values.size} messages are processed", timeout: timeout, detail: detail) { missing.call.empty? }
    end

    # A line under the spec's output (measurements).
    def note(line)
      RSpec.configuration.reporter.message(line)
    end

    # Produces `count` messages "<prefix><i>" round-robin over `partitions`, i from `from`;
    # returns the values.
    def produce_values(kafka, topic, count, partitions:, from: 0, prefix: "m")
      producer = kafka.producer
      values = (from...(from + count)).map do |i|
        "#{prefix}#{i}".tap { |v| producer.produce(v, topic: topic, partition: i % partitions) }
      end
      producer.deliver_messages
      values
    ensure
      producer&.shutdown
    end

    # Every (partition, offset) processed more than once, with its count, over `records`.
    def duplicates_in(records)
      records.group_by { |r| [r.partition, r.offset] }.transform_values(&:size).select { |_, n| n > 1 }
    end
  end
end
