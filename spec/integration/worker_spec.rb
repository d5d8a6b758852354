# frozen_string_literal: true

require_relative "process_support"
require "tmpdir"

# The worker process: the real `kafka_rs consume` executable in a child process, running consumer
# classes from a file it requires (written here; each class appends what it processed to a file,
# one line per message, with the name of the thread that processed it). Signals, exit statuses,
# commits and group membership are checked against the real broker.
RSpec.describe "kafka_rs consume (the worker process)", :integration do
  include IntegrationHelpers

  exe = File.expand_path("../../exe/kafka_rs", __dir__)
  let(:exe) { exe }
  classes = <<~RUBY
    # An abstract base: settings only, no topics (the worker does not run it).
    class WorkerSpecBase < KafkaRs::Consumer
      consumer_options session_timeout: 6, heartbeat_interval: 1, rebalance_timeout: 10, offset_commit_interval: 0.2

      def record(line)
        File.open(ENV.fetch("SPEC_OUT"), "a") { |f| f.puts(line) }
      end
    end

    class WorkerSpecConsumer < WorkerSpecBase
      subscribes_to ENV.fetch("SPEC_TOPIC")
      group_id ENV.fetch("SPEC_GROUP")
      on_error ENV.fetch("SPEC_ON_ERROR", "retry_with_backoff").to_sym, backoff: 0.1, max_backoff: 0.1

      def process(message)
        if message.value == "stuck"
          record("started stuck")
          sleep 120
        end
        raise "boom on \#{message.value}" if message.value == "bad"

        record("\#{Thread.current.name}|\#{message.partition}|\#{message.offset}|\#{message.value}")
      end
    end

    if ENV["SPEC_AUDIT"]
      class WorkerSpecAudit < WorkerSpecBase
        subscribes_to ENV.fetch("SPEC_TOPIC")
        group_id "\#{ENV.fetch('SPEC_GROUP')}-audit"

        def process(message)
          record("audit|\#{message.partition}|\#{message.offset}|\#{message.value}")
        end
      end
    end
  RUBY

  let(:classes) { classes }
  let(:kafka) { IntegrationHelpers.client }
  let(:group) { "spec-worker-#{SecureRandom.hex(4)}" }
  let(:dir) { Dir.mktmpdir("kafka_rs-worker-spec") }
  let(:classes_file) { File.join(dir, "consumers.rb").tap { |path| File.write(path, classes) } }
  let(:out) { File.join(dir, "processed.txt") }
  let(:log_path) { File.join(dir, "worker.log") }

  after do
    (@pids || []).each { |pid| ProcessHelpers.stop_process(pid) }
    drop_topics(kafka)
    kafka.close
    FileUtils.rm_rf(dir)
  end

  # Starts `kafka_rs consume *args` on `topic`, its output (stdout and stderr) into log_path.
  def start_worker(topic, *args, env: {})
    env = { "KAFKA_BROKERS" => IntegrationHelpers::BROKER, "SPEC_TOPIC" => topic, "SPEC_GROUP" => group,
            "SPEC_OUT" => out }.merge(env)
    pid = Process.spawn(env, RbConfig.ruby, "-I", ProcessHelpers::LIB, exe, "consume", "-r", classes_file, *args,
                        out: log_path, err: %i[child out])
    (@pids ||= []) << pid
    pid
  end

  def wait_exit(pid, timeout: 30)
    status = ProcessHelpers.wait_child(pid, timeout: timeout)
    @pids.delete(pid)
    expect(status).not_to be_nil, "the worker did not exit within #{timeout} s; its log:\n#{log}"
    status
  end

  def log
    File.exist?(log_path) ? File.read(log_path) : ""
  end

  def processed
    File.exist?(out) ? File.readlines(out, chomp: true) : []
  end

  def wait_for(what, timeout: 30, &block)
    super(what, timeout: timeout, detail: -> { "the worker's log:\n#{log}" }, &block)
  end

  def committed(group_id)
    kafka.fetch_group_offsets(group_id).transform_values { |ps| ps.transform_values(&:offset) }
  end

  it "runs the consumer classes the required file defines when none is named; TERM stops it cleanly, " \
     "committed and out of its groups" do
    topic = new_topic(kafka, partitions: 2)
    produce_by_partition(kafka, topic, 0 => %w[a0 a1], 1 => %w[b0 b1])
    pid = start_worker(topic, env: { "SPEC_AUDIT" => "1" })
    wait_for("both classes processing the 4 messages") do
      lines = processed
      lines.count { |l| l.start_with?("kafka_rs WorkerSpecConsumer#1|") } == 4 && lines.count { |l| l.start_with?("audit|") } == 4
    end
    # The abstract base class (no subscriptions) is not run.
    expect(log).to include("consume: WorkerSpecConsumer, WorkerSpecAudit x1")
    expect(processed.grep(/\Akafka_rs WorkerSpecConsumer/).map { |l| l.split("|").drop(1) })
      .to match_array([%w[0 0 a0], %w[0 1 a1], %w[1 0 b0], %w[1 1 b1]])

    Process.kill(:TERM, pid)
    expect(wait_exit(pid).exitstatus).to eq(0)
    expect(log).to include("TERM: stopping", "stopped (clean)")
    [group, "#{group}-audit"].each do |g|
      expect(committed(g)).to eq(topic => { 0 => 2, 1 => 2 })
      wait_for("group #{g} without members") { kafka.describe_group(g).members.empty? }
    end
  end

  it "exits at once with status 1 on a second TERM while a message is still being processed" do
    topic = new_topic(kafka)
    produce_by_partition(kafka, topic, 0 => %w[first stuck])
    pid = start_worker(topic, "--timeout", "120", "WorkerSpecConsumer")
    wait_for("the stuck message") { processed.include?("started stuck") }
    Process.kill(:TERM, pid)
    wait_for("the first TERM taken") { log.include?("TERM: stopping") }
    Process.kill(:TERM, pid)
    expect(wait_exit(pid, timeout: 20).exitstatus).to eq(1)
    expect(log).to include("TERM again: exiting at once")
    expect(log).not_to include("stopped (clean)")
  end

  it "runs --concurrency members per class that split the partitions, and prints their backtraces on TTIN" do
    topic = new_topic(kafka, partitions: 4)
    pid = start_worker(topic, "--concurrency", "2", "WorkerSpecConsumer")
    wait_for("two members with 2 partitions each") do
      members = kafka.describe_group(group).members
      members.size == 2 && members.map { |m| (m.assignment || {}).fetch(topic, []).size } == [2, 2]
    end
    assignments = kafka.describe_group(group).members.map { |m| m.assignment.fetch(topic).sort }
    expect(assignments.flatten.sort).to eq([0, 1, 2, 3])

    produce_by_partition(kafka, topic, 0 => %w[p0a p0b], 1 => %w[p1a p1b], 2 => %w[p2a p2b], 3 => %w[p3a p3b])
    wait_for("8 messages processed") { processed.size == 8 }
    by_thread = processed.map { |l| l.split("|") }.group_by(&:first).transform_values { |ls| ls.map { |l| Integer(l[1]) }.uniq.sort }
    expect(by_thread.keys).to contain_exactly("kafka_rs WorkerSpecConsumer#1", "kafka_rs WorkerSpecConsumer#2")
    expect(by_thread.values).to match_array(assignments)

    Process.kill(:TTIN, pid)
    wait_for("the backtraces") { log.include?("thread kafka_rs WorkerSpecConsumer#2") }
    expect(log).to include("thread kafka_rs WorkerSpecConsumer#1 (")
    expect(log).to match(%r{thread kafka_rs WorkerSpecConsumer#1 \(\w+\):\n  \S+/lib/kafka_rs/\S+\.rb:\d+})

    Process.kill(:TERM, pid)
    expect(wait_exit(pid).exitstatus).to eq(0)
    expect(committed(group)).to eq(topic => { 0 => 2, 1 => 2, 2 => 2, 3 => 2 })
  end

  it "exits 1 when a class's on_error :stop policy stops it, with the error in the log and nothing committed past it" do
    topic = new_topic(kafka)
    produce_by_partition(kafka, topic, 0 => %w[ok bad after])
    pid = start_worker(topic, "WorkerSpecConsumer", env: { "SPEC_ON_ERROR" => "stop" })
    expect(wait_exit(pid).exitstatus).to eq(1)
    expect(processed).to eq(["kafka_rs WorkerSpecConsumer#1|0|0|ok"])
    expect(log).to include("WorkerSpecConsumer#1 ended: KafkaRs::ProcessingError", "(cause: RuntimeError: boom on bad)",
                           "stopped (after an error)")
    expect(log).to match(%r{failed on #{topic}/0 offset 1: RuntimeError: boom on bad; stopping \(attempt 1\)})
    expect(committed(group)).to eq(topic => { 0 => 1 })
  end

  it "exits 2 with a message for a class it does not know" do
    status, stdout, stderr = run_exe("consume", "-r", classes_file, "NoSuchClass")
    expect(status.exitstatus).to eq(2)
    expect(stdout + stderr).to include("no class NoSuchClass")
  end

  it "documents itself and its signals in --help" do
    status, stdout, = run_exe("consume", "--help")
    expect(status.exitstatus).to eq(0)
    expect(stdout).to include("kafka_rs consume", "--concurrency", "--require", "TERM", "TTIN")
  end

  def run_exe(*args)
    out_r, out_w = IO.pipe
    err_r, err_w = IO.pipe
    env = { "KAFKA_BROKERS" => IntegrationHelpers::BROKER, "SPEC_TOPIC" => "unused", "SPEC_GROUP" => group, "SPEC_OUT" => out }
    pid = Process.spawn(env, RbConfig.ruby, "-I", ProcessHelpers::LIB, exe, *args, out: out_w, err: err_w)
    out_w.close
    err_w.close
    readers = [out_r, err_r].map { |io| Thread.new { io.read } }
    status = ProcessHelpers.wait_child(pid, timeout: 30)
    expect(status).not_to be_nil
    [status, *readers.map(&:value)]
  ensure
    [out_r, err_r].each { |io| io&.close unless io&.closed? }
  end
end
