"""The clinic web app: FastAPI, server-rendered pages (Jinja2, HTMX), a JSON API under
``/api``, sign-in with roles, CSRF protection and an audit trail of every change.

>>> from ketamine_ptsd.web import create_app
>>> app = create_app("sqlite:///clinic.sqlite")            # doctest: +SKIP

Serve it with ``ketamine-ptsd serve``. Research and decision-support software, not a
medical device.
"""

from .app import create_app
from .config import WebConfig

__all__ = ["WebConfig", "create_app"]
