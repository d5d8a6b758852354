# frozen_string_literal: true

# FreePort lives with the example pipeline (its demo starts Redis and Puma on free ports too).
require_relative "../../examples/router_metrics/lib/router_metrics/free_port"
