"""The CLI with --engine, with model files and with the validation command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import gguf
from click.testing import CliRunner

from rigfit.cli import main

sys.path.insert(0, str(Path(__file__).parent / "formats"))
from readers_kit import build_gguf, write_config

TINY: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1024,
    "max_position_embeddings": 4096,
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_engine_prints_its_command_line() -> None:
    code, out, _ = run(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "rtx-4090", "--quant", "Q4_K_M",
        "--ctx", "16k", "--engine", "llama.cpp", "--kv-type", "q8_0",
    )  # fmt: skip
    assert code == 0
    assert "engine: llama.cpp b7832" in out
    assert (
        "llama-server -m Llama-3.1-8B-Instruct-Q4_K_M.gguf -c 16384 -ngl 999 -ctk q8_0 -ctv q8_0"
        in out
    )
    assert "total in system RAM" in out  # token_embd stays in host memory


def test_vllm_json_has_the_pool_and_the_command() -> None:
    code, out, _ = run(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100-sxm", "--gpus", "2",
        "--engine", "vllm", "--ctx", "32k", "--json",
    )  # fmt: skip
    assert code == 0
    d = json.loads(out)
    assert d["profile"] == "vllm"
    assert d["engine_version"] == "0.11.0"
    assert d["kv_pool"]["tokens"] > 0
    assert d["kv_pool"]["blocks"] * 16 == d["kv_pool"]["tokens"]
    assert d["command"].startswith("vllm serve meta-llama/Llama-3.1-8B-Instruct")
    assert "--tensor-parallel-size 2" in d["command"]
    assert [x["gpu"] for x in d["devices"]] == ["h100-sxm", "h100-sxm"]


def test_unknown_engine_is_one_line_with_closest() -> None:
    code, _, err = run(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--engine", "vlm"
    )
    assert code == 2
    assert "error: unknown engine 'vlm'; did you mean vllm? (allowed: auto, llama.cpp" in err
    assert err.count("\n") == 1


def test_mixed_gpus_get_a_device_table() -> None:
    code, out, _ = run(
        "fit", "meta-llama/Llama-3.3-70B-Instruct", "--gpu", "rtx-4090", "--add-gpu", "rtx-3090",
        "--add-gpu", "rtx-3060-12gb", "--quant", "Q4_K_M", "--ctx", "8k", "--engine", "llama.cpp",
    )  # fmt: skip
    assert code == 0
    assert "1 × rtx-4090 + rtx-3090 + rtx-3060-12gb" in out
    assert "GPU2    rtx-3060-12gb" in out


def test_fit_and_show_a_gguf_file(tmp_path: Path) -> None:
    path = build_gguf(
        tmp_path / "tiny-Q8_0.gguf",
        TINY,
        ftype=gguf.LlamaFileType.MOSTLY_Q8_0,
        quant=gguf.GGMLQuantizationType.Q8_0,
        tokens=1024,
    )
    code, out, err = run("show", str(path), "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["architecture"] == "llama"
    assert d["native_format"] == "Q8_0"
    assert d["num_layers"] == 2
    assert d["file_weights_bytes"] > 0
    code, out, err = run(
        "fit", str(path), "--gpu", "rtx-4090", "--engine", "llama.cpp", "--ctx", "2048", "--json"
    )
    assert code == 0, err
    f = json.loads(out)
    weights = next(t for t in f["terms"] if t["key"] == "weights")
    host = next(t for t in f["terms"] if t["key"] == "host_weights")
    # the file's own tensor bytes: every tensor on the GPU but token_embd, which stays in RAM
    assert weights["total_bytes"] + host["total_bytes"] == d["file_weights_bytes"]
    assert host["total_bytes"] == 1024 * 256 // 32 * 34  # token_embd in Q8_0
    assert f["command"].startswith(f"llama-server -m {path} -c 2048")


def test_fit_a_config_json(tmp_path: Path) -> None:
    path = write_config(tmp_path, TINY)
    code, out, err = run("fit", str(path), "--gpu", "rtx-4090", "--json")
    assert code == 0, err
    assert json.loads(out)["quant"] == "BF16"  # torch_dtype of the config


def test_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    code, _, err = run("show", str(p))
    assert code == 2
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "config.json" in err


def test_validate_prints_rows_groups_and_targets() -> None:
    code, out, _ = run("validate", "--engine", "llama.cpp")
    assert "kv cache" in out
    assert "target: kv cache (llama.cpp, ik_llama.cpp) median |error| <= 0.5%" in out
    assert "kv tokens (vllm)" not in out  # only the memory targets that concern llama.cpp
    assert "Speed targets" in out
    # exit 1 when a target does not hold: the speed targets are over every engine's rows
    assert code == (1 if "DOES NOT HOLD" in out else 0)
    code, out, _ = run("validate", "--engine", "vllm", "--json")
    d = json.loads(out)
    targets = d["targets"]
    assert targets
    assert all("vllm" in t["engines"] for t in targets)
    speed_ok = all(t["met"] for t in d["speed"]["targets"])
    assert code == (0 if all(t["holds"] for t in targets) and speed_ok else 1)
    code, out, _ = run("validate", "--json", "--no-rows")
    d = json.loads(out)
    assert len(d["rows"]) >= 80
    assert {t["term"] for t in d["targets"]} >= {"weights", "gguf file", "kv cache", "kv tokens"}


def test_gguf_sizes_match_a_published_card() -> None:
    # bartowski/Meta-Llama-3.1-8B-Instruct-GGUF lists Q8_0 at 8.54GB and f32 at 32.13GB
    # (rows gguf-*-llama-3.1-8b-* of the measurement set)
    code, out, _ = run("gguf", "meta-llama/Llama-3.1-8B-Instruct", "--imatrix", "--json")
    assert code == 0
    d = json.loads(out)
    sizes = {r["ftype"]: r["file_bytes"] for r in d["rows"]}
    assert round(sizes["Q8_0"] / 1e9, 2) == 8.54
    assert round(sizes["ALL_F32"] / 1e9, 2) == 32.13
    assert "MXFP4_MOE" not in sizes  # a dense model has no experts to make MXFP4
    assert d["source"] == "llama.cpp src/llama-quant.cpp @ ec98e2002 (Dec 2025)"


def test_gguf_names_the_build_a_newer_family_follows() -> None:
    """Gemma 4 loads from b8637, after the quantizer revision (b7437): the table says whose
    rules its own tensors follow."""
    code, out, _ = run("gguf", "google/gemma-4-E2B-it", "--json")
    assert code == 0
    source = json.loads(out)["source"]
    assert source.startswith("llama.cpp src/llama-quant.cpp @ ec98e2002")
    assert "gemma4's own tensors as from b8637" in source


def test_validate_unknown_engine_is_one_line() -> None:
    code, out, err = run("validate", "--engine", "nosuch")
    assert code == 2
    assert out == ""
    assert err.startswith("error: no measurements of engine 'nosuch' (allowed: llama.cpp")
    assert err.count("\n") == 1


def _fit_error(*args: str) -> str:
    code, out, err = run("fit", "Qwen/Qwen3-8B", *args)
    assert code == 2, out
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    return err


def test_tensor_split_refuses_non_finite_and_empty_proportions() -> None:
    base = ("--gpu", "rtx-4090", "--gpus", "2", "--engine", "llama.cpp", "--tensor-split")
    for split in ("nan,1", "inf,1", "1e308,1e308"):
        assert "--tensor-split" in _fit_error(*base, split)
    assert "separated by commas" in _fit_error(*base, "1,,2")


def test_options_an_engine_would_ignore_are_refused() -> None:
    err = _fit_error("--gpu", "rtx-4090", "--engine", "generic", "--ngl", "3")
    assert "--ngl: not an option of --engine generic" in err
    # without --engine, an engine option picks the engine that has it...
    code, out, err = run("fit", "Qwen/Qwen3-8B", "--gpu", "rtx-4090", "--ngl", "10")
    assert code == 0, err
    assert "engine: llama.cpp" in out
    assert "(--ngl given)" in out
    # ...and options no one engine has are one line
    err = _fit_error("--gpu", "rtx-4090", "--ngl", "3", "--gpu-memory-utilization", "0.8")
    assert "with --ngl, --gpu-memory-utilization: name one with --engine" in err
    err = _fit_error("--gpu", "rtx-4090", "--engine", "vllm", "--ubatch", "64")
    assert "--ubatch: not an option of --engine vllm" in err
    err = _fit_error("--gpu", "rtx-4090", "--engine", "llama.cpp", "--mem-fraction-static", "0.5")
    assert "--mem-fraction-static: not an option of --engine llama.cpp" in err
    code, _, err = run("fit", "Qwen/Qwen3-8B", "--gpu", "rtx-4090", "--engine", "llama.cpp",
                       "--ngl", "10", "--ubatch", "256")  # fmt: skip
    assert code == 0, err


def test_apple_gpu_in_a_mix_is_named() -> None:
    err = _fit_error("--gpu", "rtx-4090", "--add-gpu", "m4-max-128gb", "--engine", "llama.cpp")
    assert "error: Apple M4 Max (128GB unified memory) is a single unified-memory machine" in err


def test_gpu_table_leaves_out_accelerators_the_engine_does_not_run_on() -> None:
    code, out, err = run("fit", "Qwen/Qwen3-8B", "--engine", "mlx", "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert rows
    assert all(r["gpu"].startswith("m") for r in rows)
    # one Mac, or none where even the largest single one is too small (an 8 GB M1)
    assert {r["gpus_needed"] for r in rows} == {1, None}
    # an engine that refuses the request everywhere says why, rather than "> 64 needed"
    code, out, err = run("fit", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm",
                         "--kv-type", "q8_0")  # fmt: skip
    assert code == 2
    assert "no q8_0 KV cache" in err
    assert out == ""


def test_capacity_basis_is_the_tightest_devices() -> None:
    code, out, err = run("fit", "Qwen/Qwen3-8B", "--gpu", "rtx-4090", "--add-gpu",
                         "rtx-3060-12gb", "--engine", "llama.cpp", "--json")  # fmt: skip
    assert code == 0, err
    d = json.loads(out)
    assert d["capacity_per_gpu_bytes"] == d["devices"][1]["capacity_bytes"]
    assert "12288MiB" in d["capacity_basis"]  # the RTX 3060's reading, not the 4090's


def test_summary_fields_add_up_each_engines_own_terms() -> None:
    code, out, _ = run(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "rtx-4090", "--engine", "llama.cpp",
        "--json",
    )  # fmt: skip
    assert code == 0
    d = json.loads(out)
    compute = next(t for t in d["terms"] if t["key"] == "compute")["total_bytes"]
    assert d["activation_bytes"] == compute > 0
    gpu_terms = sum(t["total_bytes"] for t in d["terms"] if not t["host"])
    assert d["total_bytes"] == gpu_terms


def test_an_explicit_tp_1_is_not_read_as_every_gpu() -> None:
    code, _, err = run(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--gpus", "8", "--tp", "1",
        "--engine", "vllm",
    )  # fmt: skip
    assert code == 2
    assert "1 × 1 = 1, but 8 GPUs were given" in err


def test_llamacpp_commands_name_a_gguf_file_for_float_formats() -> None:
    code, out, _ = run(
        "fit", "Qwen/Qwen3-8B", "--gpu", "rtx-4090", "--engine", "llama.cpp", "--json"
    )
    assert code == 0
    assert json.loads(out)["command"].startswith("llama-server -m Qwen3-8B-BF16.gguf")


def test_mlx_bits_and_attention_implementation_are_cli_flags() -> None:
    code, out, _ = run(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "m4-max-128gb", "--engine", "mlx",
        "--quant", "BF16", "--q-bits", "4", "--json",
    )  # fmt: skip
    assert code == 0
    assert "--q-bits 4" in json.loads(out)["command"]
    code, out, _ = run(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--engine", "transformers",
        "--attn-implementation", "eager", "--ctx", "32k", "--json",
    )  # fmt: skip
    assert code == 0
    assert "attn_implementation='eager'" in json.loads(out)["command"]
    code, _, err = run(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--engine", "vllm",
        "--q-bits", "4",
    )  # fmt: skip
    assert code == 2
    assert "--q-bits: not an option of --engine vllm" in err
    # --q-bits alone is an MLX option, and MLX does not run on an H100
    code, _, err = run("fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100", "--q-bits", "4")
    assert code == 2
    assert "no engine runs BF16 on NVIDIA H100 SXM5 80GB with --q-bits" in err


def test_train_refuses_a_gguf_file(tmp_path: Path) -> None:
    """Fine-tuning trains a safetensors checkpoint: a GGUF file is refused with where to go."""
    path = build_gguf(
        tmp_path / "tiny-Q8_0.gguf",
        TINY,
        ftype=gguf.LlamaFileType.MOSTLY_Q8_0,
        quant=gguf.GGMLQuantizationType.Q8_0,
        tokens=1024,
    )
    code, _, err = run("train", str(path), "--gpu", "rtx-4090")
    assert code == 2
    assert "is a GGUF file: fine-tuning trains a safetensors checkpoint" in err
