"""The experiment console: a Flask application over the experiment package.

Pages: the form (``/``), the page shown once at creation with the token and the
``make submit`` line, and each experiment's page (live view, then the verdict). The
page's scripts talk to a small JSON API under ``/api``. Nothing here takes a token: it is
issued in the creation response and never accepted, echoed or put in a URL afterwards.
"""
from __future__ import annotations

import json
import os
import secrets
import shlex
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from flask import Flask, abort, jsonify, render_template, request, send_from_directory

from console import design as forms
from console import live
from console.config import ConsoleConfig, load_console
from console.runner import Busy, Runner, tally_of
from console.store import ACTIVE, DONE, STARTABLE, Store
from experiment import report
from experiment.config import ExperimentConfig, load_experiment
from experiment.planner import Plan, PlanError, describe
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


def create_app(console_cfg: Optional[ConsoleConfig] = None, exp_cfg: Optional[ExperimentConfig] = None,
               job_cfg: Optional[Config] = None) -> Flask:
    console_cfg = console_cfg or load_console()
    exp_cfg = exp_cfg or load_experiment()
    job_cfg = job_cfg or load_config()
    store = Store(console_cfg.database)
    store.interrupt_unfinished()
    runner = Runner(store, exp_cfg, job_cfg, console_cfg.reports, console_cfg.job_wait_s)
    app = Flask(__name__)
    app.config.update(console=console_cfg, store=store, runner=runner)
    hosts = {"127.0.0.1", "localhost", "[::1]", console_cfg.host}
    app.add_template_filter(lambda at: time.strftime("%Y-%m-%d %H:%M", time.localtime(at)), "datetime")

    @app.before_request
    def same_origin_only():
        """A page on another site must neither read the console (DNS rebinding: a foreign
        Host) nor act on it (cross-site POSTs)."""
        if urlsplit(f"//{request.host}").hostname not in {h.strip("[]") for h in hosts}:
            abort(400, "unexpected Host header")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                abort(403, "cross-origin request refused")
            if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
                abort(403, "cross-site request refused")

    @app.after_request
    def headers(response):
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def experiment_or_404(experiment_id: int):
        experiment = store.get(experiment_id)
        if experiment is None:
            abort(404, f"no experiment {experiment_id}")
        return experiment

    @app.get("/")
    def index():
        return render_template("index.html", fields=forms.FIELDS, values=forms.defaults(exp_cfg.design),
                               error=None, experiments=store.all(), rate=exp_cfg.platform.rate)

    @app.post("/api/plan")
    def plan_api():
        try:
            plan = forms.plan_from_form(request.get_json(silent=True) or {}, console_cfg.max_sessions)
        except PlanError as err:
            return jsonify(field=err.field, message=err.reason), 422
        return jsonify(plan=plan.as_dict(), lines=describe(plan), seconds=plan.total / exp_cfg.platform.rate)

    @app.post("/experiments")
    def create():
        try:
            plan = forms.plan_from_form(request.form, console_cfg.max_sessions)
        except PlanError as err:
            error = {"field": err.field, "message": err.reason}
            return render_template("index.html", fields=forms.FIELDS, values=request.form, error=error,
                                   experiments=store.all(), rate=exp_cfg.platform.rate), 422
        token = issue()
        experiment_id = store.create(plan, salt=f"console-{secrets.token_hex(8)}", token_sha256=digest(token))
        env = " ".join(f"{name}={shlex.quote(os.environ[name])}" for name in SUBMIT_ENV if os.environ.get(name))
        submit = f"{env + ' ' if env else ''}make submit TOKEN={token}"
        return render_template("created.html", experiment=store.get(experiment_id), token=token, submit=submit,
                               lines=describe(plan)), 201

    @app.get("/experiments/<int:experiment_id>")
    def experiment_page(experiment_id: int):
        experiment = experiment_or_404(experiment_id)
        return render_template("experiment.html", experiment=experiment, lines=describe(experiment.plan),
                               startable=STARTABLE)

    @app.get("/api/experiments/<int:experiment_id>")
    def experiment_api(experiment_id: int):
        experiment = experiment_or_404(experiment_id)
        sessions = store.sessions(experiment_id)
        runs = store.runs(experiment_id)
        body = {"id": experiment.id, "state": experiment.state, "message": experiment.message,
                "verdict": experiment.verdict, "plan": experiment.plan.as_dict(), "tally": tally_of(runs),
                "live": live.snapshot(sessions, experiment.plan, exp_cfg.design.srm_p_value), "runs": len(runs),
                "startable": experiment.state in STARTABLE, "stoppable": experiment.state in ACTIVE,
                "report": None}
        if experiment.state == DONE:
            result = report_dir(experiment_id) / report.RESULT_JSON
            lines = json.loads(result.read_text()).get("summary_lines", []) if result.is_file() else []
            body["report"] = {"lines": lines, "files": list(REPORT_FILES)}
        return jsonify(body)

    @app.post("/api/experiments/<int:experiment_id>/start")
    def start(experiment_id: int):
        experiment = experiment_or_404(experiment_id)
        try:
            runner.start(experiment)
        except (Busy, ValueError) as err:
            return jsonify(error=str(err)), 409
        return jsonify(state=store.get(experiment_id).state), 202

    @app.post("/api/experiments/<int:experiment_id>/stop")
    def stop(experiment_id: int):
        experiment_or_404(experiment_id)
        if not runner.stop(experiment_id, wait=30):
            return jsonify(error=f"experiment {experiment_id} is not running"), 409
        return jsonify(state=store.get(experiment_id).state)

    @app.post("/api/experiments/<int:experiment_id>/analyse")
    def analyse_now(experiment_id: int):
        """The verdict from what was recorded so far (an incomplete one unless the
        always-valid test has already decided)."""
        experiment = experiment_or_404(experiment_id)
        if experiment.state not in STARTABLE or store.count(experiment_id) == 0:
            return jsonify(error=f"experiment {experiment_id} is {experiment.state} with "
                                 f"{store.count(experiment_id)} sessions recorded"), 409
        runner.finish(experiment)
        return jsonify(state=store.get(experiment_id).state)

    @app.get("/experiments/<int:experiment_id>/report/<name>")
    def report_file(experiment_id: int, name: str):
        experiment_or_404(experiment_id)
        if name not in REPORT_FILES:
            abort(404)
        return send_from_directory(report_dir(experiment_id), name)

    @app.get("/experiments/<int:experiment_id>/sessions.<kind>")
    def sessions_download(experiment_id: int, kind: str):
        experiment_or_404(experiment_id)
        sessions = store.sessions(experiment_id)
        if kind == "csv":
            body, mimetype = sessions.to_csv(index=False), "text/csv"
        elif kind == "json":
            body, mimetype = sessions.to_json(orient="records"), "application/json"
        else:
            abort(404)
        return app.response_class(body, mimetype=mimetype, headers={
            "Content-Disposition": f"attachment; filename=experiment-{experiment_id}-sessions.{kind}"})

    def report_dir(experiment_id: int) -> Path:
        return console_cfg.reports / str(experiment_id)

    return app
