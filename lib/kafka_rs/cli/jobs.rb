# frozen_string_literal: true

require_relative "consume"

module KafkaRs
  module CLI
    # `kafka_rs jobs`: a worker process running ActiveJob jobs from their queues' topics
    # ({KafkaRs::Jobs::JobConsumer}); the loading, signals and options of {Consume}.
    class Jobs < Consume
      usage "kafka_rs jobs [options]", <<~TEXT.chomp
        Runs ActiveJob jobs enqueued with the kafka_rs adapter (config.active_job.queue_adapter =
        :kafka_rs) from their queues' topics ("jobs.<queue>"), in one consumer group; start
        more processes to share the partitions. Loads the app as `kafka_rs consume` does
        (--require, else ./config/environment.rb). Retries are ActiveJob's own (retry_on,
        discard_on); a job enqueued with a wait is held until due. A job whose exception
        escapes ActiveJob is logged and skipped (--on-error stop ends the worker instead).

        Signals: TERM or INT stops gracefully (the job in progress finishes, offsets are
        committed); a second one, or --timeout seconds, exits at once. TTIN prints every
        thread's backtrace.
      TEXT

      def initialize(*args, **options)
        super
        @queues = nil
        @group = "kafka_rs-jobs"
        @on_error = :skip
      end

      def define_options(o)
        o.on("-q", "--queues LIST", Array, "the queues to run (default: every queue, those created later too)") do |v|
          @queues = v
        end
        o.on("-g", "--group GROUP", "consumer group (default #{@group})") { |v| @group = v }
        o.on("--on-error POLICY", %w[skip stop], "a job whose exception escapes ActiveJob: skip (default) or stop") do |v|
          @on_error = v.to_sym
        end
        super
      end

      private

      def consumer_classes(names)
        raise UsageError, "kafka_rs jobs takes no class names (use --queues)" unless names.empty?

        require_relative "../jobs/job_consumer"
        [KafkaRs::Jobs::JobConsumer.configure(queues: @queues, group: @group, on_error: @on_error)]
      end
    end
  end
end
