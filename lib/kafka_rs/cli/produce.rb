# frozen_string_literal: true

require_relative "command"

module KafkaRs
  module CLI
    # kafka_rs produce TOPIC < lines
    class Produce < Command
      usage "kafka_rs produce TOPIC [--key K | --key-separator SEP] [--partition P] < lines",
            "Produces each line of standard input (without its newline) as a message to TOPIC, with\n" \
            "acknowledgement from all in-sync replicas; exits once every line is delivered, or with\n" \
            "status 1 naming the first failure. Shows progress on a terminal."

      CHUNK = 1000

      def initialize(...)
        super
        @key = nil
        @separator = nil
        @partition = nil
        @timeout = 30
      end

      def define_options(o)
        o.on("--key K", "the key of every message") { |v| @key = v }
        o.on("--key-separator SEP", "each line is KEY<SEP>VALUE (a line without SEP has no key)") { |v| @separator = v }
        o.on("--partition P", Integer, "write to partition P (default: by key, or spread)") { |v| @partition = v }
        o.on("--timeout SECONDS", Float, "give up on a line not delivered within this long (default 30)") do |v|
          raise OptionParser::InvalidArgument, "--timeout must be positive" unless v.positive?

          @timeout = v
        end
      end

      def execute(args)
        topic, = expect_args(args, 1, "topic")
        raise UsageError, "--key and --key-separator exclude each other" if @key && @separator
        raise UsageError, "--key-separator must not be empty" if @separator&.empty?

        check_partition(topic) if @partition
        producer = kafka.async_producer(delivery_interval: 0.005, max_queue_size: 20 * CHUNK, max_buffer_size: CHUNK,
                                        delivery_timeout: @timeout)
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        @produced = 0
        @failed = 0
        @first_error = nil
        pending = []
        chunk = []
        stdin.each_line do |line|
          chunk << message(line.chomp, topic)
          next if chunk.size < CHUNK

          pending = send_chunk(producer, chunk, pending)
          chunk = []
          progress("produced #{@produced} lines to #{topic}")
        end
        pending = send_chunk(producer, chunk, pending) unless chunk.empty?
        settle(pending)
        producer.shutdown
        end_progress
        seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
        report(topic, seconds)
        @failed.zero? ? 0 : 1
      end

      private

      def check_partition(topic)
        return unless kafka.has_topic?(topic)

        count = kafka.partitions_for(topic)
        return if @partition < count

        raise KafkaRs::UnknownTopicOrPartition, "#{topic} has #{count} partitions (0..#{count - 1}), not #{@partition}"
      end

      def message(line, topic)
        key = @key
        value = line
        if @separator
          k, v = line.split(@separator, 2)
          key, value = k, v unless v.nil?
        end
        { value: value, key: key, topic: topic, partition: @partition }
      end

      # Queues a chunk, then waits for the one before it: one chunk is in flight while the next
      # is read.
      def send_chunk(producer, chunk, pending)
        handles = producer.produce_many(chunk)
        settle(pending)
        handles
      end

      def settle(handles)
        handles.each do |handle|
          handle.wait
          @produced += 1
        rescue KafkaRs::Error => e
          @failed += 1
          @first_error ||= e
        end
        []
      end

      def report(topic, seconds)
        if json?
          print_json(topic: topic, produced: @produced, failed: @failed, seconds: seconds.round(3),
                     error: @first_error && "#{@first_error.class}: #{@first_error.message}")
        elsif err.tty?
          err.puts(format("produced %d lines to %s in %.2f s", @produced, topic, seconds))
        end
        return if @failed.zero?

        err.puts("kafka_rs: #{@failed} lines not delivered; first error: #{@first_error.class}: #{@first_error.message}")
      end
    end
  end
end
