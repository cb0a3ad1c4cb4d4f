"""Build the default EPIR model, classify random flow, then print the efficiency table of benchmarks/bench_model.py."""

import runpy
import sys
from pathlib import Path

import torch

from epir_hf import EPIRConfig, EPIRForImageClassification


def main() -> None:
    torch.manual_seed(0)
    model = EPIRForImageClassification(EPIRConfig()).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 28, 28))
    labels = [model.config.id2label[i] for i in out.logits.argmax(-1).tolist()]
    print(f"random flow → {labels} (untrained model); tokens entering each block: {out.token_counts}")
    sys.argv = [sys.argv[0], "--seconds", "1"]
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "bench_model.py"), run_name="__main__")


if __name__ == "__main__":
    main()
