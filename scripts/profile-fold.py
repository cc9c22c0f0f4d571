#!/usr/bin/env python3
"""Folds `perf script` output into one stack file per function binary and prints a summary.

A sample belongs to the function whose binary appears in its call chain (the blocking-pool
threads of change-password have another comm, so the comm cannot say). Writes
OUT_DIR/<binary>.folded (the input of inferno-flamegraph / flamegraph.pl) and prints, per
binary, the top frames by self time and the share of samples under each layer of an SDK call.

usage: perf script -F comm,tid,ip,sym,dso | profile-fold.py OUT_DIR BINARY...
"""

import collections
import os
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")
HASH = re.compile(r"::h[0-9a-f]{16}$")
GENERICS = re.compile(r"<[^<>]*>")

# Where a sample's time goes, by the first (innermost-first) frame matching a pattern; the
# order matters: a frame of rustls under hyper is TLS, not HTTP.
LAYERS = [
    ("argon2 hash", ("argon2", "blake2")),
    ("SigV4 signing", ("aws_sigv4", "sign_http_request", "SigV4", "calculate_signature", "canonical_request")),
    ("TLS (rustls, aws-lc)", ("rustls", "aws_lc")),
    ("endpoint resolution", ("endpoint_lib", "resolve_endpoint", "EndpointResolver", "endpoint::")),
    ("JSON (de)serialisation", ("aws_smithy_json", "serde_json", "serde_dynamo", "protocol_serde", "serde::")),
    ("stalled-stream protection", ("stalled_stream", "StalledStream", "MinimumThroughput", "minimum_throughput", "throughput")),
    ("retries and timeouts", ("retries::", "retry", "TokenBucket", "ClientRateLimiter", "timeout::", "MaybeTimeout")),
    ("identity / credentials", ("identity", "credentials", "IdentityCache")),
    ("interceptors, config bag, runtime plugins", ("interceptor", "config_bag", "ConfigBag", "runtime_plugin", "RuntimePlugin", "RuntimeComponents", "orchestrator", "TypeErasedBox", "type_erase")),
    ("HTTP/1 (hyper, http)", ("hyper", "h1::", "http::header", "HeaderMap", "aws_smithy_http_client")),
    ("tracing", ("tracing",)),
    ("Lambda runtime (lambda_runtime, lambda_http)", ("lambda_runtime", "lambda_http")),
    ("tokio", ("tokio",)),
]
# libc's allocator is a layer of its own; its other frames (memcpy…) count for their caller.
ALLOCATOR = re.compile(r"malloc|free|realloc|calloc|_int_|tcache|arena|consolidate")


def clean(symbol: str) -> str:
    symbol = HASH.sub("", symbol.split("+0x")[0])
    # Nested generics make flame graphs unreadable; the path is what says where time goes.
    previous = None
    while previous != symbol:
        previous, symbol = symbol, GENERICS.sub("<>", symbol)
    return symbol.replace(";", ",") or "[unknown]"


def main() -> int:
    out_dir, binaries = sys.argv[1], set(sys.argv[2:])
    os.makedirs(out_dir, exist_ok=True)
    folded = {b: collections.Counter() for b in binaries}
    self_time = {b: collections.Counter() for b in binaries}
    layers = {b: collections.Counter() for b in binaries}
    inclusive = {b: collections.Counter() for b in binaries}
    samples: list[tuple[str, list[tuple[str, str]]]] = []
    owner_of_tid: dict[str, str] = {}
    tid = ""
    frames: list[tuple[str, str]] = []

    def flush() -> None:
        if frames:
            owner = next((os.path.basename(d) for _, d in frames if os.path.basename(d) in binaries), None)
            if owner is not None:
                owner_of_tid[tid] = owner
            samples.append((tid, list(frames)))
        frames.clear()

    for line in sys.stdin:
        if not line.strip() or not line[0].isspace():
            flush()
            if line.strip():
                tid = line.split()[-1]
            continue
        match = FRAME.match(line)
        if match:
            frames.append((match.group(1), match.group(2)))
    flush()

    # A chain the unwinder cut short (a leaf in the kernel or libc) still names its thread, and
    # every thread of a function process has other samples that reach the binary.
    for sample_tid, chain in samples:
        owner = owner_of_tid.get(sample_tid)
        if owner is None:
            continue
        stack = [clean(s) if s != "[unknown]" else f"[{os.path.basename(d)}]" for s, d in chain]
        folded[owner][";".join(reversed(stack))] += 1
        self_time[owner][stack[0]] += 1
        layer = "other"
        for s, d in chain:
            if "kernel" in d:
                layer = "kernel (syscalls, loopback TCP, scheduling)"
                break
            if "libc" in d:
                if ALLOCATOR.search(s):
                    layer = "allocator (glibc malloc/free)"
                    break
                continue
            hit = next((name for name, needles in LAYERS if any(n in clean(s) for n in needles)), None)
            if hit is not None:
                layer = hit
                break
        layers[owner][layer] += 1
        for name, needles in LAYERS:
            # Names without their generic parameters: a future generic over a tracing or a
            # throughput wrapper is not time spent in tracing or in throughput checks.
            if any(any(n in clean(s) for n in needles) for s, _ in chain):
                inclusive[owner][name] += 1

    for binary in sorted(binaries):
        total = sum(self_time[binary].values())
        if not total:
            continue
        with open(os.path.join(out_dir, f"{binary}.folded"), "w") as f:
            for stack, count in folded[binary].most_common():
                f.write(f"{stack} {count}\n")
        print(f"\n## {binary}: {total} samples")
        print("\nlayer (innermost matching frame)                  share")
        for layer, count in layers[binary].most_common():
            print(f"  {layer:<48} {100 * count / total:5.1f} %")
        print("\nlayer anywhere on the stack (inclusive)            share")
        for layer, count in inclusive[binary].most_common():
            print(f"  {layer:<48} {100 * count / total:5.1f} %")
        print("\ntop frames by self time")
        for symbol, count in self_time[binary].most_common(25):
            print(f"  {100 * count / total:5.1f} %  {symbol[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
