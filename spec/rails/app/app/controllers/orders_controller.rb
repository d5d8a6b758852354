# frozen_string_literal: true

# POST /orders (user_id, seq): one order event on the "orders" topic, keyed by the user, so a
# user's events land on one partition in the order they were posted.
class OrdersController < ActionController::API
  def create
    user_id = params.require(:user_id).to_s
    event = { user_id: user_id, seq: Integer(params.require(:seq)), pid: Process.pid }
    KafkaRs.producer.produce(event.to_json, topic: "orders", key: user_id)
    render json: { pid: Process.pid }, status: :accepted
  end
end
