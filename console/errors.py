"""Every refusal the console gives, as JSON for the API and as a styled page for the
browser: ``{"error", "field", "detail"}`` under /api, the error page elsewhere, a 4xx for
anything a request can cause. An unforeseen failure is logged with its traceback and
answered with a 500 that names no internals; the fuzz test (tests/console/test_fuzz.py)
holds that no input reaches it."""

from __future__ import annotations

import json
import logging
from typing import Any, Optional

from flask import Flask, Request, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger(__name__)
API_PREFIX = "/api/"


class ApiError(HTTPException):
    """A refusal with the field it is about; rendered like any HTTP error."""

    def __init__(self, code: int, detail: str, field: Optional[str] = None):
        super().__init__(detail)
        self.code, self.field = code, field


def refusal(code: int, detail: str, field: Optional[str] = None):
    """The JSON body and status of an API refusal."""
    return jsonify(error=_name(code), field=field, detail=detail), code


def json_object(req: Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object: a body that is not JSON, not an
    object, or nested beyond what the parser can follow is a 400 that says so."""
    if not req.is_json:
        raise ApiError(
            415,
            f"expected a JSON object with Content-Type: application/json, "
            f"got {str(req.content_type or 'no content type')[:60]!r}",
        )
    try:
        body = json.loads(req.get_data(cache=True))
    except RecursionError:
        raise ApiError(400, "the JSON is nested too deeply") from None
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise ApiError(400, f"the body is not valid JSON ({str(err)[:80]})") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"expected a JSON object, got a JSON {type(body).__name__}")
    return body


def install(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if err.code == 413:
            return _answer(413, f"the request is too large: at most {app.config['MAX_CONTENT_LENGTH']:,} bytes")
        return _answer(err.code or 500, err.description or _name(err.code), getattr(err, "field", None))

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _answer(500, "an unexpected error; it has been logged")


def _answer(code: int, detail: str, field: Optional[str] = None):
    if request.path.startswith(API_PREFIX):
        return refusal(code, detail, field)
    return render_template("error.html", code=code, title=_name(code), detail=detail), code


def _name(code: Optional[int]) -> str:
    return HTTP_STATUS_CODES.get(code or 500, "error").lower()
