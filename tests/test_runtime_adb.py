"""The adb device end to end, against a stand-in ``adb`` that keeps the phone's files in a folder, reports the CPU
frequencies of a big.LITTLE phone and runs pushed binaries under qemu-aarch64: pinning to the fastest cores, one
push per binary, the timing options; plus the errors for missing, unauthorized, offline and full devices."""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import textwrap

import pytest

from codegen import CompiledModel
from runtime import DeviceError, get_device, get_devices

pytestmark = pytest.mark.qemu

FAKE_ADB = textwrap.dedent('''\
    #!{python}
    """Stand-in adb: devices, -s SERIAL push/pull/shell; a phone's /data/local/tmp lives under $FAKE_ADB_ROOT/SERIAL.
    $FAKE_ADB_CPUFREQ lists its CPUs' cpuinfo_max_freq in kHz (0-3:1804800,4-7:2419200); without it they are
    unreadable. Binaries run under qemu-aarch64 here, so their --pin CPUs (the phone's) become this machine's first."""
    import os, shutil, subprocess, sys
    env = os.environ
    freqs = {{}}
    for item in filter(None, env.get("FAKE_ADB_CPUFREQ", "").split(",")):
        cpus, khz = item.split(":")
        lo, _, hi = cpus.partition("-")
        freqs.update(dict.fromkeys(range(int(lo), int(hi or lo) + 1), khz))
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
        if rest[0] == "grep":  # grep -H . /sys/devices/system/cpu/online /sys/devices/system/cpu/cpu[0-9]*/...
            if not freqs:
                sys.exit(f"grep: {{rest[-1]}}: No such file or directory")
            print(f"/sys/devices/system/cpu/online:0-{{max(freqs)}}")
            for cpu, khz in freqs.items():
                print(f"/sys/devices/system/cpu/cpu{{cpu}}/cpufreq/cpuinfo_max_freq:{{khz}}")
            sys.exit(0)
        if rest[0] == "taskset":
            int(rest[1], 16)
            rest = rest[2:]
        if rest[0] in ("mkdir", "rm", "chmod", "sha256sum"):
            sys.exit(subprocess.run(rest).returncode)
        if env.get("FAKE_ADB_SILENT"):  # a binary that exits 0 and prints nothing (nor writes its output)
            sys.exit(0)
        if "--pin" in rest:
            rest[rest.index("--pin") + 1] = str(min(os.sched_getaffinity(0)))
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
    assert (result.pin, result.pin_reason) == ("0-1", "as given")
    calls = log.read_text()
    binary = f"/data/local/tmp/autocompress/{compiled.binary.name}"
    assert f"-s PHONE1 push {compiled.binary} {binary}" in calls
    assert f"-s PHONE1 shell taskset 3 {binary} --input" in calls
    assert "-s PHONE1 pull /data/local/tmp/autocompress/output.bin" in calls


@pytest.mark.slow
def test_latency_tables_through_one_and_two_emulated_adb_phones(fake_adb, monkeypatch, tmp_path):
    """Table building over adb end to end (push, run, check against onnxruntime, pull) on stand-ins that report
    themselves as emulators: costs are emulated AArch64 instructions, never milliseconds. Two phones of one model
    share the grid's builds; the merged table has the one-phone table's structure and costs (whole inferences vary
    by a few hundred instructions of printing, kernels not at all), each variant naming its phone, under one key."""
    from latency import INSTRUCTIONS, build_table

    log = fake_adb("PHONE1:device,PHONE2:device")
    monkeypatch.setenv("FAKE_ADB_EMULATOR", "1")
    assert get_device("adb:PHONE1").emulated
    _compile_each_build_once(monkeypatch)
    one = build_table("small_cnn", "adb:PHONE1", steps=(1.0, 0.5), progress=False, checks=0, workdir=tmp_path)
    assert one.unit == INSTRUCTIONS and one.fingerprint["kind"] == "adb" and one.fingerprint["model"] == "stand-in"
    assert len(one.variants) == 4 and {v["device"] for v in one.variants} == {"adb:PHONE1"}
    assert 0 < max(v["whole"] for v in one.variants[1:]) < one.variants[0]["whole"]  # the first build is dense
    assert log.read_text().count(" push ") >= 4 and "getprop ro.kernel.qemu" in log.read_text()
    both = build_table("small_cnn", "adb:PHONE1,adb:PHONE2", steps=(1.0, 0.5), progress=False, checks=0,
                       workdir=tmp_path)
    assert {v["device"] for v in both.variants} == {"adb:PHONE1", "adb:PHONE2"}
    assert "-s PHONE2 push" in log.read_text()
    assert both.key == one.key and both.fingerprint == one.fingerprint and both.layers == one.layers
    for merged, alone in zip(both.variants, one.variants, strict=True):
        assert merged.keys() == alone.keys() and merged["layers"] == alone["layers"]
        assert [merged[k] for k in ("keeps", "volume")] == [alone[k] for k in ("keeps", "volume")]
        assert merged["whole"] == pytest.approx(alone["whole"], rel=0.05)


def _compile_each_build_once(monkeypatch) -> None:
    """The two tables compile the same builds (same seed, steps and design): compile each once, so the second table
    measures the very binaries the first did (compiling is not what these tables test)."""
    from latency import grid

    compiled, compile_build = {}, grid._compile

    def once(table, model, out_dir):
        weights = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values())).hexdigest()
        if weights not in compiled:
            compiled[weights] = compile_build(table, model, out_dir)
        return compiled[weights]
    monkeypatch.setattr(grid, "_compile", once)


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


BIG_LITTLE = "0-3:1804800,4-6:2419200,7:2841600"  # kHz: four little cores, three big ones, one prime


def test_auto_pins_to_the_fastest_cluster_and_records_it(artifacts, fake_adb, monkeypatch):
    """The prime core for one thread, the prime and the big cores for two, fastest first (thread i on the i-th);
    recorded with the frequencies. Not pinned with pin none, nor where the frequencies cannot be read."""
    from latency import device_fingerprint

    compiled = artifacts.get("small_cnn", "dense", "android-arm64")
    log = fake_adb("PHONE1:device")
    monkeypatch.setenv("FAKE_ADB_CPUFREQ", BIG_LITTLE)
    phone = get_device("adb:PHONE1")
    one, two = (phone.bench(compiled, runs=2, warmup=0, threads=threads) for threads in (1, 2))
    assert one.pin == "7" and two.pin == "7,4-6"
    assert one.pin_reason == ("fastest cores by cpuinfo_max_freq: 7 at 2.84 GHz; left out 4-6 at 2.42 GHz, "
                              "0-3 at 1.80 GHz")
    assert device_fingerprint(phone, threads=1)["pin"] == "7"
    none = phone.bench(compiled, runs=1, warmup=0, pin="none")
    assert (none.pin, none.pin_reason) == ("", "not pinned: asked for none")
    monkeypatch.delenv("FAKE_ADB_CPUFREQ")
    unreadable = phone.bench(compiled, runs=1, warmup=0)
    assert unreadable.pin == "" and "no readable cpuinfo_max_freq" in unreadable.pin_reason
    binary = f"/data/local/tmp/autocompress/{compiled.binary.name}"
    runs = [line for line in log.read_text().splitlines() if f"{binary} --input" in line]
    assert [(run.split(binary)[0], run.partition(" --pin ")[2]) for run in runs] == [
        ("-s PHONE1 shell taskset 80 ", "7"), ("-s PHONE1 shell taskset f0 ", "7,4-6"), ("-s PHONE1 shell ", ""),
        ("-s PHONE1 shell ", "")]


def test_the_binary_is_pushed_once_per_session_and_again_when_it_changes(artifacts, fake_adb, tmp_path):
    """A measurement's processes share one push (sha256 checked on the phone), and so do later ones of the same
    binary; a changed binary is pushed again."""
    from latency.measure import REPEATS, measure

    shutil.copytree(artifacts.get("small_cnn", "dense", "android-arm64").out_dir, tmp_path / "arm")
    compiled = CompiledModel.load(tmp_path / "arm")
    log = fake_adb("PHONE1:device")
    phone = get_device("adb:PHONE1")

    def pushes() -> int:
        return log.read_text().count(f" push {compiled.binary} ")

    measure(phone, compiled, threads=1, runs=2, profile=False)
    assert log.read_text().count(f"{compiled.binary.name} --input") == REPEATS and pushes() == 1
    phone.bench(compiled, runs=1, warmup=0)
    assert pushes() == 1
    with compiled.binary.open("ab") as binary:
        binary.write(b"\0")  # another file, the same program
    phone.bench(compiled, runs=1, warmup=0)
    assert pushes() == 2
