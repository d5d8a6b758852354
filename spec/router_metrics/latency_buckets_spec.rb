# frozen_string_literal: true

require_relative "support"

RSpec.describe RouterMetrics::LatencyBuckets do
  it "keeps durations below 32 ms exact and every bucket within 1/16 of its lower bound" do
    expect((0..31).map { |ms| described_class.range(described_class.index(ms)) }).to eq((0..31).map { |ms| ms..ms })
    (32..70_000).each do |ms|
      range = described_class.range(described_class.index(ms))
      expect(range).to cover(ms)
      expect(range.size * 16).to be <= range.begin
    end
  end

  it "numbers buckets contiguously (every index is a bucket, the ranges tile the durations)" do
    ranges = (0..300).map { |i| described_class.range(i) }
    ranges.each_cons(2) { |a, b| expect(b.begin).to eq(a.end + 1) }
    expect(described_class.index(30_000)).to eq(189)
  end

  it "computes nearest-rank percentiles from counts, reporting the bucket's upper bound" do
    values = (1..100).to_a
    counts = values.group_by { |v| described_class.index(v) }.transform_values(&:size)
    expect(described_class.percentile(counts, 10)).to eq(10)  # exact below 32 ms
    expect(described_class.percentile(counts, 50)).to eq(51)  # 50..51
    expect(described_class.exact_percentile(values, 95)).to eq(95)
    expect(described_class.percentile(counts, 95)).to eq(95)  # 92..95 bucket
    expect(described_class.percentile(counts, 99)).to eq(99)  # 96..99
    expect(described_class.percentile(counts, 100)).to eq(103) # 100..103
    expect(described_class.percentile({}, 50)).to be_nil
  end

  it "is never below the exact percentile and less than 6.25 % above it" do
    random = Random.new(3)
    20.times do
      values = Array.new(1 + random.rand(2000)) { (Math.exp(random.rand * 10)).round }
      counts = values.group_by { |v| described_class.index(v) }.transform_values(&:size)
      [50, 95, 99].each do |p|
        exact = described_class.exact_percentile(values, p)
        bucketed = described_class.percentile(counts, p)
        expect(bucketed).to be >= exact
        expect(bucketed - exact).to be < [exact / 16.0, 1].max
      end
    end
  end

  it "merges by adding counts" do
    a = [5, 40, 400, 4000]
    b = [7, 41, 30_000]
    count = ->(vs) { vs.group_by { |v| described_class.index(v) }.transform_values(&:size) }
    merged = count.(a).merge(count.(b)) { |_, x, y| x + y }
    expect(merged).to eq(count.(a + b))
  end
end
