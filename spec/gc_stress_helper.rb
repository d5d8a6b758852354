# frozen_string_literal: true

# Runs the public API and the native classes under GC.stress, to catch Ruby objects that the
# binding holds without the GC seeing them (a collection, or a compaction, at every allocation).
#
#   KAFKA_RS_GC_STRESS=1 rspec -r ./spec/gc_stress_helper.rb
#
# KAFKA_RS_GC_STRESS: "1"/"true" for GC.stress = true, or an Integer of GC.stress flags
#   (0x01 minor GCs only, 0x02 immediate sweep, 0x04 full mark after malloc), e.g. 0x06.
# KAFKA_RS_GC_COMPACT=1: also compact the heap (GC.verify_compaction_references, which moves
#   every movable object and checks references) before and after each native call made while no
#   other Ruby thread exists. (Ruby 3.1.2 itself crashes when a thread compacts while others are
#   being sent Thread#raise: reproduced with this helper around a plain `sleep`, kafka_rs not
#   loaded.)
# KAFKA_RS_GC_AUTO_COMPACT=1: GC.auto_compact = true while stressed (a compaction in every major
#   GC, from whichever thread allocates: meant for single-threaded spec files, see above).
#
# Without KAFKA_RS_GC_STRESS this file does nothing. GC.stress makes everything about 100x slower,
# so it is turned on only around calls of the wrapped classes, and only by the outermost one (a
# nested call leaves it on). GC.stress is process-wide: while one thread is in a wrapped call,
# every thread collects at each allocation, so the examples that assert latencies or parallelism
# (TIMING_EXAMPLES) cannot pass under it and are skipped; KAFKA_RS_GC_STRESS_TIMING=1 runs them
# anyway.

lib = File.expand_path("../lib", __dir__)
$LOAD_PATH.unshift(lib) unless $LOAD_PATH.include?(lib)
require "kafka_rs"

module KafkaRsGcStress
  FLAG = ENV.fetch("KAFKA_RS_GC_STRESS", "")
  ENABLED = !FLAG.empty? && FLAG != "0" && FLAG != "false"
  STRESS = FLAG.match?(/\A(?:0x\h+|\d+)\z/) && Integer(FLAG) > 1 ? Integer(FLAG) : true
  COMPACT = ENV["KAFKA_RS_GC_COMPACT"] == "1" && GC.respond_to?(:verify_compaction_references)
  AUTO_COMPACT = ENV["KAFKA_RS_GC_AUTO_COMPACT"] == "1" && GC.respond_to?(:auto_compact=)
  # Examples whose assertions are timings (latency of an interrupt, waits that overlap).
  TIMING_EXAMPLES = [
    "GVL release, interrupts and fork is interrupted by Thread#raise promptly, and the client keeps working",
    "GVL release, interrupts and fork is interrupted by Timeout.timeout",
    "KafkaRs::Native block_on (the GVL helper) runs waits of several threads in parallel",
    "KafkaRs::Native block_on (the GVL helper) is interrupted by Thread#raise within 100 ms",
    "KafkaRs::Native block_on (the GVL helper) is interrupted by Timeout.timeout promptly",
    "KafkaRs::Native block_on (the GVL helper) defers Thread#raise under handle_interrupt(:never) and finishes the wait"
  ].freeze
  PID = Process.pid

  class << self
    attr_accessor :calls

    # Runs the block with GC.stress on, unless it already is (then the outer call restores it).
    def stressed
      return yield if GC.stress

      auto = GC.auto_compact if AUTO_COMPACT
      begin
        GC.auto_compact = true if AUTO_COMPACT
        GC.stress = STRESS
        yield
      ensure
        GC.stress = false
        GC.auto_compact = auto if AUTO_COMPACT
      end
    end

    # Moves every movable object (and checks the heap's references), with GC.stress off.
    def compact
      return unless COMPACT && Thread.list.size == 1

      stress = GC.stress
      GC.stress = false
      GC.verify_compaction_references(double_heap: true, toward: :empty)
    ensure
      GC.stress = stress unless stress.nil?
    end

    # A module that wraps `names` (methods of the prepending class) in {stressed}.
    def wrapper(names, native:)
      Module.new do
        names.each do |name|
          define_method(name) do |*args, **kwargs, &block|
            KafkaRsGcStress.calls += 1
            KafkaRsGcStress.compact if native
            result = KafkaRsGcStress.stressed { super(*args, **kwargs, &block) }
            KafkaRsGcStress.compact if native
            result
          end
        end
      end
    end

    def wrap(klass, native: false)
      klass.prepend(wrapper(klass.public_instance_methods(false), native: native))
      klass.singleton_class.prepend(wrapper(klass.singleton_class.public_instance_methods(false),
                                            native: native))
    end
  end
  self.calls = 0

  if ENABLED
    wrap(KafkaRs::Client)
    wrap(KafkaRs::Producer)
    wrap(KafkaRs::Native::Client, native: true)
    wrap(KafkaRs::Native::Producer, native: true)
    # KafkaRs::Native's module functions (the test hooks): singleton methods of the module.
    KafkaRs::Native.singleton_class.prepend(
      wrapper(KafkaRs::Native.singleton_class.public_instance_methods(false), native: true)
    )
    at_exit do
      if Process.pid == PID # not in forked children
        warn "kafka_rs: GC.stress=#{STRESS.inspect} around #{calls} calls" \
             "#{' (compacting around native calls)' if COMPACT}#{' (auto_compact)' if AUTO_COMPACT}"
      end
    end
    if defined?(RSpec) && RSpec.respond_to?(:configure) && ENV["KAFKA_RS_GC_STRESS_TIMING"] != "1"
      RSpec.configure do |config|
        config.before do |example|
          skip "asserts timings, which GC.stress distorts" if TIMING_EXAMPLES.include?(example.full_description)
        end
      end
    end
  end
end
