# frozen_string_literal: true

require "optparse"

module KafkaRs
  # The `kafka_rs` command: operator subcommands, each a class in `kafka_rs/cli/`.
  #
  #   kafka_rs topics [list|create|delete|describe]   kafka_rs groups
  #   kafka_rs lag GROUP                               kafka_rs tail TOPIC
  #   kafka_rs produce TOPIC < lines
  #
  # Adding a subcommand (the extension point for the worker commands, `consume` and `jobs`):
  # write a {CLI::Command} subclass in `lib/kafka_rs/cli/NAME.rb` and register it here with
  # {CLI.register}. Commands are loaded only when run, so a command that needs Rails or a
  # consumer base class costs the others nothing:
  #
  #   CLI.register("consume", "run consumer classes in a worker process",
  #                require: "kafka_rs/cli/consume", class_name: "KafkaRs::CLI::Consume")
  #
  # Where the cluster is: {CLI::ClientSettings} (--brokers, KAFKA_BROKERS, the app's
  # config/kafka_rs.yml, KAFKA_URL).
  #
  # Exit status: 0 done, 1 failed (Kafka said no, could not connect, ...), 2 usage or
  # configuration error (a wrong command line, a config file without the environment's section).
  module CLI
    # A command's registration: where its class lives.
    Entry = Struct.new(:name, :summary, :require_path, :class_name)

    @commands = {}
    # Common options that may come before the command: name => takes a value.
    LEADING_OPTIONS = { "--brokers" => true, "--config-file" => true, "--no-config-file" => false,
                        "--environment" => true, "--ssl-ca-cert" => true, "--client-id" => true,
                        "--json" => false }.freeze

    class << self
      # @param name [String] the subcommand
      # @param summary [String] one line for `kafka_rs --help`
      # @param require [String] the file that defines the class
      # @param class_name [String] the {Command} subclass
      def register(name, summary, require:, class_name:)
        @commands[name] = Entry.new(name, summary, require, class_name)
      end

      # @return [Hash{String => Entry}]
      attr_reader :commands

      # Runs the command line.
      #
      # @param argv [Array<String>]
      # @return [Integer] the exit status
      def run(argv, out: $stdout, err: $stderr, env: ENV, stdin: $stdin)
        leading, argv = split_leading_options(argv)
        name = argv.shift
        argv += leading
        case name
        when nil
          err.puts(usage)
          2
        when "-h", "--help", "help"
          return help_for(argv.first, out, err, env, stdin) if name == "help" && argv.first

          out.puts(usage)
          0
        when "-v", "--version", "version"
          require_relative "version"
          out.puts("kafka_rs #{KafkaRs::VERSION}")
          0
        else
          entry = @commands[name]
          unless entry
            err.puts("kafka_rs: unknown command #{name.inspect}\n\n#{usage}")
            return 2
          end
          command_class(entry).new(argv, out: out, err: err, env: env, stdin: stdin).run
        end
      end

      # @return [String] the top-level help
      def usage
        width = @commands.keys.map(&:size).max
        lines = @commands.values.map { |e| "  #{e.name.ljust(width)}  #{e.summary}" }
        <<~TEXT
          Usage: kafka_rs COMMAND [options]

          Commands:
          #{lines.join("\n")}

          Where the cluster is, first found wins:
            --brokers LIST, else KAFKA_BROKERS     host:port,... or kafka+ssl://host:port,... (TLS)
            the app's config file                  --config-file FILE, else config/kafka_rs.yml if there;
                                                   its section --environment ENV, else RAILS_ENV, RACK_ENV,
                                                   development (seed_brokers and the client's TLS and SASL
                                                   settings, as KafkaRs.configure takes them; ERB first)
            KAFKA_URL                              kafka:// or kafka+ssl:// URLs, with KAFKA_TRUSTED_CERT,
                                                   KAFKA_CLIENT_CERT and KAFKA_CLIENT_CERT_KEY (PEM)
            localhost:9092
          TLS and SASL settings of the config file apply whichever gives the brokers; --no-config-file
          skips the file, --ssl-ca-cert FILE adds a CA.

          Every command also takes --client-id ID, --json (machine-readable output) and --help.
          kafka_rs --version prints the version.
        TEXT
      end

      private

      # Common options given before the command (`kafka_rs --brokers b:9092 lag g`) are passed
      # on after it.
      def split_leading_options(argv)
        leading = []
        rest = argv.dup
        while (option = rest.first) && LEADING_OPTIONS.key?(option.split("=", 2).first)
          leading << rest.shift
          leading << rest.shift if LEADING_OPTIONS[option] && rest.first
        end
        [leading, rest]
      end

      def command_class(entry)
        require entry.require_path
        Object.const_get(entry.class_name)
      end

      def help_for(name, out, err, env, stdin)
        entry = @commands[name]
        return run([], out: out, err: err, env: env, stdin: stdin) unless entry

        command_class(entry).new(["--help"], out: out, err: err, env: env, stdin: stdin).run
      end
    end

    register "consume", "run consumer classes in a worker process (the app loaded, TERM stops gracefully)",
             require: "kafka_rs/cli/consume", class_name: "KafkaRs::CLI::Consume"
    register "jobs", "run ActiveJob jobs from their queues' topics in a worker process",
             require: "kafka_rs/cli/jobs", class_name: "KafkaRs::CLI::Jobs"
    register "topics", "list, create, delete and describe topics",
             require: "kafka_rs/cli/topics", class_name: "KafkaRs::CLI::Topics"
    register "groups", "list consumer groups with their state and members",
             require: "kafka_rs/cli/groups", class_name: "KafkaRs::CLI::Groups"
    register "lag", "a group's committed offsets, end offsets, lag and owners per partition",
             require: "kafka_rs/cli/lag", class_name: "KafkaRs::CLI::Lag"
    register "tail", "print a topic's messages as they arrive",
             require: "kafka_rs/cli/tail", class_name: "KafkaRs::CLI::Tail"
    register "produce", "produce the lines of standard input to a topic",
             require: "kafka_rs/cli/produce", class_name: "KafkaRs::CLI::Produce"
  end
end
