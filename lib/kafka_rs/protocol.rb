# frozen_string_literal: true

module KafkaRs
  # Numbers of the Kafka protocol that apps pass to the client, under ruby-kafka's constant names
  # (so `kafka.supports_api?(Kafka::Protocol::PRODUCE_API)` keeps working with `Kafka = KafkaRs`).
  module Protocol
    PRODUCE_API = 0
    FETCH_API = 1
    LIST_OFFSET_API = 2
    TOPIC_METADATA_API = 3
    OFFSET_COMMIT_API = 8
    OFFSET_FETCH_API = 9
    FIND_COORDINATOR_API = 10
    JOIN_GROUP_API = 11
    HEARTBEAT_API = 12
    LEAVE_GROUP_API = 13
    SYNC_GROUP_API = 14
    DESCRIBE_GROUPS_API = 15
    LIST_GROUPS_API = 16
    SASL_HANDSHAKE_API = 17
    API_VERSIONS_API = 18
    CREATE_TOPICS_API = 19
    DELETE_TOPICS_API = 20
    INIT_PRODUCER_ID_API = 22
    ADD_PARTITIONS_TO_TXN_API = 24
    ADD_OFFSETS_TO_TXN_API = 25
    END_TXN_API = 26
    TXN_OFFSET_COMMIT_API = 28
    DESCRIBE_CONFIGS_API = 32
    ALTER_CONFIGS_API = 33
    CREATE_PARTITIONS_API = 37
    INCREMENTAL_ALTER_CONFIGS_API = 44

    # Kafka's names of the APIs above, by key (see {ApiInfo#api_name}).
    API_NAMES = {
      PRODUCE_API => "Produce", FETCH_API => "Fetch", LIST_OFFSET_API => "ListOffsets",
      TOPIC_METADATA_API => "Metadata", OFFSET_COMMIT_API => "OffsetCommit",
      OFFSET_FETCH_API => "OffsetFetch", FIND_COORDINATOR_API => "FindCoordinator",
      JOIN_GROUP_API => "JoinGroup", HEARTBEAT_API => "Heartbeat", LEAVE_GROUP_API => "LeaveGroup",
      SYNC_GROUP_API => "SyncGroup", DESCRIBE_GROUPS_API => "DescribeGroups",
      LIST_GROUPS_API => "ListGroups", SASL_HANDSHAKE_API => "SaslHandshake",
      API_VERSIONS_API => "ApiVersions", CREATE_TOPICS_API => "CreateTopics",
      DELETE_TOPICS_API => "DeleteTopics", INIT_PRODUCER_ID_API => "InitProducerId",
      ADD_PARTITIONS_TO_TXN_API => "AddPartitionsToTxn", ADD_OFFSETS_TO_TXN_API => "AddOffsetsToTxn",
      END_TXN_API => "EndTxn", TXN_OFFSET_COMMIT_API => "TxnOffsetCommit",
      DESCRIBE_CONFIGS_API => "DescribeConfigs", ALTER_CONFIGS_API => "AlterConfigs",
      CREATE_PARTITIONS_API => "CreatePartitions",
      INCREMENTAL_ALTER_CONFIGS_API => "IncrementalAlterConfigs"
    }.freeze

    # Config resource types (Kafka's `ResourceType`): a topic, and a broker (ruby-kafka calls
    # it "cluster").
    RESOURCE_TYPE_TOPIC = 2
    RESOURCE_TYPE_CLUSTER = 4
  end

  # The versions of one API that a broker supports, as returned by {Client#apis}.
  ApiInfo = Struct.new(:api_key, :min_version, :max_version) do
    # @return [String, nil] Kafka's name of the API ("Produce"), nil for one not in {Protocol}
    def api_name
      Protocol::API_NAMES[api_key]
    end

    # @param version [Integer]
    # @return [Boolean]
    def version_supported?(version)
      (min_version..max_version).cover?(version)
    end

    def to_s
      "#{api_name || api_key}=#{min_version}..#{max_version}"
    end

    def inspect
      "#<KafkaRs::ApiInfo #{self}>"
    end
  end
end
