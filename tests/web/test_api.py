"""The REST API, in-process: answers equal the library's, every error is the envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import rigfit
from rigfit.answer import Query, answer
from rigfit.cli import main
from rigfit.report import model_dict
from rigfit.strict import dump

R1_70B = "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _envelope(resp: Any, status: int, type_: str, needle: str = "") -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"status", "type", "message", "closest"}
    assert err["status"] == status
    assert err["type"] == type_
    assert "\n" not in err["message"]
    assert needle in err["message"]
    return dict(err)


def test_estimate_equals_library(client: TestClient) -> None:
    params = {"model": R1_70B, "gpu": "rtx-4090", "gpus": 2, "quant": "Q4_K_M", "ctx": "32k"}
    got = client.get("/api/v1/estimate", params=params).json()
    query = Query(R1_70B, "rtx-4090", gpus=2, quant="Q4_K_M", ctx="32k")
    assert got == dump(answer(query))
    assert got["profile"] == "llama.cpp"  # a GGUF type's default engine
    assert got["fits"] is False
    generic = client.get("/api/v1/estimate", params={**params, "engine": "generic"}).json()
    assert generic["max_ctx_tokens"] == 22_681  # docs/estimate.md derives this by hand


def test_aliases_share_the_answer(client: TestClient) -> None:
    a = client.get("/api/v1/estimate", params={"model": R1_70B, "gpu": "h100"}).json()
    b = client.get("/api/v1/estimate", params={"model": R1_70B.lower(), "gpu": "h100-sxm"}).json()
    assert a == b


def test_models_and_gpus(client: TestClient) -> None:
    models = client.get("/api/v1/models").json()
    assert len(models) == len(rigfit.list_models())
    one = client.get(f"/api/v1/models/{R1_70B}").json()
    assert one == model_dict(rigfit.get_model(R1_70B))
    moe = client.get("/api/v1/models", params={"moe": True, "min_params_b": 200}).json()
    assert moe
    assert all(m["moe"] and m["params_total"] >= 200e9 for m in moe)
    gpus = client.get("/api/v1/gpus", params={"vendor": "apple"}).json()
    assert gpus
    assert all(g["vendor"] == "apple" for g in gpus)
    h200 = client.get("/api/v1/gpus/h200").json()
    assert h200["capacity_bytes"] > 140e9


def test_tables(client: TestClient) -> None:
    curve = client.get("/api/v1/curve", params={"model": "Qwen/Qwen3-8B", "gpu": "l4"}).json()
    ctxs = [p["ctx_tokens"] for p in curve["points"]]
    assert ctxs == sorted(ctxs)
    assert ctxs[-1] == 40960
    mem = [p["per_gpu_bytes"] for p in curve["points"]]
    assert mem == sorted(mem)
    table = client.get("/api/v1/gpu-table", params={"model": "Qwen/Qwen3-8B"}).json()
    assert len(table["rows"]) == len(rigfit.list_gpus())
    fmts = client.get("/api/v1/formats", params={"model": "Qwen/Qwen3-8B"}).json()
    assert [r["quant"] for r in fmts["rows"]] == [f.label for f in rigfit.WeightFormat]
    on = client.get("/api/v1/models-on-gpu", params={"gpu": "rtx-4090", "quant": "Q4_K_M"})
    rows = on.json()["rows"]
    assert rows[0]["fits"]
    assert not rows[-1]["fits"]
    cmp_ = client.get(
        "/api/v1/compare", params={"models": ["Qwen/Qwen3-8B", "Qwen/Qwen3-4B"], "gpu": "l4"}
    ).json()
    assert cmp_["kind"] == "models"
    assert len(cmp_["estimates"]) == 2


@pytest.mark.parametrize(
    ("url", "params", "status", "type_", "needle"),
    [
        (
            "/api/v1/estimate",
            {"model": "llama-9b", "gpu": "h100"},
            400,
            "unknown_model",
            "did you mean",
        ),
        ("/api/v1/estimate", {"model": R1_70B, "gpu": "h1000"}, 400, "unknown_gpu", "h100"),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "quant": "Q4KM"},
            400,
            "unknown_format",
            "Q4_K_M",
        ),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "kv_type": "f17"},
            400,
            "unknown_kv_type",
            "f16",
        ),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "ctx": "10m"},
            400,
            "invalid_input",
            "maximum",
        ),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "ctx": "lots"},
            400,
            "invalid_input",
            "token count",
        ),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "ctx": "2000m", "force_ctx": 1},
            400,
            "invalid_input",
            "between 1 and",
        ),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "gpus": 0},
            422,
            "invalid_request",
            "gpus",
        ),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "gpus": "two"},
            422,
            "invalid_request",
            "gpus",
        ),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "seqs": 10**6},
            422,
            "invalid_request",
            "seqs",
        ),
        ("/api/v1/estimate", {"gpu": "h100"}, 422, "invalid_request", "model"),
        (
            "/api/v1/estimate",
            {"model": "x" * 500, "gpu": "h100"},
            422,
            "invalid_request",
            "at most 200",
        ),
        (
            "/api/v1/estimate",
            {"model": R1_70B, "gpu": "h100", "file": "/etc/passwd"},
            422,
            "invalid_request",
            "file",
        ),
        (
            "/api/v1/estimate",
            {"model": "Qwen/Qwen3-8B", "gpu": "h100", "quant": "MXFP4_MOE"},
            400,
            "invalid_input",
            "dense",
        ),
        ("/api/v1/models/llama-9b", {}, 404, "unknown_model", "did you mean"),
        ("/api/v1/gpus/h1000", {}, 404, "unknown_gpu", "h100"),
        ("/api/v1/formats", {"model": "nope-7b"}, 400, "unknown_model", "unknown model"),
        ("/api/v1/compare", {"models": ["Qwen/Qwen3-8B"]}, 400, "invalid_input", "two to four"),
        ("/api/v1/compare", {}, 400, "invalid_input", "compare either"),
        ("/api/v1/compare", {"models": ["Qwen/Qwen3-8B"] * 5}, 422, "invalid_request", "models"),
        (
            "/api/v1/compare",
            {"gpus_compared": ["h100", "l4"]},
            400,
            "invalid_input",
            "needs a model",
        ),
        ("/api/v1/models", {"min_params_b": -1}, 422, "invalid_request", "min_params_b"),
        ("/api/v1/no-such-thing", {}, 404, "not_found", "/api/v1"),
    ],
)
def test_error_envelope(
    client: TestClient, url: str, params: dict[str, Any], status: int, type_: str, needle: str
) -> None:
    _envelope(client.get(url, params=params), status, type_, needle)


def test_unknown_model_lists_closest(client: TestClient) -> None:
    err = _envelope(client.get("/api/v1/models/DeepSeek-R1-Distill-Llama-7B"), 404, "unknown_model")
    assert err["closest"]
    assert all("DeepSeek-R1-Distill" in c for c in err["closest"])


def test_wrong_method(client: TestClient) -> None:
    resp = client.delete("/api/v1/estimate")
    _envelope(resp, 405, "method_not_allowed")
    assert resp.headers["allow"] == "GET"


def test_openapi_documents_the_envelope(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "/api/v1/estimate" in doc["paths"]
    responses = doc["paths"]["/api/v1/estimate"]["get"]["responses"]
    assert {"200", "400", "404", "422"} <= set(responses)
    assert "ErrorEnvelope" in doc["components"]["schemas"]
    assert "FitReport" in doc["components"]["schemas"]


def test_estimate_under_an_engine_equals_the_cli(client: TestClient) -> None:
    params = {"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "h100-sxm", "gpus": 2,
              "ctx": "32k", "engine": "vllm"}  # fmt: skip
    got = client.get("/api/v1/estimate", params=params).json()
    code, out, err = run_cli(
        "fit", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h100-sxm", "--gpus", "2",
        "--ctx", "32k", "--engine", "vllm", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert got == json.loads(out)
    assert got["kv_pool"]["tokens"] > 0
    assert got["command"].startswith("vllm serve meta-llama/Llama-3.1-8B-Instruct")


def test_unknown_engine_is_a_400_with_closest(client: TestClient) -> None:
    resp = client.get(
        "/api/v1/estimate", params={"model": R1_70B, "gpu": "h100", "engine": "lama.cpp"}
    )
    err = _envelope(resp, 400, "unknown_name", "unknown engine 'lama.cpp'")
    assert "llama.cpp" in err["closest"]


def test_plan_equals_the_cli(client: TestClient) -> None:
    params = {"model": "Qwen/Qwen3-8B", "ctx": "8k", "gpu": ["rtx-4090", "rtx-3060-12gb"]}
    got = client.get("/api/v1/plan", params=params).json()
    code, out, _ = run_cli(
        "plan",
        "Qwen/Qwen3-8B",
        "--ctx",
        "8k",
        "--gpu",
        "rtx-4090",
        "--gpu",
        "rtx-3060-12gb",
        "--json",
    )
    assert code == 0
    assert got == json.loads(out)
    assert [o["gpu"] for o in got["options"]]


def test_plan_bad_input_is_a_400(client: TestClient) -> None:
    resp = client.get("/api/v1/plan", params={"model": "Qwen/Qwen3-8B", "budget": "lots"})
    _envelope(resp, 400, "invalid_input", "not an amount")


def test_custom_gpu_estimate(client: TestClient) -> None:
    params = {"model": "Qwen/Qwen3-8B", "gpu": "custom:memory=24GiB,bandwidth=1008GB/s"}
    body = client.get("/api/v1/estimate", params=params).json()
    assert body["gpu"].startswith("custom-")
    assert body["capacity_basis"].startswith("given: memory=24 GiB")
    bad = client.get("/api/v1/estimate", params={"model": "Qwen/Qwen3-8B", "gpu": "custom:x=1"})
    _envelope(bad, 400, "invalid_input", "unknown field 'x'")


def test_auto_is_refused_on_the_server(client: TestClient) -> None:
    resp = client.get("/api/v1/estimate", params={"model": "Qwen/Qwen3-8B", "gpu": "auto"})
    _envelope(resp, 400, "invalid_input", "custom:memory=")


def test_plan_page_with_a_custom_card(client: TestClient) -> None:
    resp = client.get(
        "/plan",
        params={
            "model": "Qwen/Qwen3-8B",
            "ctx": "8k",
            "gpu": "custom:memory=24GiB,bandwidth=1TB/s",
        },
    )
    assert resp.status_code == 200
    assert "Custom accelerator" in resp.text
    assert "/gpus/custom" not in resp.text  # no link to a page that does not exist
