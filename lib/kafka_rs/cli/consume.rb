# frozen_string_literal: true

require "logger"
require_relative "command"
require_relative "../worker"

module KafkaRs
  module CLI
    # `kafka_rs consume`: a worker process running consumer classes ({KafkaRs::Worker}).
    class Consume < Command
      usage "kafka_rs consume [options] [ConsumerClass...]", <<~TEXT.chomp
        Runs consumer classes (subclasses of KafkaRs::Consumer) in this process, each in its
        consumer group; start more processes to share the partitions. Loads the app first:
        --require FILE (repeatable), else ./config/environment.rb when there is one (a Rails
        app, with its config/kafka_rs.yml and initializers), in --environment ENV (sets
        RAILS_ENV, RACK_ENV and APP_ENV). Without class names, runs every consumer class the
        app defined. The cluster: the app's settings (KafkaRs.configure, config/kafka_rs.yml,
        KAFKA_URL), with --brokers or KAFKA_BROKERS over them.

        Signals: TERM or INT stops gracefully (the message in progress finishes, offsets are
        committed, the groups are left); a second one, or --timeout seconds, exits at once.
        TTIN prints every thread's backtrace. Exit status 1 when a consumer ended with an
        error (an `on_error :stop` policy, the cluster gone for good).
      TEXT

      def initialize(*args, **options)
        super
        @requires = []
        @includes = []
        @concurrency = 1
        @timeout = 25
      end

      def define_options(o)
        o.on("-r", "--require FILE", "load FILE (a path or a feature on the load path; a directory: its config/environment.rb); repeatable") { |v| @requires << v }
        o.on("-I", "--include DIR", "add DIR to the load path; repeatable") { |v| @includes << v }
        o.on("-c", "--concurrency N", Integer, "group members (threads) per consumer class (default 1)") do |v|
          raise UsageError, "--concurrency must be at least 1" if v < 1

          @concurrency = v
        end
        o.on("-t", "--timeout SECONDS", Float, "longest graceful stop (default 25)") do |v|
          raise UsageError, "--timeout must be positive" unless v.positive?

          @timeout = v
        end
      end

      def execute(names)
        load_app
        classes = consumer_classes(names)

        # The app's settings (a Rails app's Railtie read config/kafka_rs.yml; a plain app's file
        # is read here), then --brokers / KAFKA_BROKERS / --ssl-ca-cert over them.
        rails = defined?(Rails.application) && Rails.application
        KafkaRs.configure do |c|
          client_settings.load_file(c) unless rails
          client_settings.apply_overrides(c)
        end
        out.sync = true if out.respond_to?(:sync=)
        logger = Logger.new(out, progname: "kafka_rs")
        logger.formatter = proc do |severity, time, _prog, message|
          "#{time.utc.strftime('%Y-%m-%dT%H:%M:%S.%LZ')} pid=#{Process.pid} #{severity}: #{message}\n"
        end
        logger.info("kafka_rs #{KafkaRs::VERSION} #{command_name}: #{classes.map(&:name).join(', ')} x#{@concurrency}")
        KafkaRs::Worker.new(classes, concurrency: @concurrency, logger: logger, shutdown_timeout: @timeout).run
      end

      private

      def load_app
        # --environment (a common option) names the environment the app loads in.
        %w[RAILS_ENV RACK_ENV APP_ENV].each { |k| ENV[k] = environment_option } if environment_option
        @includes.each { |dir| $LOAD_PATH.unshift(File.expand_path(dir)) }
        files = @requires.map { |r| File.directory?(r) ? File.join(r, "config", "environment.rb") : r }
        files = ["config/environment.rb"] if files.empty? && File.file?("config/environment.rb")
        files.each do |file|
          path = File.expand_path(file)
          # A path, else a feature on the load path (-I): `-r router_metrics/consumers`.
          begin
            require(File.file?(path) || File.file?("#{path}.rb") ? path : file)
          rescue LoadError => e
            raise UsageError, "--require #{file}: #{e.message}"
          end
        end
        # A Rails app loads its classes lazily outside production: the consumer classes under
        # app/ are loaded here so that they can be named (and found without names).
        Rails.application.eager_load! if defined?(Rails.application) && Rails.application
      end

      # The classes named, else every consumer class the app defined.
      def consumer_classes(names)
        classes = if names.empty?
                    KafkaRs::Consumer.consumer_classes.reject { |k| k.subscriptions.empty? }
                  else
                    names.map { |n| consumer_class(n) }
                  end
        raise UsageError, "no consumer classes: name them, or --require the file that defines them" if classes.empty?

        classes
      end

      def consumer_class(name)
        klass = Object.const_get(name)
        raise UsageError, "#{name} is not a consumer class (a subclass of KafkaRs::Consumer)" unless klass.is_a?(Class) && klass < KafkaRs::Consumer

        klass
      rescue NameError
        raise UsageError, "no class #{name} (is its file loaded? --require it)"
      end
    end
  end
end
