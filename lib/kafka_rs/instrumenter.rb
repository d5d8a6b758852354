# frozen_string_literal: true

require "monitor"

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
  # payload), so a block written for ruby-kafka's events works unchanged. Every payload carries
  # `client_id`, as in ruby-kafka.
  #
  # When ActiveSupport::Notifications is loaded (before kafka_rs, or by Rails: the Railtie), every
  # event goes through it (`Instrumenter.backend = ActiveSupport::Notifications` does the same
  # by hand), so `ActiveSupport::Notifications.subscribe(/\.kafka\z/)` sees them; subscribers
  # added here are then ActiveSupport subscribers too.
  #
  # Costs nothing when nobody listens: callers ask {listening?} (one Hash lookup) before they
  # build a payload; the answers are cached until a subscriber comes or goes (here or, with
  # ActiveSupport, through its notifier). A subscriber that raises is reported on stderr once
  # and does not stop the producer or consumer. Subscribers run on the thread that emits the
  # event: the caller's thread, a producer's delivery-report thread for acknowledgements of the
  # async producer, or kafka_rs's request-event thread for events measured in the native core
  # (`request.connection.kafka`, the group's join, sync, leave and heartbeats), which are
  # published after the fact with the start and finish times measured there.
  module Instrumenter
    NAMESPACE = "kafka"

    # A subscriber added through {subscribe}; `handle` is its subscription with the backend.
    Subscriber = Struct.new(:pattern, :block, :handle) do
      def matches?(name)
        pattern.nil? || (pattern.is_a?(Regexp) ? pattern.match?(name) : pattern == name)
      end

      # A nil pattern means every kafka_rs event, not every event of the backend.
      def backend_pattern
        pattern || /\.#{NAMESPACE}\z/
      end
    end

    # Re-reads the listening answers whenever the backend's subscribers change.
    module NotifierWatch
      def subscribe(*args, **options, &block)
        super.tap { Instrumenter.subscribers_changed }
      end

      def unsubscribe(*args)
        super.tap { Instrumenter.subscribers_changed }
      end
    end

    @subscribers = [].freeze
    @listening = {}
    @lock = Monitor.new
    @backend = nil
    @watchers = [].freeze

    class << self
      # An ActiveSupport::Notifications-like object (`instrument(name, payload) { }`,
      # `publish(name, start, finish, id, payload)`, `subscribe`, `unsubscribe`,
      # `notifier.listening?(name)`), or nil for the built-in subscribers.
      attr_reader :backend

      # Subscribers added through {subscribe} move to the new backend.
      def backend=(backend)
        @lock.synchronize do
          @subscribers.each do |s|
            @backend.unsubscribe(s.handle) if @backend && s.handle
            s.handle = nil
          end
          @backend = backend
          if backend
            notifier = backend.respond_to?(:notifier) ? backend.notifier : nil
            notifier.singleton_class.prepend(NotifierWatch) if notifier && !notifier.singleton_class.include?(NotifierWatch)
            @subscribers.each { |s| s.handle = backend.subscribe(s.backend_pattern, &s.block) }
          end
        end
        subscribers_changed
      end

      # Calls the block for every event whose full name (`"<event>.<component>.kafka"`) is
      # `pattern` (a String) or matches it (a Regexp); nil: every kafka_rs event.
      #
      # @return [Object] the subscriber, for {unsubscribe}
      def subscribe(pattern = nil, &block)
        raise ArgumentError, "subscribe needs a block" unless block
        unless pattern.nil? || pattern.is_a?(String) || pattern.is_a?(Regexp)
          raise TypeError, "pattern must be a String, a Regexp or nil, got #{pattern.class}"
        end

        subscriber = Subscriber.new(pattern, block, nil)
        @lock.synchronize do
          subscriber.handle = @backend.subscribe(subscriber.backend_pattern, &block) if @backend
          @subscribers = (@subscribers + [subscriber]).freeze
        end
        subscribers_changed
        subscriber
      end

      def unsubscribe(subscriber)
        @lock.synchronize do
          @backend.unsubscribe(subscriber.handle) if @backend && subscriber.respond_to?(:handle) && subscriber.handle
          @subscribers = (@subscribers - [subscriber]).freeze
        end
        subscribers_changed
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
      def instrument(name, payload = {}, &block)
        full = "#{name}.#{NAMESPACE}"
        return instrument_backend(full, payload, &block) if @backend

        subscribers = @subscribers.select { |s| s.matches?(full) }
        return(block ? yield(payload) : nil) if subscribers.empty?

        start = Time.now
        begin
          result = yield(payload) if block
        rescue Exception => e # rubocop:disable Lint/RescueException
          payload[:exception] = [e.class.name, e.message]
          payload[:exception_object] = e
          raise
        ensure
          deliver(subscribers, full, start, Time.now, payload)
        end
        result
      end

      # Emits `name` for something that already happened, between `start` and `finish` (Time):
      # what the native core measured (a request, a group join). With ActiveSupport this is
      # `ActiveSupport::Notifications.publish`, which (on ActiveSupport 6.1) reaches block
      # subscribers, not ActiveSupport::Subscriber classes.
      def publish(name, start, finish, payload)
        full = "#{name}.#{NAMESPACE}"
        id = event_id
        if @backend
          begin
            @backend.publish(full, start, finish, id, payload)
          rescue StandardError => e
            warn_once(@backend, e)
          end
        else
          deliver(@subscribers.select { |s| s.matches?(full) }, full, start, finish, payload, id)
        end
        nil
      end

      # Calls the block (with no arguments) whenever the subscribers change, so that a component
      # can turn costly measurements on only while someone listens.
      #
      # @api private
      def on_change(&block)
        @lock.synchronize { @watchers = (@watchers + [block]).freeze }
        block.call
        block
      end

      # @api private
      def subscribers_changed
        @listening = {}
        @watchers.each(&:call)
        nil
      end

      private

      def instrument_backend(full, payload)
        done = false
        result = nil
        begin
          @backend.instrument(full, payload) do
            result = yield(payload) if block_given?
            done = true
            result
          end
        rescue StandardError => e
          raise unless done

          warn_once(@backend, e) # a subscriber raised once the block had returned
        end
        result
      end

      def deliver(subscribers, full, start, finish, payload, id = event_id)
        subscribers.each do |s|
          s.block.call(full, start, finish, id, payload)
        rescue StandardError => e
          warn_once(s, e)
        end
      end

      def event_id
        rand(1 << 64).to_s(16)
      end

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

# ActiveSupport loaded first (a Rails app's Bundler.require, an app that requires it): use it.
KafkaRs::Instrumenter.backend = ActiveSupport::Notifications if defined?(ActiveSupport::Notifications)
