"""Two Ray nodes on this machine (Ray's own multi-node test cluster): the actors spread over
both and files reach them through the object store, with the results one process computes."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotrace.config import PipelineConfig

from .conftest import FIXTURES

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_nodes():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": 96 * 1024**2})
    cluster.add_node(num_cpus=1, object_store_memory=96 * 1024**2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_actors_on_two_nodes_give_one_process_results(two_nodes):
    from emotrace.distributed import ActorPool, RayOptions, analyze_many
    from emotrace.distributed.pool import with_threads
    from emotrace.pipeline import Pipeline

    names = ("dialogue.wav", "silence.wav")
    with ActorPool(PipelineConfig(), RayOptions(transfer="object-store")) as pool:
        assert pool.size == 2  # one per CPU of the cluster
        assert len({m["node"] for m in pool.memory()}) == 2
        outcomes = {Path(o.path).name: o for o in analyze_many(
            [str(FIXTURES / n) for n in names], pool=pool, options=pool.options)}
    local = Pipeline(with_threads(PipelineConfig(), 1))
    for name in names:
        assert outcomes[name].ok, outcomes[name].error
        mine = local.analyze(FIXTURES / name)
        assert outcomes[name].result.utterances == mine.utterances
        assert outcomes[name].result.metadata["file"] == str(FIXTURES / name)
