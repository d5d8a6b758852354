# frozen_string_literal: true

require "redis"
require_relative "free_port"
require "tmpdir"
require "fileutils"

# A private redis-server (for a spec, or the demo): started on a free port of 127.0.0.1 in a temporary
# directory (no persistence), stopped (and its directory removed) by #stop.
#
#   server = RedisServer.start
#   redis = server.client
#   ...
#   server.stop
class RedisServer
  attr_reader :port, :dir

  def self.start
    server = new
    server.start
    server
  end

  def start
    attempts = 0
    begin
      attempts += 1
      @dir = Dir.mktmpdir("redis-spec-")
      @port = FreePort.pick
      @log = File.join(@dir, "redis.log")
      @pid = Process.spawn("redis-server", "--port", @port.to_s, "--bind", "127.0.0.1", "--dir", @dir,
                           "--save", "", "--appendonly", "no", "--logfile", @log, "--daemonize", "no",
                           in: File::NULL, out: File::NULL, err: File::NULL)
      wait_until_ready
    rescue StandardError
      stop
      retry if attempts < 3 # the port was taken between free_port and the bind
      raise
    end
    self
  end

  def url
    "redis://127.0.0.1:#{@port}/0"
  end

  def client
    Redis.new(url: url)
  end

  def stop
    if @pid
      begin
        Process.kill("TERM", @pid)
        Process.wait(@pid)
      rescue Errno::ESRCH, Errno::ECHILD
        nil
      end
      @pid = nil
    end
    FileUtils.rm_rf(@dir) if @dir
  end

  private

  def wait_until_ready
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    loop do
      if Process.waitpid(@pid, Process::WNOHANG)
        @pid = nil
        raise "redis-server exited: #{File.exist?(@log) ? File.read(@log).then { |s| s.size > 500 ? s[-500..] : s } : 'no log'}"
      end
      begin
        redis = Redis.new(url: url, connect_timeout: 0.2)
        return if redis.ping == "PONG"
      rescue Redis::BaseConnectionError
        raise "redis-server did not answer on #{@port} within 10 s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.02
      ensure
        redis&.close
      end
    end
  end
end
