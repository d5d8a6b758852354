# frozen_string_literal: true

require "spec_helper"
require "rbconfig"
require "timeout"

# The native extension's shared machinery, without a broker: version, error table, error mapping,
# the GVL helper (through the internal hooks KafkaRs::Native.__sleep / __ready / __panic /
# __panic_with_gvl / __raise_core) and the runtime's behaviour across fork.
RSpec.describe "KafkaRs::Native" do
  let(:native) { KafkaRs::Native }

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Waits until `thread` is blocked (in the released region, Ruby reports "sleep").
  def wait_until_blocked(thread)
    deadline = monotonic + 5
    sleep 0.001 until thread.status == "sleep" || monotonic > deadline
    expect(thread.status).to eq("sleep")
  end

  # Process.wait with a deadline: a child that hangs is killed and the example fails.
  def wait_child(pid, timeout: 10)
    deadline = monotonic + timeout
    loop do
      _, status = Process.wait2(pid, Process::WNOHANG)
      return status if status

      if monotonic > deadline
        Process.kill("KILL", pid)
        Process.wait(pid)
        raise "child #{pid} still running after #{timeout} s"
      end
      sleep 0.005
    end
  end

  # Runs Ruby code in a fresh process with this checkout's lib/ on the load path; returns its
  # standard output (standard error, e.g. Rust's panic report, is not captured) and status.
  def run_ruby(code, timeout: 20)
    lib = File.expand_path("../lib", __dir__)
    output = +""
    status = nil
    IO.popen([RbConfig.ruby, "-I", lib, "-e", code], err: File::NULL) do |io|
      Timeout.timeout(timeout) { output << io.read }
    ensure
      _, status = Process.wait2(io.pid)
    end
    [output, status]
  end

  describe "VERSION" do
    it "is the gem's version" do
      expect(native::VERSION).to eq(KafkaRs::VERSION)
      expect(native::VERSION).to be_frozen
    end
  end

  describe "ERROR_CODES" do
    it "is a frozen table of [code, name, retriable, description] rows" do
      table = native::ERROR_CODES
      expect(table).to be_frozen
      expect(table.size).to be > 50
      table.each do |row|
        expect(row).to be_frozen
        code, name, retriable, description = row
        expect(row.size).to eq(4)
        expect(code).to be_an(Integer)
        expect(name).to match(/\A[A-Z][A-Z0-9_]*\z/).and(be_frozen)
        expect([true, false]).to include(retriable)
        expect(description).to be_a(String).and(be_frozen)
      end
      expect(table.map(&:first).uniq.size).to eq(table.size)
    end

    it "knows well-known codes" do
      by_code = native::ERROR_CODES.to_h { |code, *rest| [code, rest] }
      expect(by_code.fetch(-1)[0..1]).to eq(["UNKNOWN_SERVER_ERROR", false])
      expect(by_code.fetch(3)[0..1]).to eq(["UNKNOWN_TOPIC_OR_PARTITION", true])
      expect(by_code.fetch(6)[0..1]).to eq(["NOT_LEADER_OR_FOLLOWER", true])
      expect(by_code.fetch(36)[0..1]).to eq(["TOPIC_ALREADY_EXISTS", false])
    end
  end

  describe "error mapping" do
    it "raises the class of a broker error code, carrying the code" do
      expect { native.__raise_core("kafka", 3) }.to raise_error(KafkaRs::ProtocolError) { |e|
        expect(e).to be_a(KafkaRs::UnknownTopicOrPartition)
        expect(e.code).to eq(3)
        expect(e.message).to include("UNKNOWN_TOPIC_OR_PARTITION")
      }
    end

    it "raises ProtocolError itself for a code it does not know" do
      expect { native.__raise_core("kafka", 9999) }.to raise_error(KafkaRs::ProtocolError) { |e|
        expect(e.class).to eq(KafkaRs::ProtocolError)
        expect(e.code).to eq(9999)
      }
    end

    it "maps client-side errors" do
      expect { native.__raise_core("connection", 0) }.to raise_error(KafkaRs::ConnectionError, /refused/)
      expect { native.__raise_core("no_brokers", 0) }.to raise_error(KafkaRs::ConnectionError)
      expect { native.__raise_core("timeout", 0) }.to raise_error(KafkaRs::TimeoutError, /timed out/)
      expect { native.__raise_core("unsupported_version", 0) }.to raise_error(KafkaRs::UnsupportedVersion)
      expect { native.__raise_core("closed", 0) }.to raise_error(KafkaRs::ClientClosed)
      expect { native.__raise_core("tls", 0) }.to raise_error(KafkaRs::SslError, /TLS with localhost:9093 failed/) { |e|
        expect(e).to be_a(KafkaRs::ConnectionError)
        expect(e.reason).to eq(:unknown_ca)
      }
    end

    it "maps SASL failures to SaslAuthenticationFailed and its subclasses" do
      expect { native.__raise_core("authentication", 0) }.to raise_error(KafkaRs::SaslAuthenticationFailed) { |e|
        expect(e.class).to eq(KafkaRs::SaslAuthenticationFailed)
        expect(e.code).to eq(58)
        expect(e.message).to eq("SASL SCRAM-SHA-256 authentication with localhost:9094 failed: Authentication failed")
      }
      expect { native.__raise_core("authentication", 33) }.to raise_error(KafkaRs::UnsupportedSaslMechanism)
      expect { native.__raise_core("authentication", 34) }.to raise_error(KafkaRs::InvalidSaslState)
      # Any other code still means a refused authentication.
      expect { native.__raise_core("authentication", 35) }.to raise_error(KafkaRs::SaslAuthenticationFailed) { |e|
        expect(e.code).to eq(58)
      }
    end

    it "builds the same exceptions without raising them (per-item results)" do
      error = native.__core_exception("kafka", 3)
      expect(error).to be_a(KafkaRs::UnknownTopicOrPartition)
      expect(error.code).to eq(3)
      error = native.__core_exception("connection", 0)
      expect(error).to be_a(KafkaRs::ConnectionError)
      expect(error.message).to eq("connection to localhost:9092 failed: refused")
      expect(native.__core_exception("invalid_argument", 0)).to be_an(ArgumentError)
    end

    it "raises ArgumentError naming the argument" do
      expect { native.__raise_core("invalid_argument", 0) }.to raise_error(ArgumentError, /invalid topic/)
    end

    it "falls back to RuntimeError when the Ruby error classes are not loaded" do
      output, status = run_ruby(<<~RUBY)
        require "kafka_rs/native"
        %w[kafka connection timeout closed].each do |kind|
          begin
            KafkaRs::Native.__raise_core(kind, 3)
          rescue => e
            puts "\#{kind}: \#{e.class}"
          end
        end
        begin
          KafkaRs::Native.__panic("boom")
        rescue => e
          puts "panic: \#{e.class}"
        end
      RUBY
      expect(status).to be_success, output
      expect(output.lines.map(&:chomp)).to eq(
        ["kafka: RuntimeError", "connection: RuntimeError", "timeout: RuntimeError",
         "closed: RuntimeError", "panic: RuntimeError"]
      )
    end
  end

  describe "panics" do
    it "turns a panic in the released region into KafkaRs::Error, and the VM lives on" do
      expect { native.__panic("boom in region") }.to raise_error(KafkaRs::Error, /boom in region/)
      expect(native.__ready).to be_nil
      expect { native.__panic("again") }.to raise_error(KafkaRs::Error, /again/)
      expect(native.__sleep(0.001)).to be_nil
    end

    it "turns a panic in a guarded method body into KafkaRs::Error" do
      expect { native.__panic_with_gvl("boom with gvl") }.to raise_error(KafkaRs::Error, /boom with gvl/)
      expect(native.__panic_with_gvl("")).to be_nil
    end
  end

  describe "block_on (the GVL helper)" do
    it "returns the future's output" do
      expect(native.__ready).to be_nil
      started = monotonic
      expect(native.__sleep(0.05)).to be_nil
      expect(monotonic - started).to be >= 0.05
    end

    it "rejects a negative duration with ArgumentError" do
      expect { native.__sleep(-1) }.to raise_error(ArgumentError)
    end

    it "lets other Ruby threads run while it waits" do
      counter = 0
      running = true
      counting = Thread.new { counter += 1 while running }
      native.__sleep(0.3)
      running = false
      counting.join
      expect(counter).to be > 10_000
    end

    it "runs waits of several threads in parallel" do
      started = monotonic
      Array.new(8) { Thread.new { native.__sleep(0.2) } }.each(&:join)
      expect(monotonic - started).to be < 0.6
    end

    it "is interrupted by Thread#raise within 100 ms" do
      error_class = Class.new(StandardError)
      waiter = Thread.new do
        native.__sleep(10)
        :finished
      rescue error_class
        monotonic
      end
      wait_until_blocked(waiter)
      raised_at = monotonic
      waiter.raise(error_class)
      expect(waiter.value - raised_at).to be < 0.1
    end

    it "is interrupted by Thread#kill within 100 ms" do
      waiter = Thread.new { native.__sleep(10) }
      wait_until_blocked(waiter)
      started = monotonic
      waiter.kill
      expect(waiter.join(5)).to eq(waiter)
      expect(monotonic - started).to be < 0.1
      expect(waiter.status).to be(false)
    end

    it "is interrupted by Timeout.timeout promptly" do
      started = monotonic
      expect { Timeout.timeout(0.1) { native.__sleep(10) } }.to raise_error(Timeout::Error)
      expect(monotonic - started).to be_between(0.1, 0.3)
    end

    it "keeps waiting when a trap handler does not raise" do
      handled = 0
      previous = trap("USR1") { handled += 1 }
      begin
        signaller = Thread.new do
          sleep 0.05
          Process.kill("USR1", Process.pid)
        end
        started = monotonic
        native.__sleep(0.3)
        elapsed = monotonic - started
        signaller.join
        expect(handled).to eq(1)
        expect(elapsed).to be >= 0.3
      ensure
        trap("USR1", previous || "DEFAULT")
      end
    end

    # SIGINT (Ruby's default handler raises Interrupt in the main thread) is tested in a separate
    # process: RSpec traps INT itself. Each case prints the latency from kill to rescue.
    def interrupt_latency(setup)
      output, status = run_ruby(<<~RUBY)
        require "kafka_rs/native"
        trap("INT", "DEFAULT")
        KafkaRs::Native.__sleep(0.001)
        #{setup}
        begin
          KafkaRs::Native.__sleep(10)
          puts "not interrupted"
        rescue Interrupt
          printf("interrupted after %.6f\n", Process.clock_gettime(Process::CLOCK_MONOTONIC) - $sent_at)
        end
      RUBY
      expect(status).to be_success, output
      expect(output).to match(/^interrupted after \d+\.\d+$/), output
      output[/interrupted after (\d+\.\d+)/, 1].to_f
    end

    it "raises Interrupt on SIGINT from another process while the main thread is alone" do
      latency = interrupt_latency(<<~RUBY)
        $sent_at = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 0.1
        Process.spawn("sleep 0.1; kill -INT \#{Process.pid}")
      RUBY
      expect(latency).to be < 0.05
    end

    it "raises Interrupt on SIGINT sent by a thread that then exits" do
      latency = interrupt_latency(<<~RUBY)
        Thread.new { sleep 0.1; $sent_at = Process.clock_gettime(Process::CLOCK_MONOTONIC); Process.kill("INT", $$) }
      RUBY
      expect(latency).to be < 0.05
    end

    it "raises Interrupt on SIGINT while every Ruby thread waits in block_on" do
      latency = interrupt_latency(<<~RUBY)
        Thread.new { KafkaRs::Native.__sleep(10) }
        $sent_at = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 0.1
        Process.spawn("sleep 0.1; kill -INT \#{Process.pid}")
      RUBY
      expect(latency).to be < 0.05
    end

    it "survives a storm of interrupts across threads" do
      error_class = Class.new(StandardError)
      ready = Queue.new
      stop = false
      workers = Array.new(4) do
        Thread.new do
          # Raises are deferred except inside the wait, where they are rescued.
          Thread.handle_interrupt(error_class => :never) do
            ready << true
            completed = 0
            until stop
              begin
                Thread.handle_interrupt(error_class => :immediate) { native.__sleep(0.0005) }
                completed += 1
              rescue error_class
                nil
              end
            end
            begin
              Thread.handle_interrupt(error_class => :immediate) { Thread.pass }
            rescue error_class
              nil # a raise still pending after the loop
            end
            completed
          end
        end
      end
      workers.size.times { ready.pop }
      200.times do
        workers.sample.raise(error_class)
        sleep 0.0005
      end
      stop = true
      expect(workers.map(&:value).sum).to be > 0
      expect(native.__ready).to be_nil
    end

    it "defers Thread#raise under handle_interrupt(:never) and finishes the wait" do
      error_class = Class.new(StandardError)
      waiter = Thread.new do
        Thread.handle_interrupt(error_class => :never) do
          native.__sleep(0.2)
          :finished
        end
      rescue error_class
        :raised_after
      end
      wait_until_blocked(waiter)
      started = monotonic
      waiter.raise(error_class)
      expect(waiter.value).to eq(:raised_after)
      expect(monotonic - started).to be >= 0.1
    end
  end

  describe "process exit" do
    it "is clean while runtime workers are busy allocating" do
      10.times do
        output, status = run_ruby(<<~RUBY, timeout: 10)
          require "kafka_rs/native"
          KafkaRs::Native.__keep_workers_busy(5)
          sleep 0.02
          puts "exiting"
        RUBY
        expect(status).to be_success, "exit status #{status.inspect}, output #{output.inspect}"
        expect(output).to eq("exiting\n")
      end
    end

    it "is prompt while another thread waits in block_on" do
      started = monotonic
      output, status = run_ruby(<<~RUBY, timeout: 10)
        require "kafka_rs/native"
        Thread.new { KafkaRs::Native.__sleep(30) }
        sleep 0.05
        puts "exiting"
      RUBY
      expect(status).to be_success
      expect(output).to eq("exiting\n")
      expect(monotonic - started).to be < 5
    end
  end

  describe "fork" do
    it "works in a child after the parent used the runtime, and the parent keeps working" do
      native.__sleep(0.01)
      pid = fork { exit!(native.__sleep(0.01).nil? ? 0 : 1) }
      expect(wait_child(pid).exitstatus).to eq(0)
      expect(native.__sleep(0.01)).to be_nil
    end

    it "lets a child that never touches the runtime exit normally" do
      native.__sleep(0.001)
      pid = fork { exit(0) }
      expect(wait_child(pid).exitstatus).to eq(0)
    end

    it "works in a child forked while another parent thread was blocked in a wait" do
      blocked = Thread.new { native.__sleep(10) }
      wait_until_blocked(blocked)
      pid = fork do
        code = native.__sleep(0.01).nil? ? 0 : 1
        exit!(code)
      end
      expect(wait_child(pid).exitstatus).to eq(0)
      blocked.kill
      blocked.join
      expect(native.__ready).to be_nil
    end

    it "works in a grandchild" do
      native.__sleep(0.001)
      pid = fork do
        native.__sleep(0.001)
        grandchild = fork { exit!(native.__sleep(0.001).nil? ? 0 : 1) }
        _, status = Process.wait2(grandchild)
        exit!(status.exitstatus)
      end
      expect(wait_child(pid).exitstatus).to eq(0)
    end
  end
end
