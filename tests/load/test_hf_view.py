"""A local tokenizer directory as a cached hub repository: loadable offline, refreshed when it changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from runner.load.aiperf import aiperf_command, aiperf_tokenizer
from runner.load.base import LoadSpec
from runner.load.hf_view import ensure_view

LOAD_OFFLINE = """
import sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
print(len(tok.encode("hello world")))
"""


def _load_offline(repo: str, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env |= {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", LOAD_OFFLINE, repo], env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_view_loads_offline_under_its_repo_id(model_dir, tmp_path):
    repo, cache = ensure_view(model_dir, tmp_path / "hub")
    loaded = _load_offline(repo, cache)
    assert loaded.returncode == 0, loaded.stderr
    assert int(loaded.stdout.strip()) > 0


def test_a_changed_tokenizer_gets_a_new_snapshot_and_ref(model_dir, tmp_path):
    copy = tmp_path / "tok"
    shutil.copytree(model_dir, copy)
    repo, cache = ensure_view(copy, tmp_path / "hub")
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    first = (repo_dir / "refs" / "main").read_text()
    (copy / "tokenizer_config.json").write_text((copy / "tokenizer_config.json").read_text() + "\n")
    assert ensure_view(copy, tmp_path / "hub") == (repo, cache)
    second = (repo_dir / "refs" / "main").read_text()
    assert second != first
    assert (repo_dir / "snapshots" / second / "tokenizer.json").resolve() == (copy / "tokenizer.json").resolve()


def test_a_second_call_reuses_the_snapshot(model_dir, tmp_path):
    repo, cache = ensure_view(model_dir, tmp_path / "hub")
    snapshots = sorted((cache / ("models--" + repo.replace("/", "--")) / "snapshots").iterdir())
    ensure_view(model_dir, tmp_path / "hub")
    assert sorted((cache / ("models--" + repo.replace("/", "--")) / "snapshots").iterdir()) == snapshots


def test_aiperf_gets_a_local_directory_as_an_offline_repo_and_a_hub_id_unchanged(model_dir):
    repo, env = aiperf_tokenizer(str(model_dir))
    assert repo.endswith(model_dir.name + "-" + repo.rsplit("-", 1)[1]) and env["HF_HUB_OFFLINE"] == "1"
    assert Path(env["HF_HUB_CACHE"]).is_dir()
    assert aiperf_tokenizer("Qwen/Qwen3-0.6B") == ("Qwen/Qwen3-0.6B", {})


def test_the_command_names_the_view_and_random_prompts(model_dir, tmp_path):
    spec = LoadSpec(endpoints=["http://127.0.0.1:1"], model="tiny-llm", tokenizer=str(model_dir), clients=1,
                    requests_per_client=2, input_tokens=10, output_tokens=10, request_rate_per_client=1.0,
                    streaming=False, max_attempts=1, retry_backoff_s=0.1, request_timeout_s=5, max_duration_s=30,
                    seed=0, aiperf_mode="pooled")
    cmd = aiperf_command(spec, tmp_path, 1, 1.0, 2, aiperf_tokenizer(spec.tokenizer)[0])
    assert cmd[cmd.index("--tokenizer") + 1].startswith("ft-runner-local/")
    assert cmd[cmd.index("--prompt-corpus") + 1] == "random"
