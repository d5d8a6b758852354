# frozen_string_literal: true

require_relative "support"
require_relative "../support/failover_run"

# Runs against the three-broker cluster of `bin/kafka cluster-start` (ports from
# KAFKA_CLUSTER_PORTS, default 9192-9194): tagged :cluster, so it runs only with
# KAFKA_CLUSTER_SPECS=1 (bin/test's failover step). It restarts one broker of that cluster.
#
# A broker hands out idempotent producer ids from blocks the controller gives it; after a start
# it has none, so it answers the first InitProducerId with COORDINATOR_LOAD_IN_PROGRESS while it
# asks for a block. A client whose only seed broker is the restarted node asks that node first.
RSpec.describe "an idempotent producer and a just-restarted broker", :cluster do
  include IntegrationHelpers

  let(:node) { 3 }
  let(:restarted) { "127.0.0.1:#{FailoverRun.ports.fetch(node - 1)}" }
  let(:admin) { KafkaRs.new(FailoverRun.brokers, client_id: "kafka_rs-restarted-broker-spec") }

  after do
    FailoverRun.bin_kafka("cluster-node-start", node.to_s) # a no-op when it runs
    drop_topics(admin)
    admin.close
  end

  it "delivers the first message without retries (getting the producer id is not a send)" do
    FailoverRun.bin_kafka("cluster-node-stop", node.to_s)
    FailoverRun.bin_kafka("cluster-node-start", node.to_s)
    # Made after the restart, so its leader is where it stays (no preferred-leader election
    # moves it under the producer).
    topic = new_topic(admin, replication_factor: 3)

    kafka = KafkaRs.new([restarted], client_id: "kafka_rs-restarted-broker-spec")
    begin
      kafka.deliver_message("first", topic: topic, retries: 0)
      kafka.deliver_message("second", topic: topic, retries: 0)
    ensure
      kafka.close
    end
    expect(read_all(admin, topic)).to eq(%w[first second])
  end
end
