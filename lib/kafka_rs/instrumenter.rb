# frozen_string_literal: true

module KafkaRs
  # Instrumentation events with ruby-kafka's names and payloads, such as
  # `deliver_messages.producer.kafka` or `ack_message.producer.kafka`.
  #
  #   KafkaRs::Instrumenter.subscribe("ack_message.producer.kafka") do |name, start, finish, id, payload|
  #     StatsD.timing("kafka.ack_delay", payload[:delay])
  #   end
  #   KafkaRs::Instrumenter.subscribe(/\.producer\.kafka\z/) { |*args| ... }
  #
  # Subscribers get ActiveSupport::Notifications' block arguments (name, start, finish, id,
  # payload), so a block written for ruby-kafka's events works unchanged. With
  # `Instrumenter.backend = ActiveSupport::Notifications` every event goes through
  # ActiveSupport instead (the Rails integration sets that up).
  #
  # Costs nothing when nobody listens: callers ask {listening?} (one Hash lookup) before they
  # build a payload. A subscriber that raises is reported on stderr once and does not stop the
  # producer. Subscribers run on the thread that emits the event: the caller's thread, or a
  # producer's delivery-report thread for acknowledgements of the async producer.
  module Instrumenter
    NAMESPACE = "kafka"

    Subscriber = Struct.new(:pattern, :block) do
      def matches?(name)
        pattern.nil? || (pattern.is_a?(Regexp) ? pattern.match?(name) : pattern == name)
      end
    end

    @subscribers = [].freeze
    @listening = {}
    @lock = Mutex.new
    @backend = nil

    class << self
      # An ActiveSupport::Notifications-like object (`instrument(name, payload) { }`,
      # `notifier.listening?(name)`), or nil for the built-in subscribers.
      attr_reader :backend

      def backend=(backend)
        @lock.synchronize do
          @backend = backend
          @listening = {}
        end
      end

      # Calls the block for every event whose full name (`"<event>.<component>.kafka"`) is
      # `pattern` (a String) or matches it (a Regexp); nil: every event.
      #
      # @return [Object] the subscriber, for {unsubscribe}
      def subscribe(pattern = nil, &block)
        raise ArgumentError, "subscribe needs a block" unless block
        unless pattern.nil? || pattern.is_a?(String) || pattern.is_a?(Regexp)
          raise TypeError, "pattern must be a String, a Regexp or nil, got #{pattern.class}"
        end

        subscriber = Subscriber.new(pattern, block)
        @lock.synchronize do
          @subscribers = (@subscribers + [subscriber]).freeze
          @listening = {}
        end
        subscriber
      end

      def unsubscribe(subscriber)
        @lock.synchronize do
          @subscribers = (@subscribers - [subscriber]).freeze
          @listening = {}
        end
        nil
      end

      # Whether anyone listens to `name` (e.g. "ack_message.producer"); answers are cached until
      # the subscribers change.
      def listening?(name)
        cached = @listening[name]
        return cached unless cached.nil?

        full = "#{name}.#{NAMESPACE}"
        answer = if @backend
                   notifier = @backend.respond_to?(:notifier) ? @backend.notifier : nil
                   notifier.respond_to?(:listening?) ? notifier.listening?(full) : true
                 else
                   @subscribers.any? { |s| s.matches?(full) }
                 end
        # A plain Hash write: a racing reader sees the old Hash or this one, both valid.
        @listening = @listening.merge(name => answer)
        answer
      end

      # Emits `name` (e.g. "deliver_messages.producer") with `payload`. With a block, the event
      # spans the block (its start and finish times) and the block's value is returned; the
      # block may add to the payload (ruby-kafka fills in counts that way).
      def instrument(name, payload = {})
        full = "#{name}.#{NAMESPACE}"
        return @backend.instrument(full, payload) { yield(payload) if block_given? } if @backend

        subscribers = @subscribers.select { |s| s.matches?(full) }
        return(block_given? ? yield(payload) : nil) if subscribers.empty?

        start = Time.now
        begin
          result = yield(payload) if block_given?
        rescue Exception => e # rubocop:disable Lint/RescueException
          payload[:exception] = [e.class.name, e.message]
          payload[:exception_object] = e
          raise
        ensure
          finish = Time.now
          id = object_id.to_s(16) + rand(1 << 32).to_s(16)
          subscribers.each do |s|
            s.block.call(full, start, finish, id, payload)
          rescue StandardError => e
            warn_once(s, e)
          end
        end
        result
      end

      private

      def warn_once(subscriber, error)
        @warned ||= {}
        return if @warned[subscriber.object_id]

        @warned[subscriber.object_id] = true
        warn "kafka_rs: an instrumentation subscriber raised #{error.class}: #{error.message} (further errors " \
             "of this subscriber are not reported)"
      end
    end
  end
end
