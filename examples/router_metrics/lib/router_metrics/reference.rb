# frozen_string_literal: true

module RouterMetrics
  # The metrics computed in plain Ruby from the requests the load generator wrote: what the
  # Redis aggregates must equal once every line went through the endpoint, Kafka and the metrics
  # consumer (however often it was delivered).
  module Reference
    module_function

    # @param requests [Array<Request>]
    # @return [Hash{Array(String, String) => Hash}] [app, minute] => the same shape as
    #   {MetricsStore#counts}
    def counts(requests)
      requests.group_by { |r| [r.app, r.minute] }.transform_values do |group|
        status = Hash.new(0)
        latency = Hash.new(0)
        errors = Hash.new(0)
        paths = Hash.new(0)
        group.each do |r|
          status[r.status_class] += 1 if r.status_class
          latency[LatencyBuckets.index(r.service_ms)] += 1 if r.service_ms
          errors[r.code] += 1 if r.code
          paths[r.path] += 1 if r.path
        end
        { requests: group.size, status: status.to_h, latency: latency.to_h, errors: errors.to_h, paths: paths.to_h }
      end
    end

    # The summary of one app over all its minutes (see {MetricsStore#summary}), with the exact
    # percentiles beside the bucketed ones.
    #
    # @return [Hash] {RouterMetrics.summarize}'s keys plus `exact_p50:`, `exact_p95:`, `exact_p99:`
    def summary(requests, app, top: 10)
      mine = requests.select { |r| r.app == app }
      merged = { requests: 0, status: Hash.new(0), latency: Hash.new(0), errors: Hash.new(0), paths: Hash.new(0) }
      counts(mine).each_value do |c|
        merged[:requests] += c[:requests]
        %i[status latency errors paths].each { |k| c[k].each { |name, n| merged[k][name] += n } }
      end
      services = mine.filter_map(&:service_ms)
      RouterMetrics.summarize(merged, top: top).merge(
        exact_p50: LatencyBuckets.exact_percentile(services, 50),
        exact_p95: LatencyBuckets.exact_percentile(services, 95),
        exact_p99: LatencyBuckets.exact_percentile(services, 99)
      )
    end
  end
end
