# frozen_string_literal: true

require_relative "support"
require "logger"
require "stringio"

# Consumer classes (subclasses of KafkaRs::Consumer) run against the real broker: `process` and
# `process_batch`, the commits after processing, the assignment hooks, and the error policies
# (retry_with_backoff, skip, stop, max_attempts with exhausted:). Groups use short timeouts.
RSpec.describe "consumer classes", :integration do
  include IntegrationHelpers

  let(:fast) { { session_timeout: 6, heartbeat_interval: 1, rebalance_timeout: 10, offset_commit_interval: 0.2 } }
  let(:kafka) { IntegrationHelpers.client }
  let(:group) { "spec-class-#{SecureRandom.hex(4)}" }
  let(:log) { StringIO.new }
  # What the consumers saw goes into plain Arrays: `<<` and `dup` are atomic under the GVL.

  after do
    KafkaRs::Instrumenter.unsubscribe(@subscriber) if @subscriber
    drop_topics(kafka)
    kafka.close
  end

  # A consumer class in `group` reading `topic`, with the fast settings, logging to `log`; the
  # block defines its methods and policy.
  def consumer_class(topic, &body)
    klass = Class.new(KafkaRs::Consumer)
    klass.group_id(group)
    klass.subscribes_to(topic)
    klass.consumer_options(**fast)
    klass.logger = Logger.new(log)
    klass.class_eval(&body)
    klass
  end

  # Runs `consumer` (attached to `kafka`) in a thread until the block is true, then stops it;
  # returns what run returned or raised (re-raised by Thread#value).
  def run_until(consumer, what, timeout: 30, &done)
    consumer.attach(kafka) unless consumer.attached?
    thread = Thread.new { consumer.run(max_wait_time: 0.2) }
    thread.report_on_exception = false
    wait_for(what, timeout: timeout) { !thread.alive? || done.call }
    consumer.stop
    thread.join(15) || raise("the consumer did not stop")
    thread.value
  end

  def committed(group_id = group)
    kafka.fetch_group_offsets(group_id).transform_values { |ps| ps.transform_values(&:offset) }
  end

  def error_events
    events = []
    @subscriber = KafkaRs::Instrumenter.subscribe("process_error.consumer.kafka") { |*, payload| events << payload }
    events
  end

  it "calls process for every message and commits after it, in the group named after the class" do
    topic = new_topic(kafka, partitions: 2)
    produce_by_partition(kafka, topic, 0 => %w[a0 a1 a2], 1 => %w[b0 b1])
    seen = []
    options = fast
    klass = Class.new(KafkaRs::Consumer) do
      subscribes_to topic
      consumer_options(**options)
      define_method(:process) { |m| seen << [m.partition, m.offset, m.value] }
    end
    namespace = "SpecClasses#{SecureRandom.hex(4)}"
    stub_const("#{namespace}::ReaderConsumer", klass)
    expect(klass.group_id).to eq("#{namespace.sub('Classes', '_classes')}.reader_consumer".downcase)

    run_until(klass.new, "5 messages") { seen.size >= 5 }
    got = seen.dup
    expect(got.group_by(&:first).transform_values { |ms| ms.map(&:last) }).to eq(0 => %w[a0 a1 a2], 1 => %w[b0 b1])
    expect(committed(klass.group_id)).to eq(topic => { 0 => 3, 1 => 2 })
  end

  it "calls process_batch with each batch and commits past the batch" do
    topic = new_topic(kafka)
    produce_by_partition(kafka, topic, 0 => %w[m1 m2 m3 m4 m5])
    batches = []
    klass = consumer_class(topic) do
      define_method(:process_batch) { |batch| batches << [batch.class, batch.topic, batch.messages.map(&:value)] }
    end
    run_until(klass.new, "5 messages in batches") { batches.dup.sum { |b| b.last.size } >= 5 }
    got = batches.dup
    expect(got.map(&:first).uniq).to eq([KafkaRs::FetchedBatch])
    expect(got.flat_map(&:last)).to eq(%w[m1 m2 m3 m4 m5])
    expect(committed).to eq(topic => { 0 => 5 })
  end

  it "retries a failed batch of process_batch from its first offset" do
    topic = new_topic(kafka)
    produce_by_partition(kafka, topic, 0 => %w[m1 m2 m3])
    calls = []
    klass = consumer_class(topic) do
      on_error :retry_with_backoff, backoff: 0.1, max_backoff: 0.2
      define_method(:process_batch) do |batch|
        failing = calls.empty?
        calls << [batch.first_offset, batch.messages.map(&:value), failing]
        raise "first batch fails once" if failing
      end
    end
    run_until(klass.new, "the batch processed again") { calls.dup.drop(1).sum { |c| c[1].size } >= 3 }
    got = calls.dup
    expect(got[0]).to eq([0, %w[m1 m2 m3], true])
    expect(got[1][0]).to eq(0)
    expect(got.drop(1).flat_map { |c| c[1] }).to eq(%w[m1 m2 m3])
    expect(committed).to eq(topic => { 0 => 3 })
  end

  it "calls the instance hooks on_partitions_assigned and on_partitions_revoked" do
    topic = new_topic(kafka, partitions: 2)
    events = []
    klass = consumer_class(topic) do
      define_method(:process) { |_m| nil }
      define_method(:on_partitions_assigned) { |tps| events << [object_id, :assigned, tps] }
      define_method(:on_partitions_revoked) { |tps| events << [object_id, :revoked, tps] }
    end
    first = klass.new.attach(kafka)
    second = klass.new.attach(kafka)
    history = []
    take = -> { history = events.dup }
    first_thread = Thread.new { first.run(max_wait_time: 0.2) }
    wait_for("the first member assigned both partitions") { take.call && history.include?([first.object_id, :assigned, { topic => [0, 1] }]) }
    run_until(second, "a rebalance over both members") do
      take.call
      history.include?([first.object_id, :revoked, { topic => [0, 1] }]) &&
        history.count { |(id, kind, _)| id == second.object_id && kind == :assigned } >= 1 &&
        history.count { |(id, kind, _)| id == first.object_id && kind == :assigned } >= 2
    end
    first.stop
    first_thread.join(15) || raise("the first member did not stop")
    take.call
    expect(history).to include([first.object_id, :assigned, { topic => [0, 1] }],
                               [first.object_id, :revoked, { topic => [0, 1] }])
    assigned = history.select { |(_, kind, _)| kind == :assigned }
    # After the rebalance each member owns one partition.
    last = [first, second].map { |c| assigned.reverse.find { |(id, _, _)| id == c.object_id }[2].fetch(topic) }
    expect(last.flatten.sort).to eq([0, 1])
    expect(last.map(&:size)).to eq([1, 1])
  end

  it "retry_with_backoff: reads the failed message again, the partition's later messages only after it succeeds, " \
     "while the other partitions go on" do
    topic = new_topic(kafka, partitions: 2)
    produce_by_partition(kafka, topic, 0 => %w[a0 bad a2], 1 => %w[b0 b1])
    events = error_events
    seen = []
    producer_client = KafkaRs.new([IntegrationHelpers::BROKER])
    klass = consumer_class(topic) do
      on_error :retry_with_backoff, backoff: 0.1, max_backoff: 0.2
      define_method(:process) do |m|
        if m.value == "bad"
          taken = seen.dup
          # A message produced to partition 1 after the first failure: "bad" succeeds only once
          # it was processed, so partition 1 must go on while partition 0 waits.
          producer_client.deliver_message("b-late", topic: topic, partition: 1) if taken.none? { |t| t[1] == "bad!" }
          unless taken.any? { |t| t[1] == "b-late" } && taken.count { |t| t[1] == "bad!" } >= 2
            seen << [m.partition, "bad!", m.offset]
            raise ArgumentError, "cannot take bad yet"
          end
        end
        seen << [m.partition, m.value, m.offset]
      end
    end
    run_until(klass.new, "every message processed") { (%w[a0 bad a2 b0 b1 b-late] - seen.dup.map { |t| t[1] }).empty? }
    got = seen.dup
    p0 = got.select { |t| t[0].zero? }.map { |t| t[1] }
    failures = p0.count("bad!")
    expect(failures).to be >= 2
    expect(p0).to eq(["a0", *Array.new(failures, "bad!"), "bad", "a2"])
    expect(got.select { |t| t[1] == "bad!" }.map(&:last).uniq).to eq([1])
    expect(got.select { |t| t[0] == 1 }.map { |t| t[1] }).to eq(%w[b0 b1 b-late])
    expect(got.index { |t| t[1] == "b-late" }).to be < got.index { |t| t[1] == "bad" }
    expect(events.map { |e| [e[:topic], e[:partition], e[:offset], e[:action], e[:attempt]] })
      .to eq((1..failures).map { |attempt| [topic, 0, 1, :retry, attempt] })
    expect(events.map { |e| e[:exception] }.uniq).to eq([["ArgumentError", "cannot take bad yet"]])
    expect(log.string).to match(%r{WARN .*\(group #{group}\) failed on #{topic}/0 offset 1: ArgumentError: cannot take bad yet; retrying in 0\.1 s \(attempt 1\)})
    expect(committed).to eq(topic => { 0 => 3, 1 => 3 })
  ensure
    producer_client&.close
  end

  it "max_attempts with exhausted: :skip retries up to the limit, then skips the message and commits past it" do
    topic = new_topic(kafka)
    produce_by_partition(kafka, topic, 0 => %w[a0 bad a2])
    events = error_events
    seen = []
    klass = consumer_class(topic) do
      on_error :retry_with_backoff, backoff: 0.1, max_backoff: 0.1, max_attempts: 3, exhausted: :skip
      define_method(:process) do |m|
        seen << m.value
        raise "never takes #{m.value}" if m.value == "bad"
      end
    end
    run_until(klass.new, "a2 processed") { seen.dup.include?("a2") }
    expect(seen.dup).to eq(%w[a0 bad bad bad a2])
    expect(events.map { |e| [e[:offset], e[:action], e[:attempt]] }).to eq([[1, :retry, 1], [1, :retry, 2], [1, :skip, 3]])
    expect(log.string).to include("offset 1: RuntimeError: never takes bad; skipped: committed past it (attempt 3)")
    expect(committed).to eq(topic => { 0 => 3 })
  end

  it "skip: counts the failed message as processed, with an event and an error line" do
    topic = new_topic(kafka)
    produce_by_partition(kafka, topic, 0 => %w[a0 bad a2])
    events = error_events
    seen = []
    klass = consumer_class(topic) do
      on_error :skip
      define_method(:process) do |m|
        seen << m.value
        raise "cannot take #{m.value}" if m.value == "bad"
      end
    end
    run_until(klass.new, "3 messages") { seen.size >= 3 }
    expect(seen.dup).to eq(%w[a0 bad a2])
    expect(events.size).to eq(1)
    expect(events.first).to include(group_id: group, topic: topic, partition: 0, offset: 1, action: :skip, attempt: 1,
                                    exception: ["RuntimeError", "cannot take bad"])
    expect(events.first[:exception_object]).to be_a(RuntimeError)
    expect(log.string).to match(%r{ERROR .*failed on #{topic}/0 offset 1: RuntimeError: cannot take bad; skipped: committed past it \(attempt 1\)})
    expect(committed).to eq(topic => { 0 => 3 })
  end

  it "stop: run raises ProcessingError with the cause, and the commits stop right before the failed message" do
    topic = new_topic(kafka)
    produce_by_partition(kafka, topic, 0 => %w[ok1 ok2 bad ok3])
    events = error_events
    seen = []
    klass = consumer_class(topic) do
      on_error :stop
      define_method(:process) do |m|
        seen << m.value
        raise IOError, "cannot take #{m.value}" if m.value == "bad"
      end
    end
    expect { run_until(klass.new, "the run to end") { false } }.to raise_error(KafkaRs::ProcessingError) { |error|
      expect([error.topic, error.partition, error.offset]).to eq([topic, 0, 2])
      expect(error.cause).to be_a(IOError).and(have_attributes(message: "cannot take bad"))
    }
    expect(seen.dup).to eq(%w[ok1 ok2 bad])
    expect(events.map { |e| [e[:offset], e[:action], e[:attempt]] }).to eq([[2, :stop, 1]])
    expect(log.string).to include("offset 2: IOError: cannot take bad; stopping (attempt 1)")
    expect(committed).to eq(topic => { 0 => 2 })
  end

  it "retry_with_backoff exhausted by default with :stop raises after max_attempts, committing nothing past it" do
    topic = new_topic(kafka)
    produce_by_partition(kafka, topic, 0 => %w[ok bad])
    seen = []
    klass = consumer_class(topic) do
      on_error :retry_with_backoff, backoff: 0.1, max_backoff: 0.1, max_attempts: 2
      define_method(:process) do |m|
        seen << m.value
        raise "no" if m.value == "bad"
      end
    end
    expect { run_until(klass.new, "the run to end") { false } }
      .to raise_error(KafkaRs::ProcessingError) { |e| expect(e.offset).to eq(1) }
    expect(seen.dup).to eq(%w[ok bad bad])
    expect(committed).to eq(topic => { 0 => 1 })
  end
end
