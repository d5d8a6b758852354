# frozen_string_literal: true

require_relative "command"

module KafkaRs
  module CLI
    # kafka_rs lag GROUP
    class Lag < Command
      usage "kafka_rs lag GROUP [--wait [SECONDS]] [--json]",
            "How far a consumer group is behind, per partition: the offset it committed, the\n" \
            "partition's end offset, the lag (messages not yet processed) and the member that owns\n" \
            "the partition; then the totals. A partition without a commit counts every retained\n" \
            "message as lag.\n\n" \
            "--wait polls until the group is Stable with no lag (progress on a terminal), then\n" \
            "prints the table; exit status 1 if that did not happen within SECONDS (default 60)."

      POLL_INTERVAL = 0.5

      def define_options(o)
        o.on("--wait [SECONDS]", Float, "wait until the group is Stable and caught up (default 60 s)") do |v|
          @wait = v || 60.0
        end
      end

      def execute(args)
        group_id, = expect_args(args, 1, "group id")
        state, lag = snapshot(group_id)
        caught_up = true
        if @wait
          deadline = monotonic + @wait
          until (caught_up = state == "Stable" && total(lag).zero?)
            break if monotonic >= deadline

            progress("#{group_id}: #{state}, lag #{total(lag)}")
            sleep POLL_INTERVAL
            state, lag = snapshot(group_id)
          end
          end_progress
        end
        report(group_id, state, lag)
        if @wait && !caught_up
          err.puts("kafka_rs: #{group_id} not caught up after #{@wait} s (#{state}, lag #{total(lag)})")
          return 1
        end
        0
      end

      private

      def snapshot(group_id)
        [kafka.describe_group(group_id).state, kafka.consumer_lag(group_id)]
      end

      def total(lag)
        lag.sum { |_, partitions| partitions.sum { |_, p| p[:lag] || 0 } }
      end

      def owner(info)
        return nil unless info[:member_id]

        [info[:client_id], info[:client_host]].compact.join(" ")
      end

      def report(group_id, state, lag)
        if json?
          topics = lag.sort.to_h do |topic, partitions|
            rows = partitions.sort.map do |partition, info|
              { partition: partition, committed: info[:committed], end_offset: info[:end_offset], lag: info[:lag],
                member_id: info[:member_id], client_id: info[:client_id], client_host: info[:client_host] }
            end
            [topic, { partitions: rows, lag: rows.sum { |r| r[:lag] || 0 } }]
          end
          print_json(group: group_id, state: state, topics: topics, lag: total(lag))
          return
        end

        rows = lag.sort.flat_map do |topic, partitions|
          partitions.sort.map do |partition, info|
            [topic, partition, info[:committed], info[:end_offset], info[:lag], owner(info)]
          end
        end
        if rows.empty?
          out.puts("#{group_id} (#{state}): no committed offsets and no assigned partitions")
          return
        end

        print_table(%w[TOPIC PARTITION COMMITTED END LAG OWNER], rows, right: %w[COMMITTED END LAG])
        out.puts
        if lag.size > 1
          lag.sort.each do |topic, partitions|
            out.puts("#{topic}: lag #{partitions.sum { |_, p| p[:lag] || 0 }} over #{partitions.size} partitions")
          end
        end
        partitions = lag.sum { |_, ps| ps.size }
        out.puts("#{group_id} (#{state}): total lag #{total(lag)} over #{partitions} partitions")
      end

      def monotonic
        Process.clock_gettime(Process::CLOCK_MONOTONIC)
      end
    end
  end
end
