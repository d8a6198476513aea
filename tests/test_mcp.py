"""rigfit mcp, through the MCP SDK's own client: in-process, and as a stdio subprocess."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from rigfit.answer import Query, answer
from rigfit.mcp_server import build_server
from rigfit.strict import dump


def _call(server: Any, tool: str, args: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    return asyncio.run(go())


def _json(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content or json.loads(result.content[0].text)


def test_tools_are_listed() -> None:
    async def go() -> list[str]:
        async with Client(build_server()) as client:
            return sorted(t.name for t in (await client.list_tools()).tools)

    assert asyncio.run(go()) == ["fit", "plan", "show", "speed", "train"]


def test_fit_equals_the_library() -> None:
    args = {"model": "Qwen/Qwen3-8B", "gpu": "rtx-4090", "quant": "Q4_K_M", "ctx": "8k"}
    got = _json(_call(build_server(), "fit", args))
    want = answer(Query("Qwen/Qwen3-8B", gpu="rtx-4090", quant="Q4_K_M", ctx="8k"))
    assert got == dump(want)


def test_speed_and_plan_and_show() -> None:
    server = build_server()
    speed = _json(_call(server, "speed", {"model": "Qwen/Qwen3-8B", "gpu": "rtx-4090"}))
    assert speed["speed"]["decode_tok_s"]["value"] > 0
    plan = _json(
        _call(server, "plan", {"model": "Qwen/Qwen3-8B", "ctx": "8k", "gpus": ["rtx-4090"]})
    )
    assert plan["options"][0]["command"]
    show = _json(_call(server, "show", {"model": "deepseek-r1"}))
    assert show["id"] == "deepseek-ai/DeepSeek-R1"


@pytest.mark.parametrize(
    ("tool", "args", "says"),
    [
        ("fit", {"model": "Qwen/Qwen3-8B", "gpu": "rtx-9999"}, "unknown GPU 'rtx-9999'"),
        ("plan", {"model": "Qwen/Qwen3-8B", "budget": "lots"}, "not an amount"),
        ("show", {"model": "no-such-model"}, "unknown model"),
    ],
)
def test_bad_input_is_a_tool_error_of_one_line(tool: str, args: dict[str, Any], says: str) -> None:
    result = _call(build_server(), tool, args)
    assert result.is_error
    text = result.content[0].text
    assert says in text
    assert "\n" not in text


def test_over_stdio() -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "rigfit.cli", "mcp"])
    args = {"model": "Qwen/Qwen3-8B", "gpu": "custom:memory=16GiB", "quant": "Q4_K_M"}
    got = _json(_call(params, "fit", args))
    assert got["fits"] is True
