# frozen_string_literal: true

module RouterMetrics
  # One line of the platform's HTTP router, parsed:
  #
  #   at=info method=GET path="/" host=shop.example.com request_id=4b1c... fwd="203.0.113.9"
  #     dyno=web.1 connect=1ms service=23ms status=200 bytes=1234 protocol=https
  #   at=error code=H12 desc="Request timeout" method=GET path="/slow" host=... dyno=web.2
  #     connect=0ms service=30000ms status=503 bytes=0 protocol=https
  #
  # Values are `key=value` or `key="quoted value"` (a backslash escapes the next character).
  # Durations ("23ms") and numbers become Integers; unknown keys are kept in `fields`.
  RouterLine = Struct.new(:at, :code, :desc, :method, :path, :host, :request_id, :fwd, :dyno,
                          :connect_ms, :service_ms, :status, :bytes, :protocol, :fields, keyword_init: true) do
    # @return [Boolean] an `at=error` line (a platform error code such as H12 or H13)
    def error?
      at == "error"
    end

    # @return [String, nil] "2xx", "3xx", "4xx", "5xx" (or "1xx"), "other" for a status outside
    #   100-599, nil without a status
    def status_class
      return nil if status.nil?
      return "other" unless (100..599).cover?(status)

      "#{status / 100}xx"
    end

    # @return [String, nil] the path without its query string (what "top paths" counts)
    def route
      return nil if path.nil?

      path.split("?", 2).first
    end
  end

  class RouterLine
    PAIR = /\G\s*([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?=\s|\z)/
    DURATION = /\A(\d+)ms\z/
    INTEGER = /\A\d+\z/
    KNOWN = %w[at code desc method path host request_id fwd dyno connect service status bytes protocol].freeze

    # @param line [String] the MSG part of a router syslog frame
    # @return [RouterLine, nil] nil when the line is not a router line (no leading `at=` or
    #   neither a status nor an error code) or its key=value pairs cannot be read
    def self.parse(line)
      line = line.scrub unless line.valid_encoding?
      return nil unless line.start_with?("at=")

      pairs = {}
      pos = 0
      while pos < line.size
        match = PAIR.match(line, pos)
        if match.nil?
          break if line[pos..].strip.empty?

          return nil
        end
        pairs[match[1]] = unquote(match[2])
        pos = match.end(0)
      end

      line = new(
        at: pairs["at"], code: pairs["code"], desc: pairs["desc"], method: pairs["method"], path: pairs["path"],
        host: pairs["host"], request_id: pairs["request_id"], fwd: pairs["fwd"], dyno: pairs["dyno"],
        connect_ms: duration(pairs["connect"]), service_ms: duration(pairs["service"]),
        status: integer(pairs["status"]), bytes: integer(pairs["bytes"]), protocol: pairs["protocol"],
        fields: pairs.reject { |k, _| KNOWN.include?(k) }
      )
      return nil if line.status.nil? && line.code.nil?

      line
    end

    def self.unquote(value)
      return value unless value.start_with?('"')

      value[1..-2].gsub(/\\(.)/, '\1')
    end

    def self.duration(value)
      match = DURATION.match(value.to_s)
      match && Integer(match[1], 10)
    end

    def self.integer(value)
      INTEGER.match?(value.to_s) ? Integer(value, 10) : nil
    end
    private_class_method :unquote, :duration, :integer
  end
end
