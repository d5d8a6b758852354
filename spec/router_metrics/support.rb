# frozen_string_literal: true

require_relative "../spec_helper"

examples = File.expand_path("../../examples/router_metrics/lib", __dir__)
$LOAD_PATH.unshift(examples) unless $LOAD_PATH.include?(examples)
require "router_metrics"

# A message as a consumer hands it over (the fields MetricsStore#record reads).
SpecMessage = Struct.new(:offset, :value)
