# frozen_string_literal: true

require "rails/railtie"
require_relative "../kafka_rs"

module KafkaRs
  # Loaded by `require "kafka_rs"` in a Rails app (Bundler.require does that for the Gemfile's
  # `gem "kafka_rs"`):
  #
  # - instrumentation events go through ActiveSupport::Notifications;
  # - config/kafka_rs.yml (the section of Rails.env, ERB first) is read before
  #   config/initializers/*, so an initializer's KafkaRs.configure has the last word;
  # - KafkaRs::LogSubscriber writes delivery failures and rebalances to Rails.logger
  #   (`config.kafka_rs.log_subscriber = false` turns that off);
  # - `rails generate kafka_rs:install` writes both files;
  # - with ActiveJob, `config.active_job.queue_adapter = :kafka_rs` finds its adapter and job
  #   classes have `kafka_key` (see KafkaRs::Jobs).
  #
  # Nothing else is needed for Puma (threads or cluster mode with preload_app!), Unicorn or
  # Sidekiq: the shared producer is thread-safe, rebuilt in forked workers and flushed at exit.
  class Railtie < Rails::Railtie
    config.kafka_rs = ActiveSupport::OrderedOptions.new
    config.kafka_rs.config_file = "config/kafka_rs.yml"
    config.kafka_rs.log_subscriber = true

    initializer "kafka_rs.instrumentation" do
      KafkaRs::Instrumenter.backend = ActiveSupport::Notifications
    end

    initializer "kafka_rs.configuration", before: :load_config_initializers do |app|
      path = app.root.join(app.config.kafka_rs.config_file)
      KafkaRs.configure { |c| c.load_yaml(path, Rails.env) } if path.exist?
    end

    # Before ActiveJob applies config.active_job.queue_adapter (which looks the adapter's class
    # up by name).
    initializer "kafka_rs.active_job", before: "active_job.set_configs" do
      require_relative "active_job" if defined?(::ActiveJob::Railtie)
    end

    initializer "kafka_rs.log_subscriber", after: :initialize_logger do |app|
      KafkaRs::LogSubscriber.attach(Rails.logger) if app.config.kafka_rs.log_subscriber && Rails.logger
    end
  end
end
