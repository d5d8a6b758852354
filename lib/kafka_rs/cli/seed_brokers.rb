# frozen_string_literal: true

module KafkaRs
  module CLI
    # Seed brokers from `--brokers`, `KAFKA_BROKERS` or `KAFKA_URL` (the first one set wins;
    # default 127.0.0.1:9092), each a comma-separated list of `host:port`, `host` (port 9092) or
    # `kafka://host:port` entries; `kafka+ssl://` entries make {#tls?} true, and the caller
    # decides. Only examples/router_metrics/bin/metrics_worker still uses it: the `kafka_rs`
    # commands and worker processes resolve the whole client (brokers, the app's config file,
    # TLS, SASL) with {ClientSettings}. Delete this class with that script.
    class SeedBrokers
      DEFAULT = "127.0.0.1:9092"
      DEFAULT_PORT = 9092
      ENTRY = %r{\A(?:(?<scheme>[a-z][a-z0-9+.-]*)://)?(?<host>\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+)(?::(?<port>\d+))?/?\z}
      PLAIN_SCHEMES = %w[kafka plaintext].freeze
      TLS_SCHEMES = %w[kafka+ssl ssl kafka+tls].freeze

      # @return [Array<String>] "host:port" entries
      attr_reader :brokers
      # @return [String] where they came from: "--brokers", "KAFKA_BROKERS", "KAFKA_URL" or "default"
      attr_reader :source

      # @param flag [String, nil] the value of `--brokers`
      # @param env [Hash] the environment
      # @return [SeedBrokers]
      # @raise [ArgumentError] when an entry cannot be read
      def self.resolve(flag = nil, env: ENV)
        source, value = [["--brokers", flag], ["KAFKA_BROKERS", env["KAFKA_BROKERS"]],
                         ["KAFKA_URL", env["KAFKA_URL"]], ["default", DEFAULT]]
                        .find { |_, v| v && !v.strip.empty? }
        new(value, source)
      end

      def initialize(value, source)
        @source = source
        @tls = false
        @brokers = value.split(",").map(&:strip).reject(&:empty?).map { |entry| parse(entry) }
        raise ArgumentError, "#{source}: no brokers in #{value.inspect}" if @brokers.empty?
      end

      # @return [Boolean] whether the entries ask for TLS (`kafka+ssl://`)
      def tls?
        @tls
      end

      def to_s
        "#{@brokers.join(',')} (from #{@source})"
      end

      private

      def parse(entry)
        match = ENTRY.match(entry)
        raise ArgumentError, "#{@source}: cannot read broker #{entry.inspect} (expected host:port or kafka://host:port)" unless match

        scheme = match[:scheme]
        if scheme && TLS_SCHEMES.include?(scheme)
          @tls = true
        elsif scheme && !PLAIN_SCHEMES.include?(scheme)
          raise ArgumentError, "#{@source}: unknown scheme #{scheme}:// in #{entry.inspect}"
        end
        port = match[:port] ? Integer(match[:port], 10) : DEFAULT_PORT
        raise ArgumentError, "#{@source}: port out of range in #{entry.inspect}" unless (1..65_535).cover?(port)

        "#{match[:host]}:#{port}"
      end
    end
  end
end
