# frozen_string_literal: true

require_relative "boot"
require "rails"
require "action_controller/railtie"

# Requires kafka_rs (the Gemfile's gem "kafka_rs"), which loads its Railtie.
Bundler.require(*Rails.groups)

module Shop
  # A minimal API app: one controller that produces order events through KafkaRs.producer.
  class Application < Rails::Application
    config.load_defaults 6.1
    config.api_only = true
    config.eager_load = Rails.env.production?
    config.secret_key_base = ENV.fetch("SECRET_KEY_BASE") { "shop-#{Rails.env}-only-secret" * 4 }
    config.logger = ActiveSupport::Logger.new($stdout) if ENV["RAILS_LOG_TO_STDOUT"]
    config.hosts.clear

    # One event from the preloading master (Puma cluster mode) before it forks its workers: it
    # must be delivered once, by the master, never by a worker.
    config.after_initialize do
      KafkaRs.produce("booted #{Process.pid}", topic: "boot") if ENV["SHOP_BOOT_EVENT"]
    end
  end
end
