# frozen_string_literal: true

module KafkaRs
  # One config of a broker, as returned by {Client#describe_configs} (ruby-kafka's member
  # names):
  #
  # - `name` [String]
  # - `value` [String, nil]: nil when the config has no value or is sensitive
  # - `read_only` [Boolean]: true when it cannot be changed while the broker runs (it is set
  #   only in the broker's server.properties); false for a dynamic config
  # - `is_default` [Boolean]: true when nobody set it (Kafka's default applies)
  # - `is_sensitive` [Boolean]: a password or key, whose value the broker does not reveal
  ConfigEntry = Struct.new(:name, :value, :read_only, :is_default, :is_sensitive)
end
