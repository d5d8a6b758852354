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

  def new_topic(kafka, partitions: 1)
    name = "spec-#{SecureRandom.hex(4)}"
    kafka.create_topic(name, num_partitions: partitions)
    (@created_topics ||= []) << name
    name
  end

  def drop_topics(kafka)
    (@created_topics || []).each { |t| kafka.delete_topic(t) rescue nil } # rubocop:disable Style/RescueModifier
  end

  def fetch_all(kafka, topic, partition = 0)
    kafka.fetch_messages(topic: topic, partition: partition, offset: :earliest, max_wait_time: 1)
  end
end
