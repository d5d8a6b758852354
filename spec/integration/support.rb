# frozen_string_literal: true

require_relative "../spec_helper"
require "securerandom"
require "timeout"
require "socket"

module IntegrationHelpers
  BROKER = "127.0.0.1:9092"

  def self.client
    KafkaRs.new([BROKER], client_id: "kafka_rs-spec")
  end

  def new_topic(kafka, partitions: 1, replication_factor: 1)
    name = "spec-#{SecureRandom.hex(4)}"
    kafka.create_topic(name, num_partitions: partitions, replication_factor: replication_factor)
    (@created_topics ||= []) << name
    name
  end

  def drop_topics(kafka)
    (@created_topics || []).each { |t| kafka.delete_topic(t) rescue nil } # rubocop:disable Style/RescueModifier
  end

  def fetch_all(kafka, topic, partition = 0)
    kafka.fetch_messages(topic: topic, partition: partition, offset: :earliest, max_wait_time: 1)
  end

  # Every message of `topic` (all partitions, from the start up to the current end), as
  # FetchedMessages.
  def read_messages(kafka, topic)
    kafka.last_offsets_for(topic).fetch(topic).flat_map do |partition, last_offset|
      messages = []
      offset = 0
      while offset <= last_offset
        batch = kafka.fetch_messages(topic: topic, partition: partition, offset: offset, max_wait_time: 1)
        messages.concat(batch)
        offset = batch.last.offset + 1 unless batch.empty?
      end
      messages
    end
  end

  # Every value in `topic`.
  def read_all(kafka, topic)
    read_messages(kafka, topic).map(&:value)
  end

  # Produces `{ partition => [values] }` to `topic` in one delivery.
  def produce_by_partition(kafka, topic, values_by_partition)
    producer = kafka.producer
    values_by_partition.each { |partition, values| values.each { |v| producer.produce(v, topic: topic, partition: partition) } }
    producer.deliver_messages
  end

  # Waits until the block returns a truthy value (returned), at most `timeout` seconds; the
  # error names `what`, and `detail` (a Proc) adds what helps (a worker's log).
  def wait_for(what, timeout: 30, detail: nil)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until (value = yield)
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "timed out after #{timeout} s waiting for #{what}#{"; #{detail.call}" if detail}"
      end

      sleep 0.05
    end
    value
  end
end
