# frozen_string_literal: true

module RouterMetrics
  # Fixed service-time buckets, so latency histograms from different batches, partitions,
  # workers and minutes merge by adding counts (a Redis hash per app and minute, HINCRBY per
  # bucket), and percentiles come from the merged counts.
  #
  # Layout (integer milliseconds, as the router reports them):
  #
  # - 0 to 31 ms: one bucket per millisecond (exact);
  # - from 32 ms: 16 equal buckets per power of two (32-33, 34-35, ..., 62-63, 64-67, ...,
  #   1024-1087, ..., 29696-30719).
  #
  # A bucket's width is at most 1/16 of its lower bound, so a percentile reported as the upper
  # bound of the bucket that holds it is never below the exact value and less than 6.25 % above
  # it (exact below 32 ms). 30 s (the router's timeout) falls in bucket 189; the index grows by
  # 16 per doubling, so any duration has a bucket (about 200 for everything up to a minute).
  module LatencyBuckets
    LINEAR = 16 # exact buckets 0..15; also the number of sub-buckets per power of two
    SUB_BITS = 4 # log2(LINEAR)

    module_function

    # @param ms [Integer] a duration in milliseconds (negative counts as 0)
    # @return [Integer] the bucket index
    def index(ms)
      ms = ms.to_i
      return [ms, 0].max if ms < LINEAR

      exponent = ms.bit_length - 1 # >= SUB_BITS
      shift = exponent - SUB_BITS
      sub = (ms >> shift) - LINEAR # 0..15
      LINEAR + (shift * LINEAR) + sub
    end

    # @return [Range] the durations (ms) bucket `index` holds
    def range(index)
      return (index..index) if index < LINEAR

      shift, sub = (index - LINEAR).divmod(LINEAR)
      low = (LINEAR + sub) << shift
      (low..(low + (1 << shift) - 1))
    end

    # @return [Integer] the largest duration in the bucket (how a percentile is reported)
    def upper_bound(index)
      range(index).end
    end

    # Nearest-rank percentile from bucket counts: the upper bound of the bucket holding the
    # ceil(p/100 * n)-th smallest duration.
    #
    # @param counts [Hash{Integer => Integer}] bucket index => count
    # @param percentile [Numeric] 0 < percentile <= 100
    # @return [Integer, nil] nil without any count
    def percentile(counts, percentile)
      total = counts.values.sum
      return nil if total.zero?

      rank = rank(total, percentile)
      seen = 0
      counts.keys.sort.each do |index|
        seen += counts[index]
        return upper_bound(index) if seen >= rank
      end
      nil
    end

    # The exact nearest-rank percentile of raw durations (what the buckets approximate).
    #
    # @param values [Array<Integer>]
    # @return [Integer, nil]
    def exact_percentile(values, percentile)
      return nil if values.empty?

      values.sort[rank(values.size, percentile) - 1]
    end

    def rank(total, percentile)
      raise ArgumentError, "percentile must be in (0, 100], got #{percentile}" unless percentile.positive? && percentile <= 100

      # Integer arithmetic where possible: 0.95 * 100 is 95.00000000000001 in floats.
      rank = percentile.is_a?(Integer) ? -(-(percentile * total) / 100) : (percentile * total / 100.0).ceil
      rank.clamp(1, total)
    end
  end
end
