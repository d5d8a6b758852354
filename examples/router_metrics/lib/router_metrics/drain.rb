# frozen_string_literal: true

require "logger"

module RouterMetrics
  # What the drain endpoint does with a POSTed batch, apart from HTTP: parse the frames, skip
  # (count, log) the malformed ones and batches already taken, and queue every line on the
  # async producer to the `router` topic, keyed by app. Queueing never waits on the network, so
  # the endpoint answers at once; the producer delivers in the background (idempotently, with
  # retries) and logs what finally fails.
  class Drain
    Outcome = Struct.new(:status, :frames, :malformed, keyword_init: true)
    # Counted since the process started; {#stats}.
    COUNTERS = %i[batches duplicate_batches overloaded_batches produced malformed count_mismatches
                  delivery_failures].freeze
    LOGGED_MALFORMED_PER_BATCH = 3

    attr_reader :topic, :logger

    # @param topic [String]
    # @param producer_factory [#call] builds the process's producer: called on first use and again
    #   in a forked child
    # @param recent_ids [RecentIds, RedisRecentIds]
    # @param logger [Logger]
    def initialize(topic:, producer_factory:, recent_ids: RecentIds.new, logger: Logger.new($stderr))
      @topic = topic
      @producer_factory = producer_factory
      @recent_ids = recent_ids
      @logger = logger
      @counters = COUNTERS.to_h { |c| [c, 0] }
      @counters_lock = Mutex.new
      @producer = nil
      @producer_pid = nil
      @producer_lock = Mutex.new
    end

    # The process's producer (the factory's: DrainApp's is the app's shared KafkaRs.producer),
    # taken on first use and again after fork (a child must not use the parent's), with this
    # drain's delivery-failure callback.
    #
    # @return [KafkaRs::AsyncProducer]
    def producer
      return @producer if @producer_pid == Process.pid

      @producer_lock.synchronize do
        unless @producer_pid == Process.pid
          producer = @producer_factory.call
          producer.on_error do |error, message|
            count(:delivery_failures)
            @logger.error("drain: not delivered to #{message.topic} (key #{message.key}): #{error.class}: #{error.message}")
          end
          @producer = producer
          @producer_pid = Process.pid
        end
      end
      @producer
    end

    # Takes one POSTed body.
    #
    # @param body [String] an application/logplex-1 body
    # @param frame_id [String, nil] the `Logplex-Frame-Id` header
    # @param msg_count [String, nil] the `Logplex-Msg-Count` header
    # @return [Outcome] `status`: `:accepted`, `:duplicate` (taken before: nothing produced) or
    #   `:overloaded` (the producer's queue is full: nothing produced, the id not taken, so the
    #   platform's retry is)
    def accept(body, frame_id: nil, msg_count: nil)
      count(:batches)
      if frame_id && !@recent_ids.claim(frame_id)
        count(:duplicate_batches)
        return Outcome.new(status: :duplicate, frames: 0, malformed: 0)
      end

      batch = Logplex.parse(body)
      report_malformed(batch, frame_id)
      if msg_count && msg_count.to_s != batch.count.to_s
        count(:count_mismatches)
        @logger.warn("drain: frame #{frame_id}: Logplex-Msg-Count says #{msg_count}, the body has #{batch.count} frames")
      end

      unless batch.frames.empty?
        begin
          producer.produce_many(batch.frames.map { |f| { value: f.raw, key: f.app, topic: @topic } })
        rescue KafkaRs::BufferOverflow
          @recent_ids.release(frame_id) if frame_id
          count(:overloaded_batches)
          return Outcome.new(status: :overloaded, frames: batch.frames.size, malformed: batch.malformed.size)
        end
      end
      count(:produced, batch.frames.size)
      count(:malformed, batch.malformed.size)
      Outcome.new(status: :accepted, frames: batch.frames.size, malformed: batch.malformed.size)
    rescue StandardError
      @recent_ids.release(frame_id) if frame_id
      raise
    end

    # @return [Hash{Symbol => Integer}] the counters of this process, with its pid
    def stats
      @counters_lock.synchronize { @counters.dup }.merge(pid: Process.pid)
    end

    # Delivers what is queued (at shutdown).
    def flush(timeout: 10)
      @producer&.flush(timeout: timeout) if @producer_pid == Process.pid
    end

    private

    def count(counter, n = 1)
      @counters_lock.synchronize { @counters[counter] += n }
    end

    def report_malformed(batch, frame_id)
      return if batch.malformed.empty?

      batch.malformed.first(LOGGED_MALFORMED_PER_BATCH).each do |m|
        @logger.warn("drain: frame #{frame_id}: skipped a malformed frame: #{m}")
      end
      more = batch.malformed.size - LOGGED_MALFORMED_PER_BATCH
      @logger.warn("drain: frame #{frame_id}: ... and #{more} more malformed frames") if more.positive?
    end
  end
end
