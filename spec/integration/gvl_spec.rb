# frozen_string_literal: true

require_relative "support"

RSpec.describe "GVL release, interrupts and fork", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  let!(:topic) { new_topic(kafka) }
  after { drop_topics(kafka); kafka.close }

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  it "lets other threads run while a fetch blocks" do
    counter = 0
    stop = false
    spinner = Thread.new { counter += 1 until stop }
    t0 = now
    expect(kafka.fetch_messages(topic: topic, partition: 0, offset: :latest, max_wait_time: 1)).to eq([])
    stop = true
    spinner.join
    expect(now - t0).to be >= 0.5
    expect(counter).to be > 100_000
  end

  it "is interrupted by Thread#raise promptly, and the client keeps working" do
    started = Queue.new
    th = Thread.new do
      started << true
      kafka.fetch_messages(topic: topic, partition: 0, offset: :latest, max_wait_time: 3)
    rescue RuntimeError => e
      e
    end
    th.report_on_exception = false
    started.pop
    sleep 0.3
    t0 = now
    th.raise(RuntimeError, "interrupt")
    result = th.value
    elapsed = now - t0
    warn format("Thread#raise interrupt latency: %.1f ms", elapsed * 1000)
    expect(result).to be_a(RuntimeError)
    expect(elapsed).to be < 0.2
    kafka.deliver_message("after", topic: topic)
    expect(fetch_all(kafka, topic).map(&:value)).to eq(["after"])
  end

  it "is interrupted by Timeout.timeout" do
    t0 = now
    expect do
      Timeout.timeout(0.2) { kafka.fetch_messages(topic: topic, partition: 0, offset: :latest, max_wait_time: 3) }
    end.to raise_error(Timeout::Error)
    elapsed = now - t0
    warn format("Timeout.timeout(0.2) elapsed: %.1f ms", elapsed * 1000)
    expect(elapsed).to be < 0.4
    kafka.deliver_message("after-timeout", topic: topic)
    expect(fetch_all(kafka, topic).map(&:value)).to eq(["after-timeout"])
  end

  # A first deliver_message gets the producer's idempotent id, which a broker that has just
  # started makes wait (COORDINATOR_LOAD_IN_PROGRESS): done before the clock starts.
  def warm_up_producer
    kafka.deliver_message("warm-up", topic: new_topic(kafka))
  end

  it "does not make the next call wait for an abandoned fetch" do
    warm_up_producer
    expect do
      Timeout.timeout(0.2) { kafka.fetch_messages(topic: topic, partition: 0, offset: :latest, max_wait_time: 3) }
    end.to raise_error(Timeout::Error)
    t0 = now
    kafka.deliver_message("quick", topic: topic)
    expect(now - t0).to be < 1.0
    # The next fetch must not queue behind the abandoned one on the fetch connection either.
    t0 = now
    msgs = kafka.fetch_messages(topic: topic, partition: 0, offset: :earliest, max_wait_time: 3)
    expect(now - t0).to be < 1.0
    expect(msgs.map(&:value)).to eq(["quick"])
  end

  it "does not hold produce requests behind another thread's long-poll fetch" do
    warm_up_producer
    poller = Thread.new { kafka.fetch_messages(topic: topic, partition: 0, offset: :latest, max_wait_time: 3) }
    sleep 0.3 # the fetch is now parked on the broker
    t0 = now
    kafka.deliver_message("meanwhile", topic: topic)
    expect(now - t0).to be < 1.0
    # The parked fetch wakes up with the new message.
    expect(poller.value.map(&:value)).to eq(["meanwhile"])
  end

  # RSpec traps INT itself, so Ctrl-C is tried in a child process blocked in a real long poll.
  it "raises Interrupt on SIGINT during a blocked fetch, and the client works afterwards" do
    lib = File.expand_path("../../lib", __dir__)
    code = <<~RUBY
      require "kafka_rs"
      trap("INT", "DEFAULT")
      kafka = KafkaRs.new(["#{IntegrationHelpers::BROKER}"])
      kafka.partitions_for("#{topic}") # connected and warmed up
      $stdout.sync = true
      puts "ready"
      begin
        kafka.fetch_messages(topic: "#{topic}", partition: 0, offset: :latest, max_wait_time: 10)
        puts "not interrupted"
      rescue Interrupt
        t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        kafka.deliver_message("after-int", topic: "#{topic}")
        puts "interrupted at \#{t}"
      end
    RUBY
    IO.popen([RbConfig.ruby, "-I", lib, "-e", code], err: File::NULL) do |io|
      expect(io.gets).to eq("ready\n")
      sleep 0.3 # the fetch is now parked on the broker
      sent = now
      Process.kill("INT", io.pid)
      line = io.gets.to_s
      expect(line).to match(/\Ainterrupted at [\d.]+$/)
      latency = line.split.last.to_f - sent
      warn format("SIGINT interrupt latency (real fetch): %.1f ms", latency * 1000)
      expect(latency).to be < 0.1
    end
    expect($?.success?).to be(true)
    expect(fetch_all(kafka, topic).map(&:value)).to eq(["after-int"])
  end

  it "works in a forked child and in the parent afterwards" do
    kafka.deliver_message("parent-1", topic: topic)
    pid = fork do
      kafka.deliver_message("child", topic: topic)
      exit!(0)
    rescue Exception => e # rubocop:disable Lint/RescueException
      warn e.full_message
      exit!(1)
    end
    _, status = Process.wait2(pid)
    expect(status.exitstatus).to eq(0)
    kafka.deliver_message("parent-2", topic: topic)
    expect(fetch_all(kafka, topic).map(&:value)).to eq(%w[parent-1 child parent-2])
  end
end
