# frozen_string_literal: true

# Loads the compiled extension, which defines KafkaRs::Native (VERSION, ERROR_CODES and the native
# classes the Ruby API wraps).
#
# `kafka_rs/kafka_rs` is found in lib/kafka_rs/ after `rake compile`, or in the gem's extension
# directory (RUBYARCHDIR/kafka_rs/) after `gem install`.

require_relative "version"
require "kafka_rs/kafka_rs"

if KafkaRs::Native::VERSION != KafkaRs::VERSION
  warn "kafka_rs: native extension #{KafkaRs::Native::VERSION} does not match the Ruby code " \
       "#{KafkaRs::VERSION}; rebuild it (rake compile, or reinstall the gem)"
end
