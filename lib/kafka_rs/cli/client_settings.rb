# frozen_string_literal: true

require_relative "../../kafka_rs"

module KafkaRs
  module CLI
    # The cluster cannot be found from what was given: a config file that cannot be read or has
    # no section for the environment, or seed brokers or certificates the client refuses. A
    # command exits with status 2.
    class ConfigError < ArgumentError; end

    # Where the `kafka_rs` commands (and the worker processes they run) find the cluster: the one
    # place that turns the command line, the environment and the app's config file into the
    # keywords of {KafkaRs::Client}. The seed brokers come from the first of:
    #
    # 1. `--brokers LIST`, then `KAFKA_BROKERS` (comma-separated `host:port`, `kafka://host:port`
    #    or `kafka+ssl://host:port`): they override the file's `seed_brokers`, and `KAFKA_URL`
    #    (with its certificate variables) is not read;
    # 2. the app's config file: `--config-file FILE`, else `config/kafka_rs.yml` in the current
    #    directory when there is one; its section for `--environment`, else `RAILS_ENV`, else
    #    `RACK_ENV`, else "development" (read as {Configuration#load_yaml} reads it for the
    #    Railtie, ERB first; a missing section is a {ConfigError} naming the sections there are);
    # 3. {Configuration}'s own resolution: `KAFKA_URL` (`kafka+ssl://` turns TLS on) with
    #    `KAFKA_TRUSTED_CERT`, `KAFKA_CLIENT_CERT` and `KAFKA_CLIENT_CERT_KEY`; else
    #    localhost:9092.
    #
    # Everything else the client takes (TLS and SASL settings, timeouts) comes from the file's
    # section as {Configuration} takes it; `--ssl-ca-cert FILE` sets `ssl_ca_cert_file_path`.
    # The `prefix` setting and `KAFKA_PREFIX` are not applied: commands name topics and groups
    # as the brokers do.
    #
    #   settings = ClientSettings.new(brokers: options[:brokers])
    #   kafka = KafkaRs.new(**settings.client_options)
    #
    # A worker process that loaded the app (whose Railtie read the file and whose initializers
    # called KafkaRs.configure) applies only the overrides to the app's configuration:
    #
    #   KafkaRs.configure { |c| ClientSettings.new(brokers: options[:brokers]).apply_overrides(c) }
    #
    # and one without Rails can load the file first: `settings.load_file(c)` in the same block.
    class ClientSettings
      DEFAULT_CONFIG_FILE = "config/kafka_rs.yml"
      BROKERS_ENV = "KAFKA_BROKERS"
      ENVIRONMENT_ENV = %w[RAILS_ENV RACK_ENV].freeze
      DEFAULT_ENVIRONMENT = "development"

      # @return [String, nil] the config file read (nil: none)
      attr_reader :config_file
      # @return [String] the section of the config file
      attr_reader :environment

      # @param brokers [String, nil] `--brokers`
      # @param config_file [String, nil, false] `--config-file` (nil: config/kafka_rs.yml when it
      #   exists; false: no file, `--no-config-file`)
      # @param environment [String, nil] `--environment` (nil: RAILS_ENV, RACK_ENV, "development")
      # @param ssl_ca_cert [String, nil] `--ssl-ca-cert`: a PEM file of CA certificates
      # @param env [#[]] the environment (ENV)
      def initialize(brokers: nil, config_file: nil, environment: nil, ssl_ca_cert: nil, env: ENV)
        @env = env
        @brokers = present(brokers)
        @ssl_ca_cert = present(ssl_ca_cert)
        @environment = present(environment) || ENVIRONMENT_ENV.filter_map { |name| present(env[name]) }.first ||
                       DEFAULT_ENVIRONMENT
        @config_file = case config_file
                       when false then nil
                       when nil then DEFAULT_CONFIG_FILE if File.file?(DEFAULT_CONFIG_FILE)
                       else config_file
                       end
        @configuration = nil
      end

      # The configuration the command connects with: the file's section, then the overrides.
      #
      # @return [Configuration]
      # @raise [ConfigError]
      def configuration
        @configuration ||= apply_overrides(load_file(Configuration.new(env: @env)))
      end

      # The keywords of {KafkaRs::Client} ({KafkaRs.new}).
      #
      # @return [Hash{Symbol => Object}]
      # @raise [ConfigError]
      def client_options
        configuration.client_options
      end

      # Reads the config file's section into a configuration (nothing without a file).
      #
      # @param config [Configuration]
      # @return [Configuration] config
      # @raise [ConfigError] naming the file
      def load_file(config)
        return config unless @config_file

        begin
          config.load_yaml(@config_file, @environment, required: true)
        rescue StandardError, SyntaxError => e
          detail = case e
                   when SystemCallError then "#{@config_file}: #{e.message.sub(/ @ .*/m, '')}"
                   when ArgumentError, TypeError then e.message
                   else "#{e.class}: #{e.message}"
                   end
          detail = "#{@config_file}: #{detail}" unless detail.include?(@config_file)
          raise ConfigError, detail, cause: e
        end
      end

      # Applies `--brokers` (else `KAFKA_BROKERS`) and `--ssl-ca-cert` to a configuration.
      #
      # @param config [Configuration]
      # @return [Configuration] config
      def apply_overrides(config)
        override = brokers_override
        config.seed_brokers = override.last if override
        config.ssl_ca_cert_file_path = @ssl_ca_cert if @ssl_ca_cert
        config
      end

      # Where the seed brokers come from: "--brokers", "KAFKA_BROKERS", the file and section
      # ("config/kafka_rs.yml, section production"), "KAFKA_URL" or nil (the default).
      #
      # @return [String, nil]
      def brokers_source
        override = brokers_override
        return override.first if override
        return "#{@config_file}, section #{@environment}" if @config_file && configuration.set?(:seed_brokers)

        Configuration::ENV_URL if present(@env[Configuration::ENV_URL])
      end

      # The seed brokers and where they come from, for messages: "kafka1:9092 from --brokers".
      def to_s
        seeds = client_options[:seed_brokers]
        seeds = seeds.join(",") if seeds.is_a?(Array)
        source = brokers_source
        return "#{seeds} from #{source}" if source

        "#{seeds} (the default: no --brokers, #{BROKERS_ENV}, config file or KAFKA_URL)"
      end

      def inspect
        "#<#{self.class.name} #{self}>"
      end

      private

      # @return [Array(String, String), nil] where and what, or nil without an override
      def brokers_override
        return ["--brokers", @brokers] if @brokers

        value = present(@env[BROKERS_ENV])
        value && [BROKERS_ENV, value]
      end

      def present(value)
        value.nil? || value.strip.empty? ? nil : value
      end
    end
  end
end
