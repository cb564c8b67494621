"""The experiment console: a Flask application over the experiment package.

Pages: the form (``/``), the page the creation redirects to that shows the token once
with the ``make submit`` line, and each experiment's page (live view, then the verdict).
The page's scripts talk to a small JSON API under ``/api``; every refusal is a 4xx with
``{"error", "field", "detail"}`` there and a styled page elsewhere (console/errors.py).
Nothing here takes a token: it is issued once and never accepted, echoed or put in a URL.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from flask import Flask, jsonify, make_response, redirect, render_template, request, send_from_directory, url_for
from werkzeug.routing import BaseConverter

from console import errors, forms, live
from console.config import ConsoleConfig, load_console
from console.errors import ApiError
from console.preflight import unreachable
from console.reveal import OneTimeReveal
from console.runner import Busy, Runner, tally_of
from console.store import ACTIVE, DONE, STARTABLE, Store
from experiment import report
from experiment.config import ExperimentConfig, load_experiment
from experiment.numbers import money, percent
from experiment.planner import PlanError, curve, describe, warnings
from experiment.tokens import digest, issue
from job.config import Config, load_config

REPORT_FILES = (report.EFFECT_PNG, report.ARMS_PNG, report.REPORT_HTML, report.RESULT_JSON)
# Passed on to `make submit` so that it reaches the broker and cluster this console uses.
SUBMIT_ENV = ("KAFKA_BOOTSTRAP", "FLINK_REST_PORT", "FLINK_RPC_PORT", "FLINK_TM_RPC_PORT", "FLINK_BLOB_PORT")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form posts say Origin: null
    "X-Frame-Options": "DENY",
}
MAX_BODY_BYTES = 64 * 1024  # the form is a few hundred bytes; anything larger is refused unread
REVEAL_COOKIE = "reveal"


class IdConverter(BaseConverter):
    """An experiment id: a positive integer SQLite can hold (below 2**63); anything else
    matches no route, so it is a 404 like an id that does not exist."""

    regex = r"[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


def create_app(  # noqa: C901  (Flask's app factory: the sum of its small route handlers)
    console_cfg: Optional[ConsoleConfig] = None,
    exp_cfg: Optional[ExperimentConfig] = None,
    job_cfg: Optional[Config] = None,
) -> Flask:
    console_cfg = console_cfg or load_console()
    exp_cfg = exp_cfg or load_experiment()
    job_cfg = job_cfg or load_config()
    store = Store(console_cfg.database)
    store.interrupt_unfinished()
    runner = Runner(store, exp_cfg, job_cfg, console_cfg.reports, console_cfg.job_wait_s)
    reveals = OneTimeReveal()
    app = Flask(__name__)
    app.url_map.converters["id"] = IdConverter
    app.config.update(console=console_cfg, store=store, runner=runner, MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    errors.install(app)
    hosts = {"127.0.0.1", "localhost", "[::1]", console_cfg.host}
    app.add_template_filter(lambda at: time.strftime("%Y-%m-%d %H:%M", time.localtime(at)), "datetime")
    app.add_template_filter(money, "money")
    app.add_template_filter(percent, "percent")
    app.jinja_env.globals.update(tips=forms.TIPS)

    @app.before_request
    def same_origin_only():
        """A page on another site must neither read the console (DNS rebinding: a foreign
        Host) nor act on it (cross-site POSTs)."""
        if urlsplit(f"//{request.host}").hostname not in {h.strip("[]") for h in hosts}:
            raise ApiError(400, "unexpected Host header")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                raise ApiError(403, "cross-origin request refused")
            if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
                raise ApiError(403, "cross-site request refused")

    @app.after_request
    def headers(response):
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def experiment_or_404(experiment_id: int):
        experiment = store.get(experiment_id)
        if experiment is None:
            raise ApiError(404, f"no experiment {experiment_id}")
        return experiment

    def form_page(values, error=None, status=200):
        return render_template(
            "index.html",
            fields=forms.FIELDS,
            meta_fields=forms.META_FIELDS,
            analysis_fields=forms.ANALYSIS_FIELDS,
            values=values,
            error=error,
            experiments=store.all(),
            rate=exp_cfg.platform.rate,
        ), status

    @app.get("/")
    def index():
        return form_page(forms.defaults(exp_cfg.design))

    @app.post("/api/plan")
    def plan_api():
        values = errors.json_object(request)
        try:
            plan = forms.plan_from_form(values, console_cfg.max_sessions)
        except PlanError as err:
            return errors.refusal(422, err.reason, err.field)
        return jsonify(
            plan=plan.as_dict(),
            solved=forms.solved(values),
            lines=describe(plan),
            warnings=warnings(plan),
            curve=curve(plan),
            seconds=plan.total / exp_cfg.platform.rate,
        )

    @app.post("/experiments")
    def create():
        """Post/redirect/get: the token goes to the page this redirects to, once."""
        try:
            plan = forms.plan_from_form(request.form, console_cfg.max_sessions)
            settings = forms.settings_from_form(request.form, plan)
        except PlanError as err:
            return form_page(request.form, {"field": err.field, "message": err.reason}, 422)
        token = issue()
        experiment_id = store.create(plan, settings, salt=f"console-{secrets.token_hex(8)}", token_sha256=digest(token))
        page = url_for("created", experiment_id=experiment_id)
        response = redirect(page, 303)
        response.set_cookie(
            REVEAL_COOKIE,
            reveals.put(experiment_id, token),
            max_age=int(reveals.ttl_s),
            path=page,
            httponly=True,
            samesite="Strict",
        )
        return response

    @app.get("/experiments/<id:experiment_id>/created")
    def created(experiment_id: int):
        experiment = experiment_or_404(experiment_id)
        token = reveals.take(experiment_id, request.cookies.get(REVEAL_COOKIE))
        env = " ".join(f"{name}={shlex.quote(os.environ[name])}" for name in SUBMIT_ENV if os.environ.get(name))
        submit = f"{env + ' ' if env else ''}make submit TOKEN={token}" if token else None
        response = make_response(
            render_template(
                "created.html", experiment=experiment, token=token, submit=submit, lines=describe(experiment.plan)
            )
        )
        response.delete_cookie(REVEAL_COOKIE, path=request.path)
        return response

    @app.get("/experiments/<id:experiment_id>")
    def experiment_page(experiment_id: int):
        experiment = experiment_or_404(experiment_id)
        return render_template(
            "experiment.html",
            experiment=experiment,
            lines=describe(experiment.plan),
            settings_lines=experiment.settings.lines(experiment.plan),
            startable=STARTABLE,
        )

    @app.post("/experiments/<id:experiment_id>/archive")
    def archive(experiment_id: int):
        experiment = experiment_or_404(experiment_id)
        store.archive(experiment_id, not experiment.archived)
        return redirect(url_for("index"), 303)

    @app.post("/experiments/<id:experiment_id>/delete")
    def delete(experiment_id: int):
        experiment = experiment_or_404(experiment_id)
        if experiment.state in ACTIVE:
            raise ApiError(409, f"experiment {experiment_id} is {experiment.state}: stop it before deleting it")
        store.delete(experiment_id)
        shutil.rmtree(report_dir(experiment_id), ignore_errors=True)
        return redirect(url_for("index"), 303)

    @app.get("/api/experiments/<id:experiment_id>")
    def experiment_api(experiment_id: int):
        experiment = experiment_or_404(experiment_id)
        sessions = store.sessions(experiment_id)
        runs = store.runs(experiment_id)
        body = {
            "id": experiment.id,
            "state": experiment.state,
            "message": experiment.message,
            "verdict": experiment.verdict,
            "plan": experiment.plan.as_dict(),
            "settings": experiment.settings.as_dict(),
            "tally": tally_of(runs),
            "live": live.snapshot(sessions, experiment.plan, exp_cfg.design.srm_p_value),
            "runs": len(runs),
            "startable": experiment.state in STARTABLE,
            "stoppable": experiment.state in ACTIVE,
            "final": experiment.state not in ACTIVE,
            "report": None,
        }
        if experiment.state == DONE:
            result = report_dir(experiment_id) / report.RESULT_JSON
            lines = json.loads(result.read_text()).get("summary_lines", []) if result.is_file() else []
            body["report"] = {"lines": lines, "files": list(REPORT_FILES)}
        return jsonify(body)

    @app.post("/api/experiments/<id:experiment_id>/start")
    def start(experiment_id: int):
        """Checks what can be checked at once (the broker) before the run's seconds of
        preparation; the runner then waits for the job's answer with this token."""
        experiment = experiment_or_404(experiment_id)
        bootstrap = job_cfg.kafka.bootstrap_servers
        if experiment.state in STARTABLE and (why := unreachable(bootstrap)):
            return errors.refusal(
                409,
                f"cannot reach the broker at {bootstrap} ({why}): start it with "
                "`make broker-up` (or `make demo`), then submit the job with "
                "`make submit TOKEN=<the token shown at creation>`",
            )
        try:
            runner.start(experiment)
        except (Busy, ValueError) as err:
            return errors.refusal(409, str(err))
        return jsonify(state=store.get(experiment_id).state), 202

    @app.post("/api/experiments/<id:experiment_id>/stop")
    def stop(experiment_id: int):
        experiment_or_404(experiment_id)
        if not runner.stop(experiment_id, wait=30):
            return errors.refusal(409, f"experiment {experiment_id} is not running")
        return jsonify(state=store.get(experiment_id).state)

    @app.post("/api/experiments/<id:experiment_id>/analyse")
    def analyse_now(experiment_id: int):
        """The verdict from what was recorded so far (an incomplete one unless the
        always-valid test has already decided)."""
        experiment = experiment_or_404(experiment_id)
        if experiment.state not in STARTABLE or store.count(experiment_id) == 0:
            return errors.refusal(
                409,
                f"experiment {experiment_id} is {experiment.state} with {store.count(experiment_id)} sessions recorded",
            )
        runner.finish(experiment)
        return jsonify(state=store.get(experiment_id).state)

    @app.get("/experiments/<id:experiment_id>/report/<name>")
    def report_file(experiment_id: int, name: str):
        experiment_or_404(experiment_id)
        if name not in REPORT_FILES or not (report_dir(experiment_id) / name).is_file():
            raise ApiError(404, f"no report file {name[:60]!r} for experiment {experiment_id}")
        return send_from_directory(report_dir(experiment_id), name)

    @app.get("/experiments/<id:experiment_id>/sessions.<kind>")
    def sessions_download(experiment_id: int, kind: str):
        experiment_or_404(experiment_id)
        if kind not in ("csv", "json"):
            raise ApiError(404, "sessions download as sessions.csv or sessions.json")
        sessions = store.sessions(experiment_id)
        if kind == "csv":
            body, mimetype = sessions.to_csv(index=False), "text/csv"
        else:
            body, mimetype = sessions.to_json(orient="records"), "application/json"
        return app.response_class(
            body,
            mimetype=mimetype,
            headers={"Content-Disposition": f"attachment; filename=experiment-{experiment_id}-sessions.{kind}"},
        )

    def report_dir(experiment_id: int) -> Path:
        return console_cfg.reports / str(experiment_id)

    return app
