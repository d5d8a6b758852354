# frozen_string_literal: true

require_relative "process_support"
require "kafka_rs/active_job"
require "rbconfig"
require "tmpdir"

# `kafka_rs jobs`: jobs enqueued here through the :kafka_rs adapter run in a worker process
# (the real executable), with ActiveJob's own retries, a job held until due, a message that is
# not a job skipped, and a graceful TERM.
RSpec.describe "kafka_rs jobs (worker process, real broker)" do
  include IntegrationHelpers

  JOB_FILE = <<~RUBY
    require "kafka_rs/active_job"
    class WorkerSpecJob < ActiveJob::Base
      class Flaky < StandardError; end
      self.queue_adapter = :kafka_rs
      self.logger = Logger.new(IO::NULL)
      kafka_key 0
      retry_on Flaky, wait: 1, attempts: 3, jitter: 0

      def perform(user, note)
        raise Flaky, "first execution" if note == "flaky" && executions < 2

        File.open(ENV.fetch("JOBS_OUT"), "a") { |f| f.puts([user, note, executions].join(" ")) }
      end
    end
  RUBY

  let(:kafka) { IntegrationHelpers.client }

  after do
    ProcessHelpers.stop_process(@pid) if @pid
    KafkaRs.reset!
    kafka.delete_topic(@topic) if @topic
    kafka.close
    FileUtils.rm_rf(@dir) if @dir
  end

  it "runs the jobs of a queue with ActiveJob's retries and due times, skips what is not a job, stops on TERM" do
    @dir = Dir.mktmpdir("jobs-worker-spec-")
    job_file = File.join(@dir, "jobs.rb")
    File.write(job_file, JOB_FILE)
    out = File.join(@dir, "out.txt")
    log = File.join(@dir, "worker.log")
    ENV["JOBS_OUT"] = out
    load job_file
    queue = "spec-#{SecureRandom.hex(4)}"
    group = "jobs-#{SecureRandom.hex(4)}"
    @topic = KafkaRs::Jobs.topic(queue)
    kafka.create_topic(@topic, num_partitions: 2)
    KafkaRs.configure { |c| c.seed_brokers = IntegrationHelpers::BROKER }

    @pid = Process.spawn({ "KAFKA_BROKERS" => IntegrationHelpers::BROKER, "KAFKA_URL" => nil, "JOBS_OUT" => out },
                         RbConfig.ruby, "-I", File.expand_path("../../lib", __dir__),
                         File.expand_path("../../exe/kafka_rs", __dir__), "jobs", "--no-config-file", "-r", job_file,
                         "--queues", queue, "--group", group, out: log, err: log)
    WorkerSpecJob.set(queue: queue).perform_later("u1", "one")
    WorkerSpecJob.set(queue: queue).perform_later("u2", "flaky")
    kafka.deliver_message("not a job", topic: @topic, partition: 0)
    WorkerSpecJob.set(queue: queue).perform_later("u1", "two")
    WorkerSpecJob.set(queue: queue, wait: 1).perform_later("u3", "later")
    expect(KafkaRs.producer.flush(timeout: 30)).to be(true)

    lines = wait_for("four jobs run", timeout: 60) do
      l = File.exist?(out) ? File.readlines(out, chomp: true) : []
      l if l.size >= 4
    end
    expect(lines).to contain_exactly("u1 one 1", "u1 two 1", "u2 flaky 2", "u3 later 1")
    # One user's jobs on one partition, in the order enqueued.
    expect(lines.grep(/\Au1 /)).to eq(["u1 one 1", "u1 two 1"])
    # 4 jobs, the retry of the flaky one, and the message that is not a job: all committed.
    wait_for("the offsets committed", timeout: 60) do
      kafka.fetch_group_offsets(group).fetch(@topic, {}).values.sum(&:offset) == 6
    end

    Process.kill("TERM", @pid)
    _, status = Process.wait2(@pid)
    @pid = nil
    expect(status.exitstatus).to eq(0)
    output = File.read(log)
    expect(output).to include("not a job").or include("is not")
    expect(output).to match(/skipped/)
    expect(output).to include("TERM: stopping", "stopped (clean)")
    expect(File.readlines(out).size).to eq(4)
  ensure
    ENV.delete("JOBS_OUT")
  end
end
