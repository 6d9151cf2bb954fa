# shellcheck shell=bash
#! Source this file (`. scripts/cuda-env.sh`) before `cargo build --features cuda` on a
#! machine without a system CUDA toolkit. It installs CUDA 13.0's compiler, headers and
#! runtime libraries from the Python package index into $SPATIA_CUDA_DIR (default
#! ~/.cache/spatia-cuda, about 1.2 GB, once), makes the unversioned library names the linker
#! looks for, builds a link-time stub of the driver library (libcuda.so; the real one comes
#! with the NVIDIA driver on the machine that runs the binary) and exports what candle's and
#! cudarc's build scripts read: PATH (nvcc), CUDA_HOME, CUDARC_CUDA_VERSION and
#! CUDA_COMPUTE_CAP (default 90 = Hopper; set it before sourcing for another GPU, e.g. 80, 89).
#!
#! CUDA 13.0 is what NVIDIA driver 580 ships; CUDA 12 runtimes run on it too.

spatia_cuda_dir="${SPATIA_CUDA_DIR:-$HOME/.cache/spatia-cuda}"
spatia_cuda_root="$spatia_cuda_dir/site/nvidia/cu13"
if [ ! -x "$spatia_cuda_root/bin/nvcc" ]; then
    echo "cuda-env: installing CUDA 13.0 nvcc, headers and runtime into $spatia_cuda_dir" >&2
    python3 -m pip install --quiet --target "$spatia_cuda_dir/site" \
        "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*" \
        "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-nvrtc==13.0.*" \
        "nvidia-cuda-cccl==13.0.*" "nvidia-cublas==13.0.*" "nvidia-curand==10.4.0.*" ||
        { echo "cuda-env: pip install failed" >&2; return 1; }
fi
# Unversioned names for the linker (-lcublas finds libcublas.so).
for lib in "$spatia_cuda_root"/lib/lib*.so.*; do
    base="${lib##*/}"
    ln -sf "$base" "$spatia_cuda_root/lib/${base%%.so.*}.so"
done
# The driver API stub: every cu* function cuda.h declares, under the driver's soname, each
# answering CUDA_ERROR_NO_DEVICE (100), as the real driver does on a machine without a GPU: with
# the stub folder on LD_LIBRARY_PATH a `cuda` binary starts here and falls back to the CPU.
if [ ! -f "$spatia_cuda_root/lib/stubs/libcuda.so" ]; then
    mkdir -p "$spatia_cuda_root/lib/stubs"
    gcc -E -P -I"$spatia_cuda_root/include" "$spatia_cuda_root/include/cudaTypedefs.h" 2>/dev/null |
        grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d ' (' | sort -u >"$spatia_cuda_dir/cuda_symbols.txt"
    grep -oE '\bcu[A-Z][A-Za-z0-9_]*' "$spatia_cuda_root/include/cuda.h" | sort -u >>"$spatia_cuda_dir/cuda_symbols.txt"
    sort -u "$spatia_cuda_dir/cuda_symbols.txt" | grep -v '^CU' |
        sed 's/.*/int &(void) { return 100; }/' >"$spatia_cuda_dir/cuda_stub.c"
    gcc -shared -fPIC -w -Wl,-soname,libcuda.so.1 -o "$spatia_cuda_root/lib/stubs/libcuda.so" \
        "$spatia_cuda_dir/cuda_stub.c" || { echo "cuda-env: building the libcuda stub failed" >&2; return 1; }
fi
export PATH="$spatia_cuda_root/bin:$PATH"
export CUDA_HOME="$spatia_cuda_root"
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export LIBRARY_PATH="$spatia_cuda_root/lib:$spatia_cuda_root/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
echo "cuda-env: nvcc $(nvcc --version | grep -oE 'release [0-9.]+'), compute capability $CUDA_COMPUTE_CAP, CUDA_HOME=$CUDA_HOME" >&2
