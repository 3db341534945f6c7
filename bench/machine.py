"""Machine facts and this machine's measured fp32 (and bf16) matmul rates, the yardsticks for training MFU.

Efficiency is reported against what torch's own matmul reaches here, measured in the same process
with the same threads (and so under the same contention), not against a datasheet peak this CPU
never reaches. Run alone to see both: `python -m bench.machine --json machine.json`.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from datetime import UTC, datetime

from harness.hardware import this_machine
from harness.runs import package_versions

PACKAGES = ("harness", "torch", "transformers", "peft", "trl", "accelerate", "autotrain-advanced", "llama_cpp_python")
_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def set_threads(threads: int) -> None:
    """All our numbers are for a fixed thread count (2 by default: the CPU the demo targets)."""
    import torch

    torch.set_num_threads(threads)


def cpu_info() -> tuple[str, list[str]]:
    """CPU model name and the vector extensions that decide matmul speed."""
    model, flags = platform.processor() or "?", set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                if model != "?" and flags:
                    break
    except OSError:
        pass
    return model, [f for f in _CPU_FLAGS if f in flags]


def versions() -> dict[str, str | None]:
    return package_versions(PACKAGES)


def facts() -> dict:
    """Enough to tell two result files apart: when, where, how many threads, how busy, which versions."""
    import torch

    model, flags = cpu_info()
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu_model": model,
        "cpu_flags": flags,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": os.getloadavg()[0],
        "memory_gb": round(mem_gb, 1) if mem_gb else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
    }


def facts_table(f: dict) -> str:
    from bench.common import table

    rows = [
        ("date (UTC)", f["date"]),
        ("CPU", f"{f['cpu_model']} ({', '.join(f['cpu_flags']) or 'no AVX2'})"),
        ("cores (logical / usable)", f"{f['logical_cores']} / {f['usable_cores']}"),
        ("torch threads", f["torch_threads"]),
        ("load average (1 min, at start)", f"{f['load_average_1m']:.2f}"),
        ("memory", f"{f['memory_gb']} GiB"),
        ("GPU", f["gpu"] or "none"),
        ("python / platform", f"{f['python']} / {f['platform']}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in f["versions"].items() if v)),
    ]
    return table(["fact", "value"], rows)


def matmul_flops(sizes: tuple[int, ...] = (1024, 2048), repeats: int = 5, min_seconds: float = 0.2, dtype: str = "float32") -> dict:
    """Best square-matmul rate per size in `dtype` (FLOP/s = 2n³ per product). Best of `repeats`,
    each long enough (`min_seconds`) for the timer not to matter; the best is the least disturbed by
    other processes. `peak` is the best over sizes."""
    import torch

    kind = getattr(torch, dtype)
    by_size = {}
    for n in sizes:
        a, b = torch.randn(n, n, dtype=kind), torch.randn(n, n, dtype=kind)
        out = torch.empty(n, n, dtype=kind)
        torch.mm(a, b, out=out)  # warm-up: thread pool, allocation
        started, inner = time.perf_counter(), 1
        torch.mm(a, b, out=out)
        inner = max(1, round(min_seconds / max(time.perf_counter() - started, 1e-6)))
        best = 0.0
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(inner):
                torch.mm(a, b, out=out)
            best = max(best, inner * 2 * n**3 / (time.perf_counter() - started))
        by_size[n] = best
    return {"by_size": by_size, "peak": max(by_size.values())}


def matmul_table(before: dict, after: dict | None = None, dtype: str = "fp32") -> str:
    from bench.common import table

    rows = [(f"{n}²", before["by_size"][n] / 1e9, after["by_size"][n] / 1e9 if after else None) for n in before["by_size"]]
    headers = [f"{dtype} matmul", "GFLOP/s (start)", "GFLOP/s (end)"]
    if after is None:
        rows, headers = [r[:2] for r in rows], headers[:2]
    return table(headers, rows)


def main() -> None:
    from bench.common import emit, parser

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    set_threads(args.threads)
    f = facts()
    peak = matmul_flops(tuple(args.sizes), args.repeats)
    sections = [("fp32 matmul (torch)", matmul_table(peak))]
    results = {"matmul": peak}
    if this_machine().native_bf16:  # elsewhere bf16 is emulated: no peak to speak of
        results["matmul_bf16"] = matmul_flops(tuple(args.sizes), args.repeats, dtype="bfloat16")
        sections.append(("bf16 matmul (torch)", matmul_table(results["matmul_bf16"], dtype="bf16")))
        ratio = results["matmul_bf16"]["peak"] / peak["peak"]
        sections.append(("bf16 ÷ fp32 peak", f"{ratio:.2f}"))
    emit(args, "Machine facts and matmul rates (fp32, bf16)", f, sections, results)


if __name__ == "__main__":
    main()
