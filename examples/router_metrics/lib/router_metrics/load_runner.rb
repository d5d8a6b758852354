# frozen_string_literal: true

require "json"
require "net/http"
require "uri"

module RouterMetrics
  # POSTs batches to a drain endpoint as the platform does: over one keep-alive connection, and a
  # batch without an answer (connection error, timeout) or answered 429/5xx is sent again with
  # the same `Logplex-Frame-Id` after a backoff.
  class DrainClient
    RETRY_STATUSES = [429, 500, 502, 503, 504].freeze

    attr_reader :retries

    # @param url [String] e.g. "http://drain:secret@127.0.0.1:9393/logs" (userinfo becomes
    #   HTTP Basic auth)
    def initialize(url, max_attempts: 5, backoff: 0.2, open_timeout: 5, read_timeout: 10)
      @uri = URI(url)
      @max_attempts = max_attempts
      @backoff = backoff
      @open_timeout = open_timeout
      @read_timeout = read_timeout
      @http = nil
      @retries = 0
    end

    # @param batch [LoadGenerator::Batch]
    # @return [Integer] the final HTTP status (0: no answer after every attempt)
    def post(batch)
      attempt = 0
      loop do
        attempt += 1
        status = begin
          request = Net::HTTP::Post.new(@uri.request_uri, batch.headers)
          request.basic_auth(URI.decode_www_form_component(@uri.user.to_s), URI.decode_www_form_component(@uri.password.to_s)) if @uri.password
          request.body = batch.body
          http.request(request).code.to_i
        rescue IOError, SystemCallError, Timeout::Error, Net::HTTPBadResponse, OpenSSL::SSL::SSLError
          close
          0
        end
        return status unless (status.zero? || RETRY_STATUSES.include?(status)) && attempt < @max_attempts

        @retries += 1
        sleep(@backoff * attempt)
      end
    end

    def close
      @http&.finish if @http&.started?
    rescue IOError
      nil
    ensure
      @http = nil
    end

    private

    def http
      return @http if @http&.started?

      @http = Net::HTTP.new(@uri.host, @uri.port)
      @http.use_ssl = @uri.scheme == "https"
      @http.open_timeout = @open_timeout
      @http.read_timeout = @read_timeout
      @http.keep_alive_timeout = 30
      @http.start
    end
  end

  # Sends generated batches at a steady rate (lines per second) for a duration or a number of
  # batches, and keeps what the endpoint accepted: the reference computation's input.
  class LoadRunner
    Summary = Struct.new(:batches, :accepted, :rejected, :lines, :requests, :other, :malformed, :retries,
                         :seconds, keyword_init: true)

    # @return [Array<Request>] the router requests of every accepted batch
    attr_reader :accepted_requests

    # @param client [DrainClient]
    # @param generator [LoadGenerator]
    # @param rate [Numeric] lines (frames) per second
    # @param batch_size [Integer] frames per POST
    # @param record [IO, nil] receives each accepted request as a JSON line (see {.read_requests})
    def initialize(client:, generator:, rate:, batch_size: 50, record: nil)
      @client = client
      @generator = generator
      @rate = rate.to_f
      @batch_size = batch_size
      @record = record
      @accepted_requests = []
      @stop = false
    end

    # Asks {#run} to return after the batch in progress (from a signal handler too).
    def stop
      @stop = true
    end

    # @param duration [Numeric, nil] seconds
    # @param batches [Integer, nil]
    # @yieldparam batch [LoadGenerator::Batch]
    # @yieldparam status [Integer]
    # @return [Summary]
    def run(duration: nil, batches: nil)
      raise ArgumentError, "give a duration or a number of batches" if duration.nil? && batches.nil?

      summary = Summary.new(batches: 0, accepted: 0, rejected: 0, lines: 0, requests: 0, other: 0, malformed: 0,
                            retries: 0, seconds: 0)
      started = now
      interval = @batch_size / @rate
      due = started
      until @stop || (batches && summary.batches >= batches) || (duration && now - started >= duration)
        wait = due - now
        sleep(wait) if wait.positive?
        due += interval
        batch = @generator.batch(@batch_size)
        status = @client.post(batch)
        summary.batches += 1
        if status == 202
          summary.accepted += 1
          summary.lines += batch.lines.size
          summary.requests += batch.requests.size
          summary.other += batch.other
          summary.malformed += batch.malformed
          @accepted_requests.concat(batch.requests)
          batch.requests.each { |r| @record.puts(JSON.generate(self.class.request_to_h(r))) } if @record
        else
          summary.rejected += 1
        end
        yield batch, status if block_given?
      end
      @record&.flush
      summary.retries = @client.retries
      summary.seconds = now - started
      summary
    end

    def self.request_to_h(request)
      { app: request.app, time: request.time.iso8601(6), status: request.status, service_ms: request.service_ms,
        path: request.path, code: request.code }
    end

    # Reads requests written with `record:`.
    #
    # @return [Array<Request>]
    def self.read_requests(io)
      io.each_line.map do |line|
        h = JSON.parse(line)
        Request.new(app: h["app"], time: Time.iso8601(h["time"]).utc, status: h["status"],
                    service_ms: h["service_ms"], path: h["path"], code: h["code"])
      end
    end

    private

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
