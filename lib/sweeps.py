"""Where a sweep's missing configs are computed: in this process, or on a Dask cluster.

:meth:`lib.cache.ResultsCache.sweep` decides *what* is missing (the driver computes every key, so a result
is always stored under the key of the driver's code); an executor decides *where* it is computed:

* :class:`InProcess` (the default) — one config after the other in this process;
* :class:`DaskCluster` — on a Dask distributed cluster (Rocklin 2015, https://distributed.dask.org):
  ``DaskCluster()`` or ``DaskCluster("local", workers=4)`` starts a local cluster of worker *processes*
  on this machine; ``DaskCluster("tcp://host:8786")`` connects to a running scheduler (started by hand,
  by ``dask-jobqueue`` on Slurm/PBS, by ``dask-kubernetes``, …). See ``tools/sweep.py`` and the README.

On a cluster, each task runs :func:`compute_and_store` on a worker: it checks that the worker imports the
same code as the driver (the code version that is part of the key), computes ``fn(config)`` and writes the
result atomically into the results root, which therefore has to be a folder every worker can write (a
shared filesystem on a real cluster). The driver reads the results back from there. A config whose
``"device"`` starts with ``"cuda"`` requests the worker resource ``GPU=1``, so a worker started with
``--resources GPU=1`` runs one such job at a time.

Faults: a killed worker's tasks are rescheduled by Dask on the other workers (results already written stay
written); a killed driver loses nothing finished — run the sweep again and only the missing configs are
sent; a config whose experiment raises is reported with its config in a :class:`SweepError` after every
other config has finished.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.options import Option

__all__ = ["Task", "TaskFailure", "SweepError", "Executor", "InProcess", "DaskCluster", "Scheduler",
           "compute_and_store", "executor_from"]


class Scheduler(Option):
    """Named schedulers for :func:`executor_from` (anything else is a scheduler address such as ``tcp://…``)."""

    IN_PROCESS = "in-process"
    """Compute in this process, one config after the other (the default)."""
    LOCAL = "local"
    """Start a Dask cluster of worker processes on this machine (``--workers`` of them)."""


@dataclass(frozen=True)
class Task:
    """One missing config of a sweep, with everything a worker needs to compute and store it.

    Attributes:
        fn: the experiment, a module-level function (sent to workers by reference, so they import it).
        config: its JSON-like config.
        path: where the driver expects the result (``<root>/<experiment>/<key>.pt``).
        code: the driver's code version of ``fn`` (part of the key); a worker on other code refuses the task.
        canonical: the canonical form of ``config`` that is stored next to the result.
    """

    fn: Callable[[Any], Any]
    config: Any
    path: str
    code: str
    canonical: Any

    @property
    def wants_gpu(self) -> bool:
        """Whether the config asks for a CUDA device (``config["device"]`` starting with ``"cuda"``)."""
        device = self.config.get("device") if isinstance(self.config, dict) else None
        return isinstance(device, str) and device.startswith("cuda")


@dataclass(frozen=True)
class TaskFailure:
    """A config whose experiment raised: the config and the formatted error (with its traceback)."""

    config: Any
    error: str


class SweepError(RuntimeError):
    """Some configs of a sweep failed; every other config finished and was stored.

    Attributes:
        failures: one :class:`TaskFailure` per failed config.
    """

    def __init__(self, experiment: str, failures: Sequence[TaskFailure], total: int) -> None:
        self.failures = list(failures)
        lines = [f"{len(self.failures)} of {total} configs of {experiment} failed (the others finished and are "
                 "stored; fix the cause and run the sweep again to compute only these):"]
        for failure in self.failures[:5]:
            last = failure.error.strip().splitlines()[-1] if failure.error.strip() else "unknown error"
            lines.append(f"  - config {failure.config!r}: {last}")
        if len(self.failures) > 5:
            lines.append(f"  … and {len(self.failures) - 5} more (see .failures)")
        if self.failures:
            lines.append("First traceback:\n" + self.failures[0].error)
        super().__init__("\n".join(lines))


def compute_and_store(task: Task) -> str:
    """Run one task where it is scheduled: check the code version, compute, store atomically; return the path.

    Raises:
        RuntimeError: the worker imports other code than the driver (it would store a result under a key that
            does not describe it). Restart the workers from the driver's checkout.
    """
    from lib.cache import ResultsCache, code_version

    here = code_version(task.fn)
    if here != task.code:
        raise RuntimeError(
            f"worker {_worker_name()} runs other code than the driver for {task.fn.__module__}.{task.fn.__qualname__} "
            f"(code version {here}, driver {task.code}); its result would be stored under the wrong key. Restart "
            "the workers from the driver's checkout (same lib version).")
    import time

    from lib.cache import _storable, run_record

    start = time.perf_counter()
    result = task.fn(task.config)
    record = run_record(time.perf_counter() - start, task.config)
    ResultsCache._atomic_save({"config": task.canonical, "result": _storable(result), **record}, Path(task.path))
    return task.path


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


class Executor:
    """Runs a sweep's tasks somewhere; subclasses implement :meth:`run`."""

    def run(self, tasks: Sequence[Task], *, on_done: Callable[[int], None]) -> list[TaskFailure]:
        """Compute and store every task; call ``on_done(index)`` as each finishes; return the failures."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor holds (a cluster it started)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcess(Executor):
    """Compute each task in this process, in order (the default executor)."""

    def run(self, tasks: Sequence[Task], *, on_done: Callable[[int], None]) -> list[TaskFailure]:
        """See :meth:`Executor.run`. ``KeyboardInterrupt`` stops the sweep (finished results stay stored)."""
        failures = []
        for index, task in enumerate(tasks):
            try:
                compute_and_store(task)
            except Exception:  # reported with its config after the rest has finished
                failures.append(TaskFailure(task.config, traceback.format_exc()))
            on_done(index)
        return failures

    def __repr__(self) -> str:
        return "InProcess()"


class DaskCluster(Executor):
    """Compute tasks on a Dask distributed cluster.

    Args:
        address: ``"local"`` (default) starts a local cluster of worker processes on this machine (over
            loopback); any other string is the address of a running scheduler (``tcp://host:8786``).
        workers: number of local worker processes (``"local"`` only); default: one per GPU if CUDA is
            available, else 2.
        threads_per_worker: threads per local worker (one task at a time per worker by default: the
            experiments use all the threads torch gives them).
        gpu_resource: advertise ``GPU=1`` on each local worker (default: when CUDA is available), so that a
            CUDA config runs one at a time per worker; each local worker then uses GPU ``index % count``.
        retries: how often Dask resubmits a task whose worker died (a task that *raises* is not retried).

    A script that starts a local cluster must do so under ``if __name__ == "__main__":`` (worker processes
    are spawned and import the main module).

    Example:
        >>> with DaskCluster("local", workers=2) as cluster:          # doctest: +SKIP
        ...     ResultsCache(executor=cluster).sweep(run, configs)
    """

    def __init__(self, address: str = "local", *, workers: int | None = None, threads_per_worker: int = 1,
                 gpu_resource: bool | None = None, retries: int = 2) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as error:  # pragma: no cover - dask is a declared dependency
            raise ImportError("DaskCluster needs dask.distributed: pip install 'dask[distributed]'.") from error
        if not isinstance(address, str) or not address:
            raise ValueError(f"address must be 'local' or a scheduler address such as 'tcp://host:8786', "
                             f"got {address!r}.")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive integer, got {workers!r}.")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries!r}.")
        self.address = address
        self.retries = retries
        self._cluster = None
        if address == Scheduler.LOCAL.value:
            import torch

            gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
            gpu_resource = gpus > 0 if gpu_resource is None else gpu_resource
            workers = workers or (gpus if gpus else 2)
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                                         host="127.0.0.1", dashboard_address=":0",
                                         resources={"GPU": 1} if gpu_resource else None)
            self.client = Client(self._cluster)
            if gpu_resource and gpus:
                self.client.register_plugin(_one_gpu_per_worker(gpus))
        else:
            self.client = Client(address)

    def _gpu_workers(self) -> int:
        info = self.client.scheduler_info(n_workers=-1) if _accepts_n_workers(self.client) else \
            self.client.scheduler_info()
        return sum(1 for worker in info.get("workers", {}).values()
                   if worker.get("resources", {}).get("GPU", 0) >= 1)

    def run(self, tasks: Sequence[Task], *, on_done: Callable[[int], None]) -> list[TaskFailure]:
        """See :meth:`Executor.run`. GPU configs are sent with ``resources={"GPU": 1}``."""
        from distributed import as_completed

        if any(task.wants_gpu for task in tasks) and self._gpu_workers() == 0:
            raise RuntimeError(
                "This sweep has CUDA configs, but no worker of the cluster advertises a GPU resource, so they "
                "would wait forever. Start GPU workers with `dask worker <scheduler> --nthreads 1 --resources "
                "GPU=1` (one per GPU, each with its own CUDA_VISIBLE_DEVICES), or run on CPU (--device cpu).")
        futures = {}
        for index, task in enumerate(tasks):
            future = self.client.submit(compute_and_store, task, key=f"sweep-{Path(task.path).stem}-{index}",
                                        resources={"GPU": 1} if task.wants_gpu else None, retries=self.retries,
                                        pure=False)
            futures[future] = index
        failures = []
        for future in as_completed(list(futures)):
            index = futures[future]
            if future.status == "error":
                error = future.exception()
                text = "".join(traceback.format_exception(type(error), error, future.traceback()))
                failures.append(TaskFailure(tasks[index].config, text))
            on_done(index)
            future.release()
        return failures

    def close(self) -> None:
        """Close the client, and the local cluster if this executor started it."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __repr__(self) -> str:
        return f"DaskCluster({self.address!r})"


def _accepts_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _one_gpu_per_worker(count: int) -> Any:
    """A Dask worker plugin: local worker ``i`` makes GPU ``i % count`` its current CUDA device."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class OneGpuPerWorker(WorkerPlugin):
        name = "ntk-book-one-gpu-per-worker"

        def setup(self, worker: Any) -> None:
            import torch

            try:
                index = int(str(worker.name).rsplit("-", 1)[-1]) % count
            except ValueError:
                index = 0
            torch.cuda.set_device(index)

    return OneGpuPerWorker()


def executor_from(scheduler: str | None, *, workers: int | None = None) -> Executor:
    """The executor for a scheduler name or address: ``None``/``"in-process"``, ``"local"`` or ``tcp://…``."""
    if scheduler is None or scheduler == Scheduler.IN_PROCESS.value:
        return InProcess()
    return DaskCluster(scheduler, workers=workers)
