# shellcheck shell=bash
#! What the GPU scripts (gpu-check.sh, gpu-recipe-speed.sh) share; sourced, not run.
#!   gpu_binary BIN WORK    prints the executable to run: BIN, or BIN.xz unpacked into WORK
#!   gpu_library_path       puts the driver's libcuda and CUDA 13's libraries on LD_LIBRARY_PATH
#!                          (their folders also in $gpu_libdirs)
#!   timed_step TAG WORK NAME LIMIT_S COMMAND...
#!                          runs COMMAND under a time limit, keeping WORK/NAME.{out,err,rc,wall,t0}

gpu_binary() {
    local bin="$1" work="$2"
    # A binary compressed for the copy (`xz -9`: 61 MB -> about 8 MB) is unpacked.
    if [[ "$bin" == *.xz ]]; then
        xz -dc "$bin" >"$work/spatia" 2>/dev/null ||
            python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$bin" >"$work/spatia"
        chmod +x "$work/spatia"
        bin="$work/spatia"
    fi
    [ -x "$bin" ] || { echo "gpu: no executable at $bin" >&2; return 2; }
    echo "$bin"
}

# The driver's libcuda and CUDA 13's runtime libraries, wherever the machine has them (not a
# toolkit's forward-compatibility libcuda, which the installed driver may refuse:
# CUDA_ERROR_SYSTEM_DRIVER_MISMATCH; the driver's folder first).
gpu_library_path() {
    gpu_libdirs=$(find /usr/local/nvidia /usr/local/cuda* /usr/lib/x86_64-linux-gnu /opt /usr/local/lib \
        \( -name 'libcuda.so.1' -o -name 'libcublas.so.13' -o -name 'libcublasLt.so.13' \
        -o -name 'libcurand.so.10' -o -name 'libnvrtc.so.13' -o -name 'libcudart.so.13' \) \
        -printf '%h\n' 2>/dev/null | grep -v '/compat' | sort -u |
        awk '/nvidia\/lib/ {print; next} {rest = rest $0 "\n"} END {printf "%s", rest}' | paste -sd:)
    export LD_LIBRARY_PATH="${gpu_libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

timed_step() {
    local tag="$1" work="$2" name="$3" limit="$4" t0 t1
    shift 4
    t0=$(date +%s.%N)
    echo "$t0" >"$work/$name.t0"
    timeout "$limit" "$@" >"$work/$name.out" 2>"$work/$name.err"
    echo $? >"$work/$name.rc"
    t1=$(date +%s.%N)
    awk "BEGIN { print $t1 - $t0 }" >"$work/$name.wall"
    printf '%s: %-22s rc=%s %6.1f s\n' "$tag" "$name" "$(cat "$work/$name.rc")" "$(cat "$work/$name.wall")"
    tail -n 3 "$work/$name.err" | sed 's/^/    /'
}
