"""The curl walkthrough in docs/simulators.md works, as written, against `handoff sim serve`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulators.md"


def _free_port_base(n: int = 5) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65535 and all(_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no run of free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_curl_walkthrough(tmp_path):
    text = DOC.read_text()
    section = text[text.index("## Try it with curl"): text.index("## World and scales")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 6
    setup, *systems = blocks
    assert "handoff sim serve --scale tiny &" in setup
    base = _free_port_base()
    env = {**os.environ, "HANDOFF_SIM_CLIENT_ID": "demo-id", "HANDOFF_SIM_CLIENT_SECRET": "demo-secret"}
    server = subprocess.Popen([sys.executable, "-m", "handoff.sim.cli", "serve", "--scale", "tiny",
                               "--port-base", str(base)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(5):
            assert server.stdout.readline().split()[0] in ("salesforce", "hubspot", "kantata", "workday",
                                                           "netsuite")
        script = setup.replace("handoff sim serve --scale tiny &", ": server already running")
        script = re.sub(r"127\.0\.0\.1:870(\d)", lambda m: f"127.0.0.1:{base + int(m.group(1)) - 1}", script)
        outputs = []
        for block in systems:
            block = re.sub(r"127\.0\.0\.1:870(\d)", lambda m: f"127.0.0.1:{base + int(m.group(1)) - 1}", block)
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", script + "\n" + block], env=env,
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, (block, r.stderr)
            outputs.append(r.stdout)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    sf, hs, kt, wd, ns = outputs
    assert "Sforce-Limit-Info: api-usage=" in sf and '"nextRecordsUrl":"/services/data/v62.0/query/' in sf
    assert '"deletedRecords"' in sf and "INVALID_SESSION_ID" in sf
    assert '"paging":{"next":{"after"' in hs and '"archivedAt"' in hs and '"total":' in hs
    assert "INVALID_AUTHENTICATION" in hs
    assert '"results":[{"key":"time_entries"' in kt and '"users":{' in kt and '"external_references":{' in kt
    assert '"type":"authentication"' in kt
    assert '{"count":11,"archived":[]}\n{"count":12,"archived":["3000"]}\n106\n' in kt  # hidden unless asked
    assert '"Worker_ID"' in wd and '"Cost_Rates"' in wd
    assert '"rel":"next"' in ns and '"hasMore":true' in ns and "202 Accepted" in ns
    assert '"progress":"succeeded"' in ns and "204 No Content" in ns and "IDEMPOTENCY_ERROR" in ns
    assert ns.strip().endswith("1")  # one record in the ledger
