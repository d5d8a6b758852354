# frozen_string_literal: true

require "net/http"
require "tmpdir"
require "fileutils"
require_relative "free_port"

# Runs a rackup file under Puma (Debian's `puma`) on a free port of 127.0.0.1, as a child
# process; its output goes to a log file shown when it fails to start.
#
#   server = PumaServer.start("examples/router_metrics/config.ru", env: { "ROUTER_TOPIC" => t }, workers: 2)
#   server.url("/logs")
#   server.stop   # TERM: Puma finishes its requests, the app's at_exit hooks run
class PumaServer
  attr_reader :port, :log

  def self.start(rackup, **options)
    new(rackup, **options).tap(&:start)
  end

  def initialize(rackup, env: {}, workers: 0, threads: "1:4")
    @rackup = File.expand_path(rackup)
    @env = { "RACK_ENV" => "production" }.merge(env)
    @workers = workers
    @threads = threads
  end

  def start
    attempts = 0
    begin
      attempts += 1
      @dir = Dir.mktmpdir("puma-spec-")
      @log = File.join(@dir, "puma.log")
      @port = FreePort.pick
      args = ["puma", "-b", "tcp://127.0.0.1:#{@port}", "-t", @threads, "--environment", "production"]
      args += ["-w", @workers.to_s, "--preload"] if @workers.positive?
      @pid = Process.spawn(@env, *args, @rackup, in: File::NULL, out: @log, err: @log, pgroup: true)
      wait_until_ready
    rescue StandardError
      output = log_output
      stop
      retry if attempts < 3 && output.include?("Address already in use")
      raise
    end
    self
  end

  def url(path = "/")
    "http://127.0.0.1:#{@port}#{path}"
  end

  def get(path)
    Net::HTTP.get_response(URI(url(path)))
  end

  def log_output
    @log && File.exist?(@log) ? File.read(@log) : ""
  end

  # Stops Puma with TERM and waits for it (its workers deliver what their producers queued).
  def stop(timeout: 60)
    return unless @pid

    begin
      Process.kill("TERM", @pid)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until Process.waitpid(@pid, Process::WNOHANG)
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          Process.kill("KILL", -@pid)
          Process.wait(@pid)
          break
        end
        sleep 0.05
      end
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
    @pid = nil
  end

  def cleanup
    stop
    FileUtils.rm_rf(@dir) if @dir
  end

  private

  def wait_until_ready
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
    loop do
      if Process.waitpid(@pid, Process::WNOHANG)
        @pid = nil
        raise "puma exited:\n#{log_output}"
      end

      begin
        return if get("/health").code == "200"
      rescue SystemCallError, IOError, Net::ReadTimeout
        nil
      end
      raise "puma did not answer on #{@port} within 30 s:\n#{log_output}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
  end
end
