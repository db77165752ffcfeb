"""The routes: HTML pages (``pages``) and the JSON API under ``/api`` (``api``)."""
