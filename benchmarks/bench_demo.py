"""How fast the demo starts and answers: demo/app.py's cold start, and its answer on the 10-s 640×480 example clip.

Run: python benchmarks/bench_demo.py [--repeats 3]

Cold start, two times per start of `python demo/app.py` (a fresh process): until its page answers HTTP 200 (the page
is served before the model loads), and until its first answer, gradio_client's `predict` of the pair tab on the first
example pair sent as soon as the page is up (the answer waits for the model). Measured `--repeats` times with an
empty examples folder (the first start, which generates the examples, as every start of a Space does) and as many
times with the folder the first start left (a restart). The Python files are in the operating system's page cache
after the first start, as they are on a machine that has run anything from the project. Answer: the round trip of
gradio_client's `predict` of the video tab (spotting, then each micro-expression through the recognition pipeline,
then the pictures) on the generated 10-s 640×480 30-fps clip, upload and download included, `--repeats`
times on the last server started. Targets: a cold start within 10 s, the clip answered within 5 s, on 2 CPU cores.
The machine's load before the runs is printed: numbers measured beside other work are slower than the demo is.
Printed beside the cold start: how long a fresh interpreter takes to import gradio, torch with transformers and
epir_hf, and all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench_fold_workers import hardware
from gradio_client import Client, handle_file

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = REPO_ROOT / "demo" / "app.py"
COLD_START_TARGET, CLIP_TARGET = 10.0, 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(cache: Path, timeout: float = 300.0) -> tuple[subprocess.Popen, str, float, float]:
    """Start the demo with its examples in `cache`; the process, its URL, and the seconds until its page answered and
    until its first answer (the pair tab on the first example pair, sent when the page is up)."""
    port = free_port()
    env = {**os.environ, "EPIR_DEMO_CACHE": str(cache), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1"}
    url = f"http://127.0.0.1:{port}/"
    log = cache.with_name(f"{cache.name}-{port}.log")  # a file, not a pipe: a pipe nobody reads fills and blocks
    started = time.perf_counter()
    with log.open("w") as stderr:
        server = subprocess.Popen([sys.executable, str(APP)], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"demo/app.py exited with status {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as answer:
                if answer.status == 200:
                    page = time.perf_counter() - started
                    classify_first_pair(url, cache)
                    return server, url, page, time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    stop(server)
    raise TimeoutError(f"demo/app.py did not answer within {timeout:g} s")


def classify_first_pair(url: str, cache: Path) -> None:
    pair = json.loads((cache / "examples.json").read_text())["pairs"][0]
    client = Client(url, verbose=False, analytics_enabled=False, download_files=str(cache.with_name("downloads")))
    client.predict(handle_file(str(cache / pair["onset"])), handle_file(str(cache / pair["apex"])),
                   api_name="/classify_pair")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def import_time(modules: str) -> float:
    """Wall time of a fresh interpreter that imports `modules` and exits: what a start would take if the page and the
    model loaded one after the other in one process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True, cwd=REPO_ROOT,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    return time.perf_counter() - started


def seconds(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (runs: {', '.join(f'{value:.2f}' for value in values)})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="starts of each kind, and answers of the clip")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    print(f"hardware: {hardware()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"load average before the runs: {', '.join(f'{load:.2f}' for load in os.getloadavg())}", flush=True)
    floors = {modules: [import_time(modules) for _ in range(args.repeats)]
              for modules in ("gradio", "torch, transformers, epir_hf", "gradio, torch, transformers, epir_hf")}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        starts: dict[str, tuple[list[float], list[float]]] = {"examples generated": ([], []),
                                                              "examples reused": ([], [])}
        for run in range(2 * args.repeats):
            kind = "examples generated" if run < args.repeats else "examples reused"
            server, url, page, answer = start(Path(scratch) / f"examples-{run if run < args.repeats else 0}")
            starts[kind][0].append(page)
            starts[kind][1].append(answer)
            if run < 2 * args.repeats - 1:
                stop(server)
        cache = Path(scratch) / "examples-0"
        try:
            clip = str(cache / json.loads((cache / "examples.json").read_text())["clip"])
            client = Client(url, verbose=False, analytics_enabled=False, download_files=str(Path(scratch) / "out"))
            answers = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                client.predict(handle_file(clip), api_name="/spot_video")
                answers.append(time.perf_counter() - started)
        finally:
            stop(server)
    for kind, (pages, first_answers) in starts.items():
        print(f"cold start, {kind}: page (start of `python demo/app.py` to its HTTP 200) {seconds(pages)}; "
              f"first answer (the pair tab, sent when the page is up) {seconds(first_answers)}; "
              f"target {COLD_START_TARGET:g} s")
    for modules, values in floors.items():
        print(f"  a fresh interpreter's `import {modules}`: {seconds(values)}")
    print(f"10-s 640x480 30-fps clip, gradio_client round trip of the video tab: {seconds(answers)}; "
          f"target {CLIP_TARGET:g} s")

if __name__ == "__main__":
    main()
