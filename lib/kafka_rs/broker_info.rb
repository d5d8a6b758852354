# frozen_string_literal: true

module KafkaRs
  # A broker of the cluster, as returned by {Client#brokers}.
  BrokerInfo = Struct.new(:node_id, :host, :port, :rack) do
    def to_s
      "#{host}:#{port} (node_id=#{node_id})"
    end
  end
end
