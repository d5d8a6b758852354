# frozen_string_literal: true

# The exception hierarchy of kafka_rs.
#
# The class names and superclasses follow ruby-kafka's, so code written against ruby-kafka
# (`rescue Kafka::ConnectionError`, `rescue Kafka::NotLeaderForPartition`, ...) keeps working once
# `Kafka` points at `KafkaRs`:
#
#   KafkaRs::Error                    base of everything the gem raises (bad arguments raise
#   |                                 ArgumentError / TypeError instead)
#   +-- ProtocolError                 a broker answered with a Kafka error code (#code, #retriable?)
#   |   +-- one class per error code  built from the native extension's table at load time
#   |       (SaslAuthenticationFailed, code 58, is the parent of UnsupportedSaslMechanism and
#   |       InvalidSaslState: every SASL refusal; ruby-kafka's FailedScramAuthentication and
#   |       SaslScramError match it in `rescue`)
#   +-- ConnectionError               network failure (connect, read, write)
#   |   +-- TimeoutError              ... that was a socket timeout
#   |   +-- SslError                  TLS could not be set up (bad certificate, key, handshake)
#   +-- DeliveryFailed, BufferOverflow, ... (client-side errors, see below)
#
# Protocol error classes are not written out here: the native extension exports every code it
# knows as `KafkaRs::Native::ERROR_CODES` and {KafkaRs::Errors.define_protocol_errors} turns each
# row into a class. A class is named after ruby-kafka's class for that code where ruby-kafka has
# one, otherwise after the CamelCase form of Kafka's Java enum name; when the two differ, the
# CamelCase name is an alias of the same class (`KafkaRs::NotLeaderOrFollower.equal?(
# KafkaRs::NotLeaderForPartition)`).
module KafkaRs
  # Base class of every error raised by kafka_rs, except ArgumentError / TypeError for bad input.
  class Error < StandardError
  end

  # Raised by a consumer when the block processing a message or batch raised; the original
  # exception is available as {#cause}.
  class ProcessingError < Error
    # @return [String] topic of the message being processed
    attr_reader :topic
    # @return [Integer] partition of the message being processed
    attr_reader :partition
    # @return [Integer] offset of the message (or first message of the batch) being processed
    attr_reader :offset

    # @param topic [String]
    # @param partition [Integer]
    # @param offset [Integer]
    def initialize(topic, partition, offset)
      @topic = topic
      @partition = partition
      @offset = offset

      super()
    end
  end

  # A broker answered with a Kafka protocol error code. Each known code has its own subclass (see
  # {KafkaRs::Errors.define_protocol_errors}); ProtocolError itself stands for a code this version
  # does not know.
  class ProtocolError < Error
    class << self
      # @return [Integer, nil] the Kafka error code of this class (nil on ProtocolError itself)
      def code
        kafka_attribute(:@kafka_code)
      end

      # @return [String] Kafka's (Java enum) name of the code, e.g. "NOT_LEADER_OR_FOLLOWER";
      #   "UNKNOWN" on ProtocolError itself
      def kafka_name
        kafka_attribute(:@kafka_name) || "UNKNOWN"
      end

      # @return [String, nil] a one-line description of the code
      def description
        kafka_attribute(:@kafka_description)
      end

      # @return [Boolean] whether Kafka considers the error transient (retrying may succeed)
      def retriable?
        kafka_attribute(:@kafka_retriable) == true
      end

      # The exception class for a Kafka error code.
      #
      # @param code [Integer]
      # @return [Class<ProtocolError>] the code's class, or ProtocolError for an unknown code
      def for_code(code)
        Errors.protocol_error_classes.fetch(code, ProtocolError)
      end

      # Builds (does not raise) the exception for a Kafka error code.
      #
      # @param code [Integer]
      # @param message [String, nil] defaults to the code's name and description
      # @return [ProtocolError]
      def from_code(code, message = nil)
        for_code(code).new(message, code: code)
      end

      private

      # Reads a class-level attribute set by define_protocol_errors, looking through superclasses
      # so that an application's subclass of a protocol error class inherits it.
      def kafka_attribute(ivar)
        klass = self
        while klass <= ProtocolError
          return klass.instance_variable_get(ivar) if klass.instance_variable_defined?(ivar)

          klass = klass.superclass
        end
        nil
      end
    end

    # @param message [String, nil] defaults to the code's name and description
    # @param code [Integer, nil] the error code; only needed on ProtocolError itself (an unknown
    #   code): a subclass already knows its code
    # @raise [ArgumentError] if code contradicts the subclass's own code
    def initialize(message = nil, code: nil)
      own = self.class.code
      if code && own && code != own
        raise ArgumentError, "#{self.class} is error code #{own}, not #{code}"
      end

      @code = code || own
      super(message || default_message)
    end

    # @return [Integer, nil] the Kafka error code (nil only for a bare ProtocolError raised
    #   without one)
    attr_reader :code

    # @return [String] Kafka's name of the code ("UNKNOWN" for a code this version does not know)
    def kafka_name
      self.class.code ? self.class.kafka_name : "UNKNOWN"
    end

    # @return [Boolean] whether Kafka considers the error transient (retrying may succeed);
    #   false for unknown codes
    def retriable?
      self.class.retriable?
    end

    private

    def default_message
      if self.class.code
        "#{self.class.kafka_name} (#{self.class.code}): #{self.class.description}"
      elsif @code
        "UNKNOWN (#{@code}): the broker sent an error code this client does not know"
      else
        self.class.name
      end
    end
  end

  ###
  # Client-side errors (names and superclasses as in ruby-kafka)
  ###

  # A network connection could not be opened, or failed while in use (also raised when no seed
  # broker can be reached).
  class ConnectionError < Error
  end

  # TLS could not be set up: a certificate, key or password given to the client is unusable
  # (raised by {Client#initialize}), or the TLS handshake with a broker failed (unknown CA, expired
  # or not-yet-valid certificate, hostname mismatch, the broker requires a client certificate or
  # refused the one given). Final: the client does not retry it against other brokers. The message
  # says what was wrong and never holds a key or a password. Not in ruby-kafka (which raised
  # OpenSSL's errors); a ConnectionError so `rescue ConnectionError` keeps catching it.
  class SslError < ConnectionError
    # @return [Symbol, nil] what was wrong: :unknown_ca, :certificate_expired,
    #   :certificate_not_yet_valid, :hostname_mismatch, :client_certificate_required,
    #   :client_certificate_rejected, :key_mismatch, :wrong_key_password, :key_password_missing,
    #   :bad_pem or :handshake
    attr_reader :reason
  end

  # A connect, read or write on a broker connection exceeded its timeout. ruby-kafka raised a plain
  # ConnectionError here; this subclass keeps `rescue ConnectionError` working.
  class TimeoutError < ConnectionError
  end

  # A connection was unused for too long and is assumed to have been closed by the broker.
  class IdleConnection < Error
  end

  # The cluster metadata does not know the requested broker.
  class NoSuchBroker < Error
  end

  # A response holds fewer records than its header announced.
  class InsufficientDataMessage < Error
  end

  # A message in a partition is larger than the maximum fetch size asked for.
  class MessageTooLargeToRead < Error
  end

  # A fetch was attempted without any partition to fetch from.
  class NoPartitionsToFetchFrom < Error
  end

  # A producer's buffer is full (max_buffer_size or max_buffer_bytesize reached).
  class BufferOverflow < Error
  end

  # A producer could not deliver every buffered message.
  class DeliveryFailed < Error
    # @return [Array] the messages that were not delivered
    attr_reader :failed_messages

    # @param message [String]
    # @param failed_messages [Array] the messages that were not delivered
    def initialize(message = nil, failed_messages = [])
      @failed_messages = failed_messages

      super(message)
    end
  end

  # A consumer group heartbeat failed.
  class HeartbeatError < Error
  end

  # Committing consumer offsets failed.
  class OffsetCommitError < Error
  end

  # Fetching messages failed.
  class FetchError < Error
  end

  # SASL/SCRAM authentication went wrong.
  #
  # kafka_rs raises {KafkaRs::SaslAuthenticationFailed} (the class of Kafka's error code 58) for
  # every refused authentication, whatever the mechanism. ruby-kafka had no class for code 58 and
  # raised FailedScramAuthentication when a SCRAM broker refused the credentials, so that
  # `rescue Kafka::FailedScramAuthentication` and `rescue Kafka::SaslScramError` in code written
  # for ruby-kafka keep catching refusals, these two classes also match SaslAuthenticationFailed
  # (and its subclasses) in `rescue` and `===`.
  class SaslScramError < Error
    def self.===(other)
      super || (defined?(KafkaRs::SaslAuthenticationFailed) && other.is_a?(KafkaRs::SaslAuthenticationFailed))
    end
  end

  # The broker rejected SASL/SCRAM credentials, or its proof did not verify.
  class FailedScramAuthentication < SaslScramError
  end

  # The token provider given for SASL OAUTHBEARER has no `token` method.
  class TokenMethodNotImplementedError < Error
  end

  # The client (or the producer/consumer using it) was closed; not in ruby-kafka.
  class ClientClosed < Error
  end

  # {DeliveryHandle#wait} ran out of time; the message is still pending.
  class WaitTimeout < Error
  end

  # Builds the protocol error classes from the native extension's table.
  module Errors
    # ruby-kafka's class names, by Kafka (Java enum) name, where they differ from the CamelCase
    # form of the Kafka name. The CamelCase form becomes an alias of the class.
    RUBY_KAFKA_NAMES = {
      "UNKNOWN_SERVER_ERROR" => "UnknownError",
      "INVALID_FETCH_SIZE" => "InvalidMessageSize",
      "NOT_LEADER_OR_FOLLOWER" => "NotLeaderForPartition",
      "MESSAGE_TOO_LARGE" => "MessageSizeTooLarge",
      "NOT_COORDINATOR" => "NotCoordinatorForGroup",
      "INVALID_TOPIC_EXCEPTION" => "InvalidTopic",
      "ILLEGAL_SASL_STATE" => "InvalidSaslState",
      "OUT_OF_ORDER_SEQUENCE_NUMBER" => "OutOfOrderSequenceNumberError",
      "DUPLICATE_SEQUENCE_NUMBER" => "DuplicateSequenceNumberError",
      "INVALID_PRODUCER_EPOCH" => "InvalidProducerEpochError",
      "INVALID_TXN_STATE" => "InvalidTxnStateError",
      "INVALID_PRODUCER_ID_MAPPING" => "InvalidProducerIDMappingError",
      "INVALID_TRANSACTION_TIMEOUT" => "InvalidTransactionTimeoutError",
      "CONCURRENT_TRANSACTIONS" => "ConcurrentTransactionError",
      "TRANSACTION_COORDINATOR_FENCED" => "TransactionCoordinatorFencedError"
    }.freeze

    # Codes whose classes are subclasses of another code's class, by Kafka name: every SASL
    # failure is a SaslAuthenticationFailed (`rescue KafkaRs::SaslAuthenticationFailed` catches a
    # mechanism the broker does not enable too).
    PARENT_CODES = {
      "UNSUPPORTED_SASL_MECHANISM" => "SASL_AUTHENTICATION_FAILED",
      "ILLEGAL_SASL_STATE" => "SASL_AUTHENTICATION_FAILED"
    }.freeze

    # Extra behaviour of some classes, by Kafka name (ruby-kafka's consumer sets these).
    CLASS_EXTENSIONS = {
      "OFFSET_OUT_OF_RANGE" => proc { attr_accessor :topic, :partition, :offset }
    }.freeze

    @protocol_error_classes = {}

    class << self
      # @return [Hash{Integer => Class<ProtocolError>}] the class of each known error code (a copy)
      def protocol_error_classes
        @protocol_error_classes.dup
      end

      # Defines one ProtocolError subclass per row of `table` under KafkaRs (code 0, "NONE", is
      # skipped). Calling it again with the same rows changes nothing.
      #
      # @param table [Array<Array(Integer, String, Boolean, String)>] rows of
      #   `[code, "JAVA_ENUM_NAME", retriable, "description"]`, as in KafkaRs::Native::ERROR_CODES
      # @return [Hash{Integer => Class<ProtocolError>}] the classes defined or updated, by code
      # @raise [KafkaRs::Error] if a class name is already taken by an unrelated constant
      def define_protocol_errors(table)
        defined = {}
        parents = {}
        # Parents first, so that their subclasses can be made.
        rows = table.sort_by.with_index { |row, i| [PARENT_CODES.value?(String(row[1])) ? 0 : 1, i] }
        rows.each do |code, kafka_name, retriable, description|
          code = Integer(code)
          next if code.zero?

          kafka_name = String(kafka_name)
          klass = protocol_error_class(code, kafka_name, parents[PARENT_CODES[kafka_name]] || ProtocolError)
          parents[kafka_name] = klass if PARENT_CODES.value?(kafka_name)
          klass.instance_variable_set(:@kafka_code, code)
          klass.instance_variable_set(:@kafka_name, kafka_name.dup.freeze)
          klass.instance_variable_set(:@kafka_retriable, retriable ? true : false)
          klass.instance_variable_set(:@kafka_description, String(description).dup.freeze)
          @protocol_error_classes[code] = klass
          defined[code] = klass
        end
        defined
      end

      # @param kafka_name [String] e.g. "NOT_LEADER_OR_FOLLOWER"
      # @return [String] e.g. "NotLeaderOrFollower"
      def camelize(kafka_name)
        kafka_name.split("_").map(&:capitalize).join
      end

      private

      # Finds or creates the class for a code, and its alias.
      def protocol_error_class(code, kafka_name, parent)
        camel = camelize(kafka_name)
        primary = RUBY_KAFKA_NAMES.fetch(kafka_name, camel)

        klass = existing_class(primary, code)
        unless klass
          klass = Class.new(parent)
          KafkaRs.const_set(primary, klass)
          extension = CLASS_EXTENSIONS[kafka_name]
          klass.class_eval(&extension) if extension
        end

        if camel != primary
          if KafkaRs.const_defined?(camel, false)
            unless KafkaRs.const_get(camel, false).equal?(klass)
              raise Error, "cannot alias KafkaRs::#{camel} to #{klass}: the name is taken"
            end
          else
            KafkaRs.const_set(camel, klass)
          end
        end
        klass
      end

      # The class already defined under `name` for this code (a repeated call), or nil.
      def existing_class(name, code)
        return nil unless KafkaRs.const_defined?(name, false)

        existing = KafkaRs.const_get(name, false)
        if existing.is_a?(Class) && existing < ProtocolError &&
           [nil, code].include?(existing.instance_variable_get(:@kafka_code))
          return existing
        end

        raise Error, "cannot define KafkaRs::#{name} for Kafka error code #{code}: the name is taken"
      end
    end
  end
end

if defined?(KafkaRs::Native::ERROR_CODES)
  KafkaRs::Errors.define_protocol_errors(KafkaRs::Native::ERROR_CODES)
end
