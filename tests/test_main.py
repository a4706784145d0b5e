"""python -m fastnn demo."""

import io
import subprocess

import pytest

from conftest import python_command
from fastnn.__main__ import main, run_demo


def test_demo_trains_and_reports():
    out = io.StringIO()
    score = run_demo("digits", epochs=10, out=out)
    text = out.getvalue()
    assert text.count("epoch ") == 10
    assert "test accuracy" in text and "training time" in text
    # Side by side with scikit-learn's MLP: the same model, so the same accuracy.
    ours, theirs = [line for line in text.splitlines() if "test accuracy" in line]
    assert ours.strip().startswith("fastnn:") and theirs.strip().startswith("scikit-learn:")
    assert ours.split(",")[0].split()[-1] == theirs.split(",")[0].split()[-1]
    assert "x scikit-learn's time" in text
    # Ten epochs of Adam on standardised digits already separate the classes well.
    assert score > 0.85


def test_demo_without_comparison_or_with_a_keras_activation():
    out = io.StringIO()
    run_demo("iris", hidden=(8,), activation="selu", epochs=3, out=out)
    assert "scikit-learn:" not in out.getvalue()


def test_demo_regression():
    out = io.StringIO()
    score = run_demo("diabetes", hidden=(16,), epochs=100, learning_rate=1e-3, out=out)
    assert "test R^2" in out.getvalue()
    assert score > 0.25  # a constant predictor scores <= 0


def test_command_line_runs_as_a_module():
    argv, env = python_command("-m", "fastnn", "demo", "iris", "--epochs", "3")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout


@pytest.mark.parametrize("argv, message", [
    (["demo", "no_such_data"], "invalid choice"),
    (["demo", "--activation", "nope"], "unknown activation 'nope'; valid: "),
    (["demo", "--epochs", "0"], "--epochs must be at least 1"),
])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
