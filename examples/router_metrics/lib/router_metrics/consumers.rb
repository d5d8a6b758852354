# frozen_string_literal: true

require "kafka_rs"
require "net/http"
require "redis"
require_relative "../router_metrics"
require_relative "metrics_processor"

module RouterMetrics
  # The pipeline's consumer classes, run by the worker command:
  #
  #   kafka_rs consume -I examples/router_metrics/lib -r router_metrics/consumers RouterMetrics::MetricsConsumer
  #
  # Settings from the environment (the classes are declared when the file loads): REDIS_URL
  # (required), ROUTER_TOPIC (router), METRICS_GROUP (metrics), REPLAY_GROUP (replay),
  # METRICS_NAMESPACE / REPLAY_NAMESPACE (the Redis key prefixes: router_metrics /
  # router_replay), SESSION_TIMEOUT (seconds, 10), REPLAY_BASE_URL (when set, the replay
  # group re-issues each request's GET against it).
  module Consumers
    def self.session_timeout
      Float(ENV.fetch("SESSION_TIMEOUT", "10"))
    end

    def self.redis
      Redis.new(url: ENV.fetch("REDIS_URL") { raise KeyError, "REDIS_URL is not set (the Redis the metrics go to)" })
    end

    # What both groups' classes declare alike: the topic from the start, fast failure detection
    # (the demo kills a worker), commits every second, and Redis failures retried.
    def self.declare(klass, group:)
      klass.subscribes_to ENV.fetch("ROUTER_TOPIC", "router"), start_from_beginning: true
      klass.group_id group
      klass.consumer_options session_timeout: session_timeout, heartbeat_interval: session_timeout / 5,
                             offset_commit_interval: 1
      klass.on_error :retry_with_backoff, backoff: 0.5, max_backoff: 10
    end
  end

  # The `metrics` group: aggregates each batch into Redis ({MetricsProcessor}); idempotent
  # under redelivery (the store's high-water mark per partition), so a batch read again after
  # a crash is not counted twice. If Redis fails, the partition is paused and retried.
  class MetricsConsumer < KafkaRs::Consumer
    Consumers.declare(self, group: ENV.fetch("METRICS_GROUP", "metrics"))

    def process_batch(batch)
      processor.process_batch(batch)
    end

    private

    def processor
      @processor ||= MetricsProcessor.new(
        MetricsStore.new(Consumers.redis, namespace: ENV.fetch("METRICS_NAMESPACE", "router_metrics")), logger: logger
      )
    end
  end

  # The `replay` group: reads the same topic independently and counts what it would replay to
  # staging (into its own namespace, with the same idempotent store); with REPLAY_BASE_URL it
  # re-issues each request not seen before as a GET of its path against that URL.
  class ReplayConsumer < KafkaRs::Consumer
    Consumers.declare(self, group: ENV.fetch("REPLAY_GROUP", "replay"))

    def process_batch(batch)
      base = ENV["REPLAY_BASE_URL"]
      if base && !base.empty?
        mark = store.high_water_mark(batch.topic, batch.partition)
        batch.messages.each { |m| replay(URI(base), m) if mark.nil? || m.offset >= mark }
      end
      processor.process_batch(batch)
    end

    private

    def processor
      @processor ||= MetricsProcessor.new(store, logger: logger)
    end

    def store
      @store ||= MetricsStore.new(Consumers.redis, namespace: ENV.fetch("REPLAY_NAMESPACE", "router_replay"))
    end

    def replay(base, message)
      request = Request.from_syslog(message.value)
      return unless request.is_a?(Request) && request.path

      Net::HTTP.get_response(base + request.path)
    rescue SystemCallError, IOError, Net::OpenTimeout, Net::ReadTimeout => e
      logger.warn("replay: #{request.path}: #{e.class}: #{e.message}")
    end
  end
end
