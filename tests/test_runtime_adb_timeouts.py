"""adb state queries time out quickly with one line; transfers get time by size; device states keep their hint."""
import os
import time

import pytest

from runtime import DeviceError
from runtime import adb as adb_module
from runtime.adb import AdbDevice, transfer_timeout


def fake_adb(tmp_path, body: str) -> str:
    path = tmp_path / "adb"
    path.write_text(f"#!/bin/sh\n{body}\n")
    os.chmod(path, 0o755)
    return str(path)


def test_a_hung_adb_devices_fails_in_seconds_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(adb_module, "STATE_TIMEOUT_S", 0.5)
    t0 = time.time()
    with pytest.raises(DeviceError) as err:
        AdbDevice(adb=fake_adb(tmp_path, "exec sleep 30"))
    assert time.time() - t0 < 10
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert "'adb devices' did not finish within 0.5 s" in message and "adb kill-server" in message


def test_no_permissions_state_keeps_its_udev_hint(tmp_path):
    listing = ("List of devices attached\\nPHONE1\\tno permissions (missing udev rules? user is in the plugdev "
               "group); see [http://developer.android.com/tools/device.html]")
    with pytest.raises(DeviceError, match="udev rules"):
        AdbDevice("PHONE1", adb=fake_adb(tmp_path, f'printf "{listing}\\n"'))


def test_transfers_get_time_by_size():
    assert transfer_timeout(0) == adb_module.TRANSFER_TIMEOUT_S
    assert transfer_timeout(100 << 20) == adb_module.TRANSFER_TIMEOUT_S + 100
