# frozen_string_literal: true

require_relative "protocol"
require_relative "config_entry"
require_relative "group_description"

module KafkaRs
  # A connection to a Kafka cluster, shaped like ruby-kafka's `Kafka::Client`: factories for
  # producers and consumers, reads without a consumer group, topic administration, and the
  # operators' view of consumer groups ({#groups}, {#describe_group}, {#fetch_group_offsets},
  # {#consumer_lag}).
  #
  # The client connects lazily (on the first call that needs a broker), keeps one connection per
  # broker (and a second one for long-poll fetches), and is safe to share between threads. After
  # `fork`, the child transparently opens its own connections.
  class Client
    OFFSETS = { latest: -1, earliest: -2 }.freeze

    # @param seed_brokers [Array<String>, String] "host:port" entries (or one comma-separated
    #   String); "kafka://" and "kafka+ssl://" (TLS) prefixes are accepted
    # @param client_id [String] sent to the brokers with every request
    # @param logger [Logger, nil] receives the client's diagnostics (connections made and refused,
    #   metadata refreshes, topic changes, produce retries and failures) with progname "kafka_rs",
    #   at the logger's level; they are handed over on the calling thread after each call
    # @param connect_timeout [Numeric, nil] seconds to wait for a TCP connection (nil: 10)
    # @param socket_timeout [Numeric, nil] seconds to wait for a response, on top of any time a
    #   request itself asks the broker to wait (nil: 10)
    # @param partitioner [nil, Symbol, #call] default partitioner of this client's producers
    #
    # TLS (ruby-kafka's option names) is on when a seed broker is given as `kafka+ssl://host:port`
    # (as hosted providers' `KAFKA_URL` values are) or when any CA or client certificate option is
    # given; mixing `kafka+ssl://` and `kafka://` seed brokers is an ArgumentError. Certificates
    # and keys are read and checked here: unusable material raises {SslError} at once.
    # @param ssl_ca_cert [String, Array<String>, nil] PEM of the CA certificate(s) that sign the
    #   brokers' certificates (one String may hold several)
    # @param ssl_ca_cert_file_path [String, nil] a PEM file of CA certificates
    # @param ssl_ca_certs_from_system [Boolean] trust the system's CA store too (it is also used
    #   when TLS is on and no CA is given)
    # @param ssl_client_cert [String, nil] PEM of the client certificate, for brokers that require
    #   one (may be followed by its intermediate CAs)
    # @param ssl_client_cert_key [String, nil] PEM of its private key: PKCS#8, PKCS#1 (RSA), SEC1
    #   (EC), or encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`) with `ssl_client_cert_key_password`
    # @param ssl_client_cert_key_password [String, nil]
    # @param ssl_client_cert_chain [String, nil] PEM of intermediate CAs sent after the client
    #   certificate
    # @param ssl_verify_hostname [Boolean] check that each broker's certificate names the host
    #   connected to; false still verifies the certificate chain
    # @param sasl_plain_username [String, nil] SASL PLAIN (with sasl_plain_password)
    # @param sasl_plain_password [String, nil]
    # @param sasl_plain_authzid [String] identity to act as (PLAIN; "" for the username's own)
    # @param sasl_scram_username [String, nil] SASL SCRAM (with sasl_scram_password and
    #   sasl_scram_mechanism)
    # @param sasl_scram_password [String, nil]
    # @param sasl_scram_mechanism [String, nil] "sha256" (SCRAM-SHA-256) or "sha512"
    # @param sasl_oauth_token_provider [#token, nil] SASL OAUTHBEARER: `#token` returns the
    #   bearer token (and `#extensions`, if defined, a Hash of SASL extensions); called on Ruby
    #   threads only, at creation and whenever the token needs refreshing (see {Sasl})
    # @param sasl_over_ssl [Boolean] refuse SASL without TLS (true, the default), as ruby-kafka
    # @raise [KafkaRs::SaslAuthenticationFailed] from any call, when a broker refuses the
    #   credentials or does not enable the mechanism (at once, never retried)
    def initialize(seed_brokers:, client_id: "kafka_rs", logger: nil, connect_timeout: 10,
                   socket_timeout: 10, partitioner: nil, ssl_ca_cert: nil, ssl_ca_cert_file_path: nil,
                   ssl_ca_certs_from_system: false, ssl_client_cert: nil, ssl_client_cert_key: nil,
                   ssl_client_cert_key_password: nil, ssl_client_cert_chain: nil, ssl_verify_hostname: true,
                   sasl_plain_authzid: "", sasl_plain_username: nil, sasl_plain_password: nil,
                   sasl_scram_username: nil, sasl_scram_password: nil, sasl_scram_mechanism: nil,
                   sasl_oauth_token_provider: nil, sasl_over_ssl: true)
      brokers = Validation.seed_brokers!(seed_brokers)
      raise TypeError, "client_id must be a String, got #{client_id.class}" unless client_id.is_a?(String)

      connect_timeout = Validation.timeout!(connect_timeout, "connect_timeout", 10)
      socket_timeout = Validation.timeout!(socket_timeout, "socket_timeout", 10)
      unless logger.nil? || logger.respond_to?(:add)
        raise TypeError, "logger must be a Logger (respond to #add), got #{logger.class}"
      end

      tls = Validation.ssl_options!(
        ca_cert: ssl_ca_cert, ca_cert_file_path: ssl_ca_cert_file_path,
        ca_certs_from_system: ssl_ca_certs_from_system, client_cert: ssl_client_cert,
        client_cert_key: ssl_client_cert_key, client_cert_key_password: ssl_client_cert_key_password,
        client_cert_chain: ssl_client_cert_chain, verify_hostname: ssl_verify_hostname
      )

      @logger = logger
      @partitioner = partitioner
      Partitioners.resolve(partitioner)
      # Builds the TLS configuration (kafka+ssl:// seeds or the ssl_* options turn TLS on); no
      # connection is made yet.
      @native = Native::Client.new(brokers, client_id, connect_timeout.to_f, socket_timeout.to_f, tls)
      sasl = Sasl.settings!(plain_authzid: sasl_plain_authzid, plain_username: sasl_plain_username,
                            plain_password: sasl_plain_password, scram_username: sasl_scram_username,
                            scram_password: sasl_scram_password, scram_mechanism: sasl_scram_mechanism,
                            oauth_token_provider: sasl_oauth_token_provider, over_ssl: sasl_over_ssl,
                            tls: @native.tls?)
      @oauth = sasl && Sasl.configure(@native, sasl, self)
      @log_level = nil
      sync_log_level if logger
      @closed = false
      @delivery_producers = {}
      @lock = Mutex.new
      @client_id = client_id
      # Request and group events are timed by this client's core while someone subscribes.
      RequestEvents.track_client(self)
    end

    # @return [String] the client id sent to the brokers (and in every instrumentation payload)
    attr_reader :client_id

    # @api private
    # The native client, for {RequestEvents}.
    def native_for_instrumentation
      @native
    end

    # @return [Logger, nil]
    attr_reader :logger

    # Delivers one message right away and waits for the acknowledgement of all in-sync replicas.
    #
    # @raise [DeliveryFailed] when the message could not be delivered (its `cause` says why)
    # @return [nil]
    def deliver_message(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil, retries: 1,
                        create_time: nil)
      check_open!
      Validation.integer!(retries, "retries", min: 0)
      entry = Producer.entry(value, topic, key, headers, partition, partition_key, create_time)
      producer = @lock.synchronize do
        @delivery_producers[retries] ||= Producer.new(client: self, native_client: @native,
                                                      partitioner: @partitioner, max_retries: retries)
      end
      failed, errors = producer.deliver_entries([entry])
      Producer.raise_delivery_failed(failed, errors) unless failed.empty?
      nil
    end

    # A buffering producer; see {Producer#initialize} for the options (ruby-kafka's names).
    #
    # @return [KafkaRs::Producer]
    def producer(**options)
      check_open!
      options = { partitioner: @partitioner }.merge(options)
      Producer.new(client: self, native_client: @native, **options)
    end

    # A member of consumer group `group_id`; see {Consumer#initialize} for the options
    # (ruby-kafka's names).
    #
    # @return [KafkaRs::Consumer]
    def consumer(group_id:, **options)
      check_open!
      Consumer.new(client: self, native_client: @native, group_id: group_id, **options)
    end

    # @api private
    # Makes an instance of a consumer class (made with `new`, no arguments) a member of `group_id`
    # on this client: Consumer's own initialize, whatever the class's initialize does.
    #
    # @return [Consumer] the consumer
    def attach_consumer(consumer, group_id:, **options)
      check_open!
      Consumer.instance_method(:initialize).bind_call(consumer, client: self, native_client: @native,
                                                                group_id: group_id, **options)
      consumer
    end

    # A producer that sends in the background; see {AsyncProducer#initialize} for the options
    # (ruby-kafka's `async_producer` keywords, plus the buffered producer's).
    #
    # @return [KafkaRs::AsyncProducer]
    def async_producer(**options)
      check_open!
      options = { partitioner: @partitioner }.merge(options)
      AsyncProducer.new(client: self, native_client: @native, **options)
    end

    # Reads messages from one partition.
    #
    # @param offset [Integer, :earliest, :latest] where to start (`:latest` returns only messages
    #   produced after the call began)
    # @param max_wait_time [Numeric] seconds the broker may wait for `min_bytes`
    # @return [Array<KafkaRs::FetchedMessage>]
    def fetch_messages(topic:, partition:, offset: :latest, max_wait_time: 5, min_bytes: 1, max_bytes: 1_048_576,
                       retries: 1)
      check_open!
      Validation.topic!(topic)
      Validation.partition!(partition, allow_nil: false)
      Validation.integer!(retries, "retries", min: 0)
      native_offset = fetch_offset!(offset)
      wait, min, max = fetch_limits!(max_wait_time, min_bytes, max_bytes)
      result = logged { @native.fetch([[topic, partition, native_offset]], wait, min, max) }
      result.first[3]
    end

    # Reads every partition of a topic, forever, yielding each message.
    #
    # @param start_from_beginning [Boolean] start at the earliest offset (else at the latest)
    # @yieldparam message [KafkaRs::FetchedMessage]
    def each_message(topic:, start_from_beginning: true, max_wait_time: 5, min_bytes: 1, max_bytes: 1_048_576)
      check_open!
      raise ArgumentError, "each_message needs a block" unless block_given?

      Validation.topic!(topic)
      wait, min, max = fetch_limits!(max_wait_time, min_bytes, max_bytes)
      start = start_from_beginning ? OFFSETS[:earliest] : OFFSETS[:latest]
      offsets = Hash.new(start)
      loop do
        cursors = Array.new(partitions_for(topic)) { |p| [topic, p, offsets[p]] }
        # next_offset: past the last batch read, or the resolved start when nothing came back.
        logged { @native.fetch(cursors, wait, min, max) }.each do |(_topic, partition, _high_watermark, messages, next_offset)|
          messages.each { |m| yield m }
          offsets[partition] = next_offset
        end
      end
    end

    # Creates a topic and waits until every partition has a leader.
    #
    # @raise [TopicAlreadyExists]
    def create_topic(name, num_partitions: 1, replication_factor: 1, timeout: 30, config: {})
      check_open!
      Validation.topic!(name, "name")
      Validation.integer!(num_partitions, "num_partitions", min: 1)
      Validation.integer!(replication_factor, "replication_factor", min: 1)
      timeout = Validation.timeout!(timeout, "timeout", 30)
      raise TypeError, "config must be a Hash, got #{config.class}" unless config.is_a?(Hash)

      configs = config.map { |k, v| [k.to_s, v.to_s] }
      logged { @native.create_topic(name, num_partitions, replication_factor, timeout.to_f, configs) }
      nil
    end

    # Deletes a topic and waits until the cluster no longer lists it.
    def delete_topic(name, timeout: 30)
      check_open!
      Validation.topic!(name, "name")
      timeout = Validation.timeout!(timeout, "timeout", 30)
      logged { @native.delete_topic(name, timeout.to_f) }
      nil
    end

    # Grows a topic to `num_partitions` partitions.
    def create_partitions_for(name, num_partitions: 1, timeout: 30)
      check_open!
      Validation.topic!(name, "name")
      Validation.integer!(num_partitions, "num_partitions", min: 1)
      timeout = Validation.timeout!(timeout, "timeout", 30)
      logged { @native.create_partitions(name, num_partitions, timeout.to_f) }
      nil
    end

    # The configuration of a topic.
    #
    # @example
    #   kafka.describe_topic("orders", ["retention.ms"]) # => { "retention.ms" => "604800000" }
    # @param configs [Array<String>] the config names to return (all when empty)
    # @return [Hash{String => String}] a sensitive config's value is nil
    # @raise [UnknownTopicOrPartition] when the topic does not exist
    def describe_topic(name, configs = [])
      check_open!
      Validation.topic!(name, "name")
      config_names!(configs)

      logged { @native.describe_topic(name, configs) }
    end

    # Changes configs of a topic. Only the configs named change; the topic's other overrides
    # keep their values. (ruby-kafka sends AlterConfigs, which also resets every override not
    # named; kafka_rs sends IncrementalAlterConfigs, and on brokers older than 2.3, which lack it,
    # reads the current overrides and sends them back with the changes.) Returns once the broker
    # that {#describe_topic} asks shows the new values.
    #
    # @example
    #   kafka.alter_topic("orders", "retention.ms" => 86_400_000, "cleanup.policy" => "compact")
    #   kafka.alter_topic("orders", "retention.ms" => nil)   # back to the broker's default
    # @param name [String] the topic
    # @param configs [Hash{String => Object}, Array<Array(String, Object)>] config names and
    #   values (sent as `value.to_s`); a nil value removes the topic's override, so the broker's
    #   default applies again
    # @return [nil]
    # @raise [UnknownTopicOrPartition] when the topic does not exist
    # @raise [InvalidConfig] when a name is not a topic config or a value is not valid for it
    def alter_topic(name, configs = {})
      check_open!
      Validation.topic!(name, "name")
      changes = config_changes!(configs)
      logged { @native.alter_topic(name, changes, false) }
      nil
    end

    # The configs of one broker (its `server.properties` and dynamic settings).
    #
    # @example
    #   kafka.describe_configs(kafka.controller_broker.node_id, ["background.threads"]).first.value
    #   # => "10"
    # @param broker_id [Integer] the broker's node id (see {#brokers})
    # @param configs [Array<String>] the config names to return (all when empty)
    # @return [Array<KafkaRs::ConfigEntry>]
    # @raise [BrokerNotAvailable] when no broker has that id
    def describe_configs(broker_id, configs = [])
      check_open!
      broker_id!(broker_id)
      config_names!(configs)
      logged { @native.describe_broker(broker_id, configs) }.map { |row| ConfigEntry.new(*row) }
    end

    # Changes dynamic configs of one broker (those {ConfigEntry#read_only} is false for). Only
    # the configs named change, as with {#alter_topic}.
    #
    # @example
    #   kafka.alter_configs(1, [["log.cleaner.threads", "2"]])
    # @param broker_id [Integer] the broker's node id
    # @param configs [Array<Array(String, Object)>, Hash{String => Object}] `[name, value]` pairs
    #   (values sent as `value.to_s`); a nil value removes the broker's override
    # @return [nil]
    # @raise [BrokerNotAvailable] when no broker has that id
    # @raise [InvalidRequest, InvalidConfig] when a config cannot be changed at run time or a
    #   value is not valid
    def alter_configs(broker_id, configs = [])
      check_open!
      broker_id!(broker_id)
      changes = config_changes!(configs)
      logged { @native.alter_broker(broker_id, changes, false) }
      nil
    end

    # @return [Array<String>] every topic of the cluster
    def topics
      check_open!
      logged { @native.topics }
    end
    alias list_topics topics

    # @return [Boolean]
    def has_topic?(topic) # rubocop:disable Naming/PredicateName
      check_open!
      Validation.topic!(topic)
      logged { @native.has_topic?(topic) }
    end

    # @return [Integer] the number of partitions of `topic`
    def partitions_for(topic)
      check_open!
      Validation.topic!(topic)
      logged { @native.partitions_for(topic) }
    end

    # @return [Integer] the number of replicas of the topic's first partition (its replication
    #   factor)
    # @raise [UnknownTopicOrPartition] when the topic does not exist
    def replica_count_for(topic)
      check_open!
      Validation.topic!(topic)
      logged { @native.replica_count_for(topic) }
    end

    # @return [Integer] the offset of the last message in the partition (-1 when it is empty)
    def last_offset_for(topic, partition)
      check_open!
      Validation.topic!(topic)
      Validation.partition!(partition, allow_nil: false)
      logged { @native.list_offsets(topic, [partition], OFFSETS[:latest]) }.fetch(partition) - 1
    end

    # @return [Hash{String => Hash{Integer => Integer}}] last offsets of every partition of each topic
    def last_offsets_for(*topics)
      check_open!
      topics.each { |t| Validation.topic!(t) }
      topics.to_h do |topic|
        [topic, logged { @native.list_offsets(topic, nil, OFFSETS[:latest]) }.transform_values { |o| o - 1 }]
      end
    end

    # Every consumer group of the cluster. Each broker lists the groups it coordinates, so every
    # broker is asked (concurrently); groups that only commit offsets are listed too.
    #
    # @example
    #   kafka.groups # => ["billing", "orders-indexer"]
    # @return [Array<String>] group ids, sorted
    def groups
      check_open!
      logged { @native.groups }
    end

    # The state, protocol and members of a consumer group, from its coordinator. A group that does
    # not exist is described as "Dead" with no members, as ruby-kafka describes it.
    #
    # @example
    #   group = kafka.describe_group("orders-indexer")
    #   group.state                              # => "Stable"
    #   group.protocol                           # => "range"
    #   group.members.map(&:assignment)          # => [{ "orders" => [0, 1, 2] }]
    #   group.members.first.member_assignment.topics # ruby-kafka's reader of the same Hash
    # @param group_id [String]
    # @return [KafkaRs::GroupDescription]
    # @raise [GroupAuthorizationFailed] when the client may not describe the group
    # @raise [CoordinatorNotAvailable, NotCoordinatorForGroup, CoordinatorLoadInProgress] when
    #   the coordinator still cannot answer after `socket_timeout` seconds of retries (each after
    #   a short backoff and a new coordinator lookup; {#fetch_group_offsets} and {#consumer_lag}
    #   retry the same way)
    def describe_group(group_id)
      check_open!
      group_id = group_id!(group_id)
      id, state, protocol_type, protocol, members = logged { @native.describe_group(group_id) }
      members = members.map do |(member_id, instance_id, client_id, client_host, subscription, assignment)|
        GroupMember.new(member_id, client_id, client_host, instance_id, subscription, assignment&.to_h)
      end
      GroupDescription.new(id, state, protocol_type, protocol, members)
    end

    # The offsets a consumer group has committed, for every partition it has committed (the
    # offset is that of the next message the group will read). An unknown group has none.
    #
    # @example
    #   kafka.fetch_group_offsets("orders-indexer")["orders"][0].offset # => 1042
    # @param group_id [String]
    # @return [Hash{String => Hash{Integer => KafkaRs::PartitionOffsetInfo}}] by topic, then
    #   partition (ruby-kafka's shape)
    def fetch_group_offsets(group_id)
      check_open!
      group_id = group_id!(group_id)
      logged { @native.fetch_group_offsets(group_id) }.to_h do |(topic, partitions)|
        [topic, partitions.to_h { |(partition, offset, metadata)| [partition, PartitionOffsetInfo.new(offset, metadata)] }]
      end
    end

    # How far a consumer group is behind, per partition: for every partition the group has
    # committed, and every partition of the topics its members subscribe to (known while the group
    # is "Stable"). One call reads the group's description and offsets from its coordinator, then
    # the end offsets from the partitions' leaders (all topics concurrently, one ListOffsets per
    # topic and leader).
    #
    # Each partition maps to a Hash:
    #
    # - `committed:` [Integer, nil] the committed offset; nil when the group has committed none
    # - `end_offset:` [Integer, nil] the partition's end offset (high watermark); nil when the
    #   topic or partition no longer exists
    # - `lag:` [Integer, nil] `end_offset - committed`, never negative. Without a commit, every
    #   retained message counts (`end_offset` minus the partition's earliest offset): what a
    #   member starting from the beginning (the default) would still read. nil without an end
    #   offset.
    # - `member_id:`, `client_id:`, `client_host:` [String, nil] the member the partition is
    #   assigned to; nil when none is (the group is empty or rebalancing)
    #
    # @example
    #   kafka.consumer_lag("orders-indexer")
    #   # => { "orders" => { 0 => { committed: 1042, end_offset: 1050, lag: 8, member_id: "...",
    #   #                           client_id: "indexer", client_host: "/10.0.0.7" }, ... } }
    #   kafka.consumer_lag("orders-indexer").sum { |_, ps| ps.sum { |_, p| p[:lag] || 0 } }
    # @param group_id [String]
    # @return [Hash{String => Hash{Integer => Hash{Symbol => Object}}}] by topic, then partition
    def consumer_lag(group_id)
      check_open!
      group_id = group_id!(group_id)
      logged { @native.consumer_lag(group_id) }.to_h do |(topic, partitions)|
        [topic, partitions.to_h do |(partition, committed, end_offset, lag, member_id, client_id, client_host)|
          [partition, { committed: committed, end_offset: end_offset, lag: lag, member_id: member_id,
                        client_id: client_id, client_host: client_host }]
        end]
      end
    end

    # @return [Array<KafkaRs::BrokerInfo>]
    def brokers
      check_open!
      logged { @native.brokers }.map { |args| BrokerInfo.new(*args) }
    end

    # The broker the cluster's metadata names as its controller. On KRaft clusters, whose
    # controllers clients cannot reach, that is a broker which forwards admin requests to them.
    #
    # @return [KafkaRs::BrokerInfo, nil] one of {#brokers}; nil when the metadata names none
    def controller_broker
      check_open!
      row = logged { @native.controller_broker }
      row && BrokerInfo.new(*row)
    end

    # The API versions a broker supports (one broker of the cluster, asked on each call).
    #
    # @example
    #   kafka.apis.find { |api| api.api_key == KafkaRs::Protocol::PRODUCE_API }
    #   # => #<KafkaRs::ApiInfo Produce=0..13>
    # @return [Array<KafkaRs::ApiInfo>] ordered by API key
    def apis
      check_open!
      logged { @native.api_versions }.map { |row| ApiInfo.new(*row) }
    end

    # Whether the broker supports an API, and a version of it.
    #
    # @example
    #   kafka.supports_api?(KafkaRs::Protocol::INCREMENTAL_ALTER_CONFIGS_API) # => true on Kafka 2.3+
    # @param api_key [Integer] e.g. {Protocol::PRODUCE_API}
    # @param version [Integer, nil] nil: any version
    # @return [Boolean]
    def supports_api?(api_key, version = nil)
      check_open!
      Validation.integer!(api_key, "api_key")
      Validation.integer!(version, "version") unless version.nil?
      info = apis.find { |api| api.api_key == api_key }
      return false if info.nil?

      version.nil? || info.version_supported?(version)
    end

    # Closes every connection. Later calls raise {ClientClosed}.
    def close
      @closed = true
      @native.close
      @oauth&.stop
      nil
    end

    # @return [Boolean]
    def closed?
      @closed
    end

    def inspect
      "#<#{self.class.name}#{' (closed)' if @closed}>"
    end

    # @api private
    # Runs a native call, then hands the diagnostics the core queued meanwhile (connections,
    # metadata refreshes, retries, failures) to the logger, on this Ruby thread.
    def logged
      sync_log_level if @logger
      @oauth&.ensure_running
      yield
    ensure
      flush_log if @logger
    end


    private

    def check_open!
      raise ClientClosed, "the client is closed" if @closed
    end

    def sync_log_level
      level = @logger.respond_to?(:level) ? @logger.level : 0
      level = 0 unless level.is_a?(Integer) && level >= 0
      return if level == @log_level

      @native.log_level = level
      @log_level = level
    end

    def flush_log
      @native.drain_log.each { |(level, message)| @logger.add(level, message, "kafka_rs") }
    end

    def fetch_offset!(offset)
      case offset
      when :latest, :earliest then OFFSETS[offset]
      when Integer
        raise ArgumentError, "offset must not be negative, got #{offset}" if offset.negative?

        offset
      else raise ArgumentError, "offset must be :earliest, :latest or an Integer, got #{offset.inspect}"
      end
    end

    # Group ids are UTF-8 text of at most 32767 bytes (an int16-prefixed string on the wire);
    # returns the id in UTF-8.
    def group_id!(group_id)
      raise TypeError, "group_id must be a String, got #{Validation.class_name(group_id)}" unless String === group_id # rubocop:disable Style/CaseEquality
      raise ArgumentError, "group_id must not be empty" if group_id.empty?

      utf8 = case group_id.encoding
             when Encoding::UTF_8 then group_id
             when Encoding::BINARY then group_id.dup.force_encoding(Encoding::UTF_8)
             else
               begin
                 group_id.encode(Encoding::UTF_8)
               rescue EncodingError => e
                 raise ArgumentError, "group_id #{group_id.inspect} cannot be converted to UTF-8: #{e.message}"
               end
             end
      raise ArgumentError, "group_id #{group_id.inspect} is not valid UTF-8" unless utf8.valid_encoding?
      raise ArgumentError, "group_id is #{utf8.bytesize} bytes long; Kafka allows at most 32767" if utf8.bytesize > 32_767

      utf8
    end

    def broker_id!(broker_id)
      Validation.integer!(broker_id, "broker_id", min: 0)
      raise ArgumentError, "broker_id #{broker_id} is too large" if broker_id > 2_147_483_647
    end

    def config_names!(configs)
      raise TypeError, "configs must be an Array of Strings, got #{configs.class}" unless configs.is_a?(Array)

      configs.each do |c|
        raise TypeError, "configs must be an Array of Strings, got an element of #{c.class}" unless c.is_a?(String)
      end
    end

    # `[[name, value_or_nil], ...]` from a Hash or an Array of pairs: names as Strings (Symbols
    # by name), values through `to_s` (ruby-kafka's conversion), nil kept.
    def config_changes!(configs)
      pairs = case configs
              when Hash then configs.to_a
              when Array then configs
              else raise TypeError, "configs must be a Hash or an Array of [name, value] pairs, got #{configs.class}"
              end
      seen = {}
      pairs.map do |pair|
        unless pair.is_a?(Array) && pair.size == 2
          raise TypeError, "configs entries must be [name, value] pairs, got #{pair.inspect}"
        end

        name, value = pair
        name = name.to_s if name.is_a?(Symbol)
        raise TypeError, "configs names must be Strings, got #{name.class}" unless name.is_a?(String)
        raise ArgumentError, "configs names must not be empty" if name.empty?
        raise ArgumentError, "configs name #{name.inspect} is given twice" if seen[name]

        seen[name] = true
        [name, value.nil? ? nil : Validation.to_bytes!(value, "configs[#{name.inspect}]")]
      end
    end

    def fetch_limits!(max_wait_time, min_bytes, max_bytes)
      Validation.positive_number!(max_wait_time, "max_wait_time", allow_zero: true)
      Validation.integer!(min_bytes, "min_bytes", min: 0)
      Validation.integer!(max_bytes, "max_bytes", min: 1)
      [max_wait_time.to_f, min_bytes, max_bytes]
    end
  end
end
