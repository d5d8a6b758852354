# frozen_string_literal: true

require "test_helper"

class OrdersControllerTest < ActionDispatch::IntegrationTest
  test "an order event keyed by its user" do
    messages = assert_kafka_produced(topic: "orders", key: "42") do
      post "/orders", params: { user_id: 42, seq: 1 }
    end
    assert_response :accepted
    assert_equal({ "user_id" => "42", "seq" => 1, "pid" => Process.pid }, JSON.parse(messages.first.value))
  end

  test "one event per order, in order" do
    assert_kafka_produced(topic: "orders", key: "7", count: 2) do
      post "/orders", params: { user_id: 7, seq: 1 }
      post "/orders", params: { user_id: 7, seq: 2 }
    end
    assert_equal [1, 2], KafkaRs::Testing.messages(topic: "orders").map { |m| JSON.parse(m.value)["seq"] }
  end

  test "a request without a user produces nothing" do
    refute_kafka_produced(topic: "orders") { post "/orders", params: { seq: 1 } }
    assert_response :bad_request
  end
end
