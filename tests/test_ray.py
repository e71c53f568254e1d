"""emotrace on a real local Ray cluster (two CPUs, two actors): batch results equal the
single-process ones, the service runs /predict and jobs on actors, a killed actor's job still
ends done (or failed with the reason once the attempts are spent), DELETE frees the actor.

One cluster serves the whole module (starting one costs seconds); the tests that need it are
marked ``ray`` (``-m 'not ray'`` leaves them out). The first tests need no cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emotrace.config import PipelineConfig
from emotrace.errors import ClusterError, ConfigError, MediaError

from .apihelpers import check_predict_shape, make_client, make_settings, upload, wait_for  # noqa: F401 (make_client: a fixture)
from .conftest import FIXTURES

FILES = ("dialogue.mp4", "dialogue.wav", "silence.wav")


def without_words(utterances: list[dict]) -> list[dict]:
    return [{k: v for k, v in u.items() if k != "words"} for u in utterances]


def comparable(result) -> dict:
    """A result as written, minus the seconds each stage took (which no two runs share)."""
    d = result.to_dict(include_words=True)
    d["metadata"] = {k: v for k, v in d["metadata"].items() if k != "timings"}
    return d


# no cluster needed -----------------------------------------------------------------------

def test_emotrace_and_its_commands_do_not_import_ray():
    code = ("import sys, emotrace, emotrace.cli, emotrace.api.app, emotrace.distributed\n"
            "emotrace.cli.build_parser()\n"
            "assert 'ray' not in sys.modules, 'ray was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    from emotrace.distributed import ActorPool

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(ClusterError, match=r"install emotrace\[ray\]"):
        ActorPool(PipelineConfig())


def test_a_wrong_address_fails_at_once_and_says_how_to_start_a_cluster():
    from emotrace.distributed.cluster import RayOptions, connect

    pytest.importorskip("ray")
    started = time.monotonic()
    with pytest.raises(ClusterError, match="ray start --head"):
        connect(RayOptions(address="127.0.0.1:1"))
    assert time.monotonic() - started < 30
    with pytest.raises(ConfigError, match="not a Ray address"):
        connect(RayOptions(address="no-port-here"))


def test_a_file_is_visible_only_with_the_same_size_and_time(tmp_path):
    from emotrace.distributed.worker import MediaSource

    f = tmp_path / "a.wav"
    f.write_bytes(b"12345")
    source = MediaSource.of(f)
    assert source.visible_here()
    assert not MediaSource(source.path, source.size + 1, source.mtime).visible_here()
    assert not MediaSource(str(tmp_path / "elsewhere.wav"), 5, source.mtime).visible_here()


def test_folders_expand_to_their_media_and_outputs_keep_the_tree(tmp_path):
    from emotrace.targets import expand_inputs, output_paths

    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("a.mp4", "sub/a.wav", "notes.txt"):
        (tmp_path / "in" / name).write_bytes(b"x")
    inputs = expand_inputs([str(tmp_path / "in")])
    assert [i.name for i in inputs] == ["a", "sub/a"]
    out = output_paths(inputs, str(tmp_path / "out"), ".json", folder=True)
    assert out == [tmp_path / "out" / "a.json", tmp_path / "out" / "sub" / "a.json"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no media file"):
        expand_inputs([str(tmp_path / "empty")])


# on a local cluster ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024**2,
                 log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference():
    """What one process computes for each fixture, with the threads an actor uses."""
    from emotrace.distributed.pool import with_threads
    from emotrace.pipeline import Pipeline

    pipeline = Pipeline(with_threads(PipelineConfig(), 1))
    return {name: comparable(pipeline.analyze(FIXTURES / name)) for name in FILES}


@pytest.mark.ray
@pytest.mark.slow
def test_batch_on_ray_equals_one_process_and_a_bad_file_stops_nothing(cluster, reference, tmp_path):
    from emotrace.distributed import RayOptions, analyze_many

    paths = [str(FIXTURES / n) for n in FILES] + [str(FIXTURES / "not_media.mp4")]
    outcomes = {Path(o.path).name: o for o in analyze_many(paths, options=RayOptions(actors=2))}
    assert set(outcomes) == {*FILES, "not_media.mp4"}
    for name in FILES:
        assert outcomes[name].ok, outcomes[name].error
        assert comparable(outcomes[name].result) == reference[name], name
        assert outcomes[name].result.metadata["file"] == str(FIXTURES / name)
    bad = outcomes["not_media.mp4"]
    assert isinstance(bad.error, MediaError) and "not_media.mp4: not a readable media" in str(bad.error)
    assert bad.attempts == 1


@pytest.mark.ray
@pytest.mark.slow
def test_cli_writes_one_output_per_file_and_skips_existing_ones(cluster, reference, tmp_path, capsys):
    from emotrace.cli import main

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "dialogue.mp4").symlink_to(FIXTURES / "dialogue.mp4")
    (folder / "sub" / "silence.wav").symlink_to(FIXTURES / "silence.wav")
    (folder / "broken.mp4").symlink_to(FIXTURES / "not_media.mp4")
    out = tmp_path / "out"
    code = main(["analyze", str(folder), "-o", str(out), "--words", "--ray", "--ray-actors", "2"])
    err = capsys.readouterr().err
    assert code == 3, err  # the broken file's status; the others are written
    assert "broken.mp4: not a readable media file" in err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert written == ["dialogue.json", "sub/silence.json"]
    body = json.loads((out / "dialogue.json").read_text())
    body["metadata"].pop("timings")
    expected = dict(reference["dialogue.mp4"], metadata={
        **reference["dialogue.mp4"]["metadata"], "file": str(folder / "dialogue.mp4")})
    assert body == json.loads(json.dumps(expected))

    code = main(["analyze", str(folder), "-o", str(out), "--skip-existing", "--ray=local",
                 "--ray-actors", "1", "--ray-transfer", "object-store"])
    err = capsys.readouterr().err
    assert "skipping 2 file(s) whose output exists" in err and code == 3


@pytest.fixture(scope="module")
def ray_pipeline(cluster):
    from emotrace.distributed import RayOptions, RayPipeline

    # uploads travel through the object store, as they do to other machines
    pipeline = RayPipeline(PipelineConfig(), RayOptions(actors=2, transfer="object-store"))
    yield pipeline
    pipeline.close()


@pytest.fixture
def serve(ray_pipeline, tmp_path):
    from fastapi.testclient import TestClient

    from emotrace.api import create_app

    clients = []

    def make(**changes):
        app = create_app(make_settings(tmp_path / str(len(clients)), **changes), ray_pipeline)
        clients.append(TestClient(app).__enter__())
        return clients[-1]

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def _running(client, job_id: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"]["stage"]:  # the actor has begun
            return
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never got going")


@pytest.mark.ray
@pytest.mark.slow
def test_service_answers_predict_and_a_job_through_ray(serve, reference):
    client = serve(workers=2)
    assert client.get("/health").json()["workers"] == 2
    r = client.post("/predict", files=upload("dialogue.wav", "video_file"))
    assert r.status_code == 200, r.text
    utts = check_predict_shape(r.json())
    assert utts == without_words(reference["dialogue.wav"]["analysis"]["utterances"])
    job_id = client.post("/jobs", files=upload("dialogue.mp4")).json()["id"]
    job = wait_for(client, job_id)
    assert job["status"] == "done", job
    result = client.get(f"/jobs/{job_id}/result").json()
    assert result["analysis"]["utterances"] == without_words(
        reference["dialogue.mp4"]["analysis"]["utterances"])
    assert "file" not in result["metadata"]  # no server path leaks, as without Ray


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_actor_does_not_lose_the_job(serve, ray_pipeline, cluster):
    client = serve(workers=2)
    job_id = client.post("/jobs", files=upload("dialogue.mp4")).json()["id"]
    _running(client, job_id)
    (actor,) = ray_pipeline.pool.busy_actors()
    cluster.kill(actor, no_restart=False)  # the process dies mid-file; Ray starts it again
    job = wait_for(client, job_id)
    assert job["status"] == "done", job
    assert client.app.state.service.store.get(job_id).attempts == 2


@pytest.mark.ray
@pytest.mark.slow
def test_a_job_whose_worker_keeps_dying_fails_with_the_reason(serve, ray_pipeline, cluster):
    client = serve(workers=2, max_attempts=1)
    job_id = client.post("/jobs", files=upload("dialogue.wav")).json()["id"]
    _running(client, job_id)
    for actor in ray_pipeline.pool.busy_actors():
        cluster.kill(actor, no_restart=False)
    job = wait_for(client, job_id)
    assert job["status"] == "failed"
    assert "died" in job["error"] and "gave up after 1 attempt" in job["error"], job["error"]


@pytest.mark.ray
@pytest.mark.slow
def test_a_job_interrupted_by_a_restart_runs_again_on_the_actors(ray_pipeline, tmp_path):
    from fastapi.testclient import TestClient

    from emotrace.api import create_app

    settings = make_settings(tmp_path, workers=2)
    with TestClient(create_app(settings, ray_pipeline)) as first:
        job_id = first.post("/jobs", files=upload("dialogue.mp4")).json()["id"]
        _running(first, job_id)
    # the server stopped mid-job; the next one, on the same folder, runs the job again
    with TestClient(create_app(settings, ray_pipeline)) as second:
        job = wait_for(second, job_id)
        assert job["status"] == "done", job["error"]
        assert second.app.state.service.store.get(job_id).attempts == 2


@pytest.mark.ray
@pytest.mark.slow
def test_deleting_a_running_job_frees_its_actor(serve, ray_pipeline):
    client = serve(workers=2)
    job_id = client.post("/jobs", files=upload("dialogue.mp4")).json()["id"]
    _running(client, job_id)
    assert client.delete(f"/jobs/{job_id}").status_code == 204
    deadline = time.monotonic() + 60
    while ray_pipeline.pool.busy_actors():
        assert time.monotonic() < deadline, "the actor kept analysing a deleted job"
        time.sleep(0.05)
    assert client.get(f"/jobs/{job_id}").status_code == 404


@pytest.mark.ray
@pytest.mark.slow
def test_a_file_the_worker_does_not_see_travels_through_the_object_store(
        ray_pipeline, reference, monkeypatch):
    from emotrace.distributed import RayOptions
    from emotrace.distributed.worker import MediaSource

    real_of = MediaSource.of.__func__

    def elsewhere(cls, path):  # as if the worker's node had another file at this path
        source = real_of(cls, path)
        return MediaSource(source.path, source.size, source.mtime + 3600)

    monkeypatch.setattr(MediaSource, "of", classmethod(elsewhere))
    pool = ray_pipeline.pool
    monkeypatch.setattr(pool, "options", RayOptions(actors=2, transfer="auto"))
    result = pool.analyze(FIXTURES / "dialogue.wav")
    assert comparable(result) == reference["dialogue.wav"]
    monkeypatch.setattr(pool, "options", RayOptions(actors=2, transfer="path"))
    with pytest.raises(MediaError, match="does not see this path"):
        pool.analyze(FIXTURES / "dialogue.wav")


def test_the_benchmark_describes_itself():
    proc = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "benchmarks" / "ray_scale.py"),
                           "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: .venv/bin/python benchmarks/ray_scale.py")


class DiesOnce:
    """A pipeline whose worker dies during its first analysis (as a killed Ray actor does)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def describe(self):
        return self.inner.describe()

    def analyze(self, path, **kwargs):
        from emotrace.errors import WorkerLost

        self.calls += 1
        if self.calls == 1:
            raise WorkerLost("the Ray worker analysing it died (test)")
        return self.inner.analyze(path, **kwargs)


@pytest.mark.parametrize("max_attempts, status", [(2, 200), (1, 503)])
def test_predict_runs_again_when_its_worker_dies(make_client, max_attempts, status):
    from .apihelpers import FakePipeline

    pipeline = DiesOnce(FakePipeline())
    client, _ = make_client(pipeline, max_attempts=max_attempts)
    r = client.post("/predict", files=upload("dialogue.wav", "video_file"))
    assert r.status_code == status, r.text
    assert pipeline.calls == min(2, max_attempts)
    if status == 503:
        assert "died" in r.json()["detail"]
