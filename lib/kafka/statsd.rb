# frozen_string_literal: true

# ruby-kafka's `require "kafka/statsd"`, for code moved to kafka_rs with kafka_rs/compat:
# `Kafka::Statsd` is {KafkaRs::Statsd}.
require_relative "../kafka_rs/compat"
require_relative "../kafka_rs/statsd"
