# frozen_string_literal: true

require "time"

module RouterMetrics
  # Reads `application/logplex-1` bodies: the batches a hosting platform's HTTPS log drain POSTs.
  #
  # A body is a run of octet-counted frames (RFC 6587, section 3.4.1): the length of the syslog
  # message in bytes, a space, then exactly that many bytes:
  #
  #   83 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed from starting to up\n
  #
  # Each message has an RFC 5424 header without structured data, as the platform writes it:
  # `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID MSG`. Router lines come from APP-NAME
  # "heroku" and PROCID "router"; the app's own output from APP-NAME "app" and its dyno
  # ("web.1"). In this pipeline HOSTNAME names the app a line belongs to.
  #
  # A frame that cannot be read is counted as a {Malformed} entry and skipped; the other frames of
  # the batch are still returned. When the length prefix itself is broken the frame's end is
  # unknown: reading resumes after the next newline (every logplex message ends with one).
  module Logplex
    # One syslog message. `timestamp` is a UTC Time (nil for the NILVALUE "-"); `message` is the
    # MSG part without its trailing newline; `raw` the whole syslog message (what is produced to
    # Kafka), also without the trailing newline. Strings are UTF-8 tagged (not validated).
    Frame = Struct.new(:priority, :version, :timestamp, :hostname, :app_name, :procid, :msgid, :message, :raw,
                       keyword_init: true) do
      # @return [String] the app the line belongs to (the syslog HOSTNAME)
      def app
        hostname
      end

      # @return [Boolean] whether this is a line of the platform's HTTP router
      def router?
        app_name == "heroku" && procid == "router"
      end
    end

    # A frame that was skipped: why, where it started in the body (byte offset), and its first
    # bytes (for a log line).
    Malformed = Struct.new(:reason, :position, :excerpt) do
      def to_s
        "#{reason} at byte #{position}: #{excerpt.inspect}"
      end
    end

    # What {Logplex.parse} found in a body.
    Batch = Struct.new(:frames, :malformed) do
      # @return [Integer] frames read plus frames skipped (what `Logplex-Msg-Count` should say)
      def count
        frames.size + malformed.size
      end
    end

    # Longest length prefix accepted (6 digits: under 1 MB per message).
    MAX_LENGTH_DIGITS = 6
    EXCERPT_BYTES = 60

    HEADER = /\A<(\d{1,3})>([1-9]\d?) (\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32})(?: |\z)/n
    LENGTH = /\G(\d{1,#{MAX_LENGTH_DIGITS}}) /n
    # RFC 3339 as RFC 5424 restricts it: full date, full time, optional fraction, Z or an offset.
    TIMESTAMP = /\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)\z/
    SEPARATORS = ["\n", "\r", " "].freeze

    module_function

    # Splits a body into frames.
    #
    # @param body [String] the request body (any encoding; read as bytes)
    # @return [Batch]
    def parse(body)
      frames = []
      malformed = []
      each_frame(body, malformed) { |frame| frames << frame }
      Batch.new(frames, malformed)
    end

    # Yields each readable frame of a body in order; appends a {Malformed} to `malformed` for
    # each skipped one.
    #
    # @yieldparam frame [Frame]
    # @return [Array<Malformed>] `malformed`
    def each_frame(body, malformed = [])
      bytes = body.b
      pos = 0
      size = bytes.bytesize
      while pos < size
        # Tolerate separators between frames (some senders add a newline after each).
        if SEPARATORS.include?(bytes.byteslice(pos, 1))
          pos += 1
          next
        end

        length = LENGTH.match(bytes, pos)
        if length.nil? || length.begin(0) != pos
          malformed << Malformed.new("bad length prefix", pos, excerpt(bytes, pos))
          pos = resync(bytes, pos)
          next
        end

        start = length.end(0)
        count = Integer(length[1], 10)
        if count.zero? || start + count > size
          reason = count.zero? ? "empty frame" : "frame of #{count} bytes exceeds the body (#{size - start} left)"
          malformed << Malformed.new(reason, pos, excerpt(bytes, pos))
          pos = resync(bytes, pos)
          next
        end

        frame = parse_message(bytes.byteslice(start, count))
        if frame.is_a?(Frame)
          yield frame
        else
          malformed << Malformed.new(frame, pos, excerpt(bytes, pos))
        end
        pos = start + count
      end
      malformed
    end

    # Reads one syslog message (without its length prefix).
    #
    # @param message [String]
    # @return [Frame, String] the frame, or why it is malformed
    def parse_message(message)
      message = message.b
      message = message.byteslice(0, message.bytesize - 1) if message.end_with?("\n")
      header = HEADER.match(message)
      return "bad syslog header" unless header

      priority = Integer(header[1], 10)
      return "priority #{priority} out of range" if priority > 191

      timestamp = header[3]
      time = nil
      unless timestamp == "-"
        return "bad timestamp" unless TIMESTAMP.match?(timestamp)

        time = begin
          Time.iso8601(timestamp).utc
        rescue ArgumentError
          return "bad timestamp"
        end
      end

      raw = message.force_encoding(Encoding::UTF_8)
      Frame.new(priority: priority, version: Integer(header[2], 10), timestamp: time,
                hostname: utf8(header[4]), app_name: utf8(header[5]), procid: utf8(header[6]),
                msgid: utf8(header[7]), message: raw.byteslice(header.end(0), raw.bytesize - header.end(0)),
                raw: raw)
    end

    # Builds the body a drain would send for these syslog messages (the load generator's and the
    # specs' writer).
    #
    # @param messages [Array<String>] syslog messages without length prefix or trailing newline
    # @return [String] a binary String
    def frame(messages)
      messages.map do |m|
        line = "#{m.b}\n".b
        "#{line.bytesize} ".b << line
      end.join.b
    end

    # A syslog message as the platform writes it.
    #
    # @param time [Time]
    # @return [String]
    def message(time:, hostname:, app_name:, procid:, text:, priority: 158, msgid: "-")
      "<#{priority}>1 #{time.getutc.iso8601(6)} #{hostname} #{app_name} #{procid} #{msgid} #{text}"
    end

    def resync(bytes, pos)
      newline = bytes.index("\n", pos)
      newline ? newline + 1 : bytes.bytesize
    end

    def excerpt(bytes, pos)
      bytes.byteslice(pos, EXCERPT_BYTES).force_encoding(Encoding::UTF_8).scrub
    end

    def utf8(string)
      string.force_encoding(Encoding::UTF_8)
    end
  end
end
