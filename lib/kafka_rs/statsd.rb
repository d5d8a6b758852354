# frozen_string_literal: true

begin
  require "statsd"
rescue LoadError
  warn "kafka_rs/statsd reports to Statsd through the statsd-ruby gem (Debian: ruby-statsd), which is not installed."
  raise
end
require_relative "../kafka_rs"

module KafkaRs
  # Reports kafka_rs's operational metrics to a Statsd agent, under ruby-kafka's metric names
  # (so dashboards built on ruby-kafka's Statsd reporter keep working):
  #
  #   require "kafka_rs/statsd"            # or "kafka/statsd" with kafka_rs/compat
  #   KafkaRs::Statsd.namespace = "shop"   # default "ruby_kafka"
  #   KafkaRs::Statsd.host = "statsd.internal"   # default 127.0.0.1
  #   KafkaRs::Statsd.port = 8125          # default
  #
  # Requiring it is enough: it subscribes to the instrumentation events it reports (see
  # {Instrumenter}), e.g. `producer.<client>.<topic>.produce.messages`,
  # `producer.<client>.deliver.latency`, `async_producer.<client>.<topic>.queue.size`,
  # `consumer.<client>.<group>.<topic>.<partition>.lag`, `api.<client>.<api>.<broker>.latency`.
  # Durations are in milliseconds. Sent over UDP by the statsd-ruby gem: a missing agent costs
  # nothing but the datagrams.
  module Statsd
    DEFAULT_NAMESPACE = "ruby_kafka"
    DEFAULT_HOST = "127.0.0.1"
    DEFAULT_PORT = 8125

    class << self
      # @return [::Statsd] the statsd-ruby client metrics go through
      def statsd
        @statsd ||= ::Statsd.new(DEFAULT_HOST, DEFAULT_PORT).tap { |s| s.namespace = DEFAULT_NAMESPACE }
      end

      def host=(host)
        statsd.host = host
        statsd.connect
      end

      def port=(port)
        statsd.port = port
        statsd.connect
      end

      def namespace=(namespace)
        statsd.namespace = namespace
      end

      # Stops reporting (the subscriptions are removed).
      def detach
        (@subscribers || []).each { |s| Instrumenter.unsubscribe(s) }
        @subscribers = []
        nil
      end

      # Starts reporting (done by `require "kafka_rs/statsd"`; again after {detach}).
      def attach
        detach
        @subscribers = REPORTS.map do |event, report|
          Instrumenter.subscribe("#{event}.kafka") do |_name, start, finish, _id, payload|
            report.call(Metrics.new(statsd, payload, (finish - start) * 1000.0))
          end
        end
        nil
      end
    end

    # One event's metrics: its payload, its duration (ms) and the statsd calls.
    Metrics = Struct.new(:statsd, :payload, :duration) do
      def [](key)
        payload.fetch(key)
      end

      def failed?
        payload.key?(:exception)
      end

      def client
        self[:client_id]
      end

      # "consumer.<client>.<group>.<topic>.<partition>"
      def partition_path
        "consumer.#{client}.#{self[:group_id]}.#{self[:topic]}.#{self[:partition]}"
      end

      def increment(stat) = statsd.increment(stat)
      def count(stat, value) = statsd.count(stat, value)
      def timing(stat, value) = statsd.timing(stat, value)
      def gauge(stat, value) = statsd.gauge(stat, value)
    end

    # ruby-kafka's metrics, by event.
    REPORTS = {
      "request.connection" => lambda do |m|
        api = m.payload.fetch(:api, "unknown")
        base = "api.#{m.client}.#{api}.#{m[:broker_host]}"
        m.timing("#{base}.latency", m.duration)
        m.increment("#{base}.calls")
        m.timing("#{base}.request_size", m.payload.fetch(:request_size, 0))
        m.timing("#{base}.response_size", m.payload.fetch(:response_size, 0))
        m.increment("#{base}.errors") if m.failed?
      end,
      "process_message.consumer" => lambda do |m|
        base = m.partition_path
        if m.failed?
          m.increment("#{base}.process_message.errors")
        else
          m.timing("#{base}.process_message.latency", m.duration)
          m.increment("#{base}.messages")
        end
        m.gauge("#{base}.lag", m[:offset_lag])
        create_time = m[:create_time]
        m.gauge("#{base}.time_lag", ((Time.now - create_time) * 1000).to_i) if create_time
      end,
      "process_batch.consumer" => lambda do |m|
        base = m.partition_path
        if m.failed?
          m.increment("#{base}.process_batch.errors")
        else
          m.timing("#{base}.process_batch.latency", m.duration)
          m.count("#{base}.messages", m[:message_count])
        end
      end,
      "process_error.consumer" => lambda do |m|
        m.increment("#{m.partition_path}.process_error.#{m[:action]}")
      end,
      "fetch_batch.consumer" => lambda do |m|
        m.count("#{m.partition_path}.batch_size", m[:message_count])
        m.gauge("#{m.partition_path}.lag", m[:offset_lag])
      end,
      "pause_status.consumer" => lambda do |m|
        m.gauge("#{m.partition_path}.pause.duration", m[:duration])
      end,
      "produce_message.producer" => lambda do |m|
        ratio = m[:buffer_size].to_f / m[:max_buffer_size]
        m.increment("producer.#{m.client}.#{m[:topic]}.produce.messages")
        m.timing("producer.#{m.client}.#{m[:topic]}.produce.message_size", m[:message_size])
        m.timing("producer.#{m.client}.buffer.size", m[:buffer_size])
        m.timing("producer.#{m.client}.buffer.fill_ratio", ratio)
        m.timing("producer.#{m.client}.buffer.fill_percentage", ratio * 100.0)
      end,
      "buffer_overflow.producer" => lambda do |m|
        m.increment("producer.#{m.client}.#{m[:topic]}.produce.errors")
      end,
      "deliver_messages.producer" => lambda do |m|
        m.increment("producer.#{m.client}.deliver.errors") if m.failed?
        m.timing("producer.#{m.client}.deliver.latency", m.duration)
        m.count("producer.#{m.client}.deliver.messages", m[:delivered_message_count])
        m.timing("producer.#{m.client}.deliver.attempts", m[:attempts])
      end,
      "ack_message.producer" => lambda do |m|
        m.increment("producer.#{m.client}.#{m[:topic]}.ack.messages")
        m.timing("producer.#{m.client}.#{m[:topic]}.ack.delay", m[:delay])
      end,
      "topic_error.producer" => lambda do |m|
        m.increment("producer.#{m.client}.#{m[:topic]}.ack.errors")
      end,
      "enqueue_message.async_producer" => lambda do |m|
        m.timing("async_producer.#{m.client}.#{m[:topic]}.queue.size", m[:queue_size])
        m.timing("async_producer.#{m.client}.#{m[:topic]}.queue.fill_ratio", m[:queue_size].to_f / m[:max_queue_size])
      end,
      "buffer_overflow.async_producer" => lambda do |m|
        m.increment("async_producer.#{m.client}.#{m[:topic]}.produce.errors")
      end,
      "drop_messages.async_producer" => lambda do |m|
        m.count("async_producer.#{m.client}.dropped_messages", m[:message_count])
      end
    }.merge(
      %w[join_group sync_group leave_group].to_h do |event|
        ["#{event}.consumer", lambda do |m|
          m.timing("consumer.#{m.client}.#{m[:group_id]}.#{event}", m.duration)
          m.increment("consumer.#{m.client}.#{m[:group_id]}.#{event}.errors") if m.failed?
        end]
      end
    ).freeze

    attach
  end
end
