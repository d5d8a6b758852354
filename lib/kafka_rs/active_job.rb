# frozen_string_literal: true

# ActiveJob on Kafka without Rails (in a Rails app the Railtie requires this file):
#
#   require "kafka_rs/active_job"
#   ActiveJob::Base.queue_adapter = :kafka_rs
#
# Loads ActiveJob, the queue adapter (ActiveJob::QueueAdapters::KafkaRsAdapter) and
# KafkaRs::Jobs (topics, `kafka_key`, what a worker runs).
require_relative "../active_job/queue_adapters/kafka_rs_adapter"
