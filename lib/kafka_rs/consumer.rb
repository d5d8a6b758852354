# frozen_string_literal: true

module KafkaRs
  # A member of a consumer group (ruby-kafka's `Kafka::Consumer`): the group's partitions are
  # spread over its members, a member's partitions move to the others when it leaves or dies, and
  # offsets are committed only for messages that were processed (at-least-once).
  #
  #   consumer = kafka.consumer(group_id: "metrics")
  #   consumer.subscribe("router", start_from_beginning: false)
  #   trap("TERM") { consumer.stop }
  #   consumer.each_message { |message| process(message) }
  #
  # The group protocol runs in Rust: heartbeats go out in the background (a slow block does not
  # get the member kicked out, up to `rebalance_timeout`), a prefetcher keeps the next data ready
  # so the block rarely waits on the network, and every wait releases the GVL (Ctrl-C and
  # {#stop} end it promptly). Rebalances happen inside {#each_message} / {#each_batch}, on this
  # thread: `on_partitions_revoked` runs and the processed offsets are committed before the
  # partitions go, `on_partitions_assigned` runs when new ones come.
  class Consumer
    ISOLATION_LEVELS = { read_committed: 1, read_uncommitted: 0 }.freeze
    ASSIGNORS = %w[range roundrobin cooperative-sticky].freeze

    # @api private: use {Client#consumer} or {KafkaRs.consumer}. A consumer class's instance
    # (see consumer_class.rb) is made with `new` and no arguments, and joins its group when it
    # runs ({#run}, or `kafka_rs consume`), which calls this method again with a client.
    def initialize(client: nil, native_client: nil, group_id: nil, session_timeout: 30, rebalance_timeout: 60,
                   heartbeat_interval: 10, offset_commit_interval: 10, offset_commit_threshold: 0,
                   offset_retention_time: nil, fetcher_max_queue_size: 100, refresh_topic_interval: 0,
                   assignment_strategy: nil, group_instance_id: nil, isolation_level: :read_committed,
                   interceptors: [])
      if client.nil?
        raise ArgumentError, "use KafkaRs::Client#consumer or KafkaRs.consumer to make a consumer" if instance_of?(Consumer)

        return # a consumer class's instance, not attached to a client yet
      end

      Validation.string!(group_id, "group_id")
      raise ArgumentError, "group_id must not be empty" if group_id.empty?

      session_timeout = Validation.positive_number!(session_timeout, "session_timeout")
      rebalance_timeout = Validation.positive_number!(rebalance_timeout, "rebalance_timeout")
      heartbeat_interval = Validation.positive_number!(heartbeat_interval, "heartbeat_interval")
      if heartbeat_interval >= session_timeout
        raise ArgumentError, "heartbeat_interval (#{heartbeat_interval}) must be below session_timeout (#{session_timeout})"
      end

      Validation.positive_number!(offset_commit_interval, "offset_commit_interval", allow_zero: true)
      Validation.integer!(offset_commit_threshold, "offset_commit_threshold", min: 0)
      Validation.positive_number!(offset_retention_time, "offset_retention_time") unless offset_retention_time.nil?
      Validation.integer!(fetcher_max_queue_size, "fetcher_max_queue_size", min: 1)
      Validation.positive_number!(refresh_topic_interval, "refresh_topic_interval", allow_zero: true)
      Validation.string!(group_instance_id, "group_instance_id") unless group_instance_id.nil?
      isolation = ISOLATION_LEVELS.fetch(isolation_level) do
        raise ArgumentError, "isolation_level must be :read_committed or :read_uncommitted, got #{isolation_level.inspect}"
      end
      strategies = Consumer.assignors!(assignment_strategy)
      @interceptors = Consumer.interceptors!(interceptors)

      @client = client
      @group_id = group_id
      @rebalance_timeout = rebalance_timeout.to_f
      @offset_commit_interval = offset_commit_interval.to_f
      @offset_commit_threshold = offset_commit_threshold
      @refresh_topic_interval = refresh_topic_interval.to_f
      @native = Native::Consumer.new(
        native_client,
        [group_id, session_timeout.to_f, rebalance_timeout.to_f, heartbeat_interval.to_f,
         offset_retention_time.nil? ? -1.0 : offset_retention_time.to_f, fetcher_max_queue_size, strategies,
         group_instance_id, isolation]
      )
      @subscriptions = []
      @on_assigned = []
      @on_revoked = []
      @running = false
      @stop_requested = false
      @uncommitted = 0
      @last_commit = monotonic
      # Partitions paused or sought since the last poll: their data from that poll is stale.
      @moved = []
      # Per partition, the first offset not processed yet of the data taken from the native consumer.
      @positions = {}
      @current = nil
      # Heartbeat events name the member's assignment.
      RequestEvents.track_consumer(self, client)
    end

    # @api private
    # The native consumer, for {RequestEvents}.
    def native_for_instrumentation
      @native
    end

    attr_reader :group_id

    # Subscribes to a topic, or to every topic matching a Regexp (topics created later are picked
    # up every `refresh_topic_interval` seconds, or every 10 s when that is 0).
    #
    # @param default_offset [:earliest, :latest, nil] where to start a partition without a
    #   committed offset (overrides `start_from_beginning`)
    # @param start_from_beginning [Boolean] start at the earliest offset (else the latest)
    # @param max_bytes_per_partition [Integer] fetch size per partition
    # @return [self]
    def subscribe(topic_or_regex, default_offset: nil, start_from_beginning: true, max_bytes_per_partition: 1_048_576)
      unless topic_or_regex.is_a?(String) || topic_or_regex.is_a?(Regexp) || topic_or_regex.is_a?(Symbol)
        raise TypeError, "topic must be a String or a Regexp, got #{topic_or_regex.class}"
      end

      topic_or_regex = topic_or_regex.to_s if topic_or_regex.is_a?(Symbol)
      Validation.topic!(topic_or_regex, "topic") if topic_or_regex.is_a?(String)
      reset = case default_offset
              when nil then start_from_beginning ? :earliest : :latest
              when :earliest, :latest then default_offset
              else raise ArgumentError, "default_offset must be :earliest or :latest, got #{default_offset.inspect}"
              end
      Validation.integer!(max_bytes_per_partition, "max_bytes_per_partition", min: 1)
      @subscriptions << [topic_or_regex, reset, max_bytes_per_partition]
      @subscribed_topics = nil
      self
    end

    # Yields every message of the group's partitions assigned to this member, until {#stop}.
    # After the block returns, the message counts as processed (unless
    # `automatically_mark_as_processed: false`; then call {#mark_message_as_processed}).
    # Offsets are committed every `offset_commit_interval` seconds, every
    # `offset_commit_threshold` messages (0: off), before partitions are revoked and on the way
    # out.
    #
    # @raise [ProcessingError] when the block raised (the original is its `cause`); the offsets
    #   of the messages processed before it are committed, that message's is not
    def each_message(min_bytes: 1, max_bytes: 10_485_760, max_wait_time: 1, automatically_mark_as_processed: true,
                     &block)
      raise ArgumentError, "each_message needs a block" unless block

      consume_messages(min_bytes, max_bytes, max_wait_time, automatically_mark_as_processed, RAISE_PROCESSING_ERROR,
                       &block)
    end

    # Yields the messages of one partition from one fetch at a time, as a {FetchedBatch}.
    def each_batch(min_bytes: 1, max_bytes: 10_485_760, max_wait_time: 1, automatically_mark_as_processed: true,
                   &block)
      raise ArgumentError, "each_batch needs a block" unless block

      consume_batches(min_bytes, max_bytes, max_wait_time, automatically_mark_as_processed, RAISE_PROCESSING_ERROR,
                      &block)
    end

    # Counts `message` (and every earlier message of its partition) as processed: its offset + 1
    # is committed with the next commit.
    def mark_message_as_processed(message)
      mark(message, 1)
      nil
    end

    # Commits the offsets of the messages marked as processed.
    def commit_offsets
      @client.logged { @native.commit }
      @uncommitted = 0
      @last_commit = monotonic
      nil
    end

    # Stops fetching a partition until {#resume} (or, with `timeout`, until that many seconds
    # passed; with `exponential_backoff`, the timeout doubles with each pause of the partition up
    # to `max_timeout`). Messages after the last processed one are fetched again on resume.
    def pause(topic, partition, timeout: nil, max_timeout: nil, exponential_backoff: false)
      Validation.positive_number!(timeout, "timeout") unless timeout.nil?
      Validation.positive_number!(max_timeout, "max_timeout") unless max_timeout.nil?
      tp = [topic.to_s, Integer(partition)]
      count = (@pauses&.dig(tp, :count) || 0) + 1
      delay = timeout && (exponential_backoff ? timeout * (2**(count - 1)) : timeout)
      delay = [delay, max_timeout].min if delay && max_timeout
      # Where the partition resumes: after the message being processed (it completes), else
      # after the last one processed of data already taken.
      position = if @current && @current.topic == tp[0] && @current.partition == tp[1]
                   @current.offset + 1
                 else
                   @positions[tp]
                 end
      pause_at(tp, position, delay, count)
      nil
    end

    def resume(topic, partition)
      tp = [topic.to_s, Integer(partition)]
      @pauses&.delete(tp)
      @native.resume(tp[0], tp[1])
      nil
    end

    # @return [Boolean]
    def paused?(topic, partition)
      @native.paused?(topic.to_s, Integer(partition))
    end

    # Reads `partition` from `offset` next.
    def seek(topic, partition, offset)
      Validation.integer!(offset, "offset", min: 0)
      tp = [topic.to_s, Integer(partition)]
      @native.seek(tp[0], tp[1], offset)
      @moved << tp
      nil
    end

    # Ends {#each_message} / {#each_batch} after the current message: offsets are committed and
    # the member leaves the group. Safe from another thread and from a signal handler.
    def stop
      @stop_requested = true
      @native&.interrupt
      nil
    end

    # @yieldparam topic_partitions [Hash{String => Array<Integer>}]
    def on_partitions_assigned(&block)
      raise ArgumentError, "on_partitions_assigned needs a block" unless block

      @on_assigned << block
      self
    end

    # @yieldparam topic_partitions [Hash{String => Array<Integer>}]
    def on_partitions_revoked(&block)
      raise ArgumentError, "on_partitions_revoked needs a block" unless block

      @on_revoked << block
      self
    end

    # @return [Hash{String => Array<Integer>}] the partitions assigned to this member now
    def assignment
      to_topic_partitions(@native.assignment)
    end

    # Diagnostics of the background fetcher's fetch sessions (KIP-227): after a session's
    # first, full fetch, each request names only the partitions whose position moved.
    #
    # @return [Hash{Symbol => Integer}] +:full_fetches+, +:incremental_fetches+ and
    #   +:session_resets+ (sessions the broker had forgotten) since the consumer started
    def fetch_stats
      full, incremental, resets = @native.fetch_stats
      { full_fetches: full, incremental_fetches: incremental, session_resets: resets }
    end

    # @return [Boolean] whether {#each_message} / {#each_batch} is running
    def running?
      @running
    end

    # @api private
    # `[[topic, partition], ...]` as `{ topic => [partitions, sorted] }`.
    def self.to_topic_partitions(pairs)
      pairs.each_with_object(Hash.new { |h, k| h[k] = [] }) { |(t, p), h| h[t] << p }
           .transform_values(&:sort).to_h
    end

    # @api private
    def self.assignors!(strategy)
      names = case strategy
              when nil then %w[range roundrobin]
              when String, Symbol then [strategy.to_s]
              when Array then strategy.map(&:to_s)
              else raise TypeError, "assignment_strategy must be a name or an Array of names, got #{strategy.class}"
              end
      names.each do |n|
        next if ASSIGNORS.include?(n)

        raise ArgumentError, "assignment_strategy #{n.inspect} is unknown (#{ASSIGNORS.join(', ')})"
      end
      raise ArgumentError, "assignment_strategy must name at least one assignor" if names.empty?

      names
    end

    # @api private
    def self.interceptors!(interceptors)
      raise TypeError, "interceptors must be an Array, got #{interceptors.class}" unless interceptors.is_a?(Array)

      interceptors.each_with_index do |i, n|
        raise TypeError, "interceptors[#{n}] must respond to #call, got #{i.class}" unless i.respond_to?(:call)
      end
    end

    # What {#each_message} and {#each_batch} do when the block raises: the loop ends with a
    # {ProcessingError} (its cause the block's exception). A consumer class's error policy is
    # another handler (consumer_class.rb). A handler gets the topic, partition and offset of the
    # message (the batch's first) and the exception, and returns true (the message counts as
    # processed: the loop goes on) or false (it does not: the handler paused the partition at
    # it, and the rest of the batch is dropped), or raises.
    RAISE_PROCESSING_ERROR = lambda do |topic, partition, offset, error|
      raise ProcessingError.new(topic, partition, offset), cause: error
    end

    private

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def intercept(message)
      @interceptors.reduce(message) do |m, interceptor|
        interceptor.call(m)
      rescue StandardError => e
        @client.logger&.warn("kafka_rs") { "consumer interceptor #{interceptor.class} raised #{e.class}: #{e.message}" }
        m
      end
    end

    # The loop of {#each_message}: yields each message, counts it as processed when the block
    # returns, hands an exception to `on_error` (see {RAISE_PROCESSING_ERROR}).
    def consume_messages(min_bytes, max_bytes, max_wait_time, automatically_mark_as_processed, on_error)
      consume(min_bytes, max_bytes, max_wait_time) do |batch|
        tp = [batch.topic, batch.partition]
        instrument = Instrumenter.listening?("process_message.consumer")
        # The bookkeeping (position, mark, poll deadline, due commits) is done every 16
        # messages and when the batch ends, for the last message processed, never for one
        # whose block raised: per message it cost more than the rest of the loop.
        done = nil
        pending = 0
        begin
          batch.messages.each do |message|
            message = intercept(message) unless @interceptors.empty?
            @current = message
            begin
              if instrument
                payload = { client_id: @client.client_id, group_id: @group_id, topic: message.topic,
                            partition: message.partition,
                            offset: message.offset, offset_lag: batch.highwater_mark_offset - message.offset - 1,
                            key: message.key, value: message.value, create_time: message.create_time }
                Instrumenter.instrument("process_message.consumer", payload) { yield message }
              else
                yield message
              end
            rescue StandardError => e
              # Not processed: the handler paused the partition at it (or raised).
              break unless on_error.call(message.topic, message.partition, message.offset, e)
            ensure
              @current = nil
            end
            done = message
            pending += 1
            if pending == 16
              processed(tp, done, pending, automatically_mark_as_processed)
              pending = 0
              progress
            end
            # Paused or sought from the block: the rest of this batch is not this partition's next.
            break if @stop_requested || @moved.include?(tp)
          end
        ensure
          processed(tp, done, pending, automatically_mark_as_processed) if pending.positive?
        end
        progress
      end
    end

    # The loop of {#each_batch}, with `on_error` as in {#consume_messages}.
    def consume_batches(min_bytes, max_bytes, max_wait_time, automatically_mark_as_processed, on_error)
      consume(min_bytes, max_bytes, max_wait_time) do |batch|
        next if batch.empty?

        begin
          yield batch
        rescue StandardError => e
          next unless on_error.call(batch.topic, batch.partition, batch.first_offset, e)
        end
        @positions[[batch.topic, batch.partition]] = batch.last_offset + 1
        mark_message_as_processed(batch.messages.last) if automatically_mark_as_processed
        progress
      end
    end

    # Pauses partition `tp` (for `delay` seconds, or until resumed when nil): it is read from
    # `position` on resume. `count`: how many times in a row it was paused (for the backoff).
    def pause_at(tp, position, delay, count = 1)
      @pauses ||= {}
      @pauses[tp] = { count: count, until: delay && monotonic + delay, since: monotonic }
      @native.pause(tp[0], tp[1], position)
      @moved << tp
    end

    # The consumer loop: polls the native consumer (which runs the group protocol and hands over
    # prefetched data), runs the callbacks on rebalances, yields each batch, commits on the way.
    def consume(min_bytes, max_bytes, max_wait_time)
      raise ArgumentError, "subscribe to at least one topic first" if @subscriptions.empty?
      raise Error, "the consumer is already running" if @running

      Validation.integer!(min_bytes, "min_bytes", min: 0)
      Validation.integer!(max_bytes, "max_bytes", min: 1)
      max_wait = Validation.positive_number!(max_wait_time, "max_wait_time", allow_zero: true).to_f
      @running = true
      # A stop asked for before this run began (a TERM during start-up) is kept: the loop
      # below ends at once. It is cleared when the run ends (see #finish).
      sync_subscriptions(force: true)
      until @stop_requested
        sync_subscriptions
        resume_expired_pauses
        @moved.clear
        kind, payload = @client.logged { @native.poll([max_wait, 0.5].min, min_bytes, max_bytes) }
        last_poll = monotonic
        case kind
        when :revoked
          commit_in_loop
          payload.each { |tp| @positions.delete(tp) }
          run_callbacks(@on_revoked, payload)
        when :assigned
          run_callbacks(@on_assigned, payload)
        when :batches
          instrument_fetched(payload) if Instrumenter.listening?("fetch_batch.consumer")
          # Until processed, a partition's next message is the first of its batch here.
          payload.each { |(topic, partition, _, messages)| @positions[[topic, partition]] = messages.first.offset unless messages.empty? }
          payload.each do |(topic, partition, high_watermark, messages)|
            next if @moved.include?([topic, partition])

            batch = FetchedBatch.new(topic: topic, partition: partition, messages: messages,
                                     highwater_mark_offset: high_watermark)
            if Instrumenter.listening?("process_batch.consumer")
              Instrumenter.instrument("process_batch.consumer",
                                      client_id: @client.client_id, group_id: @group_id, topic: topic,
                                      partition: partition,
                                      message_count: messages.size, highwater_mark_offset: high_watermark,
                                      offset_lag: batch.offset_lag) { yield batch }
            else
              yield batch
            end
            break if @stop_requested
          end
        end
        check_processing_time(last_poll)
        commit_if_due
      end
    ensure
      finish
    end

    # Commits and leaves the group; errors here are logged (the loop may be ending because of
    # an exception that must not be hidden).
    def finish
      return unless @running

      begin
        commit_offsets
      rescue StandardError => e
        @client.logger&.error("kafka_rs") { "committing offsets on the way out failed: #{e.class}: #{e.message}" }
      end
      begin
        @client.logged { @native.leave }
      rescue StandardError => e
        @client.logger&.warn("kafka_rs") { "leaving group #{@group_id} failed: #{e.class}: #{e.message}" }
      end
      @running = false
      @stop_requested = false
    end

    # The Java client's max.poll.interval semantics: processing that keeps the consumer from
    # polling longer than the rebalance timeout makes the member leave the group (the
    # heartbeat thread does that, and the member joins again at this poll). Said here, with the
    # time it took.
    def check_processing_time(last_poll)
      took = monotonic - last_poll
      return if took <= @rebalance_timeout

      @client.logger&.warn("kafka_rs") do
        "group #{@group_id}: processing took #{took.round(1)} s, more than the rebalance timeout " \
          "(#{@rebalance_timeout} s): the member left the group and joins again"
      end
      return unless Instrumenter.listening?("poll_timeout.consumer")

      Instrumenter.instrument("poll_timeout.consumer", client_id: @client.client_id, group_id: @group_id, duration: took,
                                                       rebalance_timeout: @rebalance_timeout)
    end

    # `count` messages up to `message` of partition `tp` were processed.
    def processed(tp, message, count, mark)
      @positions[tp] = message.offset + 1
      mark(message, count) if mark
    end

    # Marks `message` (offset + 1 of its partition) for the next commit; `count` messages
    # (up to it) were processed since the last mark.
    def mark(message, count)
      @native.mark(message.topic, message.partition, message.offset + 1)
      @uncommitted += count
    end

    # Between messages (every 16, or after each batch): the poll deadline moves on (ruby-kafka
    # heartbeats between messages: only a single slow message counts against the rebalance
    # timeout, not a whole fetch's worth) and commits that are due go out.
    def progress
      @native.touch
      commit_if_due
    end

    def commit_if_due
      return if @uncommitted.zero?

      due = (@offset_commit_threshold.positive? && @uncommitted >= @offset_commit_threshold) ||
            (@offset_commit_interval.positive? && monotonic - @last_commit >= @offset_commit_interval)
      commit_in_loop if due
    end

    # Errors that mean the member's generation is over (it was kicked out or a rebalance
    # started): the offsets stay marked and go out with the next commit after joining again;
    # meanwhile the partition may be read again from its last commit (at-least-once).
    GENERATION_ERRORS = %w[UnknownMemberId IllegalGeneration RebalanceInProgress].freeze

    def commit_in_loop
      commit_offsets
    rescue ProtocolError => e
      if GENERATION_ERRORS.include?(e.class.name.split("::").last)
        @client.logger&.warn("kafka_rs") { "group #{@group_id}: offsets not committed (#{e.message}); joining again" }
      elsif e.retriable?
        commit_failed(e)
      else
        raise
      end
    rescue ConnectionError => e
      commit_failed(e)
    end

    # A commit that may succeed later (the coordinator moved or is loading, the connection
    # broke): the offsets stay marked and go out with the next commit.
    def commit_failed(error)
      @last_commit = monotonic
      @client.logger&.warn("kafka_rs") do
        "group #{@group_id}: committing offsets failed (#{error.class}: #{error.message}); retrying with the next commit"
      end
    end

    def run_callbacks(callbacks, partitions)
      return if callbacks.empty?

      tps = to_topic_partitions(partitions)
      callbacks.each { |cb| cb.call(tps) }
    end

    def to_topic_partitions(pairs)
      Consumer.to_topic_partitions(pairs)
    end

    def resume_expired_pauses
      return if @pauses.nil? || @pauses.empty?

      instrument_pauses if Instrumenter.listening?("pause_status.consumer")
      now = monotonic
      @pauses.each do |(topic, partition), pause|
        next unless pause[:until] && now >= pause[:until]

        pause[:until] = nil
        @native.resume(topic, partition)
      end
    end

    # ruby-kafka's `fetch_batch.consumer` event: one per partition with data in a fetch.
    def instrument_fetched(batches)
      batches.each do |(topic, partition, high_watermark, messages)|
        next if messages.empty?

        Instrumenter.instrument("fetch_batch.consumer",
                                client_id: @client.client_id, group_id: @group_id, topic: topic,
                                partition: partition, offset_lag: [high_watermark - messages.last.offset - 1, 0].max,
                                highwater_mark_offset: high_watermark, message_count: messages.size)
      end
    end

    # ruby-kafka's `pause_status.consumer` event: each loop, for every paused partition, how long
    # (seconds) it has been paused.
    def instrument_pauses
      now = monotonic
      @pauses.each do |(topic, partition), pause|
        next unless paused?(topic, partition)

        Instrumenter.instrument("pause_status.consumer", client_id: @client.client_id, group_id: @group_id,
                                                         topic: topic, partition: partition,
                                                         duration: now - pause[:since])
      end
    end

    # Hands the concrete topic list (Regexp subscriptions resolved against the cluster's topics)
    # to the native consumer; a change makes the group rebalance.
    def sync_subscriptions(force: false)
      regex = @subscriptions.any? { |(t, _, _)| t.is_a?(Regexp) }
      interval = @refresh_topic_interval.positive? ? @refresh_topic_interval : 10.0
      return unless force || (regex && monotonic - (@subscribed_at || 0) >= interval)

      @subscribed_at = monotonic
      topics = regex ? @client.topics : []
      wanted = @subscriptions.flat_map do |(t, reset, max_bytes)|
        names = t.is_a?(Regexp) ? topics.grep(t).reject { |n| n.start_with?("__") } : [t]
        names.map { |n| [n, reset == :earliest ? -2 : -1, max_bytes] }
      end
      wanted.uniq!(&:first)
      return if wanted == @subscribed_topics

      @subscribed_topics = wanted
      @native.subscribe(wanted)
    end
  end
end
