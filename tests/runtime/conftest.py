"""A real PulseAudio sound server for the microphone tests.

The server runs as this user with a private socket, a null sink ``edgeser_sink`` whose monitor
is the default capture source, so a clip played into the sink with ``paplay`` is what PyAudio
records through ALSA's ``pulse`` device. Needs the Debian packages pulseaudio,
pulseaudio-utils, libasound2-plugins and portaudio19-dev (``.ci/run`` installs them) and the
``[mic]`` extra. Without them the tests skip, saying why, unless EDGESER_REQUIRE_SOUND=1 (set
by ``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from importlib.util import find_spec

import pytest

SINK = "edgeser_sink"


def _missing(reason: str):
    if os.environ.get("EDGESER_REQUIRE_SOUND") == "1":
        pytest.fail(f"sound server required but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sound_server(tmp_path_factory):
    """PULSE_SERVER of a running PulseAudio server with the null sink (set in os.environ)."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            _missing(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    if find_spec("pyaudio") is None:
        _missing("PyAudio is not installed (pip install 'edgeser[mic]')")
    home = tmp_path_factory.mktemp("pulse")
    socket = home / "native"
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    env.pop("PULSE_SERVER", None)
    proc = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--log-target=stderr",
            "-L",
            f"module-native-protocol-unix auth-anonymous=1 socket={socket}",
            "-L",
            f"module-null-sink sink_name={SINK}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = f"unix:{socket}"
    client_env = {**env, "PULSE_SERVER": server}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _missing(f"pulseaudio exited: {proc.stderr.read().decode()[-300:]}")
        ok = subprocess.run(["pactl", "info"], env=client_env, capture_output=True)
        if ok.returncode == 0:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        _missing("pulseaudio did not start within 15 s")
    subprocess.run(["pactl", "set-default-sink", SINK], env=client_env, check=True)
    subprocess.run(["pactl", "set-default-source", f"{SINK}.monitor"], env=client_env, check=True)
    saved = {k: os.environ.get(k) for k in ("PULSE_SERVER", "HOME", "XDG_RUNTIME_DIR")}
    os.environ.update({"PULSE_SERVER": server})
    yield client_env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


def play(client_env: dict[str, str], path: str) -> subprocess.Popen:
    """Start playing a WAV file into the null sink (returns the paplay process)."""
    return subprocess.Popen(["paplay", f"--device={SINK}", path], env=client_env)
