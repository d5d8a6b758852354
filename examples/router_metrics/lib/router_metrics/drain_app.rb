# frozen_string_literal: true

require "json"
require "logger"
require "rack/utils"
require "sinatra/base"
require "kafka_rs"
require "kafka_rs/cli/client_settings"
require_relative "../router_metrics"
require_relative "drain"
require_relative "recent_ids"

module RouterMetrics
  # The HTTP endpoint a hosting platform's HTTPS log drain POSTs to (`POST /logs`,
  # `Content-Type: application/logplex-1`, headers `Logplex-Msg-Count` and `Logplex-Frame-Id`).
  # Answers 202 once the batch's lines are queued on the producer, 202 for a batch already
  # taken (nothing produced), 401 without the shared secret when one is set, 413 for a body over
  # `MAX_BODY` bytes, 415 for another content type, 503 (Retry-After) when the producer's queue
  # is full. `GET /stats`: this process's counters; `GET /health`: "ok".
  #
  # Settings, from the environment when the app is loaded:
  #
  # - `ROUTER_TOPIC` (default "router")
  # - `DRAIN_SECRET`: when set, the drain URL must carry it as the password of its userinfo
  #   (`https://drain:SECRET@host/logs`, which the platform sends as HTTP Basic auth)
  # - `DRAIN_REDIS_URL`: remember frame ids in Redis (needed with several Puma workers); else
  #   in each process's memory
  # - brokers: `KAFKA_BROKERS`, else `KAFKA_URL` with its certificate variables (`kafka+ssl://`
  #   for TLS), else localhost:9092 (see {KafkaRs::CLI::ClientSettings} and KafkaRs::Configuration)
  # - `LOG_LEVEL` (default "info")
  class DrainApp < Sinatra::Base
    MAX_BODY = 4 * 1024 * 1024
    CONTENT_TYPE = "application/logplex-1"

    # The shared producer's settings: a queue deep enough for bursts of batches, retries
    # through a broker's restart.
    PRODUCER = { delivery_interval: 0.02, max_queue_size: 200_000, max_buffer_size: 2000, max_retries: 10,
                 retry_backoff: 0.5 }.freeze

    # The app's kafka_rs settings (what a Rails app puts in config/kafka_rs.yml and an
    # initializer): the brokers as the `kafka_rs` command finds them, without a config file.
    def self.configure_kafka(logger, env = ENV)
      settings = KafkaRs::CLI::ClientSettings.new(config_file: false, env: env)
      KafkaRs.configure do |c|
        settings.apply_overrides(c)
        c.client_id = "router-drain"
        c.logger = logger
        c.producer = PRODUCER
      end
    end

    # The process's producer: the app's shared one, KafkaRs.producer (built anew in each forked
    # Puma worker).
    def self.build_producer
      KafkaRs.producer
    end

    def self.build_drain(env = ENV)
      logger = Logger.new($stderr, progname: "router-drain", level: env.fetch("LOG_LEVEL", "info"))
      configure_kafka(logger, env)
      recent_ids = if env["DRAIN_REDIS_URL"].to_s.empty?
                     RecentIds.new
                   else
                     require "redis"
                     RedisRecentIds.new(Redis.new(url: env["DRAIN_REDIS_URL"]))
                   end
      Drain.new(topic: env.fetch("ROUTER_TOPIC", "router"), recent_ids: recent_ids, logger: logger,
                producer_factory: -> { build_producer })
    end

    configure do
      set :drain, build_drain
      set :secret, ENV["DRAIN_SECRET"].to_s.empty? ? nil : ENV["DRAIN_SECRET"]
      # A machine-to-machine endpoint: no cookies, sessions or browsers to protect.
      set :protection, false
      set :show_exceptions, false
      set :raise_errors, false
      set :logging, false
    end

    helpers do
      def drain
        settings.drain
      end

      def authorize!
        return unless settings.secret

        auth = Rack::Auth::Basic::Request.new(request.env)
        given = auth.provided? && auth.basic? ? auth.credentials.last.to_s : ""
        return if Rack::Utils.secure_compare(given, settings.secret)

        headers "WWW-Authenticate" => 'Basic realm="drain"'
        halt 401, "unauthorized\n"
      end
    end

    post "/logs" do
      authorize!
      type = request.media_type
      halt 415, "expected #{CONTENT_TYPE}\n" unless type.nil? || type == CONTENT_TYPE

      body = request.body.read(MAX_BODY + 1).to_s
      halt 413, "body over #{MAX_BODY} bytes\n" if body.bytesize > MAX_BODY

      outcome = drain.accept(body, frame_id: request.env["HTTP_LOGPLEX_FRAME_ID"],
                                   msg_count: request.env["HTTP_LOGPLEX_MSG_COUNT"])
      if outcome.status == :overloaded
        headers "Retry-After" => "1"
        halt 503, "overloaded\n"
      end
      status 202
      ""
    end

    get "/stats" do
      content_type :json
      JSON.generate(drain.stats)
    end

    get "/health" do
      "ok\n"
    end

    error do
      error = env["sinatra.error"]
      drain.logger.error("drain: #{error.class}: #{error.message}")
      halt 500, "error\n"
    end
  end
end
