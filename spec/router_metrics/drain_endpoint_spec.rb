# frozen_string_literal: true

require_relative "support"
require_relative "../integration/support"
require_relative "../support/puma_server"
require_relative "../support/redis_server"

# The drain endpoint under Puma, producing to the real broker: what it puts on the topic is
# read back after Puma stopped (its producers deliver everything queued on the way out).
RSpec.describe "router_metrics drain endpoint (Puma, real broker)" do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  let(:topic) { new_topic(kafka, partitions: 3) }
  let(:rackup) { File.expand_path("../../examples/router_metrics/config.ru", __dir__) }
  let(:generator) do
    RouterMetrics::LoadGenerator.new(apps: %w[shop api blog], seed: 21, malformed_rate: 0.05)
  end

  after do
    @puma&.cleanup
    drop_topics(kafka)
    kafka.close
  end

  def env(extra = {})
    { "KAFKA_BROKERS" => IntegrationHelpers::BROKER, "ROUTER_TOPIC" => topic, "LOG_LEVEL" => "warn" }.merge(extra)
  end

  def post(url, body, headers = {})
    uri = URI(url)
    request = Net::HTTP::Post.new(uri.request_uri, { "Content-Type" => "application/logplex-1" }.merge(headers))
    request.basic_auth(uri.user, uri.password) if uri.password
    request.body = body
    Net::HTTP.start(uri.host, uri.port) { |http| http.request(request) }
  end

  it "produces every well-formed line once, keyed by app; skips malformed frames and repeated frame ids" do
    @puma = PumaServer.start(rackup, env: env("DRAIN_SECRET" => "s3cret"))
    drain = @puma.url("/logs").sub("http://", "http://drain:s3cret@")
    batches = Array.new(10) { generator.batch(30) }

    expect(post(@puma.url("/logs"), batches[0].body, batches[0].headers).code).to eq("401")
    expect(post(@puma.url("/logs").sub("http://", "http://drain:wrong@"), batches[0].body, batches[0].headers).code)
      .to eq("401")
    expect(post(drain, batches[0].body, batches[0].headers.merge("Content-Type" => "text/plain")).code).to eq("415")

    client = RouterMetrics::DrainClient.new(drain)
    expect(batches.map { |b| client.post(b) }).to all(eq(202))
    expect(client.post(batches[3])).to eq(202) # the platform's retry of a batch we took
    garbage = post(drain, "this is not a logplex body\n", "Logplex-Frame-Id" => "garbage-1", "Logplex-Msg-Count" => "1")
    expect(garbage.code).to eq("202")

    stats = JSON.parse(@puma.get("/stats").body)
    lines = batches.flat_map(&:lines)
    malformed = batches.sum(&:malformed)
    expect(malformed).to be_positive
    expect(stats).to include("batches" => 12, "duplicate_batches" => 1, "produced" => lines.size,
                             "malformed" => malformed + 1, "count_mismatches" => 0, "overloaded_batches" => 0)
    client.close
    @puma.stop

    messages = read_messages(kafka, topic)
    expect(messages.map(&:value).sort).to eq(lines.sort)
    messages.each { |m| expect(m.key).to eq(RouterMetrics::Logplex.parse_message(m.value).hostname) }
    by_app = messages.group_by(&:key)
    expect(by_app.keys.sort).to eq(%w[api blog shop])
    by_app.each do |app, ms|
      expect(ms.map(&:partition).uniq.size).to eq(1)
      # One process, batches posted one after the other: each app's lines keep their order.
      expect(ms.sort_by(&:offset).map(&:value)).to eq(lines.select { |l| l.split(" ", 4)[2] == app })
    end
  end

  it "with several Puma workers, builds a producer per worker and takes a repeated frame id once (ids in Redis)" do
    redis_server = RedisServer.start
    @puma = PumaServer.start(rackup, env: env("DRAIN_REDIS_URL" => redis_server.url), workers: 2)
    batches = Array.new(12) { generator.batch(20) }
    # Each batch twice, each POST on a connection of its own so the worker varies.
    statuses = (batches + batches).map { |b| RouterMetrics::DrainClient.new(@puma.url("/logs")).post(b) }
    expect(statuses).to all(eq(202))
    @puma.stop

    expect(read_messages(kafka, topic).map(&:value).sort).to eq(batches.flat_map(&:lines).sort)
  ensure
    redis_server&.stop
  end

  it "answers 413 for a body over the limit, stays up after bad input, and notes a wrong Logplex-Msg-Count" do
    @puma = PumaServer.start(rackup, env: env)
    big = "x" * ((4 * 1024 * 1024) + 1) # DrainApp::MAX_BODY + 1
    expect(post(@puma.url("/logs"), big).code).to eq("413")
    expect(post(@puma.url("/logs"), "\xFF\x00\n123456789 <".b).code).to eq("202")
    batch = generator.batch(5)
    expect(post(@puma.url("/logs"), batch.body, batch.headers.merge("Logplex-Msg-Count" => "6")).code).to eq("202")
    expect(JSON.parse(@puma.get("/stats").body)).to include("produced" => batch.lines.size, "count_mismatches" => 1)
    expect(@puma.log_output).to include("Logplex-Msg-Count says 6, the body has 5 frames")
  end
end
