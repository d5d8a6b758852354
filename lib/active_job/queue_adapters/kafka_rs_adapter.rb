# frozen_string_literal: true

require_relative "../../kafka_rs/jobs"

module ActiveJob
  module QueueAdapters
    # ActiveJob's queue adapter for Kafka, found by name:
    #
    #   config.active_job.queue_adapter = :kafka_rs       # Rails (the Railtie loads this file)
    #   ActiveJob::Base.queue_adapter = :kafka_rs         # plain Ruby, after require "kafka_rs/active_job"
    #
    # Each job goes to its queue's topic through the shared async producer: `perform_later`
    # returns without waiting on the network. Workers run the jobs with `kafka_rs jobs`. The
    # topics, key, headers and the worker's side: {KafkaRs::Jobs}.
    #
    # On Rails 7.2 and newer it is an ActiveJob::QueueAdapters::AbstractAdapter, whose defaults
    # Rails asks adapters for (`enqueue_after_transaction_commit?`: true, the job is sent once
    # the database transaction around `perform_later` commits).
    class KafkaRsAdapter < (defined?(AbstractAdapter) ? AbstractAdapter : Object)
      # @return [nil]
      def enqueue(job)
        KafkaRs::Jobs.enqueue(job)
      end

      # @param timestamp [Numeric] when the job is due, in seconds since the epoch
      # @return [nil]
      def enqueue_at(job, timestamp)
        KafkaRs::Jobs.enqueue(job, scheduled_at: timestamp)
      end
    end
  end
end
