# frozen_string_literal: true

require_relative "support"
require "router_metrics/report"

RSpec.describe RouterMetrics::Report do
  it "renders one row per app and the top paths" do
    summaries = {
      "shop" => { requests: 10, status: { "2xx" => 8, "5xx" => 2 }, errors: { "H12" => 1 }, p50: 23, p95: 95, p99: 30_719,
                  top_paths: [["/", 6], ["/cart", 4]] },
      "api" => { requests: 1, status: { "4xx" => 1 }, errors: {}, p50: 3, p95: 3, p99: 3, top_paths: [["/v1", 1]] }
    }
    expect(described_class.render(summaries)).to eq(<<~TEXT)
      APP   REQUESTS  2xx  3xx  4xx  5xx  P50 MS  P95 MS  P99 MS  ERRORS
      api          1    0    0    1    0       3       3       3  -
      shop        10    8    0    0    2      23      95   30719  H12:1

      APP   TOP-PATH  REQUESTS
      api   /v1              1
      shop  /                6
            /cart            4
    TEXT
    expect(described_class.render({})).to eq("no metrics yet\n")
  end
end
