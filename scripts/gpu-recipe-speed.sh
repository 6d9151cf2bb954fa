#!/usr/bin/env bash
#! How fast the shipped student's recipe (docs/TRAINING.md) trains on a GPU against the CPU of the
#! same machine (issue #14's "recipe <= 4 h", issue #17): stage 1 (`train perception`) and stage 2
#! (`train decoder --student`, finding objects first) with `--device cuda` and `--device cpu`,
#! each for at most LIMIT_S seconds of wall time, on ROOMS generated rooms. Same machine
#! requirements as scripts/gpu-check.sh (both find CUDA's libraries with gpu-common.sh).
#!
#!   scripts/gpu-recipe-speed.sh [BINARY[.xz]] [OUT_DIR]
#! Environment: RECIPE_ROOMS (generated rooms, 200), RECIPE_LIMIT_S (per stage and device, 90),
#! RECIPE_DEVICES ("cuda cpu"), RECIPE_THREADS (CPU threads for the cpu runs, all by default).
set -uo pipefail

bin="$(realpath "${1:-dist/spatia-cuda}")"
out="$(mkdir -p "${2:-recipe-speed}" && realpath "${2:-recipe-speed}")"
rooms="${RECIPE_ROOMS:-200}"
limit_s="${RECIPE_LIMIT_S:-90}"
devices="${RECIPE_DEVICES:-cuda cpu}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck source=scripts/gpu-common.sh
. "$(dirname "$0")/gpu-common.sh"
bin="$(gpu_binary "$bin" "$work")" || exit 2
gpu_library_path

# timed NAME LIMIT COMMAND...: output, exit status (124 = stopped at the limit) and wall time.
timed() { timed_step recipe-speed "$work" "$@"; }

timed gen-scenes 300 "$bin" gen-scenes --out "$work/scenes" --count "$rooms" --seed 11
timed gen-data 300 "$bin" gen-data --scenes "$work/scenes" --out "$work/data" --per-category 24

for dev in $devices; do
    env=()
    [ "$dev" = cpu ] && [ -n "${RECIPE_THREADS:-}" ] && env=(env "CANDLE_NUM_THREADS=$RECIPE_THREADS")
    timed "stage1-$dev" "$limit_s" "${env[@]}" "$bin" train perception --device "$dev" \
        --data "$work/data" --out "$work/stage1-$dev" --steps 100000 --scenes-per-step 4 \
        --lr 1e-3 --tokenizer models/student/tokenizer.json --init models/student \
        --eval-every 0 --checkpoint-every 100000
    timed "stage2-$dev" "$limit_s" "${env[@]}" "$bin" train decoder --student --device "$dev" \
        --data "$work/data" --out "$work/stage2-$dev" --steps 100000 --lr 5e-4 \
        --questions-per-step 128 --object-context --anchors --slots 3 --init models/student \
        --tokenizer models/student/tokenizer.json --eval-every 0 --checkpoint-every 100000
done

python3 - "$work" "$out/recipe-speed.json" "$devices" <<'PY'
import json, pathlib, sys
work, dest, devices = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3].split()
def text(p):
    try:
        return (work / p).read_text(errors="replace").strip()
    except OSError:
        return ""
def run(name):
    r = {"rc": int(text(f"{name}.rc") or -1), "wall_s": round(float(text(f"{name}.wall") or "nan"), 2)}
    if r["rc"] not in (0, 124):
        r["stderr_tail"] = text(f"{name}.err")[-1500:]
    return r
def stage(name):
    r = run(name)
    rows = []
    log = work / name / "train_log.jsonl"
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    rows = [x for x in rows if "steps_per_s" in x]
    if rows:
        r["steps_done"] = rows[-1]["step"]
        r["steps_per_s"] = rows[-1]["steps_per_s"]
        r["questions_per_h"] = rows[-1].get("questions_per_h")
        r["losses_last"] = rows[-1].get("losses")
    # Stage 2 finds the objects of every room first: the time before its first logged step.
    found = work / name / "found_objects.json"
    if found.exists():
        r["found_objects_s"] = round(found.stat().st_mtime - float(text(f"{name}.t0")), 1)
    return r
result = {"data": {"gen_scenes": run("gen-scenes"), "gen_data": run("gen-data")}}
for dev in devices:
    result[dev] = {"stage1": stage(f"stage1-{dev}"), "stage2": stage(f"stage2-{dev}")}
pathlib.Path(dest).write_text(json.dumps(result, indent=1))
print(json.dumps({d: {s: {k: v for k, v in result[d][s].items() if k != "losses_last"} for s in result[d]} for d in devices}, indent=1))
print(f"recipe-speed: wrote {dest}")
PY
