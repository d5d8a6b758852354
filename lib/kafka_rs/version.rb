# frozen_string_literal: true

module KafkaRs
  # The gem's version; the native extension reports its crate version as KafkaRs::Native::VERSION
  # (both come from the same release and must match).
  VERSION = "0.1.0"
end
