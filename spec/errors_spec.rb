# frozen_string_literal: true

# Specs for lib/kafka_rs/errors.rb.
#
# The protocol error classes are built from the table the native extension exports
# (KafkaRs::Native::ERROR_CODES). When the extension has not been built, the examples that need it
# are skipped; the client-side error classes are tested either way.

lib = File.expand_path("../lib", __dir__)
$LOAD_PATH.unshift(lib) unless $LOAD_PATH.include?(lib)

native_extension = Dir[File.join(lib, "kafka_rs", "kafka_rs.{so,bundle}")].first
if native_extension && !defined?(KafkaRs::Native::ERROR_CODES)
  begin
    require "kafka_rs/kafka_rs"
  rescue LoadError => e
    warn "errors_spec: could not load the native extension #{native_extension}: #{e.message}"
  end
end

require "kafka_rs/errors"

RSpec.describe "KafkaRs errors" do
  describe "client-side errors" do
    it "roots everything at KafkaRs::Error < StandardError" do
      expect(KafkaRs::Error.superclass).to eq(StandardError)
      expect(KafkaRs::ProtocolError.superclass).to eq(KafkaRs::Error)
    end

    it "has ruby-kafka's client-side classes with ruby-kafka's superclasses" do
      {
        KafkaRs::ProcessingError => KafkaRs::Error,
        KafkaRs::ConnectionError => KafkaRs::Error,
        KafkaRs::IdleConnection => KafkaRs::Error,
        KafkaRs::NoSuchBroker => KafkaRs::Error,
        KafkaRs::InsufficientDataMessage => KafkaRs::Error,
        KafkaRs::MessageTooLargeToRead => KafkaRs::Error,
        KafkaRs::NoPartitionsToFetchFrom => KafkaRs::Error,
        KafkaRs::BufferOverflow => KafkaRs::Error,
        KafkaRs::DeliveryFailed => KafkaRs::Error,
        KafkaRs::HeartbeatError => KafkaRs::Error,
        KafkaRs::OffsetCommitError => KafkaRs::Error,
        KafkaRs::FetchError => KafkaRs::Error,
        KafkaRs::SaslScramError => KafkaRs::Error,
        KafkaRs::FailedScramAuthentication => KafkaRs::SaslScramError,
        KafkaRs::TokenMethodNotImplementedError => KafkaRs::Error
      }.each do |klass, superclass|
        expect(klass.superclass).to eq(superclass), "#{klass} should be a direct subclass of #{superclass}"
      end
    end

    it "has kafka_rs's own classes" do
      expect(KafkaRs::ClientClosed.superclass).to eq(KafkaRs::Error)
      expect(KafkaRs::TimeoutError.superclass).to eq(KafkaRs::ConnectionError)
      expect(KafkaRs::SslError.superclass).to eq(KafkaRs::ConnectionError)
      expect(KafkaRs::SslError.new("bad certificate").reason).to be_nil
      expect { raise KafkaRs::TimeoutError, "read timed out" }.to raise_error(KafkaRs::ConnectionError)
    end

    it "keeps DeliveryFailed's message and failed messages" do
      failed = [double("message 1"), double("message 2")]
      error = KafkaRs::DeliveryFailed.new("Failed to send messages", failed)
      expect(error.message).to eq("Failed to send messages")
      expect(error.failed_messages).to eq(failed)

      expect { raise KafkaRs::DeliveryFailed.new("boom", failed) }.to raise_error(KafkaRs::DeliveryFailed) { |e|
        expect(e.failed_messages).to equal(failed)
      }
      expect(KafkaRs::DeliveryFailed.new("boom").failed_messages).to eq([])
    end

    it "keeps ProcessingError's topic, partition and offset" do
      error = KafkaRs::ProcessingError.new("greetings", 3, 42)
      expect([error.topic, error.partition, error.offset]).to eq(["greetings", 3, 42])
    end

    it "maps unknown codes to ProtocolError itself" do
      expect(KafkaRs::ProtocolError.for_code(31_999)).to equal(KafkaRs::ProtocolError)
      error = KafkaRs::ProtocolError.from_code(31_999, "from a future broker")
      expect(error).to be_an_instance_of(KafkaRs::ProtocolError)
      expect(error.code).to eq(31_999)
      expect(error.kafka_name).to eq("UNKNOWN")
      expect(error.retriable?).to be(false)
      expect(error.message).to eq("from a future broker")
      expect(KafkaRs::ProtocolError.from_code(31_999).message).to include("31999")
    end

    it "allows a bare ProtocolError, as ruby-kafka raises for client-side protocol problems" do
      error = KafkaRs::ProtocolError.new("Resource type not supported")
      expect(error.code).to be_nil
      expect(error.retriable?).to be(false)
    end
  end

  describe "protocol errors" do
    before(:all) do
      unless defined?(KafkaRs::Native::ERROR_CODES)
        skip "native extension not built (lib/kafka_rs/kafka_rs.so missing or without " \
             "KafkaRs::Native::ERROR_CODES); build it to run these"
      end
      # Idempotent: also covers errors.rb having been required before the extension.
      KafkaRs::Errors.define_protocol_errors(KafkaRs::Native::ERROR_CODES)
    end

    let(:table) { KafkaRs::Native::ERROR_CODES }

    # ruby-kafka's class names and codes (zendesk/ruby-kafka, Kafka::Protocol::ERRORS), written
    # out independently of the native table.
    let(:ruby_kafka_classes) do
      {
        "UnknownError" => -1,
        "OffsetOutOfRange" => 1,
        "CorruptMessage" => 2,
        "UnknownTopicOrPartition" => 3,
        "InvalidMessageSize" => 4,
        "LeaderNotAvailable" => 5,
        "NotLeaderForPartition" => 6,
        "RequestTimedOut" => 7,
        "BrokerNotAvailable" => 8,
        "ReplicaNotAvailable" => 9,
        "MessageSizeTooLarge" => 10,
        "StaleControllerEpoch" => 11,
        "OffsetMetadataTooLarge" => 12,
        "NetworkException" => 13,
        "CoordinatorLoadInProgress" => 14,
        "CoordinatorNotAvailable" => 15,
        "NotCoordinatorForGroup" => 16,
        "InvalidTopic" => 17,
        "RecordListTooLarge" => 18,
        "NotEnoughReplicas" => 19,
        "NotEnoughReplicasAfterAppend" => 20,
        "InvalidRequiredAcks" => 21,
        "IllegalGeneration" => 22,
        "InconsistentGroupProtocol" => 23,
        "InvalidGroupId" => 24,
        "UnknownMemberId" => 25,
        "InvalidSessionTimeout" => 26,
        "RebalanceInProgress" => 27,
        "InvalidCommitOffsetSize" => 28,
        "TopicAuthorizationFailed" => 29,
        "GroupAuthorizationFailed" => 30,
        "ClusterAuthorizationFailed" => 31,
        "InvalidTimestamp" => 32,
        "UnsupportedSaslMechanism" => 33,
        "InvalidSaslState" => 34,
        "UnsupportedVersion" => 35,
        "TopicAlreadyExists" => 36,
        "InvalidPartitions" => 37,
        "InvalidReplicationFactor" => 38,
        "InvalidReplicaAssignment" => 39,
        "InvalidConfig" => 40,
        "NotController" => 41,
        "InvalidRequest" => 42,
        "UnsupportedForMessageFormat" => 43,
        "PolicyViolation" => 44,
        "OutOfOrderSequenceNumberError" => 45,
        "DuplicateSequenceNumberError" => 46,
        "InvalidProducerEpochError" => 47,
        "InvalidTxnStateError" => 48,
        "InvalidProducerIDMappingError" => 49,
        "InvalidTransactionTimeoutError" => 50,
        "ConcurrentTransactionError" => 51,
        "TransactionCoordinatorFencedError" => 52
      }
    end

    # Modern (Java enum) names whose CamelCase form differs from ruby-kafka's name.
    let(:aliases) do
      {
        "UnknownServerError" => "UnknownError",
        "InvalidFetchSize" => "InvalidMessageSize",
        "NotLeaderOrFollower" => "NotLeaderForPartition",
        "MessageTooLarge" => "MessageSizeTooLarge",
        "NotCoordinator" => "NotCoordinatorForGroup",
        "InvalidTopicException" => "InvalidTopic",
        "IllegalSaslState" => "InvalidSaslState",
        "OutOfOrderSequenceNumber" => "OutOfOrderSequenceNumberError",
        "DuplicateSequenceNumber" => "DuplicateSequenceNumberError",
        "InvalidProducerEpoch" => "InvalidProducerEpochError",
        "InvalidTxnState" => "InvalidTxnStateError",
        "InvalidProducerIdMapping" => "InvalidProducerIDMappingError",
        "InvalidTransactionTimeout" => "InvalidTransactionTimeoutError",
        "ConcurrentTransactions" => "ConcurrentTransactionError",
        "TransactionCoordinatorFenced" => "TransactionCoordinatorFencedError"
      }
    end

    it "exports a well-formed table" do
      expect(table).not_to be_empty
      table.each do |row|
        code, name, retriable, description = row
        expect(row.size).to eq(4)
        expect(code).to be_an(Integer)
        expect(name).to match(/\A[A-Z][A-Z_]*\z/)
        expect([true, false]).to include(retriable)
        expect(description).to be_a(String).and(satisfy { |d| !d.empty? })
      end
      expect(table.map(&:first).uniq.size).to eq(table.size)
      expect(table.map { |row| row[1] }.uniq.size).to eq(table.size)
    end

    it "defines ruby-kafka's class names with ruby-kafka's codes" do
      ruby_kafka_classes.each do |name, code|
        expect(KafkaRs.const_defined?(name, false)).to be(true), "KafkaRs::#{name} is missing"
        klass = KafkaRs.const_get(name, false)
        expect(klass.name).to eq("KafkaRs::#{name}")
        # A direct subclass, except the SASL codes, under SaslAuthenticationFailed (see below).
        expect(klass.superclass).to eq(klass.code.between?(33, 34) ? KafkaRs::SaslAuthenticationFailed : KafkaRs::ProtocolError)
        expect(klass.code).to eq(code), "KafkaRs::#{name} should be code #{code}"
        expect(KafkaRs::ProtocolError.for_code(code)).to equal(klass)
      end
    end

    it "aliases the modern names to the same classes" do
      aliases.each do |modern, ruby_kafka|
        expect(KafkaRs.const_get(modern, false)).to equal(KafkaRs.const_get(ruby_kafka, false))
      end
      expect(KafkaRs::NotLeaderOrFollower).to equal(KafkaRs::NotLeaderForPartition)
      expect(KafkaRs::MessageTooLarge).to equal(KafkaRs::MessageSizeTooLarge)
    end

    it "defines a class for every code in the table, reachable by its CamelCase Kafka name" do
      table.each do |code, name, retriable, description|
        next if code.zero?

        klass = KafkaRs::ProtocolError.for_code(code)
        expect(klass).to be < KafkaRs::ProtocolError
        expect(klass.code).to eq(code)
        expect(klass.kafka_name).to eq(name)
        expect(klass.retriable?).to eq(retriable)
        expect(klass.description).to eq(description)
        expect(KafkaRs.const_get(KafkaRs::Errors.camelize(name), false)).to equal(klass)
      end
      expect(KafkaRs::ProtocolError.for_code(0)).to equal(KafkaRs::ProtocolError)
      expect(KafkaRs.const_defined?(:None, false)).to be(false)
    end

    it "names classes after the CamelCase Kafka name when ruby-kafka has none" do
      expect(KafkaRs::GroupIdNotFound.code).to eq(69)
      expect(KafkaRs::FencedLeaderEpoch.code).to eq(74)
      expect(KafkaRs::ProducerFenced.code).to eq(90)
      expect(KafkaRs::KafkaStorageError.name).to eq("KafkaRs::KafkaStorageError")
    end

    it "tells retriable errors apart" do
      expect(KafkaRs::UnknownTopicOrPartition.retriable?).to be(true)
      expect(KafkaRs::NotLeaderForPartition.retriable?).to be(true)
      expect(KafkaRs::LeaderNotAvailable.retriable?).to be(true)
      expect(KafkaRs::RequestTimedOut.retriable?).to be(true)
      expect(KafkaRs::NotEnoughReplicas.retriable?).to be(true)
      expect(KafkaRs::MessageSizeTooLarge.retriable?).to be(false)
      expect(KafkaRs::TopicAlreadyExists.retriable?).to be(false)
      expect(KafkaRs::TopicAuthorizationFailed.retriable?).to be(false)
      expect(KafkaRs::UnknownError.retriable?).to be(false)
      expect(KafkaRs::NotLeaderOrFollower.new.retriable?).to be(true)
      expect(KafkaRs::InvalidConfig.new.retriable?).to be(false)
    end

    it "raises instances carrying their code" do
      expect { raise KafkaRs::NotLeaderForPartition, "partition 3 of greetings" }
        .to raise_error(KafkaRs::NotLeaderOrFollower, "partition 3 of greetings") { |e|
          expect(e.code).to eq(6)
          expect(e.kafka_name).to eq("NOT_LEADER_OR_FOLLOWER")
          expect(e).to be_a(KafkaRs::ProtocolError)
          expect(e).to be_a(KafkaRs::Error)
        }

      error = KafkaRs::ProtocolError.from_code(3)
      expect(error).to be_an_instance_of(KafkaRs::UnknownTopicOrPartition)
      expect(error.code).to eq(3)
      expect(error.message).to start_with("UNKNOWN_TOPIC_OR_PARTITION (3)")
      expect { KafkaRs::UnknownTopicOrPartition.new("x", code: 5) }.to raise_error(ArgumentError)
    end

    it "keeps ruby-kafka's OffsetOutOfRange accessors" do
      error = KafkaRs::OffsetOutOfRange.new
      error.topic = "greetings"
      error.partition = 0
      error.offset = 123
      expect([error.topic, error.partition, error.offset]).to eq(["greetings", 0, 123])
    end

    it "lets applications subclass protocol errors" do
      subclass = Class.new(KafkaRs::RebalanceInProgress)
      expect(subclass.code).to eq(27)
      expect(subclass.new.code).to eq(27)
    end

    it "makes SaslAuthenticationFailed (code 58) the parent of every SASL refusal" do
      expect(KafkaRs::SaslAuthenticationFailed.code).to eq(58)
      expect(KafkaRs::SaslAuthenticationFailed.superclass).to eq(KafkaRs::ProtocolError)
      expect(KafkaRs::UnsupportedSaslMechanism.superclass).to eq(KafkaRs::SaslAuthenticationFailed)
      expect(KafkaRs::UnsupportedSaslMechanism.code).to eq(33)
      expect(KafkaRs::InvalidSaslState.superclass).to eq(KafkaRs::SaslAuthenticationFailed)
      expect(KafkaRs::InvalidSaslState.code).to eq(34)
      expect(KafkaRs::IllegalSaslState).to equal(KafkaRs::InvalidSaslState)
    end

    it "lets ruby-kafka's SCRAM rescue clauses catch SASL refusals" do
      [58, 33].each do |code|
        caught =
          begin
            raise KafkaRs::ProtocolError.from_code(code, "refused")
          rescue KafkaRs::FailedScramAuthentication => e
            e
          end
        expect(caught.code).to eq(code)
        expect(KafkaRs::SaslScramError === caught).to be(true)
      end
      expect(KafkaRs::FailedScramAuthentication === KafkaRs::SaslScramError.new).to be(false)
      expect(KafkaRs::SaslScramError === KafkaRs::FailedScramAuthentication.new).to be(true)
      expect(KafkaRs::SaslScramError === KafkaRs::RebalanceInProgress.new).to be(false)
      expect(KafkaRs::SaslAuthenticationFailed.new).not_to be_a(KafkaRs::SaslScramError)
    end

    it "is idempotent" do
      before = KafkaRs::Errors.protocol_error_classes
      KafkaRs::Errors.define_protocol_errors(table)
      expect(KafkaRs::Errors.protocol_error_classes).to eq(before)
    end
  end
end
