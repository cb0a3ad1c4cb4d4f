"""Efficiency of EPIR: parameters, forward FLOPs per sample and CPU throughput, against its ablations, a plain ViT
and the CNN baselines.

Run: python benchmarks/bench_model.py [--threads 2] [--seconds 3]
Rows: the default model, each LOSO ablation (one component off), integration and DTSM off together, a plain ViT,
STSTNet, OFF-ApexNet and SSSNet (at 28×28, and SSSNet also at MEB's 64×64). FLOPs come from
torch.utils.flop_counter (a multiply-add counts 2) on one sample of the row's input size in eval mode; throughput is
samples/s of eval-mode forward passes under torch.inference_mode, timed after warm-up for at least --seconds each.
"""

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import ViTConfig, ViTForImageClassification

from epir_hf import (
    EPIRConfig,
    EPIRForImageClassification,
    OffApexNetConfig,
    OffApexNetForImageClassification,
    SSSNetConfig,
    SSSNetForImageClassification,
    STSTNetConfig,
    STSTNetForImageClassification,
)

HTNET_PARAMS, HTNET_GFLOPS = 139.6e6, 0.43


def forward_flops(model: torch.nn.Module, image_size: int) -> int:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, image_size, image_size))
    return counter.get_total_flops()


def throughput(model: torch.nn.Module, batch: int, image_size: int, seconds: float) -> float:
    inputs = torch.randn(batch, 3, image_size, image_size)
    with torch.inference_mode():
        for _ in range(3):
            model(inputs)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(inputs)
            runs += 1
    return runs * batch / (time.perf_counter() - start)


def candidates() -> dict[str, tuple[torch.nn.Module, tuple[int, ...] | None, int]]:
    """name -> (model in eval mode, EPIR's tokens per block or None, input side)."""
    config = EPIRConfig()
    ablated = EPIRConfig(use_token_integration=False, use_dtsm=False)
    vit = ViTConfig(hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
                    num_attention_heads=config.num_attention_heads, intermediate_size=config.intermediate_size,
                    image_size=config.image_size, patch_size=config.patch_size, num_labels=config.num_labels)
    # The LOSO ablation rows: one EPIR component off at a time.
    single_ablations = {"DNSPT off": {"use_dnspt": False},
                        "self-suppression off": {"use_self_token_suppression": False},
                        "integration off": {"use_token_integration": False}, "DTSM off": {"use_dtsm": False},
                        "contrastive off": {"contrastive_weight": 0.0}}
    models = {"EPIR (default)": config, "EPIR, integration+DTSM off": ablated}
    models.update({f"EPIR, {name}": EPIRConfig(**change) for name, change in single_ablations.items()})
    rows = {name: (EPIRForImageClassification(model_config).eval(), tuple(model_config.token_counts()), 28)
            for name, model_config in models.items()}
    rows["plain ViT (same width/depth)"] = (ViTForImageClassification(vit).eval(), None, 28)
    rows["STSTNet"] = (STSTNetForImageClassification(STSTNetConfig()).eval(), None, 28)
    rows["OFF-ApexNet"] = (OffApexNetForImageClassification(OffApexNetConfig()).eval(), None, 28)
    for size in (28, 64):
        rows[f"SSSNet ({size}×{size})"] = (SSSNetForImageClassification(SSSNetConfig(image_size=size)).eval(), None,
                                          size)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the target machine has 2)")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing window per measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, "
          "input 1×3×S×S (FLOPs) and B×3×S×S (throughput), S = 28 unless the row says otherwise")
    rows, flops = [], {}
    for name, (model, counts, size) in candidates().items():
        params = sum(p.numel() for p in model.parameters())
        flops[name] = forward_flops(model, size)
        rows.append((name, params, flops[name], throughput(model, 1, size, args.seconds),
                     throughput(model, 64, size, args.seconds), counts))
    header = (f"{'model':30} {'params':>10} {'%HTNet':>7} {'GFLOPs':>8} {'samples/s b=1':>14} "
              f"{'samples/s b=64':>15}  tokens/block")
    print(header)
    print("-" * len(header))
    for name, params, model_flops, single, batched, counts in rows:
        print(f"{name:30} {params / 1e6:9.3f}M {100 * params / HTNET_PARAMS:6.2f}% {model_flops / 1e9:8.4f} "
              f"{single:14.1f} {batched:15.1f}  {counts or ('50 (constant)' if 'ViT' in name else '-')}")
    default, ablated = flops["EPIR (default)"], flops["EPIR, integration+DTSM off"]
    counts = rows[0][5]
    print(f"\nTargets: FLOPs <= 0.15 G: {default / 1e9:.4f} G ({'met' if default <= 0.15e9 else 'MISSED'}); "
          f"FLOPs saved vs integration+DTSM off >= 25%: {100 * (1 - default / ablated):.1f}% "
          f"({'met' if default <= 0.75 * ablated else 'MISSED'}); tokens entering last block vs first >= 40% fewer: "
          f"{100 * (1 - counts[-1] / counts[0]):.1f}% ({'met' if counts[-1] <= 0.6 * counts[0] else 'MISSED'}); "
          f"HTNet: {HTNET_GFLOPS} GFLOPs, {HTNET_PARAMS / 1e6:.1f}M params.")


if __name__ == "__main__":
    main()
