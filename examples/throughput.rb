# frozen_string_literal: true

# The quick throughput check (bin/demo --throughput): produces DEMO_N (100,000) keyed messages to
# a 4-partition topic, reads them all back per partition, prints counts and throughput, deletes
# the topic. Exits 1 if the number of messages read differs from the number produced.
#
#   ruby -I lib examples/throughput.rb 127.0.0.1:9092
require "kafka_rs"
require "securerandom"

brokers = ARGV.fetch(0, "127.0.0.1:9092").split(",")
n = Integer(ENV.fetch("DEMO_N", "100000"))
partitions = 4
batch = 1000
now = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }

kafka = KafkaRs.new(brokers, client_id: "kafka_rs-demo")
topic = "demo-#{Time.now.strftime('%Y%m%d%H%M%S')}-#{SecureRandom.hex(3)}"
kafka.create_topic(topic, num_partitions: partitions, replication_factor: 1)
puts "demo: topic #{topic} (#{partitions} partitions)"
ok = false
begin
  producer = kafka.producer(required_acks: :all, max_buffer_size: batch)
  bytes = 0
  t = now.()
  n.times do |i|
    value = format('{"id":%07d,"user":"user-%d","event":"page_view","path":"/items/%05d","ts":%d}', i, i % 1000, i % 50_000, 1_700_000_000_000 + i)
    value = value.ljust(100, " ")
    bytes += value.bytesize
    producer.produce(value, topic: topic, key: "user-#{i % 1000}")
    producer.deliver_messages if producer.buffer_size >= batch
  end
  producer.deliver_messages
  produce_secs = now.() - t
  printf("produced %d messages (%.1f MB) in %.2f s: %.0f msg/s, %.1f MB/s\n",
         n, bytes / 1e6, produce_secs, n / produce_secs, bytes / 1e6 / produce_secs)

  last = kafka.last_offsets_for(topic).fetch(topic)
  counts = Hash.new(0)
  read_bytes = 0
  t = now.()
  partitions.times do |p|
    offset = 0
    while offset <= last.fetch(p)
      messages = kafka.fetch_messages(topic: topic, partition: p, offset: offset, max_bytes: 1_048_576, max_wait_time: 1)
      messages.each do |m|
        counts[p] += 1
        read_bytes += m.value.bytesize
      end
      offset = messages.last.offset + 1 unless messages.empty?
    end
  end
  read_secs = now.() - t
  total = counts.values.sum
  partitions.times { |p| printf("  partition %d: %6d messages (last offset %d)\n", p, counts[p], last.fetch(p)) }
  printf("read %d messages (%.1f MB) in %.2f s: %.0f msg/s, %.1f MB/s\n",
         total, read_bytes / 1e6, read_secs, total / read_secs, read_bytes / 1e6 / read_secs)
  ok = total == n && (last.values.sum + partitions) == n
  puts(ok ? "OK: read #{total} = produced #{n}" : "FAILED: read #{total}, produced #{n}, offsets #{last.inspect}")
ensure
  kafka.delete_topic(topic)
  puts "demo: deleted #{topic}"
  kafka.close
end
exit(ok ? 0 : 1)
