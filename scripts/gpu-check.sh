#!/usr/bin/env bash
#! The GPU device check (docs/RESULTS.md, "GPU"): runs the release binary built with the `cuda`
#! feature on a Linux machine with an NVIDIA GPU, its driver and the CUDA 13 runtime libraries
#! (cuBLAS, cuRAND, NVRTC, cudart: a CUDA toolkit or the PyPI `nvidia-*` wheels, found wherever
#! they are), and python3, with no Rust toolchain and no network. Every figure is taken on the
#! GPU and on the CPU with the same command; one JSON file of results is written.
#!
#!   scripts/gpu-check.sh [BINARY] [OUT_DIR]     (defaults: dist/spatia-cuda, gpu-check; a
#!                                                 BINARY ending in .xz is unpacked first)
#!
#! Build the binary here with `scripts/build-cuda.sh`: dist/spatia-cuda, stripped, and
#! dist/spatia-cuda.xz, the copy to the GPU machine (repository + binary < 64 MiB).
#! Environment: GPU_CHECK_STEPS (distillation steps, 200), GPU_CHECK_CPU_LIMIT_S (wall limit of
#! each CPU figure, 120: the CPU's steps per second come from the steps it finished).
set -uo pipefail

bin="$(realpath "${1:-dist/spatia-cuda}")"
out="$(mkdir -p "${2:-gpu-check}" && realpath "${2:-gpu-check}")"
steps="${GPU_CHECK_STEPS:-200}"
cpu_limit_s="${GPU_CHECK_CPU_LIMIT_S:-120}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck source=scripts/gpu-common.sh
. "$(dirname "$0")/gpu-common.sh"
bin="$(gpu_binary "$bin" "$work")" || exit 2
start_s=$(date +%s)

gpu_library_path
echo "gpu-check: library folders $gpu_libdirs"
ldd "$bin" | grep -E 'not found' && echo "gpu-check: some libraries were not found (above)"

# step NAME LIMIT_S COMMAND...: runs it, keeping its output, exit status and wall time.
step() { timed_step gpu-check "$work" "$@"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader \
    >"$work/gpu.txt" 2>&1 || true
echo "gpu-check: $(cat "$work/gpu.txt")"
"$bin" --version >"$work/version.txt" 2>&1

# A small dataset: 16 generated rooms (12 train, 2 validation, 2 test), 4 views each.
step gen-scenes 120 "$bin" gen-scenes --out "$work/scenes" --count 16 --seed 3
step gen-data 180 "$bin" gen-data --scenes "$work/scenes" --out "$work/data" --per-category 8

for dev in cuda cpu; do
    limit=300
    [ "$dev" = cpu ] && limit="$cpu_limit_s"
    step "bench-models-$dev" "$limit" "$bin" bench-models --device "$dev" --repeats 5
    step "ask-$dev" "$limit" "$bin" ask --device "$dev" --json \
        assets/scenes/default "is the bed near the wardrobe?"
    step "distill-$dev" "$limit" "$bin" distill --device "$dev" --teacher models/teacher \
        --data "$work/data" --out "$work/distill-$dev" --steps "$steps" --eval-every 0 \
        --checkpoint-every 100000
    step "eval-$dev" "$limit" "$bin" eval --device "$dev" --compare models/teacher models/student \
        --data "$work/data" --split test --json
done
step device-refused 30 "$bin" ask --device tpu assets/scenes/default "is it?"

python3 - "$work" "$out/gpu-check.json" "$steps" "$start_s" <<'PY'
import json, pathlib, re, sys, time
work, dest, steps, start_s = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
def text(p):
    try:
        return (work / p).read_text(errors="replace").strip()
    except OSError:
        return ""
def run(name):
    r = {"rc": int(text(f"{name}.rc") or -1), "wall_s": round(float(text(f"{name}.wall") or "nan"), 2)}
    if r["rc"] != 0:
        r["stderr_tail"] = text(f"{name}.err")[-1500:]
    return r
def bench(name):
    r = run(name)
    for line in text(f"{name}.out").splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if line.startswith("model_bench"):
            r[f["preset"]] = {k: float(v) for k, v in f.items() if k != "preset"}
        elif line.startswith("device"):
            r["device"] = line.split()[1]
        elif line.startswith("ratios"):
            r["ratios"] = line
    return r
def last_json(name):
    r = run(name)
    out = text(f"{name}.out")
    if "{" in out:
        try:
            r["result"] = json.loads(out[out.index("{"):])
        except ValueError:
            pass
    return r
def distill(name, dev):
    r = run(name)
    log = work / f"distill-{dev}" / "train_log.jsonl"
    rows = []
    if log.exists():
        for l in log.read_text().splitlines():
            try:
                rows.append(json.loads(l))
            except ValueError:
                pass
    rows = [x for x in rows if "steps_per_s" in x]
    if rows:
        r["steps_done"] = rows[-1]["step"]
        r["steps_per_s"] = rows[-1]["steps_per_s"]
        r["questions_per_h"] = rows[-1].get("questions_per_h")
        r["losses_last"] = rows[-1].get("losses")
    r["steps_asked"] = steps
    return r
def evaluation(name):
    r = last_json(name)
    res = r.pop("result", None)
    if isinstance(res, dict):
        scalars = lambda d: {k: v for k, v in d.items() if not isinstance(v, (list, dict))}
        r["summary"] = {
            "comparison": scalars(res.get("comparison", {})),
            **{m: scalars(res[m]) for m in ("teacher", "student") if isinstance(res.get(m), dict)},
        }
        r["report"] = res
    return r
result = {
    "gpu": text("gpu.txt"),
    "binary": text("version.txt"),
    "total_wall_s": round(time.time() - start_s, 1),
}
for dev in ("cuda", "cpu"):
    result[dev] = {
        "bench_models": bench(f"bench-models-{dev}"),
        "ask": last_json(f"ask-{dev}"),
        "distill": distill(f"distill-{dev}", dev),
        "eval": evaluation(f"eval-{dev}"),
    }
result["data"] = {"gen_scenes": run("gen-scenes"), "gen_data": run("gen-data")}
refused = run("device-refused")
refused["stderr"] = text("device-refused.err")[-400:]
result["unknown_device_refused"] = refused
pathlib.Path(dest).write_text(json.dumps(result, indent=1))
print(f"gpu-check: wrote {dest} ({result['total_wall_s']} s)")
PY
