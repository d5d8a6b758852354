# frozen_string_literal: true

module KafkaRs
  # Topic and group names with the configured prefix (`KAFKA_PREFIX` on hosted multi-tenant
  # plans, where every topic and consumer group of an app must start with it).
  class TopicPrefix
    # Names prefixed so far; past this many the cache starts over.
    CACHE_MAX = 10_000

    attr_reader :prefix

    def initialize(prefix)
      @prefix = prefix.dup.freeze
      @names = {}
    end

    # @return [String] `prefix + name` (a Symbol is taken by name)
    def apply(name)
      @names[name] || add(name)
    end

    # @return [String] the name without the prefix (unchanged when it lacks it)
    def strip(name)
      name.start_with?(@prefix) ? name.delete_prefix(@prefix) : name
    end

    private

    def add(name)
      full = "#{@prefix}#{Symbol === name ? name.to_s : Validation.string!(name, 'topic')}".freeze
      @names = {} if @names.size >= CACHE_MAX
      @names[name] = full
    end
  end

  # A producer whose topics get the configured prefix, so app code names topics as it always
  # does: `KafkaRs.producer.produce(json, topic: "orders")` writes to "<prefix>orders".
  # {KafkaRs.producer} and {KafkaRs.with_producer} hand one out when a prefix is configured
  # (and the producer itself otherwise).
  class PrefixedProducer
    # @return [AsyncProducer, Producer] the producer this one writes through
    attr_reader :producer

    def initialize(producer, prefix)
      @producer = producer
      @prefix = prefix
    end

    def produce(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                create_time: nil)
      @producer.produce(value, topic: @prefix.apply(topic), key: key, headers: headers, partition: partition,
                               partition_key: partition_key, create_time: create_time)
    end

    def produce_async(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                      create_time: nil)
      @producer.produce_async(value, topic: @prefix.apply(topic), key: key, headers: headers, partition: partition,
                                     partition_key: partition_key, create_time: create_time)
    end

    def produce_many(messages)
      raise TypeError, "messages must be an Array, got #{messages.class}" unless messages.is_a?(Array)

      @producer.produce_many(messages.map { |m| m.is_a?(Hash) && m.key?(:topic) ? m.merge(topic: @prefix.apply(m[:topic])) : m })
    end

    # Everything else (flush, deliver_messages, shutdown, on_delivery, buffer_size, ...) is the
    # producer's own.
    def method_missing(name, *args, **options, &block)
      return super unless @producer.respond_to?(name)

      @producer.public_send(name, *args, **options, &block)
    end

    def respond_to_missing?(name, include_private = false)
      @producer.respond_to?(name) || super
    end

    def inspect
      "#<#{self.class.name} prefix=#{@prefix.prefix.inspect} #{@producer.inspect}>"
    end
  end

  # A consumer's subscriptions with the configured prefix (mixed into the consumers
  # {KafkaRs.consumer} builds when a prefix is configured). A Regexp matches the topic names
  # without the prefix, among the topics that have it.
  module PrefixedSubscriptions
    # @api private
    attr_accessor :topic_prefix

    def subscribe(topic_or_regex, **options)
      topic = case topic_or_regex
              when Regexp then PrefixedPattern.new(topic_or_regex, topic_prefix)
              when String, Symbol then topic_prefix.apply(topic_or_regex)
              else topic_or_regex
              end
      super(topic, **options)
    end
  end

  # A Regexp over topic names without a prefix: `===` (what a pattern subscription uses to pick
  # topics) is true for "<prefix><name>" when the original pattern matches <name>.
  class PrefixedPattern < Regexp
    def initialize(pattern, prefix)
      super(pattern)
      @topic_prefix = prefix
    end

    def ===(other)
      other.is_a?(String) && other.start_with?(@topic_prefix.prefix) && super(@topic_prefix.strip(other))
    end

    def match?(other, *args)
      other.is_a?(String) && other.start_with?(@topic_prefix.prefix) && super(@topic_prefix.strip(other), *args)
    end
  end
end
