# frozen_string_literal: true

module KafkaRs
  # The instrumentation events of work done by the native core, measured there and published
  # here with their own start and finish times:
  #
  # - `request.connection.kafka` for every request a connection sends (ruby-kafka's payload:
  #   `client_id`, `broker_host`, `api` (ruby-kafka's API names, e.g. :produce, :fetch,
  #   :join_group), `request_size`, `response_size`; `exception` when it failed);
  # - the group membership requests of consumers, as ruby-kafka's consumer events:
  #   `join_group.consumer.kafka`, `sync_group.consumer.kafka`, `leave_group.consumer.kafka`
  #   (`client_id`, `group_id`) and `heartbeat.consumer.kafka` (`topic_partitions`: the
  #   member's assignment, too). A join the broker answers with MEMBER_ID_REQUIRED (KIP-394),
  #   followed by the join with the id it assigned, is one `join_group` event spanning both;
  #   a response's error code (e.g. REBALANCE_IN_PROGRESS to a heartbeat) is its `exception`.
  #
  # Measuring costs nothing until someone subscribes to one of these: then every client's core
  # times each request (a clock reading at the start, one record at the answer) and a Ruby
  # thread, `kafka_rs-requests`, publishes the records every {INTERVAL} seconds. Subscribers of
  # these events run on that thread. When the last subscriber goes, the core stops timing.
  #
  # @api private
  module RequestEvents
    # Seconds between two publications.
    INTERVAL = 0.1

    CONSUMER_EVENTS = {
      Protocol::JOIN_GROUP_API => "join_group.consumer",
      Protocol::SYNC_GROUP_API => "sync_group.consumer",
      Protocol::HEARTBEAT_API => "heartbeat.consumer",
      Protocol::LEAVE_GROUP_API => "leave_group.consumer"
    }.freeze
    EVENTS = (["request.connection"] + CONSUMER_EVENTS.values).freeze

    # ruby-kafka's API names (the `api` key): our Protocol constants (ruby-kafka's names)
    # without the _API suffix, e.g. :produce, :list_offset, :topic_metadata, :join_group.
    API_NAMES = Protocol.constants.grep(/_API\z/).to_h do |name|
      [Protocol.const_get(name), name.to_s.delete_suffix("_API").downcase.to_sym]
    end.freeze

    MEMBER_ID_REQUIRED = 79

    @clients = ObjectSpace::WeakMap.new
    @consumers = ObjectSpace::WeakMap.new
    @lock = Mutex.new
    @on = false
    @thread = nil
    @thread_pid = nil
    # Joins answered MEMBER_ID_REQUIRED, by [client, group]: their start, until the join that
    # follows.
    @joins = {}

    class << self
      # Called for every new Client: it times requests while someone listens.
      def track_client(client)
        @lock.synchronize do
          @clients[client] = true
          client.native_for_instrumentation.request_events = true if @on
        end
      end

      # Called for every new Consumer: heartbeat events name its assignment.
      def track_consumer(consumer, client)
        @lock.synchronize { @consumers[consumer] = client }
      end

      # Follows the subscribers (see Instrumenter.on_change).
      def update
        wanted = EVENTS.any? { |name| Instrumenter.listening?(name) }
        @lock.synchronize do
          return if wanted == @on && (!wanted || thread_alive?)

          @on = wanted
          @clients.each_key { |client| client.native_for_instrumentation.request_events = wanted }
          start_thread if wanted && !thread_alive?
        end
      end

      # In a forked child: the parent's thread is gone.
      def forked
        @lock = Mutex.new
        @thread = nil
        @joins = {}
        update
      end

      # Publishes what the clients recorded so far (the thread does so every {INTERVAL} s).
      def publish_pending
        clients = @lock.synchronize { @clients.keys }
        clients.each do |client|
          rows, dropped = client.native_for_instrumentation.drain_requests
          warn "kafka_rs: #{dropped} request events were dropped (more than 10000 between publications)" if dropped.positive?
          rows.each { |row| publish(client, row) }
        rescue StandardError => e
          warn "kafka_rs: publishing request events failed: #{e.class}: #{e.message}"
        end
        nil
      end

      private

      def thread_alive?
        @thread&.alive? && @thread_pid == Process.pid
      end

      def start_thread
        @thread_pid = Process.pid
        @thread = Thread.new do
          loop do
            sleep INTERVAL
            publish_pending
            break unless @on
          end
        end
        @thread.name = "kafka_rs-requests"
        # Puma's fork check and the like: this thread is rebuilt in a child, never shared.
        @thread.thread_variable_set(:fork_safe, true)
      end

      def publish(client, row)
        broker, api_key, group_id, request_size, response_size, started, duration, code, transport = row
        start = Time.at(started)
        finish = Time.at(started + duration)
        exception = failure(code, transport)
        client_id = client.client_id
        if Instrumenter.listening?("request.connection")
          payload = { client_id: client_id, broker_host: broker.sub(/:\d+\z/, "").delete("[]"),
                      api: API_NAMES.fetch(api_key, :unknown), request_size: request_size,
                      response_size: response_size }
          payload[:exception] = exception if exception
          Instrumenter.publish("request.connection", start, finish, payload)
        end
        name = CONSUMER_EVENTS[api_key]
        publish_group_event(client, name, group_id, start, finish, code, exception) if name && group_id
      end

      def publish_group_event(client, name, group_id, start, finish, code, exception)
        key = [client, group_id]
        if api_join?(name)
          if code == MEMBER_ID_REQUIRED
            @joins[key] = start
            return
          end
          start = @joins.delete(key) || start
        end
        return unless Instrumenter.listening?(name)

        payload = { client_id: client.client_id, group_id: group_id }
        payload[:topic_partitions] = assignment_of(client, group_id) if name == "heartbeat.consumer"
        payload[:exception] = exception if exception
        Instrumenter.publish(name, start, finish, payload)
      end

      def api_join?(name)
        name == "join_group.consumer"
      end

      def assignment_of(client, group_id)
        consumer = nil
        @lock.synchronize do
          @consumers.each_pair { |c, cl| consumer ||= c if cl.equal?(client) && c.group_id == group_id }
        end
        consumer ? consumer.assignment : {}
      rescue StandardError
        {}
      end

      def failure(code, transport)
        if transport
          ["KafkaRs::ConnectionError", transport]
        elsif code
          klass = Errors.protocol_error_classes[code]
          [klass ? klass.name : "KafkaRs::ProtocolError", "error code #{code}"]
        end
      end
    end
  end
end

KafkaRs::Instrumenter.on_change { KafkaRs::RequestEvents.update }
