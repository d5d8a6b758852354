# frozen_string_literal: true

module KafkaRs
  class Client
    # Keeps the client id the client was built with: every instrumentation event carries it as
    # `client_id` (ruby-kafka's payload key; its Statsd and Datadog reporters name metrics by it).
    #
    # A prepended module only because lib/kafka_rs/client.rb was being changed on another branch
    # when this was written: it belongs in Client#initialize (`@client_id = client_id` and the
    # reader), where it can go with the next change there.
    module Identity
      DEFAULT_CLIENT_ID = "kafka_rs"

      def initialize(**options)
        super
        @client_id = options.fetch(:client_id, DEFAULT_CLIENT_ID)
      end
    end
    prepend Identity

    # @return [String] the client id sent to the brokers
    attr_reader :client_id
  end
end
