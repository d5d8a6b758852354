# frozen_string_literal: true

require_relative "command"

module KafkaRs
  module CLI
    # kafka_rs groups
    class Groups < Command
      usage "kafka_rs groups [options]",
            "Every consumer group of the cluster, with its state, assignment protocol and members\n" \
            "(groups that only commit offsets are listed too)."

      def execute(args)
        expect_args(args, 0, "")
        groups = kafka.groups.map do |id|
          group = kafka.describe_group(id)
          { group: id, state: group.state, protocol: group.protocol.to_s, members: group.members.size }
        end
        if json?
          print_json(groups)
        else
          rows = groups.map { |g| [g[:group], g[:state], g[:protocol].empty? ? nil : g[:protocol], g[:members]] }
          print_table(%w[GROUP STATE PROTOCOL MEMBERS], rows)
        end
        0
      end
    end
  end
end
