"""make monitor's page: drawn from window records as the job writes them."""

import json

import numpy as np

from job.monitoring.drift import Thresholds
from job.monitoring.profile import Sample, reference_profile, write_profile
from job.monitoring.windows import ModelWindows, WindowSpec
from local.monitor_page import main, moved, render

THRESHOLDS = Thresholds(min_sessions=100)


def records(shift_from: int):
    rng = np.random.default_rng(3)
    reference = reference_profile(
        {"age": rng.normal(40, 10, 4_000).tolist(), "cat0": (rng.random(4_000) < 0.3).astype(int).tolist()},
        rng.beta(2, 12, 4_000).tolist(),
        threshold=0.2,
        pmml_sha256="sha",
    )
    windows = ModelWindows("m:1", reference, WindowSpec(sessions=500, period_ms=None), THRESHOLDS, True)
    found = []
    for i in range(2_000):
        age = rng.normal(40 + (8 if i >= shift_from else 0), 10)
        score = float(rng.beta(2, 12))
        found += windows.add(
            Sample("m:1", 60_000 * i, float(age), None, None, int(rng.random() < 0.3), score, int(score >= 0.2))
        )
    return reference, found


def test_the_page_draws_each_model_and_the_fields_that_moved(tmp_path):
    reference, found = records(shift_from=1_000)
    assert [r["status"] for r in found][-1] == "alert" and moved(found[-1]) == ["age"]  # only what warned or alerted
    page = render(found, reference, THRESHOLDS, tmp_path)
    assert (tmp_path / "m_1.png").stat().st_size > 10_000
    assert 'src="m_1.png"' in page.read_text() and "<b>alert</b>" in page.read_text()


def test_no_records_yet_says_so(tmp_path):
    reference, _ = records(shift_from=0)
    assert "No window records yet" in render([], reference, THRESHOLDS, tmp_path).read_text()


def test_the_command_reads_a_file_of_records(tmp_path, fixture_model):
    reference, found = records(shift_from=2_000)
    pmml, metadata = fixture_model
    profile = tmp_path / "ref.profile.json"
    write_profile(reference, profile)
    lines = tmp_path / "records.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in found))
    assert (
        main(
            [
                "--records",
                str(lines),
                "--out",
                str(tmp_path / "page"),
                "--set",
                f"model.pmml={pmml}",
                "--set",
                f"monitoring.profile={profile}",
            ]
        )
        == 0
    )
    assert (tmp_path / "page" / "index.html").is_file()
    assert main(["--records", str(lines), "--set", f"model.pmml={pmml}"]) == 2  # the fixture has no profile


def test_the_threshold_line_sits_inside_its_bin():
    from local.monitor_page import bin_position

    assert abs(bin_position((0.1, 0.2, 0.3), 0.15) - 1.0) < 1e-9  # halfway through bin 1, whose bar is centred at 1
    assert bin_position((0.1, 0.2, 0.3), 0.05) == -0.5 and bin_position((0.1, 0.2, 0.3), 0.9) == 2.5
