# frozen_string_literal: true

require_relative "process_support"
require "logger"

# Processes that produce through the async producer and exit without shutting it down: the at_exit
# hook must deliver within the shutdown timeout, never hang, never drop a message silently.
#
# KAFKA_RS_EXIT_CYCLES sets the number of start-produce-exit cycles (200 by default, run two at a
# time; about 10 s here).
RSpec.describe "exit", :integration do
  include IntegrationHelpers
  include ProcessHelpers

  let(:kafka) { IntegrationHelpers.client }
  let!(:topic) { new_topic(kafka, partitions: 2) }
  after { drop_topics(kafka); kafka.close }

  cycles = Integer(ENV.fetch("KAFKA_RS_EXIT_CYCLES", "200"))
  # Far above a cycle's normal time (~50 ms): only a hang reaches it.
  cycle_timeout = 30

  # One process: connect, produce one message (and, every third cycle, 20 more through
  # produce_many), exit with the messages still queued. Nothing is sent before at_exit: no
  # delivery trigger is set.
  cycle_code = <<~RUBY
    require "kafka_rs"
    topic, cycle = ARGV[0], Integer(ARGV[1])
    producer = KafkaRs.new("#{IntegrationHelpers::BROKER}").async_producer(shutdown_timeout: 10)
    producer.produce("cycle-\#{cycle}", topic: topic)
    if (cycle % 3).zero?
      producer.produce_many(Array.new(20) { |i| { value: "cycle-\#{cycle}-\#{i}", topic: topic } })
    end
  RUBY

  it "delivers at exit in each of #{cycles} start-produce-exit cycles, with no hang" do
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    failures = Queue.new
    todo = Queue.new
    cycles.times { |c| todo << c }
    todo.close
    Array.new(2) do
      Thread.new do
        while (cycle = todo.pop)
          status, out, err = run_ruby(cycle_code, topic, cycle, timeout: cycle_timeout)
          if status.nil?
            failures << "cycle #{cycle} hung (killed after #{cycle_timeout} s)"
          elsif !status.success? || !out.empty? || !err.empty?
            failures << "cycle #{cycle}: #{status.inspect} #{out}#{err}"
          end
        end
      end
    end.each(&:join)
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    warn format("%d exit cycles (2 at a time): %.1f s", cycles, elapsed)

    failures.close
    expect(Array.new(failures.size) { failures.pop }).to eq([])
    expected = {}
    cycles.times do |c|
      expected["cycle-#{c}"] = 1
      20.times { |i| expected["cycle-#{c}-#{i}"] = 1 } if (c % 3).zero?
    end
    expect(read_all(kafka, topic).tally).to eq(expected)
  end

  it "exits within the shutdown timeout when the broker is unreachable, and logs what was lost" do
    code = <<~RUBY
      require "kafka_rs"
      require "logger"
      kafka = KafkaRs.new("127.0.0.1:1", logger: Logger.new($stderr), connect_timeout: 1)
      producer = kafka.async_producer(shutdown_timeout: 2)
      producer.produce("lost", topic: "never")
      puts "queued \#{producer.queue_size}"
    RUBY
    # 2 s of shutdown timeout plus a wide margin for Ruby's start on a busy machine.
    status, out, err = run_ruby(code, timeout: 2 + 15)
    expect(status).not_to be_nil, "the process hung at exit"
    expect(status.success?).to be(true), err
    expect(out).to eq("queued 1\n")
    expect(err).to match(/WARN -- kafka_rs: async producer shut down: 1 messages not delivered \(shutdown timeout 2(\.0)? s\)/)
    expect(err).to include("could not connect to 127.0.0.1:1")
  end

  it "says on stderr what was lost at exit when there is no logger" do
    code = <<~RUBY
      require "kafka_rs"
      kafka = KafkaRs.new("127.0.0.1:1", connect_timeout: 1)
      kafka.async_producer(shutdown_timeout: 1).produce("lost", topic: "never")
    RUBY
    status, _out, err = run_ruby(code, timeout: 1 + 15)
    expect(status).not_to be_nil, "the process hung at exit"
    expect(status.success?).to be(true), err
    expect(err).to match(/\Akafka_rs: async producer shut down: 1 messages not delivered \(shutdown timeout 1(\.0)? s\)$/)
  end

  it "reports a message that failed because the client was closed before exit" do
    code = <<~RUBY
      require "kafka_rs"
      kafka = KafkaRs.new(#{IntegrationHelpers::BROKER.inspect})
      kafka.async_producer.produce("queued", topic: "spec-closed-\#{Process.pid}", partition: 0)
      kafka.close
    RUBY
    status, _out, err = run_ruby(code, timeout: 30)
    expect(status&.success?).to be(true), err
    expect(err).to match(/\Akafka_rs: async producer shut down: 1 messages not delivered/)
    expect(err).not_to include("failed: KafkaRs::ClientClosed")
  end
end
