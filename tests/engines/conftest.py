"""Setup of the engine tests; the shared helpers live in engines_kit.py beside this file."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest's importlib mode leaves sys.path alone: make engines_kit importable by the tests here
sys.path.insert(0, str(Path(__file__).parent))
