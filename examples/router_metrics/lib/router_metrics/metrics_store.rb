# frozen_string_literal: true

require "redis"

module RouterMetrics
  # The metrics in Redis, per app and UTC minute, written idempotently from the `router` topic.
  #
  # Keys (`ns` is the namespace, "router_metrics" by default):
  #
  # - `ns:m:APP:MINUTE` hash: `requests`, `s:2xx`..`s:5xx` (status classes), `l:INDEX` (service
  #   time buckets, see {LatencyBuckets}), `e:H12`.. (router error codes)
  # - `ns:p:APP:MINUTE` sorted set: path (without query string) => requests
  # - `ns:apps` set of apps; `ns:minutes:APP` sorted set of the app's minutes (score: epoch
  #   minute)
  # - `ns:offsets` hash: "topic/partition" => the offset after the last message applied (the
  #   partition's high-water mark)
  # - `ns:counters` hash: `messages` applied, of which `requests`, `other` (not router lines),
  #   `unreadable`; `duplicates` (messages skipped because they were below the mark); `batches`
  #
  # Idempotence under at-least-once delivery: {#record} takes a batch of one partition, drops
  # the messages below the partition's high-water mark (a redelivery after a crash between the
  # Redis write and the Kafka commit), and applies the rest in one Lua script that first checks
  # the mark is still what the batch was filtered against, then adds every count and moves the
  # mark, atomically. A worker whose partition moved to another while it was writing (a zombie)
  # sees the mark changed, filters again, and applies only what is left. So every offset is
  # counted once, however often it is delivered.
  class MetricsStore
    Result = Struct.new(:messages, :requests, :other, :unreadable, :duplicates, keyword_init: true)

    # KEYS[1]: the offsets hash; KEYS[2..]: the data keys. ARGV: the partition's field, the mark
    # the batch was filtered against ("" = none), the new mark, the TTL in seconds (0: none),
    # then operations of four values each: kind, key index, member/field, amount/score.
    APPLY = <<~LUA
      local current = redis.call('HGET', KEYS[1], ARGV[1])
      if (current or '') ~= ARGV[2] then return 0 end
      local ttl = tonumber(ARGV[4])
      for i = 5, #ARGV, 4 do
        local kind, key, member, amount = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
        if kind == 'h' then
          redis.call('HINCRBY', key, member, amount)
        elseif kind == 'z' then
          redis.call('ZINCRBY', key, amount, member)
        elseif kind == 's' then
          redis.call('SADD', key, member)
        elseif kind == 'zs' then
          redis.call('ZADD', key, amount, member)
        end
      end
      if ttl > 0 then
        for i = 2, #KEYS do
          if KEYS[i] ~= KEYS[1] then redis.call('EXPIRE', KEYS[i], ttl) end
        end
      end
      redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
      return 1
    LUA

    MAX_CONFLICTS = 20

    attr_reader :redis, :namespace

    # @param redis [Redis]
    # @param namespace [String] prefix of every key
    # @param ttl [Integer, nil] seconds the per-minute keys live after their last write (nil:
    #   forever); the offsets hash never expires
    def initialize(redis, namespace: "router_metrics", ttl: nil)
      @redis = redis
      @namespace = namespace
      @ttl = ttl.to_i
      @script_sha = nil
    end

    # Applies a batch of messages of one partition.
    #
    # @param topic [String]
    # @param partition [Integer]
    # @param messages [Array<#offset, #value>] in offset order (a consumer's batch)
    # @return [Result] what was counted (all zero but `duplicates` for a redelivered batch)
    def record(topic, partition, messages)
      field = "#{topic}/#{partition}"
      MAX_CONFLICTS.times do
        mark = high_water_mark(topic, partition)
        fresh = mark ? messages.select { |m| m.offset >= mark } : messages
        duplicates = messages.size - fresh.size
        if fresh.empty?
          @redis.hincrby(key("counters"), "duplicates", duplicates) if duplicates.positive?
          return Result.new(messages: 0, requests: 0, other: 0, unreadable: 0, duplicates: duplicates)
        end

        result, keys, ops = operations(fresh, duplicates)
        applied = apply([key("offsets"), *keys], [field, mark.to_s, (fresh.last.offset + 1).to_s, @ttl.to_s, *ops])
        return result if applied == 1
      end
      raise "#{field}: the high-water mark kept moving during #{MAX_CONFLICTS} attempts"
    end

    # @return [Integer, nil] the offset after the last message applied from the partition
    def high_water_mark(topic, partition)
      value = @redis.hget(key("offsets"), "#{topic}/#{partition}")
      value && Integer(value, 10)
    end

    # @return [Hash{String => Integer}] "topic/partition" => high-water mark
    def high_water_marks
      @redis.hgetall(key("offsets")).transform_values { |v| Integer(v, 10) }
    end

    # @return [Hash{String => Integer}] see the class comment
    def counters
      @redis.hgetall(key("counters")).transform_values { |v| Integer(v, 10) }
    end

    # @return [Array<String>] the apps seen, sorted
    def apps
      @redis.smembers(key("apps")).sort
    end

    # @return [Array<String>] the app's minutes, oldest first
    def minutes(app)
      @redis.zrange(key("minutes", app), 0, -1)
    end

    # Everything counted for an app in a minute.
    #
    # @return [Hash] `requests:` Integer, `status:` {"2xx" => n}, `latency:` {bucket => n},
    #   `errors:` {"H12" => n}, `paths:` {path => n}
    def counts(app, minute)
      counts = { requests: 0, status: {}, latency: {}, errors: {}, paths: {} }
      @redis.hgetall(key("m", app, minute)).each do |field, value|
        n = Integer(value, 10)
        kind, name = field.split(":", 2)
        case kind
        when "requests" then counts[:requests] = n
        when "s" then counts[:status][name] = n
        when "l" then counts[:latency][Integer(name, 10)] = n
        when "e" then counts[:errors][name] = n
        end
      end
      @redis.zrange(key("p", app, minute), 0, -1, with_scores: true).each do |path, score|
        counts[:paths][path] = score.to_i
      end
      counts
    end

    # The metrics of an app over some minutes (merged: the buckets and counts add up).
    #
    # @param minutes [Array<String>] default: every minute of the app
    # @param top [Integer] how many paths to list
    # @return [Hash] `requests:`, `status:`, `errors:`, `p50:`, `p95:`, `p99:` (ms, see
    #   {LatencyBuckets}), `top_paths:` [[path, n], ...] (most requests first, then by path)
    def summary(app, minutes = self.minutes(app), top: 10)
      merged = { requests: 0, status: Hash.new(0), latency: Hash.new(0), errors: Hash.new(0), paths: Hash.new(0) }
      minutes.each do |minute|
        c = counts(app, minute)
        merged[:requests] += c[:requests]
        %i[status latency errors paths].each { |k| c[k].each { |name, n| merged[k][name] += n } }
      end
      RouterMetrics.summarize(merged, top: top)
    end

    # Deletes every key of the namespace.
    def clear!
      cursor = "0"
      loop do
        cursor, keys = @redis.scan(cursor, match: "#{@namespace}:*", count: 1000)
        @redis.del(*keys) unless keys.empty?
        break if cursor == "0"
      end
    end

    private

    def key(*parts)
      [@namespace, *parts].join(":")
    end

    # The counts of a batch as script operations.
    def operations(messages, duplicates)
      keys = {}
      key_index = ->(k) { keys[k] ||= keys.size + 2 } # KEYS[1] is the offsets hash
      ops = []
      add = ->(kind, k, member, amount) { ops.push(kind, key_index.(k).to_s, member.to_s, amount.to_s) }
      result = Result.new(messages: messages.size, requests: 0, other: 0, unreadable: 0, duplicates: duplicates)
      per_minute = Hash.new { |h, k| h[k] = Hash.new(0) }
      paths = Hash.new { |h, k| h[k] = Hash.new(0) }
      minutes = {}

      messages.each do |message|
        request = Request.from_syslog(message.value)
        case request
        when :other then result.other += 1
        when :unreadable then result.unreadable += 1
        else
          result.requests += 1
          minute = request.minute
          app_minute = [request.app, minute]
          minutes[app_minute] ||= request.time.to_i / 60
          fields = per_minute[app_minute]
          fields["requests"] += 1
          fields["s:#{request.status_class}"] += 1 if request.status_class
          fields["l:#{LatencyBuckets.index(request.service_ms)}"] += 1 if request.service_ms
          fields["e:#{request.code}"] += 1 if request.code
          paths[app_minute][request.path] += 1 if request.path
        end
      end

      per_minute.each do |(app, minute), fields|
        fields.each { |field, n| add.("h", key("m", app, minute), field, n) }
        paths[[app, minute]].each { |path, n| add.("z", key("p", app, minute), path, n) }
        add.("s", key("apps"), app, 0)
        add.("zs", key("minutes", app), minute, minutes[[app, minute]])
      end
      counters = { "messages" => result.messages, "requests" => result.requests, "other" => result.other,
                   "unreadable" => result.unreadable, "duplicates" => duplicates, "batches" => 1 }
      counters.each { |name, n| add.("h", key("counters"), name, n) if n.positive? }
      [result, keys.keys, ops]
    end

    def apply(keys, argv)
      @script_sha ||= @redis.script(:load, APPLY)
      @redis.evalsha(@script_sha, keys: keys, argv: argv)
    rescue Redis::CommandError => e
      raise unless e.message.start_with?("NOSCRIPT")

      @script_sha = nil
      retry
    end
  end

  # Percentiles and top paths from merged counts (shared by {MetricsStore#summary} and
  # {Reference}).
  #
  # @param counts [Hash] `requests:`, `status:`, `latency:`, `errors:`, `paths:`
  # @return [Hash]
  def self.summarize(counts, top: 10)
    latency = counts[:latency].to_h
    {
      requests: counts[:requests],
      status: counts[:status].to_h.sort.to_h,
      errors: counts[:errors].to_h.sort.to_h,
      p50: LatencyBuckets.percentile(latency, 50),
      p95: LatencyBuckets.percentile(latency, 95),
      p99: LatencyBuckets.percentile(latency, 99),
      top_paths: counts[:paths].to_h.sort_by { |path, n| [-n, path] }.first(top)
    }
  end
end
