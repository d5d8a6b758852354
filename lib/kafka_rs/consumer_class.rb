# frozen_string_literal: true

require "logger"

module KafkaRs
  # Consumer classes: a subclass of {Consumer} declares what it reads and how it handles
  # failures, and defines `process` (or `process_batch`); `kafka_rs consume ClassName` runs it in
  # a worker process ({Worker}), one group member per thread.
  #
  #   class MetricsConsumer < KafkaRs::Consumer
  #     subscribes_to "router", start_from_beginning: false
  #     group_id "metrics"
  #     consumer_options session_timeout: 10, offset_commit_interval: 1
  #     on_error :retry_with_backoff, backoff: 1, max_backoff: 30
  #
  #     def process(message)          # or: def process_batch(batch)
  #       Stats.record(JSON.parse(message.value))
  #     end
  #
  #     def on_partitions_assigned(topic_partitions) = logger.info("got #{topic_partitions}")
  #   end
  #
  # An instance is a {Consumer} (`pause`, `seek`, `mark_message_as_processed`, `stop` work from
  # `process`); `MetricsConsumer.new` takes no arguments, so `process` can be tested on its own.
  # It joins its group when it {#run}s. A message counts as processed when `process` returns
  # (offsets are committed after processing: at-least-once).
  #
  # When `process` raises, the class's error policy ({.on_error}) decides, and it never commits
  # past the message silently:
  #
  # - `:retry_with_backoff` (the default): the partition is paused at the message and read
  #   again after `backoff` seconds, doubling up to `max_backoff` with each failure in a row;
  #   after `max_attempts` failures (nil: no limit) the `exhausted` policy (`:stop` or `:skip`)
  #   applies. Other partitions go on meanwhile.
  # - `:skip`: the message counts as processed, with an error log line and an event.
  # - `:stop`: {#run} ends with a {ProcessingError} (its cause the exception) after committing
  #   the messages processed before it; the worker exits non-zero.
  #
  # Each failure is logged and instrumented as `process_error.consumer` (payload: `client_id`,
  # `group_id`, `topic`, `partition`, `offset`, `action` (:retry, :skip or :stop), `attempt`,
  # `exception` ([class name, message]) and `exception_object`).
  class Consumer
    ERROR_POLICIES = %i[retry_with_backoff skip stop].freeze
    DEFAULT_ERROR_POLICY = { action: :retry_with_backoff, backoff: 1.0, max_backoff: 30.0, max_attempts: nil,
                             exhausted: :stop }.freeze
    # The keywords {.consumer_options} takes: Consumer's own, less those set otherwise.
    CLASS_OPTIONS = (instance_method(:initialize).parameters.filter_map { |(type, name)| name if type == :key } -
                     %i[client native_client group_id]).freeze
    # Every consumer class loaded, in definition order (what `kafka_rs consume` runs by default).
    REGISTRY = []
    private_constant :REGISTRY

    class << self
      # Where a consumer class's own lines go (policy failures, the worker's lines); nil: the
      # client's logger, else standard error.
      attr_writer :logger

      def logger
        return @logger if @logger

        superclass.logger if self < Consumer
      end

      # @return [Array<Class>] the consumer classes defined so far
      def consumer_classes
        REGISTRY.dup
      end

      # Topics (Strings) or patterns (Regexps) the class reads; options as {Consumer#subscribe}.
      # Several calls add up; a class without its own inherits its superclass's.
      def subscribes_to(*topics, start_from_beginning: true, default_offset: nil, max_bytes_per_partition: 1_048_576)
        raise ArgumentError, "subscribes_to needs at least one topic" if topics.empty?

        topics.each do |topic|
          unless topic.is_a?(String) || topic.is_a?(Symbol) || topic.is_a?(Regexp)
            raise TypeError, "subscribes_to: topic must be a String or a Regexp, got #{topic.class}"
          end

          Validation.topic!(topic.to_s, "topic") unless topic.is_a?(Regexp)
        end
        unless default_offset.nil? || %i[earliest latest].include?(default_offset)
          raise ArgumentError, "default_offset must be :earliest or :latest, got #{default_offset.inspect}"
        end

        Validation.integer!(max_bytes_per_partition, "max_bytes_per_partition", min: 1)
        options = { start_from_beginning: start_from_beginning ? true : false, default_offset: default_offset,
                    max_bytes_per_partition: max_bytes_per_partition }
        own = definition[:subscriptions] || []
        definition[:subscriptions] = own + topics.map { |t| [t.is_a?(Symbol) ? t.to_s : t, options] }
        nil
      end

      # @return [Array<Array(String|Regexp, Hash)>] the subscriptions and their options
      def subscriptions
        setting(:subscriptions) || []
      end

      # Sets the consumer group (default: the class name, underscored, `::` as `.`:
      # `Metrics::RouterConsumer` is in "metrics.router_consumer"), or returns it.
      def group_id(name = nil)
        if name.nil?
          return setting(:group_id) || default_group_id
        end

        Validation.string!(name.is_a?(Symbol) ? name.to_s : name, "group_id")
        raise ArgumentError, "group_id must not be empty" if name.to_s.empty?

        definition[:group_id] = name.to_s
      end

      # Sets consumer settings (the keywords of {Client#consumer}: `session_timeout`,
      # `offset_commit_interval`, `assignment_strategy`, ...) over the `consumer` settings of
      # {KafkaRs.config}, or returns them. Several calls merge; subclasses inherit them.
      def consumer_options(**options)
        unknown = options.keys - CLASS_OPTIONS
        raise ArgumentError, "consumer_options: unknown #{unknown.map(&:inspect).join(', ')} (known: #{CLASS_OPTIONS.join(', ')})" unless unknown.empty?

        inherited = self < Consumer ? superclass.consumer_options : {}
        return inherited.merge(definition[:consumer_options] || {}) if options.empty?

        definition[:consumer_options] = (definition[:consumer_options] || {}).merge(options)
        nil
      end

      # Sets what happens when `process` raises (see the class comment), or returns the policy.
      #
      # @param policy [:retry_with_backoff, :skip, :stop]
      # @param backoff [Numeric] seconds before the first retry
      # @param max_backoff [Numeric] the longest wait between retries
      # @param max_attempts [Integer, nil] failures in a row before `exhausted` applies (nil: none)
      # @param exhausted [:stop, :skip]
      def on_error(policy = nil, backoff: 1, max_backoff: 30, max_attempts: nil, exhausted: :stop)
        return setting(:error_policy) || DEFAULT_ERROR_POLICY if policy.nil?

        unless ERROR_POLICIES.include?(policy)
          raise ArgumentError, "on_error: policy must be one of #{ERROR_POLICIES.map(&:inspect).join(', ')}, got #{policy.inspect}"
        end

        backoff = Validation.positive_number!(backoff, "backoff").to_f
        max_backoff = Validation.positive_number!(max_backoff, "max_backoff").to_f
        raise ArgumentError, "max_backoff (#{max_backoff}) must not be below backoff (#{backoff})" if max_backoff < backoff

        Validation.integer!(max_attempts, "max_attempts", min: 1) unless max_attempts.nil?
        unless %i[stop skip].include?(exhausted)
          raise ArgumentError, "on_error: exhausted must be :stop or :skip, got #{exhausted.inspect}"
        end

        definition[:error_policy] = { action: policy, backoff: backoff, max_backoff: max_backoff,
                                      max_attempts: max_attempts, exhausted: exhausted }.freeze
      end

      # @return [:message, :batch] whether the class defines `process` or `process_batch`
      # @raise [ArgumentError] when it defines neither, or both
      def processing_mode
        message = method_defined?(:process) || private_method_defined?(:process)
        batch = method_defined?(:process_batch) || private_method_defined?(:process_batch)
        raise ArgumentError, "#{name || self} must define process(message) or process_batch(batch)" unless message || batch
        raise ArgumentError, "#{name || self} defines both process and process_batch: keep one" if message && batch

        batch ? :batch : :message
      end

      private

      def inherited(subclass)
        super
        REGISTRY << subclass
      end

      def definition
        @definition ||= {}
      end

      def setting(key)
        klass = self
        while klass <= Consumer
          own = klass.instance_variable_get(:@definition)
          return own[key] if own&.key?(key)

          klass = klass.superclass
        end
        nil
      end

      def default_group_id
        raise ArgumentError, "an anonymous consumer class needs a group_id" if name.nil?

        name.gsub("::", ".").gsub(/([a-z\d])([A-Z])/, '\1_\2').downcase
      end
    end

    # Joins the class's group on `client` (default: the shared {KafkaRs.client}, with the
    # `consumer` settings and the prefix of {KafkaRs.config}). {#run} does it when needed.
    #
    # @return [self]
    def attach(client = nil)
      raise Error, "#{self.class} is already attached to a client" if attached?

      klass = self.class
      KafkaRs.consumer_settings(klass.group_id, klass.consumer_options) do |group, settings|
        (client || KafkaRs.client).attach_consumer(self, group_id: group, **settings)
      end
      self
    end

    # @return [Boolean] whether the consumer is a member of a group on a client
    def attached?
      !@native.nil?
    end

    # Runs the consumer class: joins its group (attaching to the shared client when needed),
    # subscribes to its topics, calls `process` / `process_batch` with the error policy, until
    # {#stop}. Offsets are committed and the group left on the way out.
    #
    # @param max_wait_time [Numeric] seconds a poll waits for data
    # @raise [ProcessingError] when the error policy is (or ends in) `:stop`
    def run(max_wait_time: 1)
      klass = self.class
      raise Error, "run is for consumer classes (subclasses of KafkaRs::Consumer); use each_message" if instance_of?(Consumer)

      mode = klass.processing_mode
      raise ArgumentError, "#{klass} subscribes to no topic (subscribes_to \"topic\")" if klass.subscriptions.empty?

      attach unless attached?
      klass.subscriptions.each { |(topic, options)| subscribe(topic, **options) } if @subscriptions.empty?
      @on_assigned << method(:on_partitions_assigned) if overrides?(:on_partitions_assigned)
      @on_revoked << method(:on_partitions_revoked) if overrides?(:on_partitions_revoked)
      @failures = {}
      policy = klass.on_error
      on_error = ->(topic, partition, offset, error) { failed(policy, topic, partition, offset, error) }
      if mode == :batch
        consume_batches(1, 10_485_760, max_wait_time, true, on_error) do |batch|
          process_batch(batch)
          recovered(batch.topic, batch.partition) unless @failures.empty?
        end
      else
        consume_messages(1, 10_485_760, max_wait_time, true, on_error) do |message|
          process(message)
          recovered(message.topic, message.partition) unless @failures.empty?
        end
      end
      nil
    end

    # Raised by {#retry_later}: the message is read again later, without counting as a failure.
    class Deferred < StandardError
      attr_reader :wait

      def initialize(wait)
        @wait = wait
        super("read again in #{wait} s")
      end
    end

    # From `process`: the message is not processed now; its partition pauses at it for `seconds`
    # and it is read again then (a job not due yet). Not a failure: no log line, no attempt
    # counted, nothing marked. Only from `process` / `process_batch` under {#run}.
    def retry_later(seconds)
      raise Deferred, Validation.positive_number!(seconds, "seconds").to_f
    end

    # @return [Logger] the class's logger, else the client's, else one on standard error
    def logger
      self.class.logger || @client&.logger || Consumer.fallback_logger
    end

    # @api private
    # Adds callbacks on assignment changes (the worker's log lines) beside the class's own hooks.
    def watch_assignments(assigned, revoked)
      @on_assigned << assigned
      @on_revoked << revoked
      self
    end

    # @api private
    def self.fallback_logger
      @fallback_logger ||= Logger.new($stderr, progname: "kafka_rs")
    end

    private

    def overrides?(name)
      method(name).owner != Consumer
    end

    # A failure of `process`, handled by the class's policy (see the class comment); the
    # handler contract is {Consumer::RAISE_PROCESSING_ERROR}'s.
    def failed(policy, topic, partition, offset, error)
      tp = [topic, partition]
      if error.is_a?(Deferred)
        pause_at(tp, offset, error.wait)
        return false
      end

      action = policy[:action] == :retry_with_backoff ? :retry : policy[:action]
      attempt = (@failures[tp] || 0) + 1
      action = policy[:exhausted] if action == :retry && policy[:max_attempts] && attempt >= policy[:max_attempts]
      @failures[tp] = attempt
      delay = [policy[:backoff] * (2**(attempt - 1)), policy[:max_backoff]].min if action == :retry
      report_failure(action, topic, partition, offset, error, attempt, delay)
      case action
      when :stop
        raise ProcessingError.new(topic, partition, offset), cause: error
      when :skip
        @failures.delete(tp)
        true
      else
        pause_at(tp, offset, delay)
        false
      end
    end

    # A partition whose message failed before was processed again: its next failure starts
    # the backoff over.
    def recovered(topic, partition)
      tp = [topic, partition]
      @pauses&.delete(tp) if @failures.delete(tp)
    end

    def report_failure(action, topic, partition, offset, error, attempt, delay)
      outcome = case action
                when :retry then "retrying in #{delay.round(2)} s (attempt #{attempt})"
                when :skip then "skipped: committed past it (attempt #{attempt})"
                else "stopping (attempt #{attempt})"
                end
      logger.public_send(action == :retry ? :warn : :error,
                         "#{self.class.name || self.class} (group #{@group_id}) failed on #{topic}/#{partition} " \
                         "offset #{offset}: #{error.class}: #{error.message}; #{outcome}")
      return unless Instrumenter.listening?("process_error.consumer")

      Instrumenter.instrument("process_error.consumer",
                              client_id: @client.client_id, group_id: @group_id, topic: topic, partition: partition,
                              offset: offset, action: action, attempt: attempt,
                              exception: [error.class.name, error.message], exception_object: error)
    end
  end
end
