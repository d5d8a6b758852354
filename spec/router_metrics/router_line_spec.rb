# frozen_string_literal: true

require_relative "support"

RSpec.describe RouterMetrics::RouterLine do
  it "reads an info line" do
    line = described_class.parse(
      'at=info method=GET path="/items/42?ref=home" host=shop.example.com request_id=8601b555-6a7b ' \
      'fwd="203.0.113.9, 10.0.0.1" dyno=web.1 connect=1ms service=23ms status=200 bytes=1234 protocol=https'
    )
    expect(line).to have_attributes(at: "info", method: "GET", path: "/items/42?ref=home", route: "/items/42",
                                    host: "shop.example.com", request_id: "8601b555-6a7b",
                                    fwd: "203.0.113.9, 10.0.0.1", dyno: "web.1", connect_ms: 1, service_ms: 23,
                                    status: 200, bytes: 1234, protocol: "https", code: nil, status_class: "2xx",
                                    fields: {})
    expect(line).not_to be_error
  end

  it "reads an error line with its code and description" do
    line = described_class.parse(
      'at=error code=H12 desc="Request timeout" method=GET path="/slow" host=shop.example.com ' \
      'request_id=x fwd="1.2.3.4" dyno=web.2 connect=0ms service=30000ms status=503 bytes=0 protocol=https'
    )
    expect(line).to have_attributes(at: "error", code: "H12", desc: "Request timeout", service_ms: 30_000,
                                    status: 503, status_class: "5xx")
    expect(line).to be_error
  end

  it "keeps unknown keys, unquoted paths and escaped quotes" do
    line = described_class.parse('at=error code=H13 desc="Connection \"closed\"" sock=client path=/ status=503')
    expect(line.desc).to eq('Connection "closed"')
    expect(line.path).to eq("/")
    expect(line.fields).to eq("sock" => "client")
  end

  it "leaves out durations and numbers it cannot read" do
    line = described_class.parse("at=info method=GET path=/ service=fast connect= status=200 bytes=-1")
    expect(line).to have_attributes(service_ms: nil, connect_ms: nil, status: 200, bytes: nil)
  end

  it "classifies statuses" do
    expect([101, 204, 301, 404, 503, 999].map { |s| described_class.new(status: s).status_class })
      .to eq(%w[1xx 2xx 3xx 4xx 5xx other])
  end

  it "returns nil for lines that are not router lines" do
    expect(described_class.parse("State changed from starting to up")).to be_nil
    expect(described_class.parse("at=info method=GET path=/")).to be_nil # neither status nor code
    expect(described_class.parse('at=info path="/unterminated status=200')).to be_nil
    expect(described_class.parse("at=info status=200 trailing-garbage")).to be_nil
  end

  it "reads a line with invalid UTF-8 (replaced)" do
    line = described_class.parse("at=info path=\"/caf\xFF\" status=200".b.force_encoding("UTF-8"))
    expect(line).to have_attributes(status: 200, path: "/caf\uFFFD")
  end
end
