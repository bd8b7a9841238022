# pkie: the user-facing commands. The build itself is CMake + CTest.
#   make deps    install the Debian packages that are missing
#   make build   build into build/ (build/pkie, build/exits/<name>.so)
#   make demo    build, then CA + two monitors with the CMP exit on 127.0.0.1
#   make check   deps, then format check, normal and sanitizer builds with
#                every test, and a short burst of every fuzz target
#   make bench   run the benchmarks in bench/ (each beside its baseline)
#   make format  clang-format the sources
#   make install install pkie, header, library, exits, pkg-config file,
#                systemd units and the pkie user's sysusers.d entry (PREFIX)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local

.PHONY: all deps build check bench format install clean demo

all: build

deps:
	@sh scripts/deps.sh

build/CMakeCache.txt:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: build/CMakeCache.txt
	cmake --build build -j$(JOBS)

demo: deps build
	@sh scripts/demo.sh

check: deps
	@sh scripts/check.sh

bench: deps build
	@sh bench/run.sh

format:
	@sh scripts/format.sh

install: build
	cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-fuzz
