# frozen_string_literal: true

require_relative "../spec_helper"
require_relative "../support/failover_run"
require "fileutils"
require "logger"

# Runs against the three-broker cluster of `bin/kafka cluster-start` (ports from
# KAFKA_CLUSTER_PORTS, default 9192-9194), not the single broker: tagged :cluster, so it runs
# only with KAFKA_CLUSTER_SPECS=1 (bin/test's failover step sets it). It kills and restarts a
# broker of that cluster. spec/stress/failover is the same check at a million messages.
RSpec.describe "failover of a partition leader", :cluster do
  it "delivers every message exactly once, in order per key, when the leader is killed and restarted" do
    FileUtils.mkdir_p(File.join(FailoverRun::ROOT, "tmp"))
    logger = Logger.new(File.join(FailoverRun::ROOT, "tmp", "failover_spec.log"))
    logger.level = Logger::INFO
    # 20k messages at 2,000/s: the producer is still sending while the leader is down, while the
    # partitions move to new leaders and while the node comes back.
    result = FailoverRun.new(messages: 20_000, rate: 2_000, kill_at: 0.25, down_time: 3, logger: logger).call
    RSpec.configuration.reporter.message("\n#{result.summary}")

    aggregate_failures("failover counts (see the summary above)") do
      expect(result.reported_failed).to eq(0)
      expect(result.pending).to eq(0)
      expect(result.delivered).to eq(20_000)
      expect(result.lost).to eq(0)
      expect(result.duplicated).to eq(0)
      expect(result.out_of_order).to eq(0)
      expect(result.misreported).to eq(0)
      expect(result.corrupt).to eq(0)
      expect(result.read).to eq(20_000)
    end
  end
end
