# frozen_string_literal: true

require_relative "command"

module KafkaRs
  module CLI
    # kafka_rs topics [list|create|delete|describe]
    class Topics < Command
      usage "kafka_rs topics [list [--all] | create NAME [--partitions N] [--replication-factor R] " \
            "[--config k=v]... | delete NAME... | describe NAME]",
            "list (the default): topics with their partition count and replication factor (internal\n" \
            "topics such as __consumer_offsets with --all).\n" \
            "create: creates a topic and waits until every partition has a leader.\n" \
            "delete: deletes topics and waits until the cluster no longer lists them.\n" \
            "describe: a topic's partitions with their end offsets, and its configuration."

      def initialize(...)
        super
        @partitions = 1
        @replication_factor = 1
        @configs = {}
        @all = false
      end

      def define_options(o)
        o.on("--partitions N", Integer, "create: number of partitions (default 1)") { |v| @partitions = v }
        o.on("--replication-factor R", Integer, "create: replicas per partition (default 1)") do |v|
          @replication_factor = v
        end
        o.on("--config KEY=VALUE", "create: a topic config, e.g. retention.ms=86400000 (repeatable)") do |v|
          key, value = v.split("=", 2)
          raise OptionParser::InvalidArgument, "--config #{v} (expected KEY=VALUE)" if value.nil? || key.empty?

          @configs[key] = value
        end
        o.on("--all", "list: include internal topics (names starting with __)") { @all = true }
      end

      def execute(args)
        action = args.shift || "list"
        case action
        when "list" then list(expect_args(args, 0, ""))
        when "create" then create(*expect_args(args, 1, "topic name"))
        when "delete"
          raise UsageError, "missing topic name" if args.empty?

          delete(args)
        when "describe" then describe(*expect_args(args, 1, "topic name"))
        else raise UsageError, "unknown action #{action.inspect} (list, create, delete, describe)"
        end
      end

      private

      def list(_args)
        names = kafka.topics.sort
        names = names.reject { |n| n.start_with?("__") } unless @all
        topics = names.map do |name|
          { name: name, partitions: kafka.partitions_for(name), replication_factor: kafka.replica_count_for(name) }
        end
        if json?
          print_json(topics)
        else
          print_table(%w[TOPIC PARTITIONS REPLICATION], topics.map(&:values))
        end
        0
      end

      def create(name)
        kafka.create_topic(name, num_partitions: @partitions, replication_factor: @replication_factor, config: @configs)
        result = { created: name, partitions: @partitions, replication_factor: @replication_factor, config: @configs }
        if json?
          print_json(result)
        else
          out.puts("created topic #{name} (#{@partitions} partitions, replication factor #{@replication_factor})")
        end
        0
      end

      def delete(names)
        names.each do |name|
          kafka.delete_topic(name)
          out.puts("deleted topic #{name}") unless json?
        end
        print_json(deleted: names) if json?
        0
      end

      def describe(name)
        raise KafkaRs::UnknownTopicOrPartition, "topic #{name} does not exist" unless kafka.has_topic?(name)

        ends = kafka.last_offsets_for(name).fetch(name).sort.map { |partition, last| [partition, last + 1] }
        replication = kafka.replica_count_for(name)
        configs = kafka.describe_topic(name).sort.to_h
        if json?
          print_json(name: name, replication_factor: replication,
                     partitions: ends.map { |p, e| { partition: p, end_offset: e } }, configs: configs)
        else
          out.puts("topic #{name}: #{ends.size} partitions, replication factor #{replication}")
          out.puts
          print_table(%w[PARTITION END-OFFSET], ends)
          out.puts
          print_table(%w[CONFIG VALUE], configs.to_a)
        end
        0
      end
    end
  end
end
