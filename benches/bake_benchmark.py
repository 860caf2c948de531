#!/usr/bin/env python3
"""Bake benchmarks: Kiln against the Python baseline, throughput, and incremental re-bakes.

    python3 benches/bake_benchmark.py [--runs 5] [--ep cuda]

Builds `kiln` (release), makes a virtualenv in ~/.cache/kiln-bench-venv with the same ONNX
Runtime version Kiln uses plus numpy, Pillow, SciPy and tokenizers, then in one session on this
machine, both tools on the venv's library (Kiln through ORT_DYLIB_PATH, as a project cache
would spare it asking Python where a pip package is; `--ep cuda`: both on CUDA, install
onnxruntime-gpu into the venv):

1. example recipes (assets/, shipped models): `kiln bake` (`--jobs 1`, and the default 2) vs
   benches/python_baseline.py, wall clock of the whole process and each tool's own timer,
   into a fresh folder each run; then the same split by kind (images, text, music);
2. a mixed set 8x larger (the example recipes with 8 seeds each): throughput;
3. 1,000 entries (fixture models) baked, then re-baked with nothing changed.

Prints a Markdown table of medians for docs/benchmarks.md.
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
KILN = REPO / "target" / "release" / "kiln"
VENV = pathlib.Path.home() / ".cache" / "kiln-bench-venv"
ORT_VERSION = "1.32.0"


def venv_python():
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # Every time, so a venv made before a package joined the list gets it (quick when all are there).
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"onnxruntime=={ORT_VERSION}", "numpy", "pillow", "scipy", "tokenizers"],
        check=True,
    )
    return python


def venv_library():
    """The venv's libonnxruntime, which Kiln is pointed at so both tools run the same file."""
    found = sorted(VENV.glob("lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*"))
    if not found:
        sys.exit(f"no libonnxruntime in {VENV}: delete the folder to rebuild it")
    return str(found[-1])


def timed(command):
    started = time.perf_counter()
    env = dict(os.environ, ORT_DYLIB_PATH=os.environ.get("ORT_DYLIB_PATH") or venv_library())
    result = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO, env=env)
    return time.perf_counter() - started, result.stdout


def kiln_internal(stdout):
    """Kiln's own timer, its time in session.run (summed over parallel jobs) and the wall time
    with a run in flight, from the bake summary."""
    match = re.search(r"in ([\d.]+)s \(([\d.]+)s in session.run, ([\d.]+)s with one in flight\)", stdout)
    return float(match.group(1)), float(match.group(2)), float(match.group(3))


def compare(recipes, runs, python, work, label, ep):
    rows = {"kiln": [], "kiln2": [], "python": []}
    for run in range(runs):
        for name in rows:
            out = work / f"{name}-{run}"
            if name == "python":
                wall, stdout = timed(
                    [str(python), "benches/python_baseline.py", str(recipes), str(out), "--ep", ep]
                )
                report = json.loads(stdout)
                internal, inference, files = report["seconds"], report["run_seconds"], report["files"]
                in_flight = inference  # one thread: runs never overlap
            else:
                jobs = "2" if name == "kiln2" else "1"
                wall, stdout = timed(
                    [str(KILN), "bake", str(recipes), "--out", str(out), "--ep", ep, "--jobs", jobs]
                )
                internal, inference, in_flight = kiln_internal(stdout)
                files = int(re.search(r"baked (\d+) files", stdout).group(1))
            rows[name].append((wall, internal, inference, files, in_flight))
            shutil.rmtree(out)
    median = lambda name, i: statistics.median(r[i] for r in rows[name])  # noqa: E731
    files = rows["kiln"][0][3]
    print(f"\n### {label} ({files} files, median of {runs}, --ep {ep})\n")
    print(
        "| tool | wall clock (process) | own timer | in session.run (summed) | with a run in flight "
        "| no run in flight: share of own timer | … of process wall | files/s (wall) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    names = {"kiln": "`kiln bake --jobs 1`", "kiln2": "`kiln bake` (2 jobs, the default)", "python": "Python baseline"}
    for name in rows:
        wall, internal, inference, in_flight = (median(name, i) for i in (0, 1, 2, 4))
        # Two jobs run session.run in parallel, so its sum can exceed the wall clock; the wall
        # time with any run in flight is what the pipeline around inference leaves it.
        print(
            f"| {names[name]} | {wall:.3f} s | {internal:.3f} s | {inference:.3f} s | {in_flight:.3f} s | "
            f"{100 * (internal - in_flight) / internal:.0f} % | {100 * (wall - in_flight) / wall:.0f} % | "
            f"{rows[name][0][3] / wall:.0f} |"
        )
    print(
        f"\nPython baseline / `kiln bake --jobs 1`: {median('python', 0) / median('kiln', 0):.2f}x wall clock, "
        f"{median('python', 1) / median('kiln', 1):.2f}x own timer, "
        f"{(median('python', 1) - median('python', 2)) / max(median('kiln', 1) - median('kiln', 2), 1e-9):.2f}x outside session.run; "
        f"/ `kiln bake` (2 jobs): {median('python', 0) / median('kiln2', 0):.2f}x wall clock"
    )


def by_kind(work):
    """The example recipes split by what they make: images, text, music."""
    kinds = {"images": ["dungeon", "characters", "overworld"], "text": ["lore"], "music": ["music"]}
    folders = {}
    for kind, recipes in kinds.items():
        folder = work / f"kind-{kind}"
        folder.mkdir()
        for recipe in recipes:
            shutil.copy(REPO / "assets" / f"{recipe}.kiln.ron", folder)
        folders[kind] = folder
    return folders


def mixed_set(work, copies):
    recipes = work / "mixed"
    recipes.mkdir()
    for recipe in sorted((REPO / "assets").glob("*.kiln.ron")):
        text = recipe.read_text()
        for copy in range(copies):
            shifted = re.sub(r"seed: (\d+)", lambda m: f"seed: {int(m.group(1)) + 1000 * copy}", text)
            shifted = re.sub(r'output: "[^"]*",', "", shifted)  # each copy gets its own folder
            (recipes / f"{recipe.name[:-9]}_{copy}.kiln.ron").write_text(shifted)
    return recipes


def incremental(work, runs):
    recipes = work / "thousand"
    recipes.mkdir()
    for part in range(10):
        lines = ["(assets: {"]
        for entry in range(100):
            if entry % 2:
                lines.append(f'"s{entry}": (model: "tiny_sprite", seed: {entry}, variants: 4, kind: Sprite(palette: 6)),')
            else:
                lines.append(
                    f'"t{entry}": (model: "tiny_texture", seed: {entry}, variants: 2, kind: Texture(size: (32, 32), class: "moss", normal_map: true)),'
                )
        lines.append("})")
        (recipes / f"set{part}.kiln.ron").write_text("\n".join(lines))
    out = work / "thousand-out"
    models = str(REPO / "tests" / "fixtures" / "models")
    command = [str(KILN), "bake", str(recipes), "--out", str(out), "--ep", "cpu", "--models", models]
    first, stdout = timed(command)
    again = [timed(command) for _ in range(runs)]
    assert all("1000 up to date" in s for _, s in again), again[0][1]
    internal = statistics.median(kiln_internal(s)[0] for _, s in again)
    print("\n### Incremental: 1,000 entries (5,000 files, fixture models)\n")
    print("| bake | wall clock (process) | Kiln's own timer |")
    print("|---|---:|---:|")
    print(f"| first bake | {first:.3f} s | {kiln_internal(stdout)[0]:.3f} s |")
    print(f"| re-bake, nothing changed (median of {runs}) | {statistics.median(w for w, _ in again):.3f} s | {internal:.3f} s |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ep", choices=["cpu", "cuda"], default="cpu",
                        help="execution provider for both tools (cuda: onnxruntime-gpu in the venv)")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True, cwd=REPO)
    python = venv_python()
    cpu = os.cpu_count()
    print(f"{time.strftime('%Y-%m-%d')}, {cpu} cores, ONNX Runtime {ORT_VERSION} (both), {args.ep} provider")
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        compare(REPO / "assets", args.runs, python, work, "Example recipes (assets/)", args.ep)
        for kind, folder in by_kind(work).items():
            compare(folder, args.runs, python, work, f"Example recipes: {kind}", args.ep)
        compare(mixed_set(work, 8), args.runs, python, work, "Mixed set: the example recipes x 8 seeds", args.ep)
        incremental(work, args.runs)


if __name__ == "__main__":
    main()
