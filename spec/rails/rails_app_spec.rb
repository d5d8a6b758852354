# frozen_string_literal: true

require_relative "support"
require_relative "../support/free_port"
require "fileutils"
require "net/http"
require "json"

# A real Rails app (spec/rails/app: Debian's railties and actionpack, Bundler resolving them
# locally, `gem "kafka_rs", path: ...` in its Gemfile), configured by `rails generate
# kafka_rs:install`, served by Debian's Puma, producing order events keyed by user id through
# KafkaRs.producer; the events are read back from the broker. The app's own tests use
# KafkaRs::Testing. The app's topics are named by KAFKA_PREFIX, one prefix per server run.
RSpec.describe "a Rails app using kafka_rs", :integration do
  include IntegrationHelpers
  include ProcessHelpers
  include RailsLayerHelpers

  APP_TEMPLATE = File.expand_path("app", __dir__)
  KAFKA_RS_ROOT = File.expand_path("../..", __dir__)
  USERS = 8
  ORDERS_PER_USER = 20

  before(:all) do
    @app = Dir.mktmpdir("kafka_rs-shop-")
    FileUtils.cp_r("#{APP_TEMPLATE}/.", @app)
    @generated = run_app(%w[bin/rails generate kafka_rs:install])
  end

  after(:all) { FileUtils.rm_rf(@app) if @app }

  let(:kafka) { IntegrationHelpers.client }
  after { drop_topics(kafka); kafka.close }

  def app_env(extra = {})
    { "KAFKA_RS_ROOT" => KAFKA_RS_ROOT, "BUNDLE_GEMFILE" => File.join(@app, "Gemfile"), "RUBYOPT" => nil,
      "SECRET_KEY_BASE" => "s" * 64, "KAFKA_URL" => "kafka://#{IntegrationHelpers::BROKER}" }.merge(extra)
  end

  # Runs `ruby *args` in the app; returns [status, stdout + stderr].
  def run_app(args, env: {}, timeout: 60)
    out_r, out_w = IO.pipe
    pid = Process.spawn(app_env(env), RbConfig.ruby, *args, chdir: @app, out: out_w, err: out_w)
    out_w.close
    reader = Thread.new { out_r.read }
    status = wait_child(pid, timeout: timeout)
    [status, reader.value]
  ensure
    out_r&.close
  end

  # Starts Puma from Debian (cluster mode when workers > 0, preload_app!), yields its port once it
  # answers, stops it with TERM and returns its status and log.
  def with_puma(prefix:, workers:)
    port = FreePort.pick
    log = File.join(@app, "puma-#{port}.log")
    env = app_env("PORT" => port.to_s, "WEB_CONCURRENCY" => workers.to_s, "RAILS_ENV" => "production",
                  "KAFKA_PREFIX" => prefix, "SHOP_BOOT_EVENT" => "1", "RAILS_LOG_TO_STDOUT" => "1")
    pid = Process.spawn(env, RbConfig.ruby, Gem.bin_path("puma", "puma"), "-C", "config/puma.rb",
                        chdir: @app, out: log, err: log)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
    begin
      Net::HTTP.get_response(URI("http://127.0.0.1:#{port}/up"))
    rescue SystemCallError
      raise "Puma did not start:\n#{File.read(log)}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline ||
                                                        Process.wait(pid, Process::WNOHANG)

      sleep 0.1
      retry
    end
    yield port, pid
    Process.kill(:TERM, pid)
    status = wait_child(pid, timeout: 60)
    pid = nil
    [status, File.read(log)]
  ensure
    if pid
      Process.kill(:KILL, pid)
      Process.wait(pid)
    end
  end

  # USERS threads, one per user, each posting ORDERS_PER_USER orders in sequence (waiting for each
  # answer). Returns the pids that served them.
  def post_orders(port, users: USERS, orders: ORDERS_PER_USER, first_seq: 1)
    pids = Queue.new
    Array.new(users) do |u|
      Thread.new do
        Net::HTTP.start("127.0.0.1", port) do |http|
          orders.times do |i|
            # A fresh connection per request, so that either worker may take it.
            http.finish if http.started?
            http.start
            response = http.post("/orders", URI.encode_www_form(user_id: "user-#{u}", seq: first_seq + i),
                                 "Content-Type" => "application/x-www-form-urlencoded")
            raise "POST /orders: #{response.code} #{response.body}" unless response.code == "202"

            pids << JSON.parse(response.body).fetch("pid")
          end
        end
      end
    end.each(&:join)
    Array.new(pids.size) { pids.pop }
  end

  def create_app_topics(prefix)
    kafka.create_topic("#{prefix}orders", num_partitions: 4)
    kafka.create_topic("#{prefix}boot", num_partitions: 1)
    (@created_topics ||= []).push("#{prefix}orders", "#{prefix}boot")
  end

  it "is configured by `rails generate kafka_rs:install`: every setting commented with its default, next steps" do
    status, out = @generated
    expect(status&.success?).to be(true), out
    expect(out).to include("create  config/initializers/kafka_rs.rb", "create  config/kafka_rs.yml", "kafka_rs is installed. Next:")
    initializer = File.read(File.join(@app, "config/initializers/kafka_rs.rb"))
    yaml = File.read(File.join(@app, "config/kafka_rs.yml"))
    (KafkaRs::Configuration::CLIENT_SETTINGS + %i[pool_size pool_timeout prefix]).each do |name|
      expect(initializer).to match(/^  # config\.#{name} = /)
    end
    { producer: KafkaRs::Configuration::PRODUCER_SETTINGS, buffered_producer: KafkaRs::Configuration::BUFFERED_PRODUCER_SETTINGS,
      consumer: KafkaRs::Configuration::CONSUMER_SETTINGS }.each do |group, names|
      expect(initializer).to include("  # config.#{group} = {")
      expect(yaml).to include("  # #{group}:")
      names.each { |name| expect(initializer).to match(/^  #   #{name}: /) }
    end
    expect(initializer).to include("  #   linger_ms: 5,", "  # config.connect_timeout = 10", "  #   required_acks: :all,")
    expect(yaml).to include("default: &default\n  client_id: shop\n", "production:\n  <<: *default\n")

    # Booted with those files: the Railtie read the YAML (client_id), ActiveSupport carries the
    # events, the generated initializer (all comments) leaves KAFKA_URL in charge.
    status, out = run_app(["bin/rails", "runner",
                           "p [KafkaRs.config.client_id, KafkaRs.config.client_options[:seed_brokers], " \
                           "KafkaRs::Instrumenter.backend, KafkaRs::LogSubscriber.logger.equal?(Rails.logger)]"])
    expect(status&.success?).to be(true), out
    expect(out).to include(%(["shop", "kafka://#{IntegrationHelpers::BROKER}", ActiveSupport::Notifications, true]))
  end

  it "tests its producing code with KafkaRs::Testing (its own test suite, no broker)" do
    status, out = run_app(%w[bin/rails test], env: { "KAFKA_URL" => "kafka://127.0.0.1:1" })
    expect(status&.success?).to be(true), out
    expect(out).to include("3 runs, ", "0 failures, 0 errors")
  end

  it "serves orders with Puma: each event once, a user's events on one partition and in order" do
    prefix = "shop#{SecureRandom.hex(3)}."
    create_app_topics(prefix)
    served_by = nil
    status, log = with_puma(prefix: prefix, workers: 0) { |port| served_by = post_orders(port) }
    expect(status).not_to be_nil, "Puma did not stop:\n#{log}"
    expect(served_by.size).to eq(USERS * ORDERS_PER_USER)

    events = read_messages(kafka, "#{prefix}orders")
    expect(events.map { |m| JSON.parse(m.value).values_at("user_id", "seq") }.tally.values.uniq).to eq([1])
    expect(events.size).to eq(USERS * ORDERS_PER_USER)
    events.group_by(&:key).each do |user, messages|
      expect(messages.map(&:partition).uniq.size).to eq(1), "#{user} spread over partitions"
      expect(messages.sort_by(&:offset).map { |m| JSON.parse(m.value)["seq"] }).to eq((1..ORDERS_PER_USER).to_a)
    end
    expect(events.map(&:key).uniq.size).to eq(USERS)
    expect(read_messages(kafka, "#{prefix}boot").map(&:value).size).to eq(1)
  end

  it "serves orders with Puma in cluster mode (preload_app!, 2 workers, no hook): every event once, the master's once" do
    prefix = "shop#{SecureRandom.hex(3)}."
    create_app_topics(prefix)
    served_by = []
    master = nil
    status, log = with_puma(prefix: prefix, workers: 2) do |port, pid|
      master = pid
      served_by = post_orders(port)
      # Both workers must have produced; more rounds until they have (requests go to either).
      5.times do |round|
        break if served_by.uniq.size == 2

        served_by += post_orders(port, orders: 5, first_seq: ORDERS_PER_USER + 1 + (round * 5))
      end
    end
    expect(status).not_to be_nil, "Puma did not stop:\n#{log}"
    # Puma's master stops its workers, then ends by re-raising the TERM (raise_exception_on_sigterm).
    expect(status.success? || status.termsig == Signal.list.fetch("TERM")).to be(true), "#{status.inspect}\n#{log}"
    expect(log).to include("Gracefully shutting down workers")
    expect(served_by.uniq.size).to eq(2), "one worker served every request"
    expect(served_by).not_to include(master)

    events = read_messages(kafka, "#{prefix}orders").map { |m| [m.key, m.partition, JSON.parse(m.value)] }
    expect(events.size).to eq(served_by.size)
    expect(events.map { |(_, _, e)| e.values_at("user_id", "seq") }.tally.values.uniq).to eq([1])
    expect(events.group_by { |(_, _, e)| e["pid"] }.transform_values(&:size)).to eq(served_by.tally)
    events.group_by(&:first).each_value { |es| expect(es.map { |(_, p, _)| p }.uniq.size).to eq(1) }
    # The preloading master's event, queued before the fork: sent once, by the master.
    expect(read_messages(kafka, "#{prefix}boot").map(&:value)).to eq(["booted #{master}"])
  end
end
