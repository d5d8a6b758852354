# frozen_string_literal: true

module KafkaRs
  # Where a message landed: returned by {DeliveryHandle#wait}.
  DeliveryReport = Struct.new(:topic, :partition, :offset, :timestamp)

  # The outcome of one message given to {AsyncProducer#produce_async} or
  # {AsyncProducer#produce_many}. The message is settled exactly once: delivered (a
  # {DeliveryReport}) or failed (the error, e.g. a {ProtocolError} after the retries, or
  # {ClientClosed} when the producer was shut down before it could be sent).
  class DeliveryHandle
    # @api private: `group` is the native outcome group of the call, `index` this message's place
    def initialize(group, index, producer, topic, timestamp_ms)
      @native = group
      @index = index
      @producer = producer
      @topic = topic
      @timestamp_ms = timestamp_ms
    end

    # @return [Boolean] true until the broker has answered for the message (or it failed)
    def pending?
      @native.pending?(@index)
    end

    # Waits until the message is settled. Asks the producer to send its queued messages first,
    # so waiting never depends on linger or on a later flush.
    #
    # @param timeout [Numeric, nil] seconds (nil: no limit)
    # @return [DeliveryReport]
    # @raise [KafkaRs::Error] the delivery error
    # @raise [WaitTimeout] if `timeout` passed first (the message is still pending)
    def wait(timeout: nil)
      Validation.positive_number!(timeout, "timeout", allow_zero: true) unless timeout.nil?
      @producer.deliver_messages if pending?
      result = @native.wait(@index, timeout&.to_f)
      raise WaitTimeout, "message to #{@topic} still pending after #{timeout} s" if result.nil?

      to_report(result)
    end

    # @return [DeliveryReport, nil] nil while pending or failed
    def report
      result = @native.result(@index)
      result.is_a?(Array) ? to_report(result) : nil
    end

    # @return [Exception, nil] the error that failed the message
    def error
      result = @native.result(@index)
      result.is_a?(Exception) ? result : nil
    end

    def inspect
      "#<#{self.class.name} topic=#{@topic.inspect} #{pending? ? 'pending' : (error ? 'failed' : 'delivered')}>"
    end

    private

    def to_report(result)
      partition, offset = result
      DeliveryReport.new(@topic, partition, offset, Time.at(@timestamp_ms / 1000, @timestamp_ms % 1000, :millisecond))
    end
  end
end
