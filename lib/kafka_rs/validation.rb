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

    # ruby-kafka's conversion of message values, keys and partition keys: nil stays nil, anything
    # else goes through `to_s` (so 42 is sent as "42").
    def to_bytes!(value, name)
      return value if nil.equal?(value) || String === value

      string = begin
        value.to_s
      rescue NoMethodError
        raise TypeError, "#{name} must be a String or respond to to_s, got #{Validation.class_name(value)}"
      end
      raise TypeError, "#{name}.to_s must return a String, got #{Validation.class_name(string)}" unless String === string # rubocop:disable Style/CaseEquality

      string
    end

    # The class of any object, BasicObjects included (they lack #class).
    def class_name(object)
      Kernel.instance_method(:class).bind_call(object)
    rescue TypeError
      "BasicObject"
    end

    # Topic names are Strings; a Symbol is taken by name, as ruby-kafka does.
    def topic_name!(topic, name = "topic")
      topic = topic.to_s if Symbol === topic
      raise TypeError, "#{name} must be a String, got #{topic.class}" unless String === topic # rubocop:disable Style/CaseEquality
      topic!(topic, name)
    end

    def partition!(partition, name = "partition", allow_nil: true)
      return nil if partition.nil? && allow_nil
      raise TypeError, "#{name} must be an Integer, got #{partition.class}" unless partition.is_a?(Integer)
      raise ArgumentError, "#{name} must not be negative, got #{partition}" if partition.negative?
      raise ArgumentError, "#{name} #{partition} is too large" if partition > 2_147_483_647

      partition
    end

    # ruby-kafka's conversion of an explicit partition: `Integer(partition)` ("3" and 3.0 are 3).
    def to_partition!(partition, name = "partition")
      return nil if nil.equal?(partition)

      unless Integer === partition
        partition = begin
          Integer(partition)
        rescue ArgumentError, TypeError, FloatDomainError => e
          raise e.class, "#{name}: #{e.message}"
        end
      end
      partition!(partition, name)
    end

    # Header keys and values through `to_s`, as ruby-kafka sends them; a nil value is sent as an
    # empty String (ruby-kafka's behaviour, which its own specs assert).
    def headers!(headers)
      return nil if headers.nil?
      raise TypeError, "headers must be a Hash, got #{headers.class}" unless headers.is_a?(Hash)
      return nil if headers.empty?

      headers.each_with_object({}) do |(k, v), out|
        key = k.is_a?(String) ? k : to_bytes!(k, "headers key")
        raise TypeError, "headers keys must not be nil" if key.nil?
        unless key.encoding == Encoding::UTF_8 ? key.valid_encoding? : key.dup.force_encoding(Encoding::UTF_8).valid_encoding?
          raise ArgumentError, "headers key #{key.inspect} is not valid UTF-8 (Kafka header keys are UTF-8 text)"
        end

        out[key] = v.nil? ? "" : to_bytes!(v, "headers[#{key.inspect}]")
      end
    end

    def string!(value, name)
      raise TypeError, "#{name} must be a String, got #{class_name(value)}" unless value.is_a?(String)

      value
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

    # Milliseconds since the epoch for a Time (or anything with `to_time`: DateTime,
    # ActiveSupport::TimeWithZone), or Integer milliseconds.
    def timestamp_ms!(time, name = "create_time")
      case time
      when nil then Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
      when Time then (time.to_r * 1000).to_i
      when Integer then time
      else
        raise TypeError, "#{name} must be a Time, got #{time.class}" unless time.respond_to?(:to_time)

        converted = time.to_time
        raise TypeError, "#{name}.to_time must return a Time, got #{converted.class}" unless converted.is_a?(Time)

        (converted.to_r * 1000).to_i
      end
    end

    # A timeout option: nil means the default, as in ruby-kafka.
    def timeout!(value, name, default)
      value.nil? ? default : positive_number!(value, name)
    end

    # The TLS options of {Client#initialize} (ruby-kafka's names), checked and packed for the
    # native client: `[ca_certs, ca_cert_file_path, ca_certs_from_system, client_cert,
    # client_cert_key, client_cert_key_password, client_cert_chain, verify_hostname]`. Messages
    # name the argument, never its value (keys and passwords are secrets).
    def ssl_options!(ca_cert:, ca_cert_file_path:, ca_certs_from_system:, client_cert:, client_cert_key:,
                     client_cert_key_password:, client_cert_chain:, verify_hostname:)
      ca_certs = case ca_cert
                 when nil then []
                 when String then [pem!(ca_cert, "ssl_ca_cert")]
                 when Array
                   raise ArgumentError, "ssl_ca_cert must not be an empty Array" if ca_cert.empty?

                   ca_cert.each_with_index.map { |pem, i| pem!(pem, "ssl_ca_cert[#{i}]") }
                 else raise TypeError, "ssl_ca_cert must be a String or an Array of Strings, got #{class_name(ca_cert)}"
                 end
      ca_cert_file_path = ca_cert_file_path.to_path if ca_cert_file_path.respond_to?(:to_path)
      ca_cert_file_path = pem!(ca_cert_file_path, "ssl_ca_cert_file_path") unless ca_cert_file_path.nil?
      boolean!(ca_certs_from_system, "ssl_ca_certs_from_system")
      boolean!(verify_hostname, "ssl_verify_hostname")
      verify_hostname = true if verify_hostname.nil?
      client_cert = pem!(client_cert, "ssl_client_cert") unless client_cert.nil?
      client_cert_key = pem!(client_cert_key, "ssl_client_cert_key") unless client_cert_key.nil?
      client_cert_chain = pem!(client_cert_chain, "ssl_client_cert_chain") unless client_cert_chain.nil?
      unless client_cert_key_password.nil? || client_cert_key_password.is_a?(String)
        raise TypeError, "ssl_client_cert_key_password must be a String, got #{class_name(client_cert_key_password)}"
      end

      if client_cert && !client_cert_key
        raise ArgumentError, "ssl_client_cert_key is missing: ssl_client_cert needs its private key"
      end
      raise ArgumentError, "ssl_client_cert is missing: ssl_client_cert_key needs its certificate" if client_cert_key && !client_cert
      if client_cert_key_password && !client_cert_key
        raise ArgumentError, "ssl_client_cert_key_password is given without ssl_client_cert_key"
      end
      raise ArgumentError, "ssl_client_cert_chain is given without ssl_client_cert" if client_cert_chain && !client_cert

      [ca_certs, ca_cert_file_path, ca_certs_from_system ? true : false, client_cert, client_cert_key,
       client_cert_key_password, client_cert_chain, verify_hostname]
    end

    # A PEM option (or path): a non-empty String.
    def pem!(value, name)
      raise TypeError, "#{name} must be a String, got #{class_name(value)}" unless value.is_a?(String)
      raise ArgumentError, "#{name} is empty" if value.strip.empty?

      value
    end

    def boolean!(value, name)
      return value if value == true || value == false || value.nil?

      raise TypeError, "#{name} must be true or false, got #{class_name(value)}"
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
