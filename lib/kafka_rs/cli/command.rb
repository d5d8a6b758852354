# frozen_string_literal: true

require "json"
require "optparse"
require_relative "../../kafka_rs"
require_relative "seed_brokers"
require_relative "table"

module KafkaRs
  module CLI
    # A wrong command line: the message and the command's usage go to stderr, exit status 2.
    class UsageError < StandardError; end

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
        @brokers = nil
        @client_id = "kafka_rs-cli"
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
      rescue Errno::EPIPE
        0 # the reader went away (kafka_rs tail ... | head)
      rescue Interrupt
        end_progress
        130
      rescue KafkaRs::Error, ArgumentError => e
        err.puts("kafka_rs: #{e.class.name.sub(/\AKafkaRs::/, '')}: #{e.message}")
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

      # The client, built on first use from --brokers / KAFKA_BROKERS / KAFKA_URL.
      def kafka
        @kafka ||= begin
          seeds = SeedBrokers.resolve(@brokers, env: env)
          raise KafkaRs::Error, "#{seeds} asks for TLS, which this command cannot configure yet" if seeds.tls?

          KafkaRs.new(seeds.brokers, client_id: @client_id, connect_timeout: 5, socket_timeout: 10)
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
          o.on("--brokers LIST", "seed brokers, host:port,... (default: KAFKA_BROKERS, KAFKA_URL, 127.0.0.1:9092)") do |v|
            @brokers = v
          end
          o.on("--client-id ID", "client id sent to the brokers (default kafka_rs-cli)") { |v| @client_id = v }
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
