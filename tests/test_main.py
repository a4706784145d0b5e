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


def test_scale_demo_streams_the_chunks_and_reports():
    pytest.importorskip("dask_ml")
    argv, env = python_command("-m", "fastnn", "scale-demo", "--rows", "25000",
                               "--chunk-rows", "4000", "--slice-rows", "8000",
                               "--test-rows", "4000")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("fastnn ") and "25,000 rows x 20 features" in lines[0]
    assert "7 chunks of up to 4,000 rows" in lines[0]
    chunks = [line for line in lines if line.startswith("chunk ")]
    # One line per chunk (six of 4,000 rows and one of 1,000), rows counted up.
    assert [line.split()[1] for line in chunks] == [f"{i}/7" for i in range(1, 8)]
    assert [line.split()[3] for line in chunks] == [
        f"{min(4000 * i, 25000):,}/25,000" for i in range(1, 8)]
    assert all(line.endswith(" rows/s") for line in chunks)
    summary = "\n".join(lines[len(chunks) + 2:])
    assert "out of core: 25,000 rows in " in summary
    assert "in memory: 8,000-row slice in one partial_fit, " in summary
    # 25,000 x 20 float32 features plus int64 labels.
    assert f"the 25,000 rows would take {(25000 * 20 * 4 + 25000 * 8) / 2**20:,.0f} MiB" \
        in summary
    accuracy = float(lines[-1].split()[-1])
    assert lines[-1].startswith("accuracy on 4,000 fresh rows: ")
    # Three balanced-ish classes from a tanh network: far above chance after 25k rows.
    assert accuracy > 0.6


@pytest.mark.parametrize("argv, message", [
    (["scale-demo", "--rows", "0"], "--rows must be at least 1"),
    (["scale-demo", "--chunk-rows", "-5"], "--chunk-rows must be at least 1"),
    (["scale-demo", "--hidden", "8", "0"], "--hidden sizes must be at least 1"),
])
def test_scale_demo_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
