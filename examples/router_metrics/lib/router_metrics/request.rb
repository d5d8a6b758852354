# frozen_string_literal: true

module RouterMetrics
  # One request as the metrics count it: the app, the minute it was logged in (UTC), and what
  # the router said about it. Built from a router line (`Request.from_syslog`) by the metrics
  # consumer, and by the load generator from what it wrote (the reference's input).
  Request = Struct.new(:app, :time, :status, :service_ms, :path, :code, keyword_init: true) do
    # @return [String] "2024-05-01T12:34Z"
    def minute
      RouterMetrics.minute(time)
    end

    # @return [String, nil] see {RouterLine#status_class}
    def status_class
      RouterLine.new(status: status).status_class
    end
  end

  # @param time [Time]
  # @return [String] the UTC minute of `time`, as "2024-05-01T12:34Z"
  def self.minute(time)
    time.getutc.strftime("%Y-%m-%dT%H:%MZ")
  end

  class Request
    # Reads a syslog message (the value of a message on the `router` topic).
    #
    # @param value [String]
    # @return [Request, Symbol] the request, or `:other` for a log line that is not the router's
    #   (an app's own output), or `:unreadable` for a malformed syslog message or router line
    def self.from_syslog(value)
      frame = Logplex.parse_message(value)
      return :unreadable unless frame.is_a?(Logplex::Frame)
      return :other unless frame.router?

      line = RouterLine.parse(frame.message)
      return :unreadable if line.nil? || frame.timestamp.nil?

      new(app: frame.app, time: frame.timestamp, status: line.status, service_ms: line.service_ms,
          path: line.route, code: line.code)
    end
  end
end
