# frozen_string_literal: true

# One consumer-group member as a process of its own, for the multi-process consumer specs
# (spec/integration/consumer_process_support.rb starts it as `ruby -I lib consumer_child.rb JSON`).
#
# It joins `group` on `topic` with the given consumer options and writes, each line flushed at
# once (so a SIGKILL loses nothing it did):
# - to `processed`: "<partition> <offset> <CLOCK_MONOTONIC seconds> <value>" for every message,
#   after its processing;
# - to `events`: one JSON object a line:
#   {"event":"assigned"|"revoked","partitions":[...],"assignment":[...],"t":...} from the
#   rebalance callbacks ("assignment": what the member owns afterwards),
#   {"event":"committed","offsets":{"<partition>":next_offset},"t":...} after each commit that
#   succeeded (the next offset of every partition processed so far: every message processed
#   before a commit is marked, so the broker holds at least these),
#   {"event":"stopped"} when each_message returned, {"event":"error",...} when it raised.
# Its log (the client's logger, INFO) goes to stderr. TERM stops it cleanly (consumer.stop:
# commit and leave); KILL is a crash.
require "json"
require "logger"
require "kafka_rs"

settings = JSON.parse(ARGV.fetch(0))
processed = File.open(settings.fetch("processed"), "a")
events = File.open(settings.fetch("events"), "a")
[processed, events].each { |f| f.sync = true }
clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
event = ->(h) { events.write("#{JSON.generate(h.merge(t: clock.call))}\n") }

$stderr.sync = true
logger = Logger.new($stderr, level: :info)
logger.progname = settings.fetch("name")
kafka = KafkaRs.new(settings.fetch("brokers"), client_id: "consumer-child-#{settings.fetch('name')}", logger: logger)
options = settings.fetch("consumer").transform_keys(&:to_sym)
consumer = kafka.consumer(group_id: settings.fetch("group"), **options)
consumer.subscribe(settings.fetch("topic"), start_from_beginning: true)
# Next offset per partition (owned now) of what this process processed; logged after each commit
# that returned (the offsets taken before the commit: those messages were marked by then).
last = {}
consumer.on_partitions_assigned do |tps|
  event.call(event: "assigned", partitions: tps.values.flatten, assignment: consumer.assignment.values.flatten)
end
consumer.on_partitions_revoked do |tps|
  tps.each_value { |ps| ps.each { |p| last.delete(p) } }
  event.call(event: "revoked", partitions: tps.values.flatten, assignment: consumer.assignment.values.flatten)
end

consumer.singleton_class.prepend(Module.new do
  define_method(:commit_offsets) do
    snapshot = last.dup
    super()
    event.call(event: "committed", offsets: snapshot) unless snapshot.empty?
  end
end)

delay = settings.fetch("delay", 0).to_f
trap("TERM") { consumer.stop }
begin
  consumer.each_message(max_wait_time: 0.5) do |m|
    sleep delay if delay.positive?
    processed.write("#{m.partition} #{m.offset} #{clock.call.round(4)} #{m.value}\n")
    last[m.partition] = m.offset + 1
  end
  event.call(event: "stopped")
rescue StandardError => e
  event.call(event: "error", error: "#{e.class}: #{e.message}", cause: e.cause && "#{e.cause.class}: #{e.cause.message}")
  logger.error("#{e.class}: #{e.message}\n#{e.backtrace.first(10).join("\n")}")
  exit 1
ensure
  kafka.close
end
