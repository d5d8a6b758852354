# frozen_string_literal: true

require_relative "consumer_process_support"

# One consumer group with a kafka_rs member and a librdkafka member (confluent-kafka for Python,
# pinned in ConsumerProcesses::ConfluentKafka, in a venv made on first use), each a process of
# its own, both with the range assignor: whichever leads the group computes the assignment for
# both, and each reads the offsets the other committed.
RSpec.describe "a consumer group shared with librdkafka", :integration do
  include IntegrationHelpers
  include ConsumerProcesses::Helpers

  let(:kafka) { IntegrationHelpers.client }
  let(:group) { "spec-mixed-#{SecureRandom.hex(4)}" }

  after do |example|
    stop_children(example)
    drop_topics(kafka)
    kafka.close
  end

  # The group's leader (its first member) computes the assignment: each client does it once.
  %i[kafka_rs librdkafka].each do |leader|
    it "splits a 4-partition topic between a kafka_rs member and a librdkafka member (range, #{leader} leading), " \
       "which together read every message, and the kafka_rs member resumes from librdkafka's commits" do
      ConsumerProcesses::ConfluentKafka.python # the venv, made before the clock starts
      check_mixed_group(leader)
    end
  end

  def check_mixed_group(leader)
    t0 = ConsumerProcesses.now
    topic = new_topic(kafka, partitions: 4)
    start = {
      kafka_rs: lambda {
        start_child("kafka_rs", group: group, topic: topic, options: ConsumerProcesses::FAST.merge(assignment_strategy: "range"))
      },
      librdkafka: -> { start_child("librdkafka", group: group, topic: topic, client: :librdkafka) }
    }
    first = start.fetch(leader).call
    wait_until("the first member owns the 4 partitions", timeout: 30) { first.assignment == [0, 1, 2, 3] }
    second = start.fetch(leader == :kafka_rs ? :librdkafka : :kafka_rs).call
    ours, theirs = [first, second].partition { |m| m.name == "kafka_rs" }.map(&:first)
    members = [ours, theirs]
    wait_until("each member owns 2 of the 4 partitions", timeout: 40) do
      as = members.map(&:assignment)
      as.all? { |a| a.size == 2 } && as.flatten.sort == [0, 1, 2, 3]
    end
    owned = members.to_h { |m| [m.name, m.assignment] }
    # Range: contiguous halves, in the order of the member ids.
    expect(owned.values.sort).to eq([[0, 1], [2, 3]])

    round1 = produce_values(kafka, topic, 400, partitions: 4)
    wait_processed(members, round1, timeout: 30)
    records = members.flat_map(&:processed)
    expect(records.map(&:value)).to match_array(round1)
    members.each { |m| expect(m.processed.map(&:partition).uniq.sort).to eq(owned[m.name]) }
    expect(duplicates_in(records)).to be_empty

    # The librdkafka member leaves (close: commit, LeaveGroup); kafka_rs takes its partitions
    # and starts them where librdkafka committed.
    expect(theirs.stop).to be_success, theirs.describe
    wait_until("the kafka_rs member owns the 4 partitions", timeout: 20) { ours.assignment == [0, 1, 2, 3] }
    round2 = produce_values(kafka, topic, 200, partitions: 4, from: 400)
    wait_processed([ours], round2, timeout: 30)
    expect(ours.stop).to be_success, ours.describe
    taken_over = ours.processed.select { |r| owned[theirs.name].include?(r.partition) }
    expect(taken_over.group_by(&:partition).transform_values { |rs| rs.map(&:offset).sort })
      .to eq(owned[theirs.name].to_h { |p| [p, (100..149).to_a] })
    all = members.flat_map(&:processed)
    expect(all.map(&:value)).to match_array(round1 + round2)
    note(
      format("\nmixed group (kafka_rs + librdkafka, range, %s leading): %s; 600 messages, %d duplicates; %.1fs in all",
             leader, owned.inspect, duplicates_in(all).size, ConsumerProcesses.now - t0)
    )
  end
end
