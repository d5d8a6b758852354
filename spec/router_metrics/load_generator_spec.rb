# frozen_string_literal: true

require_relative "support"

RSpec.describe RouterMetrics::LoadGenerator do
  let(:clock) do
    time = Time.utc(2024, 5, 1, 12, 0, 0)
    -> { time += 0.5 }
  end

  it "writes bodies whose frames parse back to the lines and requests it reports" do
    generator = described_class.new(apps: %w[shop api], seed: 1, clock: clock, malformed_rate: 0.05)
    batches = Array.new(20) { generator.batch(50) }
    batches.each do |batch|
      parsed = RouterMetrics::Logplex.parse(batch.body)
      expect(parsed.count).to eq(batch.msg_count)
      expect(parsed.malformed.size).to eq(batch.malformed)
      expect(parsed.frames.map(&:raw)).to eq(batch.lines)
      read = parsed.frames.map { |f| RouterMetrics::Request.from_syslog(f.raw) }
      expect(read.count(:other)).to eq(batch.other)
      expect(read.grep(RouterMetrics::Request)).to eq(batch.requests)
      expect(batch.headers).to include("Logplex-Msg-Count" => "50", "Content-Type" => "application/logplex-1")
    end
    expect(batches.map(&:frame_id).uniq.size).to eq(20)
    expect(batches.sum(&:malformed)).to be_positive
  end

  it "produces a realistic mix: several apps, statuses, paths, H12 and H13 errors" do
    generator = described_class.new(seed: 2, clock: clock, error_rate: 0.05)
    requests = Array.new(40) { generator.batch(100) }.flat_map(&:requests)
    expect(requests.map(&:app).uniq.sort).to eq(%w[api blog shop])
    expect(requests.map(&:status_class).uniq.sort).to eq(%w[2xx 3xx 4xx 5xx])
    expect(requests.filter_map(&:code).uniq.sort).to eq(%w[H12 H13])
    expect(requests.select { |r| r.code == "H12" }.map(&:service_ms).uniq).to eq([30_000])
    expect(requests.map(&:path).uniq.size).to be >= 8
    expect(requests.count { |r| r.status_class == "2xx" }).to be > requests.size / 2
  end

  it "repeats itself for a seed" do
    a = described_class.new(seed: 9, clock: clock).batch(30)
    b = described_class.new(seed: 9, clock: clock).batch(30)
    expect(a.lines.map { |l| l.sub(/\A\S+ \S+/, "") }).to eq(b.lines.map { |l| l.sub(/\A\S+ \S+/, "") })
  end
end
