# frozen_string_literal: true

# Builds the native extension (the Rust crate in this directory) as kafka_rs/kafka_rs.so.
#
# Two routes, same result:
# - With the rb_sys gem installed (the usual case for users who install from RubyGems.org), its
#   `create_rust_makefile` writes the Makefile: the standard route, with rb_sys's options
#   (RB_SYS_CARGO_PROFILE, cross compilation, ...).
# - Without it (an offline machine, `gem install --local`), a plain mkmf Makefile runs cargo
#   itself: `cargo build --locked --release` of the workspace's `kafka_rs` package, then copies
#   the library to $(DLLIB) and installs it into $(RUBYARCHDIR) (= <sitearchdir>/kafka_rs).
#   Set KAFKA_RS_NO_RB_SYS=1 to take this route even when rb_sys is installed.
#
# Either way the build needs cargo/rustc (rust-version in Cargo.toml) and libclang (rb-sys runs
# bindgen against this Ruby's headers). RUBY is exported so that rb-sys binds to the Ruby running
# this script, not the first `ruby` on PATH.

require "mkmf"

EXTENSION = "kafka_rs/kafka_rs"
CRATE = "kafka_rs"

# The workspace root: the gem's root directory, two levels above this file.
workspace = File.expand_path("../..", __dir__)
unless File.exist?(File.join(workspace, "Cargo.toml")) && File.exist?(File.join(workspace, "Cargo.lock"))
  abort "kafka_rs: #{workspace} lacks Cargo.toml or Cargo.lock (both are shipped with the gem)"
end

use_rb_sys =
  begin
    require "rb_sys/mkmf"
    ENV["KAFKA_RS_NO_RB_SYS"].to_s.empty?
  rescue LoadError
    false
  end

if use_rb_sys
  create_rust_makefile(EXTENSION) do |r|
    r.extra_cargo_args += ["--locked"]
  end
else
  find_executable(ENV.fetch("CARGO", "cargo")) or
    abort "kafka_rs: cargo not found; install Rust (https://rustup.rs) to build this gem"

  # RubyGems sets SOURCE_DATE_EPOCH for the build: then the cargo target directory (a few hundred
  # MB) and the build directory's copy of the library are removed once the library is installed.
  # Set CARGO_TARGET_DIR to build in (and keep) a cache of your own.
  invoked_by_rubygems = ENV.key?("SOURCE_DATE_EPOCH")
  target_dir = ENV["CARGO_TARGET_DIR"].to_s.empty? ? File.join(Dir.pwd, "target") : ENV["CARGO_TARGET_DIR"]
  own_target_dir = ENV["CARGO_TARGET_DIR"].to_s.empty?

  rules = <<~MAKE
    CARGO ?= #{ENV.fetch("CARGO", "cargo")}
    export RUBY := #{RbConfig.ruby}
    CARGO_MANIFEST = #{File.join(workspace, "Cargo.toml")}
    CARGO_TARGET = #{target_dir}
    RUSTLIB = $(CARGO_TARGET)/release/lib#{CRATE}.#{RbConfig::CONFIG["SOEXT"] || "so"}
    target_prefix = /#{File.dirname(EXTENSION)}
    TARGET = #{File.basename(EXTENSION)}
    DLLIB = $(TARGET).#{RbConfig::CONFIG["DLEXT"]}
    RUBYARCHDIR = $(sitearchdir)$(target_prefix)
    CLEANLIBS = $(DLLIB)
    CLEANOBJS = #{own_target_dir ? "$(CARGO_TARGET)" : ""}
    CLEANFILES =
    DISTCLEANFILES =

    all: $(DLLIB)
    static install-rb:
    \t@$(NULLCMD)

    # cargo decides what is up to date.
    $(DLLIB): FORCE
    \t$(ECHO) building $(DLLIB) with cargo
    \t$(Q) $(CARGO) build --manifest-path "$(CARGO_MANIFEST)" -p #{CRATE} --lib --locked --release --target-dir "$(CARGO_TARGET)"
    \t$(Q) $(COPY) "$(RUSTLIB)" $@

    install-so: $(DLLIB)
    \t$(ECHO) installing $(DLLIB) to $(RUBYARCHDIR)
    \t$(Q) $(MAKEDIRS) $(RUBYARCHDIR)
    \t$(INSTALL_PROG) $(DLLIB) $(RUBYARCHDIR)

    install: install-so #{invoked_by_rubygems ? "gem-cleanup" : ""}

    gem-cleanup: install-so
    \t-$(Q) $(RM_RF) $(CLEANLIBS) $(CLEANOBJS)

    FORCE:
    .PHONY: all static install install-so install-rb gem-cleanup FORCE
  MAKE

  # `configuration` gives mkmf's variables (sitearchdir, COPY, INSTALL_PROG, ...) as RubyGems
  # expects them; CLEANINGS gives the standard clean/distclean rules.
  File.write("Makefile", [*configuration($srcdir), rules, CLEANINGS].join("\n"))
  message "creating Makefile (cargo, without rb_sys)\n"
end
