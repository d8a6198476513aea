"""Pages render the library's numbers; the CLI, the API and the pages agree; bad input is a
one-line message with a 4xx status, never a traceback."""

from __future__ import annotations

import html
import json
import re

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import rigfit
from rigfit.cli import main
from rigfit.units import fmt_bytes

# A sample across architectures: dense GQA, MLA MoE, sliding window, hybrid linear, MoE.
SAMPLE = [
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "rtx-4090", 2, "Q4_K_M", "32768"),
    ("deepseek-ai/DeepSeek-R1", "h200", 8, "FP8-BLOCK", "32768"),
    ("google/gemma-2-9b-it", "l4", 1, "Q8_0", "8192"),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "h100-sxm", 4, "BF16", "65536"),
    ("openai/gpt-oss-20b", "rtx-4090", 1, "MXFP4-EXPERTS", "131072"),
    ("Qwen/Qwen3-30B-A3B", "m4-max-36gb", 1, "Q4_K_M", "16384"),
]


def _text(page: str, element_id: str) -> str:
    """The text of the element with this id (its tag must not nest in itself)."""
    m = re.search(rf'<(\w+)[^>]*id="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert m, element_id
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).split())


@pytest.mark.parametrize(("model", "gpu", "n", "quant", "ctx"), SAMPLE)
def test_cli_api_and_page_agree(
    client: TestClient, model: str, gpu: str, n: int, quant: str, ctx: str
) -> None:
    args = ["fit", model, "--gpu", gpu, "--gpus", str(n), "--quant", quant, "--ctx", ctx, "--json"]
    cli = json.loads(CliRunner().invoke(main, args).output)
    params = {"model": model, "gpu": gpu, "gpus": n, "quant": quant, "ctx": ctx}
    api = client.get("/api/v1/estimate", params=params).json()
    assert cli == api
    page = client.get("/", params=params).text
    assert _text(page, "per-gpu") == fmt_bytes(api["per_gpu_bytes"])
    verdict = _text(page, "verdict")
    assert verdict.startswith("Fits." if api["fits"] else "Does not fit.")
    gap = api["headroom_per_gpu_bytes"] if api["fits"] else api["shortfall_per_gpu_bytes"]
    assert fmt_bytes(gap) in verdict
    assert _text(page, "max-ctx").startswith(f"{api['max_ctx_tokens']:,}")
    assert _text(page, "max-seqs").replace(",", "") in (str(api["max_seqs"]), "none")


def test_calculator_defaults_to_the_seed_question(client: TestClient) -> None:
    page = client.get("/").text
    assert "Does not fit." in _text(page, "verdict")
    assert "use 3 × rtx-4090" in page


def test_calculator_clamps_context_to_the_model(client: TestClient) -> None:
    page = client.get("/", params={"model": "Qwen/Qwen2.5-Math-1.5B", "ctx": "128k"}).text
    assert "shown at its maximum, 4,096 tokens" in page
    assert 'value="4096"' in page


def test_suggestion_links_apply_the_change(client: TestClient) -> None:
    page = client.get("/").text
    links = re.findall(r'<li><a href="([^"]+)">use 3', page)
    assert links
    follow = client.get(html.unescape(links[0])).text
    assert _text(follow, "verdict").startswith("Fits.")


@pytest.mark.parametrize(
    ("url", "status", "needle"),
    [
        ("/?model=llama-9b", 400, "unknown model"),
        ("/?gpus=0", 400, "gpus must be from 1 to 1024"),
        ("/?gpus=many", 400, "whole number"),
        ("/?ctx=abc", 400, "cannot read"),
        ("/?quant=Q9_K", 400, "unknown format"),
        ("/models?min_params_b=big", 400, "must be a number"),
        ("/models?fits_gpu=nope", 400, "unknown GPU"),
        ("/models/nope/nope", 404, "unknown model"),
        ("/gpus/h1000", 404, "unknown GPU"),
        ("/gpus/h100-sxm?ctx=0", 400, "between 1 and"),
        ("/compare?models=Qwen/Qwen3-8B&gpus_compared=h100-sxm", 400, "either models"),
        ("/no-such-page", 404, "no such page"),
    ],
)
def test_bad_input_is_a_message(client: TestClient, url: str, status: int, needle: str) -> None:
    resp = client.get(url)
    assert resp.status_code == status
    assert "text/html" in resp.headers["content-type"]
    assert 'role="alert"' in resp.text
    assert needle in html.unescape(resp.text)
    assert "Traceback" not in resp.text


def test_model_page_shows_spec_sources_and_formats(client: TestClient) -> None:
    page = html.unescape(client.get("/models/deepseek-ai/DeepSeek-R1-Distill-Llama-70B").text)
    for needle in (
        "Llama-3.3-70B-Instruct",  # lineage
        "70,553,706,496",  # parameters from the shapes
        "327,680 bytes",  # KV per token
        "config.json",
        "What dominates memory",
        "Where public pages disagree",
    ):
        assert needle in page, needle
    for fmt in rigfit.WeightFormat:
        assert f">{fmt.label}</a>" in page


def test_catalog_filters_and_fits_on_my_gpu(client: TestClient) -> None:
    page = client.get("/models", params={"kind": "moe"}).text
    n = int(re.search(r"(\d+) model\(s\)", page).group(1))  # type: ignore[union-attr]
    assert n == sum(m.arch.is_moe for m in rigfit.list_models())
    fit = client.get(
        "/models", params={"fits_gpu": "rtx-4090", "fits_quant": "Q4_K_M", "only_fits": "1"}
    ).text
    assert ">Qwen3-8B</a>" in fit
    assert ">DeepSeek-R1</a>" not in fit
    assert 'class="bad"' not in fit


def test_gpu_pages_and_compare(client: TestClient) -> None:
    assert "RTX 4090" in client.get("/gpus", params={"search": "4090"}).text
    page = client.get("/gpus/rtx-4090", params={"quant": "Q4_K_M", "ctx": "8192"}).text
    assert "Qwen/Qwen3-8B" in page
    assert "datasheet" in page
    cmp_ = client.get(
        "/compare",
        params={
            "gpus_compared": ["rtx-4090", "h100-sxm"],
            "model": "Qwen/Qwen3-32B",
            "ctx": "8192",
        },
    ).text
    assert "does not fit" in cmp_
    assert "fits</span>" in cmp_
    assert "Decode, one user" in cmp_


def test_pages_are_accessible_basics(client: TestClient) -> None:
    for url in ("/", "/models", "/gpus", "/gpus/h100-sxm", "/compare", "/models/Qwen/Qwen3-8B"):
        page = client.get(url).text
        assert '<html lang="en">' in page
        assert 'name="viewport"' in page
        ids = set(re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', page))
        labelled = set(re.findall(r'<label for="([^"]+)"', page))
        aria = set(re.findall(r'<input[^>]*\bid="([^"]+)"[^>]*aria-label=', page))
        assert ids <= labelled | aria, url
        assert not re.search(r'<link[^>]+href="https?://', page)  # no remote stylesheet
        assert not re.search(r'<script[^>]+src="https?://', page)  # no CDN


def test_vendored_assets_carry_their_license(client: TestClient) -> None:
    resp = client.get("/static/vendor/htmx/htmx.min.js")
    assert resp.status_code == 200
    assert len(resp.content) > 10_000
    assert client.get("/static/vendor/htmx/LICENSE").text.startswith("Zero-Clause BSD")


def test_calculator_under_an_engine_shows_its_command(client: TestClient) -> None:
    page = client.get(
        "/",
        params={"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "rtx-4090", "gpus": "1",
                "quant": "Q4_K_M", "ctx": "16384", "engine": "llama.cpp"},
    ).text  # fmt: skip
    assert 'id="engine-command">llama-server -m Llama-3.1-8B-Instruct-Q4_K_M.gguf -c 16384' in page
    assert 'id="host-terms"' in page  # token_embd stays in system RAM under llama.cpp
    assert "--engine llama.cpp" in page  # the CLI line reproduces the engine


def test_model_page_lists_each_attention_geometry(client: TestClient) -> None:
    page = client.get("/models/google/gemma-4-31B-it").text
    assert "32 / 16 / 256 on 50 layers; 32 / 4 / 512 on 10 layers (K used as V)" in page


def test_model_page_says_where_latent_experts_work(client: TestClient) -> None:
    page = client.get("/models/nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16").text
    assert "experts in a 2,048-wide latent" in page
    assert "speculative-decoding draft" in page  # its multi-token-prediction head


def test_model_page_lists_predicted_gguf_files(client: TestClient) -> None:
    from rigfit.catalog.lookup import get_model
    from rigfit.formats.gguf.size import gguf_file_bytes
    from rigfit.quant import WeightFormat
    from rigfit.units import fmt_bytes

    page = client.get("/models/meta-llama/Llama-3.1-8B-Instruct").text
    q8 = gguf_file_bytes(get_model("meta-llama/Llama-3.1-8B-Instruct").arch, WeightFormat.Q8_0)
    assert "GGUF file" in page
    assert f'<td class="num">{fmt_bytes(q8)}</td>' in page


def test_calculator_offers_every_engine_option(client: TestClient) -> None:
    """The form's engine fields are generated from the option table, and they price."""
    from rigfit.estimate.settings import OPTIONS

    page = client.get("/").text
    for o in OPTIONS:
        assert f'name="{o.param}"' in page, o.flag
    assert 'name="ram"' in page
    offload = client.get(
        "/", params={"model": "Qwen/Qwen3-8B", "gpu": "rtx-4090", "ngl": "10", "ctx": "8192"}
    ).text
    assert 'id="engine-name">llama.cpp' in offload  # --ngl picks llama.cpp
    assert "-ngl 10" in offload
    assert 'id="engine-options" open' in offload
    bad = client.get("/", params={"model": "Qwen/Qwen3-8B", "gpu": "rtx-4090", "ngl": "many"})
    assert bad.status_code == 400
    assert "ngl: Input should be a valid integer" in bad.text


def test_model_page_rounds_bits_per_weight(client: TestClient) -> None:
    """FP8's per-tensor scale makes its nominal bits 8.0000019...: the page shows 8.00."""
    page = client.get("/models/Qwen/Qwen3-8B").text
    assert "8.00</td>" in page
    assert "8.000001" not in page


def test_model_page_opens_the_calculator_on_a_system_that_holds_it(client: TestClient) -> None:
    """DeepSeek-R1 does not fit one RTX 4090: the link opens it on enough reference GPUs."""
    page = client.get("/models/deepseek-ai/DeepSeek-R1").text
    link = re.search(r'class="button" href="([^"]*)"', page)
    assert link is not None
    calc = client.get(link.group(1).replace("&amp;", "&"))
    assert calc.status_code == 200
    assert "Fits." in calc.text


def test_compare_with_one_entry_waits_for_the_others(client: TestClient) -> None:
    for params in ({"models": "Qwen/Qwen3-8B"}, {"gpus_compared": "h100-sxm"}):
        resp = client.get("/compare", params=params)
        assert resp.status_code == 200
        assert 'id="compare-hint"' in resp.text
        assert 'class="error"' not in resp.text


def test_calculator_shows_speed_with_ranges_and_a_throughput_chart(client: TestClient) -> None:
    r = client.get(
        "/?model=meta-llama/Llama-3.1-8B-Instruct&gpu=rtx-4090&quant=Q4_K_M&engine=llama.cpp"
        "&ctx=8192&users=4"
    )
    assert r.status_code == 200
    assert 'id="speed-table"' in r.text
    assert 'id="decode-tok-s"' in r.text
    assert "Time to first token" in r.text
    assert "concurrent users (log scale)" in r.text


def test_speed_matches_the_api(client: TestClient) -> None:
    q = "model=llama-3.1-8b&gpu=h100&ctx=8192&prompt=2000&output=100"
    api = client.get(f"/api/v1/estimate?{q}").json()["speed"]
    page = client.get(f"/?{q}").text
    v = api["decode_tok_s"]["value"]
    shown = f"{v:,.0f} tok/s" if v >= 100 else f"{v:,.1f} tok/s"
    assert shown in page


def test_a_plan_without_weights_room_says_speed_is_not_estimated(client: TestClient) -> None:
    r = client.get("/?model=meta-llama/Llama-3.1-405B-Instruct&gpu=rtx-4090&ctx=8192")
    assert 'id="speed-note"' in r.text
    assert "not estimated" in r.text


def test_model_and_gpu_pages_show_tokens_per_second(client: TestClient) -> None:
    assert "tok/s on them" in client.get("/models/meta-llama/Llama-3.1-8B-Instruct").text
    assert "tok/s" in client.get("/gpus/rtx-4090").text


def test_accuracy_page_shows_memory_and_speed_with_held_out_rows(client: TestClient) -> None:
    r = client.get("/accuracy")
    assert r.status_code == 200
    assert 'id="memory"' in r.text
    assert 'id="speed"' in r.text
    assert "held out" in r.text
    assert "all/decode" in r.text


def test_api_docs_are_served_offline_from_the_openapi_document(client: TestClient) -> None:
    r = client.get("/api/docs")
    assert r.status_code == 200
    assert "/api/v1/estimate" in r.text
    assert "<code>prompt</code>" in r.text  # the speed parameters, from the same schema
    assert not re.search(r'(src|href)="https?://', r.text)  # nothing from another host


def test_htmx_answers_push_the_canonical_link(client: TestClient) -> None:
    r = client.get(
        "/?model=meta-llama/Llama-3.1-8B-Instruct&gpu=h100-sxm&ctx=6000&ctx=6000&quant=",
        headers={"HX-Request": "true"},
    )
    pushed = r.headers["HX-Push-Url"]
    assert pushed.count("ctx=") == 1
    assert "quant=&" not in pushed


def test_model_page_times_one_user_on_common_accelerators(client: TestClient) -> None:
    page = client.get("/models/meta-llama/Llama-3.1-8B-Instruct").text
    assert "How fast on common accelerators" in page
    assert "NVIDIA GeForce RTX 4090" in page
    assert "#speed" in page  # each speed links to the calculator's speed section
    r1 = client.get("/models/deepseek-ai/DeepSeek-R1").text
    assert "more than one 8-GPU node" in r1  # 64 × RTX 3090: no speed across nodes
    assert "not run there" in r1  # FP8 on Apple silicon


def test_train_page(client: TestClient) -> None:
    resp = client.get(
        "/train",
        params={"model": "meta-llama/Llama-3.1-8B", "gpu": "rtx-4090", "method": "qlora"},
    )
    assert resp.status_code == 200
    assert 'id="train-verdict"' in resp.text
    assert "Fits." in resp.text
    assert "trl sft --model_name_or_path meta-llama/Llama-3.1-8B" in resp.text
    assert "<svg" in resp.text  # memory against sequence length
    bad = client.get("/train", params={"model": "meta-llama/Llama-3.1-8B", "method": "dpo"})
    assert bad.status_code == 400
    assert "method must be one of full, lora, qlora" in bad.text


def test_model_page_prices_fine_tuning(client: TestClient) -> None:
    text = client.get("/models/meta-llama/Llama-3.1-8B").text
    assert 'id="fine-tune-table"' in text
    assert "/train?model=meta-llama/Llama-3.1-8B&gpu=rtx-4090&method=qlora" in text


@pytest.mark.parametrize(
    "model_id",
    [
        "deepseek-ai/DeepSeek-R1",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    ],
)
def test_seed_model_pages_show_benchmarks_and_transparency(
    client: TestClient, model_id: str
) -> None:
    page = client.get(f"/models/{model_id}").text
    ev = rigfit.get_model(model_id).record.evidence
    assert ev is not None
    bench = html.unescape(page[page.index('id="benchmarks"') : page.index('id="transparency"')])
    for b in ev.benchmarks:
        assert f'<td>{b.benchmark}</td><td>{b.metric}</td><td class="num">{b.score:g}' in bench
    assert str(ev.benchmark_source) in bench
    panel = html.unescape(page[page.index('id="transparency"') :])
    assert f"{ev.score} / 100" in panel
    for a in ev.transparency:
        assert a.finding in panel
        assert f'href="{a.link}"' in panel
    # the disagreeing pages are named and linked
    for d in rigfit.get_model(model_id).record.disagreements:
        assert f'href="{d.url}"' in page
    assert "Knowledge cutoff" in page


def test_model_page_of_a_family_llamacpp_refuses(client: TestClient) -> None:
    """GLM-5's page renders; its GGUF line names llama.cpp's refusal instead of failing the
    page (the page used to answer 400)."""
    r = client.get("/models/zai-org/GLM-5")
    assert r.status_code == 200
    assert "Q4_K_M: not priced: llama.cpp builds differ on GLM-5" in r.text.replace("&#39;", "'")


def test_backend_is_a_calculator_input_and_the_speed_names_it(client: TestClient) -> None:
    q = "model=llama-3.1-8b&gpu=rx-7900-xtx&quant=Q4_K_M&engine=llama.cpp&ctx=8192"
    rocm = client.get(f"/api/v1/estimate?{q}").json()["speed"]
    vk = client.get(f"/api/v1/estimate?{q}&backend=vulkan").json()["speed"]
    assert (rocm["backend"], vk["backend"]) == ("rocm", "vulkan")
    assert vk["calibration_key"] != rocm["calibration_key"]
    assert "llama.cpp (vulkan backend)" in client.get(f"/?{q}&backend=vulkan").text
    bad = client.get(f"/api/v1/estimate?{q}&backend=metal")
    assert bad.status_code == 400
    assert "allowed: rocm, vulkan" in bad.text
