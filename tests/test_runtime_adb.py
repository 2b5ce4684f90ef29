"""The adb device end to end, against a stand-in ``adb`` that keeps the phone's files in a folder and runs
pushed binaries under qemu-aarch64; plus the errors for missing, unauthorized, offline and full devices."""
from __future__ import annotations

import os
import stat
import sys
import textwrap

import pytest

from runtime import DeviceError, get_device, get_devices
from runtime.adb import cpu_mask

pytestmark = pytest.mark.qemu

FAKE_ADB = textwrap.dedent('''\
    #!{python}
    """Stand-in adb: devices, -s SERIAL push/pull/shell; a phone's /data/local/tmp lives under $FAKE_ADB_ROOT/SERIAL."""
    import os, shutil, subprocess, sys
    env = os.environ
    devices = dict(d.split(":") for d in env.get("FAKE_ADB_DEVICES", "").split(",") if d)
    models = dict(d.split(":") for d in env.get("FAKE_ADB_MODELS", "").split(",") if d)
    with open(env["FAKE_ADB_LOG"], "a") as log:
        log.write(" ".join(sys.argv[1:]) + "\\n")
    args = sys.argv[1:]
    if args == ["devices"]:
        print("List of devices attached")
        for serial, state in devices.items():
            print(f"{{serial}}\\t{{state}}")
        sys.exit(0)
    if args[0] != "-s" or devices.get(args[1]) != "device":
        sys.exit(f"adb: device '{{args[1]}}' not found")
    root = os.path.join(env["FAKE_ADB_ROOT"], args[1])
    local = lambda p: root + p if p.startswith("/data/local/tmp") else p
    cmd, rest = args[2], [local(a) for a in args[3:]]
    if cmd == "push":
        if env.get("FAKE_ADB_FULL"):
            sys.exit(f"adb: error: failed to copy '{{args[3]}}' to '{{args[4]}}': remote No space left on device")
        shutil.copy(rest[0], rest[1]); print("1 file pushed"); sys.exit(0)
    if cmd == "pull":
        shutil.copy(rest[0], rest[1]); print("1 file pulled"); sys.exit(0)
    if cmd == "shell":
        if rest[0] == "getprop":  # an emulator says so, like Android's own emulator
            props = {{"ro.kernel.qemu": env.get("FAKE_ADB_EMULATOR", ""), "ro.board.platform": "qemu-aarch64",
                      "ro.product.model": models.get(args[1], "stand-in")}}
            print(props.get(rest[1], "")); sys.exit(0)
        if rest[0] == "cat":
            sys.exit(subprocess.run(rest).returncode)
        if rest[0] == "taskset":
            int(rest[1], 16)
            rest = rest[2:]
        if rest[0] in ("mkdir", "rm", "chmod"):
            sys.exit(subprocess.run(rest).returncode)
        if env.get("FAKE_ADB_SILENT"):  # a binary that exits 0 and prints nothing (nor writes its output)
            sys.exit(0)
        sys.exit(subprocess.run(["qemu-aarch64", *rest], cwd=root).returncode)
    sys.exit(f"adb: unknown command {{cmd}}")
''')


@pytest.fixture()
def fake_adb(tmp_path, monkeypatch):
    """Put the stand-in adb first on PATH; returns a function that sets the connected devices."""
    bin_dir, root = tmp_path / "bin", tmp_path / "phones"
    bin_dir.mkdir()
    root.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB.format(python=sys.executable))
    adb.chmod(adb.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "adb.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_ROOT", str(root))
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    log.write_text("")

    def connect(devices: str):
        monkeypatch.setenv("FAKE_ADB_DEVICES", devices)
        return log
    return connect


def test_a_binary_that_prints_nothing_is_named_not_the_pull(artifacts, fake_adb, monkeypatch):
    compiled = artifacts.get("small_cnn", "dense", "android-arm64")
    log = fake_adb("PHONE1:device")
    monkeypatch.setenv("FAKE_ADB_SILENT", "1")
    with pytest.raises(DeviceError, match=r"model ran on adb:PHONE1 but printed no result line \(stdout: ''\)"):
        get_device("adb:PHONE1").bench(compiled, runs=1, warmup=0)
    assert " pull " not in log.read_text()


def test_adb_bench_end_to_end(artifacts, fake_adb):
    compiled = artifacts.get("small_cnn", "dense", "android-arm64")
    log = fake_adb("PHONE1:device,PHONE2:unauthorized")
    result = get_device("adb:PHONE1").bench(compiled, runs=3, warmup=1, threads=2, pin="0-1")
    assert result.device == "adb:PHONE1" and not result.emulated
    assert result.max_abs_error <= 1e-4 and len(result.times_ms) == 3 and result.threads == 2
    assert result.pin == "0-1"
    calls = log.read_text()
    binary = f"/data/local/tmp/autocompress/{compiled.binary.name}"
    assert f"-s PHONE1 push {compiled.binary} {binary}" in calls
    assert f"-s PHONE1 shell taskset 3 {binary} --input" in calls
    assert "-s PHONE1 pull /data/local/tmp/autocompress/output.bin" in calls


@pytest.mark.slow
def test_latency_tables_through_one_and_two_emulated_adb_phones(fake_adb, monkeypatch):
    """Table building over adb end to end (push, run, check against onnxruntime, pull) on stand-ins that report
    themselves as emulators: costs are emulated AArch64 instructions, never milliseconds. Two phones of one model
    share the grid's builds; the merged table has the one-phone table's structure and costs (whole inferences vary
    by a few hundred instructions of printing, kernels not at all), each variant naming its phone, under one key."""
    from latency import INSTRUCTIONS, build_table

    log = fake_adb("PHONE1:device,PHONE2:device")
    monkeypatch.setenv("FAKE_ADB_EMULATOR", "1")
    assert get_device("adb:PHONE1").emulated
    one = build_table("small_cnn", "adb:PHONE1", steps=(1.0, 0.5), progress=False)
    assert one.unit == INSTRUCTIONS and one.fingerprint["kind"] == "adb" and one.fingerprint["model"] == "stand-in"
    assert len(one.variants) == 4 and {v["device"] for v in one.variants} == {"adb:PHONE1"}
    full, half = (next(v["whole"] for v in one.variants if (v["filter_keep"], v["column_keep"]) == keep)
                  for keep in ((1.0, 1.0), (0.5, 0.5)))
    assert 0 < half < full
    assert log.read_text().count(" push ") >= 4 and "getprop ro.kernel.qemu" in log.read_text()
    both = build_table("small_cnn", "adb:PHONE1,adb:PHONE2", steps=(1.0, 0.5), progress=False)
    assert {v["device"] for v in both.variants} == {"adb:PHONE1", "adb:PHONE2"}
    assert "-s PHONE2 push" in log.read_text()
    assert both.key == one.key and both.fingerprint == one.fingerprint and both.layers == one.layers
    for merged, alone in zip(both.variants, one.variants, strict=True):
        assert merged.keys() == alone.keys() and merged["layers"] == alone["layers"]
        assert [merged[k] for k in ("filter_keep", "column_keep", "volume")] == \
            [alone[k] for k in ("filter_keep", "column_keep", "volume")]
        assert merged["whole"] == pytest.approx(alone["whole"], rel=0.05)


def test_phones_of_one_model_share_a_cache_key(fake_adb, tmp_path):
    from latency import table_path

    fake_adb("PHONE1:device,PHONE2:device")
    paths = {table_path("small_cnn", spec, cache=tmp_path) for spec in ("adb:PHONE1", "adb:PHONE2",
                                                                        "adb:PHONE1,adb:PHONE2")}
    assert len(paths) == 1


def test_phones_of_another_model_are_refused(fake_adb, monkeypatch):
    from latency import build_table, load_or_build

    fake_adb("PHONE1:device,PHONE2:device,PHONE3:device")
    monkeypatch.setenv("FAKE_ADB_MODELS", "PHONE2:other")
    message = "these differ: model 'stand-in' on adb:PHONE1, 'other' on adb:PHONE2, 'stand-in' on adb:PHONE3$"
    for build in (build_table, load_or_build):
        with pytest.raises(ValueError, match=message):
            build("small_cnn", "adb:PHONE1,adb:PHONE2,adb:PHONE3", steps=(1.0, 0.5), progress=False)


@pytest.mark.parametrize("spec, message", [
    ("host,adb:PHONE1", "several devices must be distinct phones"),
    ("adb:PHONE1,adb:PHONE1", "several devices must be distinct phones"),
    ("adb:PHONE1,adb", "several devices must be distinct phones"),
])
def test_device_lists_are_distinct_phones(fake_adb, spec, message):
    fake_adb("PHONE1:device")
    with pytest.raises(ValueError, match=message):
        get_devices(spec)
    with pytest.raises(ValueError, match="lists several devices; this needs one"):
        get_device(spec)


@pytest.mark.parametrize("devices, spec, message", [
    ("", "adb", "no Android device connected"),
    ("PHONE1:unauthorized", "adb:PHONE1", "device PHONE1 is unauthorized: accept the 'Allow USB debugging'"),
    ("PHONE1:offline", "adb:PHONE1", "device PHONE1 is offline: reconnect"),
    ("PHONE1:device", "adb:OTHER", "device OTHER not found; connected: PHONE1"),
    ("PHONE1:device,PHONE2:device", "adb", "2 devices connected (PHONE1, PHONE2); pick one with adb:SERIAL"),
])
def test_adb_device_errors(fake_adb, devices, spec, message):
    fake_adb(devices)
    with pytest.raises(DeviceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_device(spec)


def test_adb_no_space(artifacts, fake_adb, monkeypatch):
    compiled = artifacts.get("small_cnn", "dense", "android-arm64")
    fake_adb("PHONE1:device")
    monkeypatch.setenv("FAKE_ADB_FULL", "1")
    with pytest.raises(DeviceError, match="no space left on adb:PHONE1 while trying to push"):
        get_device("adb:PHONE1").bench(compiled, runs=1, warmup=0)


def test_adb_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceError, match="'adb' not found on PATH; install Android platform-tools"):
        get_device("adb:PHONE1")


def test_cpu_mask():
    assert cpu_mask("4-7") == "f0" and cpu_mask("0,2") == "5" and cpu_mask("1") == "2"
    with pytest.raises(ValueError, match="invalid CPU list"):
        cpu_mask("a-b")
