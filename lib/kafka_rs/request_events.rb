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

    # What publishing needs of a client: its native client and client id.
    Tracked = Struct.new(:native, :client_id)
    # And of a consumer: its client, group and native consumer (for its assignment).
    TrackedConsumer = Struct.new(:client_key, :group_id, :native)

    # Keyed by object_id (never reused in Ruby 3.x), holding the native objects only, so a client
    # or consumer the app drops is still collected; its finalizer only queues its key in @gone,
    # and the next call under the lock forgets it. (Ruby 3.1's WeakMap was tried first: it can
    # hand out, for a just-collected key, an object in a half-reused slot.)
    @clients = {}
    @consumers = {}
    @gone = Queue.new
    @lock = Mutex.new
    @on = false
    @thread = nil
    @thread_pid = nil
    # Joins answered MEMBER_ID_REQUIRED, by [client key, group]: their start, until the join that
    # follows.
    @joins = {}

    class << self
      # Called for every new Client: it times requests while someone listens.
      def track_client(client)
        key = client.object_id
        entry = Tracked.new(client.native_for_instrumentation, client.client_id)
        ObjectSpace.define_finalizer(client, forgetter(key))
        @lock.synchronize do
          prune
          @clients[key] = entry
          entry.native.request_events = true if @on
        end
      end

      # Called for every new Consumer: heartbeat events name its assignment.
      def track_consumer(consumer, client)
        key = consumer.object_id
        entry = TrackedConsumer.new(client.object_id, consumer.group_id, consumer.native_for_instrumentation)
        ObjectSpace.define_finalizer(consumer, forgetter(key))
        @lock.synchronize do
          prune
          @consumers[key] = entry
        end
      end

      # Follows the subscribers (see Instrumenter.on_change).
      def update
        wanted = EVENTS.any? { |name| Instrumenter.listening?(name) }
        @lock.synchronize do
          return if wanted == @on && (!wanted || thread_alive?)

          @on = wanted
          prune
          @clients.each_value { |entry| entry.native.request_events = wanted }
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
        clients = @lock.synchronize do
          prune
          @clients.to_a
        end
        clients.each do |key, client|
          rows, dropped = client.native.drain_requests
          warn "kafka_rs: #{dropped} request events were dropped (more than 10000 between publications)" if dropped.positive?
          rows.each { |row| publish(key, client, row) }
        rescue StandardError => e
          warn "kafka_rs: publishing request events failed: #{e.class}: #{e.message}"
        end
        nil
      end

      private

      # A finalizer that holds nothing but the key (a finalizer must not hold its object, nor
      # take a lock: it may run while this thread holds it).
      def forgetter(key)
        gone = @gone
        proc { gone << key }
      end

      # Forgets the clients and consumers collected so far. Called with @lock held.
      def prune
        until @gone.empty?
          key = @gone.pop(true)
          @clients.delete(key)
          @consumers.delete(key)
        end
      rescue ThreadError # emptied meanwhile
        nil
      end

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

      def publish(key, client, row)
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
        publish_group_event(key, client, name, group_id, start, finish, code, exception) if name && group_id
      end

      def publish_group_event(client_key, client, name, group_id, start, finish, code, exception)
        key = [client_key, group_id]
        if api_join?(name)
          if code == MEMBER_ID_REQUIRED
            @joins[key] = start
            return
          end
          start = @joins.delete(key) || start
        end
        return unless Instrumenter.listening?(name)

        payload = { client_id: client.client_id, group_id: group_id }
        payload[:topic_partitions] = assignment_of(client_key, group_id) if name == "heartbeat.consumer"
        payload[:exception] = exception if exception
        Instrumenter.publish(name, start, finish, payload)
      end

      def api_join?(name)
        name == "join_group.consumer"
      end

      def assignment_of(client_key, group_id)
        consumer = @lock.synchronize do
          @consumers.each_value.find { |c| c.client_key == client_key && c.group_id == group_id }
        end
        return {} unless consumer

        Consumer.to_topic_partitions(consumer.native.assignment)
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
