# frozen_string_literal: true

require_relative "../integration/process_support"
require "tmpdir"

# Helpers for the specs of the Rails layer (configuration, shared producer, pool,
# instrumentation, testing mode, the Rails app): every example starts from a forgotten
# configuration and leaves none behind.
module RailsLayerHelpers
  def self.included(base)
    base.after { KafkaRs.reset! }
  end

  # Configures the shared objects against the test broker.
  def configure_kafka_rs(**settings)
    KafkaRs.configure do |c|
      c.seed_brokers = IntegrationHelpers::BROKER
      c.client_id = "kafka_rs-rails-spec"
      settings.each { |name, value| c.set(name, value) }
    end
  end
end
