# frozen_string_literal: true

require "erb"
require "yaml"

module KafkaRs
  # Every setting of the process-wide objects ({KafkaRs.producer}, {KafkaRs.pool},
  # {KafkaRs.consumer}) in one place:
  #
  #   KafkaRs.configure do |c|
  #     c.seed_brokers = "kafka1:9092,kafka2:9092"   # every keyword of KafkaRs::Client
  #     c.client_id = "shop"
  #     c.producer = { delivery_interval: 0.01 }      # the shared async producer (AsyncProducer's keywords)
  #     c.buffered_producer = { max_retries: 2 }      # the pool's producers (Producer's keywords)
  #     c.consumer = { session_timeout: 30 }          # defaults of KafkaRs.consumer (Consumer's keywords)
  #     c.pool_size = 5
  #     c.prefix = "tenant-42."
  #   end
  #
  # The setting names are the keywords of {Client#initialize}, {AsyncProducer#initialize},
  # {Producer#initialize} and {Consumer#initialize}, read from those methods, so the configuration
  # always takes exactly what the classes take; values are checked by the classes themselves
  # ({#validate!} builds each one, which connects to nothing). An unknown name raises an
  # ArgumentError naming it.
  #
  # Settings left unset take the classes' defaults, except:
  #
  # - `seed_brokers`: `KAFKA_URL` (comma-separated `kafka://` / `kafka+ssl://` URLs, as hosted
  #   providers hand them out) with `KAFKA_TRUSTED_CERT`, `KAFKA_CLIENT_CERT` and
  #   `KAFKA_CLIENT_CERT_KEY` as `ssl_ca_cert`, `ssl_client_cert` and `ssl_client_cert_key` (each
  #   unless set); without `KAFKA_URL`, "localhost:9092".
  # - `prefix`: `KAFKA_PREFIX`, else none. The prefix is put in front of every topic the shared
  #   producer, the pool's producers and {KafkaRs.consumer} see, and of consumer group ids.
  class Configuration
    # The keywords a constructor takes, minus those kafka_rs passes itself.
    def self.keywords_of(klass, except = [])
      method = klass.instance_method(:initialize)
      # A module prepended to the class may wrap initialize: the class's own method has the list.
      method = method.super_method until method.owner == klass
      method.parameters.filter_map { |(type, name)| name if type == :key || type == :keyreq } - except
    end

    BUILT_BY_CLIENT = %i[client native_client].freeze
    CLIENT_SETTINGS = keywords_of(Client).freeze
    PRODUCER_SETTINGS = keywords_of(AsyncProducer, BUILT_BY_CLIENT).freeze
    BUFFERED_PRODUCER_SETTINGS = keywords_of(Producer, BUILT_BY_CLIENT).freeze
    CONSUMER_SETTINGS = keywords_of(Consumer, BUILT_BY_CLIENT).freeze
    # Settings of the Rails layer itself, with their defaults.
    OWN_SETTINGS = { pool_size: 5, pool_timeout: 5, prefix: nil }.freeze
    # Where the shared producer's defaults differ from AsyncProducer's: a message waits at most
    # 5 ms for others to share its batch (librdkafka's linger.ms), instead of waiting for a flush
    # (ruby-kafka's async producer has no time trigger by default). A `delivery_interval` set in
    # the producer settings takes precedence.
    PRODUCER_DEFAULTS = { linger_ms: 5 }.freeze
    # The settings that hold a Hash of another class's keywords.
    GROUPS = { producer: PRODUCER_SETTINGS, buffered_producer: BUFFERED_PRODUCER_SETTINGS,
               consumer: CONSUMER_SETTINGS }.freeze
    SETTINGS = (CLIENT_SETTINGS + OWN_SETTINGS.keys + GROUPS.keys).freeze

    DEFAULT_SEED_BROKERS = "localhost:9092"
    # The environment of hosted Kafka plans (Heroku's names), used when seed_brokers is not set.
    ENV_URL = "KAFKA_URL"
    ENV_TLS = { "KAFKA_TRUSTED_CERT" => :ssl_ca_cert, "KAFKA_CLIENT_CERT" => :ssl_client_cert,
                "KAFKA_CLIENT_CERT_KEY" => :ssl_client_cert_key }.freeze
    ENV_PREFIX = "KAFKA_PREFIX"

    # Values a YAML file can only spell as Strings, taken as the Symbols the classes expect.
    SYMBOL_VALUES = %i[required_acks compression_codec partitioner isolation_level].freeze
    # Shown as "[FILTERED]" by {#inspect}.
    SECRET = /password|_key\z|token/.freeze

    # @param env [#[]] where KAFKA_URL and friends are read (ENV)
    def initialize(env: ENV)
      @env = env
      @settings = {}
      GROUPS.each_key { |g| @settings[g] = {} }
    end

    def initialize_copy(other)
      super
      @settings = other.instance_variable_get(:@settings).transform_values { |v| v.is_a?(Hash) ? v.dup : v }
    end

    (CLIENT_SETTINGS + OWN_SETTINGS.keys).each do |name|
      define_method(name) { @settings.fetch(name) { OWN_SETTINGS[name] } }
      define_method(:"#{name}=") { |value| set(name, value) }
    end

    GROUPS.each do |group, names|
      define_method(group) { @settings[group] }
      define_method(:"#{group}=") do |options|
        raise TypeError, "#{group} must be a Hash of settings, got #{options.class}" unless options.is_a?(Hash)

        options = options.transform_keys(&:to_sym)
        Configuration.check_names!(options.keys, names, "#{group} setting")
        @settings[group] = options
      end
    end

    # Sets a setting by name (a Symbol or String); nil unsets it.
    def set(name, value)
      name = name.to_sym
      Configuration.check_names!([name], SETTINGS, "setting")
      return public_send(:"#{name}=", value) if GROUPS.key?(name)

      value.nil? ? @settings.delete(name) : @settings[name] = value
      value
    end

    # Whether the setting was given (a default or the environment applies otherwise).
    def set?(name)
      name = name.to_sym
      GROUPS.key?(name) ? !@settings[name].empty? : @settings.key?(name)
    end

    # `c.sedd_brokers = ...` is an ArgumentError naming the setting, not a NoMethodError.
    def method_missing(name, *args, &block)
      return super unless name.end_with?("=") && args.size == 1

      Configuration.check_names!([name.to_s.chomp("=").to_sym], SETTINGS, "setting")
      super
    end

    def respond_to_missing?(name, include_private = false)
      super
    end

    # Applies a Hash of settings (String or Symbol keys), as read from config/kafka_rs.yml.
    def merge!(hash)
      raise TypeError, "settings must be a Hash, got #{hash.class}" unless hash.is_a?(Hash)

      hash = hash.transform_keys(&:to_sym)
      Configuration.check_names!(hash.keys, SETTINGS, "setting")
      hash.each do |name, value|
        if GROUPS.key?(name)
          value = (value || {}).transform_keys(&:to_sym)
          public_send(:"#{name}=", @settings[name].merge(Configuration.symbolize_values(value)))
        else
          set(name, SYMBOL_VALUES.include?(name) && value.is_a?(String) ? value.to_sym : value)
        end
      end
      self
    end

    # Reads one environment's section of a YAML file (ERB first), e.g. config/kafka_rs.yml:
    #
    #   production:
    #     seed_brokers: <%= ENV["KAFKA_URL"] %>
    #     producer:
    #       compression_codec: zstd
    #
    # A missing section leaves the configuration as it is, or with `required: true` (the
    # `kafka_rs` command's `--environment`) raises an ArgumentError naming the sections there are.
    def load_yaml(path, environment, required: false)
      text = ERB.new(File.read(path)).result
      data = YAML.safe_load(text, permitted_classes: [Symbol], aliases: true, filename: path.to_s) || {}
      raise ArgumentError, "#{path}: expected a Hash of environments, got #{data.class}" unless data.is_a?(Hash)

      if required && !data.key?(environment.to_s)
        raise ArgumentError, "#{path} has no #{environment.to_s.inspect} section " \
                             "(#{data.empty? ? 'it has none' : "it has #{data.keys.join(', ')}"})"
      end

      section = data[environment.to_s]
      return self if section.nil?
      raise ArgumentError, "#{path}: the #{environment} section must be a Hash, got #{section.class}" unless section.is_a?(Hash)

      begin
        merge!(section)
      rescue ArgumentError, TypeError => e
        raise e.class, "#{path} (#{environment}): #{e.message}"
      end
    end

    # The keywords of the shared client: the settings given, else the environment (see above).
    #
    # @return [Hash{Symbol => Object}]
    def client_options
      options = CLIENT_SETTINGS.each_with_object({}) { |n, h| h[n] = @settings[n] if @settings.key?(n) }
      return options if options.key?(:seed_brokers)

      url = env_value(ENV_URL)
      if url
        options[:seed_brokers] = url
        ENV_TLS.each do |var, name|
          value = env_value(var)
          options[name] = value if value && !options.key?(name)
        end
      else
        options[:seed_brokers] = DEFAULT_SEED_BROKERS
      end
      options
    end

    # @return [Hash{Symbol => Object}] keywords of the shared {AsyncProducer}
    def producer_options
      PRODUCER_DEFAULTS.merge(producer)
    end

    # @return [Hash{Symbol => Object}] keywords of the pool's {Producer}s
    def buffered_producer_options
      buffered_producer.dup
    end

    # @return [Hash{Symbol => Object}] keywords of {KafkaRs.consumer}'s consumers
    def consumer_options
      consumer.dup
    end

    # The prefix of topics and group ids: the setting, else KAFKA_PREFIX, else "".
    #
    # @return [String]
    def topic_prefix
      value = @settings.key?(:prefix) ? @settings[:prefix] : env_value(ENV_PREFIX)
      value.to_s
    end

    # Checks every value by building each object the settings are for, the way kafka_rs will
    # build them (no connection is made): the classes' own checks raise ArgumentError or
    # TypeError naming the setting.
    #
    # @return [self]
    def validate!
      GROUPS.each { |group, names| Configuration.check_names!(@settings[group].keys, names, "#{group} setting") }
      Validation.integer!(pool_size, "pool_size", min: 1)
      Validation.positive_number!(pool_timeout, "pool_timeout")
      prefix = topic_prefix
      raise TypeError, "prefix must be a String, got #{prefix.class}" unless prefix.is_a?(String)
      if !prefix.empty? && !Validation::TOPIC_NAME.match?("#{prefix}x")
        raise ArgumentError, "prefix #{prefix.inspect} cannot start a topic name (a-z, A-Z, 0-9, '.', '_', '-')"
      end

      client = in_context("client settings") { Client.new(**client_options) }
      begin
        in_context("producer settings") { client.async_producer(**producer_options).shutdown(timeout: 1) }
        in_context("buffered_producer settings") { client.producer(**buffered_producer_options) }
        in_context("consumer settings") do
          client.consumer(**{ group_id: "kafka_rs-config-check" }.merge(consumer_options))
        end
      ensure
        client.close
      end
      self
    end

    # @return [Hash{Symbol => Object}] the settings given (not the defaults)
    def to_h
      @settings.transform_values { |v| v.is_a?(Hash) ? v.dup : v }
    end

    def inspect
      shown = to_h.to_h do |name, value|
        [name, value.is_a?(Hash) ? value.to_h { |k, v| [k, Configuration.filtered(k, v)] } : Configuration.filtered(name, value)]
      end
      "#<#{self.class.name} #{shown.inspect}>"
    end

    class << self
      # @raise [ArgumentError] naming every name not in `known`
      def check_names!(names, known, what)
        unknown = names - known
        return if unknown.empty?

        raise ArgumentError, "unknown kafka_rs #{what}#{'s' if unknown.size > 1}: #{unknown.join(', ')} " \
                             "(known: #{known.join(', ')})"
      end

      # @api private
      def symbolize_values(hash)
        hash.to_h { |k, v| [k, SYMBOL_VALUES.include?(k) && v.is_a?(String) ? v.to_sym : v] }
      end

      # @api private
      def filtered(name, value)
        value.nil? || !SECRET.match?(name.to_s) ? value : "[FILTERED]"
      end

      # The default of each keyword of a constructor, read from its source (for the install
      # generator's commented settings): literals as values, anything else as its source text
      # wrapped in a {SourceText}; required keywords are left out.
      #
      # @return [Hash{Symbol => Object}]
      def defaults_of(klass)
        method = klass.instance_method(:initialize)
        method = method.super_method until method.owner == klass
        file, = method.source_location
        lines = File.readlines(file)
        keyword = RubyVM::AbstractSyntaxTree.of(method).children[1].children[7]
        defaults = {}
        while keyword
          assignment, keyword = keyword.children
          name, value = assignment.children
          next if value == :NODE_SPECIAL_REQUIRED_KEYWORD

          defaults[name] = literal(value, lines)
        end
        defaults
      end

      private

      def literal(node, lines)
        case node.type
        when :LIT, :STR then node.children[0]
        when :NIL then nil
        when :TRUE then true
        when :FALSE then false
        when :ZLIST then []
        else
          text = lines[(node.first_lineno - 1)..(node.last_lineno - 1)].join
          SourceText.new(text[node.first_column...(text.size - lines[node.last_lineno - 1].size + node.last_column)])
        end
      end
    end

    # A default that is an expression, not a literal.
    SourceText = Struct.new(:text) do
      def inspect
        text
      end
    end

    private

    # Says which group of settings a class's complaint is about.
    def in_context(what)
      yield
    rescue ArgumentError, TypeError => e
      raise e.class, "KafkaRs.config #{what}: #{e.message}", e.backtrace
    end

    def env_value(name)
      value = @env[name]
      value.nil? || value.strip.empty? ? nil : value
    end
  end
end
