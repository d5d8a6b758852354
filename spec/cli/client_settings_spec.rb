# frozen_string_literal: true

require_relative "../spec_helper"
require "kafka_rs/cli/client_settings"
require "tmpdir"

# How the `kafka_rs` commands resolve a client's keywords. Connections made with them: the
# command's specs (spec/integration/cli_spec.rb).
RSpec.describe KafkaRs::CLI::ClientSettings do
  around do |example|
    Dir.mktmpdir("client-settings-spec-") do |dir|
      @dir = dir
      Dir.chdir(dir) { example.run }
    end
  end

  def settings(env: {}, **options)
    described_class.new(env: env, **options)
  end

  def write(path, text)
    FileUtils.mkdir_p(File.dirname(path))
    File.write(path, text)
    path
  end

  # An app's config/kafka_rs.yml.
  let(:app_file) { <<~YAML }
    default: &default
      client_id: shop
      connect_timeout: 3
    development:
      <<: *default
      seed_brokers: dev-kafka:9092
    production:
      <<: *default
      seed_brokers: <%= "kafka+ssl://prod-1:9096,kafka+ssl://prod-2:9096" %>
      ssl_ca_cert_file_path: /etc/kafka/ca.pem
      sasl_scram_username: shop
      sasl_scram_password: s3cret
      sasl_scram_mechanism: sha512
    staging:
      ssl_ca_cert_file_path: /etc/kafka/staging-ca.pem
  YAML

  it "without flags, environment or file: localhost:9092, the Configuration's default" do
    expect(settings.client_options).to eq(seed_brokers: "localhost:9092")
    expect(settings.brokers_source).to be_nil
    expect(settings.to_s).to eq("localhost:9092 (the default: no --brokers, KAFKA_BROKERS, config file or KAFKA_URL)")
    expect(settings.config_file).to be_nil
  end

  it "reads config/kafka_rs.yml when there is one, in the section of RAILS_ENV, else RACK_ENV, else development" do
    write("config/kafka_rs.yml", app_file)
    development = settings
    expect(development).to have_attributes(config_file: "config/kafka_rs.yml", environment: "development")
    expect(development.client_options).to eq(seed_brokers: "dev-kafka:9092", client_id: "shop", connect_timeout: 3)
    expect(development.to_s).to eq("dev-kafka:9092 from config/kafka_rs.yml, section development")

    production = settings(env: { "RACK_ENV" => "production", "RAILS_ENV" => " " })
    expect(production.environment).to eq("production")
    expect(production.client_options)
      .to eq(seed_brokers: "kafka+ssl://prod-1:9096,kafka+ssl://prod-2:9096", client_id: "shop", connect_timeout: 3,
             ssl_ca_cert_file_path: "/etc/kafka/ca.pem", sasl_scram_username: "shop", sasl_scram_password: "s3cret",
             sasl_scram_mechanism: "sha512")
    expect(settings(env: { "RACK_ENV" => "production", "RAILS_ENV" => "development" }).environment).to eq("development")
    expect(settings(environment: "production", env: { "RAILS_ENV" => "development" }).client_options[:seed_brokers])
      .to start_with("kafka+ssl://prod-1")
  end

  it "refuses a section the file does not have, naming it and the sections there are" do
    write("config/kafka_rs.yml", app_file)
    expect { settings(environment: "prodution").client_options }
      .to raise_error(KafkaRs::CLI::ConfigError, 'config/kafka_rs.yml has no "prodution" section ' \
                                                 "(it has default, development, production, staging)")
    expect { settings(env: { "RAILS_ENV" => "test" }).client_options }
      .to raise_error(KafkaRs::CLI::ConfigError, /no "test" section/)
  end

  it "takes --config-file FILE instead, or no file at all" do
    write("config/kafka_rs.yml", app_file)
    other = write("elsewhere/kafka.yml", "development:\n  seed_brokers: other:9092\n")
    expect(settings(config_file: other).client_options).to eq(seed_brokers: "other:9092")
    expect(settings(config_file: false).client_options).to eq(seed_brokers: "localhost:9092")
    expect(settings(config_file: false).config_file).to be_nil
  end

  it "names the file in every complaint about it" do
    expect { settings(config_file: "missing.yml").client_options }
      .to raise_error(KafkaRs::CLI::ConfigError, "missing.yml: No such file or directory")
    write("broken.yml", "development: [1\n")
    expect { settings(config_file: "broken.yml").client_options }
      .to raise_error(KafkaRs::CLI::ConfigError, /\APsych::SyntaxError: \(broken\.yml\): did not find expected/)
    write("erb.yml", "development:\n  seed_brokers: <%= Rails.application.credentials.kafka %>\n")
    expect { settings(config_file: "erb.yml").client_options }
      .to raise_error(KafkaRs::CLI::ConfigError, /\Aerb\.yml: NameError: uninitialized constant Rails/)
    write("typo.yml", "development:\n  sead_brokers: k:9092\n")
    expect { settings(config_file: "typo.yml").client_options }
      .to raise_error(KafkaRs::CLI::ConfigError, /\Atypo\.yml \(development\): unknown kafka_rs setting: sead_brokers/)
  end

  it "--brokers, then KAFKA_BROKERS, override the file's seed brokers and KAFKA_URL; the file's other settings stay" do
    write("config/kafka_rs.yml", app_file)
    env = { "RAILS_ENV" => "production", "KAFKA_BROKERS" => "kafka+ssl://env-broker:9096",
            "KAFKA_URL" => "kafka+ssl://url-broker:9096", "KAFKA_TRUSTED_CERT" => "ca-pem" }
    flagged = settings(brokers: "kafka+ssl://flag-broker:9096", env: env)
    expect(flagged.client_options).to include(seed_brokers: "kafka+ssl://flag-broker:9096",
                                              ssl_ca_cert_file_path: "/etc/kafka/ca.pem", sasl_scram_username: "shop")
    expect(flagged.brokers_source).to eq("--brokers")
    from_env = settings(env: env)
    expect(from_env.client_options[:seed_brokers]).to eq("kafka+ssl://env-broker:9096")
    expect(from_env.to_s).to eq("kafka+ssl://env-broker:9096 from KAFKA_BROKERS")
    # KAFKA_URL's certificate variables go with KAFKA_URL only.
    expect(from_env.client_options).not_to have_key(:ssl_ca_cert)
    expect(settings(brokers: " ", env: env.merge("KAFKA_BROKERS" => "")).brokers_source)
      .to eq("config/kafka_rs.yml, section production")
  end

  it "without brokers from a flag or the file: KAFKA_URL with its certificates, as KafkaRs::Configuration reads them" do
    write("config/kafka_rs.yml", app_file)
    env = { "RAILS_ENV" => "staging", "KAFKA_URL" => "kafka+ssl://a:9096,kafka+ssl://b:9096",
            "KAFKA_TRUSTED_CERT" => "ca-pem", "KAFKA_CLIENT_CERT" => "cert-pem", "KAFKA_CLIENT_CERT_KEY" => "key-pem" }
    staging = settings(env: env)
    expect(staging.client_options).to eq(seed_brokers: "kafka+ssl://a:9096,kafka+ssl://b:9096",
                                         ssl_ca_cert_file_path: "/etc/kafka/staging-ca.pem", ssl_ca_cert: "ca-pem",
                                         ssl_client_cert: "cert-pem", ssl_client_cert_key: "key-pem")
    expect(staging.brokers_source).to eq("KAFKA_URL")
    expect(staging.configuration.inspect).not_to include("key-pem")
  end

  it "--ssl-ca-cert FILE sets ssl_ca_cert_file_path over the file's" do
    write("config/kafka_rs.yml", app_file)
    expect(settings(environment: "production", ssl_ca_cert: "/tmp/ca.pem").client_options)
      .to include(ssl_ca_cert_file_path: "/tmp/ca.pem")
  end

  it "applies only its overrides to an app's configuration (a worker that loaded the app)" do
    app = KafkaRs::Configuration.new(env: {})
    app.seed_brokers = "app-kafka:9092"
    app.sasl_plain_username = "app"
    app.producer = { linger_ms: 2 }
    settings(env: {}).apply_overrides(app)
    expect(app.seed_brokers).to eq("app-kafka:9092")
    settings(brokers: "flag:9092", env: {}).apply_overrides(app)
    expect(app.client_options).to eq(seed_brokers: "flag:9092", sasl_plain_username: "app")
    expect(app.producer).to eq(linger_ms: 2)

    write("config/kafka_rs.yml", app_file)
    plain = KafkaRs::Configuration.new(env: {})
    settings.load_file(plain)
    expect(plain.client_options).to eq(seed_brokers: "dev-kafka:9092", client_id: "shop", connect_timeout: 3)
  end
end
