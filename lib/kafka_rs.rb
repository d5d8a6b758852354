# frozen_string_literal: true

# kafka_rs: a Kafka client for Ruby whose protocol engine is written in Rust.
#
#   kafka = KafkaRs.new(["kafka1:9092", "kafka2:9092"], client_id: "my-app")
#   kafka.deliver_message("hello", topic: "greetings")
#
# The API follows ruby-kafka's (keyword names, error classes), so `require "kafka_rs/compat"`
# lets code written for ruby-kafka run unchanged.
require_relative "kafka_rs/native"
require_relative "kafka_rs/errors"
require_relative "kafka_rs/validation"
require_relative "kafka_rs/sasl"
require_relative "kafka_rs/instrumenter"
require_relative "kafka_rs/fetched_message"
require_relative "kafka_rs/pending_message"
require_relative "kafka_rs/broker_info"
require_relative "kafka_rs/producer"
require_relative "kafka_rs/delivery_handle"
require_relative "kafka_rs/async_producer"
require_relative "kafka_rs/fetched_batch"
require_relative "kafka_rs/consumer"
require_relative "kafka_rs/consumer_class"
require_relative "kafka_rs/client"
require_relative "kafka_rs/request_events"
require_relative "kafka_rs/log_subscriber"
require_relative "kafka_rs/shared"

module KafkaRs
  # Builds a {Client}. Seed brokers may be given positionally or as `seed_brokers:`, as an Array
  # or a comma-separated String ("kafka://" prefixes accepted).
  #
  # @return [KafkaRs::Client]
  def self.new(seed_brokers = nil, **options)
    if seed_brokers && options.key?(:seed_brokers)
      raise ArgumentError, "seed_brokers given both positionally and as a keyword"
    end

    seed_brokers ||= options.delete(:seed_brokers)
    raise ArgumentError, "missing keyword: :seed_brokers" if seed_brokers.nil?

    Client.new(seed_brokers: seed_brokers, **options)
  end
end

# In a Rails app: configuration from config/kafka_rs.yml, ActiveSupport::Notifications, the log
# subscriber, the install generator (see KafkaRs::Railtie).
require_relative "kafka_rs/railtie" if defined?(Rails::Railtie)
