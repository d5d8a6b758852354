# frozen_string_literal: true

require_relative "consumer_process_support"
require_relative "interop_support"
require_relative "../support/failover_run"

# Runs against the three-broker cluster of `bin/kafka cluster-start` (ports from
# KAFKA_CLUSTER_PORTS, default 9192-9194), not the single broker: tagged :cluster, so it runs only
# with KAFKA_CLUSTER_SPECS=1 (bin/test's failover step). A consumer-group member (a child process)
# consumes a replicated topic while the group's coordinator broker is SIGKILLed and restarted.
RSpec.describe "failover of a consumer group's coordinator", :cluster do
  include ConsumerProcesses::Helpers

  let(:brokers) { FailoverRun.brokers }
  let(:kafka) { KafkaRs.new(brokers, client_id: "kafka_rs-consumer-failover") }
  let(:group) { "spec-cfail-#{SecureRandom.hex(4)}" }
  let(:topic) { "cfail-#{SecureRandom.hex(4)}" }

  after do |example|
    restart_killed_node
    stop_children(example)
    kafka.delete_topic(topic) rescue nil # rubocop:disable Style/RescueModifier
    kafka.close
  end

  # The group's coordinator node (bin/kafka's node number = broker id) and the group's state,
  # from Kafka's kafka-consumer-groups tool (the gem has no public FindCoordinator call).
  def coordinator
    out = InteropSupport::JavaTools.java("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                                         ["--bootstrap-server", brokers.join(","), "--describe", "--group", group,
                                          "--state"])
    row = out.lines.find { |l| l.start_with?("#{group} ") } or raise "kafka-consumer-groups printed no row:\n#{out}"
    node = row[/\((\d+)\)/, 1] or raise "no coordinator id in #{row.inspect}"
    [Integer(node), row.split[-2]]
  end

  def restart_killed_node
    return unless @killed

    FailoverRun.bin_kafka("cluster-node-start", @killed.to_s)
    @killed = nil
  end

  it "keeps consuming when the coordinator broker is SIGKILLed and restarted, and processes every message" do
    t0 = ConsumerProcesses.now
    kafka.create_topic(topic, num_partitions: 3, replication_factor: 3, config: { "min.insync.replicas" => "2" })
    member = start_child("member", group: group, topic: topic, brokers: brokers)
    wait_until("the member owns the 3 partitions", timeout: 30) { member.assignment == [0, 1, 2] }
    node, state = coordinator
    expect(state).to eq("Stable")

    # ~300 messages a second for ~12 s, acks all; a failed delivery stays buffered and is retried.
    delivered = Queue.new
    producing = Thread.new do
      producer = kafka.producer(required_acks: :all, max_retries: 10, retry_backoff: 0.2)
      120.times do |round|
        values = Array.new(30) { |i| "m#{(round * 30) + i}" }
        values.each_with_index { |v, i| producer.produce(v, topic: topic, partition: i % 3) }
        begin
          producer.deliver_messages
        rescue KafkaRs::DeliveryFailed
          sleep 0.2
          retry
        end
        acked = ConsumerProcesses.now
        values.each { |v| delivered << [v, acked] }
        sleep 0.1
      end
    ensure
      producer&.shutdown
    end
    wait_until("the member processes the first messages", timeout: 20) { member.processed.size >= 300 }
    before_kill = member.processed.size
    FailoverRun.bin_kafka("cluster-node-kill", node.to_s)
    @killed = node
    t_kill = ConsumerProcesses.now
    sleep 3
    restart_killed_node
    restarted = ConsumerProcesses.now - t_kill
    producing.join
    acked_at = Array.new(delivered.size) { delivered.pop }.to_h
    produced = acked_at.keys
    wait_until("the member processes every delivered message", timeout: 60) do
      (produced.to_set - member.processed.map(&:value)).empty? || !member.alive?
    end
    expect(member).to be_alive, member.describe
    new_node, state_after = coordinator
    expect(member.stop).to be_success, member.describe

    records = member.processed
    expect(produced.to_set - records.map(&:value).to_set).to be_empty
    expect(member.events.map { |e| e["event"] }).not_to include("error")
    duplicates = duplicates_in(records)
    # How long after its acknowledgement each message was first processed: the consumer's own
    # delay, apart from the producer's (which also waits for the dead broker's partitions).
    lag = records.group_by(&:partition).sort.to_h do |p, rs|
      [p, rs.group_by(&:value).map { |v, copies| copies.map(&:at).min - acked_at.fetch(v) }.max.round(1)]
    end
    note format("\ncoordinator failover: node %d (coordinator) SIGKILLed after %d of %d messages were processed, " \
                "restarted %.1fs later; coordinator now node %d (%s); every message processed, %d duplicates; " \
                "longest delay from acknowledgement to processing per partition %s s; %.1fs in all",
                node, before_kill, produced.size, restarted, new_node, state_after, duplicates.size, lag.inspect,
                ConsumerProcesses.now - t0)
  end
end
