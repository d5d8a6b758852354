# frozen_string_literal: true

require "monitor"
require "connection_pool"
require_relative "configuration"
require_relative "prefixed"
require_relative "pool"

# The process-wide objects an app (a Rails app, a Sidekiq worker) produces and consumes through,
# built lazily from {KafkaRs.config}:
#
#   KafkaRs.produce(order.to_json, topic: "orders", key: order.user_id.to_s)   # the shared async producer
#   KafkaRs.producer.produce_async(event.to_json, topic: "events").wait(timeout: 5)
#   KafkaRs.with_producer { |p| p.produce("a", topic: "t"); p.produce("b", topic: "t") }   # delivered at the end
#   KafkaRs.with_client { |kafka| kafka.create_topic("orders", num_partitions: 6) }
#   KafkaRs.consumer(group_id: "billing").subscribe("orders")
#
# Threads: the shared producer and client are safe to share (every thread of a Puma worker uses
# the same ones); pool entries are used by one thread at a time.
#
# Fork: a forked child (a Puma or Unicorn worker forked from a preloaded master) builds its own
# objects on first use, with no hook to call. What the parent queued stays the parent's: a child
# never sends it. The hook is Ruby's Process._fork (Ruby 3.1+), which every fork goes through.
#
# Exit: the shared producer delivers what it holds within its `shutdown_timeout` (the producer
# setting, 30 s by default) and reports what it could not.
module KafkaRs
  @lock = Monitor.new
  @config = nil
  @client = nil
  @producer = nil
  @pool = nil
  @prefix = false
  # Objects KafkaRs::Testing puts in place of the real ones ({KafkaRs::Testing.fake!}).
  @overrides = {}.freeze

  class << self
    # The configuration the shared objects are built from (see {Configuration}).
    #
    # @return [Configuration]
    def config
      @config || @lock.synchronize { @config ||= Configuration.new }
    end

    # Changes the configuration: the block gets a copy, whose values are checked
    # ({Configuration#validate!}) before it replaces the current one. Shared objects built from
    # the previous configuration are shut down (the producer delivers what it holds first); new
    # ones are built on first use.
    #
    # @yieldparam config [Configuration]
    # @return [Configuration]
    def configure
      raise ArgumentError, "configure needs a block" unless block_given?

      retired = @lock.synchronize do
        candidate = config.dup
        yield candidate
        candidate.validate!
        @config = candidate
        release
      end
      shut_down(retired)
      @config
    end

    # The process-wide client (thread-safe; used by the shared producer and by {consumer}).
    #
    # @return [Client]
    def client
      @client || @lock.synchronize { @client ||= KafkaRs.new(**config.client_options) }
    end

    # The process-wide async producer: built on first use from the `producer` settings, shared by
    # every thread, built anew in a forked child. Wrapped in a {PrefixedProducer} when a prefix is
    # configured.
    #
    # @return [AsyncProducer, PrefixedProducer]
    def producer
      @producer || build_producer
    end

    # {AsyncProducer#produce} on the shared producer: queues the message, never waits on the
    # network. (Keywords spelled out: a `**options` pass-through allocates a Hash per call.)
    #
    # @return [nil]
    def produce(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                create_time: nil)
      (@producer || build_producer).produce(value, topic: topic, key: key, headers: headers, partition: partition,
                                                   partition_key: partition_key, create_time: create_time)
    end

    # {AsyncProducer#produce_async} on the shared producer.
    #
    # @return [DeliveryHandle]
    def produce_async(value, topic:, key: nil, headers: Producer::NO_HEADERS, partition: nil, partition_key: nil,
                      create_time: nil)
      (@producer || build_producer).produce_async(value, topic: topic, key: key, headers: headers, partition: partition,
                                                         partition_key: partition_key, create_time: create_time)
    end

    # A pool (the connection_pool gem's `ConnectionPool`) of {PoolEntry}s, each with a client and a
    # buffered producer of its own, for code that wants objects no other thread uses. Size and
    # checkout timeout: the `pool_size` and `pool_timeout` settings. Built anew in a forked child.
    #
    # @return [ConnectionPool]
    def pool
      @pool || build_pool
    end

    # Checks a pool entry out for the block and yields its client.
    #
    # @param timeout [Numeric, nil] seconds to wait for a free entry (nil: `pool_timeout`)
    # @raise [PoolTimeout] when no entry became free in time
    def with_client(timeout: nil)
      checkout(timeout) { |entry| yield entry.client }
    end

    # Checks a pool entry out for the block and yields its buffered {Producer}. When the block
    # returns, what it produced and did not deliver is delivered. When the block or that delivery
    # raises, the block's undelivered messages leave with the exception ({DeliveryFailed} lists
    # them): they are never left in the buffer for the next thread.
    #
    # @param timeout [Numeric, nil] seconds to wait for a free entry (nil: `pool_timeout`)
    # @raise [PoolTimeout] when no entry became free in time
    # @return the block's value
    def with_producer(timeout: nil)
      checkout(timeout) do |entry|
        producer = entry.producer
        begin
          result = yield producer
          producer.deliver_messages unless producer.buffer_empty?
          result
        ensure
          producer.clear_buffer unless producer.buffer_empty?
        end
      end
    end

    # A consumer group member on the shared client, with the `consumer` settings as defaults
    # (and the prefix on its group id and subscriptions).
    #
    # @param group_id [String, nil] nil: the `consumer` setting's `group_id`
    # @return [Consumer]
    def consumer(group_id: nil, **options)
      consumer_settings(group_id, options) do |group, settings|
        client.consumer(group_id: group, **settings)
      end
    end

    # @api private
    # Yields a consumer's group id and keywords as {consumer} makes them (the `consumer` settings
    # under `options`, the prefix on the group id) for the block to build the consumer, and gives
    # that consumer the prefix on its subscriptions. Consumer classes join through it too.
    #
    # @return the consumer the block built
    def consumer_settings(group_id, options)
      options = config.consumer_options.merge(options)
      default_group = options.delete(:group_id)
      group_id ||= default_group
      raise ArgumentError, "KafkaRs.consumer needs a group_id (or a group_id in the consumer settings)" if group_id.nil?

      prefix = topic_prefix
      consumer = yield(prefix ? prefix.apply(group_id) : group_id, options)
      if prefix
        consumer.extend(PrefixedSubscriptions)
        consumer.topic_prefix = prefix
      end
      consumer
    end

    # The full name of a topic (or group): with the configured prefix, for code that calls a
    # client directly (`KafkaRs.with_client { |c| c.partitions_for(KafkaRs.topic("orders")) }`).
    #
    # @return [String]
    def topic(name)
      prefix = topic_prefix
      prefix ? prefix.apply(name) : Validation.string!(Symbol === name ? name.to_s : name, "topic")
    end

    # Shuts the shared objects down: the producer delivers what it holds (within `timeout`, or
    # its `shutdown_timeout`), the pool's and the shared clients close. Later calls build new ones.
    #
    # @return [nil]
    def shutdown(timeout: nil)
      shut_down(@lock.synchronize { release }, timeout)
      nil
    end

    # Shuts the shared objects down ({shutdown}) and forgets the configuration (the next use
    # starts from the environment and the classes' defaults) and KafkaRs::Testing's fakes. For
    # test suites.
    #
    # @return [nil]
    def reset!
      retired = @lock.synchronize do
        @config = nil
        @overrides = {}.freeze
        release
      end
      shut_down(retired)
      nil
    end

    # @api private
    # Puts the objects KafkaRs::Testing records with in place of the real producer and pool (nil:
    # the real ones again). The real ones built so far are shut down.
    def override_shared(producer: nil, pool: nil)
      retired = @lock.synchronize do
        @overrides = { producer: producer, pool: pool }.compact.freeze
        release
      end
      shut_down(retired)
      nil
    end

    # @api private
    # Called in a forked child (see ForkHook): the parent's objects are left alone (their native
    # parts already belong to the parent only) and new ones are built on first use.
    def forked
      RequestEvents.forked
      @lock = Monitor.new
      @client = nil
      @producer = @overrides[:producer]
      @pool = @overrides[:pool]
    end

    private

    def build_producer
      @lock.synchronize do
        @producer ||= begin
          producer = client.async_producer(**config.producer_options)
          prefix = topic_prefix
          prefix ? PrefixedProducer.new(producer, prefix) : producer
        end
      end
    end

    def build_pool
      @lock.synchronize do
        @pool ||= begin
          config = self.config
          prefix = topic_prefix
          ConnectionPool.new(size: config.pool_size, timeout: config.pool_timeout) { PoolEntry.new(config, prefix) }
        end
      end
    end

    # nil without a prefix.
    def topic_prefix
      return @prefix unless @prefix == false

      @lock.synchronize do
        prefix = config.topic_prefix
        @prefix = prefix.empty? ? nil : TopicPrefix.new(prefix)
      end
    end

    def checkout(timeout)
      pool = self.pool
      entered = false
      pool.with(timeout.nil? ? {} : { timeout: timeout }) do |entry|
        entered = true
        yield entry
      end
    rescue ConnectionPool::TimeoutError => e
      raise if entered

      waited = timeout || config.pool_timeout
      raise PoolTimeout, "no KafkaRs.pool entry became free within #{waited} s: all #{pool.size} are checked out " \
                         "(raise the pool_size setting, or hold entries for less time)", cause: e
    end

    # Takes the real objects out (under the lock) and returns them, for {shut_down}.
    def release
      retired = [@producer, @pool, @client].reject { |o| o.nil? || @overrides.value?(o) }
      @client = nil
      @producer = @overrides[:producer]
      @pool = @overrides[:pool]
      @prefix = false
      retired
    end

    def shut_down(objects, timeout = nil)
      objects.each do |object|
        case object
        when AsyncProducer, PrefixedProducer then timeout ? object.shutdown(timeout: timeout) : object.shutdown
        when Client then object.close
        else object.shutdown(&:close) if object.respond_to?(:shutdown) # the pool
        end
      end
    end
  end

  # Ruby 3.1+ routes every fork (Kernel#fork, Process.fork, IO.popen("-")) through
  # Process._fork: the child forgets the parent's shared objects right there.
  module ForkHook
    def _fork
      pid = super
      KafkaRs.forked if pid.zero?
      pid
    end
  end
  Process.singleton_class.prepend(ForkHook)
end
