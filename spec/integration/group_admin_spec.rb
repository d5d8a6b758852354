# frozen_string_literal: true

require_relative "support"

# The operators' group surface of Kafka::Client against the real broker: groups, describe_group,
# fetch_group_offsets (ruby-kafka's) and consumer_lag, around a real consumer group member.
RSpec.describe "group admin", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  let(:group) { "spec-group-admin-#{SecureRandom.hex(4)}" }
  # Short timeouts so that the member joins in a second or two.
  let(:fast) { { session_timeout: 6, heartbeat_interval: 0.5, rebalance_timeout: 10, offset_commit_interval: 0.2 } }

  after do
    drop_topics(kafka)
    kafka.close unless kafka.closed?
  end

  # Produces `count` messages to each partition of `counts` ({ partition => count }).
  def produce(topic, counts)
    producer = kafka.producer
    counts.each { |partition, count| count.times { |i| producer.produce("p#{partition}-#{i}", topic: topic, partition: partition) } }
    producer.deliver_messages
  end

  # The block's first truthy value, asked again every 0.1 s for up to `timeout` seconds.
  def wait_until(what, timeout: 30)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      value = yield
      return value if value
      raise "timed out waiting until #{what}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.1
    end
  end

  it "lists and describes a live member, then reports the committed offsets and the lag" do
    topic = new_topic(kafka, partitions: 3)
    produce(topic, 0 => 10, 1 => 10) # partition 2 stays empty for now
    consumer = kafka.consumer(group_id: group, **fast)
    consumer.subscribe(topic)
    # Partition 2 is paused as soon as it is assigned: what is produced there later is not read.
    consumer.on_partitions_assigned { |tps| consumer.pause(topic, 2) if tps.fetch(topic, []).include?(2) }
    seen = Queue.new
    thread = Thread.new { consumer.each_message { |m| seen << m } }
    begin
      wait_until("the member read 20 messages") { seen.size >= 20 || !thread.alive? }
      expect(seen.size).to eq(20)
      wait_until("the offsets are committed") do
        offsets = kafka.fetch_group_offsets(group)[topic] || {}
        offsets.transform_values(&:offset) == { 0 => 10, 1 => 10 }
      end

      groups = kafka.groups
      expect(groups).to include(group)
      expect(groups).to eq(groups.sort.uniq)

      description = wait_until("the group is stable") { kafka.describe_group(group).then { |d| d if d.state == "Stable" } }
      expect(description).to be_a(KafkaRs::GroupDescription)
      expect(description).to have_attributes(group_id: group, state: "Stable", protocol_type: "consumer",
                                             protocol: "range", error_code: 0)
      expect(description.members.size).to eq(1)
      member = description.members.first
      expect(member).to have_attributes(client_id: "kafka_rs-spec", group_instance_id: nil, subscription: [topic],
                                        assignment: { topic => [0, 1, 2] })
      expect(member.member_id).to be_a(String).and(satisfy { |id| !id.empty? })
      expect(member.client_host).to include("127.0.0.1")
      expect(member.member_assignment.topics).to eq(topic => [0, 1, 2])

      produce(topic, 2 => 3)
      owner = { member_id: member.member_id, client_id: "kafka_rs-spec", client_host: member.client_host }
      expect(kafka.consumer_lag(group)).to eq(
        topic => {
          0 => { committed: 10, end_offset: 10, lag: 0, **owner },
          1 => { committed: 10, end_offset: 10, lag: 0, **owner },
          # Subscribed and assigned, never committed: every retained message counts.
          2 => { committed: nil, end_offset: 3, lag: 3, **owner }
        }
      )
    ensure
      consumer.stop
      thread.join(15) || raise("the consumer did not stop")
    end

    # The member left: the group is empty, its offsets stay.
    expect(kafka.describe_group(group)).to have_attributes(state: "Empty", members: [])
    expect(kafka.groups).to include(group)
    produce(topic, 0 => 2, 1 => 1)
    offsets = kafka.fetch_group_offsets(group)
    expect(offsets.keys).to eq([topic])
    expect(offsets[topic]).to all(satisfy { |_, info| info.is_a?(KafkaRs::PartitionOffsetInfo) })
    expect(offsets[topic].transform_values(&:offset)).to eq(0 => 10, 1 => 10)
    none = { member_id: nil, client_id: nil, client_host: nil }
    # Without members nothing is subscribed: only the committed partitions are reported.
    expect(kafka.consumer_lag(group)).to eq(
      topic => {
        0 => { committed: 10, end_offset: 12, lag: 2, **none },
        1 => { committed: 10, end_offset: 11, lag: 1, **none }
      }
    )
  end

  it "describes a group that does not exist as Dead, with no offsets and no lag" do
    missing = "spec-no-such-group-#{SecureRandom.hex(4)}"
    expect(kafka.describe_group(missing)).to have_attributes(group_id: missing, state: "Dead", protocol_type: "",
                                                             protocol: "", members: [])
    expect(kafka.fetch_group_offsets(missing)).to eq({})
    expect(kafka.consumer_lag(missing)).to eq({})
    expect(kafka.groups).not_to include(missing)
    # A binary String holding UTF-8 is taken as UTF-8.
    binary = "#{missing}-grüppe".b
    expect(kafka.describe_group(binary).group_id).to eq("#{missing}-grüppe")
  end

  it "raises TypeError or ArgumentError naming group_id for a bad one, before anything is sent" do
    %i[describe_group fetch_group_offsets consumer_lag].each do |method|
      expect { kafka.public_send(method, nil) }.to raise_error(TypeError, /group_id must be a String, got NilClass/)
      expect { kafka.public_send(method, :orders) }.to raise_error(TypeError, /group_id/)
      expect { kafka.public_send(method, "") }.to raise_error(ArgumentError, /group_id must not be empty/)
      expect { kafka.public_send(method, "\xff\xfe".b) }.to raise_error(ArgumentError, /group_id .* not valid UTF-8/)
      expect { kafka.public_send(method, "g" * 32_768) }.to raise_error(ArgumentError, /group_id is 32768 bytes long/)
    end
  end

  it "raises ClientClosed once the client is closed" do
    kafka.close
    expect { kafka.groups }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.describe_group("g") }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.fetch_group_offsets("g") }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.consumer_lag("g") }.to raise_error(KafkaRs::ClientClosed)
  end
end
