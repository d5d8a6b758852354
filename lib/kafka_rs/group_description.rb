# frozen_string_literal: true

module KafkaRs
  # A consumer group as {Client#describe_group} returns it (the readers of ruby-kafka's
  # `Kafka::Protocol::DescribeGroupsResponse::Group`, plus `protocol_type`):
  #
  # - `group_id` [String]
  # - `state` [String]: "Stable", "PreparingRebalance", "CompletingRebalance", "Empty", or "Dead"
  #   (also for a group that does not exist)
  # - `protocol_type` [String]: "consumer" for consumer groups; "" for a group without members
  # - `protocol` [String]: the protocol the group chose; for consumer groups the assignor
  #   ("range", "roundrobin", "cooperative-sticky", ...); "" while there is none
  # - `members` [Array<GroupMember>]
  GroupDescription = Struct.new(:group_id, :state, :protocol_type, :protocol, :members) do
    # @return [Integer] always 0: an error code from the broker raises instead (ruby-kafka's
    #   reader, kept for code that checks it)
    def error_code
      0
    end
  end

  # A member of a described group:
  #
  # - `member_id` [String]
  # - `client_id` [String]: the client id the member's client sent
  # - `client_host` [String]: the member's address as the coordinator saw it ("/10.0.0.7")
  # - `group_instance_id` [String, nil]: a static member's id (Kafka 2.4+); nil for others
  # - `subscription` [Array<String>, nil]: the topics the member subscribes to
  # - `assignment` [Hash{String => Array<Integer>}, nil]: the partitions assigned to it, sorted
  #
  # `subscription` and `assignment` are decoded for consumer groups (`protocol_type`
  # "consumer") and known only while the group is "Stable" (the broker reports members' metadata
  # only then); they are nil otherwise.
  GroupMember = Struct.new(:member_id, :client_id, :client_host, :group_instance_id, :subscription, :assignment) do
    # ruby-kafka's shape of the assignment: `member.member_assignment.topics` is
    # `{ topic => [partition, ...] }` ({} when the assignment is not known).
    #
    # @return [MemberAssignment]
    def member_assignment
      MemberAssignment.new(assignment || {})
    end
  end

  # The partitions assigned to a group member, as ruby-kafka's `Kafka::Protocol::MemberAssignment`
  # exposes them: `topics` is `{ topic => [partition, ...] }`.
  MemberAssignment = Struct.new(:topics)

  # One committed offset, as {Client#fetch_group_offsets} returns it (ruby-kafka's
  # `Kafka::Protocol::OffsetFetchResponse::PartitionOffsetInfo`):
  #
  # - `offset` [Integer]: the offset of the next message the group will read
  # - `metadata` [String, nil]: the metadata committed with it
  PartitionOffsetInfo = Struct.new(:offset, :metadata) do
    # @return [Integer] always 0: an error code from the broker raises instead
    def error_code
      0
    end

    # @return [Integer] the offset
    def to_i
      offset
    end
  end
end
