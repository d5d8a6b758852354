# frozen_string_literal: true

require "open3"
require "securerandom"

# One failover run against the three-broker cluster of `bin/kafka cluster-start`, shared by
# spec/integration/failover_spec.rb (small, in CI) and spec/stress/failover (large):
#
# 1. creates a topic with replication factor 3 and min.insync.replicas=2;
# 2. produces `messages` distinct messages with an async producer (acks all; idempotent unless
#    `idempotent: false`), keyed round-robin over `keys` keys, at `rate`
#    messages a second (nil: as fast as the queue takes them). Message `id` (0...messages) has
#    key "k<id % keys>" and per-key sequence `id / keys`; its value is "<id> <key> <seq>",
#    padded with "." to `value_bytes`;
# 3. once `kill_at` of the messages are queued, SIGKILLs the broker that leads partition 0
#    (`bin/kafka cluster-node-kill`), waits `down_time` seconds and starts it again
#    (`bin/kafka cluster-node-start`, which returns once the cluster lists it), while the
#    producer goes on;
# 4. flushes, reads every partition back from offset 0 to its high watermark and counts:
#    - lost: not read back and not reported failed;
#    - duplicated: read copies beyond the first;
#    - out of order: first copies whose per-key sequence is not above the key's previous one
#      in that partition;
#    - reported failed: handles that settled with an error (not counted as lost; listed);
#    - misreported: delivered handles whose partition/offset does not hold that message;
#    - corrupt: records whose key or value do not match the scheme above.
#
# The counts, samples of each problem and the timings come back as a {Result}.
class FailoverRun
  ROOT = File.expand_path("../..", __dir__)
  KAFKA_BIN = File.join(ROOT, "bin", "kafka")
  DEFAULT_PORTS = "9192 9193 9194" # bin/kafka's default KAFKA_CLUSTER_PORTS
  SAMPLES = 10

  Result = Struct.new(
    :topic, :messages, :partitions, :idempotent, :killed_node, :leaders_before, :leaders_after,
    :delivered, :reported_failed, :pending, :read, :lost, :duplicated, :out_of_order, :misreported,
    :corrupt, :per_partition, :samples, :times,
    keyword_init: true
  ) do
    def exactly_once_in_order?
      [reported_failed, pending, lost, duplicated, out_of_order, misreported, corrupt].all?(&:zero?) &&
        delivered == messages && read == messages
    end

    def summary
      lines = []
      lines << "topic #{topic}: #{messages} messages over #{partitions} partitions, " \
               "idempotent producer: #{idempotent}"
      lines << "killed node #{killed_node} (leader of partition 0) with SIGKILL; " \
               "leaders before #{leaders_before.inspect}, after #{leaders_after.inspect}"
      lines << "delivered #{delivered}, reported failed #{reported_failed}, still pending #{pending}"
      lines << "read back #{read}: lost #{lost}, duplicated #{duplicated}, out of order #{out_of_order}, " \
               "misreported #{misreported}, corrupt #{corrupt}"
      lines << "per partition (records read): #{per_partition.inspect}"
      samples.each do |kind, list|
        next if list.empty?

        lines << "#{kind} (first #{list.size}):"
        list.each { |s| lines << "  #{s}" }
      end
      lines << format("times: %s", times.map { |k, v| format("%s %.1fs", k, v) }.join(", "))
      lines.join("\n")
    end
  end

  def self.ports
    ENV.fetch("KAFKA_CLUSTER_PORTS", DEFAULT_PORTS).split(/[\s,]+/)
  end

  def self.brokers
    ports.map { |p| "127.0.0.1:#{p}" }
  end

  # Runs `bin/kafka args` (cluster-node-kill, cluster-node-start, ...); returns its output,
  # raises with it when it fails.
  def self.bin_kafka(*args)
    out, status = Open3.capture2e(KAFKA_BIN, *args)
    raise "bin/kafka #{args.join(' ')} failed:\n#{out}" unless status.success?

    out
  end

  def initialize(messages:, partitions: 6, keys: 60, rate: nil, kill_at: 0.3, down_time: 3.0, value_bytes: 100,
                 chunk: 500, max_queue_size: 20_000, idempotent: true, logger: nil, progress: nil)
    @messages = messages
    @partitions = partitions
    @keys = keys
    @rate = rate
    @kill_at = kill_at
    @down_time = down_time
    @value_bytes = value_bytes
    @chunk = chunk
    @max_queue_size = max_queue_size
    @idempotent = idempotent
    @logger = logger
    @progress = progress # an IO for progress lines, or nil
    @times = {}
    @samples = Hash.new { |h, k| h[k] = [] }
  end

  def call
    t0 = now
    @client = KafkaRs.new(self.class.brokers, client_id: "kafka_rs-failover", logger: @logger)
    @topic = "failover-#{SecureRandom.hex(4)}"
    @client.create_topic(@topic, num_partitions: @partitions, replication_factor: 3,
                                 config: { "min.insync.replicas" => "2" })
    min_isr = @client.describe_topic(@topic, ["min.insync.replicas"])["min.insync.replicas"]
    raise "topic #{@topic} has min.insync.replicas=#{min_isr.inspect}, not 2" unless min_isr == "2"

    leaders_before = leaders
    victim = leaders_before.fetch(0)
    note "topic #{@topic}: leaders #{leaders_before.inspect}; will kill node #{victim}"

    producer = new_producer
    @producer = producer
    handles = produce(producer, victim)
    flushed = producer.flush(timeout: 180)
    @times[:flush] = now - @produced_at
    producer.shutdown(timeout: 5)
    note "flushed (complete: #{flushed}) #{@times[:flush].round(1)}s after the last message was queued"

    delivered_at, failed, pending = settle(handles)
    handles = nil # the handles can go before reading back
    leaders_after = leaders
    counts = read_back(delivered_at, failed)
    @times[:total] = now - t0
    Result.new(topic: @topic, messages: @messages, partitions: @partitions, idempotent: @idempotent,
               killed_node: victim, leaders_before: leaders_before, leaders_after: leaders_after,
               delivered: delivered_at.size, reported_failed: failed.size, pending: pending, **counts,
               samples: @samples.to_h, times: @times)
  ensure
    @control&.kill
    restart_victim
    @producer&.shutdown(timeout: 1) rescue nil # rubocop:disable Style/RescueModifier
    if @client
      @client.delete_topic(@topic) rescue nil # rubocop:disable Style/RescueModifier
      @client.close
    end
  end

  private

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  def note(line)
    @progress&.puts("failover: #{line}")
    @progress&.flush
  end

  # The async producer: acks all, idempotent (its default with acks all, asked for explicitly).
  def new_producer
    @client.async_producer(required_acks: :all, idempotent: @idempotent, delivery_interval: 0.005,
                           max_queue_size: @max_queue_size, max_buffer_bytesize: 256 * 1024 * 1024)
  end

  # Partition => leader node id, from Kafka's own kafka-topics tool (the gem has no public
  # metadata call that names leaders). Node ids are bin/kafka's node numbers.
  def leaders
    out, status = Open3.capture2e(KAFKA_BIN, "topics", "--bootstrap-server", self.class.brokers.join(","),
                                  "--describe", "--topic", @topic)
    raise "bin/kafka topics --describe failed:\n#{out}" unless status.success?

    out.scan(/Partition:\s*(\d+)\s+Leader:\s*(-?\d+)/).to_h { |p, l| [Integer(p), Integer(l)] }
  end

  def bin_kafka(*args)
    note FailoverRun.bin_kafka(*args).strip
  end

  # Kills `victim` once the producer signals, then restarts it after `down_time`.
  def start_control(victim, signal)
    @control = Thread.new do
      signal.pop
      t = now
      @down_node = victim
      bin_kafka("cluster-node-kill", victim.to_s)
      @times[:killed_at] = now - @produce_start
      sleep @down_time
      t_start = now
      bin_kafka("cluster-node-start", victim.to_s)
      @down_node = nil
      @times[:down] = now - t
      @times[:restart] = now - t_start
    end
    @control.report_on_exception = false
  end

  # After a failure between kill and restart: starts the node again, so the cluster is whole
  # for whatever runs next.
  def restart_victim
    return unless @down_node

    out, status = Open3.capture2e(KAFKA_BIN, "cluster-node-start", @down_node.to_s)
    warn "failover: restarting node #{@down_node} after a failure failed:\n#{out}" unless status.success?
  end

  def value_for(id)
    key = "k#{id % @keys}"
    v = "#{id} #{key} #{id / @keys} "
    v << ("." * (@value_bytes - v.bytesize)) if v.bytesize < @value_bytes
    [key, v]
  end

  # Queues every message in chunks (waiting while the queue is full) and returns the handles.
  def produce(producer, victim)
    signal = Queue.new
    start_control(victim, signal)
    handles = []
    kill_after = (@messages * @kill_at).to_i
    @produce_start = now
    overflows = 0
    id = 0
    while id < @messages
      n = [@chunk, @messages - id].min
      batch = Array.new(n) do |i|
        key, value = value_for(id + i)
        { value: value, topic: @topic, key: key }
      end
      begin
        handles.concat(producer.produce_many(batch))
      rescue KafkaRs::BufferOverflow
        overflows += 1
        check_control
        sleep 0.005
        retry
      end
      signal << :kill if id < kill_after && id + n >= kill_after
      id += n
      pace(id)
      check_control
    end
    @produced_at = now
    @times[:produce] = @produced_at - @produce_start
    note "queued #{@messages} messages in #{@times[:produce].round(1)}s (queue full #{overflows} times); " \
         "waiting for the restart"
    @control.join
    handles
  end

  def pace(sent)
    return unless @rate

    ahead = (sent.to_f / @rate) - (now - @produce_start)
    sleep ahead if ahead.positive?
  end

  # Raises the control thread's error (kill or restart failed) as soon as it has one.
  def check_control
    @control.join if @control.status.nil?
  end

  # Splits the handles: id => [partition, offset] for delivered ones, failed [id, error] pairs,
  # and the number still pending.
  def settle(handles)
    delivered_at = {}
    failed = []
    pending = 0
    handles.each_with_index do |h, id|
      if (r = h.report)
        delivered_at[id] = [r.partition, r.offset]
      elsif (e = h.error)
        failed << [id, e]
      else
        pending += 1
      end
    end
    failed.each { |id, e| @samples[:reported_failed] << "id #{id}: #{e.class}: #{e.message}" }
    @samples[:reported_failed] = @samples[:reported_failed].first(SAMPLES) if failed.size > SAMPLES
    [delivered_at, failed.to_h, pending]
  end

  def read_back(delivered_at, failed)
    t = now
    seen = Array.new(@messages, 0)
    at_offset = Array.new(@partitions) { [] } # partition => offset => id
    key_partition = {}
    last_seq = {}
    counts = { read: 0, duplicated: 0, out_of_order: 0, corrupt: 0, per_partition: {} }
    @partitions.times do |p|
      each_record(p) do |m|
        counts[:read] += 1
        id, key, seq = parse(m)
        if id.nil?
          counts[:corrupt] += 1
          sample(:corrupt, "partition #{p} offset #{m.offset}: key #{m.key.inspect} value #{m.value[0, 40].inspect}")
          next
        end
        at_offset[p][m.offset] = id
        seen[id] += 1
        if seen[id] > 1
          counts[:duplicated] += 1
          sample(:duplicated, "id #{id} (#{key} seq #{seq}) again at partition #{p} offset #{m.offset}")
          next
        end
        if (kp = key_partition[key]) && kp != p
          counts[:out_of_order] += 1
          sample(:out_of_order, "key #{key} in partitions #{kp} and #{p}")
        elsif (prev = last_seq[key]) && seq <= prev
          counts[:out_of_order] += 1
          sample(:out_of_order, "#{key} seq #{seq} after seq #{prev} at partition #{p} offset #{m.offset}")
        end
        key_partition[key] = p
        last_seq[key] = seq if last_seq[key].nil? || seq > last_seq[key]
      end
      counts[:per_partition][p] = at_offset[p].count { |x| x }
    end
    counts[:lost] = 0
    seen.each_with_index do |c, id|
      next unless c.zero? && !failed.key?(id)

      counts[:lost] += 1
      sample(:lost, "id #{id} (#{value_for(id)[1].split.first(3).join(' ')}), " \
                    "reported at #{delivered_at[id]&.join('/') || 'nothing'}")
    end
    counts[:misreported] = 0
    delivered_at.each do |id, (p, offset)|
      next if at_offset[p] && at_offset[p][offset] == id

      counts[:misreported] += 1
      sample(:misreported, "id #{id} reported at partition #{p} offset #{offset}, which holds " \
                           "#{at_offset.dig(p, offset).inspect}")
    end
    failed.each_key do |id|
      sample(:reported_failed_but_written, "id #{id} read back #{seen[id]} time(s)") if seen[id].positive?
    end
    @times[:read_back] = now - t
    counts
  end

  def sample(kind, line)
    list = @samples[kind]
    list << line if list.size < SAMPLES
  end

  # [id, key, seq] from a record, or nil when it does not follow the scheme.
  def parse(m)
    id_s, key, seq_s = m.value.split(" ", 4)
    id = Integer(id_s, exception: false)
    seq = Integer(seq_s, exception: false)
    return nil unless id && seq && id >= 0 && id < @messages
    return nil unless key == m.key && key == "k#{id % @keys}" && seq == id / @keys

    [id, key, seq]
  end

  # Yields every record of partition `p` from offset 0 up to the high watermark at the start.
  def each_record(p)
    high = @client.last_offset_for(@topic, p) + 1
    offset = 0
    deadline = now + 60
    while offset < high
      batch = @client.fetch_messages(topic: @topic, partition: p, offset: offset, max_wait_time: 0.5,
                                     max_bytes: 4 * 1024 * 1024)
      if batch.empty?
        raise "partition #{p}: nothing at offset #{offset} below the high watermark #{high} for 60 s" if now > deadline

        next
      end
      batch.each { |m| yield m }
      offset = batch.last.offset + 1
      deadline = now + 60
    end
  end
end
