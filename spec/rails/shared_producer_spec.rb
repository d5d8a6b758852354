# frozen_string_literal: true

require_relative "support"

# KafkaRs.producer / produce / produce_async and KafkaRs.pool / with_client / with_producer:
# shared by threads, rebuilt in forked children, flushed at exit, read back from the broker.
RSpec.describe "the shared producer and the pool", :integration do
  include IntegrationHelpers
  include ProcessHelpers
  include RailsLayerHelpers

  let(:kafka) { IntegrationHelpers.client }
  let!(:topic) { new_topic(kafka, partitions: 4) }
  after { drop_topics(kafka); kafka.close }

  threads = 32
  per_thread = 200

  # `threads` threads released together, each running the block with its index.
  def in_threads(count)
    gate = Queue.new
    workers = Array.new(count) do |t|
      Thread.new do
        gate.pop
        yield t
      end
    end
    count.times { gate << true }
    workers.each(&:join)
  end

  def expected_values(threads, per_thread)
    (0...threads).flat_map { |t| Array.new(per_thread) { |i| "t#{t}-#{i}" } }.tally
  end

  it "is built once, lazily, and shared by #{threads} threads: every message delivered once, in order per key" do
    configure_kafka_rs(producer: { delivery_interval: 0.005, max_queue_size: threads * per_thread })
    producers = Queue.new
    handles = Queue.new
    in_threads(threads) do |t|
      producers << KafkaRs.producer
      per_thread.times do |i|
        if i.even?
          KafkaRs.produce("t#{t}-#{i}", topic: topic, key: "thread-#{t}")
        else
          handles << KafkaRs.produce_async("t#{t}-#{i}", topic: topic, key: "thread-#{t}")
        end
      end
    end
    expect(Array.new(producers.size) { producers.pop }.uniq.size).to eq(1)
    expect(KafkaRs.producer.flush(timeout: 30)).to be(true)
    reports = Array.new(handles.size) { handles.pop.wait(timeout: 10) }
    expect(reports.size).to eq(threads * per_thread / 2)

    messages = read_messages(kafka, topic)
    expect(messages.map(&:value).tally).to eq(expected_values(threads, per_thread))
    messages.group_by(&:key).each do |key, ms|
      expect(ms.map(&:partition).uniq.size).to eq(1), "#{key} spread over partitions"
      expect(ms.sort_by(&:offset).map { |m| Integer(m.value[/-(\d+)\z/, 1]) }).to eq((0...per_thread).to_a)
    end
  end

  it "hands each of #{threads} threads a pool entry no other thread holds; every message delivered once" do
    configure_kafka_rs(pool_size: 4, pool_timeout: 30)
    holders = {}
    overlaps = Queue.new
    lock = Mutex.new
    in_threads(threads) do |t|
      per_thread.times.each_slice(50) do |slice|
        KafkaRs.with_producer do |producer|
          lock.synchronize do
            overlaps << producer if holders[producer]
            holders[producer] = t
          end
          slice.each { |i| producer.produce("t#{t}-#{i}", topic: topic, key: "thread-#{t}") }
          lock.synchronize { holders.delete(producer) }
        end
      end
      KafkaRs.with_client { |client| expect(client).to be_a(KafkaRs::Client) }
    end
    expect(overlaps.size).to eq(0)
    expect(KafkaRs.pool.size).to eq(4)
    # Four threads holding an entry each hold four different entries, with four clients.
    entries = Queue.new
    done = Queue.new
    holders = Array.new(4) { Thread.new { KafkaRs.pool.with { |e| entries << e; done.pop } } }
    got = Array.new(4) { entries.pop }
    4.times { done << true }
    holders.each(&:join)
    expect(got.uniq.size).to eq(4)
    expect(got.map(&:client).uniq.size).to eq(4)

    messages = read_messages(kafka, topic)
    expect(messages.map(&:value).tally).to eq(expected_values(threads, per_thread))
    messages.group_by(&:key).each_value do |ms|
      expect(ms.sort_by(&:offset).map { |m| Integer(m.value[/-(\d+)\z/, 1]) }).to eq((0...per_thread).to_a)
    end
  end

  it "raises PoolTimeout when every entry stays checked out, and only for its own checkout" do
    configure_kafka_rs(pool_size: 1, pool_timeout: 0.2)
    held = Queue.new
    release = Queue.new
    holder = Thread.new { KafkaRs.with_client { |_| held << true; release.pop } }
    held.pop
    expect { KafkaRs.with_producer { |_| nil } }.to raise_error(
      KafkaRs::PoolTimeout,
      "no KafkaRs.pool entry became free within 0.2 s: all 1 are checked out (raise the pool_size setting, or hold " \
      "entries for less time)"
    )
    expect { KafkaRs.with_client(timeout: 0.05) { |_| nil } }.to raise_error(KafkaRs::PoolTimeout, /within 0.05 s/)
    release << true
    holder.join
    # A ConnectionPool::TimeoutError from another pool inside the block is not ours to rename.
    other = ConnectionPool.new(size: 1, timeout: 0.01) { Object.new }
    Thread.new { other.checkout }.join
    expect { KafkaRs.with_client { |_| other.with { nil } } }.to raise_error(ConnectionPool::TimeoutError)
  end

  it "delivers what a with_producer block produced when it returns, and drops it with the exception when it raises" do
    configure_kafka_rs(pool_size: 1)
    expect(KafkaRs.with_producer { |p| p.produce("kept", topic: topic, partition: 0); :result }).to eq(:result)
    expect do
      KafkaRs.with_producer do |p|
        p.produce("dropped", topic: topic, partition: 0)
        raise "the block failed"
      end
    end.to raise_error(RuntimeError, "the block failed")
    KafkaRs.with_producer { |p| expect(p.buffer_size).to eq(0) }
    expect(read_messages(kafka, topic).map(&:value)).to eq(%w[kept])
  end

  it "is built anew in a forked child; what the parent queued is sent by the parent alone" do
    configure_kafka_rs(pool_size: 2, producer: { linger_ms: nil })
    parent_producer = KafkaRs.producer
    parent_client = KafkaRs.client
    parent_entry = KafkaRs.with_client(&:itself)
    KafkaRs.produce_async("parent-before", topic: topic, partition: 0).wait(timeout: 10)
    # No delivery trigger is set: this one is still queued in the parent at the fork.
    KafkaRs.produce("parent-queued", topic: topic, partition: 0)
    expect(KafkaRs.producer.queue_size).to eq(1)

    reader, writer = IO.pipe
    pid = fork do
      reader.close
      report = {
        same_producer: KafkaRs.producer.equal?(parent_producer),
        same_client: KafkaRs.client.equal?(parent_client),
        same_pool_client: KafkaRs.with_client(&:itself).equal?(parent_entry),
        queued: KafkaRs.producer.queue_size,
        offset: KafkaRs.produce_async("child", topic: topic, partition: 1).wait(timeout: 10).offset
      }
      KafkaRs.with_producer { |p| p.produce("child-pooled", topic: topic, partition: 1) }
      KafkaRs.produce("child-at-exit", topic: topic, partition: 1) # delivered by the at_exit flush
      writer.write(Marshal.dump(report))
      writer.close
    end
    writer.close
    report = Marshal.load(reader.read) # rubocop:disable Security/MarshalLoad
    expect(wait_child(pid, timeout: 60)&.exitstatus).to eq(0)
    expect(report).to eq(same_producer: false, same_client: false, same_pool_client: false, queued: 0, offset: 0)

    expect(KafkaRs.producer).to equal(parent_producer)
    expect(KafkaRs.producer.queue_size).to eq(1)
    expect(KafkaRs.producer.flush(timeout: 10)).to be(true)
    values = read_messages(kafka, topic).group_by(&:partition).transform_values { |ms| ms.map(&:value) }
    expect(values).to eq(0 => %w[parent-before parent-queued], 1 => %w[child child-pooled child-at-exit])
  ensure
    reader&.close
  end

  it "sends on its own, with no flush (the shared producer lingers 5 ms by default)" do
    configure_kafka_rs
    KafkaRs.produce("lingered", topic: topic, partition: 0)
    values = []
    # Only a hang guard: the message is expected within milliseconds.
    Timeout.timeout(10) { values = fetch_all(kafka, topic, 0).map(&:value) while values.empty? }
    expect(values).to eq(["lingered"])
    expect(KafkaRs.producer.queue_size).to eq(0)
  end

  it "delivers at exit what the shared producer still holds, within its shutdown_timeout" do
    code = <<~RUBY
      require "kafka_rs"
      KafkaRs.configure do |c|
        c.seed_brokers = "#{IntegrationHelpers::BROKER}"
        c.producer = { shutdown_timeout: 10, linger_ms: nil }
      end
      100.times { |i| KafkaRs.produce("exit-\#{i}", topic: ARGV[0]) }
      puts KafkaRs.producer.queue_size
    RUBY
    status, out, err = run_ruby(code, topic, timeout: 60)
    expect(status&.success?).to be(true), err
    expect(out).to eq("100\n")
    expect(read_messages(kafka, topic).map(&:value).sort).to eq(Array.new(100) { |i| "exit-#{i}" }.sort)
  end
end
