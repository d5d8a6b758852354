# frozen_string_literal: true

require_relative "support"
require_relative "../rails/support"
require "kafka_rs/active_job"

# Jobs written to ActiveJob's API, enqueued through the :kafka_rs adapter (Debian's
# ruby-activejob), read back from the broker and run with KafkaRs::Jobs.perform, the call a job
# worker makes for each message.
module ActiveJobSpec
  class Failure < StandardError; end
  class Gone < StandardError; end

  # What the jobs did, in order.
  def self.performed
    @performed ||= []
  end

  class ApplicationJob < ActiveJob::Base
    self.queue_adapter = :kafka_rs
    self.logger = Logger.new(IO::NULL)

    def record(*what)
      ActiveJobSpec.performed << [self.class.name.demodulize, *what]
    end
  end

  class RecordJob < ApplicationJob
    def perform(*args)
      record(args, executions, provider_job_id)
    end
  end

  class UserJob < ApplicationJob
    kafka_key :user_id

    def perform(user_id:, note:)
      record(user_id, note)
    end
  end

  class AdminJob < UserJob; end

  class AccountJob < ApplicationJob
    kafka_key 0

    def perform(account, amount)
      record(account, amount)
    end
  end

  class OrderJob < ApplicationJob
    kafka_key { |order| "user-#{order['user']}" }

    def perform(order)
      record(order)
    end
  end

  # Fails on its first execution, succeeds on its second.
  class FlakyJob < ApplicationJob
    kafka_key 0
    retry_on Failure, wait: 30, attempts: 3, jitter: 0

    def perform(account)
      raise Failure, "execution #{executions}" if executions < 2

      record(account, executions)
    end
  end

  class DoomedJob < ApplicationJob
    retry_on Failure, wait: 30, attempts: 2, jitter: 0

    def perform
      raise Failure, "execution #{executions}"
    end
  end

  class DiscardedJob < ApplicationJob
    discard_on(Gone) { |job, error| job.record(:discarded, error.message) }

    def perform
      raise Gone, "record deleted"
    end
  end

  # Enqueues a RecordJob on its own queue.
  class ChainJob < ApplicationJob
    def perform(value)
      RecordJob.set(queue: queue_name).perform_later(value)
    end
  end
end

RSpec.describe "ActiveJob on kafka_rs", :integration do
  include IntegrationHelpers
  include ProcessHelpers
  include RailsLayerHelpers

  let(:kafka) { IntegrationHelpers.client }
  let(:created) { [] }

  before { ActiveJobSpec.performed.clear }
  after do
    KafkaRs.reset! # first: a producer delivering at shutdown would create a deleted topic again
    created.each { |t| kafka.delete_topic(t) rescue nil } # rubocop:disable Style/RescueModifier
    kafka.close
  end

  # A fresh queue whose topic exists with `partitions` partitions.
  def new_queue(partitions: 1, topic_prefix: "")
    queue = "spec-#{SecureRandom.hex(4)}"
    topic = "#{topic_prefix}#{KafkaRs::Jobs.topic(queue)}"
    kafka.create_topic(topic, num_partitions: partitions)
    created << topic
    queue
  end

  # The messages of a queue's topic, oldest first per partition, once everything queued is sent.
  def messages_of(queue, topic_prefix: "")
    expect(KafkaRs.producer.flush(timeout: 30)).to be(true)
    read_messages(kafka, "#{topic_prefix}#{KafkaRs::Jobs.topic(queue)}")
  end

  # The shared producer holds messages for 30 s unless something flushes it: a message in
  # Kafka got there because someone asked for it.
  def configure_lingering
    configure_kafka_rs(producer: { delivery_interval: 30 })
  end

  def message(value, headers: {}, topic: "jobs.default", offset: 0)
    KafkaRs::FetchedMessage.new(value, nil, headers, topic, 0, offset, 0)
  end

  it "is found by name: queue_adapter = :kafka_rs" do
    expect(ActiveJobSpec::ApplicationJob.queue_adapter).to be_a(ActiveJob::QueueAdapters::KafkaRsAdapter)
    expect(ActiveJobSpec::RecordJob.queue_adapter_name).to eq("kafka_rs")
    expect(ActiveJob::QueueAdapters.lookup(:kafka_rs)).to be(ActiveJob::QueueAdapters::KafkaRsAdapter)
  end

  it "is found by name in a Rails app (the Railtie), where jobs have kafka_key" do
    code = <<~RUBY
      require "rails"
      require "active_job/railtie"
      require "kafka_rs"
      require "tmpdir"
      class App < Rails::Application
        config.root = Dir.mktmpdir
        config.eager_load = false
        config.logger = Logger.new(nil)
        config.active_job.queue_adapter = :kafka_rs
      end
      App.initialize!
      class KeyedJob < ActiveJob::Base
        kafka_key :user_id
      end
      puts ActiveJob::Base.queue_adapter.class.name
      puts KeyedJob.kafka_key_for(KeyedJob.new(user_id: 7))
    RUBY
    status, out, err = run_ruby(code, timeout: 60)
    expect(status&.success?).to be(true), err
    expect(out.lines(chomp: true)).to eq(["ActiveJob::QueueAdapters::KafkaRsAdapter", "7"])
  end

  describe "perform_later" do
    it "returns the job without waiting on the network: the message is queued while no broker answers" do
      configure_kafka_rs(seed_brokers: "127.0.0.1:1", logger: Logger.new(IO::NULL),
                         producer: { shutdown_timeout: 1 })
      job = ActiveJobSpec::RecordJob.perform_later("x")
      expect(job).to be_a(ActiveJobSpec::RecordJob)
      expect(KafkaRs.producer.queue_size).to eq(1)
    end

    it "raises KafkaRs::BufferOverflow when the shared producer's queue is full (nothing queued)" do
      configure_kafka_rs(seed_brokers: "127.0.0.1:1", logger: Logger.new(IO::NULL),
                         producer: { shutdown_timeout: 1, max_queue_size: 1 })
      ActiveJobSpec::RecordJob.perform_later("fits")
      expect { ActiveJobSpec::RecordJob.perform_later("overflows") }.to raise_error(KafkaRs::BufferOverflow)
      expect(KafkaRs.producer.queue_size).to eq(1)
    end

    it "returns before delivery: the job reaches Kafka when the shared producer sends" do
      configure_lingering
      queue = new_queue
      job = ActiveJobSpec::RecordJob.set(queue: queue).perform_later("a")
      expect(job.job_id).to be_a(String)
      expect(read_messages(kafka, KafkaRs::Jobs.topic(queue))).to be_empty
      expect(KafkaRs.producer.queue_size).to eq(1)
      expect(messages_of(queue).size).to eq(1)
    end

    it "writes job.serialize as JSON to its queue's topic, with the job class header and no key" do
      configure_lingering
      queue = new_queue(partitions: 4)
      args = ["a", 1, { "x" => [true, nil] }]
      job = ActiveJobSpec::RecordJob.set(queue: queue).perform_later(*args)

      (m,) = messages_of(queue)
      expect(m.topic).to eq("jobs.#{queue}")
      expect(m.key).to be_nil
      expect(m.headers).to eq("job_class" => "ActiveJobSpec::RecordJob")
      expect(JSON.parse(m.value)).to include(
        "job_class" => "ActiveJobSpec::RecordJob", "job_id" => job.job_id, "queue_name" => queue,
        "arguments" => ActiveJob::Arguments.serialize(args), "executions" => 0
      )
    end

    it "writes to the topic with the app's prefix (KAFKA_PREFIX / config.prefix)" do
      prefix = "spec-tenant-#{SecureRandom.hex(3)}."
      configure_kafka_rs(prefix: prefix)
      queue = new_queue(topic_prefix: prefix)
      ActiveJobSpec::RecordJob.set(queue: queue).perform_later("tenant")

      (m,) = messages_of(queue, topic_prefix: prefix)
      expect(m.topic).to eq("#{prefix}jobs.#{queue}")
      expect(KafkaRs::Jobs.perform(m)).to be_done
      expect(ActiveJobSpec.performed.map { |p| p[1] }).to eq([["tenant"]])
    end

    it "refuses a queue name that cannot be part of a topic name, before anything is queued" do
      configure_lingering
      expect { ActiveJobSpec::RecordJob.set(queue: "high priority").perform_later(1) }
        .to raise_error(ArgumentError, /queue "high priority" makes the topic "jobs.high priority", which is not a valid/)
      expect(KafkaRs.producer.queue_size).to eq(0)
    end
  end

  describe "kafka_key" do
    it "keys each job by its declared argument: one key, one partition, in the order enqueued" do
      configure_lingering
      queue = new_queue(partitions: 4)
      10.times { |i| ActiveJobSpec::UserJob.set(queue: queue).perform_later(user_id: 7 + (i % 2), note: "n#{i}") }
      ActiveJobSpec::AdminJob.set(queue: queue).perform_later(user_id: 9, note: "inherited")
      ActiveJobSpec::AccountJob.set(queue: queue).perform_later("acct-1", 100)
      ActiveJobSpec::OrderJob.set(queue: queue).perform_later({ "user" => 42, "total" => 3 })
      ActiveJobSpec::RecordJob.set(queue: queue).perform_later("no key")

      messages = messages_of(queue)
      by_class = messages.group_by { |m| m.headers["job_class"].demodulize }
      expect(by_class["UserJob"].map(&:key).tally).to eq("7" => 5, "8" => 5)
      expect(by_class["AdminJob"].map(&:key)).to eq(["9"])
      expect(by_class["AccountJob"].map(&:key)).to eq(["acct-1"])
      expect(by_class["OrderJob"].map(&:key)).to eq(["user-42"])
      expect(by_class["RecordJob"].map(&:key)).to eq([nil])
      by_class["UserJob"].group_by(&:key).each_value do |ms|
        expect(ms.map(&:partition).uniq.size).to eq(1)
      end

      messages.each { |m| expect(KafkaRs::Jobs.perform(m)).to be_done }
      notes = ActiveJobSpec.performed.select { |p| p[0] == "UserJob" }.group_by { |p| p[1] }
                           .transform_values { |ps| ps.map(&:last) }
      expect(notes).to eq(7 => %w[n0 n2 n4 n6 n8], 8 => %w[n1 n3 n5 n7 n9])
      expect(ActiveJobSpec.performed).to include(["AccountJob", "acct-1", 100], ["OrderJob", { "user" => 42, "total" => 3 }],
                                                 ["AdminJob", 9, "inherited"])
    end

    it "refuses declarations that name nothing, or two things, or something that is not an argument" do
      job_class = Class.new(ActiveJobSpec::ApplicationJob) { def self.name = "BadJob" }
      expect { job_class.kafka_key }.to raise_error(ArgumentError, /BadJob.kafka_key takes .*: none was given/)
      expect { job_class.kafka_key(0) { 1 } }.to raise_error(ArgumentError, /BadJob.kafka_key takes .*: not both/)
      expect { job_class.kafka_key(-1) }
        .to raise_error(ArgumentError, /BadJob.kafka_key -1: an argument position is 0 or more/)
      expect { job_class.kafka_key(1.5) }
        .to raise_error(ArgumentError, /takes an argument position \(Integer\) or a key name .*got 1.5/)
      expect(job_class.kafka_key_rule).to be_nil
    end

    it "raises from perform_later, naming the job, when its key cannot be found; nothing is queued" do
      configure_lingering
      queue = new_queue
      positional = Class.new(ActiveJobSpec::ApplicationJob) { def self.name = "PositionalJob"; kafka_key 1 }
      named = Class.new(ActiveJobSpec::ApplicationJob) { def self.name = "NamedJob"; kafka_key :user_id }
      objects = Class.new(ActiveJobSpec::ApplicationJob) { def self.name = "ObjectJob"; kafka_key { Object.new } }

      expect { positional.set(queue: queue).perform_later("one") }
        .to raise_error(ArgumentError, "PositionalJob declares kafka_key 1 but was enqueued with 1 argument")
      expect { named.set(queue: queue).perform_later({ account: 1 }, 2) }
        .to raise_error(ArgumentError, /NamedJob declares kafka_key :user_id but no keyword or Hash argument/)
      expect { named.set(queue: queue).perform_later(user_id: nil) }
        .to raise_error(ArgumentError, "NamedJob's kafka_key :user_id is nil: a keyed job needs its key")
      expect { objects.set(queue: queue).perform_later }
        .to raise_error(ArgumentError, /ObjectJob's kafka_key \{ ... \} is a Object: it must be a String, Symbol, Integer/)
      expect(KafkaRs.producer.queue_size).to eq(0)
    end

    it "takes the key from string keys of a Hash argument too" do
      named = Class.new(ActiveJobSpec::ApplicationJob) { def self.name = "NamedJob"; kafka_key :user_id }
      expect(named.kafka_key_for(named.new({ "user_id" => 5 }))).to eq("5")
      expect(named.kafka_key_for(named.new(:x, user_id: :alice))).to eq("alice")
    end
  end

  describe "KafkaRs::Jobs.perform" do
    it "runs a job read back from Kafka with its arguments; provider_job_id names the message" do
      configure_lingering
      queue = new_queue
      job = ActiveJobSpec::RecordJob.set(queue: queue).perform_later("a", 1, { "deep" => [1.5, nil] }, :sym)

      (m,) = messages_of(queue)
      result = KafkaRs::Jobs.perform(m)
      expect(result).to eq(KafkaRs::Jobs::Performed.new("ActiveJobSpec::RecordJob", job.job_id))
      expect(result.wait).to be_nil
      expect(ActiveJobSpec.performed).to eq(
        [["RecordJob", ["a", 1, { "deep" => [1.5, nil] }, :sym], 1, "#{m.topic}/#{m.partition}@#{m.offset}"]]
      )
    end

    it "holds a job enqueued with a wait (the due time in a header) until it is due" do
      configure_lingering
      queue = new_queue
      due = Time.at(2_000_000_000, 123, :millisecond)
      ActiveJobSpec::RecordJob.set(queue: queue, wait_until: due).perform_later("later")

      (m,) = messages_of(queue)
      expect(m.headers).to eq("job_class" => "ActiveJobSpec::RecordJob", "scheduled_at_ms" => "2000000000123")
      early = KafkaRs::Jobs.perform(m, now: due - 10)
      expect(early).to be_a(KafkaRs::Jobs::NotDue)
      expect(early).not_to be_done
      expect(early.due_at).to eq(due)
      expect(early.wait).to be_within(1e-6).of(10)
      expect(ActiveJobSpec.performed).to be_empty

      expect(KafkaRs::Jobs.perform(m, now: due)).to be_done
      expect(ActiveJobSpec.performed.map { |p| p[1] }).to eq([["later"]])
    end

    it "lets retry_on re-enqueue a failing job (same key, due later), in Kafka when perform returns; the retry runs" do
      configure_lingering
      queue = new_queue(partitions: 4)
      ActiveJobSpec::FlakyJob.set(queue: queue).perform_later("acct-9")
      (first,) = messages_of(queue)

      t0 = Time.now
      expect(KafkaRs::Jobs.perform(first)).to be_done
      t1 = Time.now
      expect(ActiveJobSpec.performed).to be_empty

      # No flush: perform waited until the retry was delivered.
      retried = read_messages(kafka, KafkaRs::Jobs.topic(queue))
                .reject { |m| m.partition == first.partition && m.offset == first.offset }
      expect(retried.size).to eq(1)
      retry_message = retried.first
      expect(retry_message.key).to eq("acct-9")
      expect(retry_message.partition).to eq(first.partition)
      expect(Integer(retry_message.headers.fetch("scheduled_at_ms")))
        .to be_between(((t0.to_f + 30) * 1000).floor, ((t1.to_f + 30) * 1000).ceil)
      expect(JSON.parse(retry_message.value)).to include("executions" => 1, "job_id" => JSON.parse(first.value)["job_id"])

      waiting = KafkaRs::Jobs.perform(retry_message, now: t1)
      expect(waiting).not_to be_done
      expect(waiting.wait).to be > 29
      expect(KafkaRs::Jobs.perform(retry_message, now: waiting.due_at)).to be_done
      expect(ActiveJobSpec.performed).to eq([["FlakyJob", "acct-9", 2]])
    end

    it "raises the job's exception once retry_on's attempts are used up (and enqueues nothing more)" do
      configure_lingering
      queue = new_queue
      ActiveJobSpec::DoomedJob.set(queue: queue).perform_later
      (first,) = messages_of(queue)
      expect(KafkaRs::Jobs.perform(first)).to be_done
      second = messages_of(queue).last
      expect(second.offset).to eq(first.offset + 1)

      due = KafkaRs::Jobs.perform(second, now: Time.now).due_at
      expect { KafkaRs::Jobs.perform(second, now: due) }.to raise_error(ActiveJobSpec::Failure, "execution 2")
      expect(messages_of(queue).size).to eq(2)
    end

    it "is done with a job discard_on discarded (its block ran, nothing re-enqueued)" do
      configure_lingering
      queue = new_queue
      ActiveJobSpec::DiscardedJob.set(queue: queue).perform_later
      (m,) = messages_of(queue)
      expect(KafkaRs::Jobs.perform(m)).to be_done
      expect(ActiveJobSpec.performed).to eq([["DiscardedJob", :discarded, "record deleted"]])
      expect(messages_of(queue).size).to eq(1)
    end

    it "returns once the jobs a job enqueued are in Kafka" do
      configure_lingering
      queue = new_queue
      ActiveJobSpec::ChainJob.set(queue: queue).perform_later("follow-up")
      (m,) = messages_of(queue)
      expect(KafkaRs::Jobs.perform(m)).to be_done

      follow_up = read_messages(kafka, KafkaRs::Jobs.topic(queue)).last # no flush
      expect(follow_up.offset).to eq(m.offset + 1)
      expect(KafkaRs::Jobs.perform(follow_up)).to be_done
      expect(ActiveJobSpec.performed.map { |p| p[0..1] }).to eq([["RecordJob", ["follow-up"]]])
    end

    it "raises KafkaRs::Jobs::InvalidMessage for a message read back that is not a job" do
      configure_kafka_rs
      queue = new_queue
      KafkaRs.produce("garbage", topic: KafkaRs::Jobs.topic(queue))
      (m,) = messages_of(queue)
      expect { KafkaRs::Jobs.perform(m) }
        .to raise_error(KafkaRs::Jobs::InvalidMessage, %r{\Athe message at jobs\.#{queue}/0@0 is not JSON, not a job})
    end

    it "raises KafkaRs::Jobs::InvalidMessage (a KafkaRs::Error) naming what is wrong with a message" do
      job = ActiveJobSpec::RecordJob.new("x").serialize
      expect(KafkaRs::Jobs::InvalidMessage.ancestors).to include(KafkaRs::Error)
      {
        nil => /has no value \(a tombstone\)/,
        "{nope" => /is not JSON/,
        "[1, 2]" => /is not a serialized ActiveJob job/,
        JSON.generate(job.except("arguments")) => /is not a serialized ActiveJob job/,
        JSON.generate(job.merge("job_class" => "ActiveJobSpec::NoSuchJob")) =>
          /names the job class "ActiveJobSpec::NoSuchJob", which is not an ActiveJob class in this process/,
        JSON.generate(job.merge("job_class" => "Kernel")) => /names the job class "Kernel", which is not an ActiveJob/
      }.each do |value, error|
        expect { KafkaRs::Jobs.perform(message(value, offset: 7)) }.to raise_error(KafkaRs::Jobs::InvalidMessage) { |e|
          expect(e.message).to start_with("the message at jobs.default/0@7 ").and(match(error))
        }
      end
      expect { KafkaRs::Jobs.perform(message(JSON.generate(job), headers: { "scheduled_at_ms" => "soon" })) }
        .to raise_error(KafkaRs::Jobs::InvalidMessage, /bad scheduled_at_ms header "soon"/)
      expect(ActiveJobSpec.performed).to be_empty
    end
  end

  describe "topics" do
    after { KafkaRs::Jobs.topic_prefix = KafkaRs::Jobs::DEFAULT_TOPIC_PREFIX }

    it "names a queue's topic, the topics of queues, and a pattern of every queue's topic" do
      expect(KafkaRs::Jobs.topic("mailers")).to eq("jobs.mailers")
      expect(KafkaRs::Jobs.topics(["a", :b, "a"])).to eq(%w[jobs.a jobs.b])
      expect(KafkaRs::Jobs.topic_pattern).to match("jobs.default")
      expect(KafkaRs::Jobs.topic_pattern).not_to match("jobsdefault")
      expect(KafkaRs::Jobs.topic_pattern).not_to match("orders.jobs.x")
      expect { KafkaRs::Jobs.topics([]) }.to raise_error(ArgumentError, "no queue names given")
      expect { KafkaRs::Jobs.topics(["ok", "not ok"]) }.to raise_error(ArgumentError, /queue "not ok"/)

      KafkaRs::Jobs.topic_prefix = "work."
      expect(KafkaRs::Jobs.topics(%w[a])).to eq(%w[work.a])
      expect(KafkaRs::Jobs.topic_pattern).to match("work.a")
      expect(KafkaRs::Jobs.topic_pattern).not_to match("workxa")
    end

    it "refuses a prefix that cannot start a topic name, or an empty one" do
      expect { KafkaRs::Jobs.topic_prefix = "" }.to raise_error(ArgumentError, /cannot start a topic name/)
      expect { KafkaRs::Jobs.topic_prefix = "my jobs." }.to raise_error(ArgumentError, /"my jobs." cannot start/)
      expect { KafkaRs::Jobs.topic_prefix = :jobs }.to raise_error(TypeError, /must be a String, got Symbol/)
      expect(KafkaRs::Jobs.topic_prefix).to eq("jobs.")
    end
  end
end
