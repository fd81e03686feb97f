# A thin wrapper: dependencies, build, run, test. The real build is CMake (CMakeLists.txt, CMakePresets.json).
#   make        build (Release) into build/, the binary is build/agentlog
#   make run    install what is missing, build, and serve this directory on stdio (`agentlog serve`)
#   make test   install what is missing, build, and run every test (ctest, incl. the MCP SDK client test)
#   make bench  build and run the benchmarks (see bench/README.md)

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
SDK_DIR := tests/sdk

APT_PACKAGES := build-essential cmake pkg-config git nlohmann-json3-dev libclang-dev clang libspdlog-dev \
  libcli11-dev doctest-dev libsqlite3-dev libsimdjson-dev libvalijson-dev libre2-dev libssl-dev zlib1g-dev \
  libcurl4-openssl-dev libcpp-httplib-dev libjemalloc-dev libbenchmark-dev ripgrep hyperfine wrk uftrace chromium valgrind strace

.PHONY: all build deps configure run test bench clean sdk-deps

all: build

# Only what is not installed is asked for. Node may come from Debian (nodejs + npm) or from
# NodeSource (nodejs bundles npm and conflicts with Debian's npm), so it is checked by command.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing missing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "Missing packages. Run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

sdk-deps:
	@if [ ! -d $(SDK_DIR)/node_modules/@modelcontextprotocol/sdk ]; then \
	  echo "Installing the pinned MCP SDK for tests..."; \
	  cd $(SDK_DIR) && npm ci --no-audit --no-fund --loglevel=error; \
	fi

run: build
	@$(BUILD_DIR)/agentlog serve

test: build sdk-deps
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: build
	bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
