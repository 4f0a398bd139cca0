# The two newcomer commands (see README): `make demo` and `make test`.
# Both install missing Debian packages, configure and build first.
# CI sets CI=true, which selects the preset that turns warnings into errors.
# CI also runs `make sanitize` (the whole suite under ASan + UBSan) and
# `make fuzz` (a short libFuzzer run of each parser target, with clang).
PRESET ?= $(if $(CI),ci,dev)
BUILD_DIR := build/$(PRESET)
# Seconds each fuzz target runs under `make fuzz`.
FUZZ_SECONDS ?= 30

.PHONY: demo test build deps sanitize fuzz bench deb clean

demo: build
	$(BUILD_DIR)/daemon/rostersync demo

test: build
	ctest --preset $(PRESET)

build: deps
	cmake --preset $(PRESET)
	cmake --build --preset $(PRESET)

deps:
	scripts/install-deps

# Not a test: prints a table of timings against the simulator (see README).
bench: build
	$(BUILD_DIR)/bench/rostersync-bench $(BUILD_DIR)/daemon

sanitize: deps
	cmake --preset asan
	cmake --build --preset asan
	ctest --preset asan

fuzz:
	scripts/install-deps fuzz
	cmake --preset fuzz -DROSTERSYNC_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build --preset fuzz
	ctest --preset fuzz

# The Debian package, built with dpkg-buildpackage (debian/), checked by
# lintian (no errors allowed) and by tests/check-package.sh (layout, modes,
# maintainer scripts' effects in a scratch root); the .deb lands in build/deb/.
deb:
	scripts/install-deps package
	scripts/build-deb build/deb

clean:
	rm -rf build
