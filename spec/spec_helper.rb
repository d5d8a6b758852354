# frozen_string_literal: true

# Loads kafka_rs from this checkout's lib/ (build the extension first: `rake compile`).
#
# Broker specs (written against a real broker) must fail loudly when no broker is reachable: there
# is deliberately no helper here that skips them.

lib = File.expand_path("../lib", __dir__)
$LOAD_PATH.unshift(lib) unless $LOAD_PATH.include?(lib)

require "kafka_rs"

RSpec.configure do |config|
  config.expect_with :rspec do |expectations|
    expectations.include_chain_clauses_in_custom_matcher_descriptions = true
  end
  config.mock_with :rspec do |mocks|
    mocks.verify_partial_doubles = true
  end
  config.shared_context_metadata_behavior = :apply_to_host_groups
  config.disable_monkey_patching!
  config.warnings = true
  config.order = :random
  # Specs tagged :cluster need the three-broker cluster (bin/kafka cluster-start) and kill its
  # brokers; bin/test runs them in a step of their own.
  config.filter_run_excluding cluster: true unless ENV["KAFKA_CLUSTER_SPECS"] == "1"
  Kernel.srand config.seed
end
