"""The rigfit web app: calculator, model and accelerator pages, compare, and the REST API.

Pages and API only parse, call the library and render; every number comes from
:mod:`rigfit.estimate` through :mod:`rigfit.web.service`.
"""

from rigfit.web.app import create_app

__all__ = ["create_app"]
