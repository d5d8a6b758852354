# frozen_string_literal: true

require_relative "support"

RSpec.describe RouterMetrics::Logplex do
  let(:router) do
    "<158>1 2012-11-30T06:45:26.123456+00:00 shop heroku router - at=info method=GET path=\"/\" " \
      "host=shop.example.com status=200 service=23ms"
  end
  let(:app_line) { "<190>1 2012-11-30T06:45:29+01:00 shop app web.3 - State changed from starting to up" }

  it "reads octet-counted frames with their RFC 5424 headers" do
    body = "#{router.bytesize + 1} #{router}\n#{app_line.bytesize + 1} #{app_line}\n"
    batch = described_class.parse(body)

    expect(batch.malformed).to eq([])
    expect(batch.count).to eq(2)
    first, second = batch.frames
    expect(first).to have_attributes(priority: 158, version: 1, hostname: "shop", app_name: "heroku",
                                     procid: "router", msgid: "-", raw: router, app: "shop")
    expect(first.timestamp).to eq(Time.utc(2012, 11, 30, 6, 45, Rational(26_123_456, 1_000_000)))
    expect(first.message).to start_with("at=info method=GET")
    expect(first).to be_router
    expect(second).to have_attributes(app_name: "app", procid: "web.3", message: "State changed from starting to up")
    expect(second.timestamp).to eq(Time.utc(2012, 11, 30, 5, 45, 29))
    expect(second).not_to be_router
  end

  it "counts the length in bytes, not characters" do
    line = "<158>1 2024-01-01T00:00:00Z shop app web.1 - caf\u00e9 \u2713"
    batch = described_class.parse(described_class.frame([line, line]))
    expect(batch.malformed).to eq([])
    expect(batch.frames.map(&:message)).to eq(["caf\u00e9 \u2713"] * 2)
    expect(batch.frames.first.message.encoding).to eq(Encoding::UTF_8)
  end

  it "skips a frame with a bad header and keeps the rest of the batch" do
    bad = "<158>1 2024-01-01T00:00:00Z only-two-fields here"
    body = described_class.frame([router, bad, "<999>1 2024-01-01T00:00:00Z a b c d x", router])
    batch = described_class.parse(body)
    expect(batch.frames.size).to eq(2)
    expect(batch.malformed.map(&:reason)).to eq(["bad syslog header", "priority 999 out of range"])
    expect(batch.malformed.first.excerpt).to include("only-two-fields")
    expect(batch.count).to eq(4)
  end

  it "rejects timestamps that are not RFC 3339 and accepts the nil value" do
    bad = described_class.parse_message("<158>1 yesterday shop heroku router - at=info")
    expect(bad).to eq("bad timestamp")
    invalid_date = described_class.parse_message("<158>1 2024-13-45T00:00:00Z shop heroku router - at=info")
    expect(invalid_date).to eq("bad timestamp")
    nil_time = described_class.parse_message("<158>1 - shop heroku router - at=info")
    expect(nil_time.timestamp).to be_nil
  end

  it "resynchronises after the next newline when a length prefix is broken" do
    good = described_class.frame([router])
    body = "#{good}x12 <158>1 garbage\n#{good}#{good}"
    batch = described_class.parse(body)
    expect(batch.frames.size).to eq(3)
    expect(batch.malformed.map(&:reason)).to eq(["bad length prefix"])
    expect(batch.malformed.first.position).to eq(good.bytesize)
  end

  it "reports a frame longer than the body and does not read past it" do
    cut = "<158>1 2024-01-01T00:00:00Z shop heroku router - cut\n"
    batch = described_class.parse("#{described_class.frame([router])}500 #{cut}")
    expect(batch.frames.size).to eq(1)
    expect(batch.malformed.map(&:reason)).to eq(["frame of 500 bytes exceeds the body (#{cut.bytesize} left)"])
  end

  it "treats a wrong count that lands inside a frame as one malformed frame plus a resync" do
    body = "#{router.bytesize - 10} #{router}\n#{described_class.frame([router])}"
    batch = described_class.parse(body)
    # The short count ends mid-line: the first frame is read shortened (its header is fine), the
    # tail of the line is not a frame (resync at its newline), and the last frame is intact.
    expect(batch.frames.size).to eq(2)
    expect(batch.frames.first.message).not_to end_with("service=23ms")
    expect(batch.malformed.map(&:reason)).to eq(["bad length prefix"])
  end

  it "tolerates newlines between frames and ignores an empty body" do
    body = "#{described_class.frame([router])}\n\n#{described_class.frame([router])}"
    expect(described_class.parse(body).frames.size).to eq(2)
    expect(described_class.parse("").count).to eq(0)
  end

  it "never raises on arbitrary bytes" do
    random = Random.new(7)
    500.times do
      body = random.bytes(random.rand(200))
      batch = described_class.parse(body)
      expect(batch.frames.size + batch.malformed.size).to be <= body.bytesize
    end
  end

  it "writes what it reads" do
    lines = [router, app_line]
    expect(described_class.parse(described_class.frame(lines)).frames.map(&:raw)).to eq(lines)
  end
end
