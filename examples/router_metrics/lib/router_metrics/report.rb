# frozen_string_literal: true

require "kafka_rs/cli/table"

module RouterMetrics
  # The metrics as readable tables: one row per app (requests, status classes, p50/p95/p99,
  # router errors), then each app's top paths.
  module Report
    STATUS_CLASSES = %w[2xx 3xx 4xx 5xx].freeze

    module_function

    # @param summaries [Hash{String => Hash}] app => {MetricsStore#summary}
    # @return [String]
    def render(summaries, top: 3)
      return "no metrics yet\n" if summaries.empty?

      rows = summaries.sort.map do |app, s|
        errors = s[:errors].map { |code, n| "#{code}:#{n}" }.join(" ")
        [app, s[:requests], *STATUS_CLASSES.map { |c| s[:status].fetch(c, 0) }, s[:p50], s[:p95], s[:p99],
         errors.empty? ? nil : errors]
      end
      table = KafkaRs::CLI::Table.new(["APP", "REQUESTS", *STATUS_CLASSES, "P50 MS", "P95 MS", "P99 MS", "ERRORS"], rows)
      paths = summaries.sort.flat_map do |app, s|
        s[:top_paths].first(top).each_with_index.map { |(path, n), i| [i.zero? ? app : "", path, n] }
      end
      "#{table}\n#{KafkaRs::CLI::Table.new(%w[APP TOP-PATH REQUESTS], paths)}"
    end
  end
end
