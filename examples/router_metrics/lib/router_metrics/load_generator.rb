# frozen_string_literal: true

require "time"

module RouterMetrics
  # Makes the batches a hosting platform's log drain would POST: router lines of several apps
  # (weighted paths, a status mix, log-normal service times, some H12 and H13 errors), some of
  # the apps' own log lines, and a few malformed frames. Seeded, so a run can be repeated.
  #
  #   generator = LoadGenerator.new(apps: %w[shop api], seed: 42)
  #   batch = generator.batch(50)
  #   batch.body        # the application/logplex-1 body
  #   batch.requests    # what was written, as Requests (the reference computation's input)
  class LoadGenerator
    DEFAULT_APPS = %w[shop api blog].freeze

    # One POST: its body and headers, and what it holds.
    #
    # - `lines`: every well-formed syslog message, in order (what the endpoint produces)
    # - `requests`: the router lines among them, as {Request}s
    # - `other`: how many of `lines` are app output rather than router lines
    # - `malformed`: how many frames are malformed (the endpoint skips them)
    Batch = Struct.new(:frame_id, :body, :msg_count, :lines, :requests, :other, :malformed, keyword_init: true) do
      def headers
        { "Content-Type" => "application/logplex-1", "Logplex-Msg-Count" => msg_count.to_s,
          "Logplex-Frame-Id" => frame_id }
      end
    end

    PATHS = [
      ["/", 30], ["/login", 6], ["/search?q=shoes", 8], ["/search?q=bags", 4], ["/items/1042", 10],
      ["/items/77", 7], ["/cart", 6], ["/checkout", 3], ["/api/v1/orders", 9], ["/api/v1/orders/19", 5],
      ["/assets/application.js", 8], ["/health", 4]
    ].freeze
    STATUSES = [[200, 800], [304, 50], [301, 15], [302, 15], [404, 60], [401, 10], [403, 10], [500, 25],
                [502, 10], [503, 5]].freeze
    METHODS = [["GET", 85], ["POST", 10], ["PUT", 3], ["DELETE", 2]].freeze
    PLATFORM_ERRORS = {
      "H12" => "Request timeout",
      "H13" => "Connection closed without response"
    }.freeze
    APP_LOG = ['Started GET "/" for 203.0.113.7', "Completed 200 OK in 21ms (Views: 9.1ms | ActiveRecord: 4.2ms)",
               "source=web.1 sample#memory_total=212.45MB", "Processing by ItemsController#show as HTML"].freeze

    attr_reader :apps

    # @param apps [Array<String>] app names (the syslog HOSTNAME of their lines)
    # @param seed [Integer]
    # @param clock [#call] returns the Time of the next line (default: now)
    # @param error_rate [Float] share of router lines that are H12/H13 errors
    # @param other_rate [Float] share of lines that are app output, not router lines
    # @param malformed_rate [Float] share of frames that are malformed
    def initialize(apps: DEFAULT_APPS, seed: Random.new_seed, clock: -> { Time.now }, error_rate: 0.02,
                   other_rate: 0.1, malformed_rate: 0.01)
      raise ArgumentError, "apps must not be empty" if apps.empty?

      @apps = apps.map(&:to_s)
      @random = Random.new(seed)
      @clock = clock
      @error_rate = error_rate
      @other_rate = other_rate
      @malformed_rate = malformed_rate
      # Each app gets its own median service time and its own share of the traffic.
      @profiles = @apps.to_h { |app| [app, { median: 15 + @random.rand(120), weight: 1 + @random.rand(4) }] }
    end

    # @param size [Integer] frames in the batch
    # @return [Batch]
    def batch(size)
      frames = []
      lines = []
      requests = []
      other = 0
      malformed = 0
      size.times do
        if @random.rand < @malformed_rate
          frames << malformed_frame
          malformed += 1
          next
        end

        app = weighted(@profiles.map { |name, p| [name, p[:weight]] })
        time = @clock.call.getutc
        if @random.rand < @other_rate
          line = Logplex.message(time: time, hostname: app, app_name: "app", procid: "web.#{1 + @random.rand(3)}",
                                 priority: 190, text: APP_LOG.sample(random: @random))
          other += 1
        else
          request, text = router_line(app, time)
          requests << request
          line = Logplex.message(time: time, hostname: app, app_name: "heroku", procid: "router", text: text)
        end
        lines << line
        frames << Logplex.frame([line])
      end
      Batch.new(frame_id: hex(32), body: frames.join.b, msg_count: size, lines: lines, requests: requests,
                other: other, malformed: malformed)
    end

    private

    def router_line(app, time)
      method = weighted(METHODS)
      path = weighted(PATHS)
      connect = @random.rand(3)
      request_id = [hex(8), hex(4), hex(4), hex(4), hex(12)].join("-")
      fwd = "203.0.113.#{1 + @random.rand(254)}"
      dyno = "web.#{1 + @random.rand(3)}"
      code = nil
      if @random.rand < @error_rate
        code = @random.rand < 0.6 ? "H12" : "H13"
        status = 503
        service = code == "H12" ? 30_000 : 1 + service_time(app) * 4
        bytes = 0
        prefix = %(at=error code=#{code} desc="#{PLATFORM_ERRORS.fetch(code)}" )
      else
        status = weighted(STATUSES)
        service = status == 304 ? 1 + service_time(app) / 8 : service_time(app)
        bytes = status == 304 ? 0 : 200 + @random.rand(40_000)
        prefix = "at=info "
      end
      text = %(#{prefix}method=#{method} path="#{path}" host=#{app}.example.com request_id=#{request_id} ) +
             %(fwd="#{fwd}" dyno=#{dyno} connect=#{connect}ms service=#{service}ms status=#{status} ) +
             %(bytes=#{bytes} protocol=https)
      request = Request.new(app: app, time: Time.iso8601(time.iso8601(6)).utc, status: status, service_ms: service,
                            path: path.split("?", 2).first, code: code)
      [request, text]
    end

    # Log-normal around the app's median (sigma 0.8: a long tail), in whole milliseconds.
    def service_time(app)
      median = @profiles.fetch(app)[:median]
      u1 = 1.0 - @random.rand
      u2 = @random.rand
      normal = Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math::PI * u2)
      (median * Math.exp(0.8 * normal)).round.clamp(0, 29_999)
    end

    def malformed_frame
      now = @clock.call.getutc.iso8601(6)
      case @random.rand(4)
      when 0 then "x#{@random.rand(99)} <158>1 #{now} host heroku router - at=info\n".b # not a length
      when 1 then Logplex.frame(["<158>1 #{now} truncated"])                          # header fields missing
      when 2 then Logplex.frame(["<158>1 yesterday #{@apps.first} heroku router - at=info status=200"]) # bad time
      else Logplex.frame(["<999>1 #{now} #{@apps.first} heroku router - at=info status=200"])      # bad priority
      end
    end

    def weighted(choices)
      total = choices.sum { |_, w| w }
      pick = @random.rand(total)
      choices.each do |value, weight|
        return value if pick < weight

        pick -= weight
      end
      choices.last.first
    end

    def hex(digits)
      @random.bytes((digits + 1) / 2).unpack1("H*")[0, digits]
    end
  end
end
