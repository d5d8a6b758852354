# frozen_string_literal: true

require "json"
require "active_job"
require "active_support/core_ext/string/inflections"
require_relative "../kafka_rs"

module KafkaRs
  # ActiveJob on Kafka: what the queue adapter
  # ({ActiveJob::QueueAdapters::KafkaRsAdapter}) writes and what a worker does with it.
  #
  #   config.active_job.queue_adapter = :kafka_rs        # Rails; plain Ruby: require "kafka_rs/active_job"
  #
  #   class ReceiptJob < ApplicationJob
  #     queue_as :mailers
  #     kafka_key :user_id                               # one user's jobs on one partition, in order
  #     retry_on Net::OpenTimeout, wait: 5.seconds       # ActiveJob's own retries
  #     def perform(user_id:, order_id:) ... end
  #   end
  #   ReceiptJob.perform_later(user_id: 7, order_id: 42)   # queues and returns; never waits on the network
  #
  # The wire format, in one place:
  #
  # - topic: {topic_prefix} + the job's queue name ("jobs.mailers"), then the app's prefix
  #   (`KAFKA_PREFIX`, {KafkaRs.config}) like every topic of the shared producer. A queue's topic
  #   is created by the broker on first use where it allows it (with the broker's default
  #   partition count): create it beforehand to choose (`kafka_rs topics create jobs.mailers
  #   --partitions 6`).
  # - value: `job.serialize` as JSON (ActiveJob's own format, arguments already serialized).
  # - key: the job's {KafkaKey#kafka_key} when it declares one, else none (the producer spreads
  #   keyless messages over the partitions).
  # - headers: "job_class" (for people reading the topic), and "scheduled_at_ms" (milliseconds
  #   since the epoch) for a job enqueued with a wait (`set(wait: 5.minutes)`, `retry_on`):
  #   Kafka has no delayed delivery, so the worker holds the message until then ({perform}).
  #
  # Delivery: `perform_later` hands the message to the shared async producer ({KafkaRs.produce})
  # and returns; a full producer queue raises {BufferOverflow} there. Delivery failures after
  # the producer's retries are reported by it (the LogSubscriber in Rails), not to the caller.
  # Jobs enqueued while a job runs in {perform} (a `retry_on` retry, a follow-up job) are
  # delivered before {perform} returns, so a worker that commits after {perform} never commits
  # past a job whose retry is not yet in Kafka.
  #
  # Order: jobs with the same key stay on one partition, in the order enqueued. A retry goes to
  # the end of its partition (after the jobs enqueued since), and a job not yet due holds back
  # the jobs behind it on its partition: give far-future jobs a queue of their own
  # (`MyJob.set(queue: :scheduled, wait: 1.day)`).
  module Jobs
    # The prefix of every queue's topic when none is set.
    DEFAULT_TOPIC_PREFIX = "jobs."
    # Header naming the job's class.
    JOB_CLASS_HEADER = "job_class"
    # Header of a job enqueued with a wait: when it is due, in milliseconds since the epoch.
    SCHEDULED_AT_HEADER = "scheduled_at_ms"
    # Thread variable holding the delivery handles of jobs enqueued by the job {perform} runs.
    ENQUEUED_HANDLES = :kafka_rs_jobs_enqueued

    # A message a job topic should not hold: no value, not JSON, not a serialized job, a job
    # class this process does not know, a bad header. Raised by {perform}; never retried into
    # success, so a worker's error policy decides (skip it, or stop).
    class InvalidMessage < Error
    end

    # {perform}'s answer when the job ran: it succeeded, or ActiveJob handled its exception
    # (`retry_on` enqueued a retry, `discard_on` discarded it). The message is done with.
    Performed = Struct.new(:job_class, :job_id) do
      def done?
        true
      end

      # @return [nil]
      def wait
        nil
      end
    end

    # {perform}'s answer when the job is not due yet: it did not run. Read the message again
    # in {#wait} seconds (until then, the messages behind it on its partition wait too).
    NotDue = Struct.new(:job_class, :job_id, :due_at, :wait) do
      def done?
        false
      end
    end

    @topic_prefix = DEFAULT_TOPIC_PREFIX

    class << self
      # @return [String] what every queue's topic starts with ("jobs." unless set)
      attr_reader :topic_prefix

      # Sets the prefix of the queues' topics, for the app and its workers alike (an initializer
      # both load). Not empty: {topic_pattern} must tell job topics from the others.
      def topic_prefix=(prefix)
        raise TypeError, "KafkaRs::Jobs.topic_prefix must be a String, got #{prefix.class}" unless prefix.is_a?(String)
        unless Validation::TOPIC_NAME.match?("#{prefix}x") && !prefix.empty?
          raise ArgumentError, "KafkaRs::Jobs.topic_prefix #{prefix.inspect} cannot start a topic name " \
                               "(one or more of a-z, A-Z, 0-9, '.', '_', '-')"
        end

        @topic_prefix = prefix.dup.freeze
      end

      # The topic of a queue (without the app's `KAFKA_PREFIX`: the shared producer and
      # {KafkaRs.consumer} add it).
      #
      # @param queue_name [String, Symbol] e.g. "default", :mailers
      # @return [String] e.g. "jobs.mailers"
      # @raise [ArgumentError] when the queue name cannot be part of a topic name
      def topic(queue_name)
        name = "#{@topic_prefix}#{queue_name}"
        Validation.topic_cached!(name)
      rescue ArgumentError
        raise ArgumentError, "queue #{queue_name.to_s.inspect} makes the topic #{name.inspect}, which is not a valid " \
                             "topic name (queue names for kafka_rs: a-z, A-Z, 0-9, '.', '_', '-')"
      end

      # The topics of some queues, for a worker's subscription (`kafka_rs jobs --queues a,b`).
      #
      # @param queue_names [Array<String, Symbol>]
      # @return [Array<String>]
      def topics(queue_names)
        raise TypeError, "queue names must be an Array, got #{queue_names.class}" unless queue_names.is_a?(Array)
        raise ArgumentError, "no queue names given" if queue_names.empty?

        queue_names.map { |q| topic(q) }.uniq
      end

      # Every queue's topic, for a worker that runs all queues (a pattern subscription, which
      # also picks up queues' topics created later).
      #
      # @return [Regexp]
      def topic_pattern
        /\A#{Regexp.escape(@topic_prefix)}/
      end

      # Queues a job (the adapter's `enqueue` and `enqueue_at`). Outside {perform}: hands the
      # message to the shared async producer and returns (no network wait). Inside {perform}:
      # the same, keeping the delivery handle for {perform} to wait on.
      #
      # @param job [ActiveJob::Base]
      # @param scheduled_at [Numeric, Time, nil] when the job is due (seconds since the epoch)
      # @return [nil]
      # @raise [ArgumentError] the queue name or the job's kafka_key does not work (nothing queued)
      # @raise [BufferOverflow] the shared producer's queue is full (nothing queued)
      def enqueue(job, scheduled_at: nil)
        topic = topic(job.queue_name)
        key = job.class.kafka_key_for(job)
        headers = { JOB_CLASS_HEADER => job.class.name }
        headers[SCHEDULED_AT_HEADER] = (scheduled_at.to_f * 1000).round.to_s if scheduled_at
        value = JSON.generate(job.serialize)
        handles = Thread.current.thread_variable_get(ENQUEUED_HANDLES)
        if handles
          handles << KafkaRs.produce_async(value, topic: topic, key: key, headers: headers)
        else
          KafkaRs.produce(value, topic: topic, key: key, headers: headers)
        end
        nil
      end

      # Runs the job a message holds: THE call a job worker makes for each message.
      #
      # - Not due yet (its "scheduled_at_ms" header is after `now`): the job does not run;
      #   returns a {NotDue}. The worker pauses the message's partition for `result.wait`
      #   seconds and reads the message again from its offset (it must not commit past it).
      # - Otherwise runs it through `ActiveJob::Base.execute` (ActiveJob's callbacks, so Rails
      #   wraps it in its executor and reloader; `provider_job_id` is "topic/partition@offset").
      #   Jobs it enqueued (a `retry_on` retry, follow-ups) are waited on until Kafka has them.
      #   Returns a {Performed}: the job succeeded, or `retry_on` enqueued a retry, or
      #   `discard_on` discarded it. The worker commits past the message.
      # - The job raised and ActiveJob did not handle it (no `retry_on` for it, or its attempts
      #   are used up): the exception propagates, unchanged; so does a delivery error of a job it
      #   enqueued. The worker's error policy applies (running it again runs the job again:
      #   at-least-once).
      # - The message is not a job: raises {InvalidMessage}.
      #
      # @param message [FetchedMessage]
      # @param now [Time] the time to compare the due time with
      # @return [Performed, NotDue] (`done?` tells them apart; `wait` is nil or seconds)
      def perform(message, now: Time.now)
        data = job_data(message)
        due = due_at(message)
        if due && due > now
          return NotDue.new(data["job_class"], data["job_id"], due, due.to_f - now.to_f)
        end

        handles = []
        outer = Thread.current.thread_variable_get(ENQUEUED_HANDLES)
        Thread.current.thread_variable_set(ENQUEUED_HANDLES, handles)
        begin
          ActiveJob::Base.execute(
            data.merge("provider_job_id" => "#{message.topic}/#{message.partition}@#{message.offset}")
          )
        ensure
          Thread.current.thread_variable_set(ENQUEUED_HANDLES, outer)
        end
        handles.each(&:wait)
        Performed.new(data["job_class"], data["job_id"])
      end

      private

      # The serialized job of a message, checked enough that ActiveJob can deserialize it.
      def job_data(message)
        raise InvalidMessage, "#{where(message)} has no value (a tombstone), not a job" if message.value.nil?

        data = begin
          JSON.parse(message.value)
        rescue JSON::ParserError => e
          raise InvalidMessage, "#{where(message)} is not JSON, not a job: #{e.message[0, 200]}"
        end
        unless data.is_a?(Hash) && data["job_class"].is_a?(String) && data["arguments"].is_a?(Array)
          raise InvalidMessage, "#{where(message)} is not a serialized ActiveJob job " \
                                "(a JSON object with \"job_class\" and \"arguments\")"
        end

        job_class = data["job_class"].safe_constantize
        unless job_class.is_a?(Class) && job_class <= ActiveJob::Base
          raise InvalidMessage, "#{where(message)} names the job class #{data['job_class'].inspect}, which is not " \
                                "an ActiveJob class in this process (does the worker load the app?)"
        end
        data
      end

      # @return [Time, nil]
      def due_at(message)
        ms = message.headers[SCHEDULED_AT_HEADER]
        return nil if ms.nil?
        unless ms.match?(/\A\d+\z/)
          raise InvalidMessage, "#{where(message)}: bad #{SCHEDULED_AT_HEADER} header #{ms.inspect}"
        end

        ms = Integer(ms, 10)
        Time.at(ms / 1000, ms % 1000, :millisecond)
      end

      def where(message)
        "the message at #{message.topic}/#{message.partition}@#{message.offset}"
      end
    end

    # `kafka_key`, a class method of every ActiveJob class (see {#kafka_key}).
    module KafkaKey
      # Declares which part of the job's arguments is its Kafka message key, so that jobs with
      # the same key go to the same partition and run in the order enqueued (subclasses inherit
      # it). Without it, jobs have no key.
      #
      #   kafka_key 0                                  # the first argument
      #   kafka_key :user_id                           # that key of a keyword or Hash argument
      #   kafka_key { |order, *| order.user_id }       # the block's value, given the arguments
      #
      # The key is the value's String (a record: its GlobalID). A job enqueued without the
      # argument, or whose key is nil, raises ArgumentError from `perform_later`.
      #
      # @param position_or_name [Integer, Symbol, String]
      # @raise [ArgumentError] with none, both, or a bad position or name
      def kafka_key(position_or_name = (omitted = true), &block)
        if omitted ? block.nil? : block
          raise ArgumentError, "#{name}.kafka_key takes an argument position (kafka_key 0), a key of a keyword or " \
                               "Hash argument (kafka_key :user_id) or a block (kafka_key { |*args| ... }): " \
                               "#{block ? 'not both' : 'none was given'}"
        end

        @kafka_key = block ? KeyRule.from_block(block) : KeyRule.from_argument(self, position_or_name)
      end

      # @api private
      # The declared rule (inherited), or nil.
      def kafka_key_rule
        return @kafka_key if defined?(@kafka_key)

        superclass.respond_to?(:kafka_key_rule) ? superclass.kafka_key_rule : nil
      end

      # @api private
      # @return [String, nil] the key of `job`'s message
      def kafka_key_for(job)
        kafka_key_rule&.key_for(job)
      end
    end

    # @api private
    # How a job class finds its key ({KafkaKey#kafka_key}): a callable that picks the value
    # out of the job's arguments (raising ArgumentError, naming the job, when it cannot), and
    # the declaration, for error messages.
    class KeyRule
      def self.from_block(block)
        new("kafka_key { ... }") { |job| block.call(*job.arguments) }
      end

      def self.from_argument(job_class, spec)
        case spec
        when Integer
          if spec.negative?
            raise ArgumentError, "#{job_class.name}.kafka_key #{spec}: an argument position is 0 or more"
          end

          new("kafka_key #{spec}") do |job|
            if spec >= job.arguments.size
              raise ArgumentError, "#{job.class.name} declares kafka_key #{spec} but was enqueued with " \
                                   "#{job.arguments.size} argument#{'s' unless job.arguments.size == 1}"
            end

            job.arguments[spec]
          end
        when Symbol, String
          name = spec.to_sym
          new("kafka_key #{name.inspect}") do |job|
            hash = job.arguments.reverse_each.find { |a| a.is_a?(Hash) && (a.key?(name) || a.key?(name.to_s)) }
            unless hash
              raise ArgumentError, "#{job.class.name} declares kafka_key #{name.inspect} but no keyword or Hash " \
                                   "argument it was enqueued with has the key #{name.inspect}"
            end

            hash.key?(name) ? hash[name] : hash[name.to_s]
          end
        else
          raise ArgumentError, "#{job_class.name}.kafka_key takes an argument position (Integer) or a key name " \
                               "(Symbol or String), got #{spec.inspect}"
        end
      end

      def initialize(declaration, &pick)
        @declaration = declaration
        @pick = pick
      end

      # @return [String]
      def key_for(job)
        value = @pick.call(job)
        case value
        when String then value
        when Symbol, Integer then value.to_s
        when nil then raise ArgumentError, "#{job.class.name}'s #{@declaration} is nil: a keyed job needs its key"
        else
          return value.to_global_id.to_s if value.respond_to?(:to_global_id)

          raise ArgumentError, "#{job.class.name}'s #{@declaration} is a #{value.class}: it must be a String, " \
                               "Symbol, Integer or a record with a GlobalID"
        end
      end
    end

    ActiveSupport.on_load(:active_job) { extend KafkaKey }
  end
end
