# frozen_string_literal: true

# The reference pipeline's pieces: a hosting platform's log drain POSTs router log batches to
# the endpoint ({RouterMetrics::DrainApp}), which produces each line to the `router` topic
# keyed by app; the `metrics` consumer group turns them into per-app, per-minute metrics in
# Redis ({RouterMetrics::MetricsStore}). The parsers, the latency buckets, the load generator
# and the reference computation are plain Ruby and need neither Kafka nor Redis.
module RouterMetrics
end

require_relative "router_metrics/logplex"
require_relative "router_metrics/router_line"
require_relative "router_metrics/latency_buckets"
require_relative "router_metrics/request"
require_relative "router_metrics/reference"
require_relative "router_metrics/load_generator"
require_relative "router_metrics/load_runner"
# metrics_store.rb needs the redis gem; the endpoint needs sinatra: required where used.
