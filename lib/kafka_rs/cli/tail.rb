# frozen_string_literal: true

require_relative "command"

module KafkaRs
  module CLI
    # kafka_rs tail TOPIC
    class Tail < Command
      usage "kafka_rs tail TOPIC [--from-beginning] [--group G] [--format value|json] [--max-messages N]",
            "Prints a topic's messages as they arrive, from every partition, until Ctrl-C (or TERM).\n" \
            "Without --group it reads on its own (nothing is committed); with --group it joins that\n" \
            "consumer group, shares the partitions with its other members, commits what it printed\n" \
            "and leaves the group on the way out.\n\n" \
            "--format value (default) prints each value on a line of its own; json prints one object\n" \
            "per message: topic, partition, offset, timestamp (ms), key, value, headers (a value that\n" \
            "is not UTF-8 comes as value_base64 instead)."

      FORMATS = %w[value json].freeze

      def initialize(...)
        super
        @from_beginning = false
        @group = nil
        @format = "value"
        @max_messages = nil
      end

      def define_options(o)
        o.on("--from-beginning", "start at the earliest offset (else only new messages; with --group: " \
                                 "where the group has no commit)") { @from_beginning = true }
        o.on("--group G", "read as a member of consumer group G") { |v| @group = v }
        o.on("--format FORMAT", FORMATS, "value or json (default value)") { |v| @format = v }
        o.on("--max-messages N", Integer, "exit after N messages") do |v|
          raise OptionParser::InvalidArgument, "--max-messages must be positive" unless v.positive?

          @max_messages = v
        end
      end

      def execute(args)
        topic, = expect_args(args, 1, "topic")
        @format = "json" if json?
        out.sync = true
        @printed = 0
        if @group
          tail_group(topic)
        else
          tail_topic(topic)
        end
        0
      end

      private

      def tail_topic(topic)
        raise KafkaRs::UnknownTopicOrPartition, "topic #{topic} does not exist" unless kafka.has_topic?(topic)

        stop = false
        previous = %w[INT TERM].to_h { |signal| [signal, trap(signal) { raise Interrupt unless stop }] }
        kafka.each_message(topic: topic, start_from_beginning: @from_beginning, max_wait_time: 1) do |message|
          print_message(message)
          if done?
            stop = true
            break
          end
        end
      rescue Interrupt
        nil
      ensure
        previous&.each { |signal, handler| trap(signal, handler || "DEFAULT") }
      end

      def tail_group(topic)
        # Commits every second: what was printed shows in `kafka_rs lag` at once.
        consumer = kafka.consumer(group_id: @group, offset_commit_interval: 1)
        consumer.subscribe(topic, start_from_beginning: @from_beginning)
        previous = %w[INT TERM].to_h { |signal| [signal, trap(signal) { consumer.stop }] }
        consumer.each_message do |message|
          print_message(message)
          consumer.stop if done?
        end
      ensure
        previous&.each { |signal, handler| trap(signal, handler || "DEFAULT") }
      end

      def done?
        @max_messages && @printed >= @max_messages
      end

      def print_message(message)
        @printed += 1
        if @format == "value"
          out.write(message.value.to_s, "\n")
        else
          out.puts(JSON.generate(to_h(message)))
        end
      end

      def to_h(message)
        h = { topic: message.topic, partition: message.partition, offset: message.offset,
              timestamp: message.timestamp_ms, key: text(message.key) }
        value = text(message.value)
        if value.nil? && !message.value.nil?
          h[:value_base64] = [message.value].pack("m0")
        else
          h[:value] = value
        end
        h[:headers] = message.headers.transform_values { |v| text(v) || [v].pack("m0") }
        h
      end

      # The bytes as a UTF-8 String, or nil when they are not valid UTF-8 (or nil).
      def text(bytes)
        return nil if bytes.nil?

        string = bytes.dup.force_encoding(Encoding::UTF_8)
        string.valid_encoding? ? string : nil
      end
    end
  end
end
