"""System information for timings metadata: versions, CPU model, host."""

from latency_models import sysinfo


def test_library_versions_name_python_and_torch():
    v = sysinfo.library_versions()
    assert v["python"] and v["torch"] and v["numpy"]
    assert set(sysinfo.LIBRARIES) <= set(v)


def test_cpu_model_from_proc_cpuinfo(monkeypatch, tmp_path):
    class FakePath:
        def __init__(self, p):
            self.p = p

        def read_text(self, errors=None):
            if self.p == "/proc/cpuinfo":
                return "processor\t: 0\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
            raise OSError

    monkeypatch.setattr(sysinfo, "Path", FakePath)
    assert sysinfo.cpu_model() == "Raspberry Pi 4 Model B Rev 1.4"


def test_cpu_model_x86_model_name(monkeypatch):
    class FakePath:
        def __init__(self, p):
            pass

        def read_text(self, errors=None):
            return "processor\t: 0\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold\n"

    monkeypatch.setattr(sysinfo, "Path", FakePath)
    assert sysinfo.cpu_model() == "Intel(R) Xeon(R) Gold"


def test_system_info_fields():
    info = sysinfo.system_info()
    for key in ("hostname", "os", "cpu_model", "cpu_count", "versions"):
        assert key in info
    assert info["gpu_model"] is None  # only asked for with a CUDA platform
