import pytest

from rigfit.catalog.url import Url
from rigfit.strict import Record, RecordError, read, record


@record
class _Sourced(Record):
    source: Url


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co/deepseek-ai/DeepSeek-R1/blob/main/config.json",
        "http://example.com",
        "https://github.com/ggml-org/llama.cpp/pull/16095#issuecomment-1",
        "https://example.com?q=1",
    ],
)
def test_web_addresses_are_kept_as_written(url: str) -> None:
    assert read(_Sourced, {"source": url}).source == url


@pytest.mark.parametrize(
    "url",
    ["", "huggingface.co/x", "ftp://example.com/x", "https://", "https:// x", "https://a b"],
)
def test_other_strings_are_refused(url: str) -> None:
    with pytest.raises(RecordError, match="not a web address"):
        read(_Sourced, {"source": url})


def test_the_length_limit() -> None:
    with pytest.raises(RecordError, match="at most 2,083"):
        read(_Sourced, {"source": "https://example.com/" + "a" * 2100})
