# frozen_string_literal: true

require "rails/generators"
require "yaml"
require "kafka_rs"

module KafkaRs
  module Generators
    # `rails generate kafka_rs:install`: writes config/initializers/kafka_rs.rb and
    # config/kafka_rs.yml with every setting, commented, with its default (read from the
    # classes' own keywords, see KafkaRs::Configuration), and prints the next steps.
    class InstallGenerator < Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)
      desc "Writes config/initializers/kafka_rs.rb and config/kafka_rs.yml (every setting commented with its default)."

      def create_initializer_file
        template "kafka_rs.rb.tt", "config/initializers/kafka_rs.rb"
      end

      def create_config_file
        template "kafka_rs.yml.tt", "config/kafka_rs.yml"
      end

      def show_next_steps
        say <<~TEXT

          kafka_rs is installed. Next:

            1. Point it at your brokers: seed_brokers in config/kafka_rs.yml or the initializer, or
               KAFKA_URL in the environment (with KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT,
               KAFKA_CLIENT_CERT_KEY and KAFKA_PREFIX on hosted plans). Unset: localhost:9092.

            2. Produce from controllers and jobs; it never waits on the network:

                 KafkaRs.produce(order.to_json, topic: "orders", key: order.user_id.to_s)

               The shared producer is safe under Puma's threads and preload_app! forking, with no
               hook to add, and delivers what it holds when the process exits.

            3. In tests, record instead of sending:

                 require "kafka_rs/testing"
                 require "kafka_rs/testing/minitest"   # or "kafka_rs/testing/rspec"
                 KafkaRs::Testing.fake!

                 assert_kafka_produced(topic: "orders", key: "42") { post orders_path, params: { user_id: 42 } }

            4. Delivery failures and rebalances are logged to Rails.logger; for metrics,
               require "kafka_rs/statsd" (ruby-kafka's metric names).
        TEXT
      end

      private

      # A word after some defaults.
      NOTES = {
        seed_brokers: "unset: KAFKA_URL, else localhost:9092",
        logger: "e.g. Rails.logger: the client's own diagnostics (connections, retries, failures in detail)",
        linger_ms: "the shared producer's own default (AsyncProducer's is nil: no time trigger)",
        group_id: "the default group of KafkaRs.consumer",
        prefix: "unset: KAFKA_PREFIX"
      }.freeze

      # Settings whose values are Ruby objects (set them in the initializer).
      RUBY_ONLY = %i[logger interceptors sasl_oauth_token_provider].freeze

      # The sections of the settings: [title, setting (nil for top-level ones), [[name, default], ...]].
      def sections
        [
          ["The client (KafkaRs::Client): connections, timeouts, logging, SASL/TLS.", nil, client_settings],
          ["The shared producer: KafkaRs.producer, KafkaRs.produce (KafkaRs::AsyncProducer's options).", :producer,
           defaults(AsyncProducer, Configuration::PRODUCER_SETTINGS).merge(Configuration::PRODUCER_DEFAULTS).to_a],
          ["The pool's producers: KafkaRs.with_producer (KafkaRs::Producer's options).", :buffered_producer,
           defaults(Producer, Configuration::BUFFERED_PRODUCER_SETTINGS).to_a],
          ["Consumers of KafkaRs.consumer(group_id: ...) (KafkaRs::Consumer's options).", :consumer,
           defaults(Consumer, Configuration::CONSUMER_SETTINGS).to_a],
          ["KafkaRs.pool (with_client, with_producer): entries, and seconds a checkout waits.", nil,
           Configuration::OWN_SETTINGS.slice(:pool_size, :pool_timeout).to_a],
          ["Put in front of every topic and group id (unset: KAFKA_PREFIX).", nil, [[:prefix, nil]]]
        ]
      end

      def client_settings
        defaults(Client, Configuration::CLIENT_SETTINGS).merge(seed_brokers: Configuration::DEFAULT_SEED_BROKERS).to_a
      end

      # Each setting of `names` with the default `klass`'s initialize gives it (nil when required).
      def defaults(klass, names)
        known = Configuration.defaults_of(klass)
        names.to_h { |name| [name, known[name]] }
      end

      # The body of the initializer's configure block.
      def initializer_settings
        sections.map do |(title, group, settings)|
          lines = ["  # #{title}"]
          if group
            lines << "  # config.#{group} = {"
            settings.each { |name, value| lines << note("  #   #{name}: #{ruby(value)},", name) }
            lines << "  # }"
          else
            settings.each { |name, value| lines << note("  # config.#{name} = #{ruby(value)}", name) }
          end
          lines.join("\n")
        end.join("\n\n")
      end

      # The lines of the YAML's default section (client_id set to the app's name).
      def yaml_settings
        sections.map do |(title, group, settings)|
          lines = ["  # #{title}"]
          settings = settings.reject { |(name, _)| RUBY_ONLY.include?(name) || name == :client_id }
          if group
            lines << "  # #{group}:"
            settings.each { |name, value| lines << note("  #   #{name}: #{yaml(value)}", name) }
          else
            settings.each { |name, value| lines << note("  # #{name}: #{yaml(value)}", name) }
          end
          lines.join("\n")
        end.join("\n\n") + "\n  # (logger, interceptors and sasl_oauth_token_provider take Ruby objects: see the initializer.)"
      end

      def note(line, name)
        NOTES.key?(name) ? "#{line}   # #{NOTES[name]}" : line
      end

      def ruby(value)
        return value.text if value.is_a?(Configuration::SourceText)
        return value.to_s.reverse.scan(/\d{1,3}/).join("_").reverse if value.is_a?(Integer) && value >= 10_000

        value.inspect
      end

      def yaml(value)
        return value.text if value.is_a?(Configuration::SourceText)
        return value.to_s if value.is_a?(Symbol)
        return "~" if value.nil?

        YAML.dump(value).delete_prefix("--- ").delete_suffix("\n").delete_suffix("\n...")
      end

      def app_name
        Rails.application ? Rails.application.class.module_parent_name.underscore : File.basename(destination_root)
      end
    end
  end
end
