"""experiment/plan_cli.py: the planner's command line, its defaults from the economics file."""

from experiment import plan_cli
from experiment.planner import sample_size


def test_cli_prints_the_plan_from_economics(capsys):
    assert plan_cli.main([]) == 0
    out = capsys.readouterr().out
    assert "control 7,209 + treatment 7,209 = 14,418 customers" in out
    assert "0.70 $/customer with 80 % power" in out
    assert "28,836             97.7 %" in out  # the power curve at twice the plan


def test_cli_defaults_come_from_the_economics_file(tmp_path, capsys):
    economics = tmp_path / "economics.yaml"
    economics.write_text(
        "alpha: 0.1\npower: 0.9\nmin_effect: 1.5\nrevenue_sd: 10.0\ngain_if_buy: 15\nloss_if_not: 2.5\n"
    )
    assert plan_cli.main(["--economics", str(economics), "--split", "0.25", "--sided", "1"]) == 0
    plan = sample_size(alpha=0.1, power=0.9, mde=1.5, sd=10.0, sided=1, treatment_share=0.25)
    out = capsys.readouterr().out
    assert f"control {plan.n_control:,} + treatment {plan.n_treatment:,} = {plan.total:,}" in out
    assert "one-sided" in out and "alpha 0.1" in out and "25 % to treatment" in out


def test_cli_refuses_with_exit_code_2(capsys):
    assert plan_cli.main(["--n", "10000"]) == 2
    assert "sample_size: 10,000 customers give 64.6 % power" in capsys.readouterr().err
    assert plan_cli.main(["--power", "0.03"]) == 2
    assert "power: 0.03 is not above alpha" in capsys.readouterr().err
