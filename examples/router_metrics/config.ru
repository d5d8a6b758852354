# frozen_string_literal: true

# The log drain endpoint under Puma:
#
#   KAFKA_BROKERS=127.0.0.1:9092 puma -b tcp://127.0.0.1:9393 examples/router_metrics/config.ru
#
# See RouterMetrics::DrainApp for the settings (ROUTER_TOPIC, DRAIN_SECRET, DRAIN_REDIS_URL).
root = File.expand_path("../..", __dir__)
[File.join(root, "lib"), File.join(__dir__, "lib")].each { |dir| $LOAD_PATH.unshift(dir) unless $LOAD_PATH.include?(dir) }
require "router_metrics/drain_app"

# Built at boot, so a bad KAFKA_URL fails the boot rather than the first request. Each Puma
# worker builds its own after the fork (RouterMetrics::Drain#producer checks the pid).
RouterMetrics::DrainApp.settings.drain.producer

run RouterMetrics::DrainApp
