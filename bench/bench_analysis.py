"""Benchmark: read an aiperf export of N records and analyse it.

Generates N synthetic lines shaped like aiperf 0.13's `profile_export.jsonl`
(every field of a real line, ~100 inter_chunk_latency values on each success,
so 1,000,000 lines are ~3.8 GB) into a temporary directory, then times
`runner.results.records.iter_aiperf` and `runner.results.analysis.analyze` and prints
records/s, seconds and peak RSS. The file is deleted afterwards.

    python bench/bench_analysis.py               # 1,000,000 records
    python bench/bench_analysis.py --records 50000

The timeline: one request starts every `1/rate` seconds; a fault lands at 40 %
of the run, after which the server refuses connections for `--outage-s`
seconds; the requests in flight at the fault die mid-stream, and 0.2 % of the
other requests fail with a 500.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.results.analysis import analyze  # noqa: E402
from runner.results.records import iter_aiperf  # noqa: E402

T0_NS = 1_795_754_402_937_136_089
INTER_CHUNK_VARIANTS = 64
ISL = OSL = 100


def _metadata(session: int, start_ns: int, end_ns: int, with_ack: bool) -> str:
    ack = f'"request_ack_ns":{start_ns + 3_000_000},' if with_ack else ""
    return (
        f'{{"session_num":{session},"x_request_id":"{session:08x}-24c4-46b6-85fc-caec4dcc683a",'
        f'"x_correlation_id":"{session:08x}-f99f-439b-96c6-f4f20fc4e797","conversation_id":"session_{session:06d}",'
        f'"turn_index":0,"credit_issued_ns":{start_ns - 1_500_000},"request_start_ns":{start_ns},{ack}'
        f'"request_end_ns":{end_ns},"worker_id":"worker_ebeb868c","record_processor_id":"record_processor_9ce66ee1",'
        '"benchmark_phase":"profiling","phase_index":0,"profiling_index":0,"phase_name":"profiling",'
        '"phase_kind":"profiling","was_cancelled":false,"context_overflow_skip":false,"agent_depth":0,'
        f'"root_correlation_id":"{session:08x}-f99f-439b-96c6-f4f20fc4e797"}}'
    )


def _success_metrics(latency_ms: float, ttft_ms: float, chunks: str, itl_ms: float) -> str:
    decode = latency_ms - ttft_ms
    return (
        f'{{"http_req_waiting":{{"value":{ttft_ms - 0.5},"unit":"ms"}},"http_req_sending":{{"value":0.419493,"unit":"ms"}},'
        '"http_req_blocked":{"value":0.0,"unit":"ms"},"http_req_dns_lookup":{"value":0.0,"unit":"ms"},'
        f'"http_req_receiving":{{"value":{decode},"unit":"ms"}},"http_req_connecting":{{"value":0.0,"unit":"ms"}},'
        f'"output_sequence_length":{{"value":{OSL},"unit":"tokens"}},'
        f'"inter_chunk_latency":{{"value":{chunks},"unit":"ms"}},'
        '"time_to_second_token":{"value":1.3228469999999999,"unit":"ms"},'
        f'"output_token_count":{{"value":{OSL},"unit":"tokens"}},"input_sequence_length":{{"value":{ISL},"unit":"tokens"}},'
        f'"request_latency":{{"value":{latency_ms},"unit":"ms"}},"http_req_data_received":{{"value":19.384765625,"unit":"KB"}},'
        f'"time_to_first_token":{{"value":{ttft_ms},"unit":"ms"}},"http_req_data_sent":{{"value":0.5380859375,"unit":"KB"}},'
        f'"time_to_first_output_token":{{"value":{ttft_ms},"unit":"ms"}},"usage_completion_tokens":{{"value":{OSL},"unit":"tokens"}},'
        f'"usage_prompt_tokens":{{"value":{ISL},"unit":"tokens"}},"http_req_duration":{{"value":{latency_ms},"unit":"ms"}},'
        '"http_req_connection_reused":{"value":1,"unit":"ratio"},"http_req_chunks_sent":{"value":1,"unit":"count"},'
        f'"usage_total_tokens":{{"value":{ISL + OSL},"unit":"tokens"}},"http_req_chunks_received":{{"value":{OSL},"unit":"count"}},'
        f'"http_req_total":{{"value":{latency_ms},"unit":"ms"}},"http_req_connection_overhead":{{"value":0.0,"unit":"ms"}},'
        '"osl_mismatch_diff_pct":{"value":0.0,"unit":"%"},'
        f'"e2e_output_token_throughput":{{"value":{OSL / latency_ms * 1000.0},"unit":"tokens/sec/user"}},'
        '"prefill_throughput_per_user":{"value":4379.122533322386,"unit":"tokens/sec/user"},'
        f'"decode_duration":{{"value":{decode},"unit":"ms"}},"inter_token_latency":{{"value":{itl_ms},"unit":"ms"}},'
        '"usage_completion_tokens_diff_pct":{"value":0.0,"unit":"%"},"usage_prompt_tokens_diff_pct":{"value":0.0,"unit":"%"},'
        f'"output_token_throughput_per_user":{{"value":{1000.0 / itl_ms},"unit":"tokens/sec/user"}}}}'
    )


ERROR_500 = (
    '"metrics":{"error_isl":{"value":100,"unit":"tokens"}},"error":{"code":500,"type":"Internal Server Error",'
    '"message":"{\\"error\\": {\\"message\\": \\"Internal server error\\", \\"type\\": \\"Internal Server Error\\", \\"code\\": 500}}"}'
)
ERROR_REFUSED = (
    '"metrics":{"error_isl":{"value":100,"unit":"tokens"}},"error":{"type":"ClientConnectorError",'
    '"message":"ClientConnectorError(ConnectionKey(host=\'127.0.0.1\', port=8101, is_ssl=False, ssl=True, proxy=None, '
    'proxy_auth=None, proxy_headers_hash=None, server_hostname=None), ConnectionRefusedError(111, \\"Connect call failed '
    '(\'127.0.0.1\', 8101)\\"))","cause":"ConnectionRefusedError(111, \\"Connect call failed (\'127.0.0.1\', 8101)\\")",'
    '"cause_chain":["ClientConnectorError","ConnectionRefusedError"]}'
)
ERROR_MID_STREAM = (
    '"metrics":{"error_isl":{"value":100,"unit":"tokens"}},"error":{"type":"ClientPayloadError",'
    '"message":"ClientPayloadError(\\"Response payload is not completed: <TransferEncodingError: 400, '
    'message=\'Not enough data to satisfy transfer length header.\'>\\")","cause":"<TransferEncodingError: 400, '
    'message=\'Not enough data to satisfy transfer length header.\'>","cause_chain":["ClientPayloadError","TransferEncodingError"]}'
)


def _inter_chunk_ms(rng: random.Random) -> float:
    # like the real export: about a third of the values print with 17 significant digits
    value = rng.gauss(2.25, 0.08)
    return value if rng.random() < 1 / 3 else round(value, 6)


def generate(path: Path, count: int, rate: float, outage_s: float, seed: int) -> int:
    """Write `count` aiperf lines to `path`; return the fault's epoch ns."""
    rng = random.Random(seed)
    chunk_lists = [
        json.dumps([_inter_chunk_ms(rng) for _ in range(OSL - 1)], separators=(",", ":"))
        for _ in range(INTER_CHUNK_VARIANTS)
    ]
    spacing_ns = int(1e9 / rate)
    fault_ns = T0_NS + int(count * 0.4) * spacing_ns + spacing_ns // 2
    outage_end_ns = fault_ns + int(outage_s * 1e9)
    with path.open("w", encoding="utf-8") as fh:
        lines: list[str] = []
        for i in range(count):
            start = T0_NS + i * spacing_ns
            latency = rng.gauss(250.0, 15.0)
            if fault_ns <= start < outage_end_ns:
                body = ERROR_REFUSED
                meta = _metadata(i, start, start + 5_000_000, with_ack=False)
            elif start < fault_ns < start + int(latency * 1e6):
                body = ERROR_MID_STREAM  # in flight when the server died
                meta = _metadata(i, start, fault_ns + 1_000_000, with_ack=True)
            elif rng.random() < 0.002:
                body = ERROR_500
                meta = _metadata(i, start, start, with_ack=False)  # aiperf: end == start for HTTP errors
            else:
                ttft = rng.gauss(23.0, 1.0)
                itl = (latency - ttft) / (OSL - 1)
                chunks = chunk_lists[i % INTER_CHUNK_VARIANTS]
                body = f'"metrics":{_success_metrics(latency, ttft, chunks, itl)}'
                meta = _metadata(i, start, start + int(latency * 1e6), with_ack=True)
            lines.append(f'{{"metadata":{meta},{body}}}\n')
            if len(lines) == 10_000:
                fh.write("".join(lines))
                lines.clear()
        fh.write("".join(lines))
    return fault_ns


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="lines to generate (default 1,000,000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests started per second in the timeline")
    parser.add_argument("--outage-s", type=float, default=5.0, help="seconds of refused connections after the fault")
    parser.add_argument("-k", type=int, default=5, help="consecutive successes that mark service recovery")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the temporary export goes")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-analysis-", dir=args.tmpdir) as tmp:
        export = Path(tmp) / "profile_export.jsonl"
        t = time.perf_counter()
        fault_ns = generate(export, args.records, args.rate, args.outage_s, args.seed)
        generate_s = time.perf_counter() - t
        size_gb = export.stat().st_size / 1e9
        print(f"generated {args.records:,} lines, {size_gb:.2f} GB in {generate_s:.1f} s")
        # Flush the file just written, so that the kernel's write-back of gigabytes of
        # dirty pages does not compete with the timed read (a real export is written over minutes).
        os.sync()
        rss_before = peak_rss_mib()

        wall0, cpu0 = time.perf_counter(), time.process_time()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        records = list(iter_aiperf(export))
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        wall1, cpu1 = time.perf_counter(), time.process_time()
        analysis = analyze(records, fault_ns, args.k)
        wall2, cpu2 = time.perf_counter(), time.process_time()

    read_s, analyze_s, total_s = wall1 - wall0, wall2 - wall1, wall2 - wall0
    print(
        f"read     {read_s:7.2f} s wall {cpu1 - cpu0:7.2f} s cpu  {len(records) / read_s:12,.0f} records/s"
        f"  (user {usage1.ru_utime - usage0.ru_utime:.2f} s, system {usage1.ru_stime - usage0.ru_stime:.2f} s)"
    )
    print(f"analyze  {analyze_s:7.2f} s wall {cpu2 - cpu1:7.2f} s cpu  {len(records) / analyze_s:12,.0f} records/s")
    print(f"total    {total_s:7.2f} s wall {cpu2 - cpu0:7.2f} s cpu  {len(records) / total_s:12,.0f} records/s")
    print(f"peak RSS {peak_rss_mib():.0f} MiB (before reading: {rss_before:.0f} MiB)")
    print(f"load     {os.getloadavg()[0]:.2f} (1-minute load average on {os.cpu_count()} CPUs; others' work slows this)")
    print(
        f"result   {analysis.total.requests:,} attempts, {analysis.total.failures:,} failed, "
        f"before {analysis.before.requests:,}, after {analysis.after.requests:,}, "
        f"service recovery {analysis.service_recovery_s} s ({analysis.service_recovery_reason or 'measured'})"
    )
    expected_recovery_s = args.outage_s
    if analysis.service_recovery_s is None or abs(analysis.service_recovery_s - expected_recovery_s) > 0.5:
        print(f"UNEXPECTED: service recovery should be about {expected_recovery_s} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
