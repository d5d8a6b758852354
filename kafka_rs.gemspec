# frozen_string_literal: true

require_relative "lib/kafka_rs/version"

Gem::Specification.new do |spec|
  spec.name = "kafka_rs"
  spec.version = KafkaRs::VERSION
  spec.authors = ["kafka_rs contributors"]
  spec.summary = "Apache Kafka client for Ruby with a Rust (tokio) core"
  spec.description = "A Kafka client whose protocol, connections and batching are implemented in " \
                     "Rust on tokio and exposed to MRI through magnus; the Ruby API follows ruby-kafka."
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"

  # The crate of the native extension, for tools that read it (rb_sys, rake-compiler-dock).
  spec.metadata["cargo_crate_name"] = "kafka_rs"

  # The extension is compiled at install time: it needs Rust (cargo) and libclang.
  spec.extensions = ["ext/kafka_rs/extconf.rb"]

  # Ruby code, the two crates of the Cargo workspace (binding and core) with the workspace's
  # Cargo.toml and Cargo.lock (the build runs `cargo build --locked`). Fuzz targets and build
  # output are left out.
  root = __dir__
  spec.files = Dir.chdir(root) do
    files = Dir["lib/**/*.rb", "lib/generators/**/templates/*.tt", "exe/*", "ext/**/*", "Cargo.toml", "Cargo.lock",
                "README.md", "LICENSE*"]
    files.reject do |f|
      File.directory?(f) ||
        f.match?(%r{\Aext/[^/]+/(fuzz|target)/}) ||
        f.match?(%r{(\A|/)(Makefile|mkmf\.log)\z}) ||
        f.match?(/\.(so|bundle|dylib|o|gem)\z/)
    end.sort
  end
  spec.require_paths = ["lib"]

  # The operator command (`kafka_rs topics|groups|lag|tail|produce`, see lib/kafka_rs/cli.rb).
  spec.bindir = "exe"
  spec.executables = ["kafka_rs"]

  # rb_sys is deliberately not a runtime dependency. extconf.rb uses it when it is installed
  # (the standard `create_rust_makefile` route), and otherwise writes a Makefile that runs cargo
  # itself, so the gem also installs with `gem install --local` where RubyGems.org cannot be
  # reached. A runtime dependency would make that install fail, and buys nothing at run time.
  # KafkaRs.pool / with_client / with_producer (Debian: ruby-connection-pool).
  # ConnectionPool.new(size:, timeout:) { } and #with, the same in 2.x and 3.x.
  spec.add_dependency "connection_pool", ">= 2.2", "< 4"

  spec.add_development_dependency "rake", "~> 13.0"
  spec.add_development_dependency "rspec", "~> 3.10"
end
