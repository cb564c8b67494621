"""The experiment's settings: conf/experiment.yaml for the platform, conf/economics.yaml
for the test's design numbers (one source, shared with training), then env and CLI
overrides, validated before anything is published.

Kafka addresses, topics and the token are the job's own (conf/job.yaml and its
overrides), so the platform always listens where the job writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from experiment.arrivals import Delay, Enrichment
from experiment.planner import Plan, sample_size
from experiment.response import ResponseModel
from job.config import REPO_ROOT, ConfigError, Section, prefixed_overrides, read_overridden, read_yaml

DEFAULT_EXPERIMENT = REPO_ROOT / "conf" / "experiment.yaml"
DEFAULT_ECONOMICS = REPO_ROOT / "conf" / "economics.yaml"
ENV_PREFIX = "SILOCOMPRO_EXPERIMENT__"


@dataclass(frozen=True)
class Design:
    alpha: float
    power: float
    mde: float
    sd: float
    sided: int
    treatment_share: float
    salt: str
    srm_p_value: float

    def plan(self) -> Plan:
        """The per-arm sample sizes; raises PlanError on an incoherent design."""
        return sample_size(
            self.alpha, self.power, self.mde, self.sd, sided=self.sided, treatment_share=self.treatment_share
        )


@dataclass(frozen=True)
class PlatformConfig:
    sessions: Optional[int]
    rate: float
    decision_deadline_ms: int
    seed: int
    output_dir: Path
    control_pmml: Path


@dataclass(frozen=True)
class ExperimentConfig:
    design: Design
    platform: PlatformConfig
    enrichment: Enrichment
    response: ResponseModel


def load_experiment(
    path: Path = DEFAULT_EXPERIMENT,
    economics_path: Path = DEFAULT_ECONOMICS,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ExperimentConfig:
    environ = os.environ if environ is None else environ
    merged = read_overridden(path, prefixed_overrides(environ, ENV_PREFIX), overrides or {})
    economics = Section(read_yaml(economics_path), "economics")
    root = Section(merged, "")
    design, platform, enrichment, response = (root.section(s) for s in ("design", "platform", "enrichment", "response"))
    sessions = platform.tree.get("sessions")
    try:
        return ExperimentConfig(
            design=Design(
                alpha=economics.number("alpha", 0, 1),
                power=economics.number("power", 0, 1),
                mde=economics.number("min_effect", 0),
                sd=economics.number("revenue_sd", 0),
                sided=_sided(design),
                treatment_share=design.number("treatment_share", 0, 1),
                salt=design.text("salt"),
                srm_p_value=design.number("srm_p_value", 0, 1),
            ),
            platform=PlatformConfig(
                sessions=None if sessions is None else platform.integer("sessions", 2),
                rate=platform.number("rate", 0),
                decision_deadline_ms=platform.integer("decision_deadline_ms", 1),
                seed=platform.integer("seed", 0),
                output_dir=platform.path("output_dir"),
                control_pmml=platform.path("control_pmml"),
            ),
            enrichment=Enrichment(
                demographic=_delay(enrichment.section("demographic")),
                historic=_delay(enrichment.section("historic")),
                duplicate_share=enrichment.number("duplicate_share", 0, 1, low_ok=True),
                missing_side_share=enrichment.number("missing_side_share", 0, 1, low_ok=True),
            ),
            response=ResponseModel(
                traditional_mean=response.number("traditional_mean", 0),
                customer_sd=response.number("customer_sd", 0),
                session_sd=response.number("session_sd", 0),
                pre_sessions=response.integer("pre_sessions", 1),
                gain_if_buy=economics.number("gain_if_buy", 0),
                loss_if_not=economics.number("loss_if_not", 0),
            ),
        )
    except ValueError as err:  # the dataclasses' own checks (e.g. median above p99)
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(str(err)) from None


def _delay(section: Section) -> Delay:
    try:
        return Delay(section.number("median_ms", 0), section.number("p99_ms", 0))
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(f"{section.name}: {err}") from None


def _sided(section: Section) -> int:
    value = section.tree.get("sided")
    if value not in (1, 2) or isinstance(value, bool):
        raise ConfigError(
            f"{section._key('sided')}: expected 1 (one-sided: is the new model better?) or 2 (two-sided), got {value!r}"
        )
    return int(value)
