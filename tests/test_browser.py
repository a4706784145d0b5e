"""End to end in a real browser: JupyterLab, the interactive notebook, the Train button.

Runs once in JupyterLab 4 and once in Notebook 7 (the two front ends the
dashboard must work in without an extension). Each starts its server on a free
loopback port with a random token, opens a copy of
``notebooks/05_interactive.ipynb`` in headless Chromium (Debian's ``chromium``,
driven by playwright), runs all cells, clicks the first dashboard's "Train ▶" and
watches its epoch label count up and its loss picture change. A screenshot goes to
pytest's ``tmp_path`` and, when ``FASTNN_SCREENSHOT_DIR`` is set, there too.

Skipped when Chromium, playwright, JupyterLab or Notebook are missing, except in
CI (``CI=true``), where ``.ci/run`` installs them and their absence fails.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import import_or_skip, python_command, skip_or_fail

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_interactive.ipynb"
CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
# Chromium as root needs --no-sandbox; the rest keep it from reaching for the network
# (closed here: its background connections would be refused, many at a time) and from
# spending time on first-run chores.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
EPOCH_LABEL = re.compile(r"^Epoch (\d+) / (\d+)$")
# A code cell's prompt once Run All has reached it: [*] queued or running, [n] ran.
_RAN_OR_QUEUED = re.compile(r"\[(\*|\d+)\]:?")

# Bounds on every wait (seconds). Run-all trains the digits dashboard to the end, which
# takes a few seconds here; the bounds leave room for a slow, shared machine.
SERVER_START = 90
RUN_ALL_RETRY = 30
NOTEBOOK_RUN = 240
TRAINING = 180

pytestmark = pytest.mark.skipif(not NOTEBOOK.exists(),
                                reason="notebooks/ not next to the tests")


def _chromium():
    for path in CHROMIUM_PATHS:
        if os.access(path, os.X_OK):
            return path
    skip_or_fail("no Chromium executable at " + " or ".join(CHROMIUM_PATHS)
                 + " (Debian: apt-get install chromium)")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_answering(url, server, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the Jupyter server did not answer {url} within {timeout} s")


# Each front end: the module that starts its server, and the page of a notebook.
FRONT_ENDS = {"jupyterlab": "lab/tree", "notebook": "notebooks"}


@pytest.fixture(params=sorted(FRONT_ENDS), ids=["JupyterLab 4", "Notebook 7"])
def notebook_url(tmp_path, request):
    """A Jupyter server serving a copy of the interactive notebook: its page's URL."""
    front_end = request.param
    import_or_skip(front_end)
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    # Settings and workspaces in tmp_path: a fresh JupyterLab, untouched by (and not
    # touching) the user's own. The news check would try to reach the internet; the
    # notebook's default windowing skips rendering cells out of view (their innerText
    # reads empty), so render every cell.
    for extension, name, value in (
            ("apputils-extension", "notification", '{"fetchNews": "false"}'),
            ("notebook-extension", "tracker", '{"windowingMode": "none"}')):
        folder = tmp_path / "settings" / "@jupyterlab" / extension
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.jupyterlab-settings").write_text(value)
    port, token = _free_port(), secrets.token_hex(16)
    # The server (and so the kernel) imports the same fastnn as the tests.
    # Both front ends read their settings from these directories.
    argv, env = python_command(
        "-m", front_end, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root")
    env = {**env, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    log = open(tmp_path / "server.log", "wb")
    # Its own session, so that the finalizer ends the server and its kernels together.
    server = subprocess.Popen(argv, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)

    def stop():
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=20)
        log.close()

    request.addfinalizer(stop)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(f"{base}/api/status?token={token}", server, SERVER_START)
    except (RuntimeError, TimeoutError) as error:
        log.flush()
        pytest.fail(f"{error}\n{(tmp_path / 'server.log').read_text(errors='replace')}")
    return f"{base}/{FRONT_ENDS[front_end]}/{NOTEBOOK.name}?token={token}"


def _save_screenshot(page, tmp_path, name, element=None):
    """The visible page, or just ``element`` (a locator), as a PNG in tmp_path."""
    path = tmp_path / name
    if element is None:
        page.screenshot(path=str(path), full_page=False)
    else:
        element.screenshot(path=str(path))
    directory = os.environ.get("FASTNN_SCREENSHOT_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(directory) / name)
    return path


def _epoch(label):
    text = label.text_content().strip()
    match = EPOCH_LABEL.match(text)
    assert match, f"epoch label reads {text!r}"
    return int(match[1]), int(match[2])


# ipywidgets 8 shows an Image's PNG through a blob: URL, a new URL for every new value
# (the old one is revoked). The digest of the bytes behind it tells real change.
_IMAGE_DIGEST = """async image => {
    const bytes = await (await fetch(image.src)).arrayBuffer();
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return Array.from(digest, b => b.toString(16).padStart(2, "0")).join("");
}"""


def test_train_button_trains_in_the_browser(notebook_url, tmp_path):
    executable = _chromium()
    sync_api = import_or_skip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=executable,
            args=CHROMIUM_ARGS, headless=True, viewport={"width": 1400, "height": 1000})
        try:
            page = browser.new_page()
            try:
                _drive(page, sync_api, notebook_url, tmp_path)
            except Exception:
                _save_screenshot(page, tmp_path, "dashboard-failure.png")
                errors = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
                print("stderr outputs in the notebook:", errors.all_inner_texts(),
                      file=sys.stderr)
                raise
        finally:
            browser.close()


def _accept_dialog(page, expect):
    """Answer a dialog the front end has open, as a person would; True if there was one.

    A Run All sent while the kernel's connection is still settling makes
    JupyterLab ask which kernel to use (seen under CI load): the answer is the
    notebook's own, Python 3. The dialog's text goes to stderr for the record.
    """
    dialog = page.locator(".jp-Dialog")
    if dialog.count() == 0:
        return False
    print("the front end asked:", dialog.first.inner_text(), file=sys.stderr)
    # The kernel choice's default can be "No Kernel": pick the notebook's.
    choice = dialog.first.locator("select")
    if choice.count():
        labels = [o.strip() for o in choice.first.locator("option").all_inner_texts()]
        python = [label for label in labels if label.startswith("Python 3")]
        if python:
            choice.first.select_option(label=python[0])
    dialog.first.locator(".jp-Dialog-button.jp-mod-accept").first.click()
    expect(dialog).to_have_count(0, timeout=30_000)
    return True


def _drive(page, sync_api, url, tmp_path):
    expect = sync_api.expect
    page.goto(url, timeout=SERVER_START * 1000)
    page.wait_for_selector(".jp-Notebook", timeout=SERVER_START * 1000)

    # Wait for the kernel, as a person would: run before it is up and the front end
    # asks for a kernel in a dialog instead of running anything. Both show the
    # kernel's state in the notebook toolbar's execution indicator.
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    expect(idle).to_be_attached(timeout=SERVER_START * 1000)
    # Run > Run All Cells, until the first code cell shows it was queued or ran
    # ([*] or [1]): the indicator can read idle a moment before the kernel's
    # connection takes requests, and a Run All sent then is dropped (seen once in
    # Notebook 7 on a fresh environment).
    # Under load the kernel can take long enough to start that the front end
    # asks for a kernel again: answer, and send Run All again, every
    # RUN_ALL_RETRY seconds without a sign of it, until SERVER_START is spent.
    first_prompt = page.locator(".jp-CodeCell .jp-InputArea-prompt").first
    deadline = time.monotonic() + SERVER_START
    sent = None
    while not _RAN_OR_QUEUED.fullmatch(first_prompt.inner_text().strip()):
        if time.monotonic() > deadline:
            raise AssertionError("Run All Cells never ran the first cell in "
                                 f"{SERVER_START} s (its prompt reads "
                                 f"{first_prompt.inner_text()!r})")
        if _accept_dialog(page, expect):
            # The Run All that raised the dialog was dropped: send it again
            # once the chosen kernel is up.
            expect(idle).to_be_attached(timeout=SERVER_START * 1000)
            page.wait_for_timeout(2000)
            sent = None
        if sent is None or time.monotonic() - sent > RUN_ALL_RETRY:
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            sent = time.monotonic()
        page.wait_for_timeout(500)

    # The first dashboard (two moons): its output holds the Train button, the epoch
    # label (an ipywidgets Label) and, first of its images, the loss curve.
    dashboard = page.locator(".jp-OutputArea-output").filter(
        has=page.locator("button", has_text="Train ▶")).first
    train = dashboard.locator("button", has_text="Train ▶")
    expect(train).to_be_visible(timeout=NOTEBOOK_RUN * 1000)
    for text in ("Pause ⏸", "Step", "Reset"):
        expect(dashboard.locator("button", has_text=text)).to_have_count(1)
    # An ipywidgets Label is a div.widget-label (descriptions are label.widget-label).
    label = dashboard.locator("div.widget-label", has_text="Epoch")
    expect(label).to_have_count(1, timeout=NOTEBOOK_RUN * 1000)
    loss_image = dashboard.locator("img.widget-image").first
    expect(loss_image).to_have_attribute("src", re.compile(r"\S"), timeout=NOTEBOOK_RUN * 1000)

    # Wait for run-all to finish (the last cell has printed), so the kernel is free.
    expect(page.get_by_text("after reset: 0 epochs")).to_be_attached(
        timeout=NOTEBOOK_RUN * 1000)
    dashboard.scroll_into_view_if_needed()
    epoch_before, total = _epoch(label)
    assert (epoch_before, total) == (0, 200)  # the moons dashboard's epochs=200
    src_before = loss_image.get_attribute("src")
    picture_before = loss_image.evaluate(_IMAGE_DIGEST)
    _save_screenshot(page, tmp_path, "dashboard-before.png")

    train.click()
    # The label counts up while the thread trains; when it is done it reads 200 / 200.
    expect(label).not_to_have_text(f"Epoch {epoch_before} / {total}", timeout=TRAINING * 1000)
    expect(label).to_have_text(f"Epoch {total} / {total}", timeout=TRAINING * 1000)
    expect(loss_image).not_to_have_attribute("src", src_before, timeout=TRAINING * 1000)
    assert loss_image.evaluate(_IMAGE_DIGEST) != picture_before
    # The finished run re-enables Train and disables Pause.
    expect(train).to_be_enabled(timeout=TRAINING * 1000)
    expect(dashboard.locator("button", has_text="Pause ⏸")).to_be_disabled()
    shot = _save_screenshot(page, tmp_path, "dashboard.png")
    assert shot.stat().st_size > 10_000
    # The dashboard alone, as the documentation's dashboard page shows it.
    _save_screenshot(page, tmp_path, "dashboard-widget.png", element=dashboard)
