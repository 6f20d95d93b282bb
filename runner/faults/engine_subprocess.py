"""SIGKILL to an engine's child process inside a worker (GPU backends, so Kubernetes only).

The process is found by its title, matched as a substring of /proc/<pid>/cmdline (setproctitle
rewrites argv):
- vLLM's engine core titles itself "VLLM::EngineCore" (with "_DP<n>" under data parallelism);
- SGLang titles its scheduler and detokenizer "sglang::scheduler" (+"_TP<n>...") and "sglang::detokenizer";
- TensorRT-LLM sets no title: its LLM API runs the engine ranks through mpi4py's MPIPoolExecutor, whose
  workers are `python -m mpi4py.futures.server`. Upstream's "TRTLLM::EngineCore" (double colon) matches
  nothing; the single-colon "TRTLLM:EngineCore" some Dynamo tests list is kept as a fallback.
"""

from __future__ import annotations

from runner.faults.process_signal import ProcessSignal

SGLANG_ZOMBIE = (
    "SGLang leaves the killed subprocess as a zombie: the container does not restart and the worker "
    "never recovers on its own (upstream's documented limitation)"
)
TRTLLM_ENGINE = ("mpi4py.futures.server", "TRTLLM:EngineCore")


def _engine(name: str, role: str, order: int, backend: str, titles: tuple[str, ...],
            limitation: str | None = None) -> ProcessSignal:
    return ProcessSignal(name=name, role=role, kind="subprocess", order=order, local=False, backends=(backend,),
                         processes=titles, known_limitation=limitation)


FAULTS = (
    _engine("vllm_decode_engine_core", "decode", 25, "vllm", ("VLLM::EngineCore",)),
    _engine("sglang_decode_scheduler", "decode", 26, "sglang", ("sglang::scheduler",), SGLANG_ZOMBIE),
    _engine("sglang_decode_detokenizer", "decode", 27, "sglang", ("sglang::detokenizer",), SGLANG_ZOMBIE),
    _engine("trtllm_decode_engine_core", "decode", 28, "trtllm", TRTLLM_ENGINE),
    _engine("vllm_prefill_engine_core", "prefill", 55, "vllm", ("VLLM::EngineCore",)),
    _engine("sglang_prefill_scheduler", "prefill", 56, "sglang", ("sglang::scheduler",), SGLANG_ZOMBIE),
    _engine("sglang_prefill_detokenizer", "prefill", 57, "sglang", ("sglang::detokenizer",), SGLANG_ZOMBIE),
    _engine("trtllm_prefill_engine_core", "prefill", 58, "trtllm", TRTLLM_ENGINE),
)
