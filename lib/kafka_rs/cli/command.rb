# frozen_string_literal: true

require "json"
require "optparse"
require_relative "../../kafka_rs"
require_relative "client_settings"
require_relative "table"

module KafkaRs
  module CLI
    # A wrong command line: the message and the command's usage go to stderr, exit status 2.
    class UsageError < StandardError; end

    # Client keywords every command uses unless the config file sets them.
    CLIENT_DEFAULTS = { connect_timeout: 5, socket_timeout: 10 }.freeze
    DEFAULT_CLIENT_ID = "kafka_rs-cli"

    # The base of every `kafka_rs` subcommand. A subclass sets its usage with {.usage}, adds its
    # options in {#define_options}, and does its work in {#execute} (returning the exit status),
    # using {#kafka}, {#print_table}, {#print_json} and {#progress}.
    #
    #   class Hello < Command
    #     usage "kafka_rs hello [--loud]", "Says hello to the cluster."
    #     def define_options(o) = o.on("--loud") { @loud = true }
    #     def execute(args)
    #       print_table(%w[BROKER], kafka.brokers.map { |b| [b.to_s] })
    #       0
    #     end
    #   end
    class Command
      class << self
        # Sets (or, without arguments, returns) the banner and description of `--help`.
        def usage(banner = nil, description = nil)
          @usage = [banner, description] if banner
          @usage || ["kafka_rs #{name.split('::').last.downcase} [options]", nil]
        end
      end

      attr_reader :out, :err, :env, :stdin

      def initialize(argv, out: $stdout, err: $stderr, env: ENV, stdin: $stdin)
        @argv = argv
        @out = out
        @err = err
        @env = env
        @stdin = stdin
        @json = false
        @cluster = { brokers: nil, config_file: nil, environment: nil, ssl_ca_cert: nil }
        @client_id = DEFAULT_CLIENT_ID
        @client_settings = nil
        @kafka = nil
      end

      # Parses the options, runs the command, maps failures to exit statuses.
      #
      # @return [Integer]
      def run
        parser = option_parser
        args = parser.parse(@argv)
        return 0 if @help_shown

        execute(args)
      rescue UsageError, OptionParser::ParseError => e
        err.puts("kafka_rs: #{e.message}")
        err.puts("Usage: #{self.class.usage.first}")
        err.puts("(kafka_rs #{command_name} --help for more)")
        2
      rescue ConfigError => e
        end_progress
        err.puts("kafka_rs: #{e.message}")
        2
      rescue Errno::EPIPE
        0 # the reader went away (kafka_rs tail ... | head)
      rescue Interrupt
        end_progress
        130
      rescue KafkaRs::Error, ArgumentError => e
        end_progress
        message = "kafka_rs: #{e.class.name.sub(/\AKafkaRs::/, '')}: #{e.message}"
        message += " (seed brokers #{@client_settings})" if e.is_a?(KafkaRs::ConnectionError) && @client_settings
        err.puts(message)
        1
      ensure
        @kafka&.close
      end

      # @return [String] the subcommand's name ("topics")
      def command_name
        self.class.name.split("::").last.downcase
      end

      # Adds the command's own options.
      def define_options(_parser); end

      # Does the work.
      #
      # @param args [Array<String>] the arguments left after the options
      # @return [Integer] the exit status
      def execute(_args)
        raise NotImplementedError
      end

      private

      # Where the cluster is: --brokers, KAFKA_BROKERS, the config file, KAFKA_URL (see
      # {ClientSettings}).
      #
      # @return [ClientSettings]
      def client_settings
        @client_settings ||= ClientSettings.new(**@cluster, env: env)
      end

      # The `--environment` given, nil without one (a command that loads the app sets RAILS_ENV
      # and RACK_ENV from it first; {#client_settings} picks the config file's section with it).
      def environment_option
        @cluster[:environment]
      end

      # The client, built on first use from {#client_settings}, with the command's client id.
      def kafka
        @kafka ||= begin
          options = CLIENT_DEFAULTS.merge(client_settings.client_options, client_id: @client_id)
          KafkaRs.new(**options)
        rescue ArgumentError, TypeError, KafkaRs::Error => e
          raise if e.is_a?(ConfigError)

          raise ConfigError, "cannot use the brokers #{client_settings}: #{e.message}"
        end
      end

      def json?
        @json
      end

      def print_json(value)
        out.puts(JSON.generate(value))
      end

      def print_table(headers, rows, right: [])
        out.print(Table.new(headers, rows, right: right).to_s)
      end

      # A progress line on a terminal (overwritten in place); nothing when stderr is piped.
      def progress(text)
        return unless err.tty?

        err.print("\r\e[K#{text}")
        @progress_shown = true
      end

      def end_progress
        err.print("\r\e[K") if @progress_shown
        @progress_shown = false
      end

      def option_parser
        banner, description = self.class.usage
        OptionParser.new do |o|
          o.banner = "Usage: #{banner}"
          o.separator("")
          o.separator(description) if description
          o.separator("") if description
          o.separator("Options:")
          define_options(o)
          o.separator("")
          o.separator("Common options:")
          o.on("--brokers LIST", "seed brokers, host:port,... or kafka+ssl://host:port,... (TLS)",
               "(default: KAFKA_BROKERS, else the config file's seed_brokers, else KAFKA_URL,",
               "else localhost:9092)") do |v|
            @cluster[:brokers] = v
          end
          o.on("--config-file FILE", "the app's kafka_rs settings: seed_brokers, TLS, SASL, timeouts",
               "(default: #{ClientSettings::DEFAULT_CONFIG_FILE} when it exists)") { |v| @cluster[:config_file] = v }
          o.on("--no-config-file", "read no config file") { @cluster[:config_file] = false }
          o.on("--environment ENV", "the config file's section (default: RAILS_ENV, RACK_ENV, development)") do |v|
            @cluster[:environment] = v
          end
          o.on("--ssl-ca-cert FILE", "a PEM file of CA certificates to trust (turns TLS on)") do |v|
            @cluster[:ssl_ca_cert] = v
          end
          o.on("--client-id ID", "client id sent to the brokers (default #{DEFAULT_CLIENT_ID})") { |v| @client_id = v }
          o.on("--json", "print JSON instead of a table") { @json = true }
          o.on("-h", "--help", "this help") do
            out.puts(o)
            @help_shown = true
          end
        end
      end

      def expect_args(args, count, names)
        return args if args.size == count

        raise UsageError, args.size < count ? "missing #{names}" : "unexpected arguments: #{args.drop(count).join(' ')}"
      end
    end
  end
end
