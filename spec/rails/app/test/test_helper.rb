# frozen_string_literal: true

ENV["RAILS_ENV"] ||= "test"
require_relative "../config/environment"
require "rails/test_help"
require "kafka_rs/testing"
require "kafka_rs/testing/minitest"

# Tests record what the app produces instead of sending it: no broker needed.
KafkaRs::Testing.fake!

module ActiveSupport
  class TestCase
    teardown { KafkaRs::Testing.clear }
  end
end
