# frozen_string_literal: true

require "json"

module KafkaRs
  # SASL options of {Client} (ruby-kafka's names), checked here and handed to the native client
  # once. Passwords and tokens go straight to the native client: no Ruby object of kafka_rs keeps
  # them, and no message or `inspect` shows them.
  #
  # OAUTHBEARER: the token provider (an object with `#token`, and optionally `#extensions`, as in
  # ruby-kafka) is only ever called on Ruby threads: once when the client is created (so a
  # provider that fails makes `KafkaRs.new` fail), then by the client's refresher thread
  # ("kafka_rs-oauth"), which waits natively until the core wants a fresh token: at 80% of the
  # token's life (its JWT `exp` claim, or the session lifetime the broker announced for it), when
  # a connection finds it expired, or after the broker refused it. New connections wait for the
  # fresh token (up to `connect_timeout`); connections already open keep their sessions.
  module Sasl
    SCRAM_MECHANISMS = { "sha256" => "SCRAM-SHA-256", "sha512" => "SCRAM-SHA-512" }.freeze

    # What {Client} hands to the native client: the SASL mechanism name and its arguments.
    Settings = Struct.new(:mechanism, :username, :password, :authzid, :token_provider) do
      def inspect
        "#<KafkaRs::Sasl::Settings #{mechanism}#{" user=#{username}" if username}>"
      end
      alias_method :to_s, :inspect
    end

    class << self
      # Checks the SASL options; returns nil when SASL is not configured.
      #
      # @param tls [Boolean] whether the client's connections use TLS
      # @return [Settings, nil]
      # @raise [ArgumentError, TypeError] naming the option at fault (never printing a secret)
      def settings!(plain_authzid:, plain_username:, plain_password:, scram_username:, scram_password:,
                    scram_mechanism:, oauth_token_provider:, over_ssl:, tls:)
        unless [true, false].include?(over_ssl)
          raise TypeError, "sasl_over_ssl must be true or false, got #{over_ssl.class}"
        end

        plain = !plain_username.nil? || !plain_password.nil?
        scram = !scram_username.nil? || !scram_password.nil? || !scram_mechanism.nil?
        oauth = !oauth_token_provider.nil?
        chosen = { "sasl_plain_*" => plain, "sasl_scram_*" => scram, "sasl_oauth_token_provider" => oauth }
                 .select { |_, on| on }.keys
        if chosen.size > 1
          raise ArgumentError, "only one SASL mechanism may be configured, got #{chosen.join(' and ')}"
        end

        authzid = plain_authzid.nil? ? "" : string!(plain_authzid, "sasl_plain_authzid", allow_empty: true)
        if !authzid.empty? && !plain
          raise ArgumentError, "sasl_plain_authzid needs sasl_plain_username and sasl_plain_password"
        end
        return nil if chosen.empty?

        settings =
          if plain
            Settings.new("PLAIN", string!(plain_username, "sasl_plain_username", pair: "sasl_plain_password"),
                         string!(plain_password, "sasl_plain_password", pair: "sasl_plain_username"), authzid)
          elsif scram
            Settings.new(scram_mechanism!(scram_mechanism),
                         string!(scram_username, "sasl_scram_username", pair: "sasl_scram_password"),
                         string!(scram_password, "sasl_scram_password", pair: "sasl_scram_username"))
          else
            unless oauth_token_provider.respond_to?(:token)
              raise TokenMethodNotImplementedError,
                    "sasl_oauth_token_provider must respond to #token, got #{oauth_token_provider.class}"
            end
            Settings.new("OAUTHBEARER", nil, nil, nil, oauth_token_provider)
          end
        if over_ssl && !tls
          raise ArgumentError, "SASL #{settings.mechanism} without TLS sends credentials the network can read: " \
                               "configure TLS, or pass sasl_over_ssl: false to allow it"
        end
        settings
      end

      # Configures the native client; for OAUTHBEARER, pulls the first token and starts the
      # refresher. Returns the refresher, or nil.
      #
      # @return [OAuthRefresher, nil]
      def configure(native, settings, client)
        native.configure_sasl(settings.mechanism, settings.username, settings.password, settings.authzid)
        return nil unless settings.token_provider

        OAuthRefresher.new(native, settings.token_provider, client)
      end

      # Seconds until a JWT's `exp` claim, or nil when the token is not a JWT with one. The
      # signature is not checked: the broker validates the token, this only schedules refreshes.
      #
      # @param token [String]
      # @return [Float, nil]
      def jwt_expires_in(token, now: Time.now)
        payload = token.split(".", 3)[1]
        return nil if payload.nil? || payload.empty?

        claims = JSON.parse(payload.tr("-_", "+/").unpack1("m"))
        exp = claims["exp"] if claims.is_a?(Hash)
        exp.is_a?(Numeric) ? [exp - now.to_f, 0.0].max : nil
      rescue JSON::ParserError, ArgumentError, EncodingError
        nil
      end

      private

      def string!(value, name, pair: nil, allow_empty: false)
        raise ArgumentError, "#{name} is required with #{pair}" if value.nil?
        raise TypeError, "#{name} must be a String, got #{value.class}" unless value.is_a?(String)
        raise ArgumentError, "#{name} must not be empty" if value.empty? && !allow_empty

        value
      end

      def scram_mechanism!(value)
        if value.nil?
          raise ArgumentError, 'sasl_scram_mechanism is required with sasl_scram_username ("sha256" or "sha512")'
        end
        unless value.is_a?(String) || value.is_a?(Symbol)
          raise TypeError, "sasl_scram_mechanism must be a String, got #{value.class}"
        end

        SCRAM_MECHANISMS.fetch(value.to_s) do
          raise ArgumentError, %(sasl_scram_mechanism must be "sha256" or "sha512", got #{value.to_s.inspect})
        end
      end
    end

    # Keeps the native client's OAUTHBEARER token fresh from a Ruby thread (see {Sasl}).
    class OAuthRefresher
      # How long one native wait lasts before the thread looks again (it wakes at once when a
      # token is wanted or the client closes).
      WAIT = 30.0
      # Pause after the provider raised, before it is asked again.
      RETRY_PAUSE = 1.0

      # Pulls the first token on the calling thread and starts the refresher thread.
      def initialize(native, provider, client)
        @native = native
        @provider = provider
        @client = client
        @lock = Mutex.new
        @thread = nil
        @pid = nil
        push_token
        ensure_running
      end

      # Starts the thread if it is not running in this process (it does not survive fork).
      def ensure_running
        return if @pid == Process.pid && @thread&.alive?

        @lock.synchronize do
          next if @pid == Process.pid && @thread&.alive?

          @pid = Process.pid
          @thread = Thread.new { run }
          @thread.name = "kafka_rs-oauth"
          @thread.report_on_exception = false
        end
      end

      # Waits briefly for the thread to see the closed client and stop.
      def stop
        thread = @thread
        thread.join(1) if thread && thread != Thread.current && @pid == Process.pid
        nil
      end

      def inspect
        "#<#{self.class.name} #{@provider.class}>"
      end

      private

      def run
        loop do
          wanted = @native.oauth_wait_refresh(WAIT)
          break if wanted.nil?
          next unless wanted

          begin
            push_token
          rescue StandardError => e
            log_error(e)
            sleep RETRY_PAUSE
          end
        end
      rescue ClientClosed
        nil
      end

      def push_token
        token = @provider.token
        unless token.is_a?(String)
          raise TypeError, "sasl_oauth_token_provider#token must return a String, got #{token.class}"
        end

        @native.push_oauth_token(token, extensions, Sasl.jwt_expires_in(token))
      end

      def extensions
        return [] unless @provider.respond_to?(:extensions)

        ext = @provider.extensions
        return [] if ext.nil?
        raise TypeError, "sasl_oauth_token_provider#extensions must return a Hash, got #{ext.class}" unless ext.respond_to?(:to_h)

        ext.to_h.map { |k, v| [k.to_s, v.to_s] }
      end

      def log_error(error)
        logger = @client.logger
        message = "sasl_oauth_token_provider: no fresh token (#{error.class}: #{error.message}); " \
                  "asking again in #{RETRY_PAUSE} s"
        logger ? logger.error("kafka_rs") { message } : Kernel.warn("kafka_rs: #{message}")
      rescue StandardError
        nil
      end
    end
  end
end
