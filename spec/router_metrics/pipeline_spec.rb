# frozen_string_literal: true

require_relative "support"
require_relative "../integration/process_support"
require_relative "../support/puma_server"
require_relative "../support/redis_server"
require "router_metrics/metrics_store"
require "rbconfig"
require "tmpdir"

# The whole pipeline at small scale: load generator -> drain endpoint (Puma) -> router topic ->
# two `kafka_rs consume` metrics workers (one SIGKILLed midway) and a replay worker -> Redis,
# checked against the plain Ruby reference.
RSpec.describe "router_metrics pipeline (Puma, real broker, Redis, two workers)" do
  include IntegrationHelpers

  KAFKA_RS = File.expand_path("../../exe/kafka_rs", __dir__)
  EXAMPLE_LIB = File.expand_path("../../examples/router_metrics/lib", __dir__)
  RACKUP = File.expand_path("../../examples/router_metrics/config.ru", __dir__)

  let(:kafka) { IntegrationHelpers.client }

  after do
    @workers&.each_value { |pid| ProcessHelpers.stop_process(pid, "KILL") }
    @puma&.cleanup
    @redis_server&.stop
    drop_topics(kafka)
    kafka.close
    FileUtils.rm_rf(@logs) if @logs && ENV["KEEP_LOGS"].nil?
  end

  # The partitions of the worker's latest "assigned" log line.
  def last_assignment(log, topic)
    line = File.readlines(log).grep(/ assigned #{Regexp.escape(topic)} /).last
    line && line[/\[([\d, ]*)\]$/, 1].split(",").map(&:to_i)
  end

  def start_worker(name, consumer_class, topic, group, namespace)
    log = File.join(@logs, "#{name}.log")
    env = { "KAFKA_BROKERS" => IntegrationHelpers::BROKER, "KAFKA_URL" => nil, "REDIS_URL" => @redis_server.url,
            "ROUTER_TOPIC" => topic, "METRICS_GROUP" => group, "METRICS_NAMESPACE" => namespace,
            "REPLAY_GROUP" => "#{group}-replay", "REPLAY_NAMESPACE" => "#{namespace}-replay", "SESSION_TIMEOUT" => "6" }
    pid = Process.spawn(env, RbConfig.ruby, "-I", File.expand_path("../../lib", __dir__), KAFKA_RS, "consume",
                        "-I", EXAMPLE_LIB, "-r", "router_metrics/consumers", consumer_class, out: log, err: log)
    [pid, log]
  end

  it "aggregates every accepted request exactly once although a worker is killed midway" do
    @logs = Dir.mktmpdir("pipeline-spec-")
    @redis_server = RedisServer.start
    topic = new_topic(kafka, partitions: 4)
    group = "metrics-#{SecureRandom.hex(4)}"
    namespace = "pipeline-#{SecureRandom.hex(4)}"
    store = RouterMetrics::MetricsStore.new(@redis_server.client, namespace: namespace)
    @puma = PumaServer.start(RACKUP, env: { "KAFKA_BROKERS" => IntegrationHelpers::BROKER, "ROUTER_TOPIC" => topic,
                                            "LOG_LEVEL" => "error" })

    @workers = {}
    logs = {}
    %w[worker-a worker-b].each do |name|
      @workers[name], logs[name] = start_worker(name, "RouterMetrics::MetricsConsumer", topic, group, namespace)
    end
    @workers["replay"], logs["replay"] = start_worker("replay", "RouterMetrics::ReplayConsumer", topic, group, namespace)
    replay = RouterMetrics::MetricsStore.new(@redis_server.client, namespace: "#{namespace}-replay")
    wait_for("both workers in the group", timeout: 60) do
      description = kafka.describe_group(group)
      description.state == "Stable" && description.members.size == 2
    end

    # Keyed by app (crc32 % 4): shop 2, api 3, mail 0, www 1, status 0, auth 1: every partition.
    apps = %w[shop api mail www status auth]
    generator = RouterMetrics::LoadGenerator.new(apps: apps, seed: 77, error_rate: 0.05, malformed_rate: 0.02)
    runner = RouterMetrics::LoadRunner.new(client: RouterMetrics::DrainClient.new(@puma.url("/logs")),
                                           generator: generator, rate: 4000, batch_size: 40)
    first = runner.run(batches: 15)
    # Once worker-a has counted some of its partitions' lines, kill it: no commit, no leave.
    owned = wait_for("worker-a's assignment", timeout: 60) { last_assignment(logs["worker-a"], topic) }
    expect(owned.size).to eq(2)
    wait_for("worker-a to count", timeout: 60) { owned.any? { |p| store.high_water_mark(topic, p).to_i.positive? } }
    ProcessHelpers.stop_process(@workers.delete("worker-a"), "KILL")
    second = runner.run(batches: 15)

    produced = first.lines + second.lines
    expect(first.rejected + second.rejected).to eq(0)
    # worker-b takes over worker-a's partitions after the session timeout and catches up.
    wait_for("all #{produced} lines counted", timeout: 90) { store.counters["messages"] == produced }
    expect(JSON.parse(@puma.get("/stats").body)).to include("produced" => produced,
                                                            "malformed" => first.malformed + second.malformed)

    requests = runner.accepted_requests
    expect(requests.size).to eq(first.requests + second.requests)
    stored = store.apps.flat_map { |app| store.minutes(app).map { |m| [[app, m], store.counts(app, m)] } }.to_h
    expect(stored).to eq(RouterMetrics::Reference.counts(requests))
    expect(store.counters).to include("requests" => requests.size, "other" => first.other + second.other)
    expect(store.counters).not_to have_key("unreadable")
    apps.each do |app|
      expect(store.summary(app)).to eq(RouterMetrics::Reference.summary(requests, app)
                                         .except(:exact_p50, :exact_p95, :exact_p99))
    end
    marks = store.high_water_marks
    expect(marks.keys.sort).to eq((0..3).map { |p| "#{topic}/#{p}" })
    expect(marks.values.sum).to eq(produced)
    expect(last_assignment(logs["worker-b"], topic)).to eq([0, 1, 2, 3])

    # The replay group read the same stream on its own: every line once.
    wait_for("the replay group to count all #{produced} lines", timeout: 60) { replay.counters["messages"] == produced }
    expect(replay.counters).to include("requests" => requests.size)

    ProcessHelpers.stop_process(@workers.delete("worker-b"), "TERM")
    expect(File.read(logs["worker-b"])).to include("TERM: stopping", "stopped (clean)")
    expect(kafka.fetch_group_offsets(group).fetch(topic).values.sum(&:offset)).to eq(produced)
  end
end
