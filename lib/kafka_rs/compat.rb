# frozen_string_literal: true

# Lets code written for ruby-kafka run on kafka_rs unchanged:
#
#   require "kafka_rs/compat"
#   kafka = Kafka.new(["localhost:9092"], client_id: "my-app")
#
# `Kafka` becomes `KafkaRs`, so `Kafka::Error`, `Kafka::DeliveryFailed`, ... name kafka_rs's
# classes. Do not load ruby-kafka in the same process.
require_relative "../kafka_rs"

if defined?(Kafka) && !Kafka.equal?(KafkaRs)
  raise LoadError, "kafka_rs/compat: a Kafka constant is already defined (is ruby-kafka loaded?)"
end

Kafka = KafkaRs unless defined?(Kafka)
