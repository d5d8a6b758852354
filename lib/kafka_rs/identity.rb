# frozen_string_literal: true

module KafkaRs
  class Client
    # Keeps the client id the client was built with: every instrumentation event carries it as
    # `client_id` (ruby-kafka's payload key; its Statsd and Datadog reporters name metrics by it),
    # and tells {RequestEvents} about the client.
    #
    # A prepended module only because lib/kafka_rs/client.rb (and consumer.rb) were being changed
    # on other branches when this was written: it belongs in Client#initialize (and
    # Consumer#initialize), where it can go with the next change there.
    module Identity
      DEFAULT_CLIENT_ID = "kafka_rs"

      def initialize(**options)
        super
        @client_id = options.fetch(:client_id, DEFAULT_CLIENT_ID)
        RequestEvents.track_client(self)
      end
    end
    prepend Identity

    # @return [String] the client id sent to the brokers
    attr_reader :client_id

    # @api private
    # The native client, for {RequestEvents}.
    def native_for_instrumentation
      @native
    end
  end

  class Consumer
    # Consumers are known to {RequestEvents} (heartbeat events name the member's assignment).
    module Tracking
      def initialize(client:, **options)
        super
        RequestEvents.track_consumer(self, client)
      end
    end
    prepend Tracking

    # @api private
    # The native consumer, for {RequestEvents}.
    def native_for_instrumentation
      @native
    end
  end
end
