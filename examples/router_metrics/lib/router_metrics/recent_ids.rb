# frozen_string_literal: true

module RouterMetrics
  # The `Logplex-Frame-Id`s the endpoint has taken, so a batch the platform sends again (it
  # retries when it did not see our answer) is not produced twice. Bounded: the oldest ids are
  # forgotten first. One per process, shared by its threads.
  #
  # A Puma running several worker processes needs {RedisRecentIds}: a retry may reach another
  # worker.
  class RecentIds
    # @param capacity [Integer] ids remembered
    def initialize(capacity: 10_000)
      @capacity = capacity
      @ids = {}
      @lock = Mutex.new
    end

    # Takes an id: true the first time, false while it is remembered.
    def claim(id)
      @lock.synchronize do
        return false if @ids.key?(id)

        @ids[id] = true
        @ids.shift while @ids.size > @capacity
        true
      end
    end

    # Forgets an id (its batch was not taken after all, so a retry must be).
    def release(id)
      @lock.synchronize { @ids.delete(id) }
      nil
    end

    def size
      @lock.synchronize { @ids.size }
    end
  end

  # {RecentIds} in Redis, shared by every process of the endpoint: `SET key 1 NX EX ttl` per id,
  # so memory is bounded by the ids of the last `ttl` seconds.
  class RedisRecentIds
    def initialize(redis, namespace: "router_drain", ttl: 3600)
      @redis = redis
      @namespace = namespace
      @ttl = ttl
      @lock = Mutex.new # a Redis connection is not shared by threads without one
    end

    def claim(id)
      @lock.synchronize { @redis.set(key(id), "1", nx: true, ex: @ttl) } ? true : false
    end

    def release(id)
      @lock.synchronize { @redis.del(key(id)) }
      nil
    end

    private

    def key(id)
      "#{@namespace}:frame:#{id}"
    end
  end
end
