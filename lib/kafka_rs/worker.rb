# frozen_string_literal: true

require "logger"

module KafkaRs
  # A worker process's consumers: runs each consumer class ({Consumer} subclasses) with
  # `concurrency` members (threads) in its group, until a signal or a fatal error. What
  # `kafka_rs consume` runs; usable from a script too:
  #
  #   exit KafkaRs::Worker.new([MetricsConsumer], concurrency: 2).run
  #
  # Signals (as Sidekiq workers take them):
  # - TERM, INT: graceful stop: each member finishes the message in progress, commits and leaves
  #   its group (its partitions move to the other members at once). A second TERM/INT, or
  #   `shutdown_timeout` seconds without the members done, exits at once (status 1): what was
  #   processed and not committed is read again by the next member (at-least-once).
  # - TTIN: every thread's backtrace goes to the log.
  #
  # A member that ends with an error (its class's error policy said `:stop`, or the cluster
  # failed it for good) stops the others: {#run} returns 1. One log line per assignment change.
  class Worker
    SIGNALS = %w[TERM INT TTIN].freeze

    # @param classes [Array<Class>] consumer classes
    # @param concurrency [Integer] members (threads) per class
    # @param client [Client, nil] nil: the shared {KafkaRs.client}
    # @param logger [Logger]
    # @param shutdown_timeout [Numeric] seconds a graceful stop may take
    def initialize(classes, concurrency: 1, client: nil, logger: Logger.new($stdout), shutdown_timeout: 25)
      raise ArgumentError, "no consumer classes to run" if classes.empty?

      classes.each do |klass|
        unless klass.is_a?(Class) && klass < Consumer
          raise ArgumentError, "#{klass.inspect} is not a consumer class (a subclass of KafkaRs::Consumer)"
        end

        klass.processing_mode
        raise ArgumentError, "#{klass} subscribes to no topic (subscribes_to \"topic\")" if klass.subscriptions.empty?
      end
      Validation.integer!(concurrency, "concurrency", min: 1)
      @classes = classes
      @concurrency = concurrency
      @client = client
      @logger = logger
      @shutdown_timeout = Validation.positive_number!(shutdown_timeout, "shutdown_timeout").to_f
      @members = []
      @ended = Queue.new
    end

    # Runs until every member ended.
    #
    # @return [Integer] 0 after a graceful stop, 1 after a fatal error
    def run
      reader, writer = IO.pipe
      # Consumer classes without a logger of their own log with the worker, while it runs.
      class_logger = Consumer.logger
      Consumer.logger = class_logger || @logger
      previous = trap_signals(writer)
      start_members
      status = supervise(reader)
      @logger.info("stopped (#{status.zero? ? 'clean' : 'after an error'})")
      status
    ensure
      previous&.each { |signal, handler| trap(signal, handler) }
      Consumer.logger = class_logger
      reader&.close
      writer&.close
    end

    private

    def trap_signals(writer)
      SIGNALS.to_h do |signal|
        # Only the write happens in the handler: the work is done on the main thread.
        [signal, trap(signal) { writer.write_nonblock("#{signal}\n", exception: false) }]
      end
    end

    def start_members
      @classes.each do |klass|
        @concurrency.times do |i|
          label = "#{klass.name}##{i + 1}"
          member = klass.new
          member.attach(@client)
          member.watch_assignments(->(tps) { @logger.info("#{label} (group #{member.group_id}) assigned #{describe(tps)}") },
                                   ->(tps) { @logger.info("#{label} (group #{member.group_id}) revoked #{describe(tps)}") })
          thread = Thread.new { run_member(member, label) }
          thread.name = "kafka_rs #{label}"
          @members << [label, member, thread]
          @logger.info("#{label} joining group #{member.group_id} for #{klass.subscriptions.map(&:first).map(&:inspect).join(', ')}")
        end
      end
    end

    def run_member(member, label)
      member.run
      @ended << [label, nil]
    rescue Exception => e # rubocop:disable Lint/RescueException -- reported to the main thread, which decides
      @ended << [label, e]
    end

    # The main thread: signals from the pipe, members ending.
    def supervise(reader)
      status = 0
      running = @members.size
      stopping_since = nil
      while running.positive?
        if IO.select([reader], nil, nil, 0.1)
          reader.read_nonblock(4096, exception: false).to_s.split("\n").each do |signal|
            if signal == "TTIN"
              dump_threads
            elsif stopping_since
              @logger.warn("#{signal} again: exiting at once (processed messages not committed are read again)")
              exit!(1)
            else
              @logger.info("#{signal}: stopping (finishing the messages in progress, committing, leaving the groups)")
              stopping_since = monotonic
              stop_all
            end
          end
        end
        until @ended.empty?
          label, error = @ended.pop
          running -= 1
          next unless error

          status = 1
          @logger.error("#{label} ended: #{error.class}: #{error.message}#{" (cause: #{error.cause.class}: #{error.cause.message})" if error.cause}")
          @logger.error((error.cause || error).backtrace&.first(10)&.join("\n")) if (error.cause || error).backtrace
          stopping_since ||= monotonic
          stop_all
        end
        next unless stopping_since && monotonic - stopping_since > @shutdown_timeout

        @logger.error("members did not stop within #{@shutdown_timeout} s: exiting (processed messages not committed are read again)")
        dump_threads
        exit!(1)
      end
      status
    end

    def stop_all
      @members.each { |(_, member, _)| member.stop }
    end

    def dump_threads
      Thread.list.each do |thread|
        @logger.info("thread #{thread.name || thread.object_id} (#{thread.status}):\n  #{(thread.backtrace || []).join("\n  ")}")
      end
    end

    def describe(topic_partitions)
      return "nothing" if topic_partitions.empty?

      topic_partitions.map { |topic, partitions| "#{topic} #{partitions.inspect}" }.join(", ")
    end

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
