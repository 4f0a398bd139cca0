# The two newcomer commands (see README): `make demo` and `make test`.
# Both install missing Debian packages, configure and build first.
# CI sets CI=true, which selects the preset that turns warnings into errors.
PRESET ?= $(if $(CI),ci,dev)
BUILD_DIR := build/$(PRESET)

.PHONY: demo test build deps clean

demo: build
	$(BUILD_DIR)/daemon/rostersync demo

test: build
	ctest --preset $(PRESET)

build: deps
	cmake --preset $(PRESET)
	cmake --build --preset $(PRESET)

deps:
	scripts/install-deps

clean:
	rm -rf build
