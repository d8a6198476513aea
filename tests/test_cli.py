"""The CLI through click's runner: tables, the --json contract, one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rigfit.cli import main

FIT_KEYS = {
    "weights_bytes",
    "kv_cache_bytes",
    "total_bytes",
    "fits",
    "per_gpu_bytes",
    "capacity_per_gpu_bytes",
    "headroom_per_gpu_bytes",
    "max_ctx_tokens",
    "max_seqs",
    "terms",
    "suggestions",
}
SHOW_KEYS = {
    "params_total",
    "params_active",
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "num_kv_heads",
    "head_dim",
    "vocab_size",
    "context_length",
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_fit_table() -> None:
    code, out, _ = run(
        "fit",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "--gpu",
        "rtx-4090",
        "--gpus",
        "2",
        "--quant",
        "Q4_K_M",
        "--ctx",
        "32k",
    )
    assert code == 0
    assert "DOES NOT FIT" in out
    assert "would fit with" in out
    assert "KV cache (f16)" in out


def test_fit_json_contract() -> None:
    code, out, _ = run(
        "fit",
        "deepseek-ai/DeepSeek-R1",
        "--gpu",
        "h200",
        "--gpus",
        "8",
        "--quant",
        "FP8-BLOCK",
        "--ctx",
        "32k",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data.keys() >= FIT_KEYS
    assert data["fits"] is True
    # the default engine for an FP8 checkpoint on NVIDIA GPUs is vLLM, which keeps the whole
    # MLA latent (61 layers × 576 × 2 B = 70,272 B per token) on every rank
    assert data["profile"] == "vllm"
    assert "vLLM" in data["engine_reason"]
    assert data["kv_pool"]["demand_per_gpu_bytes"] == 70_272 * 32_768
    assert data["total_bytes"] == sum(t["total_bytes"] for t in data["terms"] if not t["host"])


def test_fit_without_gpu_compares_all() -> None:
    code, out, _ = run("fit", "qwen2.5-7b-instruct", "--quant", "Q4_K_M", "--json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert len(rows) >= 45
    assert all(r["gpus_needed"] is None or r["headroom_per_gpu_bytes"] >= 0 for r in rows)


def test_show_json_contract() -> None:
    code, out, _ = run("show", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "--json")
    assert code == 0
    data = json.loads(out)
    assert data.keys() >= SHOW_KEYS
    assert (data["hidden_size"], data["num_attention_heads"], data["num_kv_heads"]) == (3584, 28, 4)


def test_show_lists_each_attention_geometry() -> None:
    """Gemma 4's full layers have their own head size and KV heads: the heads row and the JSON
    list both geometries with their layer counts (50 sliding + 10 full in the 31B)."""
    code, out, _ = run("show", "google/gemma-4-31B-it", "--json")
    assert code == 0
    geos = json.loads(out)["attention_geometries"]
    assert [(g["layers"], g["num_kv_heads"], g["head_dim"], g["k_eq_v"]) for g in geos] == [
        (50, 16, 256, False),
        (10, 4, 512, True),
    ]
    code, out, _ = run("show", "google/gemma-4-31B-it")
    assert "32 / 16 / 256 on 50 layers; 32 / 4 / 512 on 10 layers (K used as V)" in out
    code, out, _ = run("show", "meta-llama/Llama-3.1-8B-Instruct")
    assert "heads / KV heads / head dim  32 / 8 / 128\n" in out


def test_show_says_where_latent_experts_work() -> None:
    """Nemotron 3 Super's experts work in a 1,024-wide latent: the JSON carries it, the table
    says it, and a model without one says nothing of it."""
    code, out, _ = run("show", "nemotron-3-super", "--json")
    assert code == 0
    assert json.loads(out)["expert_latent_size"] == 1024
    code, out, _ = run("show", "nemotron-3-super")
    assert "22 per token, experts in a 1,024-wide latent" in out
    code, out, _ = run("show", "nemotron-3-nano", "--json")
    assert json.loads(out)["expert_latent_size"] is None


def test_show_table_mentions_disagreements() -> None:
    code, out, _ = run("show", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B")
    assert code == 0
    assert "grouped-query attention" in out
    assert (
        "note: ApX Machine Learning, model page 'DeepSeek-R1 70B' (https://apxml.com/models/deepseek-r1-70b)"
        in out
    )
    assert "transparency: 55/100" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fit", "deepseek-r2", "--gpu", "h100"), "error: unknown model 'deepseek-r2'; did you"),
        (("fit", "qwen2.5-7b-instruct", "--gpu", "rtx-4900"), "error: unknown GPU 'rtx-4900'"),
        (
            ("fit", "qwen2.5-7b-instruct", "--gpu", "h100", "--quant", "q4km"),
            "error: unknown format 'q4km'; did you mean Q4_K_M",
        ),
        (("fit", "qwen2.5-7b-instruct", "--gpu", "h100", "--ctx", "0"), "must be between 1 and"),
        (("fit", "qwen2.5-7b-instruct", "--gpu", "h100", "--ctx", "1M"), "exceeds the model's"),
        (
            ("fit", "qwen2.5-7b-instruct", "--gpu", "h100", "--kv-type", "q9"),
            "unknown KV cache type",
        ),
        (("fit", "qwen2.5-7b-instruct", "--gpu", "h100", "--seqs", "0"), "between 1 and"),
    ],
)
def test_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_models_filters() -> None:
    code, out, _ = run("models", "--moe", "--json")
    assert code == 0
    data = json.loads(out)
    assert data
    assert all(m["moe"] for m in data)
    code, out, _ = run("models", "--family", "qwen3", "--max-params", "10")
    assert code == 0
    assert "Qwen/Qwen3-8B" in out
    assert "Qwen3-32B" not in out


def test_gpus_filters() -> None:
    code, out, _ = run("gpus", "--vendor", "apple", "--json")
    assert code == 0
    data = json.loads(out)
    assert data
    assert all(g["unified_memory"] for g in data)
    code, out, _ = run("gpus", "--min-memory", "100")
    assert code == 0
    assert "h200" in out
    assert "rtx-4090" not in out


def test_speed_prints_figures_with_bands() -> None:
    code, out, _ = run(
        "speed",
        "llama-3.1-8b",
        "--gpu",
        "rtx-4090",
        "--quant",
        "Q4_K_M",
        "--engine",
        "llama.cpp",
        "--ctx",
        "8k",
        "--users",
        "4",
    )
    assert code == 0
    assert "decode, 1 user" in out
    assert "decode, each of 4 users" in out
    assert "time to first token" in out
    assert "output tok/s by concurrent users" in out


def test_speed_json_carries_the_speed_report() -> None:
    code, out, _ = run("speed", "llama-3.1-8b", "--gpu", "h100", "--json", "--prompt", "2000")
    assert code == 0
    d = json.loads(out)
    s = d["speed"]
    assert s["prompt_tokens"] == 2000
    assert s["decode_tok_s"]["low"] <= s["decode_tok_s"]["value"] <= s["decode_tok_s"]["high"]
    assert d["profile"] == "vllm"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "0"], "at least 1 token"),
        (["--prompt", "9000", "--ctx", "8k"], "exceed the context"),
        (["--users", "100000"], "the most that fit"),
        (["--ram-bandwidth", "fast"], "is not a bandwidth"),
        (["--backend", "rocm"], "rocm backend does not run on NVIDIA GeForce RTX 4090"),
        (["--backend", "vulcan"], "'vulcan' is not one of"),
    ],
)
def test_speed_bad_input_is_one_line(args: list[str], message: str) -> None:
    code, _, err = run("speed", "llama-3.1-8b", "--gpu", "rtx-4090", "--quant", "Q4_K_M", *args)
    assert code != 0
    assert message in err
    assert "Traceback" not in err


def test_fit_has_a_speed_section_and_the_table_a_tok_s_column() -> None:
    code, out, _ = run("fit", "llama-3.1-8b", "--gpu", "rtx-4090", "--quant", "Q4_K_M")
    assert code == 0
    assert "speed (llama.cpp, cuda backend;" in out
    code, out, _ = run("fit", "llama-3.1-8b", "--quant", "Q4_K_M", "--ctx", "4k", "--json")
    rows = json.loads(out)["rows"]
    assert any(r["decode_tok_s"] for r in rows)


def test_the_speed_header_names_the_backend_and_its_calibration() -> None:
    code, out, _ = run(
        "speed", "llama-3.1-8b", "--gpu", "rx-7900-xtx", "--quant", "Q4_K_M", "--backend", "vulkan"
    )
    assert code == 0
    assert "speed (llama.cpp, vulkan backend;" in out
    assert "on llama.cpp-vulkan/" in out
    code, out, _ = run("speed", "llama-3.1-8b", "--gpu", "rx-7900-xtx", "--quant", "Q4_K_M")
    assert "speed (llama.cpp, rocm backend;" in out
    assert "on llama.cpp/amd-gddr" in out


def test_the_gpu_table_counts_the_accelerators_it_leaves_out() -> None:
    code, out, _ = run("fit", "llama-3.1-8b", "--quant", "Q4_K_M", "--ctx", "4k", "--json")
    base = json.loads(out)
    code, out, _ = run(
        "fit", "llama-3.1-8b", "--quant", "Q4_K_M", "--ctx", "4k", "--backend", "rocm", "--json"
    )
    assert code == 0
    rocm = json.loads(out)
    # --backend rocm: only AMD cards are listed, and the rest are named, not silently gone
    assert all(r["name"].startswith("AMD") for r in rocm["rows"])
    assert "rtx-4090" in rocm["left_out"]
    assert set(base["left_out"]) < set(rocm["left_out"])
    listed = {r["gpu"] for r in rocm["rows"]}
    assert listed | set(rocm["left_out"]) == {r["gpu"] for r in base["rows"]} | set(
        base["left_out"]
    )
    code, out, _ = run(
        "fit", "llama-3.1-8b", "--quant", "Q4_K_M", "--ctx", "4k", "--backend", "rocm"
    )
    assert f"left out: {len(rocm['left_out'])} accelerator(s)" in out
