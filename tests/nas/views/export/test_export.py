"""export_network: the three formats round-trip (ONNX in ONNX Runtime at batch 1 and 3), layout, refusals."""

from __future__ import annotations

import json

import pytest
import torch

from nas.views.export import FORMATS, MODEL_FILES, SUFFIXES, ExportError, export_network, load_exported
from nas.views.export.check import CheckResult
from nas.views.export.load import OnnxRuntimeModule
from nas.views.source import source_from_arch
from nas.views.train import load_weights
from search_space.build import build_model
from search_space.modules import to_inference
from search_space.spec import spec_from_json
from tests.nas.views.export.helpers import tiny_spec, trained_dir  # noqa: F401 - trained_dir is a fixture


def outputs_match(a: torch.nn.Module, b: torch.nn.Module, shape: tuple[int, int, int]) -> float:
    torch.manual_seed(1)
    worst = 0.0
    with torch.no_grad():
        for batch in (1, 3):
            x = torch.randn(batch, *shape)
            ya, yb = a(x), b(x)
            assert ya.shape == yb.shape == (batch, 10)
            worst = max(worst, float((ya - yb).abs().max()))
    return worst


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_each_format(fmt, tmp_path):
    spec = tiny_spec()
    res = export_network(source_from_arch(spec, "tiny.json"), fmt, tmp_path / "out", seed=3)
    assert sorted(p.name for p in res.out_dir.iterdir()) == sorted([MODEL_FILES[fmt], "spec.json", "metadata.json"])
    assert spec_from_json((res.out_dir / "spec.json").read_text()) == spec
    reference = build_model(spec, form="inference", seed=3)
    for path in (res.out_dir, res.model_path):  # the folder or the model file itself
        loaded = load_exported(path)
        assert outputs_match(reference, loaded, (3, 32, 32)) <= 1e-4
    if fmt == "onnx":
        assert isinstance(loaded, OnnxRuntimeModule) and isinstance(loaded.input_shape[0], str)  # free batch
    meta = json.loads(res.metadata_path.read_text())
    assert meta["format"] == fmt and meta["files"]["model"] == MODEL_FILES[fmt]
    assert meta["weights"]["trained"] is False and "untrained" in meta["weights"]["status"]
    assert meta["checks"][0]["passed"] and meta["checks"][0]["batches"] == [1, 3]
    assert meta["checks"][0]["max_abs_diff"] <= 1e-4
    assert meta["model"]["input"]["shape"] == ["batch", 3, 32, 32]
    assert meta["latency"] is None and any("no latency" in n for n in meta["notes"])
    for key in ("torch", "onnx", "onnxruntime", "shufflenas", "python"):
        assert meta["versions"][key]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_trained_weights_are_exported_with_their_accuracy(trained_dir, tmp_path):
    weights = load_weights(trained_dir / "final.pt")
    res = export_network(weights.setup.source, "onnx", tmp_path / "t", weights=weights)
    model = build_model(weights.spec, form="train")
    model.load_state_dict(weights.state_dict)
    assert outputs_match(to_inference(model.eval()), load_exported(res.out_dir), (3, 32, 32)) <= 1e-4
    meta = res.metadata
    assert meta["weights"]["trained"] and meta["weights"]["complete"]
    assert meta["accuracy"]["final"]["test_accuracy"] == weights.test_accuracy
    assert meta["preprocessing"]["resolution"] == 32 and len(meta["preprocessing"]["mean"]) == 3
    assert meta["class_names"] and len(meta["class_names"]) == 10


def test_weights_of_another_network_are_refused(trained_dir, tmp_path):
    weights = load_weights(trained_dir)
    other = source_from_arch(tiny_spec(classes=7), "other.json")
    with pytest.raises(ExportError, match="trained for architecture"):
        export_network(other, "pytorch", tmp_path / "x", weights=weights)
    assert not (tmp_path / "x").exists()


def test_a_failed_check_refuses_and_writes_nothing(tmp_path, monkeypatch):
    import nas.views.export.export as ex

    def bad(*args, **kwargs):
        return CheckResult("ONNX Runtime", (1, 3), 0.5, 1.0, 1e-4, 1e-3, False)

    monkeypatch.setattr(ex, "compare", bad)
    with pytest.raises(ExportError, match="export refused"):
        export_network(source_from_arch(tiny_spec(), "tiny.json"), "onnx", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force_and_bad_places_fail_in_one_line(tmp_path):
    src = source_from_arch(tiny_spec(), "tiny.json")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="--force"):
        export_network(src, "pytorch", out)
    assert (out / "keep.txt").read_text() == "mine"
    export_network(src, "pytorch", out, force=True)
    assert (out / "model.pt").is_file() and not (out / "keep.txt").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot write"):
        export_network(src, "pytorch", blocker / "sub")
    with pytest.raises(ExportError, match="is a file"):
        export_network(src, "pytorch", blocker)
    with pytest.raises(ExportError, match="unknown 'tflite'"):
        export_network(src, "tflite", tmp_path / "y")


def test_load_exported_errors(tmp_path):
    with pytest.raises(ExportError, match="no exported model"):
        load_exported(tmp_path / "missing.pt")
    with pytest.raises(ExportError, match="not an export folder"):
        load_exported(tmp_path)
    bad = tmp_path / "model.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(ExportError, match="not a state-dict export"):
        load_exported(bad)
    (tmp_path / "m.onnx").write_bytes(b"garbage")
    with pytest.raises(ExportError, match="ONNX Runtime cannot load"):
        load_exported(tmp_path / "m.onnx")
    (tmp_path / "m.ts").write_bytes(b"garbage")
    with pytest.raises(ExportError, match="cannot load TorchScript"):
        load_exported(tmp_path / "m.ts")


# --- `out` ending in the format's own suffix: the model file itself, spec and metadata beside it ---------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_path_with_the_format_suffix_is_the_model_file(fmt, tmp_path):
    spec = tiny_spec()
    suffix = SUFFIXES[fmt]
    res = export_network(source_from_arch(spec, "tiny.json"), fmt, tmp_path / f"m{suffix}", seed=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"m{suffix}", "m.spec.json", "m.metadata.json"])
    assert res.layout == "file" and res.out == res.model_path == tmp_path / f"m{suffix}"
    assert (res.spec_path, res.metadata_path, res.out_dir) == (tmp_path / "m.spec.json", tmp_path / "m.metadata.json",
                                                              tmp_path)
    assert res.model_path.is_file() and spec_from_json(res.spec_path.read_text()) == spec
    meta = json.loads(res.metadata_path.read_text())
    assert meta["format"] == fmt and meta["checks"][0]["passed"]
    assert meta["files"] == {"model": f"m{suffix}", "spec": "m.spec.json", "metadata": "m.metadata.json"}
    loaded = load_exported(res.model_path)  # round trip from the file path
    assert outputs_match(build_model(spec, form="inference", seed=3), loaded, (3, 32, 32)) <= 1e-4
    if fmt == "onnx":
        import onnx

        onnx.checker.check_model(onnx.load(str(res.model_path)))
        assert isinstance(loaded, OnnxRuntimeModule) and isinstance(loaded.input_shape[0], str)  # free batch


def test_file_layout_details(tmp_path):
    """One suffix per format, case-insensitive; the stem may hold dots; missing parent folders are made."""
    assert SUFFIXES == {"onnx": ".onnx", "torchscript": ".ts", "pytorch": ".pt"}
    src = source_from_arch(tiny_spec(), "tiny.json")
    res = export_network(src, "torchscript", tmp_path / "a" / "b" / "net.v2.TS")
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["net.v2.TS", "net.v2.metadata.json",
                                                                       "net.v2.spec.json"]
    assert isinstance(load_exported(res.model_path), torch.jit.ScriptModule)
    assert not [p for p in (tmp_path / "a" / "b").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_path_with_another_formats_suffix_is_refused(fmt, tmp_path):
    src = source_from_arch(tiny_spec(), "tiny.json")
    for other, suffix in SUFFIXES.items():
        if other == fmt:
            continue
        with pytest.raises(ExportError, match=rf"ends in \{suffix}, the suffix of {other} exports") as info:
            export_network(src, fmt, tmp_path / f"m{suffix}")
        assert len(str(info.value).splitlines()) == 1 and SUFFIXES[fmt] in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_other_paths_are_folders_as_before(tmp_path):
    src = source_from_arch(tiny_spec(), "tiny.json")
    for name in ("out", "out.v1", "m.pth"):  # no format's suffix: a folder, as before
        res = export_network(src, "pytorch", tmp_path / name)
        assert res.layout == "folder" and res.out == res.out_dir == tmp_path / name
        assert sorted(p.name for p in res.out_dir.iterdir()) == ["metadata.json", "model.pt", "spec.json"]
        assert json.loads(res.metadata_path.read_text())["files"] == {"model": "model.pt", "spec": "spec.json",
                                                                      "metadata": "metadata.json"}
        assert isinstance(load_exported(res.out), torch.nn.Module)
    res = export_network(src, "onnx", f"{tmp_path / 'x.onnx'}/")  # a trailing separator asks for a folder
    assert res.layout == "folder" and (tmp_path / "x.onnx" / "model.onnx").is_file()
    assert isinstance(load_exported(tmp_path / "x.onnx"), OnnxRuntimeModule)  # a folder named *.onnx loads too


def test_existing_files_need_force_and_a_folder_is_never_replaced_by_a_file(tmp_path):
    src = source_from_arch(tiny_spec(), "tiny.json")
    (tmp_path / "m.pt").write_text("mine")
    with pytest.raises(ExportError, match="m.pt already exists; pass --force"):
        export_network(src, "pytorch", tmp_path / "m.pt")
    (tmp_path / "n.metadata.json").write_text("mine")  # a file beside it counts as well
    with pytest.raises(ExportError, match="n.metadata.json already exists"):
        export_network(src, "pytorch", tmp_path / "n.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "n.metadata.json"]
    assert (tmp_path / "m.pt").read_text() == "mine"
    res = export_network(src, "pytorch", tmp_path / "m.pt", force=True)
    assert isinstance(load_exported(res.model_path), torch.nn.Module) and res.spec_path.is_file()
    again = export_network(src, "pytorch", tmp_path / "m.pt", seed=5, force=True)  # an export replaces an export
    assert "(seed 5)" in json.loads(again.metadata_path.read_text())["weights"]["status"]
    (tmp_path / "d.onnx").mkdir()
    (tmp_path / "d.onnx" / "keep.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(ExportError, match="is a folder"):
            export_network(src, "onnx", tmp_path / "d.onnx", force=force)
    assert (tmp_path / "d.onnx" / "keep.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_check_writes_no_file(tmp_path, monkeypatch):
    import nas.views.export.export as ex

    monkeypatch.setattr(ex, "compare", lambda *a, **k: CheckResult("ONNX Runtime", (1, 3), 0.5, 1.0, 1e-4, 1e-3, False))
    with pytest.raises(ExportError, match="export refused"):
        export_network(source_from_arch(tiny_spec(), "tiny.json"), "onnx", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
