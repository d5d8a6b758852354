# frozen_string_literal: true

require_relative "process_support"
require "logger"
require "stringio"

# A client and producers made before `fork` keep working on both sides with no user hook: the
# child opens its own connections on first use and holds none of the parent's sockets (they are
# released inside `fork` itself); the parent keeps its connections and its queue; nothing queued
# before the fork is sent twice.
RSpec.describe "fork", :integration do
  include IntegrationHelpers
  include ProcessHelpers

  let(:kafka) { IntegrationHelpers.client }
  let!(:topic) { new_topic(kafka, partitions: 3) }
  after { drop_topics(kafka); kafka.close }

  it "works in the child, which holds none of the parent's sockets; the parent keeps its connections and queue" do
    sync = kafka.producer
    async = kafka.async_producer
    kafka.deliver_message("parent-deliver", topic: topic, partition: 0)
    sync.produce("parent-sync", topic: topic, partition: 0)
    sync.deliver_messages
    async.produce_async("parent-async", topic: topic, partition: 1).wait(timeout: 10)
    fetch_all(kafka, topic, 0) # the fetch connection too
    # No delivery trigger is set: this stays queued in the parent's producer across the fork.
    parent_handle = async.produce_async("queued-before-fork", topic: topic, partition: 2)
    expect(async.queue_size).to eq(1)
    parent_sockets = broker_socket_inodes
    expect(parent_sockets.size).to be >= 2

    report = in_child do
      inherited_at_start = socket_inodes & parent_sockets
      queued_in_child = async.queue_size
      parent_handle_in_child = begin
        parent_handle.wait(timeout: 5)
      rescue ArgumentError => e
        e.message
      end
      kafka.deliver_message("child-deliver", topic: topic, partition: 0)
      sync.produce("child-sync", topic: topic, partition: 0)
      sync.deliver_messages
      async_offset = async.produce_async("child-async", topic: topic, partition: 1).wait(timeout: 10).offset
      async.shutdown
      {
        inherited_at_start: inherited_at_start,
        queued_in_child: queued_in_child,
        parent_handle_in_child: parent_handle_in_child,
        async_offset: async_offset,
        read_back: fetch_all(kafka, topic, 0).map(&:value),
        inherited_at_end: socket_inodes & parent_sockets,
        own_broker_sockets: broker_socket_inodes.size
      }
    end

    expect(report[:inherited_at_start]).to eq([])
    expect(report[:inherited_at_end]).to eq([])
    expect(report[:own_broker_sockets]).to be >= 1
    expect(report[:queued_in_child]).to eq(0)
    # A handle of the parent's message cannot be settled in the child: it says so at once.
    expect(report[:parent_handle_in_child]).to match(/queued before this process was forked/)
    expect(report[:async_offset]).to eq(1)
    expect(report[:read_back]).to eq(%w[parent-deliver parent-sync child-deliver child-sync])

    # The parent goes on over the same sockets, and its queue is intact.
    kafka.deliver_message("parent-after", topic: topic, partition: 0)
    sync.produce("parent-sync-after", topic: topic, partition: 0)
    sync.deliver_messages
    expect(async.queue_size).to eq(1)
    expect(async.flush(timeout: 10)).to be(true)
    expect(parent_handle.wait(timeout: 5).partition).to eq(2)
    expect(broker_socket_inodes).to match_array(parent_sockets)
    async.shutdown

    expect(read_all(kafka, topic).tally).to eq(
      "parent-deliver" => 1, "parent-sync" => 1, "parent-async" => 1, "queued-before-fork" => 1,
      "child-deliver" => 1, "child-sync" => 1, "child-async" => 1,
      "parent-after" => 1, "parent-sync-after" => 1
    )
  end

  it "releases the parent's sockets in a child that never uses kafka_rs, and in a grandchild" do
    kafka.deliver_message("x", topic: topic, partition: 0)
    fetch_all(kafka, topic, 0)
    parent_sockets = broker_socket_inodes
    expect(parent_sockets.size).to be >= 2

    report = in_child do
      child_sockets = broker_socket_inodes
      grandchild = in_child { socket_inodes & (parent_sockets + child_sockets) }
      { inherited: socket_inodes & parent_sockets, child_sockets: child_sockets, grandchild: grandchild }
    end
    expect(report[:inherited]).to eq([])
    expect(report[:child_sockets]).to eq([])
    expect(report[:grandchild]).to eq([])
    expect(broker_socket_inodes).to match_array(parent_sockets)
    kafka.deliver_message("y", topic: topic, partition: 0)
    expect(fetch_all(kafka, topic, 0).map(&:value)).to eq(%w[x y])
  end

  it "tells a child's logger how many inherited sockets were released" do
    log = StringIO.new
    logged = KafkaRs.new([IntegrationHelpers::BROKER], logger: Logger.new(log, level: :debug))
    logged.deliver_message("x", topic: topic, partition: 0)
    fetch_all(logged, topic, 0)
    line = in_child do
      log.truncate(0)
      log.rewind
      logged.partitions_for(topic)
      log.string.lines.grep(/forked/).first
    end
    logged.close
    expect(line).to match(/DEBUG -- kafka_rs: forked: new connections for this process \((\d+) broker sockets inherited/)
    expect(Integer(line[/\((\d+) broker sockets/, 1])).to be >= 2
  end

  # A preforking server (Puma, Unicorn): the master builds the client and producers and uses them,
  # then forks workers. Each worker produces through the async producer it inherited, then
  # leaves: half shut the producer down, half leave it to the at_exit hook. The master's own
  # queued message is delivered by the master alone, at its exit.
  it "delivers every message once from a preloaded master and 4 forked workers" do
    per_worker = 250
    code = <<~RUBY
      require "kafka_rs"
      topic, per_worker = ARGV[0], Integer(ARGV[1])
      def socket_inodes
        Dir.children("/proc/self/fd").filter_map { |fd| File.readlink("/proc/self/fd/\#{fd}")[/\\Asocket:\\[(\\d+)\\]\\z/, 1] rescue nil }
      end
      kafka = KafkaRs.new("#{IntegrationHelpers::BROKER}")
      async = kafka.async_producer(delivery_interval: 0.01)
      sync = kafka.producer
      async.produce_async("master-preload", topic: topic).wait(timeout: 10)
      sync.produce("master-sync", topic: topic)
      sync.deliver_messages
      master_sockets = socket_inodes
      async.produce("master-queued", topic: topic)   # sent by the master's next trigger only
      workers = Array.new(4) do |w|
        fork do
          inherited = (socket_inodes & master_sockets).size
          per_worker.times { |i| async.produce("w\#{w}-\#{i}", topic: topic) }
          sync.produce("w\#{w}-sync", topic: topic)
          sync.deliver_messages
          async.shutdown if w.even?
          puts "worker \#{w} inherited \#{inherited}"
        end
      end
      codes = workers.map { |pid| Process.wait2(pid)[1].exitstatus }
      puts "workers exited \#{codes.inspect}"
    RUBY
    status, out, err = run_ruby(code, topic, per_worker, timeout: 120)
    expect(status).not_to be_nil, "the master hung: #{out}#{err}"
    expect(status.success?).to be(true), err
    expect(out.lines.grep(/inherited/).sort).to eq(Array.new(4) { |w| "worker #{w} inherited 0\n" })
    expect(out).to include("workers exited [0, 0, 0, 0]")

    expected = { "master-preload" => 1, "master-sync" => 1, "master-queued" => 1 }
    4.times do |w|
      expected["w#{w}-sync"] = 1
      per_worker.times { |i| expected["w#{w}-#{i}"] = 1 }
    end
    expect(read_all(kafka, topic).tally).to eq(expected)
  end
end
