# frozen_string_literal: true

require_relative "../jobs"

module KafkaRs
  module Jobs
    # The consumer class `kafka_rs jobs` runs: each message of the queues' topics is a job,
    # run by {Jobs.perform} (ActiveJob's `execute`: its callbacks, `retry_on`, `discard_on`).
    #
    # - The job ran, or ActiveJob handled its exception (a retry enqueued, and delivered, or
    #   discarded): the message counts as processed.
    # - Not due yet (`set(wait:)`, a `retry_on` retry): the partition pauses until it is due and
    #   the message is read again ({Consumer#retry_later}); nothing is committed past it.
    # - Not a job ({InvalidMessage}): logged, instrumented and skipped (reading it again cannot
    #   help).
    # - The job's exception escaped ActiveJob (no `retry_on` for it, or its attempts used up):
    #   the class's error policy: `:skip` by default, as a job queue drops a dead job after its
    #   retries, with an error log line and a `process_error.consumer` event; `kafka_rs jobs
    #   --on-error stop` ends the worker instead.
    #
    # Configured by `kafka_rs jobs` ({configure}) before it runs.
    class JobConsumer < KafkaRs::Consumer
      on_error :skip

      # @param queues [Array<String>, nil] the queues (nil: every queue's topic, those created
      #   later too)
      # @param group [String]
      # @param on_error [:skip, :stop, :retry_with_backoff]
      def self.configure(queues:, group:, on_error: :skip)
        subscribes_to(*(queues ? Jobs.topics(queues) : [Jobs.topic_pattern]), start_from_beginning: true)
        group_id(group)
        on_error(on_error)
        consumer_options(refresh_topic_interval: 10) if queues.nil?
        self
      end

      def process(message)
        result = Jobs.perform(message)
        retry_later(result.wait) unless result.done?
      rescue InvalidMessage => e
        # Skipped whatever the policy: the same log line and event as a skip.
        report_failure(:skip, message.topic, message.partition, message.offset, e, 1, nil)
      end
    end
  end
end
