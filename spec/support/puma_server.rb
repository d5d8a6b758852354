# frozen_string_literal: true

# Lives with the example pipeline, whose bin/demo starts one too.
require_relative "../../examples/router_metrics/lib/router_metrics/puma_server"
