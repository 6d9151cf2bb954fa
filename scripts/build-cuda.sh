#!/usr/bin/env bash
#! Builds the `cuda` binary that starts on any Linux machine: with an NVIDIA GPU, its driver and
#! CUDA 13's libraries it runs the models there; without them it runs on the CPU and says so in
#! one line (issue #17).
#!
#!   scripts/build-cuda.sh [viewer]     (the CLI by default; `viewer`: the app, --features viewer,cuda)
#!
#! candle 0.11 turns on cudarc's `dynamic-linking` (the binary then needs libcuda, cuBLAS, cuRAND
#! and NVRTC to *start*) and candle-kernels links cudart dynamically. This script builds against
#! two patched copies, made here from the crates.io packages in cargo's cache and never committed:
#!   - candle-core 0.11.1: cudarc's `dynamic-linking` becomes `dynamic-loading` (the libraries are
#!     opened with dlopen when a GPU is first asked for; `model::device` turns a missing one into
#!     the CPU fall-back);
#!   - candle-kernels 0.11.1: its static kernels link `cudart_static` (which itself opens libcuda
#!     with dlopen) instead of `libcudart.so`.
#! The patch reaches cargo through `--config` (a `[patch.crates-io]` table), so the CPU build and
#! CI use the crates as published; Cargo.lock is put back as it was after the build.
#! Output: target/cuda/release/spatia, and dist/spatia-cuda (stripped) + dist/spatia-cuda.xz
#! (for copying to a GPU machine, scripts/gpu-check.sh); with `viewer`, dist/spatia-cuda-viewer.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

# shellcheck source=scripts/cuda-env.sh
. scripts/cuda-env.sh

patch_dir="$root/target/cuda-patch"
mkdir -p "$patch_dir"
cargo fetch --quiet
registry_cache=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/ | head -n 1)

# unpack NAME VERSION: a fresh copy of the published package under $patch_dir/NAME.
unpack() {
    local crate="$registry_cache/$1-$2.crate"
    [ -f "$crate" ] || { echo "build-cuda: $crate is missing (cargo fetch did not bring it)" >&2; exit 1; }
    rm -rf "${patch_dir:?}/$1" "$patch_dir/$1-$2"
    tar -xzf "$crate" -C "$patch_dir"
    mv "$patch_dir/$1-$2" "$patch_dir/$1"
}
# expect FILE TEXT: the patch took (the package changed under us otherwise).
expect() {
    grep -qF -- "$2" "$1" || { echo "build-cuda: patching $1 failed (no '$2')" >&2; exit 1; }
}

unpack candle-core 0.11.1
sed -i 's/^    "dynamic-linking",$/    "dynamic-loading",/' "$patch_dir/candle-core/Cargo.toml"
expect "$patch_dir/candle-core/Cargo.toml" '"dynamic-loading",'
if grep -qF '"dynamic-linking"' "$patch_dir/candle-core/Cargo.toml"; then
    echo "build-cuda: candle-core still asks for dynamic-linking" >&2
    exit 1
fi

unpack candle-kernels 0.11.1
sed -i 's|println!("cargo:rustc-link-lib=dylib=cudart");|println!("cargo:rustc-link-search=native={}/lib", env::var("CUDA_HOME").unwrap_or_default()); println!("cargo:rustc-link-lib=static=cudart_static"); println!("cargo:rustc-link-lib=dylib=rt"); println!("cargo:rustc-link-lib=dylib=dl");|' \
    "$patch_dir/candle-kernels/build.rs"
expect "$patch_dir/candle-kernels/build.rs" 'static=cudart_static'

cat >"$patch_dir/config.toml" <<EOF
[patch.crates-io]
candle-core = { path = "$patch_dir/candle-core" }
candle-kernels = { path = "$patch_dir/candle-kernels" }
EOF

cp Cargo.lock "$patch_dir/Cargo.lock.orig"
trap 'cp "$patch_dir/Cargo.lock.orig" "$root/Cargo.lock"' EXIT

features=cuda
default=--no-default-features
name=spatia-cuda
if [ "${1:-}" = viewer ]; then
    features=viewer,cuda
    default=
    name=spatia-cuda-viewer
fi
# shellcheck disable=SC2086
cargo build --release $default --features "$features" --target-dir target/cuda \
    --config "$patch_dir/config.toml" --bin spatia

mkdir -p dist
strip -o "dist/$name" target/cuda/release/spatia
xz -9 -T0 -kf "dist/$name"
if ldd "dist/$name" | grep -E 'libcuda|libcublas|libcurand|libnvrtc|libcudart'; then
    echo "build-cuda: the binary still links a CUDA library (above)" >&2
    exit 1
fi
echo "build-cuda: dist/$name ($(du -h "dist/$name" | cut -f1), xz $(du -h "dist/$name.xz" | cut -f1)); links no CUDA library"
