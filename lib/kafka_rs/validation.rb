# frozen_string_literal: true

module KafkaRs
  # Checks of user input, shared by the public classes. Every failure names the argument, and
  # happens before anything is buffered or sent.
  module Validation
    # Kafka's rule for topic names: 1 to 249 of [a-zA-Z0-9._-], and not "." or "..".
    TOPIC_NAME = /\A[a-zA-Z0-9._-]{1,249}\z/.freeze

    module_function

    def topic!(topic, name = "topic")
      raise TypeError, "#{name} must be a String, got #{topic.class}" unless topic.is_a?(String)
      unless TOPIC_NAME.match?(topic) && topic != "." && topic != ".."
        raise ArgumentError, "#{name} #{topic.inspect} is not a valid topic name " \
                             "(1 to 249 characters of a-z, A-Z, 0-9, '.', '_', '-')"
      end

      topic
    end

    # Topic names already validated, so that producing to a topic checks its name once. Bounded:
    # an app producing to more distinct topics than this only pays the full check again.
    VALID_TOPICS = {} # rubocop:disable Style/MutableConstant
    VALID_TOPICS_MAX = 10_000

    # {topic!} with a cache of names that passed.
    def topic_cached!(topic)
      return topic if topic.is_a?(String) && VALID_TOPICS[topic]

      topic!(topic)
      VALID_TOPICS.clear if VALID_TOPICS.size >= VALID_TOPICS_MAX
      VALID_TOPICS[topic] = true
      topic
    end

    def bytes_or_nil!(value, name)
      return value if value.nil? || value.is_a?(String)

      raise TypeError, "#{name} must be a String or nil, got #{value.class}"
    end

    def partition!(partition, name = "partition", allow_nil: true)
      return nil if partition.nil? && allow_nil
      raise TypeError, "#{name} must be an Integer, got #{partition.class}" unless partition.is_a?(Integer)
      raise ArgumentError, "#{name} must not be negative, got #{partition}" if partition.negative?
      raise ArgumentError, "#{name} #{partition} is too large" if partition > 2_147_483_647

      partition
    end

    def headers!(headers)
      return nil if headers.nil? || headers.empty?
      raise TypeError, "headers must be a Hash, got #{headers.class}" unless headers.is_a?(Hash)

      headers.each_with_object({}) do |(k, v), out|
        key = k.is_a?(Symbol) ? k.to_s : k
        raise TypeError, "headers keys must be Strings, got #{k.class}" unless key.is_a?(String)

        value = v.is_a?(Symbol) || v.is_a?(Numeric) ? v.to_s : v
        raise TypeError, "headers[#{key.inspect}] must be a String or nil, got #{v.class}" unless value.nil? || value.is_a?(String)

        out[key] = value
      end
    end

    def positive_number!(value, name, allow_zero: false)
      raise TypeError, "#{name} must be a Numeric, got #{value.class}" unless value.is_a?(Numeric)
      if value.negative? || (!allow_zero && value.zero?)
        raise ArgumentError, "#{name} must be #{allow_zero ? 'zero or more' : 'positive'}, got #{value}"
      end

      value
    end

    def integer!(value, name, min: nil)
      raise TypeError, "#{name} must be an Integer, got #{value.class}" unless value.is_a?(Integer)
      raise ArgumentError, "#{name} must be at least #{min}, got #{value}" if min && value < min

      value
    end

    # Milliseconds since the epoch for a Time (or Integer milliseconds).
    def timestamp_ms!(time, name = "create_time")
      case time
      when nil then Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
      when Time then (time.to_r * 1000).to_i
      when Integer then time
      else raise TypeError, "#{name} must be a Time, got #{time.class}"
      end
    end

    # Normalizes seed brokers: an Array, or a comma-separated String.
    def seed_brokers!(seed_brokers)
      list = case seed_brokers
             when String then seed_brokers.split(",")
             when Array then seed_brokers
             else raise TypeError, "seed_brokers must be an Array or a String, got #{seed_brokers.class}"
             end
      list = list.map do |b|
        raise TypeError, "seed_brokers entries must be Strings, got #{b.class}" unless b.is_a?(String)

        b.strip
      end.reject(&:empty?)
      raise ArgumentError, "seed_brokers must name at least one broker" if list.empty?

      list
    end
  end
end
