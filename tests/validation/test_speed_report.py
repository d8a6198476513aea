"""The speed validation report: what `rigfit validate` prints and returns for speed rows."""

from __future__ import annotations

from rigfit.validation.speed_report import speed_validation_dict


def test_validate_for_llamacpp_lists_the_groups_of_every_row_it_counts() -> None:
    """Its Vulkan rows count, so their llama.cpp-vulkan groups are listed too."""
    d = speed_validation_dict("llama.cpp")
    scored = sum(1 for r in d["rows"] if r["error"] is not None)
    listed = sum(g["n"] for g in d["groups"] if g["part"] in ("fit", "held out"))
    assert scored == listed
    assert any(g["group"].startswith("llama.cpp-vulkan/") for g in d["groups"])


def test_grid_edges_follow_the_engine_asked_for() -> None:
    from rigfit.validation.speed_report import speed_validation_dict

    every = speed_validation_dict()["at_grid_edge"]
    vllm = speed_validation_dict("vllm")["at_grid_edge"]
    assert set(vllm) <= {k for k in every if k.split("/")[0] in ("vllm", "*")}
    assert all(
        k.startswith("llama.cpp") for k in speed_validation_dict("llama.cpp")["at_grid_edge"]
    )
